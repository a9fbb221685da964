"""The real DAG, run with ``dag.test()`` against PostgreSQL and the Kraken simulator over HTTP."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from bitsniper.candles import Candles
from bitsniper.simulator.testing import running_simulator

from tests.dags.conftest import (
    INTERVAL_MS,
    TELEGRAM_TOKEN,
    current_tick_ms,
    load_dag,
    shifted_sample,
    tick_datetime,
)
from tests.dags.conftest import count_rows as _count

LAST_CLOSED = 6775  # any sample row well past the 6,000-candle window; entry rows are found by the engine


def _states(run) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_dag_file_wires_five_tasks_with_run_policy(airflow_db) -> None:  # type: ignore[no-untyped-def]
    dag = load_dag()
    assert [t.task_id for t in dag.tasks] == ["ingest_candles", "validate_data", "compute_indicators", "decide", "execute_orders"]
    assert [sorted(t.downstream_task_ids) for t in dag.tasks[:-1]] == [
        ["validate_data"], ["compute_indicators"], ["decide"], ["execute_orders"],
    ]
    assert dag.catchup is False and dag.max_active_runs == 1
    assert all(t.retries >= 2 and t.execution_timeout is not None for t in dag.tasks)
    assert {t.task_id for t in dag.tasks if t.pool == "kraken_api"} == {"ingest_candles", "decide", "execute_orders"}
    assert all(t.on_failure_callback and t.on_retry_callback for t in dag.tasks)


def test_dag_declares_a_two_minute_deadline_on_the_candle_close(airflow_db) -> None:  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.conftest import ROOT

    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag("bitsniper")
    alerts = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert [a.interval for a in alerts] == [timedelta(minutes=2)]
    assert "DagRunLogicalDate" in type(alerts[0].reference).__name__
    assert alerts[0].callback.path == "bitsniper.airflow.callbacks.deadline_missed"


def test_corrupted_candles_stop_at_validate_data_with_an_alert_and_no_order(pipeline_env: str, telegram_stub) -> None:  # type: ignore[no-untyped-def]
    tick_ms = current_tick_ms()
    candles = shifted_sample(LAST_CLOSED, tick_ms)
    high = candles.high.copy()
    bad = len(candles) - 3  # N-2: high just below its open or close, still above its low (passes the store)
    top = max(candles.open[bad], candles.close[bad])
    assert top - candles.low[bad] > 0.02
    high[bad] = top - 0.01
    candles = Candles(candles.time, candles.open, high, candles.low, candles.close, candles.volume)
    with running_simulator(candles) as sim:
        import os

        os.environ["BITSNIPER_EXCHANGE_URL"] = sim.url
        run = load_dag().test(logical_date=tick_datetime(tick_ms))
        sent = sim.sim.requests.get("sendorder", 0)
    states = _states(run)
    assert states["ingest_candles"] == "success"
    assert states["validate_data"] == "failed"
    assert states["decide"] != "success" and states["execute_orders"] != "success"
    assert sent == 0
    assert _count(pipeline_env, "select count(*) from decisions") == 0
    assert _count(pipeline_env, "select count(*) from validation_results where success = false") == 1
    assert _count(pipeline_env, "select count(*) from alerts where kind = 'data' and severity = 'critical'") == 1
    texts = telegram_stub.texts()
    assert any("bad candles" in t and "expect_column_pair_values_a_to_be_greater_than_b" in t for t in texts), texts
    assert any("validate_data failed" in t for t in texts), texts
    assert all(TELEGRAM_TOKEN not in t for t in texts)


def test_unreachable_exchange_retries_then_fails_with_an_alert_and_no_order(pipeline_env: str, telegram_stub) -> None:  # type: ignore[no-untyped-def]
    tick_ms = current_tick_ms()
    candles = shifted_sample(LAST_CLOSED, tick_ms)
    with running_simulator(candles, faults=["charts:http=503:always"]) as sim:
        import os

        os.environ["BITSNIPER_EXCHANGE_URL"] = sim.url
        dag = load_dag(retries=3)
        run = dag.test(logical_date=tick_datetime(tick_ms))
        sent = sim.sim.requests.get("sendorder", 0)
    states = _states(run)
    assert states["ingest_candles"] == "failed"
    tries = {ti.task_id: ti.try_number for ti in run.get_task_instances()}
    assert tries["ingest_candles"] == 4  # the first try and three retries
    assert sent == 0
    assert _count(pipeline_env, "select count(*) from decisions") == 0
    texts = telegram_stub.texts()
    assert sum("ingest_candles will retry" in t for t in texts) == 1  # retries after the second only
    assert any("ingest_candles failed" in t and "TransientExchangeError" in t for t in texts), texts


# --- runs that trade ---------------------------------------------------------------------------------------


def _first_entry_row(start: int) -> tuple[int, object]:
    """The first sample row >= start where the engine, on the pipeline's 6,000-candle window and a flat
    state, opens a position: found by the engine itself, never hard-coded."""
    from bitsniper.candles import read_candles_csv
    from bitsniper.config import load_settings
    from bitsniper.strategy import Account, build_frame, decide, initial_state

    from tests.dags.conftest import SAMPLE

    sample = read_candles_csv(SAMPLE)
    params = load_settings().strategy_params()
    full = build_frame(sample, params)
    state = initial_state(params)
    for i in range(len(full) - 1):
        state = decide(state, full, Account(10_000.0, 10_000.0), params, at=i).state
        if i < start or state.position is None or state.position.entry_decision_time != full.t[i]:
            continue
        window = build_frame(sample.slice(i + 1 - params.min_history_candles, i + 1), params)
        decision = decide(initial_state(params), window, Account(10_000.0, 10_000.0), params)
        if decision.actions and decision.actions[0].kind == "open":
            return i, decision.actions[0]
    raise AssertionError("no entry in the sample")


def test_entry_run_stores_every_step_and_sends_exactly_one_order_even_when_run_again(pipeline_env: str, telegram_stub) -> None:  # type: ignore[no-untyped-def]
    import os

    row, expected = _first_entry_row(6100)
    tick_ms = current_tick_ms()
    candles = shifted_sample(row, tick_ms)
    tick = tick_datetime(tick_ms)
    with running_simulator(candles) as sim:
        os.environ["BITSNIPER_EXCHANGE_URL"] = sim.url
        first = _states(load_dag().test(logical_date=tick))  # read now: a second test run replaces the first
        orders_after_first = len(sim.sim.state.orders)
        position_after_first = sim.sim.state.position_size("PF_XBTUSD")
        second = load_dag().test(logical_date=tick)
        sent_total = sim.sim.requests.get("sendorder", 0)
        orders_after_second = len(sim.sim.state.orders)
    assert set(first.values()) == {"success"}, first
    assert str(second.state) == "success"  # the same candle again: every step finds its work done
    signed = expected.size if expected.side == "long" else -expected.size
    assert float(position_after_first) == pytest.approx(signed)
    assert orders_after_first == 1 and orders_after_second == 1 and sent_total == 1
    assert _count(pipeline_env, "select count(*) from candles") == 6000
    assert _count(pipeline_env, "select count(*) from validation_results where success") == 1
    assert _count(pipeline_env, "select count(*) from indicator_values") >= 8
    assert _count(pipeline_env, "select count(*) from decisions where mode = 'paper'") == 1
    assert _count(pipeline_env, "select count(*) from orders where status = 'filled'") == 1
    engine = create_engine(pipeline_env)
    with engine.connect() as connection:
        state = connection.execute(text("select state from strategy_state where mode = 'paper'")).scalar_one()
    engine.dispose()
    assert state["position"]["type"] == expected.position_type.value and state["position"]["fill_price"] > 0  # E7
    entries = [t for t in telegram_stub.texts() if "ENTRY" in t]
    assert len(entries) == 1 and f"{expected.position_type.value} ({expected.reason})" in entries[0], entries
    assert all(TELEGRAM_TOKEN not in t for t in telegram_stub.texts())


def test_run_older_than_one_interval_records_a_backfill_decision_and_sends_nothing(pipeline_env: str) -> None:
    import os

    row, _ = _first_entry_row(6100)
    tick_ms = current_tick_ms()
    candles = shifted_sample(row, tick_ms)
    late_tick = tick_ms - 8 * INTERVAL_MS  # candles of that time exist, the run is two hours late
    with running_simulator(candles) as sim:
        os.environ["BITSNIPER_EXCHANGE_URL"] = sim.url
        run = load_dag().test(logical_date=tick_datetime(late_tick))
        sent = sim.sim.requests.get("sendorder", 0)
    assert set(_states(run).values()) == {"success"}, _states(run)
    assert sent == 0
    assert _count(pipeline_env, "select count(*) from decisions where mode = 'backfill'") == 1
    assert _count(pipeline_env, "select count(*) from decisions where mode <> 'backfill'") == 0
    assert _count(pipeline_env, "select count(*) from orders") == 0
