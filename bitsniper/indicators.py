"""RSI, ATR and Wilder's Volatility Index (spec I1-I4), compiled with Numba.

The recursions are inherently sequential (Wilder smoothing, the VI's extreme close), so each is one
compiled pass over the arrays instead of a per-candle Python loop. Values before an indicator's warm-up
are NaN.

Speed notes (``bench/indicators.py``): each Wilder step is ``(avg * (p-1) + x) / p`` with a true IEEE
division, whose latency bounds a single recursion; ``indicator_set`` therefore runs the RSI, ATR and VI
recursions in the same loop so the CPU overlaps them. ``fastmath`` is deliberately not used: it would
turn the division into a reciprocal multiply and change the values. ``error_model="numpy"`` only drops
Numba's zero-divisor check (the only possible zero divisor, ``avg_loss``, is tested first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit

__all__ = ["rsi", "atr", "volatility_index", "volatility_indexes", "indicator_set", "VolatilityIndex", "IndicatorSet"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_jit = njit(cache=True, nogil=True, error_model="numpy")


@_jit
def _rsi_seed(close: FloatArray, period: int) -> tuple[float, float]:  # pragma: no cover - compiled
    """I1: simple means of the first ``period`` gains and losses."""
    gain = 0.0
    loss = 0.0
    for i in range(1, period + 1):
        change = close[i] - close[i - 1]
        if change > 0:
            gain += change
        else:
            loss -= change
    return gain / period, loss / period


@_jit
def _rsi_value(avg_gain: float, avg_loss: float) -> float:  # pragma: no cover - compiled
    return 100.0 if avg_loss == 0.0 else 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)


@_jit
def _true_range(high: FloatArray, low: FloatArray, close: FloatArray, i: int) -> float:  # pragma: no cover
    prev = close[i - 1]
    return max(high[i] - low[i], abs(high[i] - prev), abs(low[i] - prev))


@_jit
def _atr_seed(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> float:  # pragma: no cover
    """I2: the first ATR is the mean of the first ``period`` true ranges, the first being high - low."""
    total = 0.0
    total += high[0] - low[0]
    for i in range(1, period):
        total += _true_range(high, low, close, i)
    return total / period


@_jit
def _rsi_kernel(close: FloatArray, period: int) -> FloatArray:  # pragma: no cover - compiled
    n = close.shape[0]
    out = np.empty(n)
    if n <= period:
        out[:] = np.nan
        return out
    out[:period] = np.nan
    avg_gain, avg_loss = _rsi_seed(close, period)
    out[period] = _rsi_value(avg_gain, avg_loss)
    keep = period - 1.0
    for i in range(period + 1, n):
        change = close[i] - close[i - 1]
        up = change if change > 0 else 0.0
        down = -change if change < 0 else 0.0
        avg_gain = (avg_gain * keep + up) / period
        avg_loss = (avg_loss * keep + down) / period
        out[i] = _rsi_value(avg_gain, avg_loss)
    return out


@_jit
def _atr_kernel(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:  # pragma: no cover
    n = close.shape[0]
    out = np.empty(n)
    if n < period:
        out[:] = np.nan
        return out
    out[: period - 1] = np.nan
    value = _atr_seed(high, low, close, period)
    out[period - 1] = value
    keep = period - 1.0
    for i in range(period, n):
        value = (value * keep + _true_range(high, low, close, i)) / period
        out[i] = value
    return out


@_jit
def _vi_step(c: float, band: float, side_above: bool, extreme: float):  # type: ignore[no-untyped-def]  # pragma: no cover
    """One candle of I3 for one VI: returns (VI, side, E, flipped now). Comparisons are strict."""
    flip = False
    if side_above:
        extreme = c if c < extreme else extreme  # a select, not a branch: new extremes come at random
        vi = extreme + band
        if c > vi:
            side_above = False
            extreme = c
            vi = c - band
            flip = True
    else:
        extreme = c if c > extreme else extreme
        vi = extreme - band
        if c < vi:
            side_above = True
            extreme = c
            vi = c + band
            flip = True
    return vi, side_above, extreme, flip


@_jit
def _indicator_kernel(  # type: ignore[no-untyped-def]
    high: FloatArray, low: FloatArray, close: FloatArray, rsi_period: int, atr_period: int,
    m1: float, m2: float, m3: float,
    rsi_out: FloatArray, atr_out: FloatArray, value: FloatArray, above: BoolArray, flipped: BoolArray,
):  # pragma: no cover - compiled
    """``_rsi_kernel``, ``_atr_kernel`` and ``_vi_kernel`` (three VIs) in one loop over the candles.

    The same operations run in the same order, so the values are the same bits; the gain is that the
    RSI, ATR and VI chains are independent, so the CPU overlaps them instead of waiting on each division.
    Three VIs, not k: their state then lives in registers (a third faster than small state arrays).
    """
    n = close.shape[0]
    rsi_out[: min(rsi_period, n)] = np.nan
    atr_start = min(atr_period - 1, n)
    atr_out[:atr_start] = np.nan
    value[:, :atr_start] = np.nan
    above[:, :atr_start] = False
    flipped[:, :atr_start] = False
    avg_gain = 0.0
    avg_loss = 0.0
    if n > rsi_period:
        avg_gain, avg_loss = _rsi_seed(close, rsi_period)
        rsi_out[rsi_period] = _rsi_value(avg_gain, avg_loss)
    atr_value = 0.0
    side1 = side2 = side3 = False  # I3: start "below" ...
    flip1 = flip2 = flip3 = False
    ext1 = ext2 = ext3 = 0.0
    if n >= atr_period:
        atr_value = _atr_seed(high, low, close, atr_period)
        atr_out[atr_period - 1] = atr_value
        ext1 = ext2 = ext3 = close[atr_period - 1]  # ... with E = the first close with an ATR
    rsi_keep = rsi_period - 1.0
    atr_keep = atr_period - 1.0
    vi1, vi2, vi3 = value[0], value[1], value[2]
    above1, above2, above3 = above[0], above[1], above[2]
    conv1, conv2, conv3 = flipped[0], flipped[1], flipped[2]
    for i in range(1, n):
        c = close[i]
        if i > rsi_period:
            change = c - close[i - 1]
            up = change if change > 0 else 0.0
            down = -change if change < 0 else 0.0
            avg_gain = (avg_gain * rsi_keep + up) / rsi_period
            avg_loss = (avg_loss * rsi_keep + down) / rsi_period
            rsi_out[i] = _rsi_value(avg_gain, avg_loss)
        if i >= atr_period:
            atr_value = (atr_value * atr_keep + _true_range(high, low, close, i)) / atr_period
            atr_out[i] = atr_value
        if i >= atr_period - 1:
            vi, side1, ext1, flip = _vi_step(c, m1 * atr_value, side1, ext1)
            flip1 = flip1 or flip
            vi1[i], above1[i], conv1[i] = vi, vi > c, flip1
            vi, side2, ext2, flip = _vi_step(c, m2 * atr_value, side2, ext2)
            flip2 = flip2 or flip
            vi2[i], above2[i], conv2[i] = vi, vi > c, flip2
            vi, side3, ext3, flip = _vi_step(c, m3 * atr_value, side3, ext3)
            flip3 = flip3 or flip
            vi3[i], above3[i], conv3[i] = vi, vi > c, flip3


@_jit
def _vi_kernel(close: FloatArray, atr: FloatArray, mults: FloatArray):  # type: ignore[no-untyped-def]  # pragma: no cover
    k = mults.shape[0]
    n = close.shape[0]
    value = np.empty((k, n))
    above = np.zeros((k, n), dtype=np.bool_)
    flipped = np.zeros((k, n), dtype=np.bool_)
    start = n
    for i in range(n):
        if not np.isnan(atr[i]):
            start = i
            break
    value[:, :start] = np.nan
    for j in range(k):
        m = mults[j]
        side_above = False  # I3: the first candle with an ATR starts "below" with E = its close
        extreme = close[start] if start < n else 0.0
        has_flipped = False
        values = value[j]
        phase = above[j]
        converged = flipped[j]
        for i in range(start, n):
            c = close[i]
            vi, side_above, extreme, flip = _vi_step(c, m * atr[i], side_above, extreme)
            has_flipped = has_flipped or flip
            values[i] = vi
            phase[i] = vi > c  # I4: the phase compares each candle with its own VI value
            converged[i] = has_flipped
    return value, above, flipped


@dataclass(frozen=True, slots=True)
class VolatilityIndex:
    """One VI series: value, phase (True = above the close, bearish) and whether it has flipped yet."""

    value: FloatArray
    above: BoolArray
    converged: BoolArray


@dataclass(frozen=True, slots=True)
class IndicatorSet:
    """RSI, ATR and the VIs on that ATR, as computed by ``indicator_set``."""

    rsi: FloatArray
    atr: FloatArray
    vis: list[VolatilityIndex]


def _f64(values: FloatArray) -> FloatArray:
    return np.ascontiguousarray(values, dtype=np.float64)


def _check_period(name: str, period: int) -> int:
    if period < 2:
        raise ValueError(f"{name} period must be at least 2")
    return int(period)


def rsi(close: FloatArray, period: int = 40) -> FloatArray:
    """Wilder's RSI (I1), seeded with the simple mean of the first ``period`` changes."""
    return _rsi_kernel(_f64(close), _check_period("rsi", period))


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int = 28) -> FloatArray:
    """Wilder's ATR (I2); the first candle's range counts in the seed, so the first value is at period-1."""
    return _atr_kernel(_f64(high), _f64(low), _f64(close), _check_period("atr", period))


def volatility_indexes(close: FloatArray, atr_values: FloatArray, mults: tuple[float, ...]) -> list[VolatilityIndex]:
    """All VIs on one ATR (I3), no ratchet, no starting values beyond the first close."""
    value, above, flipped = _vi_kernel(_f64(close), _f64(atr_values), np.asarray(mults, dtype=np.float64))
    return [VolatilityIndex(value[j], above[j], flipped[j]) for j in range(len(mults))]


def volatility_index(close: FloatArray, atr_values: FloatArray, mult: float) -> VolatilityIndex:
    """One VI with ATR multiplier ``mult`` (I3, I4)."""
    return volatility_indexes(close, atr_values, (mult,))[0]


def indicator_set(
    high: FloatArray, low: FloatArray, close: FloatArray, rsi_period: int, atr_period: int, mults: tuple[float, ...]
) -> IndicatorSet:
    """RSI, ATR and VIs at once, equal bit for bit to ``rsi``/``atr``/``volatility_indexes`` but faster."""
    if len(mults) != 3:
        atr_values = atr(high, low, close, atr_period)
        return IndicatorSet(rsi(close, rsi_period), atr_values, volatility_indexes(close, atr_values, mults))
    close = _f64(close)
    n = close.shape[0]
    # Outputs allocated by NumPy, which asks for transparent huge pages: far fewer page faults than
    # Numba's allocator on 46 MB of fresh output per million candles.
    rsi_values, atr_values, value = np.empty(n), np.empty(n), np.empty((3, n))
    above, flipped = np.empty((3, n), dtype=np.bool_), np.empty((3, n), dtype=np.bool_)
    _indicator_kernel(
        _f64(high), _f64(low), close, _check_period("rsi", rsi_period), _check_period("atr", atr_period),
        *(float(m) for m in mults), rsi_values, atr_values, value, above, flipped,
    )
    return IndicatorSet(rsi_values, atr_values, [VolatilityIndex(value[j], above[j], flipped[j]) for j in range(3)])
