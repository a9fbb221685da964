"""The decision function around the rules: timing (T1, T3-T5), refusals, sizing (E6), records (E7), X7-X9."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from factories import ACCOUNT, M15, RV, VI, Bar, bars, closes, make_frame, opens, run
from reference_vi import reference_events

from bitsniper.candles import Candles, read_candles_csv
from bitsniper.config import StrategyParams
from bitsniper.errors import ConfigError
from bitsniper.indicators import rsi
from bitsniper.strategy import Account, PositionType, StrategyState, build_frame, decide, initial_state

DATA = Path(__file__).resolve().parents[2] / "data" / "coinbase_btcusd_15m_2025-06-01_2025-08-05.csv.gz"
NO_LOCK = StrategyParams(vi1_lock_hours=0.0)  # where a test flips VI1 back and forth quickly (E5 tested in test_vi)
SHORT_SIGNAL = [Bar("BBB"), Bar("BBB"), Bar("AAA", rsi=50.0, close=100_000.0)]


# ---------------------------------------------------------------- T1 market, T3 timing


def test_T1_pf_xbtusd_15_minute_candles_and_sizes_in_0_0001_btc_steps() -> None:
    assert (VI.symbol, VI.candle_ms, VI.size_step_btc, VI.min_size_btc) == ("PF_XBTUSD", M15, 0.0001, 0.0001)
    action = run(make_frame(SHORT_SIGNAL), account=Account(available_margin=1234.56))[2].actions[0]
    assert action.size == 0.1228  # floor(1234.56 * 10 * 0.995 / 100000 = 0.12283872) to 0.0001
    assert action.execute_time - action.decision_time == M15


def test_T3_action_executes_at_the_open_of_N_decided_at_the_close_of_N_minus_1() -> None:
    frame = make_frame(SHORT_SIGNAL + [Bar("AAA")])
    decision = run(frame)[2]
    action = decision.actions[0]
    assert decision.decision_time == action.decision_time == frame.t[2]
    assert action.execute_time == frame.t[3]
    assert decision.state.position.entry_time == frame.t[3]


def test_T3_interval_follows_the_configured_candle_length() -> None:
    params = StrategyParams(candle_minutes=60)
    action = run(make_frame(SHORT_SIGNAL, params), params)[2].actions[0]
    assert action.execute_time - action.decision_time == 3_600_000


@pytest.mark.parametrize("older", [Bar("AAA", rsi=10.0), Bar("ABA", rsi=90.0, close=1.0), Bar("---", rsi=math.nan)])
def test_T3_only_rows_N_minus_2_and_N_minus_1_matter_for_a_cross(older: Bar) -> None:
    frame = make_frame([older] + SHORT_SIGNAL[1:], NO_LOCK)
    assert [a.reason for a in decide(initial_state(NO_LOCK), frame, ACCOUNT, NO_LOCK, at=2).actions] == ["E1"]


def test_T3_decide_reads_no_row_after_at() -> None:
    frame = make_frame(SHORT_SIGNAL + [Bar("BBB", rsi=90.0)] * 3)
    at_row = decide(initial_state(VI), frame, ACCOUNT, VI, at=2)
    last_row = decide(initial_state(VI), make_frame(SHORT_SIGNAL), ACCOUNT, VI)
    assert at_row == last_row


def test_T3_once_per_candle_a_second_decision_at_the_same_or_an_older_candle_is_refused() -> None:
    frame = make_frame(SHORT_SIGNAL)
    first = decide(initial_state(VI), frame, ACCOUNT, VI, at=2)
    for row in (2, 1):
        again = decide(first.state, frame, ACCOUNT, VI, at=row)
        assert (again.status, again.actions, again.state) == ("already_decided", (), first.state)


def test_decide_refuses_a_row_outside_the_frame() -> None:
    with pytest.raises(IndexError):
        decide(initial_state(VI), make_frame(SHORT_SIGNAL), ACCOUNT, VI, at=3)


def test_decide_refuses_a_state_of_the_other_strategy() -> None:
    with pytest.raises(ConfigError, match="strategy"):
        decide(StrategyState(strategy="rsi_volume"), make_frame(SHORT_SIGNAL), ACCOUNT, VI)


# ---------------------------------------------------------------- T5 missing candles


def test_T5_no_entry_across_a_gap_then_entries_resume_with_two_consecutive_candles() -> None:
    rows = [Bar("BBB"), Bar("BBB"), Bar("AAA", rsi=50.0, gap=1), Bar("BBB", rsi=40.0), Bar("AAA", rsi=50.0)]
    decisions = run(make_frame(rows, NO_LOCK), NO_LOCK)
    assert decisions[2].actions == () and any(n.startswith("T5") for n in decisions[2].notes)
    assert opens(decisions) == [(4, "SHORT", "E1")]


def test_T5_exits_still_apply_across_a_gap() -> None:
    rows = SHORT_SIGNAL + bars(30, phases="AAA", rsi=45.0) + [Bar("BAA", rsi=45.0, gap=3)]
    decisions = run(make_frame(rows))
    assert closes(decisions) == [(33, "SHORT", "X2")]


# ---------------------------------------------------------------- warm-up and I3 convergence


def test_warmup_until_indicators_are_defined_at_N_minus_1_and_N_minus_2() -> None:
    rows = [Bar("---", rsi=math.nan), Bar("BBB", rsi=math.nan), Bar("BBB"), Bar("AAA", rsi=50.0)]
    decisions = run(make_frame(rows))
    assert [d.status for d in decisions] == ["warmup", "warmup", "warmup", "ok"]
    assert opens(decisions) == [(3, "SHORT", "E1")]
    assert decisions[1].state.last_decision_time == make_frame(rows).t[1]


def test_I3_no_decision_while_a_vi_has_not_flipped_yet() -> None:
    rows = [Bar("BBB", converged=False), Bar("AAA", rsi=50.0, converged=False), Bar("BBB", rsi=40.0), Bar("AAA", rsi=50.0)]
    decisions = run(make_frame(rows, NO_LOCK), NO_LOCK)
    assert decisions[1].status == "not_converged" and decisions[1].actions == ()
    assert any(n.startswith("I3") for n in decisions[1].notes)
    assert opens(decisions) == [(3, "SHORT", "E1")]


def test_I3_no_decision_at_a_vi_first_flip_candle_since_its_n2_phase_is_only_the_arbitrary_start() -> None:
    rows = [Bar("BBB", converged=False), Bar("BBB", converged=False), Bar("AAA", rsi=50.0), Bar("AAA", rsi=50.0)]
    decisions = run(make_frame(rows))
    assert [d.status for d in decisions] == ["warmup", "not_converged", "not_converged", "ok"]
    assert opens(decisions) == []


def test_I3_rsi_volume_does_not_wait_for_vi_convergence() -> None:
    rows = [Bar(rsi=55.0, converged=False), Bar(rsi=20.0, converged=False), Bar(rsi=24.0, converged=False)]
    assert opens(run(make_frame(rows, RV), RV)) == [(2, "long1", "L1")]


def test_I4_close_equal_to_its_vi_is_the_below_phase() -> None:
    """Flat candles: ATR 0 so every VI equals the close; the phase is below (LONG side), never above."""
    n = 60
    flat = np.full(n, 100_000.0)
    candles = Candles(np.arange(n, dtype=np.int64) * M15, flat, flat, flat, flat, np.full(n, 10.0))
    frame = build_frame(candles, VI)
    defined = ~np.isnan(frame.vi[0])
    assert defined.sum() == n - VI.atr_period + 1
    assert np.array_equal(frame.vi[0][defined], flat[defined])
    assert not any(frame.vi_above[k][defined].any() for k in range(3))


# ---------------------------------------------------------------- E6 sizing, E7 records


@pytest.mark.parametrize(
    ("account", "size"),
    [
        (Account(available_margin=1000.0), 0.0995),
        (Account(available_margin=1234.56, reference_price=80_000.0), 0.1535),  # 0.15354 floored
        (Account(available_margin=1.0051), 0.0001),  # 0.000100007: exactly the minimum
    ],
)
def test_E6_size_is_all_the_margin_times_leverage_less_fee_buffer_floored_to_the_step(account: Account, size: float) -> None:
    decision = run(make_frame(SHORT_SIGNAL), account=account)[2]
    assert decision.actions[0].size == size == decision.state.position.size


def test_E6_below_the_minimum_size_no_entry_and_a_note_says_why() -> None:
    decision = run(make_frame(SHORT_SIGNAL), account=Account(available_margin=1.005))[2]
    assert decision.actions == () and decision.state.position is None
    assert decision.notes[0].startswith("E6: SHORT signal (E1) not taken, size 0 BTC is below the minimum")


def test_E6_leverage_and_fee_buffer_come_from_configuration() -> None:
    params = StrategyParams(leverage=2.0, fee_buffer=0.0)
    decision = run(make_frame(SHORT_SIGNAL, params), params, account=Account(available_margin=1000.0))[2]
    assert decision.actions[0].size == 0.02


def test_E7_entry_records_type_times_close_rsi_target_then_fill_price() -> None:
    rows = [Bar("AAA"), Bar("AAA"), Bar("BBB", rsi=52.0, close=101_234.5), Bar("BBB")]
    frame = make_frame(rows)
    state = run(frame)[2].state
    position = state.position
    assert position.type is PositionType.LONG_VI1
    assert (position.entry_time, position.entry_decision_time) == (frame.t[3], frame.t[2])
    assert (position.entry_close, position.entry_rsi, position.exit_rsi) == (101_234.5, 52.0, 67.0)
    assert position.fill_price is None
    assert state.with_fill(101_250.0).position.fill_price == 101_250.0


# ---------------------------------------------------------------- X7 reduce-only, X8, X9 reversal


def long_then_reversal() -> list[Bar]:
    """LONG_VI1 at row 2, held 72 h (no E5 lock), then VI1/VI2/VI3 cross above at row 290 with RSI 50."""
    return [Bar("AAA"), Bar("AAA"), Bar("BBB", rsi=47.5)] + bars(287, rsi=50.0) + [Bar("AAA", rsi=50.0)]


def test_X9_reversal_closes_then_opens_in_one_decision_at_the_same_open() -> None:
    frame = make_frame(long_then_reversal())
    decision = run(frame)[290]
    assert [(a.kind, a.position_type.value, a.reason, a.index) for a in decision.actions] == [
        ("close", "LONG_VI1", "X2", 0),
        ("open", "SHORT", "E1", 1),
    ]
    assert {a.execute_time for a in decision.actions} == {frame.t[290] + M15}
    assert decision.state.position.type is PositionType.SHORT


def test_X9_entry_of_a_reversal_is_sized_on_equity_since_the_closed_margin_is_free() -> None:
    frame = make_frame(long_then_reversal())
    locked = Account(available_margin=50.0, equity=1000.0)
    assert run(frame, account=locked)[290].actions[1].size == 0.0995
    no_equity = Account(available_margin=50.0)
    assert run(frame, account=no_equity)[290].actions[1].size == 0.0049


def test_X7_exits_are_reduce_only_orders_on_the_opposite_side() -> None:
    decision = run(make_frame(long_then_reversal()))[290]
    close, open_ = decision.actions
    assert (close.reduce_only, close.order_side) == (True, "sell")
    assert (open_.reduce_only, open_.order_side) == (False, "sell")
    assert close.size == run(make_frame(long_then_reversal()))[2].actions[0].size


def test_X8_last_position_type_changes_when_a_position_closes_not_when_it_opens() -> None:
    decisions = run(make_frame(long_then_reversal()))
    assert decisions[2].state.last_position_type is None
    assert decisions[290].state.last_position_type is PositionType.LONG_VI1
    assert decisions[290].state.last_exit_decision_time == decisions[290].decision_time


# ---------------------------------------------------------------- real candles end to end


@pytest.fixture(scope="module")
def real_candles() -> Candles:
    return read_candles_csv(DATA)


def test_build_frame_uses_the_rsi_period_of_the_selected_strategy(real_candles: Candles) -> None:
    head = real_candles.slice(0, 400)
    np.testing.assert_array_equal(build_frame(head, VI).rsi, rsi(head.close, 40))
    np.testing.assert_array_equal(build_frame(head, RV).rsi, rsi(head.close, 12))


def test_build_frame_vi1_phase_change_times_match_a_plain_scan(real_candles: Candles) -> None:
    frame = build_frame(real_candles, VI)
    last = up = down = None
    for i in range(1, len(frame)):
        if not (math.isnan(frame.vi[0][i]) or math.isnan(frame.vi[0][i - 1])) and frame.a1[i] != frame.a1[i - 1]:
            last = frame.t[i]
            up, down = (last, down) if frame.a1[i] else (up, last)
        assert (frame.chg[i], frame.up[i], frame.down[i]) == tuple(
            -(2**62) if x is None else x for x in (last, up, down)
        )


def test_real_candles_vi_run_matches_a_naive_reading_of_the_spec(real_candles: Candles) -> None:
    frame = build_frame(real_candles, VI)
    decisions = run(frame)
    events = [(k, a.kind, a.position_type.value, a.reason) for k, d in enumerate(decisions) for a in d.actions]
    assert events == reference_events(frame, VI)
    assert {"E1", "E2", "E3", "X1", "X2"} <= {e[3] for e in events}  # the data exercises the main rules
    statuses = [d.status for d in decisions]
    first_ok = statuses.index("ok")
    assert set(statuses[:first_ok]) == {"warmup", "not_converged"} and set(statuses[first_ok:]) == {"ok"}


def test_real_candles_rsi_volume_run_alternates_open_and_close(real_candles: Candles) -> None:
    decisions = run(build_frame(real_candles, RV), RV)
    kinds = [a.kind for d in decisions for a in d.actions]
    assert len(kinds) > 20 and kinds[::2] == ["open"] * len(kinds[::2]) and "open" not in kinds[1::2]


def test_entry_block_from_risk_limits_drops_the_entry_but_keeps_exits() -> None:
    """An operator/risk block (kill switch, daily loss) stops new entries only; the note says why."""
    from bitsniper.candles import read_candles_csv
    from bitsniper.config import strategy_params
    from bitsniper.strategy import Account, build_frame, decide, initial_state

    from tests.conftest import TEST_DATA

    params = strategy_params()
    frame = build_frame(read_candles_csv(TEST_DATA / "coinbase_btcusd_15m_2025-06-01_2025-08-05.csv.gz"), params)
    free_account = Account(10_000.0, 10_000.0)
    blocked_account = Account(10_000.0, 10_000.0, entry_block="kill switch on")
    states, actions = [], []
    state = initial_state(params)
    for i in range(len(frame)):
        decision = decide(state, frame, free_account, params, at=i)
        state = decision.state
        states.append(state)
        actions.append(decision.actions)
    opens = [i for i, a in enumerate(actions) if any(x.kind == "open" for x in a)]
    assert opens, "the slice must hold an entry"
    # Blocked from the start: never an entry, and a note wherever the free run entered.
    blocked = initial_state(params)
    for i in range(opens[0] + 1):
        decision = decide(blocked, frame, blocked_account, params, at=i)
        blocked = decision.state
        assert not any(x.kind == "open" for x in decision.actions)
    assert any("kill switch on" in note for note in decision.notes)
    # Blocked after an entry: the open position still leaves by its rules, at the same candle.
    first_close = next(i for i in range(opens[0] + 1, len(actions)) if any(x.kind == "close" for x in actions[i]))
    blocked = states[opens[0]]
    for i in range(opens[0] + 1, first_close + 1):
        decision = decide(blocked, frame, blocked_account, params, at=i)
        blocked = decision.state
    assert [x.kind for x in decision.actions] == ["close"]
    assert [x.reason for x in decision.actions] == [x.reason for x in actions[first_close] if x.kind == "close"]
