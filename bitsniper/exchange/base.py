"""The exchange protocol every adapter (Kraken Futures, paper) implements, and its value types.

Values are frozen dataclasses with ``Decimal`` prices and sizes (the store keeps them as Numeric). Times
are epoch milliseconds (UTC). Everything execution needs to be exactly-once is here: look an order up by
``cliOrdId`` across ``orders/status`` (5-s window), ``openorders`` and ``fills``, and read the position.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol, runtime_checkable

import numpy as np

from bitsniper.candles import Candles

__all__ = [
    "OrderSide",
    "PositionSide",
    "OrderType",
    "OrderState",
    "FillType",
    "Candle",
    "CandlePage",
    "InstrumentSpec",
    "AccountInfo",
    "ExchangePosition",
    "OrderRequest",
    "Execution",
    "OrderResult",
    "OrderStatus",
    "Fill",
    "OrderLookup",
    "Exchange",
    "candles_to_frame",
    "DEADLINE_PASSED",
]

# The refusal status of an order that reached the exchange after its ``processBefore`` deadline: proven not
# executed (and never will be), so another attempt with a new cliOrdId is safe.
DEADLINE_PASSED = "processBeforeExpired"


class OrderSide(enum.Enum):
    BUY = "buy"
    SELL = "sell"


class PositionSide(enum.Enum):
    LONG = "long"
    SHORT = "short"


class OrderType(enum.Enum):
    MARKET = "mkt"
    LIMIT = "lmt"
    IMMEDIATE_OR_CANCEL = "ioc"
    POST_ONLY = "post"


class OrderState(enum.Enum):
    """Where an order stands; ``orders/status`` values are mapped one by one in the parser."""

    OPEN = "open"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    TRIGGER_PLACED = "trigger_placed"


class FillType(enum.Enum):
    MAKER = "maker"
    TAKER = "taker"
    LIQUIDATION = "liquidation"
    ASSIGNOR = "assignor"
    ASSIGNEE = "assignee"
    TAKER_AFTER_EDIT = "takerAfterEdit"
    UNWIND_BANKRUPT = "unwindBankrupt"
    UNWIND_COUNTERPARTY = "unwindCounterparty"


@dataclass(frozen=True, slots=True)
class Candle:
    """One candle; ``time`` is the bucket open in epoch ms."""

    time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True)
class CandlePage:
    """One charts reply: candles (oldest first) and whether Kraken has more after them."""

    candles: tuple[Candle, ...]
    more_candles: bool


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    symbol: str
    tick_size: Decimal
    size_step: Decimal  # 10 ** -contractValueTradePrecision
    min_size: Decimal
    max_position_size: Decimal
    initial_margin_rate: Decimal
    maintenance_margin_rate: Decimal
    tradeable: bool

    @property
    def size_decimals(self) -> int:
        return max(0, -self.size_step.normalize().as_tuple().exponent)  # type: ignore[operator]

    @property
    def price_decimals(self) -> int:
        return max(0, -self.tick_size.normalize().as_tuple().exponent)  # type: ignore[operator]


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """The flex (multi-collateral) account in USD."""

    available_margin: Decimal
    equity: Decimal  # marginEquity
    balance: Decimal  # balanceValue
    portfolio_value: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal


@dataclass(frozen=True, slots=True)
class ExchangePosition:
    """The exchange's position in one symbol; flat is ``side=None, size=0``."""

    symbol: str
    side: PositionSide | None
    size: Decimal  # always >= 0
    entry_price: Decimal | None

    @property
    def signed_size(self) -> Decimal:
        if self.side is PositionSide.SHORT:
            return -self.size
        return self.size

    @property
    def is_flat(self) -> bool:
        return self.side is None or self.size == 0


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A market order as execution asks for it; ``cli_ord_id`` is derived from the decision id.

    ``process_before_ms`` (epoch ms) becomes Kraken's ``processBefore``: a request still in transit after it
    is refused instead of executed, so a lost request cannot fill after execution has given up on it and
    sent another attempt (kraken_futures.md "Idempotency").
    """

    cli_ord_id: str
    symbol: str
    side: OrderSide
    size: Decimal
    reduce_only: bool = False
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    process_before_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Execution:
    """One EXECUTION event of a sendorder reply."""

    execution_id: str
    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class OrderResult:
    """A placed order (``sendStatus.status == "placed"``) and what filled at once."""

    order_id: str
    cli_ord_id: str
    received_time: int
    executions: tuple[Execution, ...] = ()

    @property
    def filled_size(self) -> Decimal:
        return sum((e.size for e in self.executions), Decimal(0))

    @property
    def average_price(self) -> Decimal | None:
        size = self.filled_size
        if size == 0:
            return None
        return sum((e.price * e.size for e in self.executions), Decimal(0)) / size


@dataclass(frozen=True, slots=True)
class OrderStatus:
    """An order as ``orders/status`` or ``openorders`` reports it."""

    order_id: str
    cli_ord_id: str | None
    symbol: str
    side: OrderSide
    state: OrderState
    quantity: Decimal
    filled: Decimal
    reduce_only: bool
    last_update_time: int


@dataclass(frozen=True, slots=True)
class Fill:
    fill_id: str
    order_id: str
    cli_ord_id: str | None
    symbol: str
    side: OrderSide
    size: Decimal
    price: Decimal
    time: int
    fill_type: FillType


@dataclass(frozen=True, slots=True)
class OrderLookup:
    """Everything the exchange knows about one ``cliOrdId`` right now.

    ``found`` is False only when ``orders/status``, ``openorders`` and the recent ``fills`` all miss it.
    Absence is not proof: ``orders/status`` forgets closed orders after 5 s and ``fills`` keeps the newest
    100, so execution also compares the position before it sends again.
    """

    cli_ord_id: str
    statuses: tuple[OrderStatus, ...] = ()
    open_orders: tuple[OrderStatus, ...] = ()
    fills: tuple[Fill, ...] = field(default=())

    @property
    def found(self) -> bool:
        return bool(self.statuses or self.open_orders or self.fills)

    @property
    def filled_size(self) -> Decimal:
        """Filled size: the fills' sum, or the status's ``filled`` when the fills are not visible."""
        from_fills = sum((f.size for f in self.fills), Decimal(0))
        from_status = max((s.filled for s in (*self.statuses, *self.open_orders)), default=Decimal(0))
        return max(from_fills, from_status)

    @property
    def is_open(self) -> bool:
        return any(s.state is OrderState.OPEN for s in (*self.statuses, *self.open_orders))


@runtime_checkable
class Exchange(Protocol):
    """What the pipeline needs from an exchange. Reads may raise ``TransientExchangeError`` (retry);
    ``place_order`` may raise ``OrderRefused`` (final), ``TransientExchangeError`` (not sent) or
    ``OrderStateUnknown`` (look it up, never resend blind)."""

    def closed_candles_since(self, symbol: str, since_ms: int, now_ms: int) -> tuple[Candle, ...]: ...

    def instrument(self, symbol: str) -> InstrumentSpec: ...

    def account(self) -> AccountInfo: ...

    def position(self, symbol: str) -> ExchangePosition: ...

    def place_order(self, request: OrderRequest) -> OrderResult: ...

    def order_by_cli_ord_id(self, cli_ord_id: str) -> OrderLookup: ...

    def fills_since(self, since_ms: int) -> tuple[Fill, ...]: ...

    def set_leverage(self, symbol: str, max_leverage: Decimal) -> None: ...


def candles_to_frame(candles: tuple[Candle, ...] | list[Candle]) -> Candles:
    """Convert exchange candles to the column arrays the indicators and the engine read."""
    return Candles(
        time=np.array([c.time for c in candles], dtype=np.int64),
        open=np.array([float(c.open) for c in candles], dtype=np.float64),
        high=np.array([float(c.high) for c in candles], dtype=np.float64),
        low=np.array([float(c.low) for c in candles], dtype=np.float64),
        close=np.array([float(c.close) for c in candles], dtype=np.float64),
        volume=np.array([float(c.volume) for c in candles], dtype=np.float64),
    )
