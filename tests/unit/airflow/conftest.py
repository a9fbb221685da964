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
