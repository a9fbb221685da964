"""
### BitSniper — one run per closed 15-minute candle

`ingest_candles → validate_data → compute_indicators → decide → execute_orders` for the candle that
closed at the run's tick (N-1). Each task calls one function of `bitsniper.pipeline`; the database is the
hand-off and XCom carries small keys only.

* **Backfills never trade**: `airflow backfill create --dag-id bitsniper --from-date … --to-date …`
  records the decisions the engine would have taken (mode `backfill`), and so does a run started more
  than one interval after its candle closed.
* **Bad data fails closed**: `validate_data` stops the run before `decide`, with an alert.
* **Exactly once**: `execute_orders` looks every order up before sending it (cliOrdId from the decision).
* **Deadline**: a run not finished 2 minutes after its candle closed raises an alert.

Rules: `docs/strategy.md`. Settings: `BITSNIPER_*` environment variables.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import AsyncCallback, CronTriggerTimetable, DeadlineAlert, DeadlineReference, dag, get_current_context, task

from bitsniper.airflow.callbacks import deadline_missed, on_task_failure, on_task_retry
from bitsniper.config import load_settings

KRAKEN_POOL = "kraken_api"
SETTINGS = load_settings()  # a bad setting shows as an import error in the UI: nothing runs with it
DEADLINE = timedelta(seconds=SETTINGS.deadline_secs)

default_args = {
    "owner": "bitsniper",
    "retries": 3,
    "retry_delay": timedelta(seconds=5),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(seconds=30),
    "execution_timeout": timedelta(seconds=60),
    "on_failure_callback": on_task_failure,
    "on_retry_callback": on_task_retry,
}


@dag(
    dag_id="bitsniper",
    schedule=CronTriggerTimetable("*/15 * * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=DEADLINE,
        callback=AsyncCallback(deadline_missed, kwargs={"dag_id": "bitsniper", "seconds": SETTINGS.deadline_secs}),
    ),
    doc_md=__doc__,
    tags=["bitsniper", "trading"],
)
def bitsniper() -> None:
    @task(pool=KRAKEN_POOL, retries=8, retry_delay=timedelta(seconds=3), max_retry_delay=timedelta(seconds=20))
    def ingest_candles() -> int:
        from bitsniper.airflow.steps import run_step
        from bitsniper.pipeline import ingest_candles as step

        return run_step(step, get_current_context())

    @task(retries=2, execution_timeout=timedelta(seconds=120))
    def validate_data(_: int) -> dict:
        from bitsniper.airflow.steps import run_step
        from bitsniper.pipeline import validate_data as step

        return run_step(step, get_current_context())

    @task
    def compute_indicators(_: dict) -> dict:
        from bitsniper.airflow.steps import run_step
        from bitsniper.pipeline import compute_indicators as step

        return run_step(step, get_current_context())

    @task(pool=KRAKEN_POOL)
    def decide(_: dict) -> str:
        from bitsniper.airflow.steps import run_step
        from bitsniper.pipeline import decide_step as step

        return run_step(step, get_current_context())

    @task(pool=KRAKEN_POOL, retries=5, execution_timeout=timedelta(seconds=90))
    def execute_orders(decision_id: str) -> dict:
        from bitsniper.airflow.steps import run_step
        from bitsniper.pipeline import execute_orders as step

        return run_step(step, get_current_context(), decision_id)

    execute_orders(decide(compute_indicators(validate_data(ingest_candles()))))


bitsniper()
