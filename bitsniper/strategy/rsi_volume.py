"""Strategy ``rsi_volume``: the earlier RSI + volume rule set (spec §5, L0-L4)."""

from __future__ import annotations

from bisect import bisect_right

from bitsniper.config import StrategyParams
from bitsniper.strategy.frame import MarketFrame
from bitsniper.strategy.state import Position, PositionType, StrategyState

__all__ = ["exit_reason", "entry_signal", "safety_blocked", "exit_target"]


def exit_target(kind: PositionType, entry_rsi: float, p: StrategyParams) -> float:
    """The RSI level that takes profit (L1-L3)."""
    if kind is PositionType.RV_LONG1:
        return p.rv_long1_exit_rsi
    if kind is PositionType.RV_LONG2:
        return entry_rsi + p.rv_long2_exit_delta
    return p.rv_short_exit_rsi


def exit_reason(position: Position, f: MarketFrame, i: int, p: StrategyParams) -> tuple[str | None, Position]:
    """Target first, then stop; there is no no-exit window in this rule set (L4)."""
    rsi1, close1 = f.r[i], f.c[i]
    target = position.exit_rsi
    assert target is not None
    entry = position.entry_close
    if position.type is PositionType.RV_LONG1:
        if rsi1 >= target:
            return "L1_exit", position
        if close1 <= entry * (1 - p.rv_long1_stop_pct / 100.0):
            return "L1_stop", position
    elif position.type is PositionType.RV_LONG2:
        if rsi1 >= target:
            return "L2_exit", position
        if close1 <= entry * (1 - p.rv_long2_stop_pct / 100.0):
            return "L2_stop", position
    else:
        if rsi1 <= target:
            return "L3_exit", position
        if close1 >= entry * (1 + p.rv_short_stop_pct / 100.0):
            return "L3_stop", position
    return None, position


def safety_blocked(f: MarketFrame, i: int, p: StrategyParams) -> bool:
    """L0: blocked from a candle with RSI above 86 (below 10) until a later candle at or below (above) 50.

    Read from the history, not kept in state, so a bot started mid-way or after an outage still knows.
    """
    seen_low = seen_high = False  # a candle in (j, i] at/below resp. at/above the reset level
    r = f.r
    for j in range(i, -1, -1):
        value = r[j]
        if value != value:  # NaN: start of the history
            return False
        if value > p.rv_safety_high:
            return not seen_low
        if value < p.rv_safety_low:
            return not seen_high
        seen_low = seen_low or value <= p.rv_safety_reset
        seen_high = seen_high or value >= p.rv_safety_reset
        if seen_low and seen_high:
            return False
    return False


def _long2_allowed(state: StrategyState, f: MarketFrame, i: int, p: StrategyParams) -> bool:
    """L2/L4: never two long2 in a row unless a candle after the last long2's exit had RSI below 50."""
    if state.last_position_type is not PositionType.RV_LONG2 or state.last_exit_decision_time is None:
        return True
    start = bisect_right(f.t, state.last_exit_decision_time, 0, i + 1)
    return any(f.r[j] < p.rv_long2_reset_rsi for j in range(start, i + 1))


def entry_signal(state: StrategyState, f: MarketFrame, i: int, p: StrategyParams) -> tuple[PositionType | None, str, str | None]:
    """L1, L2, L3 in order behind the L0 safety; returns (type, rule id, note)."""
    vol1, vol2 = f.v[i], f.v[i - 1]
    rsi1, rsi2 = f.r[i], f.r[i - 1]
    if vol1 < p.rv_min_volume:
        return None, "", None
    ratio = vol1 / vol2 if vol2 > 0 else None
    kind: PositionType | None = None
    rule = ""
    if (
        ratio is not None
        and p.rv_long1_vol_ratio_min <= ratio <= p.rv_long1_vol_ratio_max
        and p.rv_long1_rsi_prev_min <= rsi2 <= p.rv_long1_rsi_prev_max
        and rsi1 - rsi2 >= p.rv_long1_rsi_rise_min
        and rsi1 < p.rv_long1_rsi_max
    ):
        kind, rule = PositionType.RV_LONG1, "L1"
    elif (
        vol1 > vol2
        and p.rv_long2_rsi_prev_min <= rsi2 <= p.rv_long2_rsi_prev_max
        and rsi2 - rsi1 >= p.rv_long2_rsi_drop_min
    ):
        if not _long2_allowed(state, f, i, p):
            return None, "", "L2: long2 refused, RSI has not gone below the reset level since the last long2"
        kind, rule = PositionType.RV_LONG2, "L2"
    elif (
        ratio is not None
        and p.rv_short_vol_ratio_min <= ratio < p.rv_short_vol_ratio_max
        and p.rv_short_rsi_prev_min <= rsi2 <= p.rv_short_rsi_prev_max
        and rsi2 - rsi1 >= p.rv_short_rsi_drop_min
        and rsi1 > p.rv_short_rsi_min
    ):
        kind, rule = PositionType.RV_SHORT, "L3"
    if kind is None:
        return None, "", None
    if safety_blocked(f, i, p):
        return None, "", f"L0: {kind.value} signal ({rule}) refused, RSI safety block is on"
    return kind, rule, None
