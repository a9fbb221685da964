"""scripts/airflow-stack.sh (what `make run` starts): the four components without log servers, a component
that dies is started again, one that hangs (alive, no heartbeat) is dumped, killed and started again, and
stopping the stack's session leaves nothing behind.

The components here are a stand-in `airflow` executable that records its arguments (the real stack runs
in tests/dags/test_scheduler.py); what is under test is the supervising script itself.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from bitsniper.airflow.stack import airflow_stack, session_members
from bitsniper.monitoring import stack_events

from tests.unit.airflow.conftest import airflow_health

FAKE_AIRFLOW = """#!/usr/bin/env bash
echo "$*" >> "$CALLS"
# The api-server "crashes" at once; the others run until stopped.
if [ "$1" = api-server ]; then exit 3; fi
exec sleep 1000
"""


# A scheduler that stays up and, like Airflow's, answers the stack-dump signal (a Python handler: the
# stack starts components in the background, where bash itself could not trap SIGQUIT); the rest idles.
HANGING_AIRFLOW = """#!/usr/bin/env bash
echo "$*" >> "$CALLS"
if [ "$1" = scheduler ]; then
  exec "$(dirname "$0")/python" -c '
import os, signal, subprocess, time
def dump(*_):
    with open(os.environ["CALLS"], "a") as calls:
        calls.write(f"QUIT scheduler {os.getpid()}\\n")
signal.signal(signal.SIGQUIT, dump)
worker = subprocess.Popen(["sleep", "1000"])  # an executor worker of its own
with open(os.environ["CALLS"], "a") as calls:
    calls.write(f"worker {worker.pid}\\n")
while True:
    time.sleep(1)
'
fi
exec sleep 1000
"""


def _fake_airflow(tmp_path: Path, script: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "airflow"
    fake.write_text(script)
    fake.chmod(0o755)
    # The watchdog runs `$BITSNIPER_BIN/python -m bitsniper.airflow.health`: the real interpreter.
    (bin_dir / "python").symlink_to(sys.executable)
    return bin_dir


def _wait_for(check, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_the_stack_restarts_a_dead_component_and_stops_as_a_whole(tmp_path: Path) -> None:
    bin_dir = _fake_airflow(tmp_path, FAKE_AIRFLOW)
    calls = tmp_path / "calls.txt"
    calls.touch()
    env = {
        "PATH": os.environ["PATH"], "AIRFLOW_HOME": str(tmp_path), "BITSNIPER_BIN": str(bin_dir),
        "CALLS": str(calls), "AIRFLOW_STACK_RESTART_DELAY": "0.2",
    }
    with airflow_stack(env, tmp_path / "logs") as stack:
        def three_api_server_starts() -> list[str] | None:
            seen = calls.read_text().splitlines()
            return seen if seen.count("api-server") >= 3 else None

        lines = _wait_for(three_api_server_starts)
        session = stack.pid
        assert len(session_members(session)) >= 5  # the script, its four loops and their components
    assert "scheduler --skip-serve-logs" in lines and "triggerer --skip-serve-logs" in lines and "dag-processor" in lines
    assert not any(line.startswith(("standalone", "serve-logs")) for line in lines)
    # The long-running components were started once; only the one that died was started again.
    assert lines.count("scheduler --skip-serve-logs") == 1 and lines.count("dag-processor") == 1
    assert session_members(session) == []
    restarts = (tmp_path / "logs" / "stack.log").read_text()
    assert "api-server exited (code 3): restarting" in restarts


def _stack_env(tmp_path: Path, bin_dir: Path, calls: Path, health_url: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"], "AIRFLOW_HOME": str(tmp_path), "BITSNIPER_BIN": str(bin_dir), "CALLS": str(calls),
        "AIRFLOW_STACK_RESTART_DELAY": "0.2", "AIRFLOW_STACK_WATCHDOG_SECS": "0.3", "AIRFLOW_STACK_WATCHDOG_STRIKES": "2",
        "AIRFLOW_STACK_HEALTH_URL": health_url, "AIRFLOW_STACK_WATCHDOG_GRACE": "0",
    }


def test_the_watchdog_dumps_kills_and_restarts_a_hung_scheduler(tmp_path: Path, health_endpoint) -> None:  # type: ignore[no-untyped-def]
    bin_dir = _fake_airflow(tmp_path, HANGING_AIRFLOW)
    calls = tmp_path / "calls.txt"
    calls.touch()
    health_endpoint.payload = airflow_health(scheduler="unhealthy")
    with airflow_stack(_stack_env(tmp_path, bin_dir, calls, health_endpoint.url), tmp_path / "logs") as stack:
        first = _wait_for(lambda: (tmp_path / "logs" / "scheduler.pid").exists() and (tmp_path / "logs" / "scheduler.pid").read_text().strip())
        # Dumped (SIGQUIT) before it is killed, then started again by its loop.
        _wait_for(lambda: calls.read_text().splitlines().count("scheduler --skip-serve-logs") >= 2)
        health_endpoint.payload = airflow_health()  # the new scheduler is healthy: no more restarts
        restarted = calls.read_text().splitlines().count("scheduler --skip-serve-logs")
        time.sleep(2)
        lines = calls.read_text().splitlines()
        first_worker = int(next(line for line in lines if line.startswith("worker ")).split()[1])
        # Killed with its scheduler, not left behind as an orphan.
        assert first_worker not in session_members(stack.pid)
    assert f"QUIT scheduler {first}" in lines
    assert lines.count("scheduler --skip-serve-logs") <= restarted + 1  # at most one kill already under way
    assert lines.count("triggerer --skip-serve-logs") == 1 and lines.count("dag-processor") == 1
    log = (tmp_path / "logs" / "stack.log").read_text()
    assert "scheduler unhealthy (no recent heartbeat): check 1 of 2" in log
    # The monitoring DAG reads these lines back: a hung scheduler, killed, then its restart.
    events = stack_events(tmp_path / "logs" / "stack.log")
    assert [(e.component, e.hung) for e in events][:2] == [("scheduler", True), ("scheduler", False)]
    assert f"scheduler unhealthy for 2 checks: stack dump in {tmp_path / 'logs' / 'scheduler.log'}, killing {first}" in log


def test_the_watchdog_restarts_nothing_while_the_metadata_database_is_down(tmp_path: Path, health_endpoint) -> None:  # type: ignore[no-untyped-def]
    bin_dir = _fake_airflow(tmp_path, HANGING_AIRFLOW)
    calls = tmp_path / "calls.txt"
    calls.touch()
    health_endpoint.payload = airflow_health(scheduler="unhealthy", triggerer="unhealthy", metadatabase="unhealthy")
    with airflow_stack(_stack_env(tmp_path, bin_dir, calls, health_endpoint.url), tmp_path / "logs"):
        _wait_for(lambda: health_endpoint.requests >= 6)  # three times the strikes it would take
        lines = calls.read_text().splitlines()
    assert lines.count("scheduler --skip-serve-logs") == 1 and lines.count("triggerer --skip-serve-logs") == 1
    assert not any(line.startswith("QUIT") for line in lines)
    assert "unhealthy" not in (tmp_path / "logs" / "stack.log").read_text()
