"""Isolated-margin accounting against hand-computed fills, fees, slippage, funding and liquidations."""

from __future__ import annotations

import pytest

from bitsniper.backtest.accounting import Costs, Ledger, liquidation_price
from bitsniper.strategy import PositionType

T0 = 1_750_000_000_000
Q = 900_000


def _ledger(**costs: float) -> Ledger:
    return Ledger(10_000.0, Costs(**costs))


def test_long_round_trip_charges_the_taker_fee_on_both_fills() -> None:
    ledger = _ledger()
    ledger.open(PositionType.LONG_VI1, 1.0, 50_000.0, T0, T0 + Q, 55.0, "E2")
    # notional 50,000 -> fee 25, margin 5,000 posted (leverage 10)
    assert ledger.wallet == pytest.approx(9_975.0)
    assert ledger.available_margin() == pytest.approx(4_975.0)
    assert ledger.equity(50_500.0) == pytest.approx(10_475.0)
    trade = ledger.close(51_000.0, T0 + 4 * Q, T0 + 5 * Q, "X1")
    # gross 1,000, exit fee 25.5 -> pnl 1,000 - 25 - 25.5
    assert trade.pnl == pytest.approx(949.5)
    assert trade.fees == pytest.approx(50.5)
    assert trade.return_pct == pytest.approx(949.5 / 5_000 * 100)
    assert ledger.wallet == pytest.approx(10_949.5)
    assert (trade.type, trade.side, trade.exit_reason, trade.entry_reason) == ("LONG_VI1", "long", "X1", "E2")


def test_short_round_trip_fills_worse_by_the_slippage() -> None:
    ledger = _ledger(slippage_pct=0.1)
    ledger.open(PositionType.SHORT, 1.0, 50_000.0, T0, T0 + Q, 48.0)
    trade = ledger.close(49_000.0, T0 + 4 * Q, T0 + 5 * Q, "X1")
    # sell at 49,950, buy back at 49,049: gross 901; fees 24.975 + 24.5245
    assert trade.entry_price == pytest.approx(49_950.0)
    assert trade.exit_price == pytest.approx(49_049.0)
    assert trade.pnl == pytest.approx(901.0 - 24.975 - 24.5245)
    assert ledger.wallet == pytest.approx(10_000.0 + 901.0 - 24.975 - 24.5245)


@pytest.mark.parametrize(("position_type", "expected_funding"), [(PositionType.LONG_VI1, 5.0), (PositionType.SHORT, -5.0)])
def test_positive_funding_is_paid_by_longs_and_received_by_shorts(position_type: PositionType, expected_funding: float) -> None:
    ledger = _ledger(fee_rate=0.0, funding_rate_hourly=0.0001)
    ledger.open(position_type, 1.0, 50_000.0, T0, T0 + Q, 50.0)
    for _ in range(4):  # one hour of 15-minute candles at 50,000: 1 BTC x 50,000 x 0.0001 x 0.25 each
        ledger.charge_funding(50_000.0, 0.25)
    trade = ledger.close(50_000.0, T0 + 4 * Q, T0 + 5 * Q, "X2")
    assert trade.funding == pytest.approx(expected_funding)
    assert trade.pnl == pytest.approx(-expected_funding)
    assert ledger.wallet == pytest.approx(10_000.0 - expected_funding)


def test_long_is_liquidated_when_the_low_reaches_the_maintenance_margin() -> None:
    ledger = _ledger()
    ledger.open(PositionType.LONG_VI1, 1.0, 50_000.0, T0, T0 + Q, 50.0)
    # 5,000 + (P - 50,000) = 0.01 P  ->  P = 45,000 / 0.99
    expected = 45_000.0 / 0.99
    assert ledger.position is not None and ledger.position.liquidation_price == pytest.approx(expected)
    assert ledger.liquidate(high=50_100.0, low=45_500.0, open_price=50_000.0, time=T0 + 2 * Q) is None
    trade = ledger.liquidate(high=50_100.0, low=45_000.0, open_price=50_000.0, time=T0 + 3 * Q)
    assert trade is not None and trade.exit_reason == "liquidation"
    assert trade.exit_price == pytest.approx(expected)
    assert trade.pnl == pytest.approx(-5_000.0 - 25.0)  # the isolated margin and the entry fee
    assert ledger.wallet == pytest.approx(10_000.0 - 5_025.0)
    assert ledger.position is None


def test_short_liquidation_after_a_gap_exits_at_the_open_but_loses_only_the_margin() -> None:
    ledger = _ledger(maintenance_margin_rate=0.005)
    ledger.open(PositionType.SHORT, 1.0, 50_000.0, T0, T0 + Q, 48.0)
    expected = (5_000.0 + 50_000.0) / 1.005
    assert ledger.position is not None and ledger.position.liquidation_price == pytest.approx(expected)
    trade = ledger.liquidate(high=60_000.0, low=56_000.0, open_price=56_500.0, time=T0 + 2 * Q)
    assert trade is not None and trade.exit_price == 56_500.0
    assert trade.pnl == pytest.approx(-5_000.0 - 25.0)


def test_liquidation_price_moves_closer_as_funding_eats_the_margin() -> None:
    before = liquidation_price(1, 1.0, 50_000.0, 5_000.0, 0.01)
    ledger = _ledger(fee_rate=0.0, funding_rate_hourly=0.001)
    ledger.open(PositionType.LONG_VI1, 1.0, 50_000.0, T0, T0 + Q, 50.0)
    ledger.charge_funding(50_000.0, 10.0)  # 500 USD of funding
    assert ledger.position is not None
    assert ledger.position.margin == pytest.approx(4_500.0)
    assert ledger.position.liquidation_price == pytest.approx((50_000.0 - 4_500.0) / 0.99)
    assert ledger.position.liquidation_price > before


def test_entry_after_a_gap_up_posts_only_the_free_balance_as_margin() -> None:
    ledger = Ledger(1_000.0, Costs())
    # sized on 1,000 x 10 x 0.995 / 50,000 = 0.199 BTC, but the open is 2 % higher: 0.199 x 51,000 / 10 = 1,014.9
    ledger.open(PositionType.LONG_VI2, 0.199, 51_000.0, T0, T0 + Q, 50.0)
    fee = 0.199 * 51_000.0 * 0.0005
    assert ledger.position is not None
    assert ledger.position.margin == pytest.approx(1_000.0 - fee)
    assert ledger.available_margin() == pytest.approx(0.0)


def test_open_position_at_the_end_is_marked_at_the_close_without_exit_fee() -> None:
    ledger = _ledger()
    ledger.open(PositionType.SHORT, 0.5, 40_000.0, T0, T0 + Q, 49.0)
    trade = ledger.mark_open(39_000.0)
    assert trade.exit_reason == "open" and trade.exit_time is None
    assert trade.pnl == pytest.approx(0.5 * 1_000.0 - 10.0)
    assert ledger.trades == []  # not booked: the position is still open
