"""``bitsniper walkforward``: pick the best grid point on each train window, trade it on the next test window.

Windows roll by the test length: train ``[s, s + train)``, test ``[s + train, s + train + test)``. Indicators
run over the whole file (rows before a window only warm them up); each test window starts flat with the
equity the previous one ended with (an open position is valued at the last close), so the stitched
out-of-sample curve is what following the procedure would have earned.
"""

from __future__ import annotations

import csv
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bitsniper.backtest.accounting import Trade
from bitsniper.backtest.inputs import decision_range, load_study_settings, parse_date, read_study_candles
from bitsniper.backtest.metrics import compute_metrics, drawdown_pct
from bitsniper.backtest.optimize import FrameCache, GridPoint, check_metric, evaluate, grid_points, parse_grid, rank
from bitsniper.backtest.outputs import write_all, write_equity, write_json, write_trades
from bitsniper.backtest.report import render_report
from bitsniper.backtest.runner import run_backtest
from bitsniper.candles import ms_to_iso
from bitsniper.errors import ConfigError

__all__ = ["parse_duration", "plan_windows", "WalkWindow", "WalkForwardRun", "run_walkforward_study"]

_UNITS_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


def parse_duration(text: str, option: str) -> int:
    """``90d``, ``12h``, ``4w``, ``30m`` as milliseconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*", text or "")
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"{option}: {text!r} is not a duration (use e.g. 90d, 12h, 4w)")
    return int(float(match.group(1)) * _UNITS_MS[match.group(2)])


@dataclass(frozen=True, slots=True)
class WalkWindow:
    train_start: int  # rows
    train_stop: int
    test_start: int
    test_stop: int


def plan_windows(time: np.ndarray, start: int, stop: int, train_ms: int, test_ms: int) -> list[WalkWindow]:
    """Rolling windows within rows ``[start, stop)``; a last test window shorter than ``test`` is kept."""
    windows = []
    begin = int(time[start])
    end = int(time[stop - 1]) + 1
    while begin + train_ms < end:
        rows = np.searchsorted(time, [begin, begin + train_ms, begin + train_ms + test_ms], side="left")
        a, b, c = (max(start, min(int(r), stop)) for r in rows)
        if b - a >= 2 and c - b >= 2:
            windows.append(WalkWindow(a, b, b, c))
        begin += test_ms
    return windows


@dataclass(frozen=True, slots=True)
class WalkForwardRun:
    windows: list[dict[str, Any]]
    metrics: dict[str, Any]
    trades: list[Trade]
    equity_time: list[int]
    equity: list[float]


def _fmt(value: Any) -> str:
    return "" if value is None else (f"{value:.6g}" if isinstance(value, float) else str(value))


def run_walkforward_study(
    candles_path: Path, out_dir: Path, train: str, test: str, grid_specs: list[str], metric: str = "sharpe",
    jobs: int | None = None, strategy: str | None = None, start: str | None = None, stop: str | None = None,
    overrides: list[str] | None = None, capital: float = 10_000.0, report: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> WalkForwardRun:
    """Validate everything, optimise every train window (one pool), then chain the test windows."""
    if not capital > 0:
        raise ConfigError(f"--capital must be positive, got {capital:g}")
    train_ms, test_ms = parse_duration(train, "--train"), parse_duration(test, "--test")
    check_metric(metric)
    grid = parse_grid(grid_specs)
    base = load_study_settings(overrides, strategy)
    points = grid_points(grid, overrides, strategy)
    candles = read_study_candles(candles_path, base)
    rows = decision_range(candles, parse_date(start, "--from"), parse_date(stop, "--to"), str(candles_path))
    plan = plan_windows(candles.time, rows.start, rows.stop, train_ms, test_ms)
    if not plan:
        raise ConfigError(f"the range is too short for one --train {train} window followed by a --test {test} window")
    train_results, _ = evaluate(candles, points, [(w.train_start, w.train_stop, capital) for w in plan], jobs, progress)
    cache = FrameCache(candles)
    equity_time: list[int] = []
    equity: list[float] = []
    held: list[bool] = []
    trades: list[Trade] = []
    table: list[dict[str, Any]] = []
    money = capital
    for window, results in zip(plan, train_results):
        best: GridPoint = rank(points, results, metric)[0]
        frame = cache.get(best.params, keep_one=True)
        result = run_backtest(frame, best.params, best.costs, money, window.test_start, window.test_stop)
        test_metrics = compute_metrics(result.trades, result.equity_time, result.equity, result.in_position, money,
                                       frame.interval_ms)
        t = frame.t
        table.append({
            "train_start": ms_to_iso(t[window.train_start]), "train_end": ms_to_iso(t[window.train_stop - 1] + frame.interval_ms),
            "test_start": ms_to_iso(t[window.test_start]), "test_end": ms_to_iso(t[window.test_stop - 1] + frame.interval_ms),
            **{f"best_{k}": v for k, v in best.values.items()},
            f"train_{metric}": results[best.index].get(metric),
            "test_return_pct": test_metrics["total_return_pct"], "test_max_drawdown_pct": test_metrics["max_drawdown_pct"],
            "test_trades": test_metrics["trades"], "test_liquidations": test_metrics["liquidations"],
            "start_equity": money, "end_equity": test_metrics["final_equity"],
        })
        trades.extend(result.trades)
        equity_time.extend(result.equity_time)
        equity.extend(result.equity)
        held.extend(result.in_position)
        money = test_metrics["final_equity"]
        if money <= 0:
            break
    metrics = compute_metrics(trades, equity_time, equity, held, capital, base.candle_ms)
    metrics.update({"windows": len(table), "train": train, "test": test, "metric": metric,
                    "grid": {k: v for k, v in grid.items()}})
    files: dict[str, Callable[[Path], None]] = {
        "windows.csv": lambda path: _write_windows(path, table),
        "equity.csv": lambda path: write_equity(path, equity_time, equity, capital),
        "trades.csv": lambda path: write_trades(path, trades),
        "metrics.json": lambda path: write_json(path, metrics),
    }
    if report:
        page = _report(candles_path.name, table, equity_time, equity, capital, metrics)
        files["report.html"] = lambda path: path.write_text(page, encoding="utf-8")
    write_all(out_dir, files)
    return WalkForwardRun(table, metrics, trades, equity_time, equity)


def _write_windows(path: Path, table: list[dict[str, Any]]) -> None:
    names = list(table[0]) if table else []
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(names)
        for row in table:
            writer.writerow([_fmt(row[n]) for n in names])


def _report(name: str, table: list[dict[str, Any]], times: list[int], equity: list[float], capital: float,
            metrics: dict[str, Any]) -> str:
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.04,
                        subplot_titles=("Out-of-sample equity (USD)", "Drawdown (%)"))
    x = np.asarray(times, dtype=np.float64)
    fig.add_trace(go.Scattergl(x=x, y=np.asarray(equity, dtype=np.float32), mode="lines", name="equity"), row=1, col=1)
    fig.add_trace(go.Scattergl(x=x, y=drawdown_pct(equity, capital).astype(np.float32), mode="lines", fill="tozeroy",
                               name="drawdown", line={"color": "#c62828"}), row=2, col=1)
    for row in table:
        fig.add_vline(x=row["test_start"], line={"color": "grey", "dash": "dot", "width": 1})
    fig.update_xaxes(type="date")
    fig.update_layout(height=700, template="plotly_white", title=f"Walk-forward on {name}")

    head = "".join(f"<th>{html.escape(k)}</th>" for k in (table[0] if table else {}))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row.values()) + "</tr>" for row in table)
    extra = f"<h3>Windows</h3><table class='summary'><tr>{head}</tr>{body}</table>"
    summary = {k: v for k, v in metrics.items() if k != "grid"}
    return render_report(fig, f"BitSniper walk-forward on {name}", summary, extra)
