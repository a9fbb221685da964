"""The simulated exchange's book-keeping: orders, fills, positions, margin and liquidation.

Pure: every method takes ``now_ms`` and the current ``price`` as arguments, so it is tested without HTTP
and without a clock. There is no order book: market orders fill at once at the simulated price (Kraken's
``mkt`` is an IOC with 1 % protection, which a book-less market never trips), limit orders rest until the
price crosses them. Kraken quirks kept on purpose:

- a ``cliOrdId`` is refused (``clientOrderIdAlreadyExist``) only while an order carrying it is open; a
  filled market order is closed at once, so the same id is accepted again (the double-fill hazard);
- ``orders/status`` only knows orders that are open or were closed in the last 5 seconds;
- ``fills`` has no fee field (fees come from the fee rates: 0.05 % taker, 0.02 % maker at base tier);
- setting a leverage preference makes the symbol isolated-margin with that cap;
- an order carrying ``processBefore`` that is processed at or after that time is refused, not executed
  (status ``processBeforeExpired``: Kraken documents the refusal but not its status string);
- ``fill_fraction`` < 1 (the ``partial=`` fault) fills only that share of a marketable order: a ``mkt``/``ioc``
  order's rest is cancelled at once (Kraken's ``mkt`` is an IOC whose 1 % price protection can stop it
  part-way), a limit order's rest keeps resting.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

__all__ = [
    "InstrumentRules",
    "PF_XBTUSD",
    "OrderInput",
    "SimOrder",
    "SimFill",
    "SimPosition",
    "SendOutcome",
    "AccountSnapshot",
    "ExchangeState",
    "STATUS_WINDOW_MS",
    "ORDER_TYPES",
    "DEADLINE_PASSED",
]

STATUS_WINDOW_MS = 5_000
ORDER_TYPES = ("mkt", "lmt", "ioc", "post")
DEADLINE_PASSED = "processBeforeExpired"
_IMMEDIATE = ("mkt", "ioc")
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class InstrumentRules:
    """What the simulator enforces for one contract (PF_XBTUSD: linear, BTC-sized, USD-margined)."""

    symbol: str = "PF_XBTUSD"
    tick_size: Decimal = Decimal("1")
    size_step: Decimal = Decimal("0.0001")
    min_size: Decimal = Decimal("0.0001")
    max_position_size: Decimal = Decimal("1000")
    initial_margin_rate: Decimal = Decimal("0.02")
    maintenance_margin_rate: Decimal = Decimal("0.01")
    taker_fee_rate: Decimal = Decimal("0.0005")
    maker_fee_rate: Decimal = Decimal("0.0002")

    @property
    def contract_value_trade_precision(self) -> int:
        return -self.size_step.normalize().as_tuple().exponent  # type: ignore[operator]

    @property
    def cross_max_leverage(self) -> Decimal:
        return Decimal(1) / self.initial_margin_rate


PF_XBTUSD = InstrumentRules()


@dataclass(frozen=True, slots=True)
class OrderInput:
    """A ``sendorder`` request after the HTTP layer checked its arguments."""

    symbol: str
    side: str  # "buy" | "sell"
    order_type: str  # one of ORDER_TYPES
    size: Decimal
    cli_ord_id: str | None = None
    limit_price: Decimal | None = None
    reduce_only: bool = False
    process_before_ms: int | None = None  # Kraken's processBefore, epoch ms


@dataclass(slots=True)
class SimOrder:
    order_id: str
    cli_ord_id: str | None
    symbol: str
    side: str
    order_type: str
    quantity: Decimal
    filled: Decimal
    limit_price: Decimal | None
    reduce_only: bool
    received_ms: int
    last_update_ms: int
    state: str  # "open" | "filled" | "cancelled"

    @property
    def is_open(self) -> bool:
        return self.state == "open"


@dataclass(frozen=True, slots=True)
class SimFill:
    fill_id: str
    order_id: str
    cli_ord_id: str | None
    symbol: str
    side: str
    size: Decimal
    price: Decimal
    time_ms: int
    fill_type: str  # "taker" | "maker" | "liquidation"
    fee: Decimal


@dataclass(slots=True)
class SimPosition:
    symbol: str
    size: Decimal  # signed: > 0 long, < 0 short
    entry_price: Decimal
    margin: Decimal  # initial margin set aside at entry (isolated margin when a leverage preference is set)
    fill_time_ms: int


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What ``sendorder`` answers: the status and, for a placed order, the order and its executions."""

    status: str
    received_ms: int
    order: SimOrder | None = None
    executions: tuple[SimFill, ...] = ()
    reduced_quantity: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """The ``accounts.flex`` figures, in USD."""

    balance: Decimal
    unrealized_pnl: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal

    @property
    def margin_equity(self) -> Decimal:
        return self.balance + self.unrealized_pnl

    @property
    def available_margin(self) -> Decimal:
        return self.margin_equity - self.initial_margin


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


@dataclass
class ExchangeState:
    """One account on one simulated exchange; thread-safe so tests may inspect it while the server runs."""

    balance: Decimal = Decimal("10000")
    rules: InstrumentRules = PF_XBTUSD
    orders: dict[str, SimOrder] = field(default_factory=dict)
    fills: list[SimFill] = field(default_factory=list)
    positions: dict[str, SimPosition] = field(default_factory=dict)
    leverage: dict[str, Decimal] = field(default_factory=dict)
    refusals: list[tuple[str | None, str]] = field(default_factory=list)  # (cliOrdId, status) of refused orders
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # ----------------------------------------------------------------- queries

    def max_leverage(self, symbol: str) -> Decimal:
        """The isolated cap when a preference is set, else the cross maximum (1 / initial margin rate)."""
        return self.leverage.get(symbol, self.rules.cross_max_leverage)

    def position_size(self, symbol: str) -> Decimal:
        position = self.positions.get(symbol)
        return position.size if position else _ZERO

    def account(self, price: Decimal) -> AccountSnapshot:
        with self.lock:
            upnl = sum((p.size * (price - p.entry_price) for p in self.positions.values()), _ZERO)
            initial = sum(
                (abs(p.size) * price / self.max_leverage(p.symbol) for p in self.positions.values()), _ZERO
            )
            maintenance = sum(
                (abs(p.size) * price * self.rules.maintenance_margin_rate for p in self.positions.values()), _ZERO
            )
            return AccountSnapshot(self.balance, upnl, initial, maintenance)

    def open_orders(self) -> list[SimOrder]:
        with self.lock:
            return [o for o in self.orders.values() if o.is_open]

    def orders_status(self, order_ids: list[str], cli_ord_ids: list[str], now_ms: int) -> list[SimOrder]:
        """Orders named by id or cliOrdId that are open or closed within the last 5 s; others are absent."""
        with self.lock:
            return [
                o
                for o in self.orders.values()
                if (o.order_id in order_ids or (o.cli_ord_id is not None and o.cli_ord_id in cli_ord_ids))
                and (o.is_open or now_ms - o.last_update_ms <= STATUS_WINDOW_MS)
            ]

    def fills_before(self, before_ms: int | None, limit: int = 100) -> list[SimFill]:
        """Newest fills first; with ``before_ms`` (``lastFillTime``) only fills strictly before it."""
        with self.lock:
            chosen = [f for f in self.fills if before_ms is None or f.time_ms < before_ms]
            chosen.sort(key=lambda f: f.time_ms, reverse=True)
            return chosen[:limit]

    # ---------------------------------------------------------------- commands

    def set_leverage(self, symbol: str, max_leverage: Decimal | None) -> None:
        """Set (isolated) or clear (back to cross) the leverage cap of a symbol."""
        with self.lock:
            if max_leverage is None:
                self.leverage.pop(symbol, None)
            else:
                self.leverage[symbol] = max_leverage

    def send_order(
        self,
        request: OrderInput,
        now_ms: int,
        price: Decimal,
        *,
        wall_ms: int | None = None,
        fill_fraction: Decimal = Decimal(1),
    ) -> SendOutcome:
        """Validate and execute one order; the outcome's status is Kraken's ``sendStatus.status``.

        ``wall_ms`` is the real time ``processBefore`` is compared with (the market clock may be a test's
        manual clock; transit delays pass in real time); it defaults to ``now_ms``.
        """
        with self.lock:
            outcome = self._send_order(request, now_ms, price, now_ms if wall_ms is None else wall_ms, fill_fraction)
            if outcome.status != "placed":
                self.refusals.append((request.cli_ord_id, outcome.status))
            return outcome

    def _send_order(
        self, request: OrderInput, now_ms: int, price: Decimal, wall_ms: int, fill_fraction: Decimal
    ) -> SendOutcome:
        rules = self.rules
        if request.process_before_ms is not None and wall_ms >= request.process_before_ms:
            return SendOutcome(DEADLINE_PASSED, now_ms)
        if request.size <= 0 or request.size % rules.size_step != 0 or request.size < rules.min_size:
            return SendOutcome("invalidSize", now_ms)
        if request.limit_price is not None and (
            request.limit_price <= 0 or request.limit_price % rules.tick_size != 0
        ):
            return SendOutcome("invalidPrice", now_ms)
        if request.cli_ord_id is not None and any(
            o.cli_ord_id == request.cli_ord_id for o in self.orders.values() if o.is_open
        ):
            return SendOutcome("clientOrderIdAlreadyExist", now_ms)
        quantity = request.size
        reduced: Decimal | None = None
        if request.reduce_only:
            held = self.position_size(request.symbol)
            delta_sign = 1 if request.side == "buy" else -1
            if held == 0 or _sign(held) == delta_sign:
                return SendOutcome("wouldNotReducePosition", now_ms)
            if quantity > abs(held):
                reduced, quantity = quantity - abs(held), abs(held)
        marketable = request.order_type == "mkt" or self._crosses(request.side, request.limit_price, price)
        if request.order_type == "ioc" and not marketable:
            return SendOutcome("iocWouldNotExecute", now_ms)
        if request.order_type == "post" and marketable:
            return SendOutcome("postWouldExecute", now_ms)
        if marketable:
            refusal = self._check_margin(request.symbol, request.side, quantity, price, rules.taker_fee_rate)
            if refusal is not None:
                return SendOutcome(refusal, now_ms)
        order = SimOrder(
            order_id=str(uuid.uuid4()),
            cli_ord_id=request.cli_ord_id,
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            quantity=quantity,
            filled=_ZERO,
            limit_price=request.limit_price,
            reduce_only=request.reduce_only,
            received_ms=now_ms,
            last_update_ms=now_ms,
            state="open",
        )
        self.orders[order.order_id] = order
        executions: tuple[SimFill, ...] = ()
        if marketable:
            size = quantity
            if fill_fraction < 1:
                steps = (quantity * fill_fraction / rules.size_step).to_integral_value(rounding=ROUND_DOWN)
                size = max(steps, Decimal(0)) * rules.size_step
            if size > 0:
                executions = (self._execute(order, size, price, now_ms, "taker"),)
            if order.is_open and request.order_type in _IMMEDIATE:
                order.state = "cancelled"  # immediate-or-cancel: the unfilled rest never rests
                order.last_update_ms = now_ms
        return SendOutcome("placed", now_ms, order, executions, reduced)

    def cancel_order(self, order_id: str | None, cli_ord_id: str | None, now_ms: int) -> tuple[str, SimOrder | None]:
        """Cancel an open order: ``cancelled``, or ``notFound`` when no open order matches."""
        with self.lock:
            for order in self.orders.values():
                if order.is_open and (
                    (order_id is not None and order.order_id == order_id)
                    or (cli_ord_id is not None and order.cli_ord_id == cli_ord_id)
                ):
                    order.state = "cancelled"
                    order.last_update_ms = now_ms
                    return "cancelled", order
            return "notFound", None

    def on_price(self, now_ms: int, price: Decimal) -> list[SimFill]:
        """Let time pass: fill resting limit orders the price crossed, then liquidate what must be."""
        with self.lock:
            done: list[SimFill] = []
            for order in list(self.orders.values()):
                if order.is_open and self._crosses(order.side, order.limit_price, price):
                    fill_price = order.limit_price if order.limit_price is not None else price
                    done.append(self._execute(order, order.quantity - order.filled, fill_price, now_ms, "maker"))
            done.extend(self._liquidate(now_ms, price))
            return done

    def liquidation_price(self, symbol: str) -> Decimal | None:
        """The price at which the position's margin falls to maintenance (for tests and the operator)."""
        with self.lock:
            position = self.positions.get(symbol)
            if position is None:
                return None
            size, entry, mm = position.size, position.entry_price, self.rules.maintenance_margin_rate
            cushion = position.margin if symbol in self.leverage else self.balance
            # cushion + size * (p - entry) = |size| * p * mm  ->  solve for p
            denominator = size - abs(size) * mm
            if denominator == 0:
                return None
            return (size * entry - cushion) / denominator

    # ---------------------------------------------------------------- internals

    @staticmethod
    def _crosses(side: str, limit: Decimal | None, price: Decimal) -> bool:
        if limit is None:
            return False
        return price <= limit if side == "buy" else price >= limit

    def _check_margin(self, symbol: str, side: str, size: Decimal, price: Decimal, fee_rate: Decimal) -> str | None:
        held = self.position_size(symbol)
        new = held + (size if side == "buy" else -size)
        if abs(new) > self.rules.max_position_size:
            return "maxPositionViolation"
        if abs(new) <= abs(held) and (new == 0 or _sign(new) == _sign(held)):
            return None  # reducing never needs margin
        account = self.account(price)
        fee = size * price * fee_rate
        required = abs(new) * price / self.max_leverage(symbol)
        if account.margin_equity - fee - required < 0:
            return "insufficientAvailableFunds"
        return None

    def _execute(self, order: SimOrder, size: Decimal, price: Decimal, now_ms: int, fill_type: str) -> SimFill:
        fee_rate = self.rules.taker_fee_rate if fill_type != "maker" else self.rules.maker_fee_rate
        fill = self._apply_fill(order.symbol, order.side, size, price, now_ms, fill_type, fee_rate)
        fill = SimFill(
            fill.fill_id, order.order_id, order.cli_ord_id, fill.symbol, fill.side, size, price, now_ms,
            fill_type, fill.fee,
        )
        self.fills.append(fill)
        order.filled += size
        order.last_update_ms = now_ms
        if order.filled >= order.quantity:
            order.state = "filled"
        return fill

    def _apply_fill(
        self, symbol: str, side: str, size: Decimal, price: Decimal, now_ms: int, fill_type: str, fee_rate: Decimal
    ) -> SimFill:
        """Move the position and the balance: fee on the notional, realised PnL on the closed part."""
        delta = size if side == "buy" else -size
        fee = size * price * fee_rate
        self.balance -= fee
        leverage = self.max_leverage(symbol)
        position = self.positions.get(symbol)
        if position is None or position.size == 0:
            self.positions[symbol] = SimPosition(symbol, delta, price, size * price / leverage, now_ms)
        elif _sign(position.size) == _sign(delta):
            new_size = position.size + delta
            position.entry_price = (abs(position.size) * position.entry_price + size * price) / abs(new_size)
            position.margin += size * price / leverage
            position.size = new_size
            position.fill_time_ms = now_ms
        else:
            closing = min(size, abs(position.size))
            self.balance += closing * (price - position.entry_price) * _sign(position.size)
            new_size = position.size + delta
            if new_size == 0:
                del self.positions[symbol]
            elif _sign(new_size) == _sign(position.size):
                position.margin = position.margin * abs(new_size) / abs(position.size)
                position.size = new_size
                position.fill_time_ms = now_ms
            else:
                self.positions[symbol] = SimPosition(symbol, new_size, price, abs(new_size) * price / leverage, now_ms)
        return SimFill(str(uuid.uuid4()), "", None, symbol, side, size, price, now_ms, fill_type, fee)

    def _liquidate(self, now_ms: int, price: Decimal) -> list[SimFill]:
        """Close any position whose margin (isolated) or the account (cross) fell below maintenance."""
        done: list[SimFill] = []
        for symbol, position in list(self.positions.items()):
            upnl = position.size * (price - position.entry_price)
            maintenance = abs(position.size) * price * self.rules.maintenance_margin_rate
            cushion = position.margin if symbol in self.leverage else self.balance
            if cushion + upnl >= maintenance:
                continue
            side = "sell" if position.size > 0 else "buy"
            fill = self._apply_fill(
                symbol, side, abs(position.size), price, now_ms, "liquidation", self.rules.taker_fee_rate
            )
            fill = SimFill(
                fill.fill_id, str(uuid.uuid4()), None, symbol, side, fill.size, price, now_ms, "liquidation", fill.fee
            )
            self.fills.append(fill)
            done.append(fill)
        return done
