"""The deadline callback alerts for a late live run and stays quiet for backfill runs, which Airflow
also gives a deadline (measured from their past logical date, so always missed)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bitsniper.airflow.callbacks import deadline_missed

from tests.unit.airflow.conftest import WebhookSink


@pytest.fixture
def posted(webhook: WebhookSink, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Alerts go to the recording webhook only."""
    monkeypatch.delenv("AIRFLOW_CONN_TELEGRAM_DEFAULT", raising=False)
    monkeypatch.setenv("BITSNIPER_ALERT_WEBHOOK_URL", f"{webhook.base}/hook")
    return webhook.received


def _context(run_type: str, run_id: str) -> dict[str, Any]:
    # The shape Airflow's scheduler builds (DAGRunResponse dumped to JSON) for the triggerer.
    return {"dag_run": {"dag_id": "bitsniper", "run_id": run_id, "run_type": run_type, "logical_date": "2026-11-22T03:15:00Z"}}


def test_a_late_scheduled_run_raises_one_deadline_alert_naming_its_candle(posted: list[dict[str, Any]]) -> None:
    asyncio.run(deadline_missed(_context("scheduled", "scheduled__2026-11-22T03:15:00+00:00"), dag_id="bitsniper", seconds=120))
    assert len(posted) == 1
    body = json.dumps(posted[0]["body"])
    assert "120 s after its candle closed" in body and "2026-11-22T03:00:00Z" in body


def test_a_backfill_run_raises_no_deadline_alert(posted: list[dict[str, Any]]) -> None:
    asyncio.run(deadline_missed(_context("backfill", "backfill__2026-11-22T03:15:00+00:00"), dag_id="bitsniper", seconds=120))
    assert posted == []
