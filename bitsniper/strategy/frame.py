"""Closed candles with the indicator values the rules read, computed once over the whole history.

Every column at row i depends only on rows <= i, so deciding at row i never looks ahead. Scalars the
engine reads per decision are also kept as Python lists: indexing a list is several times faster than
indexing a NumPy array, and the backtester calls the engine once per candle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bitsniper.candles import Candles
from bitsniper.config import StrategyParams
from bitsniper.indicators import VolatilityIndex, indicator_set

__all__ = ["MarketFrame", "build_frame", "assemble_frame", "NEVER"]

NEVER = -(2**62)  # "no such event in the history" for event-time columns


def _last_event_time(event: npt.NDArray[np.bool_], time: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """At each row, the open time of the latest row <= it where ``event`` is true (NEVER if none)."""
    stamped = np.where(event, time, NEVER)
    return np.maximum.accumulate(stamped) if len(stamped) else stamped


@dataclass(frozen=True, slots=True)
class MarketFrame:
    """Candles plus RSI, ATR, VI1-VI3 and the VI1 phase-change times (I1-I4, E3, E5)."""

    candles: Candles
    interval_ms: int
    rsi: npt.NDArray[np.float64]
    atr: npt.NDArray[np.float64]
    vi: tuple[npt.NDArray[np.float64], ...]  # VI1, VI2, VI3 values
    vi_above: tuple[npt.NDArray[np.bool_], ...]  # I4 phase: True = VI above the close
    vi_converged: tuple[npt.NDArray[np.bool_], ...]  # the VI has flipped at least once
    converged: npt.NDArray[np.bool_]  # all three have flipped
    vi1_last_change: npt.NDArray[np.int64]  # open time of the latest VI1 phase change (E3)
    vi1_last_to_above: npt.NDArray[np.int64]  # ... to the SHORT phase (E5)
    vi1_last_to_below: npt.NDArray[np.int64]  # ... to the LONG phase (E5)
    # Python-list mirrors for the per-decision hot path
    t: list[int]
    c: list[float]
    v: list[float]
    r: list[float]
    a1: list[bool]
    a2: list[bool]
    a3: list[bool]
    ok: list[bool]  # indicators defined at this row
    conv: list[bool]
    chg: list[int]
    up: list[int]
    down: list[int]

    def __len__(self) -> int:
        return len(self.t)

    def consecutive(self, i: int) -> bool:
        """T5: rows i-1 and i are adjacent candles."""
        return i >= 1 and self.t[i] - self.t[i - 1] == self.interval_ms


def build_frame(candles: Candles, params: StrategyParams) -> MarketFrame:
    """Compute every indicator once for the selected rule set (RSI period per strategy)."""
    values = indicator_set(
        candles.high, candles.low, candles.close, params.active_rsi_period, params.atr_period, params.vi_mults
    )
    return assemble_frame(candles, params, values.rsi, values.atr, values.vis)


def assemble_frame(
    candles: Candles,
    params: StrategyParams,
    rsi_values: npt.NDArray[np.float64],
    atr_values: npt.NDArray[np.float64],
    vis: Sequence[VolatilityIndex],
) -> MarketFrame:
    """Derive the phase-change times and list mirrors from given indicator columns.

    Split from ``build_frame`` so tests can state a scenario (RSI, VI phases) candle by candle and still
    get exactly the derived columns the engine reads (E3, E5).
    """
    above = tuple(vi.above for vi in vis)
    defined = ~np.isnan(vis[0].value)
    vi1 = above[0]
    prev = np.concatenate(([False], vi1[:-1]))
    prev_defined = np.concatenate(([False], defined[:-1]))
    change = defined & prev_defined & (vi1 != prev)
    converged = vis[0].converged & vis[1].converged & vis[2].converged
    ok = ~np.isnan(rsi_values) if params.strategy == "rsi_volume" else defined & ~np.isnan(rsi_values)
    last_change = _last_event_time(change, candles.time)
    to_above = _last_event_time(change & vi1, candles.time)
    to_below = _last_event_time(change & ~vi1, candles.time)
    return MarketFrame(
        candles=candles,
        interval_ms=params.candle_ms,
        rsi=rsi_values,
        atr=atr_values,
        vi=tuple(vi.value for vi in vis),
        vi_above=above,
        vi_converged=tuple(vi.converged for vi in vis),
        converged=converged,
        vi1_last_change=last_change,
        vi1_last_to_above=to_above,
        vi1_last_to_below=to_below,
        t=candles.time.tolist(),
        c=candles.close.tolist(),
        v=candles.volume.tolist(),
        r=rsi_values.tolist(),
        a1=above[0].tolist(),
        a2=above[1].tolist(),
        a3=above[2].tolist(),
        ok=ok.tolist(),
        conv=converged.tolist(),
        chg=last_change.tolist(),
        up=to_above.tolist(),
        down=to_below.tolist(),
    )
