"""
### BitSniper monitoring — health every 5 minutes, a trading summary every day

`bitsniper_monitoring` (every 5 minutes) runs the original bot's alerts:

* `check_pipeline`: 10 consecutive failed `bitsniper` runs, the exchange circuit breaker open, no
  decision of the trading mode for over an hour;
* `check_host`: any Airflow/bot process above 1 GB of memory, host CPU above 90 %.

An alert is sent once when a check starts failing and a "recovered" notice when it passes again (the
open alert is in the store's `alerts` table meanwhile), never every 5 minutes.

`bitsniper_daily_summary` (00:05 UTC) sends yesterday's PnL, win rate and trade counts.

Thresholds: `BITSNIPER_MONITOR_*` settings. Channels: the `telegram_default` and `smtp_default` connections.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import CronTriggerTimetable, dag, get_current_context, task

from bitsniper.airflow.callbacks import on_task_failure

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
default_args = {
    "owner": "bitsniper",
    "retries": 1,
    "retry_delay": timedelta(seconds=30),
    "execution_timeout": timedelta(seconds=60),
    "on_failure_callback": on_task_failure,
}


@dag(
    dag_id="bitsniper_monitoring",
    schedule=CronTriggerTimetable("*/5 * * * *", timezone="UTC"),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    doc_md=__doc__,
    tags=["bitsniper", "monitoring"],
)
def bitsniper_monitoring() -> None:
    @task
    def check_pipeline() -> dict:
        from bitsniper.airflow.monitoring import check_pipeline as check

        return check(get_current_context())

    @task
    def check_host() -> dict:
        from bitsniper.airflow.monitoring import check_host as check

        return check(get_current_context())

    check_pipeline()
    check_host()


@dag(
    dag_id="bitsniper_daily_summary",
    schedule=CronTriggerTimetable("5 0 * * *", timezone="UTC"),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    doc_md=__doc__,
    tags=["bitsniper", "monitoring"],
)
def bitsniper_daily_summary() -> None:
    @task
    def send_daily_summary() -> dict:
        from bitsniper.airflow.monitoring import summarise_day

        return summarise_day(get_current_context())

    send_daily_summary()


bitsniper_monitoring()
bitsniper_daily_summary()
