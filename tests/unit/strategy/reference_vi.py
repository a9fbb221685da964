"""A second, deliberately naive reading of spec §3-§4 (strategy ``vi``) to check the engine against.

Written from the spec text, not from the engine: history questions (E3 "VI1 stayed below since that
exit", E5 "VI1 changed phase less than 72 h ago") are answered by scanning the candles one by one, and
the X1 table is typed in again. Sizing is left out (the tests give an account large enough).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bitsniper.config import StrategyParams
from bitsniper.strategy import MarketFrame

__all__ = ["reference_events"]

HOUR = 3_600_000
LONG_TABLE = {  # X1: entry RSI bucket lower edges 45, 50, 55, 60, 65, 70
    "LONG_VI1": (20, 15, 9, 4.5, 3, 1),
    "LONG_VI2": (9, 6.5, 3.5, 1.25, 0.5, 0.5),
    "LONG_REENTRY": (18, 13, 7, 2.5, 1, 1),
}


def _target(kind: str, entry_rsi: float) -> float:
    if kind == "SHORT":
        for low, delta in ((45, 10), (40, 7.5), (35, 3.5), (30, 1.75)):
            if entry_rsi >= low:
                return entry_rsi - delta
        return entry_rsi - 1
    bucket = 0
    for k, low in enumerate((50, 55, 60, 65, 70), start=1):
        if entry_rsi >= low:
            bucket = k
    return entry_rsi + LONG_TABLE[kind][bucket]


@dataclass
class _Open:
    kind: str
    entry_time: int
    entry_close: float
    entry_rsi: float
    target: float
    checked: bool = False


def reference_events(f: MarketFrame, p: StrategyParams) -> list[tuple[int, str, str, str]]:
    """(row, "open"/"close", position type, rule) for a run over every row from a flat start."""
    defined = [not math.isnan(x) for x in f.vi[0]]
    above = f.vi_above[0]

    def vi1_changed(j: int) -> bool:
        return j >= 1 and defined[j] and defined[j - 1] and bool(above[j]) != bool(above[j - 1])

    events: list[tuple[int, str, str, str]] = []
    pos: _Open | None = None
    last_type: str | None = None
    last_exit_row: int | None = None
    for i in range(1, len(f)):
        if not (f.ok[i] and f.ok[i - 1] and f.conv[i] and f.conv[i - 1]):
            continue
        rsi, close = f.r[i], f.c[i]
        v1, v2, v3 = bool(f.vi_above[0][i]), bool(f.vi_above[1][i]), bool(f.vi_above[2][i])
        p1, p2 = bool(f.vi_above[0][i - 1]), bool(f.vi_above[1][i - 1])
        if pos is not None:
            elapsed = f.t[i] + f.interval_ms - pos.entry_time
            short = pos.kind == "SHORT"
            reason = None
            if pos.kind == "LONG_VI2" or elapsed >= p.no_exit_hours * HOUR:
                if (rsi <= pos.target) if short else (rsi >= pos.target):
                    reason = "X1"
                elif (not v1) if short else v1:
                    reason = "X2"
                elif short and rsi - pos.entry_rsi > p.short_emergency_rsi:
                    reason = "X4"
            if short and not pos.checked and elapsed >= p.short_check_hours * HOUR:
                pos.checked = True
                if reason is None and (close - pos.entry_close) / pos.entry_close >= p.short_check_pct / 100:
                    reason = "X5"
            if reason is not None:
                events.append((i, "close", pos.kind, reason))
                last_type, last_exit_row, pos = pos.kind, i, None
        if pos is not None or f.t[i] - f.t[i - 1] != f.interval_ms:
            continue
        kind = rule = None
        if v1 and not p1 and v2 and v3 and rsi <= p.short_rsi_max:
            kind, rule = "SHORT", "E1"
        elif not v1 and p1 and not v2 and not v3 and rsi >= p.long_rsi_min:
            kind, rule = "LONG_VI1", "E2"
        elif not v2 and p2 and not v1 and not v3 and rsi >= p.long_rsi_min:
            stayed = last_exit_row is not None and not any(vi1_changed(j) for j in range(last_exit_row + 1, i + 1))
            if last_type in ("LONG_VI1", "LONG_VI2") and stayed:
                kind, rule = "LONG_REENTRY", "E3"
            elif not p1:
                kind, rule = "LONG_VI2", "E4"
        if kind is None:
            continue
        locked = False
        for j in range(i, 0, -1):
            if f.t[i] - f.t[j] >= p.vi1_lock_hours * HOUR:
                break
            if vi1_changed(j) and bool(above[j]) == (kind != "SHORT"):  # a flip to the other direction
                locked = True
                break
        if locked:
            continue
        events.append((i, "open", kind, rule))
        pos = _Open(kind, f.t[i] + f.interval_ms, close, rsi, _target(kind, rsi))
    return events
