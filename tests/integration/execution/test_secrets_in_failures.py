"""A failing run leaves no key or secret in the logs, the raised errors or the database (house rule)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine, MetaData, select

from bitsniper.errors import BitSniperError
from bitsniper.execution import ExecutionPolicy, execute_decision
from bitsniper.simulator.server import RunningSimulator
from bitsniper.simulator.testing import TEST_API_KEY, TEST_API_SECRET
from bitsniper.store import SessionFactory

from execution_kit import SYMBOL, make_exchange, open_action, record


def _database_text(engine: Engine) -> str:
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        return "\n".join(
            repr(row) for table in metadata.sorted_tables for row in connection.execute(select(table)).all()
        )


def test_failing_runs_leave_no_key_or_secret_in_logs_errors_or_database(
    factory: SessionFactory, running: RunningSimulator, store_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    # Arrange: a lost reply the run cannot resolve in time, then a wrong secret (authenticationError)
    caplog.set_level(logging.DEBUG)
    actions = (open_action("long", 0.01),)
    decision = record(factory, actions)
    running.sim.faults.add("sendorder:timeout")
    impatient = ExecutionPolicy(lookup_timeout_secs=0.3, lookup_interval_secs=0.1, settle_secs=30)
    wrong_secret = "c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1sZWFrLTEyMzQ1Ng=="
    raised: list[str] = []

    # Act
    for exchange in (make_exchange(running.url), make_exchange(running.url, secret=wrong_secret)):
        with pytest.raises(BitSniperError) as failure:
            execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, policy=impatient)
        raised.append(f"{failure.value!r} {failure.value} {failure.value.__cause__!r}")
        raised.append(repr(exchange))

    # Assert: both runs failed, and the evidence of the failures holds no credential
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    stored = _database_text(store_engine)
    assert "OrderStateUnknown" in raised[0] and "authenticationError" in raised[2]
    assert "unknown" in stored and "sendorder" in logged  # the failures were recorded and logged
    for secret in (TEST_API_KEY, TEST_API_SECRET, wrong_secret):
        assert secret not in logged
        assert secret not in stored
        assert all(secret not in text for text in raised)
