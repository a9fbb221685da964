"""The simulator's HTTP face: a FastAPI app serving Kraken Futures' real paths at the root.

python-kraken-sdk drops any path after the host, so ``url="http://127.0.0.1:PORT"`` must reach
``/derivatives/api/v3/...`` and ``/api/charts/v1/...`` here. Private calls are checked like Kraken does:
key and ``Authent`` over (query string + form body + nonce + path), then the nonce, then the rate limit;
every refusal is HTTP 200 ``{"result":"error","error":CODE}``. ``processBefore`` is compared with the real
wall clock (``deadline_clock``), not the market clock: it bounds time in transit, which passes in real time
even when a test drives the market with a manual clock.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bitsniper.candles import Candles, read_candles_csv
from bitsniper.simulator import payloads
from bitsniper.simulator.auth import Authenticator, Credentials
from bitsniper.simulator.clock import Clock, SystemClock, iso_ms, parse_iso_ms
from bitsniper.simulator.faults import (
    FILL_FRACTION_SCOPE_KEY,
    HOLD_SCOPE_KEY,
    FaultMiddleware,
    FaultPlan,
    FaultSpec,
)
from bitsniper.simulator.market import CandleMarket, shift_to_latest_closed
from bitsniper.simulator.ratelimit import RateLimiter, cost_of
from bitsniper.simulator.state import ORDER_TYPES, ExchangeState, OrderInput

__all__ = ["Simulator", "build_simulator", "create_app", "DEFAULT_CANDLES"]

DEFAULT_CANDLES = Path(__file__).resolve().parents[2] / "include" / "sample_candles_15m.csv.gz"
_API = "/derivatives/api/v3"
_RESOLUTIONS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
                "4h": 14_400_000, "12h": 43_200_000, "1d": 86_400_000, "1w": 604_800_000}
_MAX_CLI_ORD_ID = 100


class _Refused(Exception):
    """A request refused with a Kraken error code (HTTP 200, result error)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Simulator:
    """Everything one simulated exchange holds; tests reach in to set the clock, add faults, read state."""

    state: ExchangeState
    market: CandleMarket
    clock: Clock
    credentials: Credentials
    faults: FaultPlan = field(default_factory=FaultPlan)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    include_forming: bool = True
    requests: dict[str, int] = field(default_factory=dict)
    deadline_clock: Clock = field(default_factory=SystemClock)

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def price(self) -> Decimal:
        return self.market.price_at(self.now_ms())

    def tick(self) -> None:
        """Let the state see the current price (resting orders, liquidations) before serving a call."""
        self.state.on_price(self.now_ms(), self.price())


def build_simulator(
    api_key: str,
    api_secret: str,
    candles: Candles | str | Path = DEFAULT_CANDLES,
    *,
    balance: Decimal | float | str = Decimal("10000"),
    clock: Clock | None = None,
    faults: list[FaultSpec | str] | None = None,
    rate_budget: int = 500,
    include_forming: bool = True,
    candle_ms: int = 900_000,
    page_limit: int = 2000,
    history: int | None = None,
) -> Simulator:
    """Assemble a simulator; without a clock it replays the file shifted so its last candle (candle
    ``history - 1`` when given, the rest coming live) just closed."""
    data = candles if isinstance(candles, Candles) else read_candles_csv(candles)
    if clock is None:
        clock = SystemClock()
        data = shift_to_latest_closed(data, clock.now_ms(), candle_ms, history)
    plan = FaultPlan()
    for spec in faults or []:
        plan.add(spec)
    return Simulator(
        state=ExchangeState(balance=Decimal(str(balance))),
        market=CandleMarket(data, candle_ms, page_limit),
        clock=clock,
        credentials=Credentials(api_key, api_secret),
        faults=plan,
        limiter=RateLimiter(rate_budget),
        include_forming=include_forming,
    )


def _params(query: str, body: str) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for source in (query, body):
        for key, values in parse_qs(source, keep_blank_values=True).items():
            merged.setdefault(key, []).extend(values)
    return merged


def _one(params: dict[str, list[str]], name: str, required: bool = False) -> str | None:
    values = params.get(name)
    if not values or values[0] == "":
        if required:
            raise _Refused("requiredArgumentMissing")
        return None
    return values[0]


def _decimal(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _Refused("invalidArgument") from None
    if not value.is_finite():
        raise _Refused("invalidArgument")
    return value


def _bool(text: str | None) -> bool:
    if text is None:
        return False
    if text not in ("true", "false"):
        # The SDK sends a Python True as "True"; Kraken documents the lower-case JSON words. Refusing
        # anything else makes a client that forgot to pass "true" fail loudly here rather than live.
        raise _Refused("invalidArgument")
    return text == "true"


def create_app(sim: Simulator) -> FaultMiddleware:
    """The ASGI app: FastAPI routes behind the fault-injection middleware."""
    api = FastAPI(title="BitSniper Kraken Futures simulator", docs_url=None, redoc_url=None, openapi_url=None)
    sim_auth = Authenticator(sim.credentials)

    def reply(body: dict[str, Any]) -> JSONResponse:
        return JSONResponse(body)

    async def private(request: Request, endpoint: str) -> dict[str, list[str]]:
        sim.requests[endpoint] = sim.requests.get(endpoint, 0) + 1
        raw_body = (await request.body()).decode("utf-8", errors="replace")
        query = request.url.query
        code = sim_auth.check(
            request.headers.get("APIKey"),
            request.headers.get("Authent"),
            request.headers.get("Nonce"),
            query + raw_body,
            request.url.path,
        )
        if code is not None:
            raise _Refused(code)
        if not sim.limiter.try_spend(cost_of(endpoint), sim.now_ms()):
            raise _Refused("apiLimitExceeded")
        hold = request.scope.get(HOLD_SCOPE_KEY)
        if hold:  # accepted at the gateway, processed later (the ``hold`` fault)
            await asyncio.sleep(float(hold))
        sim.tick()
        return _params(query, raw_body)

    @api.exception_handler(_Refused)
    async def _refused(_: Request, exc: _Refused) -> JSONResponse:
        return reply(payloads.error(sim.now_ms(), exc.code))

    @api.get("/api/charts/v1/{tick_type}/{symbol}/{resolution}")
    async def charts(tick_type: str, symbol: str, resolution: str, request: Request) -> JSONResponse:
        sim.requests["charts"] = sim.requests.get("charts", 0) + 1
        q = request.query_params
        if tick_type not in ("trade", "mark", "spot") or resolution not in _RESOLUTIONS:
            return JSONResponse({"error": "invalid tick type or resolution"}, status_code=400)
        if symbol.upper() != sim.state.rules.symbol or _RESOLUTIONS[resolution] != sim.market.candle_ms:
            return reply({"candles": [], "more_candles": False})
        try:
            from_s = int(q["from"]) if "from" in q else None
            to_s = int(q["to"]) if "to" in q else None
            count = int(q["count"]) if "count" in q else None
        except ValueError:
            return JSONResponse({"error": "invalid from/to/count"}, status_code=400)
        page = sim.market.chart(sim.now_ms(), from_s, to_s, count, sim.include_forming)
        rows = page.candles
        if tick_type != "trade":  # only trade candles carry volume
            rows = [{**row, "volume": 0} for row in rows]
        return reply({"candles": rows, "more_candles": page.more_candles})

    @api.get(f"{_API}/instruments")
    async def instruments() -> JSONResponse:
        sim.requests["instruments"] = sim.requests.get("instruments", 0) + 1
        return reply(payloads.success(sim.now_ms(), instruments=[payloads.instrument_payload(sim.state.rules)]))

    @api.get(f"{_API}/accounts")
    async def accounts(request: Request) -> JSONResponse:
        await private(request, "accounts")
        snapshot = sim.state.account(sim.price())
        return reply(payloads.success(sim.now_ms(), accounts=payloads.account_payload(snapshot)))

    @api.get(f"{_API}/openpositions")
    async def openpositions(request: Request) -> JSONResponse:
        await private(request, "openpositions")
        with sim.state.lock:
            rows = payloads.position_payloads(sim.state)
        return reply(payloads.success(sim.now_ms(), openPositions=rows))

    @api.get(f"{_API}/openorders")
    async def openorders(request: Request) -> JSONResponse:
        await private(request, "openorders")
        rows = [payloads.open_order_payload(o) for o in sim.state.open_orders()]
        return reply(payloads.success(sim.now_ms(), openOrders=rows))

    @api.get(f"{_API}/fills")
    async def fills(request: Request) -> JSONResponse:
        params = await private(request, "fills")
        last = _one(params, "lastFillTime")
        before: int | None = None
        if last is not None:
            try:
                before = parse_iso_ms(last)
            except ValueError:
                raise _Refused("invalidArgument") from None
        rows = [payloads.fill_payload(f) for f in sim.state.fills_before(before)]
        return reply(payloads.success(sim.now_ms(), fills=rows))

    @api.post(f"{_API}/sendorder")
    async def sendorder(request: Request) -> JSONResponse:
        params = await private(request, "sendorder")
        order_type = _one(params, "orderType", required=True)
        symbol = _one(params, "symbol", required=True)
        side = _one(params, "side", required=True)
        size = _decimal(_one(params, "size", required=True))
        cli_ord_id = _one(params, "cliOrdId")
        limit_price = _decimal(_one(params, "limitPrice"))
        reduce_only = _bool(_one(params, "reduceOnly"))
        process_before = _one(params, "processBefore")
        try:
            process_before_ms = None if process_before is None else parse_iso_ms(process_before)
        except ValueError:
            raise _Refused("invalidArgument") from None
        if order_type not in ORDER_TYPES or side not in ("buy", "sell"):
            raise _Refused("invalidArgument")
        if (symbol or "").upper() != sim.state.rules.symbol:
            raise _Refused("invalidArgument")
        if order_type != "mkt" and limit_price is None:
            raise _Refused("requiredArgumentMissing")
        if cli_ord_id is not None and len(cli_ord_id) > _MAX_CLI_ORD_ID:
            raise _Refused("invalidArgument")
        assert size is not None
        request_in = OrderInput(
            sim.state.rules.symbol, side, order_type, size, cli_ord_id,
            limit_price if order_type != "mkt" else None, reduce_only, process_before_ms,
        )
        fraction = Decimal(str(request.scope.get(FILL_FRACTION_SCOPE_KEY, "1")))
        outcome = sim.state.send_order(
            request_in, sim.now_ms(), sim.price(), wall_ms=sim.deadline_clock.now_ms(), fill_fraction=fraction
        )
        return reply(payloads.success(sim.now_ms(), sendStatus=payloads.send_status_payload(outcome)))

    @api.post(f"{_API}/orders/status")
    async def orders_status(request: Request) -> JSONResponse:
        params = await private(request, "orders/status")
        orders = sim.state.orders_status(params.get("orderIds", []), params.get("cliOrdIds", []), sim.now_ms())
        return reply(payloads.success(sim.now_ms(), orders=[payloads.order_status_payload(o) for o in orders]))

    @api.post(f"{_API}/cancelorder")
    async def cancelorder(request: Request) -> JSONResponse:
        params = await private(request, "cancelorder")
        order_id, cli_ord_id = _one(params, "order_id"), _one(params, "cliOrdId")
        if order_id is None and cli_ord_id is None:
            raise _Refused("requiredArgumentMissing")
        now = sim.now_ms()
        status, order = sim.state.cancel_order(order_id, cli_ord_id, now)
        body: dict[str, Any] = {"status": status, "receivedTime": iso_ms(now)}
        if order is not None:
            body["order_id"] = order.order_id
            body["cliOrdId"] = order.cli_ord_id
            event_order = payloads.order_status_payload(order)["order"]
            body["orderEvents"] = [{"uid": order.order_id, "order": event_order, "type": "CANCEL"}]
        return reply(payloads.success(now, cancelStatus=body))

    @api.get(f"{_API}/leveragepreferences")
    async def get_leverage(request: Request) -> JSONResponse:
        await private(request, "leveragepreferences")
        rows = [{"symbol": s, "maxLeverage": float(v)} for s, v in sim.state.leverage.items()]
        return reply(payloads.success(sim.now_ms(), leveragePreferences=rows))

    @api.put(f"{_API}/leveragepreferences")
    async def put_leverage(request: Request) -> JSONResponse:
        params = await private(request, "leveragepreferences")
        symbol = (_one(params, "symbol", required=True) or "").upper()
        leverage = _decimal(_one(params, "maxLeverage"))
        if symbol != sim.state.rules.symbol:
            raise _Refused("invalidArgument")
        if leverage is not None and not (1 <= leverage <= sim.state.rules.cross_max_leverage):
            raise _Refused("invalidArgument")
        sim.state.set_leverage(symbol, leverage)
        return reply(payloads.success(sim.now_ms()))

    return FaultMiddleware(api, sim.faults, lambda: iso_ms(sim.now_ms()))
