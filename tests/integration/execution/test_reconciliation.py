"""Reconciliation: a position nobody in the store explains halts trading until `bitsniper resume`; our own
fill that was never recorded is found by its cliOrdId and is never taken for a manual trade."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from typer.testing import CliRunner

from bitsniper.cli import app
from bitsniper.errors import ReconciliationError
from bitsniper.exchange import KrakenFuturesExchange, OrderRequest, OrderSide
from bitsniper.execution import cli_ord_id_for, execute_decision
from bitsniper.reconcile import HALT_ALERT_KIND, expected_position_from_store, halted, reconcile
from bitsniper.simulator.server import RunningSimulator
from bitsniper.simulator.testing import CANDLE_MS, TEST_API_KEY, TEST_API_SECRET
from bitsniper.store import (
    OrderIntent,
    SessionFactory,
    orders_for_decision,
    record_order_intent,
    transition_order,
    unresolved_alerts,
)

from execution_kit import DECISION_TIME, POLICY, SYMBOL, applied_orders, close_action, open_action, record

EARLIER = DECISION_TIME - CANDLE_MS


def _hold_long(factory: SessionFactory, exchange: KrakenFuturesExchange) -> None:
    actions = (open_action("long", 0.01, decision_time=EARLIER),)
    decision = record(factory, actions, decision_time=EARLIER)
    execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, policy=POLICY)


def test_manual_trade_halts_with_an_alert_and_nothing_is_sent_until_resume(
    factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange, store_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Arrange: we hold long 0.01; someone buys 0.005 more by hand
    _hold_long(factory, exchange)
    exchange.place_order(OrderRequest("manual-by-operator", SYMBOL, OrderSide.BUY, D("0.005")))
    actions = (close_action("long", 0.01),)
    decision = record(factory, actions)
    sends_before = running.sim.requests.get("sendorder", 0)

    # Act: two runs (the second as an Airflow retry)
    with pytest.raises(ReconciliationError, match="manual trade"):
        execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, policy=POLICY)
    requests_after_halt = dict(running.sim.requests)
    with pytest.raises(ReconciliationError, match="halted"):
        execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, policy=POLICY)

    # Assert: halted, one critical alert naming both positions, no order, and the retry asked nothing
    alerts = unresolved_alerts(factory, kind=HALT_ALERT_KIND)
    assert len(alerts) == 1 and alerts[0].severity == "critical"
    assert alerts[0].details["expected"] == "0.01" and alerts[0].details["actual"] == "0.015"
    assert halted(factory, mode="live", symbol=SYMBOL)
    assert running.sim.requests.get("sendorder", 0) == sends_before
    assert running.sim.requests == requests_after_halt
    assert orders_for_decision(factory, decision) == []

    # Act: the operator accepts the position and resumes from the command line
    monkeypatch.setenv("BITSNIPER_DATABASE_URL", store_url)
    monkeypatch.setenv("BITSNIPER_MODE", "live")
    monkeypatch.setenv("BITSNIPER_LIVE_TRADING_ENABLED", "true")
    monkeypatch.setenv("BITSNIPER_EXCHANGE_URL", running.url)
    monkeypatch.setenv("BITSNIPER_KRAKEN_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("BITSNIPER_KRAKEN_API_SECRET", TEST_API_SECRET)
    result = CliRunner().invoke(app, ["resume", "--symbol", SYMBOL])
    report = execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, policy=POLICY)

    # Assert: resumed; the close used the exchange's 0.015
    assert result.exit_code == 0, result.output
    assert "1 halt alert(s) resolved" in result.output and TEST_API_SECRET not in result.output
    assert not halted(factory, mode="live", symbol=SYMBOL) and unresolved_alerts(factory) == []
    assert [(o.size, o.status) for o in orders_for_decision(factory, decision)] == [(D("0.0150"), "filled")]
    assert exchange.position(SYMBOL).is_flat and report.orders_sent == 1


def test_own_fill_never_recorded_is_explained_by_its_cli_ord_id_not_halted(
    factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    # Arrange: a run recorded its intent, sent, and died before recording the reply; then 10 s pass
    # (orders/status has forgotten it: only the fills still show the cliOrdId)
    actions = (open_action("long", 0.01, decision_time=EARLIER),)
    decision = record(factory, actions, decision_time=EARLIER)
    cli = cli_ord_id_for(decision, 0)
    record_order_intent(factory, OrderIntent(cli, "live", SYMBOL, "buy", D("0.01"), decision_id=decision, action_index=0))
    transition_order(factory, cli, "sent")
    exchange.place_order(OrderRequest(cli, SYMBOL, OrderSide.BUY, D("0.01")))
    running.sim.clock.advance(10_000)
    next_actions = (close_action("long", 0.01),)
    next_decision = record(factory, next_actions)

    # Act: the next decision's run reconciles first
    report = execute_decision(factory, exchange, next_decision, next_actions, mode="live", symbol=SYMBOL, policy=POLICY)

    # Assert: no halt; the lost order was recorded as filled from the fills; then the close went out
    assert unresolved_alerts(factory) == []
    assert [o.status for o in orders_for_decision(factory, decision)] == ["filled"]
    assert orders_for_decision(factory, decision)[0].exchange_order_id is not None
    assert report.orders_sent == 1 and exchange.position(SYMBOL).is_flat
    assert len(applied_orders(running)) == 2


def test_liquidation_while_holding_halts(
    factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    # Arrange: the exchange closed our position on its own (a liquidation seen as a flat account)
    _hold_long(factory, exchange)
    with running.sim.state.lock:
        running.sim.state.positions.clear()

    # Act / Assert
    with pytest.raises(ReconciliationError):
        reconcile(factory, exchange, mode="live", symbol=SYMBOL, policy=POLICY)
    assert expected_position_from_store(factory, mode="live", symbol=SYMBOL) == D("0.01")
    assert halted(factory, mode="live", symbol=SYMBOL)


def test_caller_expectation_counts_this_decisions_recorded_fills_on_a_retry(
    factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    # Arrange: the strategy expected long 0.01 before a close that has already filled in a first run
    _hold_long(factory, exchange)
    actions = (close_action("long", 0.01),)
    decision = record(factory, actions)
    execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, policy=POLICY,
                     expected_position=D("0.01"))

    # Act: Airflow runs the task again with the same expectation
    report = execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, policy=POLICY,
                              expected_position=D("0.01"))

    # Assert: not a mismatch (our own close explains flat), nothing sent
    assert report.orders_sent == 0 and not halted(factory, mode="live", symbol=SYMBOL)


def test_order_on_the_exchange_but_missing_from_the_store_is_adopted_not_resent(
    factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    # Arrange: the store lost the order's rows (restored from an older backup) after it had executed
    actions = (open_action("long", 0.01),)
    decision = record(factory, actions)
    exchange.place_order(OrderRequest(cli_ord_id_for(decision, 0), SYMBOL, OrderSide.BUY, D("0.01")))

    # Act
    report = execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, policy=POLICY)

    # Assert: adopted as filled, nothing sent, no halt
    assert report.orders_sent == 0 and len(applied_orders(running)) == 1
    assert [(o.status, o.filled_size) for o in orders_for_decision(factory, decision)] == [("filled", D("0.01"))]
    assert unresolved_alerts(factory) == []


def test_unsent_intent_of_an_earlier_decision_is_abandoned_not_sent_late(
    factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    # Arrange: an earlier run recorded an intent and stopped before sending (e.g. the breaker was open)
    old_actions = (open_action("long", 0.01, decision_time=EARLIER),)
    old = record(factory, old_actions, decision_time=EARLIER)
    record_order_intent(factory, OrderIntent(cli_ord_id_for(old, 0), "live", SYMBOL, "buy", D("0.01"),
                                             decision_id=old, action_index=0))
    decision = record(factory, ())

    # Act: the next decision (no action) runs
    report = execute_decision(factory, exchange, decision, (), mode="live", symbol=SYMBOL, policy=POLICY)

    # Assert
    assert [(o.status, o.status_reason) for o in orders_for_decision(factory, old)] == [
        ("cancelled", "abandoned: its decision's run ended unsent")
    ]
    assert report.orders_sent == 0 and applied_orders(running) == []
