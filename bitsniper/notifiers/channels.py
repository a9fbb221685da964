"""Operator notifications outside Airflow: the webhook and Telegram, sent directly (issue 6).

The CLI (``bitsniper kill``/``resume``), the Telegram bot and the risk checks raise notifications through
``operator_notifier(settings)``; the Airflow path keeps ``bitsniper.airflow.notify``. A channel that fails
is logged and the others still go: a notification must never stop the kill switch itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
from pydantic import SecretStr

from bitsniper.alerts import Alert, render_text
from bitsniper.config import Settings
from bitsniper.notifiers.webhook import WebhookNotifier

__all__ = ["TelegramNotifier", "operator_notifier", "TELEGRAM_API_URL"]

log = logging.getLogger("bitsniper.notifiers")
TELEGRAM_API_URL = "https://api.telegram.org/bot"
Notify = Callable[[Alert], None]


class TelegramNotifier:
    """``sendMessage`` of the rendered alert to each chat (the Bot API URL is ``<base><token>/sendMessage``)."""

    def __init__(self, token: SecretStr, chat_ids: tuple[int, ...], *, base_url: str | None = None,
                 timeout_secs: float = 10.0) -> None:
        self._token = token
        self._chats = chat_ids
        self._base = base_url or TELEGRAM_API_URL
        self._timeout = timeout_secs

    def __repr__(self) -> str:
        return f"TelegramNotifier(chats={self._chats})"

    def __call__(self, alert: Alert) -> None:
        token = self._token.get_secret_value()
        text = render_text(alert, [token])
        for chat in self._chats:
            try:
                reply = httpx.post(f"{self._base}{token}/sendMessage", json={"chat_id": chat, "text": text},
                                   timeout=self._timeout)
            except httpx.HTTPError as error:
                raise ConnectionError(f"telegram alert not delivered: {type(error).__name__}") from None
            if reply.status_code // 100 != 2:
                raise ConnectionError(f"telegram alert not delivered to chat {chat}: HTTP {reply.status_code}")


def operator_notifier(settings: Settings) -> Notify:
    """Every configured channel (webhook, Telegram to the allowed chats); none configured -> log only."""
    channels: list[Notify] = []
    if settings.alert_webhook_url is not None and settings.alert_webhook_url.get_secret_value():
        channels.append(WebhookNotifier(settings.alert_webhook_url, timeout_secs=settings.exchange_http_timeout_secs))
    token = settings.telegram_bot_token
    if token is not None and token.get_secret_value() and settings.telegram_allowed_chat_ids:
        channels.append(TelegramNotifier(token, settings.telegram_allowed_chat_ids,
                                         base_url=settings.telegram_api_url))

    def notify(alert: Alert) -> None:
        log.warning("operator alert (%s): %s", alert.kind, alert.summary)
        for channel in channels:
            try:
                channel(alert)
            except Exception as error:  # noqa: BLE001 - one channel down must not silence the others
                log.warning("%r failed: %s", channel, error)

    return notify
