"""The bias checks find a rule set that peeks at the next candle or depends on where history starts."""

from __future__ import annotations

from bitsniper.backtest.bias import check_bias
from bitsniper.candles import Candles
from bitsniper.config import StrategyParams, strategy_params
from bitsniper.strategy import Account, Action, Decision, MarketFrame, Position, PositionType, StrategyState

SIZE = 0.01


def _toggle(state: StrategyState, f: MarketFrame, i: int, enter: bool) -> Decision:
    """A tiny rule set: enter long when ``enter``, leave at the next decision."""
    t1, n = f.t[i], f.t[i] + f.interval_ms
    stepped = state._replace(last_decision_time=t1)
    if state.position is not None:
        close = Action("close", PositionType.LONG_VI1, "long", "fake_exit", t1, n, state.position.size)
        return Decision(t1, "ok", (close,), stepped._replace(position=None, last_position_type=PositionType.LONG_VI1))
    if not enter:
        return Decision(t1, "ok", (), stepped)
    position = Position(PositionType.LONG_VI1, n, t1, f.c[i], 50.0, None, SIZE)
    return Decision(t1, "ok", (Action("open", PositionType.LONG_VI1, "long", "fake", t1, n, SIZE),),
                    stepped._replace(position=position))


def peeking_decide(state: StrategyState, f: MarketFrame, account: Account, p: StrategyParams, at: int) -> Decision:
    """Look-ahead: buys when the NEXT candle closes higher (reads row i + 1 when the frame has it)."""
    future_up = at + 1 < len(f.c) and f.c[at + 1] > f.c[at] * 1.003
    return _toggle(state, f, at, future_up)


def history_start_decide(state: StrategyState, f: MarketFrame, account: Account, p: StrategyParams, at: int) -> Decision:
    """Recursive bias: compares the close with the mean close of whatever history it was given."""
    history = f.c[: at + 1]
    return _toggle(state, f, at, at % 5 == 0 and f.c[at] > sum(history) / len(history))


def test_check_bias_reports_no_difference_for_the_vi_strategy_on_real_candles(slice_candles: Candles) -> None:
    report = check_bias(slice_candles, strategy_params(), warmups=(3000,), samples=100)
    assert report.rows_checked >= 100
    assert report.findings == ()


def test_check_bias_reports_no_difference_for_the_rsi_volume_strategy(slice_candles: Candles) -> None:
    report = check_bias(slice_candles, strategy_params(strategy="rsi_volume"), warmups=(3000,), samples=50)
    assert report.findings == ()


def test_truncated_history_catches_a_rule_set_that_reads_the_next_candle(slice_candles: Candles) -> None:
    candles = slice_candles.slice(0, 1500)
    report = check_bias(candles, strategy_params(), warmups=(), samples=20, decide_fn=peeking_decide)
    assert report.findings, "the peeking rule set must be caught"
    assert {f.check for f in report.findings} == {"truncated history"}
    assert all("open LONG_VI1 (fake)" in f.full and "no action" in f.replay for f in report.findings)


def test_warm_up_replays_catch_a_decision_that_depends_on_where_history_starts(slice_candles: Candles) -> None:
    candles = slice_candles.slice(0, 2500)
    report = check_bias(candles, strategy_params(), warmups=(500,), samples=200, decide_fn=history_start_decide)
    checks = {f.check for f in report.findings}
    assert checks == {"warm-up 500 candles"}  # the full history is never cut at its start by truncation
