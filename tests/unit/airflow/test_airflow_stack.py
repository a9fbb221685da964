"""scripts/airflow-stack.sh (what `make run` starts): the four components without log servers, a component
that dies is started again, and stopping the stack's session leaves nothing behind.

The components here are a stand-in `airflow` executable that records its arguments (the real stack runs
in tests/dags/test_scheduler.py); what is under test is the supervising script itself.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bitsniper.airflow.stack import airflow_stack, session_members

FAKE_AIRFLOW = """#!/usr/bin/env bash
echo "$*" >> "$CALLS"
# The api-server "crashes" at once; the others run until stopped.
if [ "$1" = api-server ]; then exit 3; fi
exec sleep 1000
"""


def _wait_for(check, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_the_stack_restarts_a_dead_component_and_stops_as_a_whole(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "airflow"
    fake.write_text(FAKE_AIRFLOW)
    fake.chmod(0o755)
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
