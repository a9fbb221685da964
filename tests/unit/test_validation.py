"""The Great Expectations candle suite: every check fails on the defect it is there for, and only then."""

from __future__ import annotations

import numpy as np
import pytest

from bitsniper.candles import Candles, read_candles_csv
from bitsniper.validation import validate_candles

from tests.conftest import TEST_DATA

INTERVAL = 900_000


@pytest.fixture(scope="module")
def good() -> Candles:
    return read_candles_csv(TEST_DATA / "coinbase_btcusd_15m_2025-06-01_2025-08-05.csv.gz").slice(-300)


def _with(candles: Candles, **columns: np.ndarray) -> Candles:
    values = {name: getattr(candles, name).copy() for name in ("time", "open", "high", "low", "close", "volume")}
    values.update(columns)
    return Candles(**values)


def _failed(report) -> set[str]:  # type: ignore[no-untyped-def]
    return {f"{f.expectation}:{f.column}" for f in report.failures}


def test_clean_candles_with_the_expected_last_candle_pass(good: Candles) -> None:
    report = validate_candles(good, int(good.time[-1]), INTERVAL)
    assert report.passed, report.summary()
    assert report.failures == () and report.warnings == ()
    assert report.evaluated >= 20


def test_last_candle_not_the_expected_n_minus_1_fails(good: Candles) -> None:
    report = validate_candles(good, int(good.time[-1]) + INTERVAL, INTERVAL)
    assert not report.passed
    assert _failed(report) == {"expect_column_max_to_be_between:timestamp"}


@pytest.mark.parametrize(
    ("column", "row", "value", "expected"),
    [
        ("high", 10, "below_close", "expect_column_pair_values_a_to_be_greater_than_b:high vs close"),
        ("low", 20, "above_open", "expect_column_pair_values_a_to_be_greater_than_b:open vs low"),
        ("close", 30, -1.0, "expect_column_values_to_be_between:close"),
        ("volume", 40, -0.5, "expect_column_values_to_be_between:volume"),
        ("open", 50, np.nan, "expect_column_values_to_not_be_null:open"),
    ],
)
def test_each_price_defect_fails_its_own_check(good: Candles, column: str, row: int, value: object, expected: str) -> None:
    data = getattr(good, column).copy()
    if value == "below_close":
        data[row] = max(good.open[row], good.close[row]) - 1.0
    elif value == "above_open":
        data[row] = min(good.open[row], good.close[row]) + 1.0
    else:
        data[row] = value
    report = validate_candles(_with(good, **{column: data}), int(good.time[-1]), INTERVAL)
    assert not report.passed
    assert expected in _failed(report), report.summary()


def test_duplicate_and_unsorted_timestamps_fail(good: Candles) -> None:
    time = good.time.copy()
    time[100] = time[99]
    report = validate_candles(_with(good, time=time), int(good.time[-1]), INTERVAL)
    assert {"expect_column_values_to_be_unique:timestamp", "expect_column_values_to_be_increasing:timestamp"} <= _failed(report)


def test_timestamp_off_the_15_minute_grid_fails(good: Candles) -> None:
    time = good.time.copy()
    time[200] += 60_000
    report = validate_candles(_with(good, time=time), int(good.time[-1]), INTERVAL)
    assert "expect_column_values_to_be_in_set:grid_offset_ms" in _failed(report)


def test_hole_in_the_decision_window_warns_by_default_and_fails_when_configured(good: Candles) -> None:
    keep = np.ones(len(good), dtype=bool)
    keep[-2] = False  # N-2 missing: N-3 and N-1 are not consecutive
    holed = Candles(*(getattr(good, f)[keep] for f in ("time", "open", "high", "low", "close", "volume")))
    lenient = validate_candles(holed, int(good.time[-1]), INTERVAL)
    assert lenient.passed
    assert [w.column for w in lenient.warnings] == ["window_step_ms"]
    strict = validate_candles(holed, int(good.time[-1]), INTERVAL, fail_on_window_hole=True)
    assert not strict.passed
    assert "expect_column_values_to_be_in_set:window_step_ms" in _failed(strict)


def test_hole_before_the_decision_window_is_not_a_failure(good: Candles) -> None:
    keep = np.ones(len(good), dtype=bool)
    keep[100] = False
    holed = Candles(*(getattr(good, f)[keep] for f in ("time", "open", "high", "low", "close", "volume")))
    report = validate_candles(holed, int(good.time[-1]), INTERVAL, fail_on_window_hole=True)
    assert report.passed, report.summary()


def test_no_candles_fails_with_a_clear_reason() -> None:
    empty = Candles(*(np.array([], dtype=t) for t in (np.int64, float, float, float, float, float)))
    report = validate_candles(empty, 0, INTERVAL)
    assert not report.passed and "no candles" in report.summary()
