"""Paper trading behind the same ``Exchange`` protocol (design.md "Paper first").

What differs from Kraken, and why:
- market data (candles, the instrument) is delegated to a real market-data exchange: paper trades live
  prices;
- a market order fills at once, in full, at the open of the candle that is forming when it is sent
  (T3: the decision at N-1's close executes at N's open), with the taker fee on the notional;
- the book lives in the store, so a retried task sees what the previous one did: each fill is a row of
  ``fills`` (fill id ``paper-<uuid>``) and the position and cash balance after it are a
  ``position_snapshots`` row with ``mode='paper'`` and ``source='paper'``, written in the same
  transaction (no extra table; the snapshot's ``equity`` column holds the cash balance after the fill);
- an order is never in doubt (one local transaction), so ``order_by_cli_ord_id`` reads the fills.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select

from bitsniper.errors import OrderRefused, TransientExchangeError
from bitsniper.exchange.base import (
    AccountInfo,
    Candle,
    Exchange,
    ExchangePosition,
    Execution,
    Fill,
    FillType,
    InstrumentSpec,
    OrderLookup,
    OrderRequest,
    OrderResult,
    OrderSide,
    OrderType,
    PositionSide,
)
from bitsniper.store.db import SessionFactory
from bitsniper.store.models import FillRow, PositionSnapshot
from bitsniper.store.records import datetime_to_ms, ms_to_datetime

if TYPE_CHECKING:
    from bitsniper.config import Settings

__all__ = ["PAPER_SOURCE", "PaperExchange", "paper_position", "paper_balance"]

PAPER_SOURCE = "paper"
_PAPER_MODE = "paper"
_FILL_PREFIX = "paper-"


def _latest(factory: SessionFactory, symbol: str) -> PositionSnapshot | None:
    with factory() as session:
        return session.scalars(
            select(PositionSnapshot)
            .where(PositionSnapshot.mode == _PAPER_MODE, PositionSnapshot.symbol == symbol,
                   PositionSnapshot.source == PAPER_SOURCE)
            .order_by(PositionSnapshot.taken_at.desc(), PositionSnapshot.id.desc())
            .limit(1)
        ).one_or_none()


def paper_position(factory: SessionFactory, symbol: str) -> ExchangePosition:
    """The paper position: the latest paper snapshot, flat before the first fill."""
    row = _latest(factory, symbol)
    if row is None or row.side == "flat" or row.size == 0:
        return ExchangePosition(symbol, None, Decimal(0), None)
    return ExchangePosition(symbol, PositionSide(row.side), row.size, row.entry_price)


def paper_balance(factory: SessionFactory, symbol: str, initial_balance: Decimal) -> Decimal:
    """Cash after every paper fee and realised PnL (the snapshot's ``equity`` column), or the initial balance."""
    row = _latest(factory, symbol)
    return initial_balance if row is None or row.equity is None else row.equity


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


class PaperExchange:
    """``Exchange`` for paper trading: market data from ``market``, orders and book in the store."""

    def __init__(
        self,
        factory: SessionFactory,
        market: Exchange,
        *,
        settings: "Settings | None" = None,
        fee_rate: Decimal | None = None,
        initial_balance: Decimal | None = None,
        leverage: Decimal | None = None,
        candle_ms: int | None = None,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        """Explicit values win over ``settings`` (``paper_fee_rate``, ``paper_initial_balance_usd``,
        ``leverage``, ``candle_minutes``), which win over Kraken's base-tier defaults."""

        def pick(explicit: Decimal | None, setting: str, default: str) -> Decimal:
            if explicit is not None:
                return explicit
            return Decimal(str(getattr(settings, setting))) if settings is not None else Decimal(default)

        self.factory = factory
        self.market = market
        self.fee_rate = pick(fee_rate, "paper_fee_rate", "0.0005")
        self.initial_balance = pick(initial_balance, "paper_initial_balance_usd", "10000")
        self.leverage = pick(leverage, "leverage", "10")
        self.candle_ms = candle_ms or (settings.candle_ms if settings is not None else 900_000)
        self.clock_ms = clock_ms or (lambda: int(time.time() * 1000))

    def __repr__(self) -> str:
        return f"PaperExchange(market={self.market!r})"

    # -------------------------------------------------------------- delegated: market data

    def closed_candles_since(self, symbol: str, since_ms: int, now_ms: int) -> tuple[Candle, ...]:
        return self.market.closed_candles_since(symbol, since_ms, now_ms)

    def instrument(self, symbol: str) -> InstrumentSpec:
        return self.market.instrument(symbol)

    def set_leverage(self, symbol: str, max_leverage: Decimal) -> None:
        """Paper margin uses this cap from now on (Kraken keeps it per symbol; paper has one symbol)."""
        if max_leverage <= 0:
            raise ValueError("max_leverage must be positive")
        self.leverage = max_leverage

    # -------------------------------------------------------------- prices

    def fill_price(self, symbol: str, now_ms: int) -> Decimal:
        """The open of the candle forming at ``now_ms`` (the "next candle" after the decision, T3).

        Kraken's charts may include the forming candle: ``candle_page`` (the Kraken adapter) shows it.
        Where it is not visible, the last closed candle's close stands for it (on a continuous market
        the next open is the previous close).
        """
        bucket = now_ms - now_ms % self.candle_ms
        page = getattr(self.market, "candle_page", None)
        if callable(page):
            for candle in page(symbol, bucket).candles:
                if candle.time == bucket:
                    return candle.open
        closed = self.market.closed_candles_since(symbol, bucket - 4 * self.candle_ms, now_ms)
        if not closed:
            raise TransientExchangeError(f"paper: no candle of {symbol} to price an order at {now_ms}")
        return closed[-1].close

    # -------------------------------------------------------------- account

    def position(self, symbol: str) -> ExchangePosition:
        return paper_position(self.factory, symbol)

    def account(self) -> AccountInfo:
        """Flex-account figures at the latest price; one symbol only (the bot trades one)."""
        row = self._any_latest()
        balance = self.initial_balance if row is None or row.equity is None else row.equity
        if row is None or row.side == "flat" or row.size == 0 or row.entry_price is None:
            return AccountInfo(balance, balance, balance, balance, Decimal(0), Decimal(0))
        price = self.fill_price(row.symbol, self.clock_ms())
        size = row.size if row.side == "long" else -row.size
        equity = balance + size * (price - row.entry_price)
        initial = row.size * price / self.leverage
        return AccountInfo(equity - initial, equity, balance, equity, initial, Decimal(0))

    def _any_latest(self) -> PositionSnapshot | None:
        with self.factory() as session:
            return session.scalars(
                select(PositionSnapshot)
                .where(PositionSnapshot.mode == _PAPER_MODE, PositionSnapshot.source == PAPER_SOURCE)
                .order_by(PositionSnapshot.taken_at.desc(), PositionSnapshot.id.desc())
                .limit(1)
            ).one_or_none()

    # -------------------------------------------------------------- orders

    def place_order(self, request: OrderRequest) -> OrderResult:
        """Fill a market order in full at the forming candle's open; refusals mirror Kraken's statuses."""
        spec = self.instrument(request.symbol)
        if request.order_type is not OrderType.MARKET:
            raise OrderRefused(request.cli_ord_id, "invalidArgument")  # the bot only sends market orders (X7)
        if request.size < spec.min_size or request.size % spec.size_step != 0:
            raise OrderRefused(request.cli_ord_id, "invalidSize")
        now = self.clock_ms()
        price = self.fill_price(request.symbol, now)
        position = self.position(request.symbol)
        held = position.signed_size
        quantity = request.size
        delta_sign = 1 if request.side is OrderSide.BUY else -1
        if request.reduce_only:
            if held == 0 or _sign(held) == delta_sign:
                raise OrderRefused(request.cli_ord_id, "wouldNotReducePosition")
            quantity = min(quantity, abs(held))
        delta = quantity * delta_sign
        fee = quantity * price * self.fee_rate
        balance = paper_balance(self.factory, request.symbol, self.initial_balance)
        new = held + delta
        if abs(new) > abs(held) or (new != 0 and _sign(new) != _sign(held)):
            equity = balance + held * (price - (position.entry_price or price))
            if equity - fee - abs(new) * price / self.leverage < 0:
                raise OrderRefused(request.cli_ord_id, "insufficientAvailableFunds")
        entry = position.entry_price
        if held == 0 or _sign(new) != _sign(held):
            closing = abs(held)
            entry_after = price if new != 0 else None
        elif abs(new) > abs(held):
            closing = Decimal(0)
            entry_after = (abs(held) * (entry or price) + quantity * price) / abs(new)
        else:
            closing = quantity
            entry_after = entry if new != 0 else None
        realised = closing * (price - (entry or price)) * _sign(held)
        balance_after = balance - fee + realised
        fill_id = f"{_FILL_PREFIX}{uuid.uuid4()}"
        order_id = f"{_FILL_PREFIX}order-{uuid.uuid4()}"
        stamp = ms_to_datetime(now)
        with self.factory.begin() as session:
            session.add(
                FillRow(
                    fill_id=fill_id, cli_ord_id=request.cli_ord_id, exchange_order_id=order_id,
                    symbol=request.symbol, side=request.side.value, size=quantity, price=price, fee=fee,
                    fill_type=FillType.TAKER.value, filled_at=stamp, recorded_at=datetime.now(timezone.utc),
                )
            )
            session.add(
                PositionSnapshot(
                    mode=_PAPER_MODE, symbol=request.symbol, source=PAPER_SOURCE,
                    side="flat" if new == 0 else ("long" if new > 0 else "short"), size=abs(new),
                    entry_price=entry_after, available_margin=None, equity=balance_after,
                    taken_at=datetime.now(timezone.utc),
                )
            )
        return OrderResult(order_id, request.cli_ord_id, now, (Execution(fill_id, price, quantity),))

    def _fills(self, cli_ord_id: str | None = None, since_ms: int | None = None) -> tuple[Fill, ...]:
        with self.factory() as session:
            query = select(FillRow).where(FillRow.fill_id.startswith(_FILL_PREFIX))
            if cli_ord_id is not None:
                query = query.where(FillRow.cli_ord_id == cli_ord_id)
            if since_ms is not None:
                query = query.where(FillRow.filled_at >= ms_to_datetime(since_ms))
            rows = session.scalars(query.order_by(FillRow.filled_at, FillRow.id)).all()
        return tuple(
            Fill(
                fill_id=row.fill_id, order_id=row.exchange_order_id or "", cli_ord_id=row.cli_ord_id,
                symbol=row.symbol, side=OrderSide(row.side), size=row.size, price=row.price,
                time=datetime_to_ms(row.filled_at), fill_type=FillType.TAKER,
            )
            for row in rows
        )

    def order_by_cli_ord_id(self, cli_ord_id: str) -> OrderLookup:
        """A paper order is filled in the same transaction that books it: its fills are the whole story."""
        return OrderLookup(cli_ord_id, fills=self._fills(cli_ord_id=cli_ord_id))

    def fills_since(self, since_ms: int) -> tuple[Fill, ...]:
        return self._fills(since_ms=since_ms)
