"""Benchmark: candle close -> order acknowledged, and the memory of the whole Airflow stack (issue 5).

Targets: (a) the five pipeline steps in one process <= 1 s per candle; (b) under the Airflow stack of
``make run``, tick -> end of the ``execute_orders`` task p95 <= 15 s; (c) RSS of that stack <= 1.5 GB
(the stack's resident set as a whole: see (c) below).

Every measured candle is one where the engine ENTERS (an order is sent): the candidate rows are found by
running the engine over the shipped sample from a flat state on the same 6,000-candle window the pipeline
loads, never hard-coded. Each measurement gets a fresh store (PostgreSQL by default, SQLite with
``--sqlite``) and a fresh simulator on 127.0.0.1 replaying the sample shifted so that row is N-1 at the
current tick (as ``tests/dags/conftest.py::shifted_sample`` does). The store already holds the history up
to N-2, as it does in steady state (the previous run stored it); ``--cold-store`` starts empty instead, so
ingest fetches the whole 6,000-candle window (three chart pages).

(a) calls ``bitsniper.pipeline`` directly (the same functions the DAG's tasks call) after one untimed
warm-up run (imports, JIT caches, connection pool); it shows the compute cost alone.
(b) starts the stack ``make run`` starts (``scripts/airflow-stack.sh``: scheduler, dag-processor, triggerer,
api-server; ``--standalone`` runs ``airflow standalone`` instead, to compare) in a session of its own (temp AIRFLOW_HOME, SQLite metadata as in
``make run``, LocalExecutor, parallelism 4), triggers runs through the REST API with the logical date set to
"now" (the tick), and reads the task instances' end dates from the REST API. It includes everything a real
run pays: scheduling, one process per task, Airflow and package imports, the execution API.
(c) samples, every second, the memory of every process in that stack's session: the resident set of the
stack as a whole, i.e. its resident pages counted once however many of its processes map them (the sum of
the processes' PSS: a page shared by k processes counts 1/k in each), which the target is checked against;
and, for comparison, the processes' RSS added up, which counts a shared page once per process that maps
it (the four LocalExecutor workers are forks of the scheduler: ~560 MB of RSS, almost all of it shared).

Run: ``.venv/bin/python bench/latency.py [--candles 5] [--repeats 2] [--airflow-runs 3] [--sqlite] [--standalone]``
(``--airflow-runs 0`` skips (b) and (c)).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bitsniper.candles import Candles, ms_to_iso, read_candles_csv
from bitsniper.airflow.stack import airflow_stack, make_run_settings
from bitsniper.config import Settings, load_settings
from bitsniper.pipeline import (
    compute_indicators,
    decide_step,
    execute_orders,
    ingest_candles,
    run_spec,
    validate_data,
)
from bitsniper.services import build_services
from bitsniper.simulator.testing import TEST_API_KEY, TEST_API_SECRET, running_simulator
from bitsniper.store import repositories as repo
from bitsniper.store.migrate import upgrade
from bitsniper.strategy import Account, build_frame, decide, initial_state

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "include" / "sample_candles_15m.csv.gz"
BIN = Path(sys.executable).parent
ADMIN_URL = os.environ.get("BITSNIPER_TEST_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
STEPS = ("ingest_candles", "validate_data", "compute_indicators", "decide", "execute_orders")
TARGET_INPROC_SECS = 1.0
TARGET_AIRFLOW_P95_SECS = 15.0
TARGET_RSS_GB = 1.5


# --- shared helpers -----------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")


def now_ms() -> int:
    return int(time.time() * 1000)


def wait_clear_of_boundary(interval_ms: int, margin_secs: float) -> bool:
    """A measurement must not straddle a candle boundary: its candle would stop being N-1 halfway."""
    left = (interval_ms - now_ms() % interval_ms) / 1000
    if left < margin_secs:
        print(f"  (waiting {left + 3:.0f} s for the next candle boundary)", flush=True)
        time.sleep(left + 3)
        return True
    return False


def entry_rows(sample: Candles, settings: Settings, wanted: int) -> list[tuple[int, str]]:
    """Rows where the engine, from a flat state, opens a position on the window the pipeline would load."""
    params = settings.strategy_params()
    window = max(settings.min_history_candles, settings.validation_window_candles, 2)
    account = Account(available_margin=10_000.0, equity=10_000.0)
    flat = initial_state(params)
    full = build_frame(sample, params)
    rows: list[tuple[int, str]] = []
    for i in range(window - 1, len(sample) - 1):  # row i+1 must exist: it is the forming candle N
        if not any(a.kind == "open" for a in decide(flat, full, account, params, at=i).actions):
            continue
        exact = decide(flat, build_frame(sample.slice(i - window + 1, i + 1), params), account, params)
        opens = [f"{a.position_type.value} ({a.reason})" for a in exact.actions if a.kind == "open"]
        if opens:
            rows.append((i, ", ".join(opens)))
        if len(rows) == wanted:
            break
    return rows


def shifted(sample: Candles, last_closed: int, interval_ms: int) -> tuple[Candles, int]:
    """Sample rows up to N (forming, ``last_closed + 1``), shifted so N opens at the current tick."""
    part = sample.slice(0, last_closed + 2)
    now = now_ms()
    tick = now - now % interval_ms
    shift = tick - int(part.time[-1])
    return Candles(part.time + shift, part.open, part.high, part.low, part.close, part.volume), tick


def history_before(candles: Candles, count: int) -> Candles:
    """Everything up to N-2: what the store holds in steady state when the run for N-1 starts."""
    end = len(candles) - 2
    return candles.slice(0, end) if count <= 0 else candles.slice(max(0, end - count), end)


@contextmanager
def fresh_store(sqlite: bool) -> Iterator[str]:
    """A new, migrated store: a PostgreSQL database (dropped afterwards) or an SQLite file."""
    if sqlite:
        folder = Path(tempfile.mkdtemp(prefix="bitsniper-bench-"))
        url = f"sqlite:///{folder / 'bitsniper.db'}"
        upgrade(url)
        try:
            yield url
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    name = f"bitsniper_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def reset_store(url: str) -> None:
    """Empty the store between Airflow runs (each measured run starts flat, like the simulator)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
            else:
                names = [r[0] for r in connection.execute(text("select name from sqlite_master where type='table'"))]
                for name in names:
                    connection.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
    finally:
        engine.dispose()
    upgrade(url)


def prefill(url: str, candles: Candles, settings: Settings) -> None:
    from bitsniper.store.db import make_session_factory

    factory = make_session_factory(url)
    try:
        repo.upsert_candles(
            factory, history_before(candles, settings.min_history_candles + 10), symbol=settings.symbol,
            resolution=f"{settings.candle_minutes}m", now_ms=now_ms(),
        )
    finally:
        factory.kw["bind"].dispose()


def print_stats(label: str, values: list[float], target: float | None = None) -> None:
    tail = f"   target <= {target:g} s: {'MET' if percentile(values, 95) <= target else 'MISSED'}" if target else ""
    print(
        f"  {label:<28} p50 {percentile(values, 50):7.3f} s   p95 {percentile(values, 95):7.3f} s   "
        f"max {max(values):7.3f} s   (n={len(values)}){tail}",
        flush=True,
    )


# --- (a) in process -------------------------------------------------------------------------------------------


@dataclass
class InProcessRun:
    row: int
    steps: dict[str, float]
    sent: int

    @property
    def total(self) -> float:
        return sum(self.steps.values())


def run_in_process(sample: Candles, row: int, sqlite: bool, cold_store: bool) -> InProcessRun:
    base = load_settings()
    wait_clear_of_boundary(base.candle_ms, 20)
    candles, tick = shifted(sample, row, base.candle_ms)
    with fresh_store(sqlite) as url, running_simulator(candles) as sim:
        settings = load_settings(database_url=url, exchange="simulator", exchange_url=sim.url, mode="paper")
        if not cold_store:
            prefill(url, candles, settings)
        services = build_services(settings, credentials=(SecretStr(TEST_API_KEY), SecretStr(TEST_API_SECRET)))
        spec = run_spec(
            dag_id="bitsniper", run_id=f"bench-{row}", tick_ms=tick, now_ms=now_ms(),
            interval_ms=settings.candle_ms, backfill=False,
        )
        times: dict[str, float] = {}

        def timed(name: str, call: Callable[[], Any]) -> Any:
            start = time.perf_counter()
            value = call()
            times[name] = time.perf_counter() - start
            return value

        timed("ingest_candles", lambda: ingest_candles(services, spec))
        timed("validate_data", lambda: validate_data(services, spec))
        timed("compute_indicators", lambda: compute_indicators(services, spec))
        ident = timed("decide", lambda: decide_step(services, spec))
        timed("execute_orders", lambda: execute_orders(services, spec, ident))
        sent = sim.sim.requests.get("sendorder", 0)
        services.factory.kw["bind"].dispose()
    return InProcessRun(row, times, sent)


def bench_in_process(sample: Candles, rows: list[tuple[int, str]], repeats: int, sqlite: bool, cold_store: bool) -> None:
    store = "SQLite file" if sqlite else "PostgreSQL 127.0.0.1"
    print(f"\n(a) in process: five pipeline steps, simulator on 127.0.0.1, store = {store}, "
          f"{'cold (empty) store' if cold_store else 'store holds history to N-2'}", flush=True)
    run_in_process(sample, rows[0][0], sqlite, cold_store)  # warm-up, not timed
    runs: list[InProcessRun] = []
    for _ in range(repeats):
        for row, what in rows:
            run = run_in_process(sample, row, sqlite, cold_store)
            runs.append(run)
            detail = "  ".join(f"{k} {v * 1000:6.1f}" for k, v in run.steps.items())
            print(f"  row {row:5d} {what:<22} orders acked {run.sent}   total {run.total * 1000:7.1f} ms   [{detail}] ms",
                  flush=True)
    unsent = [r.row for r in runs if r.sent < 1]
    if unsent:
        print(f"  WARNING: no order acknowledged for rows {unsent}", flush=True)
    for name in STEPS:
        print_stats(name, [r.steps[name] for r in runs])
    print_stats("total (close -> order ack)", [r.total for r in runs], TARGET_INPROC_SECS)


# --- (b)+(c) under the Airflow stack ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def simulator_on(candles: Candles, port: int) -> Iterator[Any]:
    """The test kit's simulator, on a fixed port: the Airflow tasks read its URL from the environment."""
    import uvicorn

    from bitsniper.simulator.app import build_simulator, create_app
    from bitsniper.simulator.clock import ManualClock

    sim = build_simulator(
        TEST_API_KEY, TEST_API_SECRET, candles, clock=ManualClock(int(candles.time[-1]) + 60_000),
        rate_budget=100_000, page_limit=2000,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(uvicorn.Config(create_app(sim), http="h11", lifespan="off", log_level="warning",
                                           access_log=False, timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the simulator did not start")
        time.sleep(0.01)
    try:
        yield sim
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@dataclass
class MemorySampler:
    """Sums RSS and PSS over every process of the stack's session, once a second, in a thread.

    The session, not the process group: Airflow puts each task process and DAG-parsing process in a group
    of its own, and counting by group (as this benchmark did before 2026-11-22) missed them."""

    sid: int
    samples: list[tuple[float, int, int, int, str]] = field(default_factory=list)  # time, rss, pss, procs, phase
    phase: str = "starting"
    peak: list[tuple[str, int]] = field(default_factory=list)  # (process, rss) at the highest RSS sample
    _stop: threading.Event = field(default_factory=threading.Event)

    def measure(self) -> tuple[int, int, list[tuple[str, int]]]:
        rss = pss = 0
        parts: list[tuple[str, int]] = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if os.getsid(proc.pid) != self.sid:
                    continue
                info = proc.memory_full_info()
                rss += info.rss
                pss += getattr(info, "pss", info.rss)
                title = " ".join(proc.cmdline()).replace(f"{BIN}/python3 {BIN}/", "").replace(f"{BIN}/", "")
                parts.append((title[:40] or proc.name(), info.rss))
            except (psutil.Error, ProcessLookupError, PermissionError):
                continue
        return rss, pss, parts

    def run(self) -> None:
        while not self._stop.wait(1.0):
            rss, pss, parts = self.measure()
            if parts:
                if not self.samples or rss > max(sample[1] for sample in self.samples):
                    self.peak = sorted(parts, key=lambda part: -part[1])
                self.samples.append((time.time(), rss, pss, len(parts), self.phase))

    def start(self) -> "MemorySampler":
        threading.Thread(target=self.run, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()


class AirflowApi:
    """The REST API of the stack's api-server (all users are admins in this throw-away home)."""

    def __init__(self, port: int) -> None:
        import httpx

        self.client = httpx.Client(base_url=f"http://localhost:{port}/api/v2", timeout=60)

    def get(self, path: str, attempts: int = 4) -> Any:
        """GET with a few retries: on a busy machine the api-server sometimes answers slower than the timeout."""
        import httpx

        for attempt in range(attempts):
            try:
                reply = self.client.get(path)
                reply.raise_for_status()
                return reply.json()
            except (httpx.TimeoutException, httpx.TransportError):
                if attempt == attempts - 1:
                    raise
                time.sleep(2)
        raise AssertionError("unreachable")

    def ready(self) -> bool:
        try:
            return self.get("/dags/bitsniper", attempts=1).get("dag_id") == "bitsniper"
        except Exception:  # noqa: BLE001 - not up yet, or the DAG is not parsed yet
            return False

    def unpause(self) -> None:
        self.client.patch("/dags/bitsniper", json={"is_paused": False}).raise_for_status()

    def trigger(self, logical: datetime) -> str:
        """Create a manual run for ``logical``; after a timed-out reply, find the run if it was created."""
        import httpx

        try:
            reply = self.client.post("/dags/bitsniper/dagRuns", json={"logical_date": logical.isoformat()})
            reply.raise_for_status()
            return str(reply.json()["dag_run_id"])
        except httpx.TimeoutException:
            for run in self.get("/dags/bitsniper/dagRuns?limit=100")["dag_runs"]:
                if run.get("logical_date") and parse_ts(run["logical_date"]) == logical.timestamp():
                    return str(run["dag_run_id"])
            raise

    def active_runs(self) -> list[dict[str, Any]]:
        runs = self.get("/dags/bitsniper/dagRuns?state=queued&state=running")["dag_runs"]
        return list(runs)

    def run_state(self, run_id: str) -> str:
        return str(self.get(f"/dags/bitsniper/dagRuns/{run_id}")["state"])

    def task_instances(self, run_id: str) -> dict[str, dict[str, Any]]:
        items = self.get(f"/dags/bitsniper/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti for ti in items}


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def parse_ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass
class AirflowRun:
    row: int
    run_id: str
    state: str
    total: float  # tick (trigger) -> execute_orders end
    first_start: float  # tick -> ingest_candles start
    durations: dict[str, float]
    sent: int
    gaps: float  # time between one task's end and the next one's start, summed
    where: str  # when the run started and its first task was queued, after the tick


def airflow_env(home: Path, port: int, sim_port: int, url: str, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BITSNIPER_", "KRAKEN_", "MALLOC_"))}
    env.update(make_run_settings(home))
    env.update({
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # components start `airflow ...` from PATH
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        "BITSNIPER_DATABASE_URL": url,
        "BITSNIPER_EXCHANGE": "simulator",
        "BITSNIPER_EXCHANGE_URL": f"http://127.0.0.1:{sim_port}",
        "KRAKEN_API_KEY": TEST_API_KEY,
        "KRAKEN_API_SECRET": TEST_API_SECRET,
    })
    env.update(extra)
    return env


def warm_up(api: AirflowApi, sample: Candles, row: int, url: str, sim_port: int, settings: Settings) -> None:
    """Unpause; the run the scheduler may create at once for the last tick (no catch-up), or one we trigger,
    runs against a ready simulator and is not counted (as (a) does not count its first run)."""
    wait_clear_of_boundary(settings.candle_ms, 120)
    reset_store(url)
    candles, _ = shifted(sample, row, settings.candle_ms)
    prefill(url, candles, settings)
    with simulator_on(candles, sim_port):
        started = time.time()
        api.unpause()
        time.sleep(10)
        if not api.get("/dags/bitsniper/dagRuns")["dag_runs"]:
            api.trigger(datetime.fromtimestamp(time.time(), tz=timezone.utc))
        wait_for("the warm-up run", lambda: not api.active_runs(), 300, 1)
        states = [f"{r['run_type']} {r['state']}" for r in api.get("/dags/bitsniper/dagRuns")["dag_runs"]]
    print(f"  warm-up (not counted): {', '.join(states)} in {time.time() - started:.0f} s", flush=True)


def one_airflow_run(api: AirflowApi, sample: Candles, row: int, url: str, sim_port: int, settings: Settings) -> AirflowRun:
    if wait_clear_of_boundary(settings.candle_ms, 120):
        time.sleep(5)  # the scheduler's own run for the new tick (the DAG is unpaused) starts now
    # max_active_runs=1: a triggered run waits behind any active one, which would time the wait, not the run.
    wait_for("no other active run", lambda: not api.active_runs(), 300, 2)
    reset_store(url)
    candles, _ = shifted(sample, row, settings.candle_ms)
    prefill(url, candles, settings)
    with simulator_on(candles, sim_port) as sim:
        tick = time.time()
        run_id = api.trigger(datetime.fromtimestamp(tick, tz=timezone.utc))
        state = wait_for("the run to finish", lambda: (s := api.run_state(run_id)) in ("success", "failed") and s, 300, 0.5)
        tis = api.task_instances(run_id)
        dag_run = api.get(f"/dags/bitsniper/dagRuns/{run_id}")
        sent = sim.requests.get("sendorder", 0)
    durations = {
        name: parse_ts(tis[name]["end_date"]) - parse_ts(tis[name]["start_date"])
        for name in STEPS if tis.get(name, {}).get("end_date") and tis[name].get("start_date")
    }
    end = tis.get("execute_orders", {}).get("end_date")
    start = tis.get("ingest_candles", {}).get("start_date")
    gaps = sum(
        parse_ts(tis[b]["start_date"]) - parse_ts(tis[a]["end_date"])
        for a, b in zip(STEPS, STEPS[1:]) if tis.get(a, {}).get("end_date") and tis.get(b, {}).get("start_date")
    )
    marks = {"run started": dag_run.get("start_date"), "ingest queued": tis.get("ingest_candles", {}).get("queued_when")}
    where = ", ".join(f"{k} +{parse_ts(v) - tick:.1f} s" for k, v in marks.items() if v)
    return AirflowRun(
        row, run_id, state, (parse_ts(end) - tick) if end else float("nan"),
        (parse_ts(start) - tick) if start else float("nan"), durations, sent, gaps, where,
    )


def bench_airflow(
    sample: Candles, rows: list[tuple[int, str]], runs: int, sqlite: bool, extra: dict[str, str], standalone: bool = False
) -> None:
    settings = load_settings()
    home = Path(tempfile.mkdtemp(prefix="bitsniper-bench-airflow-"))
    port, sim_port = free_port(), free_port()
    with fresh_store(sqlite) as url:
        env = airflow_env(home, port, sim_port, url, extra)
        launcher = "airflow standalone" if standalone else "the make-run stack (scripts/airflow-stack.sh)"
        print(f"\n(b) under {launcher} (AIRFLOW_HOME={home}, api-server :{port}, LocalExecutor, parallelism "
              f"{env['AIRFLOW__CORE__PARALLELISM']}, SQLite metadata; bot store = "
              f"{'SQLite file' if sqlite else 'PostgreSQL 127.0.0.1'})", flush=True)
        if extra:
            print(f"  extra settings: {extra}", flush=True)
        for command in (["db", "migrate"], ["pools", "set", "kraken_api", "1", "Kraken Futures API calls"]):
            done = subprocess.run([str(BIN / "airflow"), *command], env=env, capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                raise RuntimeError(f"airflow {' '.join(command)} failed: {done.stderr[-2000:]}")
        results: list[AirflowRun] = []
        with airflow_stack(env, home, standalone=standalone) as server:
            sampler = MemorySampler(server.pid).start()
            api = AirflowApi(port)
            try:
                started = time.monotonic()
                wait_for("the api-server and the parsed DAG", api.ready, 240, 2)
                print(f"  stack up and DAG parsed after {time.monotonic() - started:.0f} s", flush=True)
                sampler.phase = "idle"
                time.sleep(20)  # idle footprint, before any run
                sampler.phase = "runs"
                warm_up(api, sample, rows[-1][0], url, sim_port, settings)
                for k in range(runs):
                    row, what = rows[k % len(rows)]
                    run = one_airflow_run(api, sample, row, url, sim_port, settings)
                    results.append(run)
                    steps = "  ".join(f"{n} {run.durations.get(n, float('nan')):5.2f}" for n in STEPS)
                    print(f"  run {k + 1}: row {row} {what:<22} {run.state:<7} orders acked {run.sent}   "
                          f"tick->ingest start {run.first_start:5.2f} s ({run.where})   tick->execute_orders end "
                          f"{run.total:6.2f} s   [task durations: {steps}; gaps between tasks {run.gaps:.2f}] s", flush=True)
            finally:
                sampler.stop()
                api.client.close()
    good = [r for r in results if r.state == "success" and r.sent >= 1]
    if len(good) < len(results):
        print(f"  WARNING: {len(results) - len(good)} run(s) failed or sent no order; see the logs in {home}", flush=True)
    if good:
        print_stats("tick -> ingest_candles start", [r.first_start for r in good])
        print_stats("gaps between the tasks", [r.gaps for r in good])
        for name in STEPS:
            print_stats(f"task {name}", [r.durations[name] for r in good if name in r.durations])
        print_stats("tick -> execute_orders end", [r.total for r in good], TARGET_AIRFLOW_P95_SECS)

    print("\n(c) memory of the stack's session (api-server, scheduler, dag-processor, triggerer, task "
          "processes), sampled every second", flush=True)
    gb = 1024 ** 3
    for phase in ("idle", "runs"):
        picked = [s for s in sampler.samples if s[4] == phase]
        if picked:
            rss = [s[1] / gb for s in picked]
            pss = [s[2] / gb for s in picked]
            procs = [s[3] for s in picked]
            verdict = "MET" if max(pss) <= TARGET_RSS_GB else "MISSED"
            print(f"  {phase:<5} stack resident (sum of PSS) mean {statistics.mean(pss):5.2f} GB  peak {max(pss):5.2f} GB   "
                  f"target <= {TARGET_RSS_GB} GB: {verdict}   |   RSS added up per process: mean "
                  f"{statistics.mean(rss):5.2f} GB  peak {max(rss):5.2f} GB   processes {min(procs)}-{max(procs)}   "
                  f"({len(picked)} samples)", flush=True)
    if sampler.peak:
        print("  at the peak: " + ", ".join(f"{name} {rss / 1024 ** 2:.0f} MB" for name, rss in sampler.peak), flush=True)
    if good and len(good) == len(results):
        shutil.rmtree(home, ignore_errors=True)


def machine_load() -> str:
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.2f} (1 min) {five:.2f} (5 min)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candles", type=int, default=5, help="Entry candles to measure (found by the engine).")
    parser.add_argument("--repeats", type=int, default=2, help="(a): passes over those candles (0 skips (a)).")
    parser.add_argument("--airflow-runs", type=int, default=3, help="(b)+(c): triggered runs (0 skips them).")
    parser.add_argument("--sqlite", action="store_true", help="Store on an SQLite file instead of PostgreSQL.")
    parser.add_argument("--standalone", action="store_true", help="(b)+(c): `airflow standalone` instead of make run's stack.")
    parser.add_argument("--cold-store", action="store_true", help="(a): start from an empty store (full fetch).")
    parser.add_argument("--airflow-set", action="append", default=[], metavar="NAME=VALUE",
                        help="(b)+(c): extra environment for the stack, e.g. AIRFLOW__CORE__PARALLELISM=2.")
    args = parser.parse_args()
    extra = dict(pair.split("=", 1) for pair in args.airflow_set)
    print(f"Machine: {machine_load()}", flush=True)

    sample = read_candles_csv(SAMPLE)
    rows = entry_rows(sample, load_settings(), args.candles)
    if not rows:
        raise SystemExit("the engine enters nowhere in the sample: nothing to measure")
    print(f"Entry candles (flat state, 6,000-candle window) in {SAMPLE.name}: "
          + ", ".join(f"row {r} = {ms_to_iso(int(sample.time[r]))} {w}" for r, w in rows), flush=True)
    if args.repeats > 0:
        bench_in_process(sample, rows, args.repeats, args.sqlite, args.cold_store)
    if args.airflow_runs > 0:
        bench_airflow(sample, rows, args.airflow_runs, args.sqlite, extra, standalone=args.standalone)
    print(f"\nMachine at the end: {machine_load()}", flush=True)


if __name__ == "__main__":
    main()
