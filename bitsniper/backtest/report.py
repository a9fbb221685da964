"""The self-contained HTML report of a backtest (Plotly inline, no network needed to open it).

Two years of 15-minute candles are 75,000 bars: the candlesticks are drawn at a coarser bucket when the
range is long (so the page stays responsive), while the VIs, RSI and equity keep every candle on WebGL
traces. Times are passed as epoch milliseconds on date axes, which Plotly encodes as compact binary.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bitsniper.backtest.accounting import Trade
from bitsniper.backtest.metrics import drawdown_pct
from bitsniper.candles import ms_to_iso
from bitsniper.config import StrategyParams
from bitsniper.strategy import MarketFrame

__all__ = ["build_figure", "render_report", "write_report", "summary_rows", "MAX_BARS"]

MAX_BARS = 3000
_BUCKETS_MIN = (15, 60, 120, 240, 360, 720, 1440, 2880, 10080)
_VI_COLOURS = (("#c62828", "#2e7d32"), ("#ef6c00", "#00897b"), ("#ad1457", "#558b2f"))  # (above, below)
_EXIT_COLOURS = {"X1": "#1b5e20", "X2": "#e65100", "X4": "#6a1b9a", "X5": "#0d47a1", "liquidation": "black",
                 "open": "grey"}


def _bucket_ms(span_candles: int, interval_ms: int) -> int:
    for minutes in _BUCKETS_MIN:
        bucket = max(minutes * 60_000, interval_ms)
        if span_candles * interval_ms / bucket <= MAX_BARS:
            return bucket
    return _BUCKETS_MIN[-1] * 60_000


def _ohlc(frame: MarketFrame, start: int, stop: int) -> tuple[np.ndarray, ...]:
    """Candles of the range, aggregated to a bucket that keeps at most ``MAX_BARS`` bars."""
    c = frame.candles
    t = c.time[start:stop]
    bucket = _bucket_ms(stop - start, frame.interval_ms)
    if bucket <= frame.interval_ms:
        return t, c.open[start:stop], c.high[start:stop], c.low[start:stop], c.close[start:stop], bucket
    key = t // bucket
    first = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    last = np.concatenate((first[1:] - 1, [len(t) - 1]))
    high = np.maximum.reduceat(c.high[start:stop], first)
    low = np.minimum.reduceat(c.low[start:stop], first)
    return key[first] * bucket, c.open[start:stop][first], high, low, c.close[start:stop][last], bucket


def _x(values: Any) -> np.ndarray:
    """Epoch ms as float64: Plotly ships float arrays as binary, integer ones as long JSON lists."""
    return np.asarray(values, dtype=np.float64)


def _y(values: Any) -> np.ndarray:
    """float32 is enough to draw prices and equity and halves the page."""
    return np.asarray(values, dtype=np.float32)


def _rsi_levels(params: StrategyParams) -> list[tuple[float, str]]:
    if params.strategy == "vi":
        return [(params.short_rsi_max, "E1 SHORT max"), (params.long_rsi_min, "E2-E4 LONG min")]
    return [(params.rv_safety_high, "L0 high"), (params.rv_safety_low, "L0 low"), (params.rv_safety_reset, "reset"),
            (params.rv_short_exit_rsi, "L3 exit"), (params.rv_long1_exit_rsi, "L1 exit")]


def build_figure(frame: MarketFrame, params: StrategyParams, trades: Sequence[Trade], equity_time: Sequence[int],
                 equity: Sequence[float], capital: float, start: int, stop: int, title: str) -> go.Figure:
    """Candles with VI1-VI3 by side and the trades; RSI with its thresholds; equity; drawdown."""
    fig = make_subplots(rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.025, row_heights=[0.5, 0.16, 0.2, 0.14],
                        subplot_titles=("", "RSI", "Equity (USD)", "Drawdown (%)"))
    t, o, h, lo, cl, bucket = _ohlc(frame, start, stop)
    fig.add_trace(go.Candlestick(x=_x(t), open=_y(o), high=_y(h), low=_y(lo), close=_y(cl), name=f"candles ({bucket // 60_000} min)",
                                 increasing_line_color="#26a69a", decreasing_line_color="#ef5350",
                                 line_width=1), row=1, col=1)
    time = _x(frame.candles.time[start:stop])
    if params.strategy == "vi":
        for k in range(3):
            value = frame.vi[k][start:stop]
            above = frame.vi_above[k][start:stop]
            for side, mask, colour in (("above", above, _VI_COLOURS[k][0]), ("below", ~above, _VI_COLOURS[k][1])):
                # a segment joins two candles on the same side, so masking breaks the line at each flip
                fig.add_trace(go.Scattergl(x=time, y=_y(np.where(mask, value, np.nan)), mode="lines",
                                           line={"color": colour, "width": 1.4 if k == 0 else 1},
                                           name=f"VI{k + 1} {side}", legendgroup=f"vi{k + 1}",
                                           hoverinfo="skip" if k else None), row=1, col=1)
    _add_trades(fig, trades)
    fig.add_trace(go.Scattergl(x=time, y=_y(frame.rsi[start:stop]), mode="lines", line={"color": "#5e35b1", "width": 1},
                               name=f"RSI({params.active_rsi_period})"), row=2, col=1)
    for level, label in _rsi_levels(params):
        fig.add_hline(y=level, line={"color": "grey", "dash": "dot", "width": 1}, row=2, col=1,
                      annotation_text=f"{label} {level:g}", annotation_position="top left",
                      annotation_font_size=9)
    eq_t = _x(equity_time)
    fig.add_trace(go.Scattergl(x=eq_t, y=_y(equity), mode="lines",
                               line={"color": "#1565c0", "width": 1.2}, name="equity"), row=3, col=1)
    fig.add_trace(go.Scattergl(x=eq_t, y=_y(drawdown_pct(equity, capital)), mode="lines", fill="tozeroy",
                               line={"color": "#c62828", "width": 1}, name="drawdown"), row=4, col=1)
    fig.update_xaxes(type="date", rangeslider_visible=False)
    fig.update_layout(title=title, height=1000, template="plotly_white", hovermode="closest",
                      legend={"orientation": "h", "y": 1.02, "x": 0, "font": {"size": 10}},
                      margin={"l": 60, "r": 20, "t": 90, "b": 40})
    return fig


def _add_trades(fig: go.Figure, trades: Sequence[Trade]) -> None:
    """Entries as triangles (up long, down short) and exits as crosses, hover text = type and reason."""
    for side, symbol, colour in (("long", "triangle-up", "#2e7d32"), ("short", "triangle-down", "#c62828")):
        chosen = [tr for tr in trades if tr.side == side]
        if not chosen:
            continue
        fig.add_trace(go.Scattergl(  # WebGL like the VI lines, so the markers are drawn above them
            x=[tr.entry_time for tr in chosen], y=[tr.entry_price for tr in chosen], mode="markers",
            marker={"symbol": symbol, "size": 14, "color": colour, "line": {"width": 1, "color": "white"}},
            name=f"{side} entry", text=[f"{tr.type} {tr.entry_reason} RSI {tr.entry_rsi:.1f}" for tr in chosen],
            hovertemplate="%{text}<br>%{x}<br>%{y:.2f}<extra>entry</extra>"), row=1, col=1)
    reasons = sorted({tr.exit_reason for tr in trades})
    for reason in reasons:
        chosen = [tr for tr in trades if tr.exit_reason == reason]
        fig.add_trace(go.Scattergl(
            x=[tr.exit_time if tr.exit_time is not None else tr.entry_time for tr in chosen],
            y=[tr.exit_price for tr in chosen], mode="markers",
            marker={"symbol": "x", "size": 14 if reason == "liquidation" else 10,
                    "color": _EXIT_COLOURS.get(reason, "#37474f")},
            name=f"exit {reason}", text=[f"{tr.type} exit {reason}, PnL {tr.pnl:,.0f} USD" for tr in chosen],
            hovertemplate="%{text}<br>%{x}<br>%{y:.2f}<extra>exit</extra>"), row=1, col=1)


def _format(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.2f}" if math.isfinite(value) else "n/a"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
    return str(value)


def _summary_table(rows: Mapping[str, Any]) -> str:
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_format(v))}</td></tr>" for k, v in rows.items())
    return f"<table class='summary'>{cells}</table>"


def render_report(fig: go.Figure, title: str, summary: Mapping[str, Any], extra_html: str = "") -> str:
    """A whole HTML page: the chart (plotly.js inline), the summary table and optional extra tables."""
    chart = fig.to_html(full_html=False, include_plotlyjs="inline", div_id="chart",
                        config={"displaylogo": False, "scrollZoom": True})
    style = ("body{font-family:system-ui,sans-serif;margin:16px}table.summary{border-collapse:collapse;"
             "font-size:13px;margin-bottom:8px}table.summary th{text-align:left;padding:2px 12px 2px 0;"
             "font-weight:600}table.summary td{padding:2px 16px 2px 0}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{chart}<h3>Summary</h3>{_summary_table(summary)}"
            f"{extra_html}</body></html>")


def write_report(path: Path, page: str) -> None:
    path.write_text(page, encoding="utf-8")


def summary_rows(metrics: Mapping[str, Any], params: StrategyParams, start_ms: int, stop_ms: int,
                 candles_name: str) -> dict[str, Any]:
    """The rows of the summary table: what ran on what, then the figures."""
    rows: dict[str, Any] = {
        "candles": candles_name, "range": f"{ms_to_iso(start_ms)} to {ms_to_iso(stop_ms)}",
        "strategy": params.strategy, "leverage": params.leverage,
    }
    rows.update(metrics)
    return rows
