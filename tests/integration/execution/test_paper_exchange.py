"""The paper exchange: live market data from the simulator (real SDK, real HTTP), fills at the open of the
next candle with the taker fee, book kept in PostgreSQL; execution runs on it unchanged."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from bitsniper.errors import OrderRefused
from bitsniper.exchange import KrakenFuturesExchange, OrderRequest, OrderSide
from bitsniper.exchange.paper import PaperExchange, paper_balance
from bitsniper.execution import execute_decision
from bitsniper.simulator.server import RunningSimulator
from bitsniper.simulator.testing import CANDLE_MS
from bitsniper.store import SessionFactory, fills_for_order, orders_for_decision

from execution_kit import CANDLES, DECISION_TIME, LAST_OPEN, POLICY, SYMBOL, close_action, open_action, record

FEE = D("0.0005")


@pytest.fixture
def paper(factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange) -> PaperExchange:
    return PaperExchange(factory, exchange, fee_rate=FEE, initial_balance=D("10000"), clock_ms=running.sim.clock.now_ms)


def test_paper_entry_fills_at_the_next_candle_open_with_the_taker_fee_exactly_once(
    factory: SessionFactory, running: RunningSimulator, paper: PaperExchange
) -> None:
    # Arrange
    actions = (open_action("long", 0.01),)
    decision = record(factory, actions, mode="paper")

    # Act: the task runs twice (an Airflow retry after success)
    first = execute_decision(factory, paper, decision, actions, mode="paper", symbol=SYMBOL, policy=POLICY)
    second = execute_decision(factory, paper, decision, actions, mode="paper", symbol=SYMBOL, policy=POLICY)

    # Assert: one fill at N's open (the forming candle), fee charged once; the simulator got no order
    order = orders_for_decision(factory, decision)[0]
    fills = fills_for_order(factory, order.cli_ord_id)
    assert (first.orders_sent, second.orders_sent) == (1, 0)
    assert [(f.size, f.price, f.fee) for f in fills] == [(D("0.01"), LAST_OPEN, D("0.01") * LAST_OPEN * FEE)]
    assert order.status == "filled" and order.average_price == LAST_OPEN
    assert paper.position(SYMBOL).signed_size == D("0.01")
    assert paper_balance(factory, SYMBOL, D("10000")) == D("10000") - D("0.01") * LAST_OPEN * FEE
    assert running.sim.requests.get("sendorder", 0) == 0


def test_paper_round_trip_books_realised_pnl_and_both_fees(
    factory: SessionFactory, running: RunningSimulator, paper: PaperExchange
) -> None:
    # Arrange: long 0.01 at N's open
    entry = (open_action("long", 0.01),)
    execute_decision(factory, paper, record(factory, entry, mode="paper"), entry, mode="paper", symbol=SYMBOL, policy=POLICY)
    # a candle later the data has ended: the last close stands for the next open
    running.sim.clock.advance(CANDLE_MS)
    exit_time = DECISION_TIME + CANDLE_MS
    exit_ = (close_action("long", 0.01, decision_time=exit_time),)

    # Act
    report = execute_decision(factory, paper, record(factory, exit_, decision_time=exit_time, mode="paper"), exit_,
                              mode="paper", symbol=SYMBOL, policy=POLICY)

    # Assert
    exit_price = D(str(CANDLES.close[-1]).removesuffix(".0"))
    fees = D("0.01") * LAST_OPEN * FEE + D("0.01") * exit_price * FEE
    assert report.orders_sent == 1 and paper.position(SYMBOL).is_flat
    assert paper_balance(factory, SYMBOL, D("10000")) == D("10000") + D("0.01") * (exit_price - LAST_OPEN) - fees
    account = paper.account()
    assert account.equity == account.balance == paper_balance(factory, SYMBOL, D("10000"))


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        (OrderRequest("p-1", SYMBOL, OrderSide.SELL, D("0.01"), reduce_only=True), "wouldNotReducePosition"),
        (OrderRequest("p-2", SYMBOL, OrderSide.BUY, D("5")), "insufficientAvailableFunds"),
        (OrderRequest("p-3", SYMBOL, OrderSide.BUY, D("0.00015")), "invalidSize"),
    ],
)
def test_paper_refuses_what_kraken_refuses(paper: PaperExchange, request_: OrderRequest, status: str) -> None:
    with pytest.raises(OrderRefused) as refusal:
        paper.place_order(request_)

    assert refusal.value.status == status
    assert paper.position(SYMBOL).is_flat and paper.order_by_cli_ord_id(request_.cli_ord_id).found is False


def test_paper_exchange_takes_fee_balance_and_leverage_from_the_settings(
    factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    from bitsniper.config import load_settings

    settings = load_settings(paper_fee_rate=0.001, paper_initial_balance_usd=500, leverage=2)
    paper = PaperExchange(factory=factory, market=exchange, settings=settings, clock_ms=running.sim.clock.now_ms)

    # 0.02 BTC at ~52,490 USD needs ~525 USD of margin at 2x: more than 500
    with pytest.raises(OrderRefused, match="insufficientAvailableFunds"):
        paper.place_order(OrderRequest("p-big", SYMBOL, OrderSide.BUY, D("0.02")))
    result = paper.place_order(OrderRequest("p-ok", SYMBOL, OrderSide.BUY, D("0.01")))

    assert result.average_price == LAST_OPEN
    assert paper_balance(factory, SYMBOL, D("500")) == D("500") - D("0.01") * LAST_OPEN * D("0.001")
