"""``bitsniper backtest``: settings, candles and range in; trades, equity, metrics and report out."""

from __future__ import annotations

import time as clock
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bitsniper.backtest.inputs import decision_range, load_study_settings, parse_date, read_study_candles
from bitsniper.backtest.metrics import compute_metrics
from bitsniper.backtest.outputs import write_all, write_equity, write_json, write_trades
from bitsniper.backtest.report import build_figure, render_report, summary_rows, write_report
from bitsniper.backtest.runner import BacktestResult, costs_from_settings, run_backtest
from bitsniper.candles import ms_to_iso
from bitsniper.errors import ConfigError
from bitsniper.strategy import MarketFrame, build_frame

__all__ = ["BacktestRun", "run_backtest_study", "result_metrics", "describe_range"]


@dataclass(frozen=True, slots=True)
class BacktestRun:
    """What the command reports: the run, its metrics, the files written and the report's render time."""

    result: BacktestResult
    metrics: dict[str, Any]
    frame: MarketFrame
    written: tuple[str, ...]
    report_secs: float | None


def result_metrics(result: BacktestResult, frame: MarketFrame) -> dict[str, Any]:
    """``metrics.json``: the figures plus how the run ended and what stayed unfilled."""
    metrics = compute_metrics(result.trades, result.equity_time, result.equity, result.in_position,
                              result.capital, frame.interval_ms)
    metrics["ended"] = result.ended
    metrics["unfilled_actions"] = len(result.unfilled)
    return metrics


def run_backtest_study(
    candles_path: Path, out_dir: Path, strategy: str | None = None, start: str | None = None,
    stop: str | None = None, overrides: list[str] | None = None, capital: float = 10_000.0, report: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> BacktestRun:
    """Everything is checked and computed before the first file is written (nothing written on error)."""
    if not capital > 0:
        raise ConfigError(f"--capital must be positive, got {capital:g}")
    settings = load_study_settings(overrides, strategy)
    params = settings.strategy_params()
    start_ms, stop_ms = parse_date(start, "--from"), parse_date(stop, "--to")
    candles = read_study_candles(candles_path, settings)
    rows = decision_range(candles, start_ms, stop_ms, str(candles_path))
    frame = build_frame(candles, params)
    total = rows.stop - rows.start
    result = run_backtest(frame, params, costs_from_settings(settings), capital, rows.start, rows.stop,
                          progress=(lambda done: progress(done, total)) if progress else None)
    metrics = result_metrics(result, frame)
    files: dict[str, Callable[[Path], None]] = {
        "trades.csv": lambda path: write_trades(path, result.trades),
        "equity.csv": lambda path: write_equity(path, result.equity_time, result.equity, capital),
        "metrics.json": lambda path: write_json(path, metrics),
    }
    report_secs = None
    if report:
        began = clock.perf_counter()
        title = f"BitSniper backtest: {params.strategy} on {candles_path.name}"
        figure = build_figure(frame, params, result.trades, result.equity_time, result.equity, capital,
                              rows.start, rows.stop, title)
        summary = summary_rows(metrics, params, int(frame.t[rows.start]),
                               int(frame.t[rows.stop - 1]) + frame.interval_ms, candles_path.name)
        page = render_report(figure, title, summary)
        report_secs = clock.perf_counter() - began
        files["report.html"] = lambda path: write_report(path, page)
    write_all(out_dir, files)
    return BacktestRun(result, metrics, frame, tuple(files), report_secs)


def describe_range(run: BacktestRun) -> str:
    """The decided span, from the open of its first candle to the close of its last."""
    r = run.result
    return f"{ms_to_iso(run.frame.t[r.start])} to {ms_to_iso(run.frame.t[r.stop - 1] + run.frame.interval_ms)}"
