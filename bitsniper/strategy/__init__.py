"""The decision engine: one pure ``decide`` for the live pipeline, backfills and the backtester."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bitsniper.strategy.state import (
    STATE_VERSION,
    Account,
    Action,
    Decision,
    Position,
    PositionType,
    StateFormatError,
    StrategyState,
    state_from_json,
    state_to_json,
)

if TYPE_CHECKING:
    from bitsniper.strategy.engine import decide, initial_state
    from bitsniper.strategy.frame import MarketFrame, build_frame

# The engine and the frame load on first use: they bring in the Numba kernels (~0.3 s and ~58 MB per
# process), which the store, the exchange layer and three of the pipeline's five task processes never use.
_LAZY = {"decide": "engine", "initial_state": "engine", "MarketFrame": "frame", "build_frame": "frame"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"bitsniper.strategy.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "decide",
    "initial_state",
    "MarketFrame",
    "build_frame",
    "STATE_VERSION",
    "Account",
    "Action",
    "Decision",
    "Position",
    "PositionType",
    "StateFormatError",
    "StrategyState",
    "state_from_json",
    "state_to_json",
]
