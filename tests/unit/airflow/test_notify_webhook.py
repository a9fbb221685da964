"""Alerts from the Airflow path also reach the generic JSON webhook, without the URL's token in them."""

from __future__ import annotations

import json

import pytest

from bitsniper.alerts import Alert
from bitsniper.config import load_settings

from tests.unit.airflow.conftest import WebhookSink


def test_send_alert_posts_the_alert_to_the_webhook_once(webhook: WebhookSink, monkeypatch: pytest.MonkeyPatch) -> None:
    from bitsniper.airflow.notify import send_alert

    base, received = webhook.base, webhook.received
    monkeypatch.delenv("AIRFLOW_CONN_TELEGRAM_DEFAULT", raising=False)
    settings = load_settings(alert_webhook_url=f"{base}/hook/SECRET-TOKEN-123456")
    sent = send_alert(settings, Alert("exit", "exit SHORT (X1): buy 0.01 BTC at 70,000.0", dag_id="bitsniper", candle="2026-01-01T00:00:00Z"))
    assert sent == ["webhook"]
    assert len(received) == 1 and received[0]["path"] == "/hook/SECRET-TOKEN-123456"
    body = json.dumps(received[0]["body"])
    assert "exit SHORT (X1)" in body and "2026-01-01T00:00:00Z" in body
    assert "SECRET-TOKEN-123456" not in body


def test_send_alert_without_any_channel_sends_nothing(webhook: WebhookSink, monkeypatch: pytest.MonkeyPatch) -> None:
    from bitsniper.airflow.notify import send_alert

    received = webhook.received
    monkeypatch.delenv("AIRFLOW_CONN_TELEGRAM_DEFAULT", raising=False)
    assert send_alert(load_settings(), Alert("info", "nothing to see")) == []
    assert received == []
