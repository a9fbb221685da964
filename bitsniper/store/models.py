"""The store's tables as SQLAlchemy 2 typed models.

Money and sizes are ``Numeric`` (exact on PostgreSQL); indicator values are ``Double`` because they are
float64 results and must reload bit-for-bit (parity between backtest and live). Every time is a
timezone-aware UTC ``datetime``: ``UtcDateTime`` refuses naive values, so a local time can never slip in.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Base",
    "UtcDateTime",
    "Candle",
    "ValidationResult",
    "IndicatorValue",
    "DecisionRow",
    "StrategyStateRow",
    "OrderRow",
    "FillRow",
    "PositionSnapshot",
    "AlertRow",
    "CircuitBreakerRow",
    "MODES",
    "ORDER_STATUSES",
    "PRICE",
]

MODES = ("live", "paper", "backfill")
ORDER_STATUSES = ("intent", "sent", "acknowledged", "unknown", "filled", "rejected", "cancelled")

# 30 digits, 12 after the point: a BTC price or a USD balance, and a size to the satoshi, without rounding.
PRICE = Numeric(30, 12)

_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamptz that only accepts aware datetimes and always gives back UTC.

    SQLite has no time zone type: values are stored as naive UTC text there, so equal instants compare
    equal (the candle unique key depends on it).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} refused: the store keeps UTC-aware times only")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


# BIGINT keys on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
_BigId = BigInteger().with_variant(Integer(), "sqlite")
_Json = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map = {
        datetime: UtcDateTime(),
        Decimal: PRICE,
        dict[str, Any]: _Json,
        list[Any]: _Json,
    }


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Candle(Base):
    """A closed candle (T1/T2); one row per symbol, resolution and open time, upserted."""

    __tablename__ = "candles"
    __table_args__ = (
        UniqueConstraint("symbol", "resolution", "open_time"),
        CheckConstraint("low <= high", name="low_not_above_high"),
        CheckConstraint("open > 0 AND high > 0 AND low > 0 AND close > 0", name="positive_prices"),
        CheckConstraint("volume >= 0", name="volume_not_negative"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(32))
    resolution: Mapped[str] = mapped_column(String(8))
    open_time: Mapped[datetime]
    open: Mapped[Decimal]
    high: Mapped[Decimal]
    low: Mapped[Decimal]
    close: Mapped[Decimal]
    volume: Mapped[Decimal]
    updated_at: Mapped[datetime] = mapped_column(default=_now)


class ValidationResult(Base):
    """The outcome of a data-quality suite for one candle run; a rerun replaces it."""

    __tablename__ = "validation_results"
    __table_args__ = (UniqueConstraint("suite", "symbol", "resolution", "candle_time"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    suite: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    resolution: Mapped[str] = mapped_column(String(8))
    candle_time: Mapped[datetime]
    success: Mapped[bool]
    details: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=_now)


class IndicatorValue(Base):
    """One named indicator value (``rsi``, ``atr``, ``vi1`` ...) of one candle; NULL where undefined."""

    __tablename__ = "indicator_values"
    __table_args__ = (UniqueConstraint("symbol", "resolution", "open_time", "name"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(32))
    resolution: Mapped[str] = mapped_column(String(8))
    open_time: Mapped[datetime]
    name: Mapped[str] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Double())
    updated_at: Mapped[datetime] = mapped_column(default=_now)


class DecisionRow(Base):
    """What the engine decided at one closed candle; one per (mode, strategy, symbol, candle)."""

    __tablename__ = "decisions"
    __table_args__ = (
        UniqueConstraint("mode", "strategy", "symbol", "candle_time"),
        CheckConstraint(_in("mode", MODES), name="mode"),
    )

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    mode: Mapped[str] = mapped_column(String(8))
    strategy: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    candle_time: Mapped[datetime]  # open time of candle N-1, whose close was decided on
    status: Mapped[str] = mapped_column(String(24))
    state_before: Mapped[dict[str, Any] | None]
    state_after: Mapped[dict[str, Any]]
    actions: Mapped[list[Any]]
    notes: Mapped[list[Any]]
    created_at: Mapped[datetime] = mapped_column(default=_now)


class StrategyStateRow(Base):
    """The engine's memory (E7) for one mode, strategy and symbol."""

    __tablename__ = "strategy_state"
    __table_args__ = (CheckConstraint(_in("mode", MODES), name="mode"),)

    mode: Mapped[str] = mapped_column(String(8), primary_key=True)
    strategy: Mapped[str] = mapped_column(String(32), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[dict[str, Any]]
    version: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(default=_now)


class OrderRow(Base):
    """An order from intent to outcome; the intent row is committed before the request is sent."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("cli_ord_id"),
        CheckConstraint(_in("status", ORDER_STATUSES), name="status"),
        CheckConstraint(_in("side", ("buy", "sell")), name="side"),
        CheckConstraint(_in("mode", MODES), name="mode"),
        CheckConstraint("size > 0", name="positive_size"),
        Index(None, "decision_id"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    cli_ord_id: Mapped[str] = mapped_column(String(100))
    decision_id: Mapped[str | None] = mapped_column(ForeignKey("decisions.id"))
    action_index: Mapped[int | None]
    mode: Mapped[str] = mapped_column(String(8))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    order_type: Mapped[str] = mapped_column(String(8))
    size: Mapped[Decimal]
    limit_price: Mapped[Decimal | None]
    reduce_only: Mapped[bool]
    status: Mapped[str] = mapped_column(String(16))
    exchange_order_id: Mapped[str | None] = mapped_column(String(64))
    filled_size: Mapped[Decimal] = mapped_column(default=Decimal(0))
    average_price: Mapped[Decimal | None]
    status_reason: Mapped[str | None] = mapped_column(Text())
    intent_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    unknown_at: Mapped[datetime | None]
    filled_at: Mapped[datetime | None]
    rejected_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=_now)


class FillRow(Base):
    """An execution reported by the exchange (or the paper exchange); unique by the exchange's fill id."""

    __tablename__ = "fills"
    __table_args__ = (
        UniqueConstraint("fill_id"),
        CheckConstraint(_in("side", ("buy", "sell")), name="side"),
        Index(None, "cli_ord_id"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    fill_id: Mapped[str] = mapped_column(String(64))
    # No foreign key: a manual trade's fill has no order of ours, and it must still be recorded.
    cli_ord_id: Mapped[str | None] = mapped_column(String(100))
    exchange_order_id: Mapped[str | None] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    size: Mapped[Decimal]
    price: Mapped[Decimal]
    fee: Mapped[Decimal | None]
    fill_type: Mapped[str | None] = mapped_column(String(24))
    filled_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=_now)


class PositionSnapshot(Base):
    """A position (and account) as one source saw it at one time; reconciliation compares sources."""

    __tablename__ = "position_snapshots"
    __table_args__ = (
        CheckConstraint(_in("side", ("long", "short", "flat")), name="side"),
        CheckConstraint(_in("mode", MODES), name="mode"),
        CheckConstraint("size >= 0", name="size_not_negative"),
        Index(None, "mode", "symbol", "source", "taken_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    mode: Mapped[str] = mapped_column(String(8))
    symbol: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # "exchange", "paper", "store" ...
    side: Mapped[str] = mapped_column(String(5))
    size: Mapped[Decimal]
    entry_price: Mapped[Decimal | None]
    available_margin: Mapped[Decimal | None]
    equity: Mapped[Decimal | None]
    taken_at: Mapped[datetime]


class AlertRow(Base):
    """An alert raised for the operator; ``resolved_at`` is set when it has been dealt with."""

    __tablename__ = "alerts"
    __table_args__ = (CheckConstraint(_in("severity", ("info", "warning", "critical")), name="severity"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(48))
    severity: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(Text())
    details: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=_now)
    resolved_at: Mapped[datetime | None]


class CircuitBreakerRow(Base):
    """A circuit breaker's state, kept in the store so it spans Airflow task processes."""

    __tablename__ = "circuit_breakers"
    __table_args__ = (
        CheckConstraint(_in("state", ("closed", "open", "half-open")), name="state"),
        CheckConstraint("failure_count >= 0 AND success_count >= 0", name="counts_not_negative"),
    )

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(10))
    failure_count: Mapped[int] = mapped_column(default=0)
    success_count: Mapped[int] = mapped_column(default=0)
    opened_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)

