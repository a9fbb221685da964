"""Exchanges behind one protocol: Kraken Futures (python-kraken-sdk) and the paper exchange.

``PaperExchange`` (and ``PAPER_SOURCE``) load lazily: ``paper`` needs the store, and the store must be able
to import the exchange's value types without pulling the paper exchange back in (an import cycle).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bitsniper.exchange.base import (
    DEADLINE_PASSED,
    AccountInfo,
    Candle,
    CandlePage,
    Exchange,
    ExchangePosition,
    Execution,
    Fill,
    FillType,
    InstrumentSpec,
    OrderLookup,
    OrderRequest,
    OrderResult,
    OrderSide,
    OrderState,
    OrderStatus,
    OrderType,
    PositionSide,
    candles_to_frame,
)
from bitsniper.exchange.kraken_futures import KrakenFuturesConfig, KrakenFuturesExchange, format_price, format_size
from bitsniper.exchange.kraken_raw import KrakenFuturesHttp

if TYPE_CHECKING:
    from bitsniper.exchange.paper import PAPER_SOURCE, PaperExchange

__all__ = [
    "DEADLINE_PASSED",
    "AccountInfo",
    "Candle",
    "CandlePage",
    "Exchange",
    "ExchangePosition",
    "Execution",
    "Fill",
    "FillType",
    "InstrumentSpec",
    "OrderLookup",
    "OrderRequest",
    "OrderResult",
    "OrderSide",
    "OrderState",
    "OrderStatus",
    "OrderType",
    "PositionSide",
    "candles_to_frame",
    "KrakenFuturesConfig",
    "KrakenFuturesExchange",
    "KrakenFuturesHttp",
    "format_price",
    "format_size",
    "PaperExchange",
    "PAPER_SOURCE",
]

_LAZY = {"PaperExchange": "paper", "PAPER_SOURCE": "paper"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'bitsniper.exchange' has no attribute {name!r}")
    return getattr(importlib.import_module(f"bitsniper.exchange.{_LAZY[name]}"), name)
