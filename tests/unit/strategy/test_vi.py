"""Strategy ``vi``: entries E1-E5 and exits X1-X6, each on a hand-made candle sequence (spec §3-§4).

Rows are decision rows: ``run`` decides at every row from row 0, so decision k is taken at the close of
row k and its actions execute at the open of row k + 1. A position entered at row e is "j decisions
after entry" at row e + j (T4: 3 h = j 12, 7 h = j 28 with 15-minute candles).
"""

from __future__ import annotations

import math

import pytest
from factories import VI, Bar, bars, closes, make_frame, opens, run

from bitsniper.config import StrategyParams
from bitsniper.strategy import PositionType, StrategyState
from bitsniper.strategy.vi import exit_target

BELOW = math.nextafter  # readability: BELOW(45, 0) is the largest float under 45

# ---------------------------------------------------------------- E1 SHORT


def short_cross(rsi: float = 50.0, n2: str = "BBB", n1: str = "AAA") -> list[Bar]:
    """VI1 below at N-2 (row 1), the N-1 bar (row 2) as given."""
    return [Bar(n2), Bar(n2), Bar(n1, rsi=rsi)]


def test_E1_short_when_vi1_crosses_above_with_rsi_exactly_50() -> None:
    decisions = run(make_frame(short_cross(rsi=50.0)))
    assert opens(decisions) == [(2, "SHORT", "E1")]
    assert decisions[2].actions[0].side == "short"


def test_E1_no_short_when_rsi_just_above_50() -> None:
    assert opens(run(make_frame(short_cross(rsi=math.nextafter(50.0, 100.0))))) == []


@pytest.mark.parametrize("n1", ["ABA", "AAB", "ABB"])
def test_E1_no_short_unless_vi2_and_vi3_are_above_at_n1(n1: str) -> None:
    assert opens(run(make_frame(short_cross(n1=n1)))) == []


def test_E1_no_short_when_vi1_was_already_above_at_n2() -> None:
    """A cross is a change between N-2 and N-1, not a state."""
    assert opens(run(make_frame([Bar("AAA", rsi=60), Bar("AAA", rsi=60), Bar("AAA", rsi=50)]))) == []


# ---------------------------------------------------------------- E2 LONG_VI1


def long_vi1_cross(rsi: float = 47.5, n1: str = "BBB", close: float = 100_000.0) -> list[Bar]:
    return [Bar("AAA"), Bar("AAA"), Bar(n1, rsi=rsi, close=close)]


def test_E2_long_vi1_when_vi1_crosses_below_with_rsi_exactly_45() -> None:
    decisions = run(make_frame(long_vi1_cross(rsi=45.0)))
    assert opens(decisions) == [(2, "LONG_VI1", "E2")]
    assert decisions[2].actions[0].order_side == "buy"


def test_E2_no_long_when_rsi_just_below_45() -> None:
    assert opens(run(make_frame(long_vi1_cross(rsi=BELOW(45.0, 0.0))))) == []


@pytest.mark.parametrize("n1", ["BAB", "BBA", "BAA"])
def test_E2_no_long_unless_vi2_and_vi3_are_below_at_n1(n1: str) -> None:
    assert opens(run(make_frame(long_vi1_cross(n1=n1)))) == []


def test_E2_takes_precedence_over_E4_when_vi1_and_vi2_cross_below_together() -> None:
    """E4 needs VI1 not to cross at N-1; with both crossing the entry is LONG_VI1."""
    rows = [Bar("AAB"), Bar("AAB"), Bar("BBB", rsi=47.5)]
    assert opens(run(make_frame(rows))) == [(2, "LONG_VI1", "E2")]


# ---------------------------------------------------------------- E3 LONG_REENTRY / E4 LONG_VI2


def vi2_cross(rsi: float = 47.5, n1: str = "BBB", before: list[Bar] | None = None) -> list[Bar]:
    """VI1 and VI3 below throughout; VI2 above at N-2 and as given at N-1 (the last row)."""
    return (before or bars(2, phases="BBB", rsi=40.0)) + [Bar("BAB", rsi=40.0), Bar(n1, rsi=rsi)]


def state_after_exit(kind: PositionType, exit_time: int) -> StrategyState:
    return StrategyState(strategy="vi", last_position_type=kind, last_exit_decision_time=exit_time)


@pytest.mark.parametrize("last", [PositionType.LONG_VI1, PositionType.LONG_VI2])
def test_E3_reentry_after_long_vi1_or_long_vi2_exit_with_vi1_below_since(last: PositionType) -> None:
    frame = make_frame(vi2_cross(rsi=45.0))
    decisions = run(frame, state=state_after_exit(last, frame.t[0]))
    assert opens(decisions) == [(3, "LONG_REENTRY", "E3")]


@pytest.mark.parametrize("last", [None, PositionType.SHORT, PositionType.LONG_REENTRY])
def test_E4_long_vi2_when_the_last_position_does_not_allow_reentry(last: PositionType | None) -> None:
    frame = make_frame(vi2_cross(rsi=45.0))
    state = StrategyState(strategy="vi") if last is None else state_after_exit(last, frame.t[0])
    assert opens(run(frame, state=state)) == [(3, "LONG_VI2", "E4")]


def test_E3_vi1_phase_change_at_the_exit_candle_still_allows_reentry() -> None:
    """VI1 flips below at the exit's decision candle (row 1): 'since that exit' starts after it."""
    rows = [Bar("AAB", rsi=40.0), Bar("BBB", rsi=40.0), Bar("BAB", rsi=40.0), Bar("BBB", rsi=47.5)]
    frame = make_frame(rows)
    decisions = run(frame, state=state_after_exit(PositionType.LONG_VI1, frame.t[1]), rows=range(2, 4))
    assert [a.reason for a in decisions[1].actions] == ["E3"]


def test_E3_refused_after_a_vi1_phase_change_since_the_exit_gives_E4() -> None:
    """VI1 above at the exit (row 0) and back below at row 1, 73 h before the signal (no E5 lock)."""
    flip_to_long = [Bar("AAB", rsi=40.0), *bars(292, phases="BBB", rsi=40.0)]
    frame = make_frame(vi2_cross(before=flip_to_long))
    decisions = run(frame, state=state_after_exit(PositionType.LONG_VI1, frame.t[0]))
    assert opens(decisions) == [(len(frame) - 1, "LONG_VI2", "E4")]


def test_E4_long_vi2_with_rsi_exactly_45_and_not_just_below() -> None:
    assert opens(run(make_frame(vi2_cross(rsi=45.0)))) == [(3, "LONG_VI2", "E4")]
    assert opens(run(make_frame(vi2_cross(rsi=BELOW(45.0, 0.0))))) == []


@pytest.mark.parametrize("n1", ["ABB", "BBA", "BAB"])
def test_E4_no_long_vi2_unless_vi1_vi3_below_and_vi2_crosses(n1: str) -> None:
    assert opens(run(make_frame(vi2_cross(n1=n1)))) == []


def test_E3_E4_cycle_long_vi1_reentry_long_vi2_reentry() -> None:
    """X8 drives E3: after LONG_VI1 comes LONG_REENTRY, after LONG_REENTRY a LONG_VI2, then LONG_REENTRY."""
    rows = long_vi1_cross(rsi=47.5)  # row 2: LONG_VI1, target 67.5
    rows += bars(27, rsi=50.0) + [Bar(rsi=67.5)]  # row 30: X1 after the 7 h window
    rows += [Bar("BAB"), Bar(rsi=47.5)]  # row 32: VI2 crosses below -> LONG_REENTRY, target 65.5
    rows += bars(27, rsi=50.0) + [Bar(rsi=65.5)]  # row 60: X1
    rows += [Bar("BAB"), Bar(rsi=47.5)]  # row 62: LONG_VI2 (target 56.5)
    rows += [Bar(rsi=56.5)]  # row 63: X1 at once, LONG_VI2 has no window
    rows += [Bar("BAB"), Bar(rsi=47.5)]  # row 65: LONG_REENTRY again
    decisions = run(make_frame(rows))
    assert opens(decisions) == [
        (2, "LONG_VI1", "E2"),
        (32, "LONG_REENTRY", "E3"),
        (62, "LONG_VI2", "E4"),
        (65, "LONG_REENTRY", "E3"),
    ]
    assert closes(decisions) == [(30, "LONG_VI1", "X1"), (60, "LONG_REENTRY", "X1"), (63, "LONG_VI2", "X1")]


# ---------------------------------------------------------------- E5 72-hour VI1 lock


def vi1_flip_then(flip: str, hold: str, last: Bar, candles_between: int) -> list[Bar]:
    """VI1 changes phase at row 1 and row ``1 + candles_between`` is the signal (N-1)."""
    start = "BBB" if flip[0] == "A" else "AAA"
    return [Bar(start, rsi=40.0), Bar(flip, rsi=40.0), *bars(candles_between - 1, phases=hold, rsi=40.0), last]


def test_E5_short_refused_71h45_after_flip_to_long_phase_allowed_at_72h() -> None:
    refused = run(make_frame(vi1_flip_then("BBB", "BBB", Bar("AAA", rsi=50.0), 287)))
    assert opens(refused) == []
    assert any(note.startswith("E5: SHORT signal (E1) refused") for note in refused[-1].notes)
    allowed = run(make_frame(vi1_flip_then("BBB", "BBB", Bar("AAA", rsi=50.0), 288)))
    assert opens(allowed) == [(289, "SHORT", "E1")]


def test_E5_long_refused_71h45_after_flip_to_short_phase_allowed_at_72h() -> None:
    refused = run(make_frame(vi1_flip_then("ABB", "ABB", Bar("BBB", rsi=50.0), 287)))
    assert opens(refused) == [] and any(n.startswith("E5: LONG_VI1") for n in refused[-1].notes)
    allowed = run(make_frame(vi1_flip_then("ABB", "ABB", Bar("BBB", rsi=50.0), 288)))
    assert opens(allowed) == [(289, "LONG_VI1", "E2")]


def test_E5_flip_to_short_phase_locks_longs_even_after_vi1_flips_back() -> None:
    """VI1 goes to the SHORT phase at row 1 and back to LONG at row 10; a LONG_VI2 at row 100 is refused."""
    rows = [Bar("BBB", rsi=40.0), *bars(9, phases="ABB", rsi=40.0), *bars(88, phases="BBB", rsi=40.0)]
    rows += [Bar("BAB", rsi=40.0), Bar("BBB", rsi=50.0)]
    decisions = run(make_frame(rows))
    assert opens(decisions) == []
    assert any(n.startswith("E5: LONG_VI2 signal (E4) refused") for n in decisions[-1].notes)


def test_E5_recent_flip_to_the_same_direction_does_not_lock() -> None:
    """A flip to the LONG phase 2 h ago does not forbid a LONG."""
    rows = [Bar("ABB", rsi=40.0), *bars(8, phases="BBB", rsi=40.0), Bar("BAB", rsi=40.0), Bar("BBB", rsi=50.0)]
    assert opens(run(make_frame(rows))) == [(10, "LONG_VI2", "E4")]


def test_E5_lock_hours_come_from_configuration() -> None:
    params = StrategyParams(vi1_lock_hours=1.0)
    rows = vi1_flip_then("BBB", "BBB", Bar("AAA", rsi=50.0), 4)
    assert opens(run(make_frame(rows, params), params)) == [(5, "SHORT", "E1")]
    rows = vi1_flip_then("BBB", "BBB", Bar("AAA", rsi=50.0), 3)
    assert opens(run(make_frame(rows, params), params)) == []


# ---------------------------------------------------------------- X1 targets


@pytest.mark.parametrize(
    ("kind", "entry_rsi", "delta"),
    [
        (PositionType.LONG_VI1, 45.0, 20.0),
        (PositionType.LONG_VI1, BELOW(50.0, 0.0), 20.0),
        (PositionType.LONG_VI1, 50.0, 15.0),
        (PositionType.LONG_VI1, 55.0, 9.0),
        (PositionType.LONG_VI1, 60.0, 4.5),
        (PositionType.LONG_VI1, BELOW(65.0, 0.0), 4.5),
        (PositionType.LONG_VI1, 65.0, 3.0),
        (PositionType.LONG_VI1, 70.0, 1.0),
        (PositionType.LONG_VI1, 88.0, 1.0),
        (PositionType.LONG_VI2, 47.0, 9.0),
        (PositionType.LONG_VI2, 50.0, 6.5),
        (PositionType.LONG_VI2, 57.0, 3.5),
        (PositionType.LONG_VI2, 62.0, 1.25),
        (PositionType.LONG_VI2, 69.0, 0.5),
        (PositionType.LONG_VI2, 75.0, 0.5),
        (PositionType.LONG_REENTRY, 49.0, 18.0),
        (PositionType.LONG_REENTRY, 54.0, 13.0),
        (PositionType.LONG_REENTRY, 59.0, 7.0),
        (PositionType.LONG_REENTRY, 64.0, 2.5),
        (PositionType.LONG_REENTRY, 66.0, 1.0),
        (PositionType.LONG_REENTRY, 71.0, 1.0),
        (PositionType.SHORT, 50.0, -10.0),
        (PositionType.SHORT, 45.0, -10.0),
        (PositionType.SHORT, BELOW(45.0, 0.0), -7.5),
        (PositionType.SHORT, 40.0, -7.5),
        (PositionType.SHORT, 39.0, -3.5),
        (PositionType.SHORT, 35.0, -3.5),
        (PositionType.SHORT, 34.0, -1.75),
        (PositionType.SHORT, 30.0, -1.75),
        (PositionType.SHORT, BELOW(30.0, 0.0), -1.0),
        (PositionType.SHORT, 12.0, -1.0),
    ],
)
def test_X1_target_table_by_entry_rsi_bucket(kind: PositionType, entry_rsi: float, delta: float) -> None:
    assert exit_target(kind, entry_rsi, VI) == entry_rsi + delta


def test_X1_long_exits_when_rsi_reaches_entry_plus_delta_not_before() -> None:
    rows = long_vi1_cross(rsi=47.5) + bars(27, rsi=50.0) + [Bar(rsi=67.25), Bar(rsi=67.5)]
    decisions = run(make_frame(rows))
    assert decisions[2].state.position.exit_rsi == 67.5
    assert closes(decisions) == [(31, "LONG_VI1", "X1")]


def test_X1_short_exits_when_rsi_falls_to_entry_minus_delta_not_before() -> None:
    rows = short_cross(rsi=50.0) + bars(27, phases="AAA", rsi=45.0) + [Bar("AAA", rsi=40.25), Bar("AAA", rsi=40.0)]
    assert closes(run(make_frame(rows))) == [(31, "SHORT", "X1")]


def test_X1_is_checked_before_X2() -> None:
    rows = long_vi1_cross(rsi=47.5) + bars(27, rsi=50.0) + [Bar("ABB", rsi=70.0)]
    assert closes(run(make_frame(rows))) == [(30, "LONG_VI1", "X1")]


# ---------------------------------------------------------------- X2 last resort


def test_X2_long_exits_in_the_short_phase() -> None:
    rows = long_vi1_cross() + bars(27, rsi=50.0) + [Bar(rsi=50.0), Bar("ABB", rsi=50.0)]
    assert closes(run(make_frame(rows))) == [(31, "LONG_VI1", "X2")]


def test_X2_short_exits_in_the_long_phase() -> None:
    rows = short_cross() + bars(27, phases="AAA", rsi=45.0) + [Bar("BAA", rsi=45.0)]
    assert closes(run(make_frame(rows))) == [(30, "SHORT", "X2")]


def test_X2_is_a_state_a_flip_inside_the_window_closes_at_the_first_decision_after_it() -> None:
    rows = long_vi1_cross() + bars(10, rsi=50.0) + bars(17, phases="ABB", rsi=50.0) + [Bar("ABB", rsi=50.0)]
    assert closes(run(make_frame(rows))) == [(30, "LONG_VI1", "X2")]


def test_X2_flip_inside_the_window_that_flipped_back_does_not_close() -> None:
    rows = long_vi1_cross() + bars(10, phases="ABB", rsi=50.0) + bars(30, rsi=50.0)
    assert closes(run(make_frame(rows))) == []


# ---------------------------------------------------------------- X3 no-exit window


def test_X3_no_exit_before_7h_then_target_applies_at_28th_decision() -> None:
    """RSI above the target and VI1 in the SHORT phase from the first decision: nothing until j = 28."""
    rows = long_vi1_cross(rsi=47.5) + bars(40, phases="ABB", rsi=70.0)
    decisions = run(make_frame(rows))
    assert closes(decisions) == [(30, "LONG_VI1", "X1")]
    assert decisions[30].actions[0].execute_time - decisions[2].state.position.entry_time == 7 * 3_600_000


def test_T4_X3_window_is_measured_in_time_across_a_gap_ends_at_the_24th_decision() -> None:
    """Four missing candles count: the window ends at the 24th decision after entry (T4, T5)."""
    rows = long_vi1_cross(rsi=47.5) + bars(7, rsi=70.0) + [Bar(rsi=70.0, gap=4)] + bars(30, rsi=70.0)
    assert closes(run(make_frame(rows))) == [(26, "LONG_VI1", "X1")]


def test_X3_long_vi2_has_no_window() -> None:
    rows = vi2_cross(rsi=47.5) + [Bar("ABB", rsi=50.0)]  # target 56.5; VI1 in the SHORT phase at once
    assert closes(run(make_frame(rows))) == [(4, "LONG_VI2", "X2")]


def test_X3_window_length_comes_from_configuration() -> None:
    params = StrategyParams(no_exit_hours=1.0)
    rows = long_vi1_cross(rsi=47.5) + bars(10, rsi=70.0)
    assert closes(run(make_frame(rows, params), params)) == [(6, "LONG_VI1", "X1")]


# ---------------------------------------------------------------- X4 SHORT emergency


def test_X4_short_exits_when_rsi_rose_more_than_18_not_exactly_18() -> None:
    rows = short_cross(rsi=50.0) + bars(27, phases="AAA", rsi=80.0) + [Bar("AAA", rsi=68.0), Bar("AAA", rsi=68.25)]
    assert closes(run(make_frame(rows))) == [(31, "SHORT", "X4")]


def test_X4_is_checked_after_X2() -> None:
    rows = short_cross(rsi=50.0) + bars(27, phases="AAA", rsi=45.0) + [Bar("BAA", rsi=80.0)]
    assert closes(run(make_frame(rows))) == [(30, "SHORT", "X2")]


# ---------------------------------------------------------------- X5 SHORT 3-hour check


def short_then_closes(closes_after: list[float], gap_at: int | None = None, gap: int = 0) -> list[Bar]:
    rows = [Bar("BBB"), Bar("BBB"), Bar("AAA", rsi=50.0, close=100_000.0)]
    for j, close in enumerate(closes_after, start=1):
        rows.append(Bar("AAA", rsi=45.0, close=close, gap=gap if j == gap_at else 0))
    return rows


def test_T4_X5_short_exits_at_the_12th_decision_on_a_1_percent_adverse_move_inside_the_window() -> None:
    decisions = run(make_frame(short_then_closes([101_000.0] * 12)))
    assert closes(decisions) == [(14, "SHORT", "X5")]


def test_X5_not_before_3h_and_not_below_1_percent() -> None:
    decisions = run(make_frame(short_then_closes([101_500.0] * 11 + [100_999.99])))
    assert closes(decisions) == []


def test_X5_runs_once_a_later_adverse_move_does_not_exit_inside_the_window() -> None:
    decisions = run(make_frame(short_then_closes([100_000.0] * 12 + [102_000.0] * 10)))
    assert closes(decisions) == []
    assert decisions[14].state.position.short_check_done


def test_X5_every_decision_setting_checks_again_after_3h() -> None:
    params = StrategyParams(short_check_every_decision=True)
    decisions = run(make_frame(short_then_closes([100_000.0] * 12 + [102_000.0]), params), params)
    assert closes(decisions) == [(15, "SHORT", "X5")]


def test_T4_X5_with_a_gap_runs_at_the_first_decision_from_3h_on() -> None:
    """No candle closes at entry + 3 h: the check runs at the next decision (3 h 15)."""
    decisions = run(make_frame(short_then_closes([101_500.0] * 10 + [101_000.0], gap_at=11, gap=2)))
    assert closes(decisions) == [(13, "SHORT", "X5")]


def test_X5_does_not_apply_to_longs() -> None:
    rows = long_vi1_cross(rsi=47.5, close=100_000.0) + bars(20, rsi=50.0, close=90_000.0)
    assert closes(run(make_frame(rows))) == []


# ---------------------------------------------------------------- X6 no LONG stop loss


def test_X6_long_has_no_stop_loss() -> None:
    rows = long_vi1_cross(rsi=47.5, close=100_000.0) + bars(60, rsi=50.0, close=60_000.0)
    decisions = run(make_frame(rows))
    assert closes(decisions) == []
    assert decisions[-1].state.position.type is PositionType.LONG_VI1

