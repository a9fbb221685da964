"""Glue between Airflow tasks and ``bitsniper.pipeline``: context in, errors mapped, small keys out.

This is the one place where "do not retry" errors become ``AirflowFailException`` (bad data, a refused
order, an unreconciled position, a bad configuration): retrying them cannot help and could hurt.
Transient exchange errors and unknown order states propagate so Airflow retries the task, and the next
try looks before it sends.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from airflow.sdk.exceptions import AirflowFailException
from airflow.sdk import BaseHook
from pydantic import SecretStr

from bitsniper.config import Settings, load_settings
from bitsniper.errors import ConfigError, DataQualityError, OrderRejected, ReconciliationError
from bitsniper.strategy import StateFormatError

__all__ = ["run_step", "services_for", "spec_from_context", "kraken_credentials"]

_LOG = logging.getLogger(__name__)
T = TypeVar("T")
_FINAL = (DataQualityError, ConfigError, OrderRejected, ReconciliationError, StateFormatError)


def kraken_credentials(settings: Settings) -> tuple[SecretStr, SecretStr] | None:
    """Keys from the Airflow connection (login/password), else KRAKEN_API_KEY/KRAKEN_API_SECRET."""
    try:
        conn = BaseHook.get_connection(settings.kraken_conn_id)
        if conn.login and conn.password:
            return SecretStr(conn.login), SecretStr(conn.password)
    except Exception:  # noqa: BLE001 - no such connection
        pass
    key = os.environ.get("KRAKEN_API_KEY") or os.environ.get("BITSNIPER_KRAKEN_API_KEY")
    secret = os.environ.get("KRAKEN_API_SECRET") or os.environ.get("BITSNIPER_KRAKEN_API_SECRET")
    if key and secret:
        return SecretStr(key), SecretStr(secret)
    return None


def services_for(settings: Settings):  # type: ignore[no-untyped-def]
    from bitsniper.airflow.notify import send_alert
    from bitsniper.services import build_services

    return build_services(settings, credentials=kraken_credentials(settings), notify=lambda alert: send_alert(settings, alert))


def _tick_ms(context: dict[str, Any]) -> int:
    dag_run = context["dag_run"]
    tick: datetime | None = context.get("logical_date") or getattr(dag_run, "logical_date", None)
    if tick is None:
        tick = getattr(dag_run, "run_after")
    return int(tick.timestamp() * 1000)


def spec_from_context(context: dict[str, Any], settings: Settings):  # type: ignore[no-untyped-def]
    """The run's candle from its tick (the candle that closed then), and whether it may trade."""
    from bitsniper.pipeline import run_spec

    dag_run = context["dag_run"]
    run_type = str(getattr(dag_run, "run_type", "") or "")
    interval = settings.candle_ms
    tick = _tick_ms(context)
    tick -= tick % interval  # a manual run between ticks acts on the last closed candle
    return run_spec(
        dag_id=dag_run.dag_id, run_id=dag_run.run_id, tick_ms=tick, now_ms=int(time.time() * 1000),
        interval_ms=interval, backfill=run_type.endswith("backfill"),
    )


def run_step(step: Callable[..., T], context: dict[str, Any], *args: Any) -> T:
    """Run one pipeline step for this task's run; final errors fail the task without retrying."""
    try:
        settings = load_settings()
        services = services_for(settings)
        spec = spec_from_context(context, settings)
        _LOG.info("%s for candle %s (%s)", step.__name__, spec.candle_iso, "trading" if spec.trades else spec.why_no_trading)
        return step(services, spec, *args)
    except _FINAL as error:
        raise AirflowFailException(f"{type(error).__name__}: {error}") from error
