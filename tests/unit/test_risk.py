"""Risk limits (issue 6): each limit on both sides of its boundary, and the loss-pause ladder."""

from __future__ import annotations

import pytest

from bitsniper.config import load_settings
from bitsniper.errors import ConfigError
from bitsniper.risk import daily_limit_reason, drawdown_reason, loss_pause_until, notional_reason

HOUR = 3_600_000
STREAKS, HOURS = (3, 5), (1.0, 4.0)


# --- daily loss limit and profit lock -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("equity", "blocked"),
    [(9_501.0, False), (9_500.0, True), (9_499.0, True), (10_000.0, False), (12_000.0, False)],
)
def test_daily_loss_limit_blocks_from_exactly_five_percent_below_the_day_start(equity: float, blocked: bool) -> None:
    reason = daily_limit_reason(10_000.0, equity, 5.0, None)
    assert (reason is not None) == blocked
    if blocked:
        assert reason.startswith("daily loss limit")


@pytest.mark.parametrize(("equity", "blocked"), [(10_299.0, False), (10_300.0, True), (11_000.0, True), (9_000.0, False)])
def test_daily_profit_lock_blocks_from_its_percentage_above_the_day_start(equity: float, blocked: bool) -> None:
    reason = daily_limit_reason(10_000.0, equity, None, 3.0)
    assert (reason is not None) == blocked
    if blocked:
        assert reason.startswith("daily profit lock")


def test_daily_limits_without_a_day_start_or_with_both_off_never_block() -> None:
    assert daily_limit_reason(None, 1.0, 5.0, 3.0) is None
    assert daily_limit_reason(10_000.0, 1.0, None, None) is None


# --- drawdown kill switch -------------------------------------------------------------------------------


@pytest.mark.parametrize(("equity", "trips"), [(15_001.0, False), (15_000.0, True), (14_000.0, True), (20_000.0, False)])
def test_drawdown_trips_at_exactly_twenty_five_percent_below_the_peak(equity: float, trips: bool) -> None:
    reason = drawdown_reason(20_000.0, equity, 25.0)
    assert (reason is not None) == trips
    if trips:
        assert "below its peak 20,000.00" in reason


def test_drawdown_switched_off_or_without_history_never_trips() -> None:
    assert drawdown_reason(20_000.0, 1.0, None) is None
    assert drawdown_reason(None, 1.0, 25.0) is None


# --- loss-streak pause ladder ---------------------------------------------------------------------------


def _trades(*pnls: float, last_exit: int = 100 * HOUR) -> list[tuple[float, int]]:
    return [(pnl, last_exit - (len(pnls) - 1 - i) * HOUR) for i, pnl in enumerate(pnls)]


def test_two_losses_do_not_pause() -> None:
    assert loss_pause_until(_trades(5.0, -1.0, -2.0), STREAKS, HOURS) is None


def test_three_losses_pause_one_hour_from_the_last_exit() -> None:
    assert loss_pause_until(_trades(5.0, -1.0, -2.0, -3.0), STREAKS, HOURS) == (3, 101 * HOUR)


def test_four_losses_still_pause_one_hour() -> None:
    assert loss_pause_until(_trades(-1.0, -1.0, -1.0, -1.0), STREAKS, HOURS) == (4, 101 * HOUR)


def test_five_losses_pause_four_hours() -> None:
    assert loss_pause_until(_trades(-1.0, -2.0, -3.0, -4.0, -5.0), STREAKS, HOURS) == (5, 104 * HOUR)


def test_a_win_resets_the_streak() -> None:
    assert loss_pause_until(_trades(-1.0, -1.0, -1.0, -1.0, 0.5), STREAKS, HOURS) is None
    assert loss_pause_until(_trades(-1.0, -1.0, -1.0, 2.0, -1.0, -1.0), STREAKS, HOURS) is None


def test_a_break_even_trade_is_not_a_loss() -> None:
    assert loss_pause_until(_trades(-1.0, -1.0, 0.0), STREAKS, HOURS) is None


def test_the_ladder_is_configurable() -> None:
    assert loss_pause_until(_trades(-1.0, -1.0), (2,), (0.5,)) == (2, 100 * HOUR + HOUR // 2)


def test_no_trades_no_pause() -> None:
    assert loss_pause_until([], STREAKS, HOURS) is None


def test_settings_refuse_a_ladder_whose_lists_differ_in_length() -> None:
    with pytest.raises(ConfigError, match="loss_pause_streaks"):
        load_settings(loss_pause_streaks=[3, 5], loss_pause_hours=[1])


# --- max position notional ------------------------------------------------------------------------------


@pytest.mark.parametrize(("equity", "blocked"), [(1_000.0, False), (1_000.01, True), (500.0, False)])
def test_max_notional_refuses_an_entry_whose_size_would_exceed_the_cap(equity: float, blocked: bool) -> None:
    assert (notional_reason(equity, 10.0, 10_000.0) is not None) == blocked


def test_max_notional_unset_never_blocks() -> None:
    assert notional_reason(1e9, 100.0, None) is None
