"""Generic webhook notifier (issue 6): one JSON POST per alert to a local HTTP stub, no secret in it."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bitsniper.alerts import Alert
from bitsniper.config import load_settings
from bitsniper.notifiers import WebhookNotifier, operator_notifier

from operator_kit import HttpStub


def test_webhook_posts_the_alert_as_json_without_the_url_token_or_known_secrets(stub: HttpStub, monkeypatch) -> None:
    # Arrange
    monkeypatch.setenv("KRAKEN_API_SECRET", "kraken-secret-value-xyz")
    notifier = WebhookNotifier(SecretStr(f"{stub.url}/hooks/tok-abcdef-999"))
    alert = Alert("halt", "kill switch ON", details="reason: key kraken-secret-value-xyz leaked?", candle="2026-03-01T00:00:00Z")
    # Act
    notifier(alert)
    # Assert
    [(path, body)] = stub.requests
    assert path == "/hooks/tok-abcdef-999"
    assert body["type"] == "bitsniper.alert" and body["kind"] == "halt" and body["summary"] == "kill switch ON"
    assert body["candle"] == "2026-03-01T00:00:00Z" and body["sent_at"].endswith("+00:00")
    assert "kill switch ON" in body["text"]
    assert "kraken-secret-value-xyz" not in str(body) and "tok-abcdef-999" not in str(body)
    assert "tok-abcdef-999" not in repr(notifier)


def test_webhook_failure_raises_without_the_url(stub: HttpStub) -> None:
    stub.status = 500
    notifier = WebhookNotifier(SecretStr(f"{stub.url}/hooks/tok-abcdef-999"))
    with pytest.raises(ConnectionError, match="HTTP 500") as caught:
        notifier(Alert("info", "x"))
    assert "tok-abcdef" not in str(caught.value)


def test_operator_notifier_survives_a_dead_webhook(stub: HttpStub) -> None:
    dead = load_settings(alert_webhook_url="http://127.0.0.1:9/none")  # port 9 (discard): refused
    operator_notifier(dead)(Alert("info", "still fine"))  # logged, not raised
    live = load_settings(alert_webhook_url=f"{stub.url}/ok")
    operator_notifier(live)(Alert("info", "delivered"))
    assert [body["summary"] for _, body in stub.requests] == ["delivered"]
