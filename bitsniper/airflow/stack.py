"""Start and stop the local Airflow stack (``scripts/airflow-stack.sh``) from Python: the scheduler test and
the latency benchmark run exactly what ``make run`` runs.

The stack lives in its own session. Stopping it sends TERM to every process of the session, waits until
all are gone and then KILLs what is left: a scheduler that outlives its test keeps burning CPU under the
next one (seen here: a scheduler from an earlier test run was still alive 20 minutes later).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["STACK_SCRIPT", "airflow_stack", "make_run_settings", "session_members", "stop_session"]

ROOT = Path(__file__).resolve().parents[2]
STACK_SCRIPT = ROOT / "scripts" / "airflow-stack.sh"


def make_run_settings(home: Path) -> dict[str, str]:
    """The Airflow settings ``make run`` uses (scripts/airflow-env.sh), for a throw-away home."""
    shown = subprocess.run(
        ["bash", "-c", "source scripts/airflow-env.sh && env -0"], cwd=ROOT, capture_output=True, check=True,
        env={"PATH": os.environ.get("PATH", ""), "AIRFLOW_HOME": str(home)},
    ).stdout.decode()
    pairs = (item.split("=", 1) for item in shown.split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.startswith("AIRFLOW") or k.startswith("MALLOC_")}


def session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes of session ``sid``. Not the process group: Airflow's supervisor moves
    every task process and DAG-parsing process into a group of its own (``setpgid``), but they stay in
    the session the stack was started in."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z" and os.getsid(int(entry.name)) == sid:
                members.append(int(entry.name))
        except (OSError, IndexError):
            continue
    return members


def _signal_session(sid: int, signum: int) -> None:
    for pid in session_members(sid):
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def stop_session(process: subprocess.Popen[bytes] | subprocess.Popen[str], grace_secs: float = 30) -> None:
    """TERM every process of the session led by ``process`` (started with ``start_new_session``), wait for
    all of it, KILL whatever is left after ``grace_secs``."""
    sid = process.pid
    _signal_session(sid, signal.SIGTERM)
    deadline = time.monotonic() + grace_secs
    while time.monotonic() < deadline and session_members(sid):
        process.poll()
        time.sleep(0.5)
    _signal_session(sid, signal.SIGKILL)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


@contextmanager
def airflow_stack(env: dict[str, str], log_dir: Path, standalone: bool = False) -> Iterator[subprocess.Popen[bytes]]:
    """The four components in a new session (``standalone=True``: ``airflow standalone`` instead)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {"BITSNIPER_BIN": str(Path(sys.executable).parent), **env, "AIRFLOW_STACK_LOGS": str(log_dir)}
    command = [str(Path(env["BITSNIPER_BIN"]) / "airflow"), "standalone"] if standalone else ["bash", str(STACK_SCRIPT)]
    with open(log_dir / "stack.log", "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield process
        finally:
            stop_session(process)
