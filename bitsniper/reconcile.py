"""Reconciliation: resolve our orders whose outcome we did not hear, then check the exchange's position
against what the store expects; a difference halts trading until ``bitsniper resume`` (design.md).

The halt flag is an unresolved alert of kind ``halt`` whose details name the mode and the symbol (no new
table: the alert is both the operator's message and the persisted flag; ``resume`` resolves it).

The store's expectation is the last ``exchange`` position snapshot plus the signed fills of our own orders
filled after it. Our own orders are resolved first (``resolve_order``), so a fill we never recorded
(a crash between the reply and the commit) is found by its ``cliOrdId`` and is never taken for a manual
trade.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_delay, wait_fixed

from bitsniper.errors import CircuitOpen, OrderStateUnknown, ReconciliationError, TransientExchangeError
from bitsniper.exchange.base import Exchange, ExchangePosition, Fill, OrderLookup, OrderState
from bitsniper.store.db import SessionFactory
from bitsniper.store.models import OrderRow, PositionSnapshot
from bitsniper.store.records import FillRecord, Mode, OrderRecord, PositionRecord, ms_to_datetime
from bitsniper.store.repositories import (
    fills_for_order,
    orders_for_decision,
    record_alert,
    record_fills,
    record_position_snapshot,
    resolve_alert,
    transition_order,
    unfinished_orders,
    unresolved_alerts,
)

__all__ = [
    "HALT_ALERT_KIND",
    "SNAPSHOT_SOURCE",
    "ResolutionPolicy",
    "ReconcileReport",
    "halted",
    "halt",
    "resume",
    "signed",
    "expected_position_from_store",
    "position_before",
    "record_exchange_position",
    "resolve_order",
    "reconcile",
]

log = logging.getLogger("bitsniper.reconcile")

HALT_ALERT_KIND = "halt"
SNAPSHOT_SOURCE = "exchange"  # position snapshots execution takes of the venue (Kraken or paper)
_RESOLVING = ("sent", "unknown", "acknowledged")


@dataclass(frozen=True, slots=True)
class ResolutionPolicy:
    """How an order whose reply was lost is looked for (settings ``order_lookup_*``, ``order_settle_secs``).

    ``settle_secs``: an order found nowhere, with the position unchanged this long after it was sent, did
    not execute. Execution sends every order with ``processBefore`` = sent time + ``process_before_secs``
    (< ``settle_secs``), so by then Kraken refuses the request however long it was held in transit: the
    rule is exact as long as our clock and Kraken's differ by less than the gap between the two.
    """

    lookup_timeout_secs: float = 10.0
    lookup_interval_secs: float = 0.5
    settle_secs: float = 30.0


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    expected: Decimal
    actual: ExchangePosition
    resolved_orders: tuple[str, ...]


# --------------------------------------------------------------------------- the halt flag


def _halt_alerts(factory: SessionFactory, mode: str, symbol: str) -> list[Any]:
    return [
        alert
        for alert in unresolved_alerts(factory, kind=HALT_ALERT_KIND)
        if alert.details.get("mode") == mode and alert.details.get("symbol") == symbol
    ]


def halted(factory: SessionFactory, *, mode: str, symbol: str) -> bool:
    """True while a halt alert for this mode and symbol is unresolved."""
    return bool(_halt_alerts(factory, mode, symbol))


def halt(factory: SessionFactory, *, mode: str, symbol: str, message: str, details: dict[str, Any]) -> ReconciliationError:
    """Persist the halt (a critical alert) and return the error to raise."""
    record_alert(
        factory, kind=HALT_ALERT_KIND, severity="critical", message=message,
        details={"mode": mode, "symbol": symbol, **details},
    )
    log.error("trading halted for %s %s: %s", mode, symbol, message)
    return ReconciliationError(f"{message}; trading is halted until `bitsniper resume`")


def resume(
    factory: SessionFactory, *, mode: Mode, symbol: str, position: ExchangePosition | None = None
) -> int:
    """Clear the halt; with ``position`` (the exchange's, read now) make it the new expectation.

    Returns how many halt alerts were resolved.
    """
    if position is not None:
        record_exchange_position(factory, mode=mode, symbol=symbol, position=position)
    count = 0
    for alert in _halt_alerts(factory, mode, symbol):
        count += resolve_alert(factory, alert.id)
    return count


# --------------------------------------------------------------------------- expectations


def _text(value: Decimal) -> str:
    """A size for messages: ``0.015``, not PostgreSQL's ``0.015000000000``."""
    return format(value.normalize(), "f") if value else "0"


def signed(side: str, size: Decimal) -> Decimal:
    return size if side == "buy" else -size


def _snapshot_signed(row: PositionSnapshot) -> Decimal:
    return -row.size if row.side == "short" else (Decimal(0) if row.side == "flat" else row.size)


def _latest_snapshot(factory: SessionFactory, mode: str, symbol: str, at: datetime | None = None) -> PositionSnapshot | None:
    with factory() as session:
        query = select(PositionSnapshot).where(
            PositionSnapshot.mode == mode, PositionSnapshot.symbol == symbol, PositionSnapshot.source == SNAPSHOT_SOURCE
        )
        if at is not None:
            query = query.where(PositionSnapshot.taken_at <= at)
        return session.scalars(
            query.order_by(PositionSnapshot.taken_at.desc(), PositionSnapshot.id.desc()).limit(1)
        ).one_or_none()


def position_before(factory: SessionFactory, order: OrderRecord) -> Decimal | None:
    """The signed position execution saw just before recording this order's intent (None if never seen)."""
    row = _latest_snapshot(factory, order.mode, order.symbol, order.intent_at)
    return None if row is None else _snapshot_signed(row)


def expected_position_from_store(factory: SessionFactory, *, mode: str, symbol: str) -> Decimal:
    """The last exchange snapshot plus our orders filled after it (flat when nothing was ever recorded)."""
    row = _latest_snapshot(factory, mode, symbol)
    expected = Decimal(0) if row is None else _snapshot_signed(row)
    with factory() as session:
        query = select(OrderRow.side, OrderRow.filled_size).where(
            OrderRow.mode == mode, OrderRow.symbol == symbol, OrderRow.status == "filled"
        )
        if row is not None:
            query = query.where(OrderRow.filled_at > row.taken_at)
        for side, filled in session.execute(query).all():
            expected += signed(side, filled)
    return expected


def record_exchange_position(
    factory: SessionFactory, *, mode: Mode, symbol: str, position: ExchangePosition, at: datetime | None = None
) -> None:
    side = "flat" if position.is_flat else position.side.value  # type: ignore[union-attr]
    record_position_snapshot(
        factory,
        PositionRecord(
            mode=mode, symbol=symbol, source=SNAPSHOT_SOURCE, side=side,  # type: ignore[arg-type]
            size=Decimal(0) if position.is_flat else position.size,
            taken_at=at or datetime.now(timezone.utc), entry_price=position.entry_price,
        ),
    )


# --------------------------------------------------------------------------- resolving one order


class _Pending(Exception):
    """Not resolved yet: look again."""


@dataclass(frozen=True, slots=True)
class _Filled:
    size: Decimal
    price: Decimal | None
    exchange_order_id: str | None
    fills: tuple[Fill, ...]
    evidence: str


@dataclass(frozen=True, slots=True)
class _NotExecuted:
    status: str  # "cancelled" or "rejected"
    reason: str


def _fill_records(fills: tuple[Fill, ...]) -> list[FillRecord]:
    return [
        FillRecord(
            fill_id=f.fill_id, symbol=f.symbol, side=f.side.value, size=f.size, price=f.price,  # type: ignore[arg-type]
            filled_at=ms_to_datetime(f.time), cli_ord_id=f.cli_ord_id, exchange_order_id=f.order_id,
            fill_type=f.fill_type.value,
        )
        for f in fills
    ]


def _average(fills: tuple[Fill, ...]) -> Decimal | None:
    size = sum((f.size for f in fills), Decimal(0))
    return None if size == 0 else sum((f.price * f.size for f in fills), Decimal(0)) / size


def _expected_after(order: OrderRecord, before: Decimal) -> Decimal:
    after = before + signed(order.side, order.size)
    if order.reduce_only and (before == 0 or (after > 0) != (before > 0) and after != 0):
        return Decimal(0)  # Kraken trims a reduce-only order to the position: it never flips it
    return after


def _look(
    factory: SessionFactory, exchange: Exchange, order: OrderRecord, before: Decimal | None, policy: ResolutionPolicy
) -> _Filled | _NotExecuted:
    """One look at the exchange; raises ``_Pending`` when it cannot tell yet.

    A lookup proves execution (our cliOrdId in a status or a fill) or non-execution (REJECTED/CANCELLED with
    nothing filled). Absence proves nothing: orders/status forgets closed orders after 5 s and fills keep
    the newest 100, so the position decides: before + this order = executed; moved the order's way by
    less than its size = partially executed (a market order is an IOC: the rest was cancelled); unchanged
    for ``settle_secs`` = not executed; anything else is not ours to explain: halt.
    """
    lookup: OrderLookup | None
    try:
        lookup = exchange.order_by_cli_ord_id(order.cli_ord_id)
    except CircuitOpen:
        raise
    except TransientExchangeError as error:
        log.warning("lookup of %s failed (%s); trying the position", order.cli_ord_id, error)
        lookup = None  # the position alone can still prove that it executed
    if lookup is not None:
        if lookup.is_open:
            raise _Pending(f"{order.cli_ord_id} is still open on the exchange")
        filled = lookup.filled_size
        statuses = (*lookup.statuses, *lookup.open_orders)
        order_id = next((s.order_id for s in statuses), None) or next((f.order_id for f in lookup.fills), None)
        if filled > 0:
            price = _average(lookup.fills) if lookup.fills else None
            return _Filled(filled, price, order_id, lookup.fills, "found on the exchange")
        if any(s.state is OrderState.REJECTED for s in statuses):
            return _NotExecuted("rejected", "the exchange reports it REJECTED with nothing filled")
        if any(s.state is OrderState.CANCELLED for s in statuses):
            return _NotExecuted("cancelled", "the exchange reports it CANCELLED with nothing filled")
        if lookup.found:
            raise _Pending(f"{order.cli_ord_id} is known to the exchange but not settled")
    if before is None:
        raise _Pending(f"{order.cli_ord_id}: no position was recorded before it, the position cannot tell")
    position = exchange.position(order.symbol)
    now_signed = position.signed_size
    after = _expected_after(order, before)
    if now_signed == after:
        size = abs(after - before)
        price = position.entry_price if before == 0 else None
        return _Filled(size, price, None, (), "the position moved by exactly this order")
    if now_signed == before:
        if lookup is None:
            raise _Pending(f"{order.cli_ord_id}: position unchanged but the lookups failed")
        sent_at = order.sent_at or order.intent_at
        waited = (datetime.now(timezone.utc) - sent_at).total_seconds()
        if waited >= policy.settle_secs:
            return _NotExecuted(
                "cancelled", f"found nowhere and the position unchanged {waited:.1f} s after sending: it did not execute"
            )
        raise _Pending(f"{order.cli_ord_id}: not found yet, position unchanged ({waited:.1f} s after sending)")
    moved, intended = now_signed - before, after - before
    if moved != 0 and (moved > 0) == (intended > 0) and abs(moved) < abs(intended):
        price = position.entry_price if before == 0 else None
        return _Filled(abs(moved), price, None, (), "the position moved by part of this order (IOC partial fill)")
    raise halt(
        factory, mode=order.mode, symbol=order.symbol,
        message=(
            f"while resolving {order.cli_ord_id} the position is {_text(now_signed)}, neither {_text(before)} "
            f"(not executed) nor {_text(after)} (executed): someone else traded"
        ),
        details={"cli_ord_id": order.cli_ord_id, "before": _text(before), "after": _text(after),
                 "actual": _text(now_signed)},
    )


def _retryable(error: BaseException) -> bool:
    return isinstance(error, (_Pending, TransientExchangeError)) and not isinstance(error, CircuitOpen)


def resolve_order(
    factory: SessionFactory, exchange: Exchange, order: OrderRecord, policy: ResolutionPolicy
) -> OrderRecord:
    """Bring an order that may have reached the exchange to filled, cancelled or rejected by looking.

    Polls for ``lookup_timeout_secs``; still unresolved raises ``OrderStateUnknown`` so the task is retried
    and the next attempt looks again. Never sends anything.
    """
    if order.status not in _RESOLVING:
        return order
    if order.status == "sent":
        order = transition_order(factory, order.cli_ord_id, "unknown", reason="outcome not heard: looking it up")
    before = position_before(factory, order)
    try:
        for attempt in Retrying(
            stop=stop_after_delay(policy.lookup_timeout_secs),
            wait=wait_fixed(policy.lookup_interval_secs),
            retry=retry_if_exception(_retryable),
            reraise=False,
        ):
            with attempt:
                outcome = _look(factory, exchange, order, before, policy)
    except RetryError as error:
        last = error.last_attempt.exception()
        raise OrderStateUnknown(
            f"order {order.cli_ord_id} still unresolved after {policy.lookup_timeout_secs:g} s ({last}); "
            "the next attempt looks again, nothing is resent"
        ) from None
    if isinstance(outcome, _NotExecuted):
        log.info("order %s did not execute: %s", order.cli_ord_id, outcome.reason)
        return transition_order(factory, order.cli_ord_id, outcome.status, reason=outcome.reason)  # type: ignore[arg-type]
    if outcome.fills and not fills_for_order(factory, order.cli_ord_id):
        record_fills(factory, _fill_records(outcome.fills))
    log.info("order %s executed (%s): %s", order.cli_ord_id, outcome.evidence, outcome.size)
    return transition_order(
        factory, order.cli_ord_id, "filled", exchange_order_id=outcome.exchange_order_id,
        filled_size=outcome.size, average_price=outcome.price, reason=outcome.evidence,
    )


# --------------------------------------------------------------------------- reconciliation


def reconcile(
    factory: SessionFactory,
    exchange: Exchange,
    *,
    mode: Mode,
    symbol: str,
    expected_position: Decimal | None = None,
    decision_id: str | None = None,
    policy: ResolutionPolicy | None = None,
) -> ReconcileReport:
    """Run at the start of every execution: halted -> refuse; resolve our open questions; compare positions.

    ``expected_position`` (signed BTC) is the caller's expectation before ``decision_id``'s orders (e.g.
    from the strategy state); fills of that decision already recorded are added to it, so a retried run
    does not mistake its own close for a manual trade. Without it the store's expectation is used.
    """
    policy = policy or ResolutionPolicy()
    if halted(factory, mode=mode, symbol=symbol):
        raise ReconciliationError(f"trading {mode} {symbol} is halted: check the alerts, then run `bitsniper resume`")
    resolved: list[str] = []
    for order in unfinished_orders(factory, mode=mode):
        if order.symbol != symbol:
            continue
        if order.status in _RESOLVING:
            resolve_order(factory, exchange, order, policy)
            resolved.append(order.cli_ord_id)
        elif order.status == "intent" and order.decision_id != decision_id:
            # Never sent (sent is marked before a request leaves) and its decision is over: missed runs are
            # not replayed as trades (design.md).
            transition_order(factory, order.cli_ord_id, "cancelled", reason="abandoned: its decision's run ended unsent")
            resolved.append(order.cli_ord_id)
    if expected_position is None:
        expected = expected_position_from_store(factory, mode=mode, symbol=symbol)
    else:
        expected = expected_position
        if decision_id is not None:
            for order in orders_for_decision(factory, decision_id):
                if order.status == "filled":
                    expected += signed(order.side, order.filled_size)
    actual = exchange.position(symbol)
    if actual.signed_size != expected:
        raise halt(
            factory, mode=mode, symbol=symbol,
            message=(
                f"the exchange holds {_text(actual.signed_size)} {symbol} but the store expects {_text(expected)}: "
                "a manual trade or a liquidation"
            ),
            details={"expected": _text(expected), "actual": _text(actual.signed_size)},
        )
    return ReconcileReport(expected, actual, tuple(resolved))
