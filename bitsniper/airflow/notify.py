"""Send BitSniper alerts through the channels configured as Airflow connections.

Telegram when the ``alert_telegram_conn_id`` connection exists, email when ``alert_email_to`` is set (SMTP
connection ``alert_smtp_conn_id``). A missing channel is skipped with a log line, never an error: the
alert is in the store and the task log either way.
"""

from __future__ import annotations

import logging

from airflow.sdk import BaseHook

from bitsniper.alerts import Alert, redact, render_text, secret_values, subject
from bitsniper.config import Settings

__all__ = ["send_alert", "send_alert_async", "alert_channels"]

_LOG = logging.getLogger(__name__)


def _has_connection(conn_id: str) -> bool:
    try:
        BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - Airflow raises different types per backend for "not found"
        return False
    return True


def alert_channels(settings: Settings) -> list[str]:
    """The channels that would receive an alert now."""
    channels = []
    if _has_connection(settings.alert_telegram_conn_id):
        channels.append("telegram")
    if settings.alert_email_to and _has_connection(settings.alert_smtp_conn_id):
        channels.append("email")
    return channels


def _notifiers(settings: Settings, alert: Alert):  # type: ignore[no-untyped-def]
    text = render_text(alert)
    channels = alert_channels(settings)
    if "telegram" in channels:
        from bitsniper.airflow.notifiers import TelegramNotifier

        yield "telegram", TelegramNotifier(text=text, telegram_conn_id=settings.alert_telegram_conn_id)
    if "email" in channels:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        html = "<pre>" + text.replace("&", "&amp;").replace("<", "&lt;") + "</pre>"
        yield "email", SmtpNotifier(
            to=settings.alert_email_to, subject=subject(alert), html_content=html, smtp_conn_id=settings.alert_smtp_conn_id
        )
    if not channels and settings.alert_webhook_url is None:
        _LOG.warning("no alert channel configured; alert only logged: %s", text.strip())


def _send_webhook(settings: Settings, alert: Alert, sent: list[str]) -> None:
    """The generic JSON webhook (issue 6), when ``alert_webhook_url`` is set."""
    if settings.alert_webhook_url is None:
        return
    from bitsniper.notifiers import WebhookNotifier

    try:
        WebhookNotifier(settings.alert_webhook_url)(alert)
        sent.append("webhook")
    except Exception as error:  # noqa: BLE001 - one failing channel must not stop the others
        _LOG.error("webhook alert failed: %s", redact(str(error), secret_values([settings.alert_webhook_url.get_secret_value()])))


def send_alert(settings: Settings, alert: Alert) -> list[str]:
    """Send to every configured channel; returns the channels that accepted it."""
    sent: list[str] = []
    for name, notifier in _notifiers(settings, alert):
        try:
            notifier.notify({})
            sent.append(name)
        except Exception as error:  # noqa: BLE001 - one failing channel must not stop the others
            _LOG.error("%s alert failed: %s", name, redact(str(error), secret_values()))
    _send_webhook(settings, alert, sent)
    return sent


async def send_alert_async(settings: Settings, alert: Alert) -> list[str]:
    """The same from the triggerer (deadline alerts run inside its event loop)."""
    sent = []
    for name, notifier in _notifiers(settings, alert):
        try:
            await notifier.async_notify({})
            sent.append(name)
        except Exception as error:  # noqa: BLE001
            _LOG.error("%s alert failed: %s", name, redact(str(error), secret_values()))
    _send_webhook(settings, alert, sent)  # a short blocking POST: acceptable for a rare deadline alert
    return sent
