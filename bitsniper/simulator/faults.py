"""Fault injection per endpoint, so tests can reproduce every way a Kraken call goes wrong.

A fault is written ``ENDPOINT:KIND[=VALUE][:COUNT]`` (``--fault`` on the command line, repeatable):

- ``ENDPOINT``: the path after ``/derivatives/api/v3/`` (``sendorder``, ``orders/status``, ``accounts``,
  ``openpositions``, ``openorders``, ``fills``, ``cancelorder``, ``leveragepreferences``, ``instruments``),
  or ``charts`` for ``/api/charts/...``, or ``*`` for every endpoint.
- ``KIND`` (the request is NOT applied unless the kind ends in ``_after_apply``):
  ``delay=SECS`` read the request, hold it, then handle it normally: it is applied late, possibly after
  the client gave up; authentication and the nonce are checked when it is handled, so a later request
  with a higher nonce that overtook it makes it ``nonceBelowThreshold`` (as on Kraken);
  ``hold=SECS`` the exchange accepts the request at once (key, signature, nonce and rate limit are checked
  on arrival, as a gateway would) and processes it SECS later, replying then: a request queued inside the
  venue, which later requests cannot make ``nonceBelowThreshold``; only ``processBefore`` stops it;
  ``partial=FRACTION`` (0 < FRACTION < 1) ``sendorder`` only: fill that share of a marketable order
  (floored to the size step); a ``mkt``/``ioc`` order's rest is cancelled (IOC with price protection);
  ``timeout`` no reply: hold the request until the client disconnects (``=SECS`` caps the wait, default 60);
  ``drop`` close the connection without a reply;
  ``http=CODE`` answer HTTP 500/502/503/429 (any 4xx/5xx) with a plain-text body;
  ``error=CODE`` answer HTTP 200 ``{"result":"error","error":CODE}`` (``Server Error``, ``apiLimitExceeded``,
  ``Unavailable``, ``nonceDuplicate``, ...);
  ``malformed`` answer HTTP 200 with a truncated JSON body;
  ``drop_after_apply``, ``timeout_after_apply``, ``malformed_after_apply``: process the request (an order
  is executed), then drop / withhold / garble the reply: the lost-reply hazard.
- ``COUNT``: how many matching requests the fault hits (default 1), or ``always``.

Examples: ``sendorder:drop_after_apply:2``, ``accounts:http=503``, ``fills:error=Server Error:always``,
``sendorder:delay=2.5``, ``sendorder:hold=1.5``, ``sendorder:partial=0.5``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FAULT_KINDS",
    "FaultSpec",
    "FaultPlan",
    "FaultMiddleware",
    "parse_fault",
    "endpoint_of",
    "HOLD_SCOPE_KEY",
    "FILL_FRACTION_SCOPE_KEY",
]

FAULT_KINDS = (
    "delay",
    "hold",
    "partial",
    "timeout",
    "drop",
    "http",
    "error",
    "malformed",
    "drop_after_apply",
    "timeout_after_apply",
    "malformed_after_apply",
)
_NEEDS_VALUE = {"delay", "hold", "partial", "http", "error"}
# The app reads these from the ASGI scope: the fault cannot act from outside the request's handling.
HOLD_SCOPE_KEY = "bitsniper.hold_secs"
FILL_FRACTION_SCOPE_KEY = "bitsniper.fill_fraction"
_DEFAULT_TIMEOUT_SECS = 60.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One parsed fault: where, what, with which value, how many times (None = always)."""

    endpoint: str
    kind: str
    value: str | None = None
    count: int | None = 1

    @property
    def applies_request(self) -> bool:
        return self.kind.endswith("_after_apply") or self.kind in ("delay", "hold", "partial")


def parse_fault(text: str) -> FaultSpec:
    """Parse ``ENDPOINT:KIND[=VALUE][:COUNT]``; a bad spec raises ValueError naming the problem."""
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise ValueError(f"fault {text!r}: expected ENDPOINT:KIND[=VALUE][:COUNT]")
    endpoint = parts[0].strip().strip("/")
    kind, _, value = parts[1].partition("=")
    kind = kind.strip()
    if kind not in FAULT_KINDS:
        raise ValueError(f"fault {text!r}: unknown kind {kind!r}; kinds: {', '.join(FAULT_KINDS)}")
    if kind in _NEEDS_VALUE and not value:
        raise ValueError(f"fault {text!r}: {kind} needs a value ({kind}=...)")
    if kind == "http" and not (value.isdigit() and 400 <= int(value) <= 599):
        raise ValueError(f"fault {text!r}: http needs a 4xx/5xx status code")
    if kind == "partial":
        try:
            if not 0 < float(value) < 1:
                raise ValueError
        except ValueError:
            raise ValueError(f"fault {text!r}: partial needs a fraction between 0 and 1 (exclusive)") from None
    if kind in ("delay", "hold", "timeout", "timeout_after_apply") and value:
        try:
            if float(value) < 0:
                raise ValueError
        except ValueError:
            raise ValueError(f"fault {text!r}: {kind} needs a non-negative number of seconds") from None
    count: int | None = 1
    if len(parts) == 3:
        raw = parts[2].strip()
        if raw == "always":
            count = None
        elif raw.isdigit() and int(raw) > 0:
            count = int(raw)
        else:
            raise ValueError(f"fault {text!r}: COUNT must be a positive integer or 'always'")
    return FaultSpec(endpoint, kind, value or None, count)


def endpoint_of(path: str) -> str:
    """The fault/rate-limit name of a request path (``/derivatives/api/v3/orders/status`` -> ``orders/status``)."""
    if path.startswith("/api/charts/"):
        return "charts"
    return path.removeprefix("/derivatives").removeprefix("/api/v3/").strip("/")


class FaultPlan:
    """The faults still to fire; each match consumes one count. Tests add and inspect faults at run time."""

    def __init__(self, specs: list[FaultSpec] | None = None) -> None:
        self._lock = threading.Lock()
        self._remaining: list[list[Any]] = []  # [spec, remaining count or None]
        self.fired: list[FaultSpec] = []
        for spec in specs or []:
            self.add(spec)

    def add(self, spec: FaultSpec | str) -> None:
        parsed = parse_fault(spec) if isinstance(spec, str) else spec
        with self._lock:
            self._remaining.append([parsed, parsed.count])

    def clear(self) -> None:
        with self._lock:
            self._remaining.clear()

    def take(self, endpoint: str) -> FaultSpec | None:
        """The first fault matching ``endpoint``, consuming one of its counts."""
        with self._lock:
            for entry in self._remaining:
                spec, left = entry
                if spec.endpoint in (endpoint, "*"):
                    if left is not None:
                        entry[1] = left - 1
                        if entry[1] == 0:
                            self._remaining.remove(entry)
                    self.fired.append(spec)
                    return spec
            return None


async def _drop_connection(send: Send) -> None:
    """Reset the TCP connection so the client sees no reply at all.

    ASGI has no 'drop' message; uvicorn's ``send`` is a bound method of the request cycle, which holds
    the transport. Where that is not reachable, fall back to a malformed HTTP reply.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
        await asyncio.sleep(0)
        return
    await _send_raw(send, 200, b'{"result":"succ', "application/json")


async def _wait_for_disconnect(receive: Receive, cap_secs: float) -> None:
    """Hold the request until the client hangs up (its timeout) or ``cap_secs`` pass."""
    async def _loop() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    try:
        await asyncio.wait_for(_loop(), timeout=cap_secs)
    except asyncio.TimeoutError:
        pass


async def _buffer_request(receive: Receive) -> Receive:
    """Read the whole request body now and hand it back later, as if it had just arrived."""
    buffered: list[Message] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        buffered.append(message)
        if not message.get("more_body"):
            break

    async def _replay() -> Message:
        if buffered:
            return buffered.pop(0)
        return await receive()

    return _replay


async def _send_raw(send: Send, status: int, body: bytes, content_type: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class FaultMiddleware:
    """ASGI middleware in front of the simulator app that fires the planned faults."""

    def __init__(self, app: ASGIApp, plan: FaultPlan, server_time: Callable[[], str]) -> None:
        self.app = app
        self.plan = plan
        self.server_time = server_time

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        spec = self.plan.take(endpoint_of(scope["path"]))
        if spec is None:
            await self.app(scope, receive, send)
            return
        kind, value = spec.kind, spec.value
        if kind == "delay":
            # The request has reached the exchange: read it now, process it after the delay even if the
            # client has given up by then (a late execution the client never hears about).
            replay = await _buffer_request(receive)
            await asyncio.sleep(float(value or 0))
            await self.app(scope, replay, send)
        elif kind == "hold":
            await self.app({**scope, HOLD_SCOPE_KEY: float(value or 0)}, receive, send)
        elif kind == "partial":
            await self.app({**scope, FILL_FRACTION_SCOPE_KEY: value}, receive, send)
        elif kind == "timeout":
            await _wait_for_disconnect(receive, float(value or _DEFAULT_TIMEOUT_SECS))
            await _drop_connection(send)
        elif kind == "drop":
            await _drop_connection(send)
        elif kind == "http":
            code = int(value or 500)
            await _send_raw(send, code, f"{code} simulated fault".encode(), "text/plain")
        elif kind == "error":
            body = json.dumps({"result": "error", "serverTime": self.server_time(), "error": value}).encode()
            await _send_raw(send, 200, body, "application/json")
        elif kind == "malformed":
            await _send_raw(send, 200, b'{"result":"success","serverTime":', "application/json")
        else:
            captured: list[Message] = []

            async def _capture(message: Message) -> None:
                captured.append(message)

            await self.app(scope, receive, _capture)  # the request IS applied
            if kind == "drop_after_apply":
                await _drop_connection(send)
            elif kind == "timeout_after_apply":
                await _wait_for_disconnect(receive, float(value or _DEFAULT_TIMEOUT_SECS))
                await _drop_connection(send)
            else:  # malformed_after_apply
                body = b"".join(m.get("body", b"") for m in captured if m["type"] == "http.response.body")
                await _send_raw(send, 200, body[: max(1, len(body) // 2)], "application/json")
