"""Execution fixtures: one migrated PostgreSQL database per module (emptied before each test) and a
simulator on 127.0.0.1 reached through python-kraken-sdk."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from bitsniper.exchange import KrakenFuturesExchange
from bitsniper.simulator.server import RunningSimulator
from bitsniper.simulator.testing import running_simulator
from bitsniper.store import SessionFactory, make_engine, make_session_factory, upgrade

from execution_kit import CANDLES, FAULT_TABLE, make_exchange

_TABLES = "orders, fills, position_snapshots, alerts, circuit_breakers, strategy_state, decisions"


@pytest.fixture(scope="module")
def store_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh database for the module (creating one per test costs ~1 s), migrated to head."""
    name = f"bitsniper_exec_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def store_engine(store_url: str) -> Iterator[Engine]:
    engine = make_engine(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(store_engine: Engine) -> SessionFactory:
    """Sessions on the module's database, emptied first so each test starts with no history."""
    with store_engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE"))
    return make_session_factory(store_engine)


@pytest.fixture
def running() -> Iterator[RunningSimulator]:
    with running_simulator(CANDLES) as live:
        yield live


@pytest.fixture
def exchange(running: RunningSimulator) -> KrakenFuturesExchange:
    return make_exchange(running.url)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the fault matrix (faults x outcomes) gathered by test_exactly_once.py."""
    if not FAULT_TABLE:
        return
    write = terminalreporter.write_line
    terminalreporter.section("exactly-once fault matrix")
    write(f"{'fault':<72} {'tries':>5} {'retried errors':<46} {'sends':>5} {'applied':>7} {'position':>8}  store")
    for fault, tries, errors, sends, applied, position, store in FAULT_TABLE:
        write(f"{fault:<72} {tries:>5} {errors:<46} {sends:>5} {applied:>7} {position:>8}  {store}")
