"""Under a real scheduler (the stack ``make run`` starts, ``scripts/airflow-stack.sh``, started by the
test): the deadline alert fires, a backfill created with ``airflow backfill create`` records decisions,
sends no order and raises no deadline alert, and a scheduler that hangs is replaced by the stack's watchdog.

Deadline alerts only run under a scheduler and a triggerer, never under ``dag.test()`` (stack.md 6).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest

from bitsniper.airflow.health import unhealthy_components
from bitsniper.airflow.stack import airflow_stack, make_run_settings, session_members
from bitsniper.simulator.testing import TEST_API_KEY, TEST_API_SECRET, running_simulator
from bitsniper.store.migrate import upgrade

from tests.dags.conftest import count_rows as _scalar
from tests.dags.conftest import INTERVAL_MS, TELEGRAM_CHAT, TELEGRAM_TOKEN, current_tick_ms, shifted_sample, tick_datetime

pytestmark = pytest.mark.slow
AIRFLOW = str(Path(sys.executable).parent / "airflow")
DEADLINE_SECS = 15
LOCK_SECS = 8  # sqlite3 gives up after 5 s by default


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _airflow(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout)


def _wait(what: str, check, timeout: float, every: float = 2.0, explain=None):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}" + (f"\n{explain()}" if explain else ""))


def _health(port: int) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=10) as answer:
        return json.load(answer)  # type: ignore[no-any-return]


def _pid(logs: Path, component: str) -> int:
    return int((logs / f"{component}.pid").read_text())


def _hold_write_lock(database: Path, seconds: float) -> None:
    with closing(sqlite3.connect(database, timeout=60, isolation_level=None)) as connection:
        connection.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        connection.execute("ROLLBACK")


def _stack_events(logs: Path) -> list[str]:
    """The stack's log minus its start-up lines: restarts and the watchdog's findings."""
    return [line for line in (logs / "stack.log").read_text().splitlines() if " starting " not in line]


def _diagnose(env: dict[str, str], log_dir: Path, session: int) -> str:
    """What the stack did, for a failure message: its processes, the runs and their tasks, the watchdog's
    restarts, and the end of the scheduler's log after a stack dump (SIGQUIT: Airflow prints every
    thread's stack), so a hung scheduler shows where it hangs."""
    processes = []
    for pid in session_members(session):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            processes.append(f"{pid} {fields[0]} cpu={(int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK'):.1f}s {command[:120]}")
        except (OSError, IndexError, ValueError):
            continue
    scheduler_pid = (log_dir / "scheduler.pid").read_text().strip() if (log_dir / "scheduler.pid").exists() else ""
    if scheduler_pid.isdigit():
        try:
            os.kill(int(scheduler_pid), signal.SIGQUIT)
            time.sleep(3)
        except ProcessLookupError:
            pass
    runs = _airflow(env, "dags", "list-runs", "bitsniper", "-o", "plain").stdout
    states = []
    for line in runs.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 2:
            states.append(_airflow(env, "tasks", "states-for-dag-run", "bitsniper", fields[1], "-o", "plain").stdout)
    stack = (log_dir / "stack.log").read_text(errors="replace")[-3000:]
    tail = (log_dir / "scheduler.log").read_text(errors="replace")[-12000:]
    return (
        "processes:\n" + "\n".join(processes) + f"\nruns:\n{runs}\ntasks:\n{''.join(states)}\n"
        f"stack.log (end):\n{stack}\nscheduler log (end, pid {scheduler_pid}):\n{tail}"
    )


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
        env.update(make_run_settings(home))  # SQLite metadata, LocalExecutor, parallelism 4, as `make run`
        env.update({
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
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
            # The stack's watchdog, quicker than in production (30 s checks, 3 strikes, 30 s threshold), yet
            # slow enough not to take the scheduler waiting out the held lock below for a hung one.
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "20",
            "AIRFLOW_STACK_WATCHDOG_SECS": "5",
            "AIRFLOW_STACK_WATCHDOG_STRIKES": "2",
            "AIRFLOW_STACK_WATCHDOG_GRACE": "30",
            "AIRFLOW_STACK_RESTART_DELAY": "2",
            "KRAKEN_API_KEY": TEST_API_KEY,
            "KRAKEN_API_SECRET": TEST_API_SECRET,
        })
        assert _airflow(env, "db", "migrate", timeout=300).returncode == 0
        assert _airflow(env, "pools", "set", "kraken_api", "1", "Kraken").returncode == 0
        logs = tmp_path / "logs"
        with airflow_stack(env, logs) as stack:
            def explain() -> str:
                return _diagnose(env, logs, stack.pid)

            _wait("the DAG to be parsed", lambda: '"bitsniper"' in _airflow(env, "dags", "list", "-o", "json").stdout, 180, 3)
            assert _airflow(env, "dags", "unpause", "bitsniper").returncode == 0
            # Unpausing makes the scheduler create the run for the latest tick (no catch-up): that run's
            # first candle request hangs past the deadline. (Triggering one by hand as well races with it.)
            texts = _wait(
                "the deadline alert on Telegram",
                lambda: [t for t in telegram_stub.texts() if "DEADLINE" in t and "bitsniper" in t],
                DEADLINE_SECS * 3 + 90,
                explain=explain,
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
            # While it runs, something holds the SQLite metadata's write lock for longer than sqlite3's 5 s
            # default (on a slow machine, `airflow backfill create` itself did, and the scheduler crashed and
            # hung in CI): with make run's connect args every component waits for the lock instead.
            _hold_write_lock(home / "airflow.db", LOCK_SECS)
            decided = _wait(
                "backfill decisions",
                lambda: (n := _scalar(postgres_url, "select count(*) from decisions where mode = 'backfill'")) >= 4 and n,
                420, 5, explain,
            )
            assert decided >= 4
            assert not _stack_events(logs), f"a component exited or hung: {_stack_events(logs)}"
            # Airflow gives backfill runs a deadline too (always missed): each one reaches the deadline callback
            # in the triggerer, which sends nothing for a backfill run.
            def skipped() -> set[str]:
                return set(re.findall(r"deadline passed for backfill run (backfill__\S+): no alert", (logs / "triggerer.log").read_text()))

            _wait("the deadline callback to pass over the 4 backfill runs", lambda: len(skipped()) >= 4, 120, 3, explain)
            assert not [t for t in telegram_stub.texts() if "DEADLINE" in t and "backfill__" in t], telegram_stub.texts()
            assert sim.sim.requests.get("sendorder", 0) == 0
            assert _scalar(postgres_url, "select count(*) from orders") == 0

            # What the stack's watchdog reads: the real API server's answer has the shape it expects.
            health = _health(port)
            assert {health[key]["status"] for key in ("metadatabase", "scheduler", "triggerer", "dag_processor")} == {"healthy"}
            assert unhealthy_components(health) == []

            # A scheduler that hangs (stopped: alive, no heartbeat) is found by the stack's watchdog, killed
            # and started again, and the new one heart-beats.
            hung = _pid(logs, "scheduler")
            os.kill(hung, signal.SIGSTOP)
            _wait("the watchdog to replace the hung scheduler", lambda: _pid(logs, "scheduler") != hung, 120, 2, explain)
            _wait("the new scheduler's heartbeat", lambda: _health(port)["scheduler"]["status"] == "healthy", 120, 3, explain)
            assert hung not in session_members(stack.pid)
            assert any(f"killing {hung}" in line for line in _stack_events(logs))
