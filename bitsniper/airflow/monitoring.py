"""Glue between the monitoring DAGs and ``bitsniper.monitoring``: Airflow's metadata in, alerts out.

Past runs of the pipeline are read through the Task SDK (``ti.get_dr_count``), the only way an Airflow 3
task may read the metadata database; the scheduled runs sit on the pipeline's 15-minute ticks, so the
last ticks name them without listing runs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bitsniper.alerts import Alert
from bitsniper.config import Settings, load_settings

__all__ = ["PIPELINE_DAG_ID", "recent_ticks", "run_outcomes", "check_pipeline", "check_host", "stack_log", "summarise_day", "summary_day"]

_LOG = logging.getLogger(__name__)
PIPELINE_DAG_ID = "bitsniper"
CountRuns = Callable[..., int]


def recent_ticks(now: datetime, interval_ms: int, count: int) -> list[datetime]:
    """The pipeline's last ``count`` schedule ticks up to ``now``, newest first (its runs' logical dates)."""
    ms = int(now.timestamp() * 1000)
    ms -= ms % interval_ms
    return [datetime.fromtimestamp((ms - i * interval_ms) / 1000, tz=timezone.utc) for i in range(count)]


def run_outcomes(count_runs: CountRuns, ticks: list[datetime], dag_id: str = PIPELINE_DAG_ID) -> list[str]:
    """Each tick's run state, newest first, stopping at the first finished success or missing run after the
    newest (``count_runs`` is ``RuntimeTaskInstance.get_dr_count``)."""
    outcomes: list[str] = []
    for index, tick in enumerate(ticks):
        if not count_runs(dag_id=dag_id, logical_dates=[tick]):
            outcome = "none"
        elif count_runs(dag_id=dag_id, logical_dates=[tick], states=["failed"]):
            outcome = "failed"
        elif count_runs(dag_id=dag_id, logical_dates=[tick], states=["success"]):
            outcome = "success"
        else:
            outcome = "running"  # queued or running
        outcomes.append(outcome)
        if index > 0 and outcome != "failed":
            break
    return outcomes


def _context_parts(context: dict[str, Any]) -> tuple[Settings, Any, Callable[[Alert], object], Alert]:
    from bitsniper.airflow.notify import send_alert
    from bitsniper.store.db import make_session_factory

    settings = load_settings()
    factory = make_session_factory(settings.database_url.get_secret_value())
    ti = context["ti"]
    template = Alert("info", "", dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id)
    return settings, factory, (lambda alert: send_alert(settings, alert)), template


def _report(outcomes: list[Any]) -> dict[str, str]:
    for outcome in outcomes:
        _LOG.info("%s: %s (%s)", outcome.result.name, outcome.action, outcome.result.message)
    return {o.result.name: o.action for o in outcomes}


def check_pipeline(context: dict[str, Any]) -> dict[str, str]:
    """Consecutive failed pipeline runs, the circuit breaker and the age of the last decision."""
    from bitsniper.monitoring import pipeline_checks

    settings, factory, notify, template = _context_parts(context)
    now = datetime.now(timezone.utc)
    ticks = recent_ticks(now, settings.candle_ms, settings.monitor_consecutive_errors + 1)
    count_runs = context["ti"].get_dr_count
    outcomes = run_outcomes(count_runs, ticks)
    _LOG.info("%s runs, newest first: %s", PIPELINE_DAG_ID, outcomes)
    # Was the pipeline already running `monitor_stale_minutes` ago? (Its run at that tick exists.)
    then = recent_ticks(now - timedelta(minutes=settings.monitor_stale_minutes), settings.candle_ms, 1)
    ran_before = bool(count_runs(dag_id=PIPELINE_DAG_ID, logical_dates=then))
    checks = pipeline_checks(factory, settings, notify, run_outcomes=outcomes, now=now, template=template, ran_before=ran_before)  # type: ignore[arg-type]
    return _report(checks)


def stack_log() -> Path | None:
    """scripts/airflow-stack.sh's log, when ``make run`` started Airflow (its components then carry
    AIRFLOW_STACK_LOGS or log beside AIRFLOW_HOME); None elsewhere (docker compose)."""
    folder = os.environ.get("AIRFLOW_STACK_LOGS") or os.environ.get("AIRFLOW_HOME")
    path = Path(folder) / "stack.log" if folder else None
    return path if path is not None and path.exists() else None


def check_host(context: dict[str, Any]) -> dict[str, str]:
    """Memory of the Airflow/bot processes, host CPU, and the components the stack had to restart."""
    from bitsniper.monitoring import host_checks

    settings, factory, notify, template = _context_parts(context)
    return _report(host_checks(factory, settings, notify, template=template, stack_log=stack_log()))


def summary_day(context: dict[str, Any]) -> date:
    """The UTC day that ended before the run's tick (the 00:05 run summarises yesterday)."""
    tick = context.get("logical_date") or context["dag_run"].run_after
    return (tick.astimezone(timezone.utc) - timedelta(days=1)).date()


def summarise_day(context: dict[str, Any]) -> dict[str, Any]:
    """Build and send the daily summary of the trading mode."""
    from bitsniper.monitoring import daily_summary, send_daily_summary

    settings, factory, notify, template = _context_parts(context)
    day = summary_day(context)
    summary = daily_summary(factory, mode=settings.mode, symbol=settings.symbol, day=day)
    sent = send_daily_summary(factory, summary, notify, template=template)
    _LOG.info("daily summary %s (%s): %s", day, "sent" if sent else "already sent", summary.text())
    return {"day": day.isoformat(), "sent": sent, "trades": summary.trades, "pnl_usd": str(summary.pnl_usd)}
