"""Airflow callbacks: task failures, retries after the second, and the deadline alert (Airflow 3's SLA).

Importable from the installed package, as the triggerer requires for deadline callbacks (stack.md 6).
Messages name the DAG, the task, the candle and the log; they never carry a secret.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from bitsniper.alerts import Alert, redact, secret_values

__all__ = ["on_task_failure", "on_task_retry", "deadline_missed", "RETRY_ALERT_AFTER"]

_LOG = logging.getLogger(__name__)
RETRY_ALERT_AFTER = 2  # "retries after the second": the third try and later
_INTERVAL_MS = 900_000


def _candle_of(tick: datetime | None) -> str | None:
    """The candle (N-1) a run at ``tick`` acts on. Plain datetime arithmetic: the DAG file imports this
    module, and pulling in pandas through ``bitsniper.candles`` cost every parse and task ~0.4 s and ~50 MB."""
    if tick is None:
        return None
    ms = int(tick.timestamp() * 1000)
    ms -= ms % _INTERVAL_MS
    return datetime.fromtimestamp((ms - _INTERVAL_MS) / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _task_alert(kind: str, context: dict[str, Any]) -> Alert:
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    error = context.get("exception")
    summary = f"{getattr(ti, 'task_id', 'task')} {'failed' if kind == 'failure' else 'will retry'}"
    if error is not None:
        summary += f": {type(error).__name__}: {error}"
    return Alert(
        kind,  # type: ignore[arg-type]
        redact(summary[:500], secret_values()),
        dag_id=getattr(dag_run, "dag_id", None) or getattr(ti, "dag_id", None),
        task_id=getattr(ti, "task_id", None),
        run_id=getattr(dag_run, "run_id", None),
        try_number=getattr(ti, "try_number", None),
        candle=_candle_of(context.get("logical_date") or getattr(dag_run, "logical_date", None)),
        log_url=getattr(ti, "log_url", None),
    )


def _send(alert: Alert) -> None:
    from bitsniper.airflow.notify import send_alert
    from bitsniper.config import load_settings

    try:
        send_alert(load_settings(), alert)
    except Exception as error:  # noqa: BLE001 - a callback must never raise
        _LOG.error("could not send the %s alert: %s", alert.kind, redact(str(error), secret_values()))


def on_task_failure(context: dict[str, Any]) -> None:
    _send(_task_alert("failure", context))


def on_task_retry(context: dict[str, Any]) -> None:
    ti = context.get("ti") or context.get("task_instance")
    if (getattr(ti, "try_number", 0) or 0) > RETRY_ALERT_AFTER:
        _send(_task_alert("retry", context))


async def deadline_missed(context: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Runs in the triggerer when a run is not finished 2 minutes after its candle closed.

    Airflow gives backfill runs a deadline too, measured from their (past) logical date, so each one
    would "miss" it at birth: a backfill never trades and is not late, so it raises no alert.
    """
    from bitsniper.airflow.notify import send_alert_async
    from bitsniper.config import load_settings

    context = context or {}
    dag_run = context.get("dag_run") or {}
    get = dag_run.get if isinstance(dag_run, dict) else lambda key, default=None: getattr(dag_run, key, default)
    if str(get("run_type") or "").lower().endswith("backfill"):
        _LOG.info("deadline passed for backfill run %s: no alert", get("run_id") or get("dag_run_id"))
        return
    logical = get("logical_date")
    if isinstance(logical, str):
        logical = datetime.fromisoformat(logical.replace("Z", "+00:00"))
    alert = Alert(
        "deadline",
        f"run not finished {kwargs.get('seconds', 120)} s after its candle closed",
        dag_id=get("dag_id") or kwargs.get("dag_id"),
        run_id=get("run_id") or get("dag_run_id"),
        candle=_candle_of(logical),
    )
    _LOG.warning("deadline missed: %s", alert.summary)
    await send_alert_async(load_settings(), alert)
