"""Hand-made market frames: each test states, candle by candle, exactly the scenario a rule describes.

A ``Bar`` gives one closed candle's close, volume, RSI and the three VI phases ("A" = VI above the close,
"B" = below, "-" = not defined yet). ``make_frame`` turns bars into the ``MarketFrame`` the engine reads,
through ``assemble_frame`` so the derived VI1 phase-change times (E3, E5) are computed exactly as for
real candles.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from bitsniper.candles import Candles, iso_to_ms
from bitsniper.config import StrategyParams
from bitsniper.indicators import VolatilityIndex
from bitsniper.strategy import Account, Decision, MarketFrame, StrategyState, decide, initial_state
from bitsniper.strategy.frame import assemble_frame

__all__ = ["Bar", "T0", "M15", "HOUR", "VI", "RV", "ACCOUNT", "make_frame", "bars", "run", "opens", "closes"]

T0 = iso_to_ms("2025-07-01T00:00:00Z")
M15 = 900_000
HOUR = 3_600_000
VI = StrategyParams()
RV = StrategyParams(strategy="rsi_volume")
ACCOUNT = Account(available_margin=10_000.0, equity=10_000.0)
_VI_OFFSET = 0.01  # a VI 1 % away from the close on its side


@dataclass(frozen=True, slots=True)
class Bar:
    """One closed candle as the rules see it."""

    phases: str = "BBB"  # VI1, VI2, VI3: "A" above the close (SHORT side), "B" below, "-" undefined
    rsi: float = 50.0
    close: float = 100_000.0
    volume: float = 100.0
    gap: int = 0  # candles missing just before this one (T5)
    converged: bool = True  # every VI has flipped at least once (I3)


def bars(count: int, **fields: object) -> list[Bar]:
    """``count`` identical bars."""
    return [Bar(**fields)] * count  # type: ignore[arg-type]


def make_frame(rows: Sequence[Bar], params: StrategyParams = VI, start: int = T0) -> MarketFrame:
    """Build the frame the engine reads from hand-made bars (open times 15 min apart plus gaps)."""
    interval = params.candle_ms
    times: list[int] = []
    t = start - interval
    for row in rows:
        t += interval * (1 + row.gap)
        times.append(t)
    time = np.asarray(times, dtype=np.int64)
    close = np.asarray([r.close for r in rows], dtype=np.float64)
    volume = np.asarray([r.volume for r in rows], dtype=np.float64)
    candles = Candles(time, close.copy(), close * 1.001, close * 0.999, close, volume)
    rsi = np.asarray([r.rsi for r in rows], dtype=np.float64)
    atr = np.asarray([math.nan if r.phases[0] == "-" else r.close * 0.001 for r in rows], dtype=np.float64)
    vis = []
    for j in range(3):
        value = np.asarray(
            [
                math.nan if r.phases[j] == "-" else r.close * (1 + _VI_OFFSET if r.phases[j] == "A" else 1 - _VI_OFFSET)
                for r in rows
            ],
            dtype=np.float64,
        )
        above = np.asarray([r.phases[j] == "A" for r in rows], dtype=np.bool_)
        converged = np.asarray([r.converged and r.phases[j] != "-" for r in rows], dtype=np.bool_)
        assert np.array_equal(above, value > close)  # I4: the phase is the VI compared with its own close
        vis.append(VolatilityIndex(value, above, converged))
    return assemble_frame(candles, params, rsi, atr, vis)


def run(
    frame: MarketFrame,
    params: StrategyParams = VI,
    account: Account = ACCOUNT,
    state: StrategyState | None = None,
    rows: Iterable[int] | None = None,
) -> list[Decision]:
    """Decide at every row in turn (or at ``rows``), carrying the state as the pipeline does."""
    current = initial_state(params) if state is None else state
    out: list[Decision] = []
    for i in range(len(frame)) if rows is None else rows:
        decision = decide(current, frame, account, params, at=i)
        out.append(decision)
        current = decision.state
    return out


def opens(decisions: Sequence[Decision]) -> list[tuple[int, str, str]]:
    """(row, position type, rule) of every entry, rows counted as in the frame when run from row 0."""
    return [(k, a.position_type.value, a.reason) for k, d in enumerate(decisions) for a in d.actions if a.kind == "open"]


def closes(decisions: Sequence[Decision]) -> list[tuple[int, str, str]]:
    """(row, position type, rule) of every exit."""
    return [(k, a.position_type.value, a.reason) for k, d in enumerate(decisions) for a in d.actions if a.kind == "close"]
