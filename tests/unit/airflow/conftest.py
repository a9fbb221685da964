"""Local HTTP endpoints for the Airflow-side tests: one that records what the alert webhook posts, one that
answers as Airflow's /api/v2/monitor/health does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.local_http import JsonHandler, serving


@dataclass
class WebhookSink:
    base: str
    received: list[dict[str, Any]] = field(default_factory=list)  # {"path": ..., "body": ...}


@pytest.fixture
def webhook() -> Iterator[WebhookSink]:
    sink = WebhookSink(base="")

    class Handler(JsonHandler):
        def do_POST(self) -> None:  # noqa: N802
            sink.received.append({"path": self.path, "body": json.loads(self.body())})
            self.send_response(204)
            self.end_headers()

    with serving(Handler) as sink.base:
        yield sink


@dataclass
class HealthEndpoint:
    """Answers GET with ``payload``, shaped as Airflow 3.3's /api/v2/monitor/health answers."""

    url: str
    payload: dict[str, Any] = field(default_factory=dict)
    requests: int = 0


def airflow_health(scheduler: str | None = "healthy", triggerer: str | None = "healthy",
                   dag_processor: str | None = "healthy", metadatabase: str = "healthy") -> dict[str, Any]:
    beat = "2026-11-22T07:45:03.123456+00:00"
    return {
        "metadatabase": {"status": metadatabase},
        "scheduler": {"status": scheduler, "latest_scheduler_heartbeat": beat},
        "triggerer": {"status": triggerer, "latest_triggerer_heartbeat": beat},
        "dag_processor": {"status": dag_processor, "latest_dag_processor_heartbeat": beat},
    }


@pytest.fixture
def health_endpoint() -> Iterator[HealthEndpoint]:
    endpoint = HealthEndpoint(url="", payload=airflow_health())

    class Handler(JsonHandler):
        def do_GET(self) -> None:  # noqa: N802
            endpoint.requests += 1
            self.reply_json(200, endpoint.payload)

    with serving(Handler) as base:
        endpoint.url = f"{base}/api/v2/monitor/health"
        yield endpoint
