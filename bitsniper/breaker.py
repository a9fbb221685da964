"""The exchange circuit breaker: after N consecutive transport failures nothing is sent until a cool-down.

pybreaker keeps its state in memory; every Airflow task is a new process, so the state lives in the store
(``bitsniper.store.StoreBreakerStorage``, table ``circuit_breakers``) and a breaker opened by one run holds
for the next. Only transport failures count (``TransientExchangeError``, ``OrderStateUnknown``): a refused
order or a refused request is an answer, not an outage. ``throw_new_error_on_trip=False`` keeps the
original error on the call that trips the breaker, so an ``OrderStateUnknown`` is never hidden.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import pybreaker

from bitsniper.errors import CircuitOpen, OrderStateUnknown, TransientExchangeError
from bitsniper.exchange.base import (
    AccountInfo,
    Candle,
    Exchange,
    ExchangePosition,
    Fill,
    InstrumentSpec,
    OrderLookup,
    OrderRequest,
    OrderResult,
)
from bitsniper.store.breaker import StoreBreakerStorage
from bitsniper.store.db import SessionFactory

__all__ = ["breaker_name", "exchange_breaker", "breaker_from_settings", "is_transport_failure", "breaker_blocks", "GuardedExchange"]

if TYPE_CHECKING:
    from bitsniper.config import Settings

T = TypeVar("T")


def breaker_name(mode: str) -> str:
    """One breaker per trading mode: a dead simulator must not stop live trading, nor the reverse."""
    return f"exchange-{mode}"


def is_transport_failure(error: BaseException) -> bool:
    """True for the failures that say the exchange is unreachable or sick (they count towards opening)."""
    return isinstance(error, (TransientExchangeError, OrderStateUnknown)) and not isinstance(error, CircuitOpen)


def exchange_breaker(
    factory: SessionFactory, *, name: str, fail_max: int, reset_timeout_secs: float
) -> pybreaker.CircuitBreaker:
    """A breaker whose state is the store's row ``name``; settings ``breaker_fail_max``/``_reset_timeout_secs``."""
    return pybreaker.CircuitBreaker(
        fail_max=fail_max,
        reset_timeout=reset_timeout_secs,
        exclude=[lambda error: not is_transport_failure(error)],
        state_storage=StoreBreakerStorage(factory, name),
        name=name,
        throw_new_error_on_trip=False,
    )


def breaker_from_settings(factory: SessionFactory, settings: "Settings") -> pybreaker.CircuitBreaker:
    """The breaker of the configured mode with ``breaker_fail_max`` and ``breaker_reset_timeout_secs``."""
    return exchange_breaker(
        factory, name=breaker_name(settings.mode), fail_max=settings.breaker_fail_max,
        reset_timeout_secs=settings.breaker_reset_timeout_secs,
    )


def breaker_blocks(breaker: pybreaker.CircuitBreaker) -> bool:
    """True while the breaker is open and its cool-down has not passed (a call would be refused unsent)."""
    if breaker.current_state != pybreaker.STATE_OPEN:
        return False
    opened_at: datetime | None = breaker._state_storage.opened_at  # noqa: SLF001 - pybreaker has no public getter
    if opened_at is None:
        return False
    return datetime.now(timezone.utc) < opened_at + timedelta(seconds=breaker.reset_timeout)


class GuardedExchange:
    """An ``Exchange`` whose every call goes through the breaker; an open breaker raises ``CircuitOpen``.

    ``CircuitOpen`` is raised only when the wrapped call was NOT made, so an order refused this way was
    certainly not sent.
    """

    def __init__(self, exchange: Exchange, breaker: pybreaker.CircuitBreaker) -> None:
        self.exchange = exchange
        self.breaker = breaker

    def __repr__(self) -> str:
        return f"GuardedExchange({self.exchange!r}, breaker={self.breaker.name!r})"

    def _call(self, func: Callable[..., T], *args: Any) -> T:
        try:
            return self.breaker.call(func, *args)
        except pybreaker.CircuitBreakerError:
            raise CircuitOpen(
                f"circuit breaker {self.breaker.name!r} is open after repeated exchange failures; nothing was sent"
            ) from None

    def closed_candles_since(self, symbol: str, since_ms: int, now_ms: int) -> tuple[Candle, ...]:
        return self._call(self.exchange.closed_candles_since, symbol, since_ms, now_ms)

    def instrument(self, symbol: str) -> InstrumentSpec:
        return self._call(self.exchange.instrument, symbol)

    def account(self) -> AccountInfo:
        return self._call(self.exchange.account)

    def position(self, symbol: str) -> ExchangePosition:
        return self._call(self.exchange.position, symbol)

    def place_order(self, request: OrderRequest) -> OrderResult:
        return self._call(self.exchange.place_order, request)

    def order_by_cli_ord_id(self, cli_ord_id: str) -> OrderLookup:
        return self._call(self.exchange.order_by_cli_ord_id, cli_ord_id)

    def fills_since(self, since_ms: int) -> tuple[Fill, ...]:
        return self._call(self.exchange.fills_since, since_ms)

    def set_leverage(self, symbol: str, max_leverage: Decimal) -> None:
        self._call(self.exchange.set_leverage, symbol, max_leverage)
