"""Grid parsing, one frame build per indicator set, parallel results equal to serial ones, ranking."""

from __future__ import annotations

import pytest

from bitsniper.backtest.metrics import compute_metrics
from bitsniper.backtest.optimize import evaluate, grid_points, parse_grid, rank
from bitsniper.backtest.runner import run_backtest
from bitsniper.candles import Candles
from bitsniper.errors import ConfigError
from bitsniper.strategy import build_frame


def test_unknown_grid_name_is_refused_with_the_valid_names() -> None:
    with pytest.raises(ConfigError) as error:
        parse_grid(["vi1_multiplier=18,19"])
    assert "unknown setting 'vi1_multiplier'" in str(error.value)
    assert "vi1_mult, vi2_mult" in str(error.value) and "leverage" in str(error.value)


def test_impossible_grid_value_names_the_combination_and_the_setting() -> None:
    with pytest.raises(ConfigError) as error:
        grid_points(parse_grid(["leverage=5,0"]), None, None)
    assert "leverage=0" in str(error.value) and "invalid setting leverage" in str(error.value)


def test_grid_points_are_every_combination_in_order() -> None:
    points = grid_points(parse_grid(["vi1_mult=18,19", "leverage=2,5,10"]), ["fee_buffer=0.01"], "vi")
    assert [p.values for p in points][:2] == [{"vi1_mult": "18", "leverage": "2"}, {"vi1_mult": "18", "leverage": "5"}]
    assert len(points) == 6
    assert all(p.params.fee_buffer == 0.01 and p.costs.leverage == p.params.leverage for p in points)


@pytest.mark.parametrize("jobs", [1, 2])
def test_frames_are_built_once_per_indicator_set_and_results_match_direct_runs(slice_candles: Candles, jobs: int) -> None:
    points = grid_points(parse_grid(["vi1_mult=17,19", "leverage=2,5"]), None, None)
    window = (100, len(slice_candles), 10_000.0)
    results, builds = evaluate(slice_candles, points, [window], jobs=jobs)
    assert builds == 2  # two distinct vi1_mult values; leverage does not change the indicators
    for point in points:
        frame = build_frame(slice_candles, point.params)
        direct = run_backtest(frame, point.params, point.costs, 10_000.0, 100, len(slice_candles))
        expected = compute_metrics(direct.trades, direct.equity_time, direct.equity, direct.in_position, 10_000.0,
                                   frame.interval_ms)
        assert results[0][point.index] == expected


def test_many_indicator_sets_are_each_built_by_one_worker(slice_candles: Candles) -> None:
    mults = ",".join(str(m) for m in range(8, 26))  # 18 sets: above the prebuild limit
    points = grid_points(parse_grid([f"vi1_mult={mults}"]), None, None)
    results, builds = evaluate(slice_candles.slice(0, 3000), points, [(0, 3000, 10_000.0)], jobs=2)
    assert builds == 18
    assert set(results[0]) == {p.index for p in points}


def test_rank_puts_the_best_first_and_undefined_values_last() -> None:
    points = grid_points(parse_grid(["leverage=1,2,3"]), None, None)
    metrics = {0: {"sharpe": 0.5}, 1: {"sharpe": None}, 2: {"sharpe": 1.5}}
    assert [p.values["leverage"] for p in rank(points, metrics, "sharpe")] == ["3", "1", "2"]
