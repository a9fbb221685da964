"""Strategy ``rsi_volume``: L0-L4 on hand-made sequences (spec §5). Row k is the decision at its close."""

from __future__ import annotations

import pytest
from factories import RV, Bar, closes, make_frame, opens, run

from bitsniper.strategy import PositionType, StrategyState

NEAR_90 = 89.99


def signal(rsi2: float, rsi1: float, vol2: float = 100.0, vol1: float = 100.0, history: list[float] | None = None,
           close: float = 100_000.0) -> list[Bar]:
    """RSI history (default one neutral candle), then N-2 and N-1 with the given RSI and volume."""
    rows = [Bar(rsi=r) for r in (history if history is not None else [55.0])]
    return rows + [Bar(rsi=rsi2, volume=vol2), Bar(rsi=rsi1, volume=vol1, close=close)]


def entries(rows: list[Bar], state: StrategyState | None = None) -> list[tuple[int, str, str]]:
    return opens(run(make_frame(rows, RV), RV, state=state))


# ---------------------------------------------------------------- L1 long1


@pytest.mark.parametrize(
    ("rsi2", "rsi1", "vol2", "vol1"),
    [
        (20.0, 24.0, 100.0, 100.0),  # rise exactly 4
        (10.0, 14.0, 100.0, 100.0),  # RSI(N-2) exactly 10
        (26.0, 30.0, 100.0, 100.0),  # RSI(N-2) exactly 26
        (26.0, 39.99, 100.0, 100.0),  # RSI(N-1) just under 40
        (20.0, 24.0, 90.0, 90.0),  # volume exactly 90
        (20.0, 24.0, 300.0, 90.0),  # ratio exactly 0.3
        (20.0, 24.0, 100.0, 180.0),  # ratio exactly 1.8
    ],
)
def test_L1_long1_taken_at_the_boundaries(rsi2: float, rsi1: float, vol2: float, vol1: float) -> None:
    assert entries(signal(rsi2, rsi1, vol2, vol1)) == [(2, "long1", "L1")]


@pytest.mark.parametrize(
    ("rsi2", "rsi1", "vol2", "vol1"),
    [
        (20.0, 23.99, 100.0, 100.0),  # rise under 4
        (26.01, 30.01, 100.0, 100.0),  # RSI(N-2) above 26
        (26.0, 40.0, 100.0, 100.0),  # RSI(N-1) not under 40
        (20.0, 24.0, NEAR_90, NEAR_90),  # volume under 90
        (20.0, 24.0, 300.01, 90.0),  # ratio under 0.3
        (20.0, 24.0, 100.0, 180.01),  # ratio above 1.8
        (20.0, 24.0, 0.0, 100.0),  # no ratio without volume at N-2
    ],
)
def test_L1_long1_refused_just_outside_the_boundaries(rsi2: float, rsi1: float, vol2: float, vol1: float) -> None:
    assert entries(signal(rsi2, rsi1, vol2, vol1)) == []


def test_L1_exit_at_rsi_40_not_before_and_no_window() -> None:
    rows = signal(20.0, 24.0) + [Bar(rsi=39.99), Bar(rsi=40.0)]
    assert closes(run(make_frame(rows, RV), RV)) == [(4, "long1", "L1_exit")]


def test_L1_stop_at_0_7_percent_below_entry_close() -> None:
    rows = signal(20.0, 24.0, close=100_000.0) + [Bar(rsi=30.0, close=99_300.01), Bar(rsi=30.0, close=99_300.0)]
    assert closes(run(make_frame(rows, RV), RV)) == [(4, "long1", "L1_stop")]


# ---------------------------------------------------------------- L2 long2


@pytest.mark.parametrize(
    ("rsi2", "rsi1", "vol2", "vol1"),
    [
        (80.0, 77.5, 100.0, 101.0),  # drop exactly 2.5
        (72.0, 69.5, 100.0, 101.0),  # RSI(N-2) exactly 72
        (86.0, 83.5, 100.0, 101.0),  # RSI(N-2) exactly 86
        (80.0, 70.0, 89.0, 90.0),  # volume exactly 90
    ],
)
def test_L2_long2_taken_at_the_boundaries(rsi2: float, rsi1: float, vol2: float, vol1: float) -> None:
    assert entries(signal(rsi2, rsi1, vol2, vol1)) == [(2, "long2", "L2")]


@pytest.mark.parametrize(
    ("rsi2", "rsi1", "vol2", "vol1"),
    [
        (80.0, 77.51, 100.0, 101.0),  # drop under 2.5
        (71.99, 69.0, 100.0, 101.0),  # RSI(N-2) under 72
        (86.01, 83.0, 100.0, 101.0),  # RSI(N-2) above 86 (also an L0 block)
        (80.0, 70.0, 100.0, 100.0),  # volume not rising
        (80.0, 70.0, 80.0, NEAR_90),  # volume under 90
    ],
)
def test_L2_long2_refused_just_outside_the_boundaries(rsi2: float, rsi1: float, vol2: float, vol1: float) -> None:
    assert entries(signal(rsi2, rsi1, vol2, vol1)) == []


def test_L2_exit_at_entry_rsi_plus_1_5_and_stop_at_1_1_percent() -> None:
    rows = signal(80.0, 77.5, 100.0, 101.0) + [Bar(rsi=78.99), Bar(rsi=79.0)]
    assert closes(run(make_frame(rows, RV), RV)) == [(4, "long2", "L2_exit")]
    rows = signal(80.0, 77.5, 100.0, 101.0, close=100_000.0) + [Bar(rsi=70.0, close=98_900.01), Bar(rsi=70.0, close=98_900.0)]
    assert closes(run(make_frame(rows, RV), RV)) == [(4, "long2", "L2_stop")]


def long2_round_trip(between: list[float], exit_bar: Bar = Bar(rsi=79.0)) -> list[Bar]:
    """long2 at row 2, exit at row 3, RSI ``between``, then a second long2 signal."""
    return signal(80.0, 77.5, 100.0, 101.0) + [exit_bar] + [Bar(rsi=r) for r in between] + [
        Bar(rsi=80.0, volume=100.0),
        Bar(rsi=77.5, volume=101.0),
    ]


def test_L2_second_long2_in_a_row_refused_when_rsi_never_went_below_50() -> None:
    decisions = run(make_frame(long2_round_trip([60.0, 50.0, 65.0]), RV), RV)
    assert opens(decisions) == [(2, "long2", "L2")]
    assert any(n.startswith("L2: long2 refused") for n in decisions[-1].notes)


def test_L2_second_long2_allowed_after_a_candle_below_50() -> None:
    assert entries(long2_round_trip([60.0, 49.99, 65.0])) == [(2, "long2", "L2"), (8, "long2", "L2")]


def test_L4_long2_rule_counts_from_the_candle_after_the_exit_decision() -> None:
    """A stop exit at RSI 45 does not itself re-allow long2: the candle must come after the exit."""
    rows = long2_round_trip([60.0], exit_bar=Bar(rsi=45.0, close=98_000.0))
    decisions = run(make_frame(rows, RV), RV)
    assert closes(decisions) == [(3, "long2", "L2_stop")]
    assert opens(decisions) == [(2, "long2", "L2")]


@pytest.mark.parametrize("between", [PositionType.RV_LONG1, PositionType.RV_SHORT])
def test_L4_long2_allowed_when_another_position_was_taken_in_between(between: PositionType) -> None:
    rows = [Bar(rsi=60.0), Bar(rsi=80.0, volume=100.0), Bar(rsi=77.5, volume=101.0)]
    frame = make_frame(rows, RV)
    after_other = StrategyState("rsi_volume", None, between, frame.t[0])
    after_long2 = StrategyState("rsi_volume", None, PositionType.RV_LONG2, frame.t[0])
    assert opens(run(frame, RV, state=after_other)) == [(2, "long2", "L2")]
    assert opens(run(frame, RV, state=after_long2)) == []


# ---------------------------------------------------------------- L3 short


@pytest.mark.parametrize(
    ("rsi2", "rsi1", "vol2", "vol1"),
    [
        (80.0, 76.5, 100.0, 90.0),  # drop exactly 3.5, volume exactly 90
        (72.0, 68.5, 100.0, 90.0),  # RSI(N-2) exactly 72
        (83.0, 79.5, 100.0, 90.0),  # RSI(N-2) exactly 83
        (72.0, 60.01, 100.0, 90.0),  # RSI(N-1) just above 60
        (80.0, 76.5, 130.0, 91.0),  # ratio exactly 0.7
    ],
)
def test_L3_short_taken_at_the_boundaries(rsi2: float, rsi1: float, vol2: float, vol1: float) -> None:
    assert entries(signal(rsi2, rsi1, vol2, vol1)) == [(2, "short", "L3")]


@pytest.mark.parametrize(
    ("rsi2", "rsi1", "vol2", "vol1"),
    [
        (80.0, 76.51, 100.0, 90.0),  # drop under 3.5
        (71.99, 68.0, 100.0, 90.0),  # RSI(N-2) under 72
        (83.01, 79.0, 100.0, 90.0),  # RSI(N-2) above 83
        (72.0, 60.0, 100.0, 90.0),  # RSI(N-1) not above 60
        (80.0, 76.5, 130.01, 91.0),  # ratio under 0.7
        (80.0, 76.5, 100.0, 100.0),  # ratio exactly 1 (exclusive)
    ],
)
def test_L3_short_refused_just_outside_the_boundaries(rsi2: float, rsi1: float, vol2: float, vol1: float) -> None:
    assert entries(signal(rsi2, rsi1, vol2, vol1)) == []


def test_L3_exit_at_rsi_60_and_stop_at_0_8_percent_above() -> None:
    rows = signal(80.0, 76.5, 100.0, 90.0) + [Bar(rsi=60.01), Bar(rsi=60.0)]
    decisions = run(make_frame(rows, RV), RV)
    assert closes(decisions) == [(4, "short", "L3_exit")]
    assert decisions[4].actions[0].order_side == "buy"
    rows = signal(80.0, 76.5, 100.0, 90.0, close=100_000.0) + [Bar(rsi=70.0, close=100_799.99), Bar(rsi=70.0, close=100_800.0)]
    assert closes(run(make_frame(rows, RV), RV)) == [(4, "short", "L3_stop")]


# ---------------------------------------------------------------- L0 safety


def test_L0_rsi_above_86_blocks_until_a_candle_at_or_below_50() -> None:
    decisions = run(make_frame(signal(80.0, 77.5, 100.0, 101.0, history=[86.01, 60.0, 50.01]), RV), RV)
    assert opens(decisions) == []
    assert any(n.startswith("L0: long2 signal (L2) refused") for n in decisions[-1].notes)
    assert entries(signal(80.0, 77.5, 100.0, 101.0, history=[86.01, 50.0, 60.0])) == [(4, "long2", "L2")]


def test_L0_rsi_exactly_86_does_not_block() -> None:
    assert entries(signal(80.0, 77.5, 100.0, 101.0, history=[86.0, 60.0])) == [(3, "long2", "L2")]


def test_L0_entries_evaluated_again_from_the_reset_candle_itself() -> None:
    """The reset candle is N-1: RSI exactly 50 lifts the block at that decision; 50.01 does not."""
    assert entries(signal(75.0, 50.0, 100.0, 101.0, history=[87.0, 70.0])) == [(3, "long2", "L2")]
    assert entries(signal(75.0, 50.01, 100.0, 101.0, history=[87.0, 70.0])) == []


def test_L0_rsi_below_10_blocks_long1_until_a_candle_at_or_above_50() -> None:
    assert entries(signal(20.0, 24.0, history=[9.99, 30.0])) == []
    assert entries(signal(20.0, 24.0, history=[9.99, 50.0, 30.0])) == [(4, "long1", "L1")]
    assert entries(signal(20.0, 24.0, history=[10.0, 45.0])) == [(3, "long1", "L1")]


def test_L0_short_blocked_after_rsi_above_86() -> None:
    assert entries(signal(80.0, 76.5, 100.0, 90.0, history=[90.0, 70.0])) == []


# ---------------------------------------------------------------- L4 order of evaluation


def test_L4_exit_then_entry_in_the_same_decision() -> None:
    """long1 stopped out at row 3 and a new long1 signal at the same candle: close (0) then open (1)."""
    rows = signal(20.0, 24.0, close=100_000.0) + [Bar(rsi=28.0, close=99_000.0)]
    decision = run(make_frame(rows, RV), RV)[3]
    assert [(a.kind, a.reason, a.index) for a in decision.actions] == [("close", "L1_stop", 0), ("open", "L1", 1)]
    assert decision.state.position.entry_close == 99_000.0
    assert decision.state.last_position_type is PositionType.RV_LONG1
