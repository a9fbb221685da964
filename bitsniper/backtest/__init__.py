"""The research side (issue 3): backtests, metrics, reports, optimisation, walk-forward and bias checks.

All of it drives ``bitsniper.strategy.decide``, the same function the live pipeline calls. Names are
loaded on first use so that ``bitsniper --help`` and the other commands do not pay for NumPy and Numba.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "Costs",
    "Ledger",
    "OpenPosition",
    "Trade",
    "liquidation_price",
    "compute_metrics",
    "daily_returns",
    "drawdown_pct",
    "BacktestResult",
    "costs_from_settings",
    "record_liquidation",
    "run_backtest",
]

_HOMES = {
    "Costs": "accounting", "Ledger": "accounting", "OpenPosition": "accounting", "Trade": "accounting",
    "liquidation_price": "accounting", "compute_metrics": "metrics", "daily_returns": "metrics",
    "drawdown_pct": "metrics", "BacktestResult": "runner", "costs_from_settings": "runner",
    "record_liquidation": "runner", "run_backtest": "runner",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'bitsniper.backtest' has no attribute {name!r}")
    return getattr(import_module(f"bitsniper.backtest.{home}"), name)
