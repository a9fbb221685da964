"""A local HTTP endpoint that records what the alert webhook posts to it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class WebhookSink:
    base: str
    received: list[dict[str, Any]] = field(default_factory=list)  # {"path": ..., "body": ...}


@pytest.fixture
def webhook() -> Iterator[WebhookSink]:
    sink = WebhookSink(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            sink.received.append({"path": self.path, "body": body})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink.base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield sink
    server.shutdown()


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

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            endpoint.requests += 1
            body = json.dumps(endpoint.payload).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/api/v2/monitor/health"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield endpoint
    server.shutdown()
