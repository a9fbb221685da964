"""Under a real scheduler (the stack ``make run`` starts, ``scripts/airflow-stack.sh``, started by the
test): the deadline alert fires, and a backfill created with ``airflow backfill create`` records decisions,
sends no order and raises no deadline alert.

Deadline alerts only run under a scheduler and a triggerer, never under ``dag.test()`` (stack.md 6).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bitsniper.airflow.stack import airflow_stack
from bitsniper.simulator.testing import TEST_API_KEY, TEST_API_SECRET, running_simulator
from bitsniper.store.migrate import upgrade

from tests.dags.conftest import count_rows as _scalar
from tests.dags.conftest import INTERVAL_MS, ROOT, TELEGRAM_CHAT, TELEGRAM_TOKEN, current_tick_ms, shifted_sample, tick_datetime

pytestmark = pytest.mark.slow
AIRFLOW = str(Path(sys.executable).parent / "airflow")
DEADLINE_SECS = 15


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _airflow(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout)


def _wait(what: str, check, timeout: float, every: float = 2.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _diagnose(env: dict[str, str], log_dir: Path) -> str:
    """What the scheduler did, for a failure message: the runs, their tasks and the end of its log."""
    runs = _airflow(env, "dags", "list-runs", "bitsniper", "-o", "plain").stdout
    states = []
    for line in runs.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 2:
            states.append(_airflow(env, "tasks", "states-for-dag-run", "bitsniper", fields[1], "-o", "plain").stdout)
    tail = (log_dir / "scheduler.log").read_text(errors="replace")[-6000:]
    return f"runs:\n{runs}\ntasks:\n{''.join(states)}\nscheduler log (end):\n{tail}"


def test_deadline_alert_fires_and_a_backfill_trades_nothing(tmp_path: Path, postgres_url: str, telegram_stub) -> None:  # type: ignore[no-untyped-def]
    upgrade(postgres_url)
    # Row 6700 and the rows after it carry no entry, so a run the scheduler adds at the next tick (should
    # the test cross a candle boundary) has nothing to send either.
    tick = current_tick_ms(margin_secs=60)
    candles = shifted_sample(6700, tick)
    # The live run's first candle request hangs well past the deadline; later requests answer at once.
    with running_simulator(candles, faults=[f"charts:delay={DEADLINE_SECS * 3}:1"]) as sim:
        home = tmp_path / "airflow"
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update({
            "AIRFLOW_HOME": str(home),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW_CONN_TELEGRAM_DEFAULT": json.dumps(
                {"conn_type": "telegram", "password": TELEGRAM_TOKEN, "host": TELEGRAM_CHAT, "extra": {"base_url": telegram_stub.url}}
            ),
            "BITSNIPER_DATABASE_URL": postgres_url,
            "BITSNIPER_EXCHANGE": "simulator",
            "BITSNIPER_EXCHANGE_URL": sim.url,
            "BITSNIPER_DEADLINE_SECS": str(DEADLINE_SECS),
            "KRAKEN_API_KEY": TEST_API_KEY,
            "KRAKEN_API_SECRET": TEST_API_SECRET,
        })
        assert _airflow(env, "db", "migrate", timeout=300).returncode == 0
        assert _airflow(env, "pools", "set", "kraken_api", "1", "Kraken").returncode == 0
        with airflow_stack(env, tmp_path / "logs"):
            _wait("the DAG to be parsed", lambda: '"bitsniper"' in _airflow(env, "dags", "list", "-o", "json").stdout, 180, 3)
            assert _airflow(env, "dags", "unpause", "bitsniper").returncode == 0
            # Unpausing makes the scheduler create the run for the latest tick (no catch-up): that run's
            # first candle request hangs past the deadline. (Triggering one by hand as well races with it.)
            texts = _wait(
                "the deadline alert on Telegram",
                lambda: [t for t in telegram_stub.texts() if "DEADLINE" in t and "bitsniper" in t],
                DEADLINE_SECS * 3 + 90,
            )
            assert "after its candle closed" in texts[0] and TELEGRAM_TOKEN not in texts[0]

            start = tick_datetime(tick - 5 * INTERVAL_MS)
            end = tick_datetime(tick - 2 * INTERVAL_MS)
            def create_backfill():  # type: ignore[no-untyped-def]
                done = _airflow(
                    env, "backfill", "create", "--dag-id", "bitsniper",
                    "--from-date", start.isoformat(), "--to-date", end.isoformat(),
                )
                # Airflow's SQLite metadata can be locked by the busy scheduler for a moment: try again.
                return done if done.returncode == 0 or "database is locked" not in done.stderr else None

            created = _wait("the backfill to be created", create_backfill, 60, 3)
            assert created.returncode == 0, created.stderr[-2000:]
            try:
                decided = _wait(
                    "backfill decisions",
                    lambda: (n := _scalar(postgres_url, "select count(*) from decisions where mode = 'backfill'")) >= 4 and n,
                    420, 5,
                )
            except AssertionError as timed_out:
                raise AssertionError(f"{timed_out}\n{_diagnose(env, tmp_path / 'logs')}") from None
            assert decided >= 4
            # Airflow gives backfill runs a deadline too (always missed): none of them may alert.
            assert not [t for t in telegram_stub.texts() if "DEADLINE" in t and "backfill__" in t], telegram_stub.texts()
            assert sim.sim.requests.get("sendorder", 0) == 0
            assert _scalar(postgres_url, "select count(*) from orders") == 0
