"""Helpers of the execution tests: a Kraken adapter on the simulator, decisions, an Airflow-like retry loop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from bitsniper.errors import OrderStateUnknown, TransientExchangeError
from bitsniper.exchange import KrakenFuturesConfig, KrakenFuturesExchange
from bitsniper.execution import ExecutionPolicy, ExecutionReport
from bitsniper.simulator.server import RunningSimulator
from bitsniper.simulator.testing import CANDLE_MS, TEST_API_KEY, TEST_API_SECRET, make_candles
from bitsniper.store import SessionFactory, record_decision
from bitsniper.strategy.state import Action, Decision, Position, PositionType, StrategyState

SYMBOL = "PF_XBTUSD"
N_CANDLES = 250
CANDLES = make_candles(N_CANDLES)
LAST_OPEN = Decimal(50_000 + (N_CANDLES - 1) * 10)  # the simulator's price: one minute into the last candle
DECISION_TIME = int(CANDLES.time[-2])  # N-1 has closed; N (the last candle) is forming
HTTP_TIMEOUT_SECS = 0.5
# Short polling for tests. Each send carries processBefore = sent + 0.6 s, below the 1-s settle time, so a
# request held in transit longer is refused by the simulator before any resend could be doubled by it.
PROCESS_BEFORE_SECS = 0.6
POLICY = ExecutionPolicy(
    lookup_timeout_secs=3.0, lookup_interval_secs=0.1, settle_secs=1.0, max_attempts=3,
    process_before_secs=PROCESS_BEFORE_SECS,
)
RETRYABLE = (TransientExchangeError, OrderStateUnknown)
# Fault matrix rows (fault, tries, errors, sends, applied, position, store), printed by conftest at the end.
FAULT_TABLE: list[tuple[str, int, str, int, int, str, str]] = []


def make_exchange(
    url: str, key: str = TEST_API_KEY, secret: str = TEST_API_SECRET, timeout_secs: float = HTTP_TIMEOUT_SECS
) -> KrakenFuturesExchange:
    config = KrakenFuturesConfig(api_key=SecretStr(key), api_secret=SecretStr(secret), url=url, http_timeout_secs=timeout_secs)
    return KrakenFuturesExchange(config)


def _action(kind: str, side: str, size: float, index: int, decision_time: int) -> Action:
    position_type = PositionType.LONG_VI1 if side == "long" else PositionType.SHORT
    reason = ("E2" if side == "long" else "E1") if kind == "open" else "X2"
    return Action(kind, position_type, side, reason, decision_time, decision_time + CANDLE_MS, size, index)  # type: ignore[arg-type]


def open_action(side: str = "long", size: float = 0.01, index: int = 0, decision_time: int = DECISION_TIME) -> Action:
    return _action("open", side, size, index, decision_time)


def close_action(side: str = "long", size: float = 0.01, index: int = 0, decision_time: int = DECISION_TIME) -> Action:
    return _action("close", side, size, index, decision_time)


def record(factory: SessionFactory, actions: tuple[Action, ...], decision_time: int = DECISION_TIME, mode: str = "live") -> str:
    """Store the decision (orders reference it) and return its id."""
    position = None
    opens = [a for a in actions if a.kind == "open"]
    if opens:
        a = opens[-1]
        position = Position(a.position_type, a.execute_time, a.decision_time, 50_000.0, 50.0, 70.0, a.size)
    decision = Decision(decision_time, "ok", actions, StrategyState(position=position, last_decision_time=decision_time))
    stored, _ = record_decision(factory, mode=mode, symbol=SYMBOL, decision=decision, state_before=None)  # type: ignore[arg-type]
    return stored.id


def run_like_airflow(call: Callable[[], ExecutionReport], max_tries: int = 6) -> tuple[ExecutionReport, list[str]]:
    """Call until it succeeds, catching what Airflow retries; returns the report and the errors seen."""
    errors: list[str] = []
    for _ in range(max_tries):
        try:
            return call(), errors
        except RETRYABLE as error:
            errors.append(type(error).__name__)
            logging.getLogger("tests").info("attempt failed: %s", error)
    raise AssertionError(f"still failing after {max_tries} tries: {errors}")


def applied_orders(running: RunningSimulator) -> list[Any]:
    """Orders the simulator actually executed or booked (a refused or unsent request is not here)."""
    with running.sim.state.lock:
        return list(running.sim.state.orders.values())
