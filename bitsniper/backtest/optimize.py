"""``bitsniper optimize``: every combination of a parameter grid, backtested on all cores and ranked.

Indicators depend only on (strategy, RSI period, ATR period, VI multipliers, candle length), so the
frames are built once per distinct indicator set: in the parent before the worker processes fork (they
inherit them without copying) when there are few sets, otherwise by the one worker that gets all the
combinations of that set.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from bitsniper.backtest.accounting import Costs
from bitsniper.backtest.inputs import load_study_settings
from bitsniper.backtest.metrics import compute_metrics
from bitsniper.backtest.runner import costs_from_settings, run_backtest
from bitsniper.candles import Candles
from bitsniper.config import Settings, StrategyParams
from bitsniper.errors import ConfigError
from bitsniper.strategy import MarketFrame, build_frame

__all__ = [
    "GridPoint", "parse_grid", "grid_points", "indicator_key", "evaluate", "rank", "RANKABLE", "check_metric",
    "FrameCache",
]

RANKABLE = ("sharpe", "sortino", "total_return_pct", "cagr_pct", "max_drawdown_pct", "profit_factor",
            "win_rate_pct", "final_equity", "exposure_pct", "trades")
PREBUILD_MAX_SETS = 16
IndicatorKey = tuple[str, int, int, tuple[float, float, float], int]


@dataclass(frozen=True, slots=True)
class GridPoint:
    """One combination: its grid values as given, the parameters and the cost model they make."""

    index: int
    values: dict[str, str]
    params: StrategyParams
    costs: Costs


def parse_grid(specs: Sequence[str]) -> dict[str, list[str]]:
    """``name=v1,v2,...`` pairs; unknown names are refused with the list of valid names."""
    valid = sorted(Settings.model_fields)
    grid: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, raw = spec.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"--grid expects name=v1,v2,..., got {spec!r}")
        if name not in Settings.model_fields:
            raise ConfigError(f"unknown setting {name!r} in --grid; valid names: {', '.join(valid)}")
        values = [v.strip() for v in raw.split(",") if v.strip()]
        if not values:
            raise ConfigError(f"--grid {name} has no values")
        if name in grid:
            raise ConfigError(f"--grid {name} is given twice")
        grid[name] = values
    if not grid:
        raise ConfigError("give at least one --grid name=v1,v2,...")
    return grid


def grid_points(grid: dict[str, list[str]], overrides: list[str] | None, strategy: str | None) -> list[GridPoint]:
    """Every combination, each validated before anything runs (an impossible value names its setting)."""
    names = list(grid)
    base = list(overrides or [])
    points = []
    for index, combo in enumerate(itertools.product(*(grid[n] for n in names))):
        values = dict(zip(names, combo))
        pairs = base + [f"{n}={v}" for n, v in values.items()]
        try:
            settings = load_study_settings(pairs, strategy)
        except ConfigError as error:
            shown = ", ".join(f"{n}={v}" for n, v in values.items())
            raise ConfigError(f"grid combination {shown}: {error}") from None
        points.append(GridPoint(index, values, settings.strategy_params(), costs_from_settings(settings)))
    return points


def indicator_key(params: StrategyParams) -> IndicatorKey:
    """What ``build_frame`` depends on."""
    return (params.strategy, params.active_rsi_period, params.atr_period, params.vi_mults, params.candle_minutes)


def check_metric(metric: str) -> str:
    if metric not in RANKABLE:
        raise ConfigError(f"unknown metric {metric!r}; choose one of: {', '.join(RANKABLE)}")
    return metric


class FrameCache:
    """Frames by indicator key; counts the builds so the one-build-per-set promise can be checked."""

    def __init__(self, candles: Candles) -> None:
        self.candles = candles
        self.frames: dict[IndicatorKey, MarketFrame] = {}
        self.builds = 0

    def get(self, params: StrategyParams, keep_one: bool = False) -> MarketFrame:
        key = indicator_key(params)
        frame = self.frames.get(key)
        if frame is None:
            if keep_one:
                self.frames.clear()
            frame = build_frame(self.candles, params)
            self.frames[key] = frame
            self.builds += 1
        return frame


# Worker-process globals: set in the parent before the pool forks, or by the initializer.
_CACHE: FrameCache | None = None


def _init_worker(candles: Candles | None) -> None:
    global _CACHE
    if candles is not None:
        _CACHE = FrameCache(candles)


Window = tuple[int, int, float]  # start row, stop row, capital


def _run_points(points: Sequence[GridPoint], window: Window) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    assert _CACHE is not None
    before = _CACHE.builds
    start, stop, capital = window
    rows = []
    for point in points:
        frame = _CACHE.get(point.params, keep_one=True)  # prebuilt: found; else one set per task
        result = run_backtest(frame, point.params, point.costs, capital, start, stop)
        rows.append((point.index, compute_metrics(result.trades, result.equity_time, result.equity,
                                                  result.in_position, capital, frame.interval_ms)))
    return rows, _CACHE.builds - before


def _tasks(points: Sequence[GridPoint], jobs: int, prebuilt: bool) -> list[list[GridPoint]]:
    """Split the work: by indicator set when each worker builds its own frames, else in even chunks."""
    ordered = sorted(points, key=lambda p: (indicator_key(p.params), p.index))
    if not prebuilt:
        groups: dict[IndicatorKey, list[GridPoint]] = {}
        for point in ordered:
            groups.setdefault(indicator_key(point.params), []).append(point)
        return list(groups.values())
    size = max(1, math.ceil(len(ordered) / (jobs * 4)))
    return [list(ordered[k:k + size]) for k in range(0, len(ordered), size)]


def evaluate(
    candles: Candles, points: Sequence[GridPoint], windows: Sequence[Window], jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[dict[int, dict[str, Any]]], int]:
    """Metrics of every point on every window (row ranges); returns them and the number of frame builds."""
    global _CACHE
    jobs = max(1, jobs or os.cpu_count() or 1)
    keys = {indicator_key(p.params) for p in points}
    prebuilt = len(keys) <= PREBUILD_MAX_SETS
    _CACHE = FrameCache(candles)
    if prebuilt:
        for point in points:
            _CACHE.get(point.params)
    results: list[dict[int, dict[str, Any]]] = [{} for _ in windows]
    builds = _CACHE.builds
    tasks = [(w, chunk) for w in range(len(windows)) for chunk in _tasks(points, jobs, prebuilt)]
    done = 0
    if jobs == 1 or len(tasks) == 1:
        for w, chunk in tasks:
            rows, built = _run_points(chunk, windows[w])
            results[w].update(rows)
            builds += built
            done += len(chunk)
            if progress:
                progress(done, len(points) * len(windows))
        return results, builds
    context = multiprocessing.get_context("fork")  # workers inherit the prebuilt frames without pickling
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker,
                             initargs=(None if prebuilt else candles,)) as pool:
        futures = [(w, len(chunk), pool.submit(_run_points, chunk, windows[w])) for w, chunk in tasks]
        for w, count, future in futures:
            rows, built = future.result()
            results[w].update(rows)
            builds += built
            done += count
            if progress:
                progress(done, len(points) * len(windows))
    return results, builds


def rank(points: Sequence[GridPoint], metrics: dict[int, dict[str, Any]], metric: str) -> list[GridPoint]:
    """Best first; a point whose metric is undefined (None) ranks last, ties keep the grid order."""
    def key(point: GridPoint) -> tuple[int, float, int]:
        value = metrics[point.index].get(metric)
        return (1, 0.0, point.index) if value is None else (0, -float(value), point.index)

    return sorted(points, key=key)
