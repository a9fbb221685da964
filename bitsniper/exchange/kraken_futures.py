"""The Kraken Futures exchange (``PF_XBTUSD``) behind BitSniper's ``Exchange`` protocol.

The raw client (``kraken_raw``) talks HTTP through python-kraken-sdk and classifies failures; the parsers
(``kraken_parse``) translate replies; this module formats requests (sizes and prices to the instrument's
precision, ``reduceOnly="true"``) and pages through candles and fills. It never retries and never sends an
order twice: retrying is the caller's decision, and only after looking the order up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from pydantic import SecretStr

from bitsniper.errors import ConfigError, ExchangeReplyError
from bitsniper.exchange.base import (
    AccountInfo,
    Candle,
    CandlePage,
    ExchangePosition,
    Fill,
    InstrumentSpec,
    OrderLookup,
    OrderRequest,
    OrderResult,
    OrderStatus,
    OrderType,
)
from bitsniper.exchange.kraken_parse import (
    format_time,
    parse_account,
    parse_candle_page,
    parse_fills,
    parse_instrument,
    parse_leverage_preferences,
    parse_open_orders,
    parse_order_statuses,
    parse_position,
    parse_send_status,
)
from bitsniper.exchange.kraken_raw import KrakenFuturesHttp

__all__ = ["KrakenFuturesConfig", "KrakenFuturesExchange", "format_size", "format_price", "LIVE_URL", "DEMO_URL"]

LIVE_URL = "https://futures.kraken.com"
DEMO_URL = "https://demo-futures.kraken.com"
_RESOLUTION_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
                  "4h": 14_400_000, "12h": 43_200_000, "1d": 86_400_000, "1w": 604_800_000}
_FILLS_PAGE = 100  # Kraken returns the newest 100 fills per call
_MAX_PAGES = 1000


@dataclass(frozen=True)
class KrakenFuturesConfig:
    """Where and how to reach Kraken Futures; keys are ``SecretStr`` so they never print."""

    api_key: SecretStr = field(repr=False)
    api_secret: SecretStr = field(repr=False)
    url: str = LIVE_URL
    http_timeout_secs: float = 10.0
    resolution: str = "15m"
    candle_page_count: int = 2000

    def __post_init__(self) -> None:
        if self.resolution not in _RESOLUTION_MS:
            raise ConfigError(f"resolution must be one of {', '.join(_RESOLUTION_MS)}")
        if self.http_timeout_secs <= 0:
            raise ConfigError("http_timeout_secs must be positive")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> "KrakenFuturesConfig":
        """Read ``BITSNIPER_KRAKEN_API_KEY``/``_API_SECRET``/``_URL``/``_HTTP_TIMEOUT_SECS``."""
        env = os.environ if env is None else env
        key, secret = env.get("BITSNIPER_KRAKEN_API_KEY", ""), env.get("BITSNIPER_KRAKEN_API_SECRET", "")
        if not key or not secret:
            raise ConfigError("BITSNIPER_KRAKEN_API_KEY and BITSNIPER_KRAKEN_API_SECRET must be set")
        values: dict[str, object] = {"api_key": SecretStr(key), "api_secret": SecretStr(secret)}
        if env.get("BITSNIPER_KRAKEN_URL"):
            values["url"] = env["BITSNIPER_KRAKEN_URL"]
        if env.get("BITSNIPER_KRAKEN_HTTP_TIMEOUT_SECS"):
            try:
                values["http_timeout_secs"] = float(env["BITSNIPER_KRAKEN_HTTP_TIMEOUT_SECS"])
            except ValueError:
                raise ConfigError("BITSNIPER_KRAKEN_HTTP_TIMEOUT_SECS must be a number") from None
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def _quantize(value: Decimal, step: Decimal, what: str) -> str:
    if value <= 0:
        raise ValueError(f"{what} must be positive, got {value}")
    steps = (value / step).to_integral_value(rounding=ROUND_DOWN)
    if steps * step != value:
        raise ValueError(f"{what} {value} is not a multiple of {step}")
    decimals = max(0, -step.normalize().as_tuple().exponent)  # type: ignore[operator]
    return f"{steps * step:.{decimals}f}"


def format_size(size: Decimal, spec: InstrumentSpec) -> str:
    """The size as Kraken wants it: a string at the contract's precision (``0.0123``); off-step raises."""
    if size < spec.min_size:
        raise ValueError(f"size {size} is below the minimum {spec.min_size}")
    return _quantize(size, spec.size_step, "size")


def format_price(price: Decimal, spec: InstrumentSpec) -> str:
    return _quantize(price, spec.tick_size, "price")


class KrakenFuturesExchange:
    """``Exchange`` on Kraken Futures (or the simulator, same protocol, via ``url``)."""

    def __init__(self, config: KrakenFuturesConfig, http: KrakenFuturesHttp | None = None) -> None:
        self.config = config
        self.http = http or KrakenFuturesHttp(
            config.url,
            config.api_key.get_secret_value(),
            config.api_secret.get_secret_value(),
            config.http_timeout_secs,
        )
        self._instruments: dict[str, InstrumentSpec] = {}

    def __repr__(self) -> str:
        return f"KrakenFuturesExchange(url={self.config.url!r})"

    # ----------------------------------------------------------------- market data

    def candle_page(self, symbol: str, from_ms: int | None, to_ms: int | None = None) -> CandlePage:
        """One charts page of trade candles; ``count`` goes through ``client.request`` (the SDK drops it)."""
        reply = self.http.charts(
            "trade", symbol, self.config.resolution,
            None if from_ms is None else from_ms // 1000,
            None if to_ms is None else to_ms // 1000,
            self.config.candle_page_count,
        )
        return parse_candle_page(reply)

    def closed_candles_since(self, symbol: str, since_ms: int, now_ms: int) -> tuple[Candle, ...]:
        """All closed candles with open time >= ``since_ms``, paging while ``more_candles``.

        A candle is closed when ``time + resolution <= now`` (T2): Kraken may send the forming one, which
        is dropped here.
        """
        candle_ms = _RESOLUTION_MS[self.config.resolution]
        found: dict[int, Candle] = {}
        cursor = since_ms
        for _ in range(_MAX_PAGES):
            page = self.candle_page(symbol, cursor)
            fresh = [c for c in page.candles if c.time >= cursor and c.time not in found]
            for candle in fresh:
                found[candle.time] = candle
            if not page.more_candles:
                break
            if not fresh:
                raise ExchangeReplyError("charts: more_candles is true but the page brought nothing new")
            cursor = max(c.time for c in fresh) + 1000  # from is in seconds and inclusive
        else:
            raise ExchangeReplyError(f"charts: still more_candles after {_MAX_PAGES} pages")
        return tuple(c for t, c in sorted(found.items()) if t >= since_ms and t + candle_ms <= now_ms)

    def instrument(self, symbol: str) -> InstrumentSpec:
        """The instrument's tick, size step and margin levels (cached: they do not change intraday)."""
        key = symbol.upper()
        if key not in self._instruments:
            self._instruments[key] = parse_instrument(self.http.instruments(), key)
        return self._instruments[key]

    # ----------------------------------------------------------------- account

    def account(self) -> AccountInfo:
        return parse_account(self.http.accounts())

    def position(self, symbol: str) -> ExchangePosition:
        return parse_position(self.http.openpositions(), symbol)

    def open_orders(self) -> tuple[OrderStatus, ...]:
        return parse_open_orders(self.http.openorders())

    def leverage_preferences(self) -> dict[str, Decimal]:
        return parse_leverage_preferences(self.http.leveragepreferences())

    def set_leverage(self, symbol: str, max_leverage: Decimal) -> None:
        """Make ``symbol`` isolated-margin with this cap (Kraken: setting a preference isolates it)."""
        if max_leverage <= 0:
            raise ValueError("max_leverage must be positive")
        self.http.set_leveragepreferences(symbol.upper(), format(max_leverage.normalize(), "f"))

    # ----------------------------------------------------------------- orders

    def place_order(self, request: OrderRequest) -> OrderResult:
        """Send one order. ``OrderRefused``: final; ``TransientExchangeError``: not sent;
        ``OrderStateUnknown``: may exist, look it up with ``order_by_cli_ord_id`` before anything else."""
        spec = self.instrument(request.symbol)
        params: dict[str, str] = {
            "orderType": request.order_type.value,
            "symbol": spec.symbol,
            "side": request.side.value,
            "size": format_size(request.size, spec),
            "cliOrdId": request.cli_ord_id,
        }
        if request.order_type is not OrderType.MARKET:
            if request.limit_price is None:
                raise ValueError(f"{request.order_type.value} orders need a limit price")
            params["limitPrice"] = format_price(request.limit_price, spec)
        if request.reduce_only:
            params["reduceOnly"] = "true"  # the SDK would send Python's "True"
        if request.process_before_ms is not None:
            # Kraken refuses the order if it is processed later (ISO time with ms and Z, as it documents)
            params["processBefore"] = format_time(request.process_before_ms)
        return parse_send_status(self.http.sendorder(params), request.cli_ord_id)

    def cancel_order(self, cli_ord_id: str) -> str:
        """Cancel by cliOrdId; returns Kraken's ``cancelStatus.status`` (``cancelled``, ``notFound``, ...)."""
        reply = self.http.cancelorder(cli_ord_id=cli_ord_id)
        status = reply.get("cancelStatus", {}).get("status") if isinstance(reply.get("cancelStatus"), dict) else None
        if not isinstance(status, str) or not status:
            raise ExchangeReplyError("cancelorder: cancelStatus.status is missing")
        return status

    def order_by_cli_ord_id(self, cli_ord_id: str) -> OrderLookup:
        """Look the order up everywhere Kraken may still know it: orders/status, openorders, fills."""
        statuses = tuple(s for s in parse_order_statuses(self.http.orders_status([cli_ord_id])) if s.cli_ord_id == cli_ord_id)
        open_orders = tuple(o for o in self.open_orders() if o.cli_ord_id == cli_ord_id)
        fills = tuple(f for f in parse_fills(self.http.fills()) if f.cli_ord_id == cli_ord_id)
        return OrderLookup(cli_ord_id, statuses, open_orders, fills)

    def fills_since(self, since_ms: int) -> tuple[Fill, ...]:
        """Fills at or after ``since_ms``, oldest first, paging back with ``lastFillTime``."""
        found: dict[str, Fill] = {}
        last_fill_time: str | None = None
        for _ in range(_MAX_PAGES):
            page = parse_fills(self.http.fills(last_fill_time))
            fresh = [f for f in page if f.fill_id not in found]
            for fill in fresh:
                found[fill.fill_id] = fill
            if len(page) < _FILLS_PAGE or not fresh:
                break
            oldest = min(f.time for f in page)
            if oldest < since_ms:
                break
            last_fill_time = format_time(oldest)
        return tuple(sorted((f for f in found.values() if f.time >= since_ms), key=lambda f: (f.time, f.fill_id)))
