"""``kill --flatten`` closes the position through exactly-once execution on the simulator (issue 6)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from pydantic import SecretStr

from bitsniper.config import load_settings
from bitsniper.controls import FLATTEN_RULE, kill
from bitsniper.exchange import KrakenFuturesConfig, KrakenFuturesExchange
from bitsniper.execution import ExecutionPolicy, execute_decision
from bitsniper.journal import trades
from bitsniper.risk import kill_switch
from bitsniper.simulator.server import RunningSimulator
from bitsniper.simulator.testing import TEST_API_KEY, TEST_API_SECRET, make_candles, running_simulator
from bitsniper.store import SessionFactory, load_state, record_decision
from bitsniper.strategy.state import Action, Decision, Position, PositionType, StrategyState

from operator_kit import CANDLE_MS, SYMBOL

CANDLES = make_candles(250)
DECISION_TIME = int(CANDLES.time[-2])
POLICY = ExecutionPolicy(lookup_timeout_secs=3.0, lookup_interval_secs=0.1, settle_secs=1.0, process_before_secs=0.6)


@pytest.fixture
def running() -> Iterator[RunningSimulator]:
    with running_simulator(CANDLES) as live:
        yield live


def _exchange(url: str) -> KrakenFuturesExchange:
    return KrakenFuturesExchange(
        KrakenFuturesConfig(api_key=SecretStr(TEST_API_KEY), api_secret=SecretStr(TEST_API_SECRET), url=url, http_timeout_secs=2.0)
    )


def _open_long(factory: SessionFactory, exchange: KrakenFuturesExchange) -> None:
    """A pipeline-like entry: the decision with its state, then its execution."""
    action = Action("open", PositionType.LONG_VI2, "long", "E3", DECISION_TIME, DECISION_TIME + CANDLE_MS, 0.02, 0)
    position = Position(PositionType.LONG_VI2, DECISION_TIME + CANDLE_MS, DECISION_TIME, 52_000.0, 55.0, 61.5, 0.02)
    state = StrategyState(position=position, last_decision_time=DECISION_TIME)
    stored, _ = record_decision(factory, mode="live", symbol=SYMBOL, decision=Decision(DECISION_TIME, "ok", (action,), state), state_before=None)
    execute_decision(factory, exchange, stored.id, stored.actions, mode="live", symbol=SYMBOL, policy=POLICY)


def test_kill_flatten_sends_exactly_one_reduce_only_close_and_leaves_the_state_flat(
    factory: SessionFactory, store_url: str, running: RunningSimulator
) -> None:
    # Arrange
    settings = load_settings(database_url=store_url, mode="live", live_trading_enabled=True, exchange="simulator", exchange_url=running.url)
    exchange = _exchange(running.url)
    _open_long(factory, exchange)
    now_ms = int(CANDLES.time[-1]) + 120_000
    # Act
    changed, report = kill(
        factory, settings, mode="live", symbol=SYMBOL, reason="flatten test", source="test", notify=None,
        exchange=exchange, now_ms=now_ms, policy=POLICY,
    )
    again, second = kill(
        factory, settings, mode="live", symbol=SYMBOL, reason="again", source="test", notify=None,
        exchange=exchange, now_ms=now_ms + 1000, policy=POLICY,
    )
    # Assert
    with running.sim.state.lock:
        orders = list(running.sim.state.orders.values())
    closes = [o for o in orders if o.reduce_only]
    assert len(orders) == 2 and len(closes) == 1
    assert (closes[0].side, closes[0].quantity, closes[0].filled) == ("sell", Decimal("0.02"), Decimal("0.02"))
    assert report is not None and [o.status for o in report.outcomes] == ["filled"]
    assert report.position is not None and report.position.is_flat
    assert exchange.position(SYMBOL).is_flat
    assert (changed, again, second) == (True, False, None)  # already flat: nothing sent the second time
    assert kill_switch(factory, mode="live", symbol=SYMBOL) is not None
    state = load_state(factory, mode="live", strategy="vi", symbol=SYMBOL)
    assert state is not None and state.position is None and state.last_position_type is PositionType.LONG_VI2
    assert state.last_decision_time == DECISION_TIME  # the pipeline's next candle is still decided
    journal = trades(factory, mode="live", symbol=SYMBOL)
    assert len(journal) == 1 and journal[0].exit_rule == FLATTEN_RULE and journal[0].position_type == "LONG_VI2"
