"""Isolated-margin accounting of one position at a time: fills, fees, slippage, funding, liquidation.

The engine decides; this module only says what a decision costs. Every amount is in USD, sizes in BTC.
A position's margin is isolated (issue 3): only the margin posted for it can be lost, and the position is
liquidated when its equity (margin + unrealised PnL) falls to the maintenance margin within a candle.
"""

from __future__ import annotations

from dataclasses import dataclass

from bitsniper.strategy.state import PositionType

__all__ = ["Costs", "OpenPosition", "Trade", "Ledger", "liquidation_price"]

HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Costs:
    """What each fill and each hour held costs; defaults are Kraken Futures' taker fee and no extras."""

    fee_rate: float = 0.0005  # taker fee per fill, share of notional
    slippage_pct: float = 0.0  # adverse price move per fill, percent
    funding_rate_hourly: float = 0.0  # positive: longs pay shorts, share of notional per hour
    maintenance_margin_rate: float = 0.01  # share of notional at the worst price of the candle
    leverage: float = 10.0  # E6: initial margin = notional / leverage


@dataclass(frozen=True, slots=True)
class Trade:
    """One round trip as written to ``trades.csv``; times are epoch ms (None while open)."""

    type: str
    side: str
    entry_decision_time: int
    entry_time: int
    entry_price: float
    entry_rsi: float
    exit_decision_time: int | None
    exit_time: int | None
    exit_price: float
    exit_reason: str  # rule id (X1, L3_stop, ...), "liquidation", or "open" at the end of the data
    size: float
    fees: float
    pnl: float  # net of fees and funding: the change of the wallet over the round trip
    return_pct: float  # pnl over the margin posted at entry, in percent
    funding: float = 0.0  # paid (+) or received (-) while open; already inside pnl
    entry_reason: str = ""  # the entry rule id (E1-E4, L1-L3)


class OpenPosition:
    """The account's side of the open position (the engine keeps its own memory in ``StrategyState``)."""

    __slots__ = ("type", "direction", "size", "entry_price", "margin", "initial_margin", "entry_fee",
                 "funding", "entry_decision_time", "entry_time", "entry_rsi", "liquidation_price", "entry_reason")

    def __init__(self, type_: PositionType, direction: int, size: float, entry_price: float, margin: float,
                 entry_fee: float, entry_decision_time: int, entry_time: int, entry_rsi: float, mmr: float,
                 entry_reason: str = "") -> None:
        self.type = type_
        self.direction = direction  # +1 long, -1 short
        self.size = size
        self.entry_price = entry_price
        self.margin = margin
        self.initial_margin = margin
        self.entry_fee = entry_fee
        self.funding = 0.0
        self.entry_decision_time = entry_decision_time
        self.entry_time = entry_time
        self.entry_rsi = entry_rsi
        self.entry_reason = entry_reason
        self.liquidation_price = liquidation_price(direction, size, entry_price, margin, mmr)


def liquidation_price(direction: int, size: float, entry_price: float, margin: float, mmr: float) -> float:
    """The price where margin + unrealised PnL equals ``mmr`` x notional at that price.

    Long: ``margin + size (P - entry) = mmr size P``; short: ``margin + size (entry - P) = mmr size P``.
    """
    if direction > 0:
        return max(0.0, (size * entry_price - margin) / (size * (1.0 - mmr)))
    return (margin + size * entry_price) / (size * (1.0 + mmr))


class Ledger:
    """The wallet (cash, including the margin posted) and the open position, if any."""

    __slots__ = ("costs", "wallet", "position", "trades")

    def __init__(self, capital: float, costs: Costs) -> None:
        self.costs = costs
        self.wallet = float(capital)
        self.position: OpenPosition | None = None
        self.trades: list[Trade] = []

    def available_margin(self) -> float:
        """E6: the free balance the next entry may use (the wallet minus the isolated margin posted)."""
        return self.wallet - (self.position.margin if self.position is not None else 0.0)

    def equity(self, mark: float) -> float:
        """Wallet plus unrealised PnL at ``mark``; an isolated position never counts below minus its margin."""
        p = self.position
        if p is None:
            return self.wallet
        return self.wallet + max(p.direction * p.size * (mark - p.entry_price), -p.margin)

    def fill_price(self, price: float, buying: bool) -> float:
        """Slippage always moves the fill against us."""
        s = self.costs.slippage_pct / 100.0
        return price * (1.0 + s) if buying else price * (1.0 - s)

    def open(self, type_: PositionType, size: float, open_price: float, decision_time: int, time: int,
             entry_rsi: float, reason: str = "") -> OpenPosition | None:
        """Fill an entry at the open; posts notional / leverage as isolated margin (all that is free if less).

        Returns None when the wallet cannot pay the fee: the run has no money left.
        """
        direction = 1 if type_.side == "long" else -1
        price = self.fill_price(open_price, buying=direction > 0)
        notional = size * price
        fee = notional * self.costs.fee_rate
        free = self.available_margin() - fee
        if free <= 0.0:
            return None
        margin = min(notional / self.costs.leverage, free)
        self.wallet -= fee
        self.position = OpenPosition(type_, direction, size, price, margin, fee, decision_time, time, entry_rsi,
                                     self.costs.maintenance_margin_rate, reason)
        return self.position

    def charge_funding(self, mark: float, hours: float) -> None:
        """A constant hourly rate on the notional at ``mark``, taken from (or added to) the isolated margin."""
        p = self.position
        if p is None or self.costs.funding_rate_hourly == 0.0:
            return
        amount = p.direction * p.size * mark * self.costs.funding_rate_hourly * hours
        p.funding += amount
        p.margin -= amount
        self.wallet -= amount
        p.liquidation_price = liquidation_price(p.direction, p.size, p.entry_price, p.margin,
                                                self.costs.maintenance_margin_rate)

    def close(self, open_price: float, decision_time: int | None, time: int | None, reason: str) -> Trade:
        """Fill an exit at the open (reduce-only, X7) and book the round trip."""
        p = self.position
        assert p is not None
        price = self.fill_price(open_price, buying=p.direction < 0)
        gross = max(p.direction * p.size * (price - p.entry_price), -p.margin)
        fee = p.size * price * self.costs.fee_rate
        self.wallet += gross - fee
        return self._book(price, decision_time, time, reason, fee, gross)

    def liquidate(self, high: float, low: float, open_price: float, time: int) -> Trade | None:
        """Liquidate when the candle's worst price reaches the liquidation price: the margin is lost.

        The exit price is the liquidation price, or the open when the candle opened beyond it (a gap).
        """
        p = self.position
        if p is None:
            return None
        if p.direction > 0:
            if low > p.liquidation_price:
                return None
            price = min(open_price, p.liquidation_price)
        else:
            if high < p.liquidation_price:
                return None
            price = max(open_price, p.liquidation_price)
        self.wallet -= p.margin
        return self._book(price, None, time, "liquidation", 0.0, -p.margin)

    def mark_open(self, mark: float) -> Trade:
        """The position still open at the end, valued at ``mark`` (no exit fee): exit reason ``open``."""
        p = self.position
        assert p is not None
        gross = max(p.direction * p.size * (mark - p.entry_price), -p.margin)
        pnl = gross - p.entry_fee - p.funding
        return Trade(p.type.value, "long" if p.direction > 0 else "short", p.entry_decision_time, p.entry_time,
                     p.entry_price, p.entry_rsi, None, None, mark, "open", p.size, p.entry_fee, pnl,
                     100.0 * pnl / p.initial_margin, p.funding, p.entry_reason)

    def _book(self, price: float, decision_time: int | None, time: int | None, reason: str, exit_fee: float,
              gross: float) -> Trade:
        p = self.position
        assert p is not None
        pnl = gross - p.entry_fee - exit_fee - p.funding
        trade = Trade(p.type.value, "long" if p.direction > 0 else "short", p.entry_decision_time, p.entry_time,
                      p.entry_price, p.entry_rsi, decision_time, time, price, reason, p.size,
                      p.entry_fee + exit_fee, pnl, 100.0 * pnl / p.initial_margin, p.funding, p.entry_reason)
        self.trades.append(trade)
        self.position = None
        return trade
