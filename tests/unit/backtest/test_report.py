"""The HTML report: self-contained, every panel present, long ranges drawn with coarser candles."""

from __future__ import annotations

import re

import numpy as np

from bitsniper.backtest.report import MAX_BARS, _ohlc, build_figure, render_report
from bitsniper.backtest.runner import run_backtest
from bitsniper.candles import Candles
from bitsniper.config import strategy_params
from bitsniper.strategy import build_frame


def test_report_is_self_contained_and_draws_vis_by_side_rsi_trades_equity_and_drawdown(slice_candles: Candles) -> None:
    params = strategy_params()
    frame = build_frame(slice_candles, params)
    result = run_backtest(frame, params)
    figure = build_figure(frame, params, result.trades, result.equity_time, result.equity, 10_000.0, 0, len(frame),
                          "test report")
    names = {trace.name for trace in figure.data}
    assert {f"VI{k} {side}" for k in (1, 2, 3) for side in ("above", "below")} <= names
    assert {"RSI(40)", "equity", "drawdown", "long entry", "exit X1"} <= names
    vi1_above = next(t for t in figure.data if t.name == "VI1 above")
    above = frame.vi_above[0]
    assert np.isnan(np.asarray(vi1_above.y, dtype=float)[~above]).all()  # drawn only where VI1 is above
    page = render_report(figure, "test report", {"sharpe": 1.23456, "trades_by_type": {"SHORT": 2}})
    assert not re.search(r"<script[^>]+src=", page)  # plotly.js is inline: opens offline
    assert "<th>sharpe</th><td>1.23</td>" in page and "SHORT: 2" in page
    entry_text = next(t for t in figure.data if t.name == "long entry").text
    assert any("E2" in text for text in entry_text)  # entries carry their type and rule


def test_long_ranges_draw_aggregated_candles_with_true_highs_and_lows(slice_candles: Candles) -> None:
    frame = build_frame(slice_candles, strategy_params())
    time, open_, high, low, close, bucket = _ohlc(frame, 0, len(frame))
    assert len(time) <= MAX_BARS and bucket == 60 * 60_000
    assert open_[0] == slice_candles.open[0] and close[0] == slice_candles.close[3]
    assert high[0] == slice_candles.high[:4].max() and low[0] == slice_candles.low[:4].min()
    short = _ohlc(frame, 0, 500)
    assert short[-1] == 15 * 60_000 and len(short[0]) == 500
