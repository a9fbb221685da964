"""The exchange model: fills, fees, positions, reduce-only, the cliOrdId rule, the 5-s window, liquidation."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bitsniper.simulator.state import DEADLINE_PASSED, STATUS_WINDOW_MS, ExchangeState, OrderInput

T0 = 1_767_225_600_000
PRICE = D("50000")


def mkt(side: str, size: str, cli: str | None = None, reduce_only: bool = False) -> OrderInput:
    return OrderInput("PF_XBTUSD", side, "mkt", D(size), cli, None, reduce_only)


def test_market_buy_fills_at_price_with_taker_fee_and_opens_long() -> None:
    state = ExchangeState(balance=D("10000"))
    outcome = state.send_order(mkt("buy", "0.1", "a"), T0, PRICE)
    assert outcome.status == "placed"
    assert [(f.price, f.size, f.fill_type) for f in outcome.executions] == [(PRICE, D("0.1"), "taker")]
    assert state.balance == D("10000") - D("0.1") * PRICE * D("0.0005")  # 2.5 USD
    position = state.positions["PF_XBTUSD"]
    assert (position.size, position.entry_price) == (D("0.1"), PRICE)
    assert outcome.order is not None and outcome.order.state == "filled"


def test_adding_to_a_position_averages_the_entry_price() -> None:
    state = ExchangeState()
    state.send_order(mkt("buy", "0.1"), T0, D("50000"))
    state.send_order(mkt("buy", "0.3"), T0, D("54000"))
    assert state.positions["PF_XBTUSD"].entry_price == D("53000")


def test_reduce_only_close_realises_pnl_and_leaves_flat() -> None:
    state = ExchangeState(balance=D("10000"))
    state.send_order(mkt("sell", "0.2"), T0, D("50000"))
    state.send_order(mkt("buy", "0.2", reduce_only=True), T0, D("49000"))
    fees = D("0.2") * D("50000") * D("0.0005") + D("0.2") * D("49000") * D("0.0005")
    assert "PF_XBTUSD" not in state.positions
    assert state.balance == D("10000") + D("200") - fees


def test_reduce_only_without_position_is_refused() -> None:
    state = ExchangeState()
    assert state.send_order(mkt("sell", "0.1", reduce_only=True), T0, PRICE).status == "wouldNotReducePosition"
    state.send_order(mkt("buy", "0.1"), T0, PRICE)
    assert state.send_order(mkt("buy", "0.1", reduce_only=True), T0, PRICE).status == "wouldNotReducePosition"


def test_reduce_only_larger_than_position_is_cut_to_the_position() -> None:
    state = ExchangeState()
    state.send_order(mkt("buy", "0.1"), T0, PRICE)
    outcome = state.send_order(mkt("sell", "0.5", reduce_only=True), T0, PRICE)
    assert outcome.status == "placed"
    assert outcome.reduced_quantity == D("0.4")
    assert outcome.executions[0].size == D("0.1")
    assert "PF_XBTUSD" not in state.positions


def test_sell_larger_than_long_flips_to_short_at_the_fill_price() -> None:
    state = ExchangeState()
    state.send_order(mkt("buy", "0.1"), T0, D("50000"))
    state.send_order(mkt("sell", "0.3"), T0, D("51000"))
    position = state.positions["PF_XBTUSD"]
    assert (position.size, position.entry_price) == (D("-0.2"), D("51000"))


@pytest.mark.parametrize("size", ["0.00005", "0.00015", "0", "-1"])
def test_size_off_the_step_or_not_positive_is_invalid_size(size: str) -> None:
    assert ExchangeState().send_order(mkt("buy", size), T0, PRICE).status == "invalidSize"


def test_order_beyond_margin_is_insufficient_available_funds() -> None:
    state = ExchangeState(balance=D("1000"))
    # 50x cross: 1000 USD carries at most ~1 BTC at 50,000
    assert state.send_order(mkt("buy", "1.1"), T0, PRICE).status == "insufficientAvailableFunds"
    assert state.positions == {} and state.orders == {}


def test_isolated_leverage_preference_caps_the_position() -> None:
    state = ExchangeState(balance=D("1000"))
    state.set_leverage("PF_XBTUSD", D("10"))
    assert state.send_order(mkt("buy", "0.2"), T0, PRICE).status == "insufficientAvailableFunds"
    assert state.send_order(mkt("buy", "0.19"), T0, PRICE).status == "placed"


def test_cli_ord_id_is_refused_only_while_the_first_order_is_open() -> None:
    state = ExchangeState()
    resting = OrderInput("PF_XBTUSD", "buy", "lmt", D("0.1"), "dup", D("40000"))
    assert state.send_order(resting, T0, PRICE).status == "placed"
    assert state.send_order(mkt("buy", "0.1", "dup"), T0, PRICE).status == "clientOrderIdAlreadyExist"
    state.cancel_order(None, "dup", T0 + 1)
    assert state.send_order(mkt("buy", "0.1", "dup"), T0 + 2, PRICE).status == "placed"


def test_market_order_cli_ord_id_is_accepted_again_and_fills_twice() -> None:
    """The hazard the execution layer must guard against: Kraken does not deduplicate closed orders."""
    state = ExchangeState()
    state.send_order(mkt("buy", "0.1", "same"), T0, PRICE)
    second = state.send_order(mkt("buy", "0.1", "same"), T0 + 1, PRICE)
    assert second.status == "placed"
    assert state.positions["PF_XBTUSD"].size == D("0.2")


def test_orders_status_forgets_closed_orders_after_five_seconds() -> None:
    state = ExchangeState()
    state.send_order(mkt("buy", "0.1", "gone"), T0, PRICE)
    assert [o.cli_ord_id for o in state.orders_status([], ["gone"], T0 + STATUS_WINDOW_MS)] == ["gone"]
    assert state.orders_status([], ["gone"], T0 + STATUS_WINDOW_MS + 1) == []


def test_orders_status_keeps_open_orders_forever() -> None:
    state = ExchangeState()
    state.send_order(OrderInput("PF_XBTUSD", "sell", "lmt", D("0.1"), "rest", D("60000")), T0, PRICE)
    assert len(state.orders_status([], ["rest"], T0 + 3_600_000)) == 1


def test_resting_limit_order_fills_as_maker_when_price_crosses() -> None:
    state = ExchangeState(balance=D("10000"))
    state.send_order(OrderInput("PF_XBTUSD", "buy", "lmt", D("0.1"), "lim", D("49000")), T0, PRICE)
    assert state.on_price(T0 + 1, D("49500")) == []
    fills = state.on_price(T0 + 2, D("48800"))
    assert [(f.price, f.fill_type) for f in fills] == [(D("49000"), "maker")]
    assert state.balance == D("10000") - D("0.1") * D("49000") * D("0.0002")


def test_fills_before_pages_backwards_newest_first() -> None:
    state = ExchangeState()
    for i in range(5):
        state.send_order(mkt("buy", "0.0001"), T0 + i * 1000, PRICE)
    assert [f.time_ms for f in state.fills_before(None, limit=2)] == [T0 + 4000, T0 + 3000]
    assert [f.time_ms for f in state.fills_before(T0 + 3000, limit=2)] == [T0 + 2000, T0 + 1000]


def test_isolated_long_is_liquidated_when_margin_falls_below_maintenance() -> None:
    # Arrange: 10x isolated long of 0.1 BTC at 50,000 -> 500 USD margin, 1 % maintenance
    state = ExchangeState(balance=D("10000"))
    state.set_leverage("PF_XBTUSD", D("10"))
    state.send_order(mkt("buy", "0.1"), T0, PRICE)
    liquidation = state.liquidation_price("PF_XBTUSD")
    assert liquidation is not None and D("45000") < liquidation < D("45500")
    # Act / Assert: just above the liquidation price nothing happens, just below it the position is closed
    assert state.on_price(T0 + 1, liquidation + 1) == []
    fills = state.on_price(T0 + 2, liquidation - 1)
    assert [f.fill_type for f in fills] == ["liquidation"]
    assert "PF_XBTUSD" not in state.positions
    assert state.balance < D("10000") - D("450")


def test_cross_margin_position_survives_a_move_its_balance_covers() -> None:
    state = ExchangeState(balance=D("10000"))
    state.send_order(mkt("buy", "0.1"), T0, PRICE)
    assert state.on_price(T0 + 1, D("40000")) == []
    assert state.positions["PF_XBTUSD"].size == D("0.1")


def test_account_reports_equity_and_available_margin() -> None:
    state = ExchangeState(balance=D("10000"))
    state.send_order(mkt("buy", "1"), T0, PRICE)
    account = state.account(D("51000"))
    assert account.unrealized_pnl == D("1000")
    assert account.margin_equity == D("10000") - D("25") + D("1000")
    assert account.initial_margin == D("51000") / D("50")
    assert account.available_margin == account.margin_equity - account.initial_margin


# --------------------------------------------------------------------------- processBefore and partial fills


def test_order_processed_at_or_after_its_process_before_is_refused_and_changes_nothing() -> None:
    state = ExchangeState(balance=D("10000"))
    late = OrderInput("PF_XBTUSD", "buy", "mkt", D("0.1"), "late", process_before_ms=T0 + 1_000)
    outcome = state.send_order(late, T0, PRICE, wall_ms=T0 + 1_000)
    assert (outcome.status, outcome.order) == (DEADLINE_PASSED, None)
    assert state.orders == {} and state.positions == {} and state.balance == D("10000")
    assert state.refusals == [("late", DEADLINE_PASSED)]


def test_order_processed_before_its_process_before_executes() -> None:
    state = ExchangeState()
    early = OrderInput("PF_XBTUSD", "buy", "mkt", D("0.1"), "early", process_before_ms=T0 + 1_000)
    assert state.send_order(early, T0, PRICE, wall_ms=T0 + 999).status == "placed"
    assert state.position_size("PF_XBTUSD") == D("0.1") and state.refusals == []


def test_partial_market_fill_takes_the_floored_share_and_cancels_the_rest() -> None:
    state = ExchangeState()
    outcome = state.send_order(mkt("buy", "0.0101", "half"), T0, PRICE, fill_fraction=D("0.5"))
    assert outcome.status == "placed" and [f.size for f in outcome.executions] == [D("0.0050")]
    assert outcome.order is not None and (outcome.order.state, outcome.order.filled) == ("cancelled", D("0.0050"))
    assert state.position_size("PF_XBTUSD") == D("0.005") and state.open_orders() == []
    assert [o.filled for o in state.orders_status([], ["half"], T0)] == [D("0.005")]


def test_partial_fill_of_a_crossing_limit_order_leaves_the_rest_resting() -> None:
    state = ExchangeState()
    order = OrderInput("PF_XBTUSD", "buy", "lmt", D("0.2"), "lim", limit_price=D("51000"))
    outcome = state.send_order(order, T0, PRICE, fill_fraction=D("0.25"))
    assert [f.size for f in outcome.executions] == [D("0.05")]
    assert [(o.cli_ord_id, o.filled) for o in state.open_orders()] == [("lim", D("0.05"))]
