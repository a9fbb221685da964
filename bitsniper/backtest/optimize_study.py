"""``bitsniper optimize``: parse and validate the grid, evaluate it on all cores, write the ranking."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bitsniper.backtest.inputs import decision_range, load_study_settings, parse_date, read_study_candles
from bitsniper.backtest.optimize import (
    GridPoint, check_metric, evaluate, grid_points, indicator_key, parse_grid, rank,
)
from bitsniper.backtest.outputs import write_file
from bitsniper.errors import ConfigError

__all__ = ["OptimizeRun", "run_optimize_study", "RESULT_METRICS"]

RESULT_METRICS = ("sharpe", "sortino", "total_return_pct", "cagr_pct", "max_drawdown_pct", "win_rate_pct",
                  "profit_factor", "exposure_pct", "trades", "liquidations", "fees", "final_equity")


@dataclass(frozen=True, slots=True)
class OptimizeRun:
    ranked: list[GridPoint]
    metrics: dict[int, dict[str, Any]]
    frame_builds: int
    indicator_sets: int


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def write_ranking(path: Path, ranked: list[GridPoint], metrics: dict[int, dict[str, Any]], names: list[str]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["rank", *names, *RESULT_METRICS])
        for position, point in enumerate(ranked, start=1):
            row = metrics[point.index]
            writer.writerow([position, *(point.values[n] for n in names), *(_fmt(row.get(m)) for m in RESULT_METRICS)])


def run_optimize_study(
    candles_path: Path, out_path: Path, grid_specs: list[str], metric: str = "sharpe", jobs: int | None = None,
    strategy: str | None = None, start: str | None = None, stop: str | None = None,
    overrides: list[str] | None = None, capital: float = 10_000.0,
    progress: Callable[[int, int], None] | None = None,
) -> OptimizeRun:
    """Everything is validated (names, values, metric, range) before any backtest runs or file is written."""
    if jobs is not None and jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    if not capital > 0:
        raise ConfigError(f"--capital must be positive, got {capital:g}")
    check_metric(metric)
    grid = parse_grid(grid_specs)
    base = load_study_settings(overrides, strategy)
    points = grid_points(grid, overrides, strategy)
    candles = read_study_candles(candles_path, base)
    rows = decision_range(candles, parse_date(start, "--from"), parse_date(stop, "--to"), str(candles_path))
    results, builds = evaluate(candles, points, [(rows.start, rows.stop, capital)], jobs, progress)
    ranked = rank(points, results[0], metric)
    write_file(out_path, lambda path: write_ranking(path, ranked, results[0], list(grid)))
    return OptimizeRun(ranked, results[0], builds, len({indicator_key(p.params) for p in points}))
