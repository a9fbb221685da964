"""Helpers of the operator tests: trades written through the store's own API, a local HTTP stub."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bitsniper.store import OrderIntent, SessionFactory, record_decision, record_fills, record_order_intent, transition_order
from bitsniper.store.records import FillRecord, datetime_to_ms
from bitsniper.strategy.state import Action, Decision, PositionType, StrategyState

SYMBOL = "PF_XBTUSD"
CANDLE_MS = 900_000


def record_trade(
    factory: SessionFactory, *, mode: str, side: str, entry_price: str, exit_price: str | None, size: str = "0.01",
    entry_at: datetime, exit_at: datetime | None = None, fee: str | None = None, ptype: PositionType | None = None,
) -> None:
    """One round trip as execution records it: a decision per order, intent -> sent -> acknowledged -> filled."""
    ptype = ptype or (PositionType.LONG_VI1 if side == "long" else PositionType.SHORT)
    legs = [("open", entry_at, entry_price)] + ([("close", exit_at, exit_price)] if exit_price is not None else [])
    for kind, at, price in legs:
        assert at is not None
        candle = datetime_to_ms(at) // CANDLE_MS * CANDLE_MS - CANDLE_MS
        rule = ("E2" if side == "long" else "E1") if kind == "open" else "X2"
        action = Action(kind, ptype, side, rule, candle, candle + CANDLE_MS, float(size), 0)  # type: ignore[arg-type]
        stored, _ = record_decision(
            factory, mode=mode, symbol=SYMBOL,  # type: ignore[arg-type]
            decision=Decision(candle, "ok", (action,), StrategyState(last_decision_time=candle)), state_before=None,
        )
        cli = f"{stored.id}-a0"
        record_order_intent(
            factory,
            OrderIntent(cli, mode, SYMBOL, action.order_side, Decimal(size), reduce_only=action.reduce_only,  # type: ignore[arg-type]
                        decision_id=stored.id, action_index=0),
            at=at - timedelta(seconds=2),
        )
        transition_order(factory, cli, "sent", at=at - timedelta(seconds=1))
        transition_order(factory, cli, "acknowledged", at=at)
        transition_order(factory, cli, "filled", at=at, filled_size=Decimal(size), average_price=Decimal(price))
        if fee is not None:
            record_fills(factory, [FillRecord(f"fill-{cli}", SYMBOL, action.order_side, Decimal(size), Decimal(price), at,  # type: ignore[arg-type]
                                              cli_ord_id=cli, fee=Decimal(fee))])


@dataclass
class HttpStub:
    """An HTTP server on 127.0.0.1 that records each POST (path, JSON body) and answers ``status``."""

    url: str
    requests: list[tuple[str, Any]] = field(default_factory=list)
    status: int = 200

    @classmethod
    @contextmanager
    def running(cls) -> Iterator["HttpStub"]:
        holder: dict[str, HttpStub] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                stub = holder["stub"]
                stub.requests.append((self.path, json.loads(body or b"null")))
                self.send_response(stub.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        stub = cls(url=f"http://127.0.0.1:{server.server_address[1]}")
        holder["stub"] = stub
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield stub
        finally:
            server.shutdown()
            server.server_close()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)
