"""Alert messages: what a trader reads when something happens, free of secrets.

Message text lives in ``bitsniper/templates/alerts/`` (Jinja). Sending is done by the notifiers in
``bitsniper.airflow.notifiers`` (Airflow connections own the credentials); this module has no Airflow import
so the CLI, the pipeline functions and the tests can build the same messages.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import jinja2

__all__ = ["Alert", "AlertKind", "render_text", "subject", "redact", "secret_values", "SECRET_ENV_VARS"]

AlertKind = Literal["failure", "retry", "deadline", "entry", "exit", "data", "halt", "info"]
_ICONS = {"failure": "🔴", "retry": "🟠", "deadline": "⏰", "entry": "🟢", "exit": "🔵", "data": "🟡", "halt": "⛔", "info": "ℹ️"}
_TEMPLATES = Path(__file__).resolve().parent / "templates" / "alerts"
SECRET_ENV_VARS = (
    "KRAKEN_API_KEY", "KRAKEN_API_SECRET", "TELEGRAM_BOT_TOKEN", "SMTP_PASSWORD",
    "BITSNIPER_KRAKEN_API_KEY", "BITSNIPER_KRAKEN_API_SECRET",
)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s:]+:[^/@\s]+@", re.IGNORECASE)
_TELEGRAM_TOKEN = re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b")


@dataclass(frozen=True, slots=True)
class Alert:
    """One thing to tell the operator; every field is plain text, none carries a secret."""

    kind: AlertKind
    summary: str
    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    try_number: int | None = None
    candle: str | None = None  # ISO open time of N-1
    details: str | None = None
    log_url: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)), autoescape=False, keep_trailing_newline=False,
        undefined=jinja2.StrictUndefined,
    )


def secret_values(extra: Iterable[str | None] = ()) -> list[str]:
    """Secrets to hide: the known environment variables plus any given (short values are ignored)."""
    values = [os.environ.get(name) for name in SECRET_ENV_VARS]
    return [v for v in [*values, *extra] if v and len(v) >= 6]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove secret values, URL credentials and Telegram bot tokens from a text."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}***@", text)
    return _TELEGRAM_TOKEN.sub("***", text)


def render_text(alert: Alert, secrets: Iterable[str] = ()) -> str:
    """The message body, rendered from the template and redacted."""
    text = _environment().get_template("message.txt.j2").render(alert=alert, icon=_ICONS[alert.kind])
    return redact(text.strip() + "\n", [*secret_values(), *secrets])


def subject(alert: Alert) -> str:
    """A one-line subject for email."""
    where = f" [{alert.dag_id}{'.' + alert.task_id if alert.task_id else ''}]" if alert.dag_id else ""
    return redact(f"BitSniper {alert.kind}: {alert.summary}{where}"[:200], secret_values())
