"""Small typed store functions; each one is one transaction, so a crash leaves nothing half-written.

Every function takes the session factory and opens (and commits) its own transaction. Upserts are
``INSERT .. ON CONFLICT`` on both PostgreSQL and SQLite, so an Airflow retry of a task is harmless.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import Float, Insert, cast, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bitsniper.candles import Candles, ms_to_iso
from bitsniper.errors import (
    DataQualityError,
    DuplicateOrderError,
    FormingCandleError,
    IllegalOrderTransition,
)
from bitsniper.store.db import SessionFactory, dialect_insert
from bitsniper.store.models import (
    AlertRow,
    Candle,
    CircuitBreakerRow,
    DecisionRow,
    FillRow,
    IndicatorValue,
    OrderRow,
    PositionSnapshot,
    StrategyStateRow,
    ValidationResult,
)
from bitsniper.store.records import (
    AlertRecord,
    BreakerRecord,
    DecisionRecord,
    FillRecord,
    Mode,
    OrderIntent,
    OrderRecord,
    OrderStatus,
    PositionRecord,
    ValidationRecord,
    actions_from_json,
    actions_to_json,
    datetime_to_ms,
    ms_to_datetime,
    resolution_ms,
)
from bitsniper.strategy.state import Decision, StrategyState, state_from_json, state_to_json

__all__ = [
    "ORDER_TRANSITIONS",
    "upsert_candles",
    "load_candles",
    "record_validation",
    "load_validation",
    "store_indicator_values",
    "load_indicator_values",
    "decision_id",
    "record_decision",
    "load_decision",
    "load_state",
    "save_state",
    "record_order_intent",
    "get_order",
    "orders_for_decision",
    "unfinished_orders",
    "transition_order",
    "record_fills",
    "fills_for_order",
    "record_position_snapshot",
    "latest_position_snapshot",
    "record_alert",
    "unresolved_alerts",
    "resolve_alert",
    "load_breaker",
    "save_breaker",
]

# The order lifecycle. ``intent -> cancelled`` is an intent abandoned before sending (breaker open);
# ``sent -> rejected`` is a reply that refused it; ``unknown`` is resolved by looking, never by resending.
ORDER_TRANSITIONS: Mapping[str, frozenset[str]] = {
    "intent": frozenset({"sent", "cancelled"}),
    "sent": frozenset({"acknowledged", "unknown", "rejected"}),
    "acknowledged": frozenset({"filled", "rejected", "cancelled"}),
    "unknown": frozenset({"acknowledged", "filled", "rejected", "cancelled"}),
    "filled": frozenset(),
    "rejected": frozenset(),
    "cancelled": frozenset(),
}


# --- helpers -------------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _decimal(value: float) -> Decimal:
    """The shortest decimal that reads back as the same float (``str`` of a Python float)."""
    return Decimal(str(float(value)))


def _state_json(state: StrategyState) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(state_to_json(state))
    return result


def _state(data: dict[str, Any]) -> StrategyState:
    return state_from_json(json.dumps(data))


# --- candles -------------------------------------------------------------------------------------------


def upsert_candles(
    factory: SessionFactory, candles: Candles, *, symbol: str, resolution: str, now_ms: int | None = None
) -> int:
    """Insert or update closed candles; any forming candle (T2) refuses the whole batch.

    A candle is forming while ``open_time + interval > now``; Kraken may include it in a reply, and
    storing it would let a later run decide on a candle that is still moving.
    """
    if len(candles) == 0:
        return 0
    interval = resolution_ms(resolution)
    now = int(time.time() * 1000) if now_ms is None else int(now_ms)
    forming = np.flatnonzero(candles.time + interval > now)
    if forming.size:
        first = int(candles.time[forming[0]])
        raise FormingCandleError(
            f"candle {ms_to_iso(first)} of {symbol} {resolution} has not closed at {ms_to_iso(now)} (T2): "
            f"{forming.size} forming candle(s) refused, nothing stored"
        )
    for column in ("open", "high", "low", "close", "volume"):
        if not np.isfinite(getattr(candles, column)).all():
            # PostgreSQL's NUMERIC accepts NaN and ranks it above every number, so no CHECK would catch it.
            raise DataQualityError(f"candles of {symbol} {resolution} hold a non-finite {column}: nothing stored")
    stamp = _now()
    rows = [
        {
            "symbol": symbol,
            "resolution": resolution,
            "open_time": ms_to_datetime(int(t)),
            "open": _decimal(o),
            "high": _decimal(h),
            "low": _decimal(lo),
            "close": _decimal(c),
            "volume": _decimal(v),
            "updated_at": stamp,
        }
        for t, o, h, lo, c, v in zip(
            candles.time.tolist(), candles.open.tolist(), candles.high.tolist(),
            candles.low.tolist(), candles.close.tolist(), candles.volume.tolist(),
        )
    ]
    try:
        with factory.begin() as session:
            stmt = dialect_insert(session, Candle.__table__)
            stmt = stmt.on_conflict_do_update(
                index_elements=["symbol", "resolution", "open_time"],
                set_={k: stmt.excluded[k] for k in ("open", "high", "low", "close", "volume", "updated_at")},
            )
            # RETURNING makes SQLAlchemy batch the rows ("insertmanyvalues"): one round trip per 1000 rows
            # on psycopg2 instead of one per row.
            session.execute(stmt.returning(Candle.__table__.c.id), rows).all()
    except IntegrityError as error:
        raise DataQualityError(f"candles of {symbol} {resolution} refused by the store, nothing stored: {error.orig}") from None
    return len(rows)


def load_candles(
    factory: SessionFactory, symbol: str, resolution: str, count: int, *, end_time_ms: int | None = None
) -> Candles:
    """The last ``count`` stored (closed) candles up to ``end_time_ms`` (an open time, inclusive), oldest first.

    Give ``end_time_ms`` from the run's own candle, never "latest" (a late run must not see the future).
    """
    # Prices come back as floats (CAST in SQL) and times as datetimes converted in one NumPy pass: reading
    # 6,000 candles Decimal by Decimal cost ~0.1 s, and every run reads its window several times.
    as_float = [cast(column, Float) for column in (Candle.open, Candle.high, Candle.low, Candle.close, Candle.volume)]
    with factory() as session:
        query = select(Candle.open_time, *as_float).where(Candle.symbol == symbol, Candle.resolution == resolution)
        if end_time_ms is not None:
            query = query.where(Candle.open_time <= ms_to_datetime(end_time_ms))
        rows = session.execute(query.order_by(Candle.open_time.desc()).limit(count)).all()
    rows.reverse()
    floats = np.array([row[1:] for row in rows], dtype=np.float64).reshape(len(rows), 5)
    return Candles(
        time=np.fromiter((datetime_to_ms(row[0]) for row in rows), dtype=np.int64, count=len(rows)),
        open=floats[:, 0].copy(),
        high=floats[:, 1].copy(),
        low=floats[:, 2].copy(),
        close=floats[:, 3].copy(),
        volume=floats[:, 4].copy(),
    )


# --- validation and indicators ---------------------------------------------------------------------------


def record_validation(
    factory: SessionFactory,
    *,
    suite: str,
    symbol: str,
    resolution: str,
    candle_time_ms: int,
    success: bool,
    details: Mapping[str, Any],
) -> None:
    """Store a data-quality result for a run's candle; a rerun replaces the earlier result."""
    row = {
        "suite": suite, "symbol": symbol, "resolution": resolution,
        "candle_time": ms_to_datetime(candle_time_ms), "success": bool(success),
        "details": dict(details), "created_at": _now(),
    }
    with factory.begin() as session:
        stmt = dialect_insert(session, ValidationResult.__table__).values(row)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["suite", "symbol", "resolution", "candle_time"],
                set_={"success": stmt.excluded.success, "details": stmt.excluded.details,
                      "created_at": stmt.excluded.created_at},
            )
        )


def load_validation(
    factory: SessionFactory, *, suite: str, symbol: str, resolution: str, candle_time_ms: int
) -> ValidationRecord | None:
    with factory() as session:
        row = session.scalars(
            select(ValidationResult).where(
                ValidationResult.suite == suite, ValidationResult.symbol == symbol,
                ValidationResult.resolution == resolution,
                ValidationResult.candle_time == ms_to_datetime(candle_time_ms),
            )
        ).one_or_none()
    if row is None:
        return None
    return ValidationRecord(row.suite, row.symbol, row.resolution, candle_time_ms, row.success, row.details, row.created_at)


def store_indicator_values(
    factory: SessionFactory, *, symbol: str, resolution: str, open_time_ms: int, values: Mapping[str, float]
) -> None:
    """Upsert a candle's indicator values by name; NaN (not yet defined) is stored as NULL."""
    if not values:
        return
    stamp = _now()
    open_time = ms_to_datetime(open_time_ms)
    rows = [
        {"symbol": symbol, "resolution": resolution, "open_time": open_time, "name": name,
         "value": None if value is None or math.isnan(value) else float(value), "updated_at": stamp}
        for name, value in values.items()
    ]
    with factory.begin() as session:
        stmt = dialect_insert(session, IndicatorValue.__table__)
        stmt = stmt.on_conflict_do_update(
            index_elements=["symbol", "resolution", "open_time", "name"],
            set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
        )
        session.execute(stmt, rows)


def load_indicator_values(factory: SessionFactory, *, symbol: str, resolution: str, open_time_ms: int) -> dict[str, float]:
    with factory() as session:
        rows = session.execute(
            select(IndicatorValue.name, IndicatorValue.value).where(
                IndicatorValue.symbol == symbol, IndicatorValue.resolution == resolution,
                IndicatorValue.open_time == ms_to_datetime(open_time_ms),
            )
        ).all()
    return {name: math.nan if value is None else float(value) for name, value in rows}


# --- decisions and strategy state ----------------------------------------------------------------------


def decision_id(mode: Mode, strategy: str, symbol: str, candle_time_ms: int) -> str:
    """The decision's id, derived from its unique key so a retried task finds the same decision.

    Execution derives each order's ``cliOrdId`` from it (design.md, "Exactly once").
    """
    return f"{mode}-{strategy}-{symbol}-{int(candle_time_ms)}"


def _decision_record(row: DecisionRow) -> DecisionRecord:
    return DecisionRecord(
        id=row.id, mode=row.mode,  # type: ignore[arg-type]
        strategy=row.strategy, symbol=row.symbol, candle_time=datetime_to_ms(row.candle_time),
        status=row.status, actions=actions_from_json(row.actions),
        state_before=None if row.state_before is None else _state(row.state_before),
        state_after=_state(row.state_after), notes=tuple(row.notes), created_at=row.created_at,
    )


def record_decision(
    factory: SessionFactory, *, mode: Mode, symbol: str, decision: Decision, state_before: StrategyState | None
) -> tuple[DecisionRecord, bool]:
    """Store a decision and, in the same transaction, make its resulting state the current one.

    Live and paper: the first decision for a (mode, strategy, symbol, candle) wins. A second call (an
    Airflow retry, a concurrent run) changes nothing and returns the stored one with ``False``; the
    unique constraint enforces this even against a raw INSERT. Backfill never trades, so a rerun
    replaces its decision (e.g. after a parameter change).
    """
    strategy = decision.state.strategy
    ident = decision_id(mode, strategy, symbol, decision.decision_time)
    values = {
        "id": ident, "mode": mode, "strategy": strategy, "symbol": symbol,
        "candle_time": ms_to_datetime(decision.decision_time), "status": decision.status,
        "state_before": None if state_before is None else _state_json(state_before),
        "state_after": _state_json(decision.state), "actions": actions_to_json(decision.actions),
        "notes": list(decision.notes), "created_at": _now(),
    }
    with factory.begin() as session:
        stmt = dialect_insert(session, DecisionRow.__table__).values(values)
        if mode == "backfill":
            stmt = stmt.on_conflict_do_update(
                index_elements=["id"], set_={k: stmt.excluded[k] for k in values if k != "id"}
            )
        else:
            stmt = stmt.on_conflict_do_nothing()
        created = session.execute(stmt).rowcount == 1
        if created:
            _save_state(session, mode, symbol, decision.state)
        row = session.get(DecisionRow, ident, populate_existing=True)
        assert row is not None
        return _decision_record(row), created


def load_decision(factory: SessionFactory, ident: str) -> DecisionRecord | None:
    with factory() as session:
        row = session.get(DecisionRow, ident)
        return None if row is None else _decision_record(row)


def _save_state(session: Session, mode: Mode, symbol: str, state: StrategyState) -> None:
    stmt = dialect_insert(session, StrategyStateRow.__table__).values(
        mode=mode, strategy=state.strategy, symbol=symbol, state=_state_json(state),
        version=state.version, updated_at=_now(),
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["mode", "strategy", "symbol"],
            set_={"state": stmt.excluded.state, "version": stmt.excluded.version, "updated_at": stmt.excluded.updated_at},
        )
    )


def save_state(factory: SessionFactory, *, mode: Mode, symbol: str, state: StrategyState) -> None:
    """Make ``state`` the current memory of its strategy (e.g. after ``with_fill``, E7)."""
    with factory.begin() as session:
        _save_state(session, mode, symbol, state)


def load_state(factory: SessionFactory, *, mode: Mode, strategy: str, symbol: str) -> StrategyState | None:
    """The current state, or None before the first decision; an unreadable one raises ``StateFormatError``."""
    with factory() as session:
        row = session.get(StrategyStateRow, (mode, strategy, symbol))
        return None if row is None else _state(row.state)


# --- orders and fills ----------------------------------------------------------------------------------


def _order_record(row: OrderRow) -> OrderRecord:
    return OrderRecord(
        cli_ord_id=row.cli_ord_id, mode=row.mode, symbol=row.symbol, side=row.side,  # type: ignore[arg-type]
        size=row.size, order_type=row.order_type, reduce_only=row.reduce_only, limit_price=row.limit_price,
        decision_id=row.decision_id, action_index=row.action_index, status=row.status,  # type: ignore[arg-type]
        exchange_order_id=row.exchange_order_id, filled_size=row.filled_size, average_price=row.average_price,
        status_reason=row.status_reason, intent_at=row.intent_at, sent_at=row.sent_at,
        acknowledged_at=row.acknowledged_at, unknown_at=row.unknown_at, filled_at=row.filled_at,
        rejected_at=row.rejected_at, cancelled_at=row.cancelled_at,
    )


def record_order_intent(factory: SessionFactory, intent: OrderIntent, *, at: datetime | None = None) -> OrderRecord:
    """Commit the intent to send an order; do this BEFORE the request leaves (design.md, "Exactly once").

    A ``cliOrdId`` already recorded raises ``DuplicateOrderError``: that order may exist, so the caller
    must look it up, never send again.
    """
    moment = at or _now()
    with factory.begin() as session:
        stmt = dialect_insert(session, OrderRow.__table__).values(
            cli_ord_id=intent.cli_ord_id, decision_id=intent.decision_id, action_index=intent.action_index,
            mode=intent.mode, symbol=intent.symbol, side=intent.side, order_type=intent.order_type,
            size=intent.size, limit_price=intent.limit_price, reduce_only=intent.reduce_only,
            status="intent", filled_size=Decimal(0), intent_at=moment, updated_at=moment,
        )
        if session.execute(stmt.on_conflict_do_nothing(index_elements=["cli_ord_id"])).rowcount != 1:
            raise DuplicateOrderError(f"order {intent.cli_ord_id!r} is already recorded: look it up, never resend")
        row = session.scalars(select(OrderRow).where(OrderRow.cli_ord_id == intent.cli_ord_id)).one()
        return _order_record(row)


def get_order(factory: SessionFactory, cli_ord_id: str) -> OrderRecord | None:
    with factory() as session:
        row = session.scalars(select(OrderRow).where(OrderRow.cli_ord_id == cli_ord_id)).one_or_none()
        return None if row is None else _order_record(row)


def orders_for_decision(factory: SessionFactory, ident: str) -> list[OrderRecord]:
    with factory() as session:
        rows = session.scalars(
            select(OrderRow).where(OrderRow.decision_id == ident).order_by(OrderRow.action_index, OrderRow.id)
        ).all()
        return [_order_record(row) for row in rows]


def unfinished_orders(factory: SessionFactory, *, mode: Mode) -> list[OrderRecord]:
    """Orders not yet filled, rejected or cancelled: the ones reconciliation must resolve first."""
    with factory() as session:
        rows = session.scalars(
            select(OrderRow)
            .where(OrderRow.mode == mode, OrderRow.status.in_(("intent", "sent", "acknowledged", "unknown")))
            .order_by(OrderRow.id)
        ).all()
        return [_order_record(row) for row in rows]


def transition_order(
    factory: SessionFactory,
    cli_ord_id: str,
    status: OrderStatus,
    *,
    at: datetime | None = None,
    exchange_order_id: str | None = None,
    filled_size: Decimal | None = None,
    average_price: Decimal | None = None,
    reason: str | None = None,
) -> OrderRecord:
    """Move an order to ``status`` and stamp the time; a move ``ORDER_TRANSITIONS`` forbids is refused.

    The UPDATE is conditional on the status just read, so two processes cannot both move the same order
    (e.g. both mark it ``sent``): the loser gets ``IllegalOrderTransition``.
    """
    moment = at or _now()
    with factory.begin() as session:
        row = session.scalars(
            select(OrderRow).where(OrderRow.cli_ord_id == cli_ord_id).with_for_update()
        ).one_or_none()
        if row is None:
            raise IllegalOrderTransition(f"order {cli_ord_id!r} has no recorded intent: record it before sending")
        current = row.status
        if status not in ORDER_TRANSITIONS[current]:
            raise IllegalOrderTransition(f"order {cli_ord_id!r} cannot go from {current!r} to {status!r}")
        changes: dict[str, Any] = {"status": status, f"{status}_at": moment, "updated_at": moment}
        if exchange_order_id is not None:
            changes["exchange_order_id"] = exchange_order_id
        if filled_size is not None:
            changes["filled_size"] = filled_size
        if average_price is not None:
            changes["average_price"] = average_price
        if reason is not None:
            changes["status_reason"] = reason
        result = session.execute(
            update(OrderRow)
            .where(OrderRow.cli_ord_id == cli_ord_id, OrderRow.status == current)
            .values(changes)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise IllegalOrderTransition(f"order {cli_ord_id!r} changed while moving it from {current!r} to {status!r}")
        session.refresh(row)
        return _order_record(row)


def record_fills(factory: SessionFactory, fills: Sequence[FillRecord]) -> int:
    """Store fills not seen before (by the exchange's fill id); returns how many were new."""
    if not fills:
        return 0
    stamp = _now()
    rows = [
        {"fill_id": f.fill_id, "cli_ord_id": f.cli_ord_id, "exchange_order_id": f.exchange_order_id,
         "symbol": f.symbol, "side": f.side, "size": f.size, "price": f.price, "fee": f.fee,
         "fill_type": f.fill_type, "filled_at": f.filled_at, "recorded_at": stamp}
        for f in fills
    ]
    with factory.begin() as session:
        stmt: Insert = dialect_insert(session, FillRow.__table__).on_conflict_do_nothing(index_elements=["fill_id"])
        new = session.scalars(stmt.returning(FillRow.__table__.c.fill_id), rows).all()
    return len(new)


def _fill_record(row: FillRow) -> FillRecord:
    return FillRecord(
        fill_id=row.fill_id, symbol=row.symbol, side=row.side, size=row.size,  # type: ignore[arg-type]
        price=row.price, filled_at=row.filled_at, cli_ord_id=row.cli_ord_id,
        exchange_order_id=row.exchange_order_id, fee=row.fee, fill_type=row.fill_type,
    )


def fills_for_order(factory: SessionFactory, cli_ord_id: str) -> list[FillRecord]:
    with factory() as session:
        rows = session.scalars(
            select(FillRow).where(FillRow.cli_ord_id == cli_ord_id).order_by(FillRow.filled_at, FillRow.id)
        ).all()
        return [_fill_record(row) for row in rows]


# --- positions, alerts, circuit breakers ----------------------------------------------------------------


def record_position_snapshot(factory: SessionFactory, snapshot: PositionRecord) -> None:
    with factory.begin() as session:
        session.add(
            PositionSnapshot(
                mode=snapshot.mode, symbol=snapshot.symbol, source=snapshot.source, side=snapshot.side,
                size=snapshot.size, entry_price=snapshot.entry_price, available_margin=snapshot.available_margin,
                equity=snapshot.equity, taken_at=snapshot.taken_at,
            )
        )


def latest_position_snapshot(factory: SessionFactory, *, mode: Mode, symbol: str, source: str) -> PositionRecord | None:
    with factory() as session:
        row = session.scalars(
            select(PositionSnapshot)
            .where(PositionSnapshot.mode == mode, PositionSnapshot.symbol == symbol, PositionSnapshot.source == source)
            .order_by(PositionSnapshot.taken_at.desc(), PositionSnapshot.id.desc())
            .limit(1)
        ).one_or_none()
    if row is None:
        return None
    return PositionRecord(
        mode=row.mode, symbol=row.symbol, source=row.source, side=row.side,  # type: ignore[arg-type]
        size=row.size, taken_at=row.taken_at, entry_price=row.entry_price,
        available_margin=row.available_margin, equity=row.equity,
    )


def record_alert(
    factory: SessionFactory, *, kind: str, severity: str, message: str, details: Mapping[str, Any] | None = None
) -> int:
    """Store an alert for the operator; give facts only (never a key, secret or database URL)."""
    with factory.begin() as session:
        row = AlertRow(kind=kind, severity=severity, message=message, details=dict(details or {}), created_at=_now())
        session.add(row)
        session.flush()
        return row.id


def _alert_record(row: AlertRow) -> AlertRecord:
    return AlertRecord(row.id, row.kind, row.severity, row.message, row.details, row.created_at, row.resolved_at)  # type: ignore[arg-type]


def unresolved_alerts(factory: SessionFactory, *, kind: str | None = None) -> list[AlertRecord]:
    with factory() as session:
        query = select(AlertRow).where(AlertRow.resolved_at.is_(None))
        if kind is not None:
            query = query.where(AlertRow.kind == kind)
        return [_alert_record(row) for row in session.scalars(query.order_by(AlertRow.id)).all()]


def resolve_alert(factory: SessionFactory, alert_id: int, *, at: datetime | None = None) -> bool:
    """Mark an alert dealt with; False when it does not exist or was already resolved."""
    with factory.begin() as session:
        result = session.execute(
            update(AlertRow).where(AlertRow.id == alert_id, AlertRow.resolved_at.is_(None)).values(resolved_at=at or _now())
        )
        return result.rowcount == 1


def load_breaker(factory: SessionFactory, name: str) -> BreakerRecord:
    """A breaker's shared state; one never saved is closed with no failures."""
    with factory() as session:
        row = session.get(CircuitBreakerRow, name)
        if row is None:
            return BreakerRecord(name=name)
        return BreakerRecord(row.name, row.state, row.failure_count, row.success_count, row.opened_at)  # type: ignore[arg-type]


def save_breaker(factory: SessionFactory, record: BreakerRecord) -> None:
    with factory.begin() as session:
        stmt = dialect_insert(session, CircuitBreakerRow.__table__).values(
            name=record.name, state=record.state, failure_count=record.failure_count,
            success_count=record.success_count, opened_at=record.opened_at, updated_at=_now(),
        )
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["name"],
                set_={k: stmt.excluded[k] for k in ("state", "failure_count", "success_count", "opened_at", "updated_at")},
            )
        )

