"""Execute a decision's orders exactly once (design.md "Exactly once"; kraken_futures.md "Idempotency").

Each action's order has a ``cliOrdId`` derived from the decision id and the action index (attempt 1), so a
retried task finds the same order. Per action, in index order:

1. Our record decides first: filled -> done; rejected -> final; sent/unknown -> resolved by looking
   (``reconcile.resolve_order``), never by sending again; an intent that never left -> sent as is.
2. A new attempt is looked up on the exchange too (a store restored from an older backup must not
   double an order), then the position is snapshotted, the intent committed, the order marked ``sent``,
   and only then the request leaves.
3. A lost reply (``OrderStateUnknown``) is resolved by polling the lookups and the position. Only an
   order proven not executed (found nowhere, position unchanged for ``order_settle_secs``, or reported
   cancelled/rejected) allows another attempt, with a new ``cliOrdId`` (``...-r2``). Every request
   carries Kraken's ``processBefore`` = sent time + ``process_before_secs`` (< ``order_settle_secs``): an
   attempt held in transit past that is refused by Kraken, so it cannot execute after the next attempt.
4. A market order is an IOC: a partial fill is final; the filled part is recorded and becomes the
   expected position (the unfilled rest was cancelled by Kraken, it is not a manual trade to explain).

A reversal (X9) closes first (reduce-only, sized to the exchange's actual position) and opens only once the
close is filled. Backfill decisions never trade.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any, Sequence

from bitsniper.breaker import GuardedExchange, breaker_blocks, breaker_name, exchange_breaker
from bitsniper.errors import (
    CircuitOpen,
    ConfigError,
    ExchangeReplyError,
    ExchangeRequestRefused,
    OrderRefused,
    OrderRejected,
    OrderStateUnknown,
    ReconciliationError,
    TransientExchangeError,
)
from bitsniper.exchange.base import (
    DEADLINE_PASSED,
    Exchange,
    ExchangePosition,
    InstrumentSpec,
    OrderRequest,
    OrderResult,
    OrderSide,
)
from bitsniper.reconcile import (
    ResolutionPolicy,
    halt,
    halted,
    reconcile,
    record_exchange_position,
    resolve_order,
)
from bitsniper.store.db import SessionFactory
from bitsniper.store.records import FillRecord, Mode, OrderIntent, OrderRecord, datetime_to_ms, ms_to_datetime
from bitsniper.store.repositories import (
    get_order,
    orders_for_decision,
    record_fills,
    record_order_intent,
    transition_order,
)
from bitsniper.strategy.state import Action

if TYPE_CHECKING:
    import pybreaker

    from bitsniper.config import Settings

__all__ = ["ExecutionPolicy", "ActionOutcome", "ExecutionReport", "cli_ord_id_for", "execute_decision"]

log = logging.getLogger("bitsniper.execution")

_MAX_CLI_ORD_ID = 100  # Kraken's limit
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_NOT_SENT = "not sent: "  # reason of an attempt the adapter proved never left (it does not use up an attempt)


@dataclass(frozen=True, slots=True)
class ExecutionPolicy(ResolutionPolicy):
    """Lookup polling (see ``ResolutionPolicy``), how many sends one action may take, and the deadline each
    send carries (``processBefore`` = sent time + ``process_before_secs``; None sends none, which is unsafe
    and exists only to show the hazard in tests)."""

    max_attempts: int = 3
    process_before_secs: float | None = 20.0

    def __post_init__(self) -> None:
        if self.process_before_secs is not None and not 0 < self.process_before_secs < self.settle_secs:
            raise ConfigError(
                f"order_process_before_secs ({self.process_before_secs:g}) must be positive and below "
                f"order_settle_secs ({self.settle_secs:g}): a resend must come after the earlier deadline"
            )

    @classmethod
    def from_settings(cls, settings: "Settings") -> "ExecutionPolicy":
        return cls(
            lookup_timeout_secs=settings.order_lookup_timeout_secs,
            lookup_interval_secs=settings.order_lookup_interval_secs,
            settle_secs=settings.order_settle_secs,
            max_attempts=settings.order_max_attempts,
            process_before_secs=settings.order_process_before_secs,
        )


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    index: int
    cli_ord_id: str
    status: str
    filled_size: Decimal
    average_price: Decimal | None
    sent_now: int  # requests this run sent for the action (0 when a retry found it done)


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    decision_id: str
    outcomes: tuple[ActionOutcome, ...]
    position: ExchangePosition | None
    skipped: str | None = None

    @property
    def orders_sent(self) -> int:
        return sum(o.sent_now for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        """A small JSON-able summary (Airflow's XCom carries only small values)."""
        return {
            "decision_id": self.decision_id,
            "sent": self.orders_sent,
            "skipped": self.skipped,
            "orders": [
                {"index": o.index, "cli_ord_id": o.cli_ord_id, "status": o.status, "filled_size": str(o.filled_size),
                 "average_price": None if o.average_price is None else str(o.average_price)}
                for o in self.outcomes
            ],
            "position": None if self.position is None else str(self.position.signed_size),
        }


def cli_ord_id_for(decision_id: str, index: int, attempt: int = 1) -> str:
    """``<decision id>-a<index>`` (``-r<attempt>`` from the 2nd send): deterministic, Kraken-safe, <= 100 chars."""
    safe = _UNSAFE.sub("_", decision_id)
    suffix = f"-a{index}" + (f"-r{attempt}" if attempt > 1 else "")
    if len(safe) + len(suffix) > _MAX_CLI_ORD_ID:
        digest = hashlib.sha256(decision_id.encode()).hexdigest()[:16]
        safe = f"{safe[: _MAX_CLI_ORD_ID - len(suffix) - 17]}-{digest}"
    return safe + suffix


def _size_to_step(size: float, spec: InstrumentSpec) -> Decimal:
    """E6: the action's size floored to the instrument's step (the float goes through its shortest repr)."""
    steps = (Decimal(repr(float(size))) / spec.size_step).to_integral_value(rounding=ROUND_DOWN)
    return steps * spec.size_step


def _outcome(order: OrderRecord, sent_now: int) -> ActionOutcome:
    return ActionOutcome(
        order.action_index if order.action_index is not None else 0, order.cli_ord_id, order.status,
        order.filled_size, order.average_price, sent_now,
    )


class _Executor:
    def __init__(
        self,
        factory: SessionFactory,
        exchange: Exchange,
        breaker: "pybreaker.CircuitBreaker | None",
        decision_id: str,
        mode: Mode,
        symbol: str,
        policy: ExecutionPolicy,
    ) -> None:
        self.factory = factory
        self.exchange: Exchange = exchange if breaker is None else GuardedExchange(exchange, breaker)  # type: ignore[assignment]
        self.breaker = breaker
        self.decision_id = decision_id
        self.mode = mode
        self.symbol = symbol
        self.policy = policy
        self.checked: set[str] = set()  # cliOrdIds this run already looked up on the exchange

    def _halt(self, message: str, **details: Any) -> Exception:
        return halt(self.factory, mode=self.mode, symbol=self.symbol, message=message,
                    details={"decision_id": self.decision_id, **details})

    def _attempts(self, index: int) -> list[OrderRecord]:
        return [o for o in orders_for_decision(self.factory, self.decision_id) if o.action_index == index]

    def run(self, action: Action) -> ActionOutcome:
        sent = 0
        while True:
            attempts = self._attempts(action.index)
            pending: OrderRecord | None = None
            for order in attempts:
                if order.status == "filled":
                    return _outcome(order, sent)
                if order.status == "rejected":
                    raise OrderRejected(
                        f"order {order.cli_ord_id} was rejected ({order.status_reason}); it is never sent again"
                    )
                if order.status in ("sent", "unknown", "acknowledged"):
                    order = resolve_order(self.factory, self.exchange, order, self.policy)
                    if order.status == "filled":
                        return _outcome(order, sent)
                    if order.status == "rejected":
                        raise OrderRejected(f"order {order.cli_ord_id} was rejected: {order.status_reason}")
                if order.status == "intent":
                    pending = order  # committed but never sent (sent is marked before the request leaves)
            if pending is None:
                attempt = len(attempts) + 1
                used = sum(1 for o in attempts if not (o.status_reason or "").startswith(_NOT_SENT))
                if used >= self.policy.max_attempts:
                    raise OrderRejected(
                        f"action {action.index} of {self.decision_id}: {used} sends did not execute; giving up"
                    )
                pending = self._new_intent(action, attempt)
                if pending.status != "intent":  # the exchange already knew it: adopted and resolved
                    continue
            sent += self._send(pending)
            order = next(o for o in self._attempts(action.index) if o.cli_ord_id == pending.cli_ord_id)
            if order.status == "filled":
                return _outcome(order, sent)
            if order.status == "rejected":
                raise OrderRejected(f"order {order.cli_ord_id} was rejected: {order.status_reason}")
            # cancelled: proven not executed -> loop to the next attempt

    def adopt_unrecorded(self, action: Action, attempt: int = 1) -> OrderRecord | None:
        """Look ``attempt``'s cliOrdId up on the exchange when the store has no row for it.

        The intent is committed before any send, so this only finds something when the store lost rows
        (restored from an older backup): the order is then adopted and resolved, never sent again.
        """
        cli = cli_ord_id_for(self.decision_id, action.index, attempt)
        if cli in self.checked or get_order(self.factory, cli) is not None:
            return None
        known = self.exchange.order_by_cli_ord_id(cli)
        self.checked.add(cli)
        if not known.found:
            return None
        size = known.filled_size
        if size <= 0:
            size = max((s.quantity for s in (*known.statuses, *known.open_orders)), default=Decimal(0))
        log.warning("order %s is on the exchange but not in the store: adopting it", cli)
        record_order_intent(self.factory, self._intent(cli, action, size))
        transition_order(self.factory, cli, "sent", reason="found on the exchange, not in the store: adopted")
        order = get_order(self.factory, cli)
        assert order is not None
        return resolve_order(self.factory, self.exchange, order, self.policy)

    def _new_intent(self, action: Action, attempt: int) -> OrderRecord:
        cli = cli_ord_id_for(self.decision_id, action.index, attempt)
        spec = self.exchange.instrument(self.symbol)
        adopted = self.adopt_unrecorded(action, attempt)
        if adopted is not None:
            return adopted
        position = self.exchange.position(self.symbol)
        side = action.order_side
        if action.kind == "close":
            if position.is_flat or position.side is None or position.side.value != action.side:
                raise self._halt(
                    f"close of a {action.side} position but the exchange holds {position.signed_size}",
                    action_index=action.index,
                )
            size = position.size  # the exchange's actual size, not the engine's memory
        else:
            if not position.is_flat:
                raise self._halt(
                    f"entry while the exchange still holds {position.signed_size}", action_index=action.index
                )
            size = _size_to_step(action.size, spec)
            if size < spec.min_size:
                raise OrderRejected(f"entry size {action.size} BTC is below the minimum {spec.min_size} (E6)")
        record_exchange_position(self.factory, mode=self.mode, symbol=self.symbol, position=position)
        return record_order_intent(self.factory, self._intent(cli, action, size, side))

    def _intent(self, cli: str, action: Action, size: Decimal, side: str | None = None) -> OrderIntent:
        return OrderIntent(
            cli_ord_id=cli, mode=self.mode, symbol=self.symbol, side=(side or action.order_side),  # type: ignore[arg-type]
            size=size, reduce_only=action.reduce_only, decision_id=self.decision_id, action_index=action.index,
        )

    def _send(self, order: OrderRecord) -> int:
        """Mark ``sent``, send once, record what came back; returns 1 when a request left, else 0."""
        if self.breaker is not None and breaker_blocks(self.breaker):
            raise CircuitOpen(f"circuit breaker {self.breaker.name!r} is open; {order.cli_ord_id} was not sent")
        sent = transition_order(self.factory, order.cli_ord_id, "sent")
        deadline: int | None = None
        if self.policy.process_before_secs is not None and sent.sent_at is not None:
            # From the stored sent time, so "settle_secs after sent_at" is always past the deadline.
            deadline = datetime_to_ms(sent.sent_at) + int(self.policy.process_before_secs * 1000)
        request = OrderRequest(
            cli_ord_id=order.cli_ord_id, symbol=order.symbol, side=OrderSide(order.side), size=order.size,
            reduce_only=order.reduce_only, process_before_ms=deadline,
        )
        log.info("sending %s %s %s (reduce only: %s)", order.cli_ord_id, order.side, order.size, order.reduce_only)
        try:
            result = self.exchange.place_order(request)
        except CircuitOpen as error:
            self._not_sent(order, str(error))
            raise
        except TransientExchangeError as error:
            self._not_sent(order, str(error))
            raise
        except OrderRefused as error:
            if error.status == DEADLINE_PASSED:  # it arrived too late and was not executed: another attempt may go
                transition_order(self.factory, order.cli_ord_id, "unknown", reason=error.status)
                transition_order(
                    self.factory, order.cli_ord_id, "cancelled",
                    reason=f"{error.status}: the exchange refused it after its processBefore deadline",
                )
                return 1
            transition_order(self.factory, order.cli_ord_id, "rejected", reason=error.status)
            return 1
        except ExchangeRequestRefused as error:
            transition_order(self.factory, order.cli_ord_id, "rejected", reason=error.code)
            raise
        except (OrderStateUnknown, ExchangeReplyError) as error:
            log.warning("order %s: %s; resolving by lookup", order.cli_ord_id, error)
            resolve_order(self.factory, self.exchange, order_after(self.factory, order, "sent"), self.policy)
            return 1
        self._record_result(order, result)
        return 1

    def _not_sent(self, order: OrderRecord, reason: str) -> None:
        """The adapter says nothing left (connection refused, HTTP 429, apiLimitExceeded): close the attempt."""
        transition_order(self.factory, order.cli_ord_id, "unknown", reason=reason)
        transition_order(self.factory, order.cli_ord_id, "cancelled", reason=f"{_NOT_SENT}{reason}")

    def _record_result(self, order: OrderRecord, result: OrderResult) -> None:
        transition_order(self.factory, order.cli_ord_id, "acknowledged", exchange_order_id=result.order_id)
        stamp = ms_to_datetime(result.received_time)
        record_fills(
            self.factory,
            [
                FillRecord(
                    fill_id=e.execution_id, symbol=order.symbol, side=order.side, size=e.size, price=e.price,
                    filled_at=stamp, cli_ord_id=order.cli_ord_id, exchange_order_id=result.order_id, fill_type="taker",
                )
                for e in result.executions
            ],
        )
        if result.filled_size >= order.size or (order.reduce_only and result.filled_size > 0):
            transition_order(
                self.factory, order.cli_ord_id, "filled", filled_size=result.filled_size,
                average_price=result.average_price,
            )
        elif result.filled_size > 0:
            # Execution sends only market orders (X7) and Kraken's mkt is an IOC with 1 % price protection:
            # what did not fill at once was cancelled. The filled part is the order's outcome (and the
            # expected position); the rest is never resent, nor taken for a manual trade.
            log.warning("order %s filled %s of %s; the rest was cancelled (IOC)", order.cli_ord_id,
                        result.filled_size, order.size)
            transition_order(
                self.factory, order.cli_ord_id, "filled", filled_size=result.filled_size,
                average_price=result.average_price,
                reason=f"partially filled: {result.filled_size} of {order.size}, the rest cancelled (IOC)",
            )
        else:  # placed but not (fully) filled at once: the lookups tell the rest
            resolve_order(self.factory, self.exchange, order_after(self.factory, order, "acknowledged"), self.policy)


def order_after(factory: SessionFactory, order: OrderRecord, status: str) -> OrderRecord:
    """The order re-read from the store (its status has just moved to ``status``)."""
    fresh = get_order(factory, order.cli_ord_id)
    assert fresh is not None and fresh.status == status, (order.cli_ord_id, fresh)
    return fresh


def execute_decision(
    factory: SessionFactory,
    exchange: Exchange,
    decision_id: str,
    actions: Sequence[Action],
    *,
    mode: Mode,
    symbol: str,
    policy: ExecutionPolicy | None = None,
    breaker: "pybreaker.CircuitBreaker | None" = None,
    expected_position: Decimal | None = None,
    settings: "Settings | None" = None,
) -> ExecutionReport:
    """Execute ``actions`` (one decision) exactly once; safe to call again after any failure.

    ``settings`` supplies the policy (``order_*``) and the store-kept breaker (``breaker_*``) when they are
    not given explicitly.

    Raises ``ReconciliationError`` (halted), ``OrderRejected`` (final), ``CircuitOpen`` /
    ``TransientExchangeError`` (nothing sent, retry), ``OrderStateUnknown`` (unresolved: retry, the next
    attempt looks before anything else).
    """
    if mode == "backfill":
        return ExecutionReport(decision_id, (), None, skipped="backfill decisions never trade")
    if settings is not None:
        policy = policy or ExecutionPolicy.from_settings(settings)
        if breaker is None:
            breaker = exchange_breaker(
                factory, name=breaker_name(mode), fail_max=settings.breaker_fail_max,
                reset_timeout_secs=settings.breaker_reset_timeout_secs,
            )
    policy = policy or ExecutionPolicy()
    if halted(factory, mode=mode, symbol=symbol):
        raise ReconciliationError(f"trading {mode} {symbol} is halted: check the alerts, then run `bitsniper resume`")
    executor = _Executor(factory, exchange, breaker, decision_id, mode, symbol, policy)
    ordered = sorted(actions, key=lambda a: a.index)
    for action in ordered:  # before reconciling: our own unrecorded order is not a manual trade
        executor.adopt_unrecorded(action)
    reconcile(
        factory, executor.exchange, mode=mode, symbol=symbol, expected_position=expected_position,
        decision_id=decision_id, policy=policy,
    )
    outcomes = tuple(executor.run(action) for action in ordered)
    position = executor.exchange.position(symbol)
    record_exchange_position(factory, mode=mode, symbol=symbol, position=position, at=datetime.now(timezone.utc))
    return ExecutionReport(decision_id, outcomes, position)
