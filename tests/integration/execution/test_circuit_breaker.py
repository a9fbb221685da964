"""The exchange circuit breaker: its state is in the store, so it spans task processes; while it is open
no request (and no order) leaves; after the cool-down one trial call decides."""

from __future__ import annotations

import time
from decimal import Decimal as D

import pybreaker
import pytest

from bitsniper.breaker import breaker_name, exchange_breaker
from bitsniper.errors import CircuitOpen, OrderRejected, TransientExchangeError
from bitsniper.exchange import KrakenFuturesExchange
from bitsniper.execution import ExecutionReport, execute_decision
from bitsniper.simulator.server import RunningSimulator
from bitsniper.simulator.testing import CANDLE_MS
from bitsniper.store import SessionFactory, load_breaker, make_engine, make_session_factory, orders_for_decision

from execution_kit import DECISION_TIME, POLICY, SYMBOL, applied_orders, open_action, record

COOL_DOWN_SECS = 0.6


def _breaker(factory: SessionFactory) -> pybreaker.CircuitBreaker:
    return exchange_breaker(factory, name=breaker_name("live"), fail_max=2, reset_timeout_secs=COOL_DOWN_SECS)


def test_breaker_opens_after_consecutive_transport_failures_then_a_trial_call_closes_it(
    factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange, store_url: str
) -> None:
    # Arrange: an outage: the exchange answers 503 to everything
    actions = (open_action("long", 0.01),)
    decision = record(factory, actions)
    running.sim.faults.add("*:http=503:always")

    def run(session_factory: SessionFactory) -> ExecutionReport:
        return execute_decision(session_factory, exchange, decision, actions, mode="live", symbol=SYMBOL,
                                policy=POLICY, breaker=_breaker(session_factory))

    # Act: two failing runs open it; a third run in a "new process" (new engine, new breaker object)
    for _ in range(2):
        with pytest.raises(TransientExchangeError) as failure:
            run(factory)
        assert not isinstance(failure.value, CircuitOpen)
    requests_when_opened = dict(running.sim.requests)
    other_engine = make_engine(store_url)
    try:
        with pytest.raises(CircuitOpen):
            run(make_session_factory(other_engine))
    finally:
        other_engine.dispose()

    # Assert: open in the store, nothing asked of the exchange while open, no order recorded
    stored = load_breaker(factory, breaker_name("live"))
    assert stored.state == "open" and stored.failure_count == 2
    assert running.sim.requests == requests_when_opened
    assert orders_for_decision(factory, decision) == [] and applied_orders(running) == []

    # Act: the exchange recovers; after the cool-down the trial call goes through
    running.sim.faults.clear()
    time.sleep(COOL_DOWN_SECS + 0.1)
    report = run(factory)

    # Assert
    assert report.orders_sent == 1 and exchange.position(SYMBOL).signed_size == D("0.0100")
    assert load_breaker(factory, breaker_name("live")).state == "closed"


def test_breaker_opened_by_another_tasks_failures_blocks_execution_before_any_request(
    factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    # Arrange: another task (e.g. ingest) met two transport failures through the same breaker
    actions = (open_action("long", 0.01),)
    decision = record(factory, actions)

    def unreachable() -> None:
        raise TransientExchangeError("charts: cannot connect; nothing was sent")

    ingest_breaker = _breaker(factory)
    for _ in range(2):
        with pytest.raises(TransientExchangeError):
            ingest_breaker.call(unreachable)

    # Act
    with pytest.raises(CircuitOpen):
        execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, policy=POLICY,
                         breaker=_breaker(factory))

    # Assert: the exchange was not asked anything, no order was recorded
    assert running.sim.requests == {}
    assert orders_for_decision(factory, decision) == []


def test_refused_order_is_an_answer_and_does_not_count_towards_opening(
    factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    # Arrange: far too large an order: the exchange refuses it (insufficientAvailableFunds), twice
    breaker = _breaker(factory)
    for minute in range(2):
        decision_time = DECISION_TIME - (minute + 1) * CANDLE_MS
        actions = (open_action("long", 50.0, decision_time=decision_time),)
        decision = record(factory, actions, decision_time=decision_time)
        with pytest.raises(OrderRejected):
            execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, policy=POLICY,
                             breaker=breaker)

    # Assert
    assert load_breaker(factory, breaker_name("live")).state == "closed"
    assert [o.status_reason for o in orders_for_decision(factory, decision)] == ["insufficientAvailableFunds"]


def test_settings_alone_give_execution_its_store_kept_breaker(
    factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    # Arrange: the pipeline passes only the settings
    from bitsniper.config import load_settings

    settings = load_settings(breaker_fail_max=1, breaker_reset_timeout_secs=60, order_lookup_timeout_secs=1)
    actions = (open_action("long", 0.01),)
    decision = record(factory, actions)
    running.sim.faults.add("*:http=503:always")

    # Act
    with pytest.raises(TransientExchangeError) as first:
        execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, settings=settings)
    with pytest.raises(CircuitOpen):
        execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, settings=settings)

    # Assert
    assert not isinstance(first.value, CircuitOpen)
    assert load_breaker(factory, breaker_name("live")).state == "open"
