"""Strategy ``vi``: entries E1-E5 and exits X1-X5 (spec §3-§4), read from rows N-2 = i-1 and N-1 = i."""

from __future__ import annotations

from bisect import bisect_right

from bitsniper.config import StrategyParams
from bitsniper.strategy.frame import MarketFrame
from bitsniper.strategy.state import Position, PositionType, StrategyState

__all__ = ["exit_reason", "entry_signal", "exit_target"]

_HOUR_MS = 3_600_000
_LONG_TABLES = {
    PositionType.LONG_VI1: "long_vi1_targets",
    PositionType.LONG_VI2: "long_vi2_targets",
    PositionType.LONG_REENTRY: "long_reentry_targets",
}


def exit_target(kind: PositionType, entry_rsi: float, p: StrategyParams) -> float:
    """X1: the RSI level that closes the position, from the entry-RSI bucket ([lo, hi) buckets)."""
    if kind is PositionType.SHORT:
        return entry_rsi - p.short_targets[bisect_right(p.short_target_rsi_edges, entry_rsi)]
    table: tuple[float, ...] = getattr(p, _LONG_TABLES[kind])
    return entry_rsi + table[bisect_right(p.long_target_rsi_edges, entry_rsi)]


def exit_reason(position: Position, f: MarketFrame, i: int, p: StrategyParams) -> tuple[str | None, Position]:
    """X1-X5 in the spec's order; returns the rule that fires (or None) and the position (X5 bookkeeping)."""
    elapsed = f.t[i] + f.interval_ms - position.entry_time  # close of N-1 minus entry time (T4)
    short = position.type is PositionType.SHORT
    rsi1 = f.r[i]
    vi1_above = f.a1[i]
    in_window = position.type is not PositionType.LONG_VI2 and elapsed < p.no_exit_hours * _HOUR_MS  # X3
    reason: str | None = None
    if not in_window:
        assert position.exit_rsi is not None
        if (rsi1 <= position.exit_rsi) if short else (rsi1 >= position.exit_rsi):
            reason = "X1"
        elif vi1_above != short:  # X2: LONG exits in the SHORT phase, SHORT in the LONG phase
            reason = "X2"
        elif short and rsi1 - position.entry_rsi > p.short_emergency_rsi:
            reason = "X4"
    if short and elapsed >= p.short_check_hours * _HOUR_MS and (
        p.short_check_every_decision or not position.short_check_done
    ):  # X5: adverse move of the close since entry, once at entry + 3 h (allowed inside the window)
        if not position.short_check_done:
            position = position._replace(short_check_done=True)
        if reason is None and (f.c[i] - position.entry_close) / position.entry_close >= p.short_check_pct / 100.0:
            reason = "X5"
    return reason, position


def _locked(f: MarketFrame, i: int, long: bool, p: StrategyParams) -> bool:
    """E5: refuse an entry if VI1 changed phase to the other direction less than 72 h before N-1's close."""
    flip_time = f.up[i] if long else f.down[i]
    return f.t[i] - flip_time < p.vi1_lock_hours * _HOUR_MS


def entry_signal(state: StrategyState, f: MarketFrame, i: int, p: StrategyParams) -> tuple[PositionType | None, str, str | None]:
    """E1-E5 in order; returns (type, rule id, note). The first rule that matches is the one taken."""
    rsi1 = f.r[i]
    a1, b1 = f.a1[i], f.a1[i - 1]
    a2, b2 = f.a2[i], f.a2[i - 1]
    a3 = f.a3[i]
    kind: PositionType | None = None
    rule = ""
    if a1 and not b1 and a2 and a3 and rsi1 <= p.short_rsi_max:
        kind, rule = PositionType.SHORT, "E1"
    elif not a1 and b1 and not a2 and not a3 and rsi1 >= p.long_rsi_min:
        kind, rule = PositionType.LONG_VI1, "E2"
    elif not a2 and b2 and not a1 and not a3 and rsi1 >= p.long_rsi_min:
        last = state.last_position_type
        stayed_below = state.last_exit_decision_time is not None and f.chg[i] <= state.last_exit_decision_time
        if last in (PositionType.LONG_VI1, PositionType.LONG_VI2) and stayed_below:
            kind, rule = PositionType.LONG_REENTRY, "E3"
        elif not b1:  # E4: VI1 does not cross at N-1 (it is below now, so it was below at N-2 too)
            kind, rule = PositionType.LONG_VI2, "E4"
    if kind is None:
        return None, "", None
    if _locked(f, i, kind.side == "long", p):
        return None, "", f"E5: {kind.value} signal ({rule}) refused, VI1 flipped against it less than {p.vi1_lock_hours:g} h ago"
    return kind, rule, None
