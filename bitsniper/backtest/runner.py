"""The backtest loop: the engine's ``decide`` at every candle close, fills at the next candle's open (T3).

The loop only moves data between the engine and the ledger; every rule lives in ``bitsniper.strategy``.
It is kept lean (Python lists, local names, no pandas) because it runs once per candle: two years of
15-minute candles take well under a second.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bitsniper.backtest.accounting import HOUR_MS, Costs, Ledger, Trade
from bitsniper.config import Settings, StrategyParams
from bitsniper.strategy import Account, Action, Decision, MarketFrame, StrategyState, decide, initial_state

__all__ = ["BacktestResult", "DecideFn", "run_backtest", "record_liquidation", "costs_from_settings"]

DecideFn = Callable[[StrategyState, MarketFrame, Account, StrategyParams, int], Decision]
PROGRESS_MASK = 4095  # report every 4,096 candles


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """Trades, the equity at each candle close of the range, and how the run ended."""

    params: StrategyParams
    costs: Costs
    capital: float
    start: int  # first decision row
    stop: int  # one past the last row of the range
    trades: tuple[Trade, ...]  # closed round trips, then the one still open (exit_reason "open")
    equity_time: list[int]  # close time of each candle of the range (epoch ms)
    equity: list[float]
    in_position: list[bool]  # a position was held during the candle
    final_state: StrategyState
    unfilled: tuple[Action, ...]  # decided at the last candle: no next open to fill at
    ended: str  # "end of data" or "equity exhausted"


def costs_from_settings(settings: Settings) -> Costs:
    """The backtest cost model from the ``backtest_*`` settings and the strategy's leverage (E6)."""
    return Costs(
        fee_rate=settings.backtest_fee_rate,
        slippage_pct=settings.backtest_slippage_pct,
        funding_rate_hourly=settings.backtest_funding_rate_hourly,
        maintenance_margin_rate=settings.backtest_maintenance_margin_rate,
        leverage=settings.leverage,
    )


def record_liquidation(state: StrategyState, time: int) -> StrategyState:
    """Tell the engine's memory that the exchange closed the position (the exchange is the truth).

    Treated like a close (X8): ``last_position_type`` is the liquidated type and the liquidation candle's
    time stands for the exit decision time (E3, L4).
    """
    position = state.position
    if position is None:
        return state
    return state._replace(position=None, last_position_type=position.type, last_exit_decision_time=time)


def run_backtest(
    frame: MarketFrame,
    params: StrategyParams,
    costs: Costs | None = None,
    capital: float = 10_000.0,
    start: int = 0,
    stop: int | None = None,
    decide_fn: DecideFn | None = None,
    progress: Callable[[int], None] | None = None,
) -> BacktestResult:
    """Decide at the close of every row in ``[start, stop)``; rows before ``start`` are warm-up only."""
    costs = costs or Costs(leverage=params.leverage)
    decide_at = decide_fn or decide
    n = len(frame)
    stop = n if stop is None else min(stop, n)
    candles = frame.candles
    t = frame.t
    opens = candles.open.tolist()
    highs = candles.high.tolist()
    lows = candles.low.tolist()
    closes = frame.c
    interval = frame.interval_ms
    hours = interval / HOUR_MS
    funding = costs.funding_rate_hourly != 0.0

    ledger = Ledger(capital, costs)
    state = initial_state(params)
    pending: tuple[Action, ...] = ()
    equity: list[float] = []
    held: list[bool] = []
    ended = "end of data"
    last = start - 1
    account = Account(ledger.wallet, ledger.wallet)
    for i in range(start, stop):
        if pending:
            state, filled = _fill(ledger, state, pending, opens[i], t[i])
            pending = ()
            if not filled:
                ended = "equity exhausted"
                break
        position = ledger.position
        held.append(position is not None)
        if position is not None:
            if (lows[i] <= position.liquidation_price) if position.direction > 0 else (
                highs[i] >= position.liquidation_price
            ):
                ledger.liquidate(highs[i], lows[i], opens[i], t[i])
                state = record_liquidation(state, t[i])
            elif funding:
                ledger.charge_funding(closes[i], hours)
            position = ledger.position
        last = i
        if position is None:
            value = available = ledger.wallet
        else:
            value = ledger.equity(closes[i])
            available = ledger.wallet - position.margin
        equity.append(value)
        if value <= 0.0:
            ended = "equity exhausted"
            break
        if value != account.equity or available != account.available_margin:
            account = Account(available, value)  # flat, the facts rarely change: reuse the object
        decision = decide_at(state, frame, account, params, i)
        state = decision.state
        pending = decision.actions
        if not (i - start) & PROGRESS_MASK and progress is not None:
            progress(i - start)
    equity_time = [time + interval for time in t[start:start + len(equity)]]
    trades = list(ledger.trades)
    if ledger.position is not None and last >= start:
        trades.append(ledger.mark_open(closes[last]))
    del held[len(equity):]
    return BacktestResult(
        params=params, costs=costs, capital=float(capital), start=start, stop=stop, trades=tuple(trades),
        equity_time=equity_time, equity=equity, in_position=held, final_state=state,
        unfilled=pending if ended == "end of data" else (), ended=ended,
    )


def _fill(
    ledger: Ledger, state: StrategyState, actions: tuple[Action, ...], price: float, time: int
) -> tuple[StrategyState, bool]:
    """Execute a decision's actions at this candle's open, close before open (X9); False: no money left."""
    for action in actions:
        if action.kind == "close":
            if ledger.position is not None:  # already liquidated: nothing left to close
                ledger.close(price, action.decision_time, time, action.reason)
        else:
            position = state.position
            entry_rsi = position.entry_rsi if position is not None else float("nan")
            opened = ledger.open(
                action.position_type, action.size, price, action.decision_time, time, entry_rsi, action.reason
            )
            if opened is None:
                return state, False
            state = state.with_fill(opened.entry_price)
    return state, True
