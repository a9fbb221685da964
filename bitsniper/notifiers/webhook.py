"""A generic webhook: every alert is POSTed as one JSON event (issue 6), e.g. to a chat relay or a pager.

The URL is a secret (such URLs usually carry a token): it is never logged nor put in an error. The event
holds the alert's fields only, redacted like every other channel.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import httpx
from pydantic import SecretStr

from bitsniper.alerts import Alert, redact, render_text, secret_values

__all__ = ["WebhookNotifier", "alert_event", "EVENT_TYPE"]

log = logging.getLogger("bitsniper.notifiers.webhook")
EVENT_TYPE = "bitsniper.alert"


def alert_event(alert: Alert, *, sent_at: datetime | None = None, secrets: list[str] | None = None) -> dict[str, Any]:
    """The JSON body: ``type``, ``sent_at`` (ISO UTC), the alert's fields and its rendered text."""
    hidden = [*secret_values(), *(secrets or [])]
    fields = {k: (redact(v, hidden) if isinstance(v, str) else v) for k, v in alert.as_dict().items()}
    return {
        "type": EVENT_TYPE,
        "sent_at": (sent_at or datetime.now(timezone.utc)).isoformat(),
        **fields,
        "text": render_text(alert, hidden),
    }


class WebhookNotifier:
    """``notify(alert)``: one HTTP POST; a non-2xx reply or a network error raises (callers decide)."""

    def __init__(self, url: SecretStr, *, timeout_secs: float = 10.0) -> None:
        self._url = url
        self._timeout = timeout_secs

    def __repr__(self) -> str:
        return "WebhookNotifier(url=***)"

    def __call__(self, alert: Alert) -> None:
        url = self._url.get_secret_value()
        body = alert_event(alert, secrets=[url])
        try:
            reply = httpx.post(url, json=body, timeout=self._timeout)
        except httpx.HTTPError as error:
            # httpx puts the URL in its messages: name the error type only.
            raise ConnectionError(f"webhook alert not delivered: {type(error).__name__}") from None
        if reply.status_code // 100 != 2:
            raise ConnectionError(f"webhook alert not delivered: HTTP {reply.status_code}")
        log.info("webhook alert delivered (%s)", alert.kind)
