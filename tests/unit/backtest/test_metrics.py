"""Metrics against values worked out by hand on a three-day equity curve."""

from __future__ import annotations

import math

import pytest

from bitsniper.backtest.accounting import Trade
from bitsniper.backtest.metrics import compute_metrics, daily_returns, drawdown_pct

DAY = 86_400_000
T0 = 1_750_032_000_000 - 1_750_032_000_000 % DAY  # midnight UTC


def _trade(pnl: float, reason: str = "X1", type_: str = "LONG_VI1") -> Trade:
    return Trade(type_, "long", T0, T0, 100.0, 50.0, T0, T0, 100.0, reason, 1.0, 0.0, pnl, pnl)


def _curve() -> tuple[list[int], list[float]]:
    # one point per day at 23:45 (the close of the last candle): 110, 99, 108.9 from 100
    times = [T0 + k * DAY + DAY - 900_000 for k in range(3)]
    return times, [110.0, 99.0, 108.9]


def test_daily_returns_start_from_the_capital_and_use_the_last_close_of_each_day() -> None:
    times, equity = _curve()
    extra_times = [times[0] - 3_600_000, *times]  # an earlier point the same day is not the day's close
    returns = daily_returns(extra_times, [500.0, *equity], 100.0)
    assert returns.tolist() == pytest.approx([0.1, -0.1, 0.1])


def test_drawdown_is_negative_percent_below_the_running_peak() -> None:
    assert drawdown_pct([110.0, 99.0, 108.9], 100.0).tolist() == pytest.approx([0.0, -10.0, -1.0])
    assert drawdown_pct([90.0], 100.0).tolist() == pytest.approx([-10.0])  # the capital is the first peak


def test_metrics_match_hand_computed_values() -> None:
    times, equity = _curve()
    trades = [_trade(10.0), _trade(-11.0, "X2", "SHORT"), _trade(9.9), _trade(3.0, "open")]
    metrics = compute_metrics(trades, times, equity, [True, False, True], 100.0, DAY)
    # returns 0.1, -0.1, 0.1: mean 1/30, sample std sqrt(0.026667 / 2) = 0.115470, downside sqrt(0.01 / 3)
    assert metrics["total_return_pct"] == pytest.approx(8.9)
    assert metrics["max_drawdown_pct"] == pytest.approx(-10.0)
    assert metrics["sharpe"] == pytest.approx((1 / 30) / 0.1154700538 * math.sqrt(365), rel=1e-6)
    assert metrics["sharpe"] == pytest.approx(5.5151, abs=1e-3)
    assert metrics["sortino"] == pytest.approx(11.0303, abs=1e-3)
    assert metrics["cagr_pct"] == pytest.approx((1.089 ** (365 / 3) - 1) * 100)
    assert metrics["win_rate_pct"] == pytest.approx(200 / 3)
    assert metrics["profit_factor"] == pytest.approx(19.9 / 11.0)
    assert metrics["exposure_pct"] == pytest.approx(200 / 3)
    assert metrics["trades"] == 3 and metrics["open_trades"] == 1
    assert metrics["trades_by_type"] == {"LONG_VI1": 2, "SHORT": 1}
    assert metrics["trades_by_exit_reason"] == {"X1": 2, "X2": 1}
    assert metrics["final_equity"] == 108.9


def test_undefined_ratios_are_none_not_infinite() -> None:
    times, _ = _curve()
    metrics = compute_metrics([_trade(5.0)], times, [100.0, 100.0, 100.0], [False] * 3, 100.0, DAY)
    assert metrics["profit_factor"] is None  # no losing trade
    assert metrics["sharpe"] is None and metrics["sortino"] is None  # flat equity
    assert metrics["liquidations"] == 0
