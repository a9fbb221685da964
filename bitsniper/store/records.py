"""What the repositories take and give back: frozen records, never live ORM objects.

Times at this boundary follow the engine: candle and decision times are epoch milliseconds (UTC); event
times (orders, fills, alerts) are aware UTC ``datetime``. Money and sizes are ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal

from bitsniper.strategy.state import Action, PositionType, StrategyState

__all__ = [
    "EPOCH",
    "Mode",
    "OrderStatus",
    "OrderSide",
    "BreakerState",
    "ms_to_datetime",
    "datetime_to_ms",
    "resolution_ms",
    "DecisionRecord",
    "OrderIntent",
    "OrderRecord",
    "FillRecord",
    "PositionRecord",
    "AlertRecord",
    "BreakerRecord",
    "ValidationRecord",
    "actions_to_json",
    "actions_from_json",
]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

Mode = Literal["live", "paper", "backfill"]
OrderStatus = Literal["intent", "sent", "acknowledged", "unknown", "filled", "rejected", "cancelled"]
OrderSide = Literal["buy", "sell"]
BreakerState = Literal["closed", "open", "half-open"]

# Kraken charts resolutions (kraken_futures.md, "Candles").
_RESOLUTION_MS = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "1w": 604_800_000,
}


def ms_to_datetime(ms: int) -> datetime:
    """Epoch milliseconds to an aware UTC datetime, exactly (no float rounding)."""
    return EPOCH + timedelta(milliseconds=int(ms))


def datetime_to_ms(moment: datetime) -> int:
    """An aware datetime to epoch milliseconds; a naive one is refused (it has no defined instant)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r} refused: give an aware UTC time")
    return (moment - EPOCH) // timedelta(milliseconds=1)


def resolution_ms(resolution: str) -> int:
    """The candle interval of a Kraken resolution name; an unknown name is refused, never guessed."""
    try:
        return _RESOLUTION_MS[resolution]
    except KeyError:
        raise ValueError(f"unknown candle resolution {resolution!r}; known: {', '.join(_RESOLUTION_MS)}") from None


def actions_to_json(actions: tuple[Action, ...]) -> list[dict[str, Any]]:
    return [{**action._asdict(), "position_type": action.position_type.value} for action in actions]


def actions_from_json(data: list[dict[str, Any]]) -> tuple[Action, ...]:
    return tuple(Action(**{**item, "position_type": PositionType(item["position_type"])}) for item in data)


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A stored decision; ``candle_time`` is the open time (ms) of the candle N-1 it was taken on."""

    id: str
    mode: Mode
    strategy: str
    symbol: str
    candle_time: int
    status: str
    actions: tuple[Action, ...]
    state_before: StrategyState | None
    state_after: StrategyState
    notes: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order we mean to send; recorded (committed) before the request leaves."""

    cli_ord_id: str
    mode: Mode
    symbol: str
    side: OrderSide
    size: Decimal
    order_type: str = "mkt"
    reduce_only: bool = False
    limit_price: Decimal | None = None
    decision_id: str | None = None
    action_index: int | None = None


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order as the store knows it, with the time of every status it went through."""

    cli_ord_id: str
    mode: Mode
    symbol: str
    side: OrderSide
    size: Decimal
    order_type: str
    reduce_only: bool
    limit_price: Decimal | None
    decision_id: str | None
    action_index: int | None
    status: OrderStatus
    exchange_order_id: str | None
    filled_size: Decimal
    average_price: Decimal | None
    status_reason: str | None
    intent_at: datetime
    sent_at: datetime | None
    acknowledged_at: datetime | None
    unknown_at: datetime | None
    filled_at: datetime | None
    rejected_at: datetime | None
    cancelled_at: datetime | None


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One execution; ``fill_id`` is the exchange's, so recording it twice is harmless."""

    fill_id: str
    symbol: str
    side: OrderSide
    size: Decimal
    price: Decimal
    filled_at: datetime
    cli_ord_id: str | None = None
    exchange_order_id: str | None = None
    fee: Decimal | None = None
    fill_type: str | None = None


@dataclass(frozen=True, slots=True)
class PositionRecord:
    """A position (size >= 0 with a side, or flat) and the account beside it, as one source saw them."""

    mode: Mode
    symbol: str
    source: str
    side: Literal["long", "short", "flat"]
    size: Decimal
    taken_at: datetime
    entry_price: Decimal | None = None
    available_margin: Decimal | None = None
    equity: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: int
    kind: str
    severity: Literal["info", "warning", "critical"]
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BreakerRecord:
    """A circuit breaker's shared state (pybreaker's state names)."""

    name: str
    state: BreakerState = "closed"
    failure_count: int = 0
    success_count: int = 0
    opened_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ValidationRecord:
    suite: str
    symbol: str
    resolution: str
    candle_time: int
    success: bool
    details: dict[str, Any]
    created_at: datetime
