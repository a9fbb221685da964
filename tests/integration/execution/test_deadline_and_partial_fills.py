"""The two double-order hazards the settle rule alone left open, and partial fills (issue 4 follow-up).

- A request held in transit longer than ``order_settle_secs`` could execute after execution resent it:
  every send now carries ``processBefore`` = sent time + ``process_before_secs`` (< the settle time), so the
  late request is refused. ``delay`` holds it before the exchange looks at it (its nonce is then stale too);
  ``hold`` lets the exchange accept it at once (nonce checked on arrival) and process it later: only the
  deadline stops it. The control without a deadline shows the hazard is real.
- A market order is an IOC with price protection: a partial fill is its final outcome. The filled part is
  recorded and expected; the unfilled rest is neither resent nor taken for a manual trade.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal as D

import pytest

from bitsniper.exchange import DEADLINE_PASSED, KrakenFuturesExchange, OrderRequest, OrderSide
from bitsniper.execution import ExecutionPolicy, cli_ord_id_for, execute_decision
from bitsniper.reconcile import halted, record_exchange_position
from bitsniper.simulator.server import RunningSimulator
from bitsniper.simulator.state import SimFill
from bitsniper.simulator.testing import CANDLE_MS
from bitsniper.store import (
    OrderIntent,
    SessionFactory,
    orders_for_decision,
    record_order_intent,
    transition_order,
)

from execution_kit import (
    DECISION_TIME,
    LAST_OPEN,
    POLICY,
    PROCESS_BEFORE_SECS,
    SYMBOL,
    applied_orders,
    close_action,
    make_exchange,
    open_action,
    record,
    run_like_airflow,
)

HELD_SECS = 1.5  # longer than the deadline (0.6 s) and the settle time (1.0 s): execution resends meanwhile
NO_DEADLINE = ExecutionPolicy(
    lookup_timeout_secs=POLICY.lookup_timeout_secs, lookup_interval_secs=POLICY.lookup_interval_secs,
    settle_secs=POLICY.settle_secs, max_attempts=POLICY.max_attempts, process_before_secs=None,
)


def _wait_past_the_hold(started: float, handled: Callable[[], bool] = lambda: True, timeout: float = 10.0) -> None:
    """Let the held request reach the simulator's order handling before asserting what it did: at least the
    hold from ``started``, then until ``handled`` (the hold counts from the request's arrival, which a slow
    machine delays: a fixed sleep alone failed once on a fresh CI checkout)."""
    time.sleep(max(0.0, started + HELD_SECS + 0.3 - time.monotonic()))
    deadline = time.monotonic() + timeout
    while not handled() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("fault", "refusal"),
    [(f"sendorder:delay={HELD_SECS}", None), (f"sendorder:hold={HELD_SECS}", DEADLINE_PASSED)],
    ids=["delay", "hold"],
)
def test_request_held_past_its_deadline_is_refused_and_the_resend_executes_once(
    fault: str, refusal: str | None, factory: SessionFactory, running: RunningSimulator,
    exchange: KrakenFuturesExchange,
) -> None:
    # Arrange
    actions = (open_action("long", 0.01),)
    decision = record(factory, actions)
    running.sim.faults.add(fault)
    started = time.monotonic()

    # Act: the first request times out, is proven not executed after the settle time, and is resent
    report, errors = run_like_airflow(
        lambda: execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, policy=POLICY)
    )
    _wait_past_the_hold(started, lambda: refusal is None or bool(running.sim.state.refusals))

    # Assert: the first request arrived after its deadline and did nothing; the resend is the one order
    first, second = cli_ord_id_for(decision, 0), cli_ord_id_for(decision, 0, 2)
    applied = applied_orders(running)
    assert [o.cli_ord_id for o in applied] == [second]
    assert exchange.position(SYMBOL).signed_size == D("0.0100")
    assert [(o.cli_ord_id, o.status) for o in orders_for_decision(factory, decision)] == [
        (first, "cancelled"), (second, "filled"),
    ]
    assert report.orders_sent == 2 and errors == []
    if refusal is not None:  # hold: accepted on arrival, so only processBefore refused it
        assert running.sim.state.refusals == [(first, refusal)]
    assert not halted(factory, mode="live", symbol=SYMBOL)


def test_without_a_deadline_a_held_request_executes_after_the_resend(
    factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    """The control of the test above: the hazard processBefore closes (two orders for one action)."""
    actions = (open_action("long", 0.01),)
    decision = record(factory, actions)
    running.sim.faults.add(f"sendorder:hold={HELD_SECS}")
    started = time.monotonic()

    execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, policy=NO_DEADLINE)
    _wait_past_the_hold(started, lambda: len(applied_orders(running)) >= 2)

    assert len(applied_orders(running)) == 2
    assert exchange.position(SYMBOL).signed_size == D("0.0200")


def test_deadline_refusal_heard_in_the_reply_is_resent_at_once_with_a_new_cli_ord_id(
    factory: SessionFactory, running: RunningSimulator
) -> None:
    # Arrange: a patient client hears the refusal of the request held past its deadline
    patient = make_exchange(running.url, timeout_secs=3.0)
    actions = (open_action("long", 0.01),)
    decision = record(factory, actions)
    running.sim.faults.add(f"sendorder:hold={PROCESS_BEFORE_SECS + 0.3}")

    # Act
    report = execute_decision(factory, patient, decision, actions, mode="live", symbol=SYMBOL, policy=POLICY)

    # Assert: proven not executed by the refusal itself (no settle wait), then the resend filled
    first, second = cli_ord_id_for(decision, 0), cli_ord_id_for(decision, 0, 2)
    orders = orders_for_decision(factory, decision)
    assert [(o.cli_ord_id, o.status) for o in orders] == [(first, "cancelled"), (second, "filled")]
    assert orders[0].status_reason is not None and orders[0].status_reason.startswith(DEADLINE_PASSED)
    assert running.sim.state.refusals == [(first, DEADLINE_PASSED)]
    assert [o.cli_ord_id for o in applied_orders(running)] == [second] and report.orders_sent == 2


def test_send_carries_a_deadline_of_the_sent_time_plus_the_setting(
    factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    # Arrange: an order held just under its deadline is still executed (the deadline is not too early)
    actions = (open_action("long", 0.01),)
    decision = record(factory, actions)
    running.sim.faults.add(f"sendorder:hold={PROCESS_BEFORE_SECS - 0.35}")

    # Act
    report = execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, policy=POLICY)

    # Assert
    (order,) = orders_for_decision(factory, decision)
    assert order.status == "filled" and report.orders_sent == 1
    assert running.sim.state.refusals == [] and len(applied_orders(running)) == 1


def test_bad_deadline_setting_is_refused_naming_both_settings() -> None:
    from bitsniper.config import load_settings
    from bitsniper.errors import ConfigError

    with pytest.raises(ConfigError, match="order_process_before_secs"):
        ExecutionPolicy(settle_secs=10, process_before_secs=10)
    with pytest.raises(ConfigError, match="order_process_before_secs"):
        load_settings(order_settle_secs=15, order_process_before_secs=20)
    assert ExecutionPolicy.from_settings(load_settings()).process_before_secs == 20.0


# --------------------------------------------------------------------------- partial fills


def test_partially_filled_entry_records_the_filled_part_and_the_close_reconciles_without_a_halt(
    factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    # Arrange: only half of the entry can fill
    earlier = DECISION_TIME - CANDLE_MS
    entry = (open_action("long", 0.01, decision_time=earlier),)
    entry_decision = record(factory, entry, decision_time=earlier)
    running.sim.faults.add("sendorder:partial=0.5")

    # Act: the entry, then the next decision closes it
    opened = execute_decision(factory, exchange, entry_decision, entry, mode="live", symbol=SYMBOL, policy=POLICY)
    close = (close_action("long", 0.01),)
    close_decision = record(factory, close)
    closed = execute_decision(factory, exchange, close_decision, close, mode="live", symbol=SYMBOL, policy=POLICY)

    # Assert: the entry is filled with 0.005, never resent; the close expected 0.005 (no halt) and sold it
    (order,) = orders_for_decision(factory, entry_decision)
    assert (order.status, order.filled_size, order.average_price) == ("filled", D("0.005"), LAST_OPEN)
    assert order.status_reason is not None and "partially filled" in order.status_reason
    assert (opened.orders_sent, opened.outcomes[0].filled_size) == (1, D("0.005"))
    assert opened.position is not None and opened.position.signed_size == D("0.005")
    (close_order,) = orders_for_decision(factory, close_decision)
    assert (close_order.size, close_order.status, closed.orders_sent) == (D("0.005"), "filled", 1)
    assert exchange.position(SYMBOL).is_flat and len(applied_orders(running)) == 2
    assert not halted(factory, mode="live", symbol=SYMBOL)


def test_partial_fill_whose_reply_was_lost_and_forgotten_by_the_lookups_is_proven_by_the_position(
    factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    # Arrange: a run recorded the intent, marked it sent and died as the request left; half of it filled.
    # Then 6 s pass (orders/status forgets it) and 100 newer fills push it out of the fills endpoint.
    actions = (open_action("long", 0.01),)
    decision = record(factory, actions)
    cli = cli_ord_id_for(decision, 0)
    record_exchange_position(factory, mode="live", symbol=SYMBOL, position=exchange.position(SYMBOL))
    record_order_intent(factory, OrderIntent(cli, "live", SYMBOL, "buy", D("0.01"), decision_id=decision, action_index=0))
    transition_order(factory, cli, "sent")
    running.sim.faults.add("sendorder:partial=0.5")
    exchange.place_order(OrderRequest(cli, SYMBOL, OrderSide.BUY, D("0.01")))
    now = running.sim.clock.advance(6_000)  # type: ignore[attr-defined]
    with running.sim.state.lock:
        running.sim.state.fills.extend(
            SimFill(f"other-{i}", f"o-{i}", None, "PF_ETHUSD", "buy", D("1"), D("3000"), now + i, "taker", D("0"))
            for i in range(100)
        )

    # Act: the retried run resolves it before anything else
    report = execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, policy=POLICY)

    # Assert: half filled, as the position shows; not resent, not a manual trade
    (order,) = orders_for_decision(factory, decision)
    assert exchange.order_by_cli_ord_id(cli).found is False
    assert (order.status, order.filled_size) == ("filled", D("0.005"))
    assert order.status_reason == "the position moved by part of this order (IOC partial fill)"
    assert report.orders_sent == 0 and len(applied_orders(running)) == 1
    assert not halted(factory, mode="live", symbol=SYMBOL)
