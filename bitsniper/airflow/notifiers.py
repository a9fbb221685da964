"""Airflow notifiers: Telegram on the provider's connection, email through the SMTP provider.

The Telegram provider has no notifier (stack.md pitfall 8): this one reads the bot token and chat id from
the Telegram connection through ``TelegramHook`` and posts to the Bot API with httpx, synchronously in a
worker and asynchronously in the triggerer (deadline alerts run there, inside an event loop, where the
hook's ``asyncio.run`` cannot). The connection's extra ``base_url`` points it at a local stand-in in tests.
Errors are re-raised with the token removed: httpx puts the URL, hence the token, in its messages.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

import httpx
from airflow.providers.telegram.hooks.telegram import TelegramHook
from airflow.sdk.bases.notifier import BaseNotifier

from bitsniper.alerts import redact

__all__ = ["TelegramNotifier", "send_telegram_notification", "TELEGRAM_API"]

TELEGRAM_API = "https://api.telegram.org"
_LOG = logging.getLogger(__name__)
_TIMEOUT_SECS = 10.0


class TelegramNotifier(BaseNotifier):
    """Send one Telegram message; ``text`` and ``chat_id`` are templated."""

    template_fields = ("text", "chat_id")

    def __init__(self, *, text: str, telegram_conn_id: str = "telegram_default", chat_id: str | None = None) -> None:
        super().__init__()
        self.text = text
        self.chat_id = chat_id
        self.telegram_conn_id = telegram_conn_id

    @cached_property
    def hook(self) -> TelegramHook:
        return TelegramHook(telegram_conn_id=self.telegram_conn_id, chat_id=self.chat_id)

    def _request(self) -> tuple[str, dict[str, Any]]:
        hook = self.hook
        if not hook.chat_id:
            raise ValueError(f"Telegram connection {self.telegram_conn_id!r} has no chat id (its 'host' field)")
        extra = hook.get_connection(self.telegram_conn_id).extra_dejson
        base = str(extra.get("base_url") or TELEGRAM_API).rstrip("/")
        payload = {"chat_id": hook.chat_id, "text": self.text, "disable_web_page_preview": True}
        return f"{base}/bot{hook.token}/sendMessage", payload

    def _check(self, response: httpx.Response) -> None:
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if response.status_code != 200 or not body.get("ok", False):
            raise RuntimeError(f"Telegram refused the message: HTTP {response.status_code} {body.get('description', '')}")

    def notify(self, context: Any) -> None:
        url, payload = self._request()
        try:
            with httpx.Client(timeout=_TIMEOUT_SECS) as client:
                self._check(client.post(url, json=payload))
        except (httpx.HTTPError, RuntimeError) as error:
            raise RuntimeError(redact(str(error), [self.hook.token])) from None

    async def async_notify(self, context: Any) -> None:
        url, payload = self._request()
        try:
            async with httpx.AsyncClient(timeout=_TIMEOUT_SECS) as client:
                self._check(await client.post(url, json=payload))
        except (httpx.HTTPError, RuntimeError) as error:
            raise RuntimeError(redact(str(error), [self.hook.token])) from None


send_telegram_notification = TelegramNotifier
