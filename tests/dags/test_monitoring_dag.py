"""The monitoring DAGs run with ``dag.test()`` against PostgreSQL, Airflow's metadata and a Telegram stand-in."""

from __future__ import annotations

import functools
import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bitsniper.store.db import make_session_factory
from bitsniper.store.records import BreakerRecord, FillRecord, OrderIntent
from bitsniper.store.repositories import record_decision, record_fills, record_order_intent, save_breaker, unresolved_alerts
from bitsniper.strategy.state import Decision, StrategyState

from tests.dags.conftest import ROOT, TELEGRAM_TOKEN, current_tick_ms, load_dag, tick_datetime


@functools.cache
def _bag():  # type: ignore[no-untyped-def]
    """The monitoring DAG file alone, parsed once (the pipeline DAG's imports are heavy)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "monitoring_dag.py"))
    assert bag.import_errors == {}, bag.import_errors
    return bag


def _dag(dag_id: str):  # type: ignore[no-untyped-def]
    return _bag().get_dag(dag_id)


def _states(run) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def _decision_at(url: str, candle_ms: int, created_at: datetime) -> None:
    factory = make_session_factory(url)
    record_decision(factory, mode="paper", symbol="PF_XBTUSD", decision=Decision(candle_ms, "ok", (), StrategyState(strategy="vi")), state_before=None)
    engine = factory.kw["bind"]
    with engine.begin() as connection:  # the run that recorded it happened long ago
        connection.execute(text("update decisions set created_at = :at where candle_time = :t"),
                           {"at": created_at, "t": datetime.fromtimestamp(candle_ms / 1000, tz=timezone.utc)})
    engine.dispose()


@pytest.fixture
def quiet_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Host thresholds out of reach: this test is about the pipeline checks."""
    monkeypatch.setenv("BITSNIPER_MONITOR_MEMORY_MB", "100000000")
    monkeypatch.setenv("BITSNIPER_MONITOR_CPU_PERCENT", "100")
    monkeypatch.setenv("BITSNIPER_MONITOR_CPU_SAMPLE_SECS", "0.1")


def test_monitoring_dag_runs_every_five_minutes_without_catchup(airflow_db) -> None:  # type: ignore[no-untyped-def]
    dag = _dag("bitsniper_monitoring")
    assert sorted(t.task_id for t in dag.tasks) == ["check_host", "check_pipeline"]
    assert dag.catchup is False and dag.timetable.expression == "*/5 * * * *"
    summary = _dag("bitsniper_daily_summary")
    assert [t.task_id for t in summary.tasks] == ["send_daily_summary"] and summary.timetable.expression == "5 0 * * *"
    assert all(t.on_failure_callback for t in [*dag.tasks, *summary.tasks])


def test_open_breaker_and_stale_decision_alert_once_then_recover(pipeline_env: str, telegram_stub, quiet_host) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(timezone.utc)
    factory = make_session_factory(pipeline_env)
    save_breaker(factory, BreakerRecord("exchange-paper", "open", 5, 0, now - timedelta(minutes=20)))
    _decision_at(pipeline_env, current_tick_ms() - 3 * 3_600_000, now - timedelta(hours=2))
    dag = _dag("bitsniper_monitoring")

    first = dag.test(logical_date=now - timedelta(minutes=10))
    assert _states(first) == {"check_pipeline": "success", "check_host": "success"}
    texts = telegram_stub.texts()
    assert len(texts) == 2, texts
    assert any("FAILURE: circuit breaker exchange-paper is open" in t and "task check_pipeline" in t for t in texts)
    assert any("no successful run for 12" in t and "last paper decision at" in t for t in texts)  # 120 min
    assert all(TELEGRAM_TOKEN not in t for t in texts)
    assert sorted(a.kind for a in unresolved_alerts(factory)) == ["monitor_circuit_breaker", "monitor_stale_run"]

    second = dag.test(logical_date=now - timedelta(minutes=5))
    assert _states(second) == {"check_pipeline": "success", "check_host": "success"}
    assert len(telegram_stub.texts()) == 2  # still open: nothing new

    save_breaker(factory, BreakerRecord("exchange-paper", "closed"))
    _decision_at(pipeline_env, current_tick_ms() - 900_000, datetime.now(timezone.utc))
    dag.test(logical_date=now)
    recovered = telegram_stub.texts()[2:]
    assert len(recovered) == 2 and all("recovered:" in t for t in recovered), recovered
    assert unresolved_alerts(factory) == []
    factory.kw["bind"].dispose()


def test_a_component_the_stack_restarted_raises_one_alert(  # type: ignore[no-untyped-def]
    pipeline_env: str, telegram_stub, quiet_host, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Under make run the components log beside scripts/airflow-stack.sh's stack.log, which check_host reads."""
    killed = datetime.now(timezone.utc) - timedelta(minutes=7)
    stamp = lambda at: at.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    (tmp_path / "stack.log").write_text(
        f"{stamp(killed)} scheduler unhealthy for 3 checks: stack dump in {tmp_path}/scheduler.log, killing 4242\n"
        f"{stamp(killed + timedelta(seconds=2))} scheduler exited (code 137): restarting in 10 s\n"
        f"{stamp(killed + timedelta(seconds=12))} starting scheduler, log: {tmp_path}/scheduler.log\n"
    )
    monkeypatch.setenv("AIRFLOW_STACK_LOGS", str(tmp_path))
    run = _dag("bitsniper_monitoring").test(logical_date=datetime.now(timezone.utc))
    assert _states(run) == {"check_pipeline": "success", "check_host": "success"}
    texts = [t for t in telegram_stub.texts() if "restarted" in t]
    assert len(texts) == 1 and "scheduler x1 (hung, killed by the watchdog" in texts[0] and "task check_host" in texts[0], texts
    factory = make_session_factory(pipeline_env)
    assert [a.kind for a in unresolved_alerts(factory)] == ["monitor_stack_restarts"]
    factory.kw["bind"].dispose()


def test_failed_pipeline_runs_in_airflow_metadata_raise_the_consecutive_errors_alert(  # type: ignore[no-untyped-def]
    pipeline_env: str, telegram_stub, quiet_host, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BITSNIPER_MONITOR_CONSECUTIVE_ERRORS", "1")
    monkeypatch.setenv("BITSNIPER_EXCHANGE_URL", "http://127.0.0.1:9")  # nothing listens: ingest fails
    tick = tick_datetime(current_tick_ms())
    pipeline = load_dag(retries=0).test(logical_date=tick)
    assert str(pipeline.state) == "failed"

    run = _dag("bitsniper_monitoring").test(logical_date=datetime.now(timezone.utc))
    assert _states(run)["check_pipeline"] == "success"
    # one run, or more if the session's other DAG tests left failed runs on the ticks just before
    assert any(re.search(r"\d+ consecutive failed bitsniper runs \(threshold 1\)", t) for t in telegram_stub.texts()), telegram_stub.texts()
    assert [a.kind for a in unresolved_alerts(make_session_factory(pipeline_env), kind="monitor_consecutive_errors")] == [
        "monitor_consecutive_errors"
    ]


def test_a_fresh_install_raises_no_stale_alert_until_the_pipeline_has_run_for_the_limit(  # type: ignore[no-untyped-def]
    pipeline_env: str, telegram_stub, quiet_host, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A limit of a week and 45 minutes (a whole number of candles) puts "the run at the limit" on a tick
    # no other test uses.
    limit = 7 * 24 * 60 + 45
    monkeypatch.setenv("BITSNIPER_MONITOR_STALE_MINUTES", str(limit))
    monkeypatch.setenv("BITSNIPER_EXCHANGE_URL", "http://127.0.0.1:9")  # nothing listens: the pipeline fails
    monitoring = _dag("bitsniper_monitoring")
    factory = make_session_factory(pipeline_env)

    monitoring.test(logical_date=datetime.now(timezone.utc))
    assert not [t for t in telegram_stub.texts() if "no successful run" in t], telegram_stub.texts()
    assert unresolved_alerts(factory, kind="monitor_stale_run") == []

    # The pipeline has been running since then (its run at that tick exists) and never decided: alert.
    then_ms = current_tick_ms(margin_secs=60) - limit * 60_000
    assert str(load_dag(retries=0).test(logical_date=tick_datetime(then_ms)).state) == "failed"
    monitoring.test(logical_date=datetime.now(timezone.utc) + timedelta(seconds=1))
    assert [t for t in telegram_stub.texts() if "no paper decision recorded yet: no successful run" in t], telegram_stub.texts()
    assert len(unresolved_alerts(factory, kind="monitor_stale_run")) == 1
    factory.kw["bind"].dispose()


def test_daily_summary_dag_sends_yesterdays_summary_once(pipeline_env: str, telegram_stub) -> None:  # type: ignore[no-untyped-def]
    factory = make_session_factory(pipeline_env)
    for ident, side, price, hour in (("t-open", "buy", "100000", 9), ("t-close", "sell", "100500", 15)):
        at = datetime(2026, 3, 2, hour, tzinfo=timezone.utc)
        record_order_intent(factory, OrderIntent(ident, "paper", "PF_XBTUSD", side, Decimal("0.02")), at=at)  # type: ignore[arg-type]
        record_fills(factory, [FillRecord(f"f-{ident}", "PF_XBTUSD", side, Decimal("0.02"), Decimal(price), at, ident)])  # type: ignore[arg-type]
    factory.kw["bind"].dispose()
    dag = _dag("bitsniper_daily_summary")
    tick = datetime(2026, 3, 3, 0, 5, tzinfo=timezone.utc)
    run = dag.test(logical_date=tick)
    assert _states(run) == {"send_daily_summary": "success"}
    texts = telegram_stub.texts()
    assert len(texts) == 1 and "daily summary 2026-03-02 (paper PF_XBTUSD)" in texts[0]
    assert "PnL +10.00 USD (fees 0.00) | trades 1, wins 1, win rate 100 %" in texts[0]  # 0.02 BTC x 500 USD
    engine = create_engine(pipeline_env)
    with engine.connect() as connection:
        details = connection.execute(text("select details from alerts where kind = 'daily_summary'")).scalar_one()
    engine.dispose()
    assert details["day"] == date(2026, 3, 2).isoformat()
    dag.test(logical_date=tick + timedelta(seconds=1))  # a manual rerun for the same day
    assert len(telegram_stub.texts()) == 1
