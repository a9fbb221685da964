"""The backtest loop on real candles: fills at the next open, sizing (E6), range ends, liquidations."""

from __future__ import annotations

import pytest

from bitsniper.backtest.accounting import Costs
from bitsniper.backtest.runner import run_backtest
from bitsniper.candles import Candles
from bitsniper.config import strategy_params
from bitsniper.risk import position_size
from bitsniper.strategy import build_frame

Q = 900_000


def test_every_fill_is_at_the_open_of_the_candle_after_the_decision(slice_candles: Candles) -> None:
    params = strategy_params()
    frame = build_frame(slice_candles, params)
    result = run_backtest(frame, params)
    closed = [tr for tr in result.trades if tr.exit_reason != "open"]
    assert len(closed) >= 5
    row = {t: i for i, t in enumerate(frame.t)}
    for trade in closed:
        assert trade.entry_time == trade.entry_decision_time + Q
        assert trade.exit_time == trade.exit_decision_time + Q
        assert trade.entry_price == slice_candles.open[row[trade.entry_time]]
        assert trade.exit_price == slice_candles.open[row[trade.exit_time]]


def test_each_entry_is_sized_on_the_free_margin_or_on_equity_after_a_reversal(slice_candles: Candles) -> None:
    params = strategy_params(leverage=3)
    frame = build_frame(slice_candles, params)
    result = run_backtest(frame, params, Costs(leverage=3), capital=25_000.0)
    row = {t: i for i, t in enumerate(frame.t)}
    wallet = 25_000.0  # before the previous entry
    previous = None
    reversals = 0
    for trade in result.trades:
        close = frame.c[row[trade.entry_decision_time]]
        if previous is not None and previous.exit_decision_time == trade.entry_decision_time:
            # X9: close and open at the same decision, sized on the equity at close(N-1)
            direction = 1 if previous.side == "long" else -1
            entry_fee = previous.size * previous.entry_price * 0.0005
            margin = wallet - entry_fee + direction * previous.size * (close - previous.entry_price)
            reversals += 1
        else:
            margin = wallet + (previous.pnl if previous is not None else 0.0)
        assert trade.size == pytest.approx(position_size(margin, 3, params.fee_buffer, close, 0.0001), abs=1e-12)
        if previous is not None:
            wallet += previous.pnl
        previous = trade
    assert reversals >= 1


def test_a_range_that_cuts_a_position_reports_it_open_and_marks_equity_at_the_last_close(slice_candles: Candles) -> None:
    params = strategy_params()
    frame = build_frame(slice_candles, params)
    full = run_backtest(frame, params)
    first = full.trades[0]
    stop = frame.t.index(first.entry_time) + 3  # three candles into the first position
    cut = run_backtest(frame, params, stop=stop)
    assert [tr.exit_reason for tr in cut.trades] == ["open"]
    assert cut.trades[0].entry_time == first.entry_time
    assert cut.equity[-1] == pytest.approx(10_000.0 + cut.trades[0].pnl)  # wallet - entry fee + unrealised


def test_a_decision_at_the_last_candle_stays_unfilled(slice_candles: Candles) -> None:
    params = strategy_params()
    frame = build_frame(slice_candles, params)
    full = run_backtest(frame, params)
    decision_row = frame.t.index(full.trades[0].entry_decision_time)
    cut = run_backtest(frame, params, stop=decision_row + 1)
    assert cut.trades == ()
    assert [a.kind for a in cut.unfilled] == ["open"]
    assert cut.equity[-1] == 10_000.0


def test_decisions_start_at_the_range_while_earlier_candles_only_warm_up(slice_candles: Candles) -> None:
    params = strategy_params()
    frame = build_frame(slice_candles, params)
    start = len(frame) // 2
    result = run_backtest(frame, params, start=start)
    assert result.equity_time[0] == frame.t[start] + Q
    assert len(result.equity) == len(frame) - start
    assert all(tr.entry_decision_time >= frame.t[start] for tr in result.trades)


def test_high_leverage_gets_liquidated_and_the_engine_is_told_the_position_is_gone(slice_candles: Candles) -> None:
    params = strategy_params(leverage=30, fee_buffer=0.1)  # the buffer keeps some cash out of the margin
    frame = build_frame(slice_candles, params)
    result = run_backtest(frame, params, Costs(leverage=30))
    liquidated = [tr for tr in result.trades if tr.exit_reason == "liquidation"]
    assert liquidated, "a 30x long should not survive two months of BTC"
    wallet = 10_000.0
    for trade in result.trades:
        if trade.exit_reason == "liquidation":
            fee = trade.size * trade.entry_price * 0.0005
            margin = min(trade.size * trade.entry_price / 30, wallet - fee)  # capped by the free balance
            assert trade.pnl == pytest.approx(-margin - fee)
            assert trade.exit_decision_time is None
        wallet += trade.pnl
    after = [tr for tr in result.trades if tr.entry_time > liquidated[0].exit_time]
    assert after, "the engine trades again after a liquidation: its state was made flat"
    assert result.ended == "end of data"


def test_all_in_at_100x_without_fee_buffer_ends_the_run_when_equity_is_gone(slice_candles: Candles) -> None:
    params = strategy_params(leverage=100, fee_buffer=0)
    frame = build_frame(slice_candles, params)
    result = run_backtest(frame, params, Costs(leverage=100))
    assert result.ended == "equity exhausted"
    assert result.trades[-1].exit_reason == "liquidation"
    assert result.equity[-1] <= 0.0
    assert len(result.equity) < len(frame)


def test_candles_missing_after_a_decision_fill_at_the_next_available_open(slice_candles: Candles) -> None:
    params = strategy_params()
    full_frame = build_frame(slice_candles, params)
    first = run_backtest(full_frame, params).trades[0]
    hole = full_frame.t.index(first.entry_time)
    keep = [i for i in range(len(slice_candles)) if i not in (hole, hole + 1)]
    holed = Candles(*(getattr(slice_candles, f)[keep] for f in ("time", "open", "high", "low", "close", "volume")))
    frame = build_frame(holed, params)
    trade = run_backtest(frame, params).trades[0]
    assert trade.entry_decision_time == first.entry_decision_time
    assert trade.entry_time == first.entry_time + 2 * Q
    assert trade.entry_price == slice_candles.open[hole + 2]
