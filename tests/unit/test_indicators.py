"""RSI, ATR and the volatility indexes against the spec's words, TA-Lib and Kraken's chart (I1-I4)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import talib

from bitsniper.candles import Candles, iso_to_ms, read_candles_csv
from bitsniper.config import strategy_params
from bitsniper.indicators import atr, indicator_set, rsi, volatility_index, volatility_indexes
from bitsniper.strategy.frame import NEVER, build_frame
from tests.conftest import TEST_DATA, shared_file

SLICE = TEST_DATA / "coinbase_btcusd_15m_2025-06-01_2025-08-05.csv.gz"
MULTS = (19.0, 10.0, 6.0)

# I1 test vector: 63 closes from 2025-07-07T18:00Z and the RSI(12) values the spec gives for them.
SPEC_CLOSES = [
    108078, 107563, 107756, 108042, 108192, 108220, 108135, 108081, 108006, 108057, 108024, 107897, 107977,
    107813, 108076, 108183, 108060, 108005, 108111, 108040, 108210, 108202, 108216, 108277, 108298, 108437,
    108531, 108295, 108186, 108061, 107889, 107703, 107660, 107923, 107750, 107784, 107796, 107907, 107962,
    107911, 107838, 107872, 107991, 108052, 108034, 108109, 108159, 108219, 108251, 108199, 108322, 108303,
    108250, 108366, 108424, 108498, 108498, 108415, 108299, 108277, 108362, 108410, 108508,
]


@pytest.fixture(scope="module")
def candles() -> Candles:
    return read_candles_csv(SLICE)


@pytest.fixture(scope="module")
def atr28(candles: Candles) -> np.ndarray:
    return atr(candles.high, candles.low, candles.close, 28)


def reference_vi(close: list[float], atr_values: list[float], m: float) -> tuple[list[float], list[bool], list[bool]]:
    """I3 as the spec words it, one candle at a time; independent of the compiled implementation.

    Returns (VI value, phase above, converged) per candle; NaN / False before the first ATR.
    """
    values: list[float] = []
    phases: list[bool] = []
    converged: list[bool] = []
    started = False
    side = "below"
    extreme = 0.0
    has_flipped = False
    for c, a in zip(close, atr_values):
        if not started and math.isnan(a):
            values.append(math.nan)
            phases.append(False)
            converged.append(False)
            continue
        if not started:  # the first candle with an ATR starts "below" with E = its close
            started, side, extreme = True, "below", c
        if side == "below":
            extreme = max(extreme, c)
            vi = extreme - m * a
            if c < vi:
                side, extreme, vi = "above", c, c + m * a
                has_flipped = True
        else:
            extreme = min(extreme, c)
            vi = extreme + m * a
            if c > vi:
                side, extreme, vi = "below", c, c - m * a
                has_flipped = True
        values.append(vi)
        phases.append(vi > c)  # I4: each candle against its own VI value
        converged.append(has_flipped)
    return values, phases, converged


# ---------------------------------------------------------------- I1 RSI


def test_rsi12_of_spec_vector_matches_the_three_given_values() -> None:
    values = rsi(np.array(SPEC_CLOSES, dtype=float), 12)
    assert round(values[12], 4) == 46.9887
    assert round(values[13], 4) == 42.4590
    assert round(values[62], 4) == 64.4649


def test_rsi_is_nan_before_index_period_and_defined_from_it() -> None:
    values = rsi(np.array(SPEC_CLOSES, dtype=float), 12)
    assert np.isnan(values[:12]).all()
    assert np.isfinite(values[12:]).all()


def test_rsi_of_history_not_longer_than_period_is_all_nan() -> None:
    assert np.isnan(rsi(np.array(SPEC_CLOSES[:13], dtype=float), 13)).all()
    assert np.isnan(rsi(np.array([], dtype=float), 12)).shape == (0,)


def test_rsi40_equals_talib_after_warm_up_on_real_candles(candles: Candles) -> None:
    ours = rsi(candles.close, 40)
    theirs = talib.RSI(candles.close, timeperiod=40)
    assert np.isnan(ours[:40]).all()
    np.testing.assert_allclose(ours[40:], theirs[40:], rtol=0, atol=1e-9)


def test_rsi_is_100_when_average_loss_is_zero() -> None:
    rising = 100.0 + np.arange(60, dtype=float)
    flat = np.full(60, 100.0)
    assert (rsi(rising, 12)[12:] == 100.0).all()
    assert (rsi(flat, 12)[12:] == 100.0).all()  # no loss at all, even without gains


def test_rsi_step_after_seed_follows_wilder_recursion() -> None:
    """I1: avg = (avg * (p-1) + x) / p after the SMA seed, read back from two consecutive RSI values."""
    close = np.array(SPEC_CLOSES, dtype=float)
    changes = np.diff(close)
    gain = np.where(changes > 0, changes, 0.0)[:12].mean()
    loss = np.where(changes < 0, -changes, 0.0)[:12].mean()
    x = changes[12]
    gain, loss = (gain * 11 + max(x, 0.0)) / 12, (loss * 11 + max(-x, 0.0)) / 12
    assert rsi(close, 12)[13] == pytest.approx(100 - 100 / (1 + gain / loss), abs=1e-12)


def test_rsi_period_below_two_is_refused() -> None:
    with pytest.raises(ValueError, match="period"):
        rsi(np.array(SPEC_CLOSES, dtype=float), 1)


# ---------------------------------------------------------------- I2 ATR


def true_ranges(candles: Candles) -> np.ndarray:
    prev = np.concatenate(([np.nan], candles.close[:-1]))
    tr = np.maximum.reduce([candles.high - candles.low, np.abs(candles.high - prev), np.abs(candles.low - prev)])
    tr[0] = candles.high[0] - candles.low[0]  # I2: the first candle's range is high - low
    return tr


def test_atr28_first_value_at_index_27_is_mean_of_28_true_ranges(candles: Candles, atr28: np.ndarray) -> None:
    tr = true_ranges(candles)
    assert np.isnan(atr28[:27]).all()
    assert atr28[27] == pytest.approx(tr[:28].mean(), rel=0, abs=1e-9)
    assert atr28[28] == pytest.approx((atr28[27] * 27 + tr[28]) / 28, rel=0, abs=1e-9)


def test_atr28_differs_from_talib_seed_but_agrees_after_warm_up(candles: Candles, atr28: np.ndarray) -> None:
    theirs = talib.ATR(candles.high, candles.low, candles.close, timeperiod=28)
    assert np.isnan(theirs[27])  # TA-Lib leaves the first candle out: its first value is one later
    assert abs(atr28[28] - theirs[28]) > 1e-6
    np.testing.assert_allclose(atr28[1000:], theirs[1000:], rtol=0, atol=1e-9)


def test_atr_of_history_shorter_than_period_is_all_nan(candles: Candles) -> None:
    part = candles.slice(0, 27)
    assert np.isnan(atr(part.high, part.low, part.close, 28)).all()


# ---------------------------------------------------------------- I3 volatility index


@pytest.mark.parametrize("m", MULTS)
def test_vi_equals_plain_loop_written_from_the_spec_on_real_candles(
    candles: Candles, atr28: np.ndarray, m: float
) -> None:
    ours = volatility_index(candles.close, atr28, m)
    values, phases, converged = reference_vi(candles.close.tolist(), atr28.tolist(), m)
    np.testing.assert_allclose(ours.value, values, rtol=0, atol=1e-9)
    assert ours.above.tolist() == phases
    assert ours.converged.tolist() == converged
    assert any(converged) and not all(converged[27:])  # the slice holds the first flip of every VI


def test_vi_hand_made_sequence_flips_above_then_below() -> None:
    close = np.array([100.0, 100.0, 101.0, 98.5, 100.0, 101.0])
    atr_values = np.array([np.nan, 1.0, 1.0, 1.0, 1.0, 1.0])
    vi = volatility_index(close, atr_values, 2.0)
    # start below, E=100 -> 98; E=101 -> 99; 98.5 < 99 flips above at 98.5 + 2; 100 < 100.5 holds;
    # 101 > 100.5 flips below at 101 - 2
    np.testing.assert_array_equal(vi.value, [np.nan, 98.0, 99.0, 100.5, 100.5, 99.0])
    assert vi.above.tolist() == [False, False, False, True, True, False]
    assert vi.converged.tolist() == [False, False, False, True, True, True]


def test_vi_moves_against_the_trend_when_atr_rises_no_ratchet() -> None:
    close = np.array([100.0, 100.0, 99.0, 99.0])
    atr_values = np.array([np.nan, 1.0, 2.0, 3.0])
    vi = volatility_index(close, atr_values, 2.0)
    # below with E = 100: the stop falls 98 -> 96 -> 94 as the ATR rises, the close stays above it
    np.testing.assert_array_equal(vi.value[1:], [98.0, 96.0, 94.0])
    assert not vi.above.any() and not vi.converged.any()


def test_vi_above_moves_up_when_atr_rises_no_ratchet() -> None:
    close = np.array([100.0, 100.0, 97.0, 97.5, 97.5])
    atr_values = np.array([np.nan, 1.0, 1.0, 1.5, 2.0])
    vi = volatility_index(close, atr_values, 2.0)
    # 97 < 98 flips above: E = 97, VI = 99; then E stays 97 and the VI rises with the ATR: 100, 101
    np.testing.assert_array_equal(vi.value[1:], [98.0, 99.0, 100.0, 101.0])
    assert vi.above.tolist() == [False, False, True, True, True]


def test_vi_close_equal_to_vi_does_not_flip_below_side() -> None:
    close = np.array([100.0, 100.0, 98.0])
    vi = volatility_index(close, np.array([np.nan, 1.0, 1.0]), 2.0)
    assert vi.value[2] == 98.0 == close[2]
    assert not vi.converged[2] and not vi.above[2]


def test_vi_close_equal_to_vi_does_not_flip_above_side() -> None:
    close = np.array([100.0, 100.0, 97.0, 99.0])
    vi = volatility_index(close, np.array([np.nan, 1.0, 1.0, 1.0]), 2.0)
    assert vi.value[3] == 99.0 == close[3]  # still above with E = 97: a flip would give 97
    assert vi.value.tolist()[2:] == [99.0, 99.0]
    assert not vi.above[3]  # I4: the phase is strict too, VI == close is "below"


def test_vi_starts_below_with_e_equal_to_first_close_with_an_atr(candles: Candles, atr28: np.ndarray) -> None:
    for m, vi in zip(MULTS, volatility_indexes(candles.close, atr28, MULTS)):
        assert np.isnan(vi.value[:27]).all()
        assert vi.value[27] == candles.close[27] - m * atr28[27]
        assert not vi.above[:28].any() and not vi.converged[:28].any()


def test_vi_converged_is_false_before_first_flip_and_true_from_it(candles: Candles, atr28: np.ndarray) -> None:
    for vi in volatility_indexes(candles.close, atr28, MULTS):
        first_flip = int(np.argmax(vi.above))  # starts below, so the first flip is the first "above"
        assert vi.above[first_flip]
        assert not vi.converged[:first_flip].any()
        assert vi.converged[first_flip:].all()


def first_common_flip(full_above: np.ndarray, late_above: np.ndarray) -> int:
    """First index (of the late series) where both series change phase on the same candle."""
    full_change = full_above[1:] != full_above[:-1]
    late_change = late_above[1:] != late_above[:-1]
    common = np.flatnonzero(full_change & late_change)
    assert len(common), "the two starts never flip together"
    return int(common[0]) + 1


@pytest.mark.parametrize("offset", [500, 3000])
def test_vi_after_flipping_with_the_full_history_no_longer_depends_on_its_start(
    candles: Candles, atr28: np.ndarray, offset: int
) -> None:
    """I3 start independence: a VI started later (same ATR) joins the full-history VI for good at the
    first flip both take together, which comes by the later VI's second flip at the latest."""
    full = volatility_indexes(candles.close, atr28, MULTS)
    late = volatility_indexes(candles.close[offset:], atr28[offset:], MULTS)
    start_mattered = 0
    for f, lt in zip(full, late):
        joined = first_common_flip(f.above[offset:], lt.above)
        late_flips = np.flatnonzero(lt.above[1:] != lt.above[:-1]) + 1
        assert joined <= late_flips[1]
        np.testing.assert_array_equal(f.value[offset + joined:], lt.value[joined:])
        np.testing.assert_array_equal(f.above[offset + joined:], lt.above[joined:])
        start_mattered += not np.array_equal(f.value[offset:offset + joined], lt.value[:joined])
    assert start_mattered  # at least one VI had different values before joining


def assert_close_to_kraken_chart(candles: Candles) -> None:
    """I3: VI1-VI3 read off Kraken's chart in August 2025, from another venue's candles."""
    chart = pd.read_csv(shared_file("spec/vi_kraken_chart_2025-08.csv"))
    vis = volatility_indexes(candles.close, atr(candles.high, candles.low, candles.close, 28), MULTS)
    row_of = {int(t): i for i, t in enumerate(candles.time)}
    differences: list[float] = []
    same_side = 0
    for _, point in chart.iterrows():
        i = row_of[iso_to_ms(point["candle_open_utc"])]
        for k, vi in enumerate(vis, start=1):
            assert vi.converged[i]
            differences.append(abs(vi.value[i] - point[f"vi{k}"]))
            same_side += ("above" if vi.above[i] else "below") == point[f"vi{k}_side"]
    assert len(differences) == 36
    assert float(np.median(differences)) <= 150.0
    assert same_side >= 32


def test_vi_matches_kraken_chart_on_the_test_slice(candles: Candles) -> None:
    assert_close_to_kraken_chart(candles)


def test_vi_matches_kraken_chart_on_two_years_of_coinbase_candles() -> None:
    assert_close_to_kraken_chart(read_candles_csv(shared_file("data/coinbase_btcusd_15m_2024-04_2026-05.csv.gz")))


# ---------------------------------------------------------------- I4 phase and crossings


def test_phase_is_vi_above_own_close_on_every_candle(candles: Candles, atr28: np.ndarray) -> None:
    for vi in volatility_indexes(candles.close, atr28, MULTS):
        defined = ~np.isnan(vi.value)
        np.testing.assert_array_equal(vi.above[defined], vi.value[defined] > candles.close[defined])
        assert vi.above[defined].any() and (~vi.above[defined]).any()


def test_frame_vi1_crossings_are_below_then_above_and_mirror(candles: Candles) -> None:
    frame = build_frame(candles, strategy_params())
    a = frame.vi_above[0]
    defined = ~np.isnan(frame.vi[0])
    crosses_above = np.zeros(len(a), dtype=bool)
    crosses_below = np.zeros(len(a), dtype=bool)
    crosses_above[1:] = defined[:-1] & ~a[:-1] & a[1:]
    crosses_below[1:] = defined[:-1] & a[:-1] & ~a[1:]
    assert crosses_above.sum() >= 2 and crosses_below.sum() >= 2
    for i in range(len(a)):
        above_rows = np.flatnonzero(crosses_above[: i + 1])
        below_rows = np.flatnonzero(crosses_below[: i + 1])
        assert frame.vi1_last_to_above[i] == (candles.time[above_rows[-1]] if len(above_rows) else NEVER)
        assert frame.vi1_last_to_below[i] == (candles.time[below_rows[-1]] if len(below_rows) else NEVER)


# ---------------------------------------------------------------- fused kernel (speed) keeps the values


@pytest.mark.parametrize("length", [0, 1, 2, 27, 28, 29, 40, 41, 42, 1000, None])
@pytest.mark.parametrize(("rsi_period", "atr_period"), [(40, 28), (12, 28), (2, 2), (28, 40)])
def test_indicator_set_is_bit_identical_to_separate_functions(
    candles: Candles, length: int | None, rsi_period: int, atr_period: int
) -> None:
    part = candles.slice(0, length)
    fused = indicator_set(part.high, part.low, part.close, rsi_period, atr_period, MULTS)
    atr_values = atr(part.high, part.low, part.close, atr_period)
    np.testing.assert_array_equal(fused.rsi, rsi(part.close, rsi_period))
    np.testing.assert_array_equal(fused.atr, atr_values)
    for one, other in zip(fused.vis, volatility_indexes(part.close, atr_values, MULTS), strict=True):
        np.testing.assert_array_equal(one.value, other.value)
        np.testing.assert_array_equal(one.above, other.above)
        np.testing.assert_array_equal(one.converged, other.converged)


def test_indicator_set_with_other_than_three_vis_gives_one_per_multiplier(candles: Candles, atr28: np.ndarray) -> None:
    fused = indicator_set(candles.high, candles.low, candles.close, 40, 28, (19.0, 6.0))
    assert len(fused.vis) == 2
    np.testing.assert_array_equal(fused.vis[1].value, volatility_index(candles.close, atr28, 6.0).value)
