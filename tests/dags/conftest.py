"""Fixtures for running the real DAG with ``dag.test()``: Airflow metadata, a Telegram stand-in, the bot's
store on PostgreSQL and the Kraken simulator replaying real candles shifted to end at the current tick."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bitsniper.candles import Candles, read_candles_csv

from tests.local_http import JsonHandler, serving

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "include" / "sample_candles_15m.csv.gz"
INTERVAL_MS = 900_000
TELEGRAM_TOKEN = "123456789:TEST-token-for-the-local-stand-in-000000"
TELEGRAM_CHAT = "-1001234"


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Create the session's Airflow metadata database (SQLite) and the ``kraken_api`` pool."""
    home = Path(os.environ["AIRFLOW_HOME"])
    airflow = str(Path(sys.executable).parent / "airflow")
    for command in (["db", "migrate"], ["pools", "set", "kraken_api", "1", "Kraken Futures API calls"]):
        done = subprocess.run([airflow, *command], env=os.environ.copy(), capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    return home


@dataclass
class TelegramStub:
    """A local Telegram Bot API: records every sendMessage."""

    url: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def texts(self) -> list[str]:
        return [m.get("text", "") for m in self.messages]


@pytest.fixture
def telegram_stub() -> Iterator[TelegramStub]:
    stub = TelegramStub(url="")

    class Handler(JsonHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            stub.paths.append(self.path)
            stub.messages.append(json.loads(self.body() or b"{}"))
            self.reply_json(200, {"ok": True, "result": {"message_id": len(stub.messages)}})

    with serving(Handler) as stub.url:
        yield stub


def current_tick_ms(margin_secs: float = 120.0) -> int:
    """The latest 15-minute tick; waits for the next one when it is less than ``margin_secs`` away, so a
    test never straddles a candle boundary (its runs would then be late and not trade)."""
    now = time.time() * 1000
    left_ms = INTERVAL_MS - now % INTERVAL_MS
    if left_ms < margin_secs * 1000:
        time.sleep(left_ms / 1000 + 1)
        now = time.time() * 1000
    return int(now - now % INTERVAL_MS)


def shifted_sample(last_closed_index: int, tick_ms: int | None = None) -> Candles:
    """Sample candles up to N (the forming one, index+1), shifted so N opens at the tick (default: now)."""
    sample = read_candles_csv(SAMPLE).slice(0, last_closed_index + 2)
    shift = (tick_ms if tick_ms is not None else current_tick_ms()) - int(sample.time[-1])
    return Candles(sample.time + shift, sample.open, sample.high, sample.low, sample.close, sample.volume)


@pytest.fixture
def pipeline_env(airflow_db: Path, postgres_url: str, telegram_stub: TelegramStub, monkeypatch: pytest.MonkeyPatch) -> str:
    """The bot's settings for one DAG test: store on a fresh PostgreSQL, simulator venue, Telegram stand-in."""
    from bitsniper.simulator.testing import TEST_API_KEY, TEST_API_SECRET
    from bitsniper.store.migrate import upgrade

    upgrade(postgres_url)
    connection = {"conn_type": "telegram", "password": TELEGRAM_TOKEN, "host": TELEGRAM_CHAT,
                  "extra": {"base_url": telegram_stub.url}}
    for name, value in {
        "BITSNIPER_DATABASE_URL": postgres_url,
        "BITSNIPER_EXCHANGE": "simulator",
        "BITSNIPER_EXCHANGE_HTTP_TIMEOUT_SECS": "2",
        "KRAKEN_API_KEY": TEST_API_KEY,
        "KRAKEN_API_SECRET": TEST_API_SECRET,
        "AIRFLOW_CONN_TELEGRAM_DEFAULT": json.dumps(connection),
    }.items():
        monkeypatch.setenv(name, value)
    return postgres_url


def load_dag(retry_delay_secs: float = 0.2, retries: int | None = None):  # type: ignore[no-untyped-def]
    """The real DAG from dags/, with the deadline removed (stack.md 7) and quick retries for tests."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    dag = bag.get_dag("bitsniper")
    dag.deadline = None
    for task in dag.tasks:
        task.retry_delay = timedelta(seconds=retry_delay_secs)
        task.max_retry_delay = timedelta(seconds=retry_delay_secs)
        if retries is not None:
            task.retries = retries
    return dag


def tick_datetime(tick_ms: int) -> datetime:
    return datetime.fromtimestamp(tick_ms / 1000, tz=timezone.utc)


def count_rows(url: str, sql: str) -> int:
    """One integer from the bot's store (a count), through a short-lived engine."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()
