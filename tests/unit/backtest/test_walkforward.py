"""Walk-forward windows and the stitched out-of-sample run."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from bitsniper.backtest.walkforward import parse_duration, plan_windows, run_walkforward_study
from bitsniper.errors import ConfigError
from tests.conftest import TEST_DATA

DAY = 86_400_000
SLICE = TEST_DATA / "coinbase_btcusd_15m_2025-06-01_2025-08-05.csv.gz"


def test_durations_accept_minutes_hours_days_weeks_and_refuse_the_rest() -> None:
    assert parse_duration("90d", "--train") == 90 * DAY
    assert parse_duration("12h", "--test") == 12 * 3_600_000
    assert parse_duration("2w", "--test") == 14 * DAY
    with pytest.raises(ConfigError, match="--train: '90 days' is not a duration"):
        parse_duration("90 days", "--train")


def test_windows_roll_by_the_test_length_and_never_overlap_their_test_parts() -> None:
    time = np.arange(0, 100 * DAY, 900_000, dtype=np.int64)
    windows = plan_windows(time, 0, len(time), 30 * DAY, 10 * DAY)
    assert len(windows) == 7  # tests start at days 30, 40, ..., 90
    assert windows[0].train_start == 0 and windows[0].train_stop == windows[0].test_start == 30 * 96
    assert all(b.test_start == a.test_stop for a, b in zip(windows, windows[1:]))
    assert windows[-1].test_stop == len(time)


def test_stitched_out_of_sample_equity_carries_each_window_into_the_next(tmp_path: Path) -> None:
    out = tmp_path / "wf"
    run = run_walkforward_study(SLICE, out, "25d", "10d", ["vi1_mult=17,19", "leverage=2,5"], jobs=1, report=False)
    assert len(run.windows) >= 3
    for before, after in zip(run.windows, run.windows[1:]):
        assert after["start_equity"] == before["end_equity"]
        assert after["test_start"] == before["test_end"]
    assert run.metrics["final_equity"] == pytest.approx(run.windows[-1]["end_equity"])
    with (out / "windows.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["best_vi1_mult"] for r in rows] == [w["best_vi1_mult"] for w in run.windows]
    assert sorted(p.name for p in out.iterdir()) == ["equity.csv", "metrics.json", "trades.csv", "windows.csv"]
