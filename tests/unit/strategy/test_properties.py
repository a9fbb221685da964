"""Properties of the engine on random candle paths (spec §6, T3, T5): determinism, no look-ahead,
state that survives JSON at every step, and agreement with a naive second reading of the rules.

The paths are short, so the VI multipliers, periods and hours are scaled down (a 19-ATR VI1 would not
flip in 400 candles); the properties do not depend on the parameter values.
"""

from __future__ import annotations

import numpy as np
from factories import ACCOUNT, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_vi import reference_events

from bitsniper.candles import Candles
from bitsniper.config import StrategyParams
from bitsniper.strategy import Decision, build_frame, decide, initial_state, state_from_json, state_to_json

M15 = 900_000
FAST_VI = StrategyParams(
    rsi_period=14, atr_period=10, vi1_mult=4.0, vi2_mult=2.5, vi3_mult=1.5,
    vi1_lock_hours=6.0, no_exit_hours=2.0, short_check_hours=1.0,
)
RV = StrategyParams(strategy="rsi_volume")
PARAMS = st.sampled_from([FAST_VI, RV])
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_candles(seed: int, n: int, vol: float, holes: list[int], start: int = 1_750_000_000_000 // M15 * M15) -> Candles:
    """A random walk with trending regimes (so the VIs flip) and a few missing candles (T5)."""
    rng = np.random.default_rng(seed)
    drift = np.repeat(rng.choice([-0.4, 0.0, 0.4], size=n // 40 + 1) * vol, 40)[:n]
    close = 60_000.0 * np.exp(np.cumsum(drift + rng.normal(0.0, vol, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    spread = np.abs(rng.normal(0.0, vol / 2, n))
    high = np.maximum(open_, close) * (1 + spread)
    low = np.minimum(open_, close) * (1 - spread)
    volume = rng.lognormal(4.5, 0.6, n)  # median ~90: the rsi_volume volume rules go both ways
    time = start + np.arange(n, dtype=np.int64) * M15
    keep = np.ones(n, dtype=bool)
    keep[[h for h in holes if 0 < h < n]] = False
    return Candles(time[keep], open_[keep], high[keep], low[keep], close[keep], volume[keep])


@st.composite
def paths(draw: st.DrawFn) -> Candles:
    n = draw(st.integers(min_value=120, max_value=360))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    vol = draw(st.sampled_from([0.001, 0.003, 0.006]))
    holes = draw(st.lists(st.integers(min_value=1, max_value=n - 1), max_size=3))
    return make_candles(seed, n, vol, holes)


def copy(c: Candles) -> Candles:
    return Candles(*(np.array(getattr(c, f)) for f in ("time", "open", "high", "low", "close", "volume")))


def with_new_tail(c: Candles, k: int, seed: int) -> Candles:
    """Rows 0..k kept, every later candle changed (and one more appended)."""
    other = make_candles(seed, len(c) + 1, 0.01, [], start=int(c.time[0]))
    cut = k + 1
    columns = [np.concatenate((getattr(c, f)[:cut], getattr(other, f)[cut:])) for f in ("open", "high", "low", "close", "volume")]
    time = np.concatenate((c.time[:cut], c.time[k] + M15 * np.arange(1, len(other) - cut + 1, dtype=np.int64)))
    return Candles(time, *columns)


def run_through_json(frame, params: StrategyParams) -> list[Decision]:  # type: ignore[no-untyped-def]
    state = initial_state(params)
    out = []
    for i in range(len(frame)):
        decision = decide(state_from_json(state_to_json(state)), frame, ACCOUNT, params, at=i)
        out.append(decision)
        state = decision.state
    return out


@SETTINGS
@given(candles=paths(), params=PARAMS)
def test_same_inputs_give_the_same_actions(candles: Candles, params: StrategyParams) -> None:
    first = run(build_frame(candles, params), params)
    second = run(build_frame(copy(candles), params), params)
    assert first == second


@SETTINGS
@given(candles=paths(), params=PARAMS, data=st.data())
def test_no_look_ahead_candles_after_k_never_change_the_decision_at_k(
    candles: Candles, params: StrategyParams, data: st.DataObject
) -> None:
    k = data.draw(st.integers(min_value=0, max_value=len(candles) - 1), label="k")
    seed = data.draw(st.integers(min_value=0, max_value=2**32 - 1), label="tail seed")
    full = run(build_frame(candles, params), params)
    changed = run(build_frame(with_new_tail(candles, k, seed), params), params)
    truncated = run(build_frame(candles.slice(0, k + 1), params), params)
    assert changed[: k + 1] == full[: k + 1] == truncated


@SETTINGS
@given(candles=paths(), params=PARAMS)
def test_state_survives_a_json_round_trip_at_every_step_with_identical_results(
    candles: Candles, params: StrategyParams
) -> None:
    frame = build_frame(candles, params)
    direct = run(frame, params)
    assert run_through_json(frame, params) == direct
    assert all(state_from_json(state_to_json(d.state)) == d.state for d in direct)


@SETTINGS
@given(candles=paths())
def test_vi_engine_agrees_with_a_naive_reading_of_the_spec(candles: Candles) -> None:
    frame = build_frame(candles, FAST_VI)
    decisions = run(frame, FAST_VI)
    events = [(k, a.kind, a.position_type.value, a.reason) for k, d in enumerate(decisions) for a in d.actions]
    assert events == reference_events(frame, FAST_VI)


def test_random_paths_exercise_entries_exits_and_gaps() -> None:
    """Guard against vacuous properties: the generator's paths do trade under both rule sets."""
    reasons: set[str] = set()
    for seed in range(12):
        candles = make_candles(seed, 360, 0.003, [100, 200])
        for params in (FAST_VI, RV):
            for d in run(build_frame(candles, params), params):
                reasons.update(a.reason for a in d.actions)
                reasons.update(n[:2] for n in d.notes if n.startswith(("T5", "E5", "L0")))
    assert {"E1", "E2", "E3", "E4", "E5", "T5", "X1", "X2", "X4", "L0", "L1", "L2", "L3"} <= reasons
