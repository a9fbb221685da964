"""The Kraken Futures adapter end to end: python-kraken-sdk -> HTTP -> simulator on 127.0.0.1.

Each fault the simulator can inject is mapped to the error class the caller acts on, and the adapter is
shown to send each order at most once (it never retries).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal as D

import pytest
from pydantic import SecretStr

from bitsniper.errors import (
    ExchangeReplyError,
    ExchangeRequestRefused,
    OrderRefused,
    OrderStateUnknown,
    TransientExchangeError,
)
from bitsniper.exchange import (
    DEADLINE_PASSED,
    FillType,
    KrakenFuturesConfig,
    KrakenFuturesExchange,
    OrderRequest,
    OrderSide,
    OrderState,
    OrderType,
    PositionSide,
)
from bitsniper.simulator.server import RunningSimulator
from bitsniper.simulator.testing import (
    CANDLE_MS,
    START_MS,
    TEST_API_KEY,
    TEST_API_SECRET,
    make_candles,
    running_simulator,
)

TIMEOUT_SECS = 1.0
SYMBOL = "PF_XBTUSD"
N_CANDLES = 250
LAST_OPEN = 50_000 + (N_CANDLES - 1) * 10  # price "now": one minute into the last candle


def make_exchange(url: str, secret: str = TEST_API_SECRET, key: str = TEST_API_KEY) -> KrakenFuturesExchange:
    config = KrakenFuturesConfig(
        api_key=SecretStr(key), api_secret=SecretStr(secret), url=url, http_timeout_secs=TIMEOUT_SECS
    )
    return KrakenFuturesExchange(config)


@pytest.fixture
def running() -> Iterator[RunningSimulator]:
    with running_simulator(make_candles(N_CANDLES), page_limit=100) as live:
        yield live


@pytest.fixture
def exchange(running: RunningSimulator) -> KrakenFuturesExchange:
    return make_exchange(running.url)


def buy(cli: str, size: str = "0.01", reduce_only: bool = False) -> OrderRequest:
    return OrderRequest(cli, SYMBOL, OrderSide.BUY, D(size), reduce_only)


def sell(cli: str, size: str = "0.01", reduce_only: bool = False) -> OrderRequest:
    return OrderRequest(cli, SYMBOL, OrderSide.SELL, D(size), reduce_only)


# --------------------------------------------------------------------------- market data


def test_closed_candles_since_pages_through_more_candles_and_drops_the_forming_one(
    running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    now = running.sim.now_ms()
    candles = exchange.closed_candles_since(SYMBOL, START_MS, now)
    assert [c.time for c in candles] == [START_MS + i * CANDLE_MS for i in range(N_CANDLES - 1)]
    assert candles[-1].time + CANDLE_MS <= now  # T2: the forming last candle was sent and dropped
    assert candles[5].open == D("50050") and candles[5].volume == D("100")
    assert running.sim.requests["charts"] == 3  # 100 + 100 + 50 (page_limit 100)


def test_closed_candles_since_a_time_returns_only_candles_from_that_time(
    running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    since = START_MS + 240 * CANDLE_MS
    candles = exchange.closed_candles_since(SYMBOL, since, running.sim.now_ms())
    assert [c.time for c in candles] == [START_MS + i * CANDLE_MS for i in range(240, N_CANDLES - 1)]


def test_instrument_reports_the_contract_precision(exchange: KrakenFuturesExchange) -> None:
    spec = exchange.instrument(SYMBOL)
    assert (spec.tick_size, spec.size_step, spec.initial_margin_rate) == (D("1"), D("0.0001"), D("0.02"))


# --------------------------------------------------------------------------- orders and account


def test_market_buy_fills_at_the_open_and_shows_in_position_account_and_fills(
    running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    # Act
    result = exchange.place_order(buy("bs-1", "0.0100"))
    # Assert: filled at once at the current candle's open, taker fee charged
    assert (result.filled_size, result.average_price) == (D("0.01"), D(LAST_OPEN))
    position = exchange.position(SYMBOL)
    assert (position.side, position.size, position.entry_price) == (PositionSide.LONG, D("0.01"), D(LAST_OPEN))
    account = exchange.account()
    assert account.balance == D("10000") - D("0.01") * D(LAST_OPEN) * D("0.0005")
    assert account.available_margin < account.equity
    (fill,) = exchange.fills_since(START_MS)
    assert (fill.cli_ord_id, fill.fill_type, fill.order_id) == ("bs-1", FillType.TAKER, result.order_id)


def test_size_is_sent_as_a_string_at_the_contract_precision(
    running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    exchange.place_order(buy("bs-2", "0.0123"))
    (order,) = running.sim.state.orders.values()
    assert order.quantity == D("0.0123")


def test_size_off_the_step_is_refused_before_anything_is_sent(
    running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    with pytest.raises(ValueError, match="multiple"):
        exchange.place_order(buy("bs-3", "0.00015"))
    assert "sendorder" not in running.sim.requests


def test_reduce_only_close_reaches_the_exchange_as_true_and_flattens(exchange: KrakenFuturesExchange) -> None:
    exchange.place_order(sell("open", "0.02"))
    exchange.place_order(buy("close", "0.02", reduce_only=True))
    assert exchange.position(SYMBOL).is_flat


def test_reduce_only_without_position_is_order_refused(exchange: KrakenFuturesExchange) -> None:
    with pytest.raises(OrderRefused) as caught:
        exchange.place_order(sell("ro", reduce_only=True))
    assert (caught.value.status, caught.value.cli_ord_id) == ("wouldNotReducePosition", "ro")


def test_insufficient_funds_is_order_refused_although_the_sdk_raises_its_own_error(
    exchange: KrakenFuturesExchange,
) -> None:
    with pytest.raises(OrderRefused) as caught:
        exchange.place_order(buy("big", "50"))
    assert (caught.value.status, caught.value.cli_ord_id) == ("insufficientAvailableFunds", "big")


def test_lookup_finds_a_filled_order_in_status_then_only_in_fills_after_five_seconds(
    running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    placed = exchange.place_order(buy("look"))
    early = exchange.order_by_cli_ord_id("look")
    assert [(s.state, s.order_id) for s in early.statuses] == [(OrderState.FILLED, placed.order_id)]
    running.sim.clock.advance(6_000)  # type: ignore[attr-defined]
    late = exchange.order_by_cli_ord_id("look")
    assert late.statuses == () and late.found
    assert late.filled_size == D("0.01") and [f.order_id for f in late.fills] == [placed.order_id]


def test_lookup_finds_a_resting_limit_order_in_open_orders(
    running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    request = OrderRequest("rest", SYMBOL, OrderSide.BUY, D("0.01"), False, OrderType.LIMIT, D("40000"))
    exchange.place_order(request)
    running.sim.clock.advance(60_000)  # type: ignore[attr-defined]
    lookup = exchange.order_by_cli_ord_id("rest")
    assert lookup.is_open and [o.cli_ord_id for o in lookup.open_orders] == ["rest"]
    assert exchange.cancel_order("rest") == "cancelled"
    assert exchange.cancel_order("rest") == "notFound"


def test_lookup_of_an_order_never_sent_finds_nothing(exchange: KrakenFuturesExchange) -> None:
    exchange.place_order(buy("other"))
    assert exchange.order_by_cli_ord_id("never-sent").found is False


def test_fills_since_pages_back_beyond_the_newest_hundred(
    running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    # Arrange: 130 fills, 10 ms apart
    times = []
    for i in range(130):
        exchange.place_order(buy(f"f{i}", "0.0001"))
        times.append(running.sim.now_ms())
        running.sim.clock.advance(10)  # type: ignore[attr-defined]
    # Act
    fills = exchange.fills_since(times[10])
    # Assert
    assert [f.cli_ord_id for f in fills] == [f"f{i}" for i in range(10, 130)]
    assert running.sim.requests["fills"] == 2


def test_set_leverage_reaches_the_exchange_every_time_despite_the_sdk_cache(
    running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    exchange.set_leverage(SYMBOL, D("10"))
    assert running.sim.state.leverage == {SYMBOL: D("10")}
    running.sim.state.set_leverage(SYMBOL, None)  # changed behind our back (an operator, the web UI)
    exchange.set_leverage(SYMBOL, D("10"))
    assert exchange.leverage_preferences() == {SYMBOL: D("10")}
    assert running.sim.requests["leveragepreferences"] == 3


# --------------------------------------------------------------------------- fault matrix

SENDORDER_FAULTS = [
    # (fault, error class or None for success, order applied on the exchange)
    ("timeout", OrderStateUnknown, False),
    ("timeout_after_apply", OrderStateUnknown, True),
    ("drop", OrderStateUnknown, False),
    ("drop_after_apply", OrderStateUnknown, True),
    ("malformed", OrderStateUnknown, False),
    ("malformed_after_apply", OrderStateUnknown, True),
    ("http=500", OrderStateUnknown, False),
    # a proxy's 502/503/504 may come after the order reached Kraken: never proof it was not sent
    ("http=502", OrderStateUnknown, False),
    ("http=503", OrderStateUnknown, False),
    ("http=504", OrderStateUnknown, False),
    ("http=429", TransientExchangeError, False),
    ("error=Server Error", OrderStateUnknown, False),
    ("error=apiLimitExceeded", TransientExchangeError, False),
    ("error=Unavailable", TransientExchangeError, False),
    ("error=nonceDuplicate", TransientExchangeError, False),
    ("error=nonceBelowThreshold", TransientExchangeError, False),
    ("error=authenticationError", ExchangeRequestRefused, False),
    ("error=invalidArgument", ExchangeRequestRefused, False),
    ("error=brandNewCode", OrderStateUnknown, False),
    ("delay=0.2", None, True),
]


@pytest.mark.parametrize(("fault", "error", "applied"), SENDORDER_FAULTS, ids=[f[0] for f in SENDORDER_FAULTS])
def test_sendorder_fault_is_classified_sent_once_and_found_by_lookup_when_applied(
    running: RunningSimulator, exchange: KrakenFuturesExchange, fault: str, error: type[Exception] | None,
    applied: bool,
) -> None:
    # Arrange
    exchange.instrument(SYMBOL)  # cached before the fault, so only sendorder is hit
    running.sim.faults.add(f"sendorder:{fault}")
    # Act
    if error is None:
        exchange.place_order(buy("m-1"))
    else:
        with pytest.raises(error):
            exchange.place_order(buy("m-1"))
    # Assert: one attempt reached the simulator; the order exists exactly when the fault applied it
    assert len(running.sim.faults.fired) == 1
    assert len(running.sim.state.orders) == (1 if applied else 0)
    assert exchange.order_by_cli_ord_id("m-1").found is applied
    assert exchange.position(SYMBOL).size == (D("0.01") if applied else 0)


READ_FAULTS = [
    ("accounts", "timeout"),
    ("accounts", "drop"),
    ("accounts", "malformed"),
    ("accounts", "http=500"),
    ("accounts", "http=502"),
    ("accounts", "http=503"),
    ("accounts", "http=429"),
    ("accounts", "error=Server Error"),
    ("accounts", "error=apiLimitExceeded"),
    ("accounts", "error=Unavailable"),
    ("accounts", "error=nonceDuplicate"),
    ("openpositions", "drop"),
    ("openorders", "http=503"),
    ("fills", "malformed"),
    ("orders/status", "error=Server Error"),
    ("charts", "http=502"),
    ("instruments", "drop"),
]


@pytest.mark.parametrize(("endpoint", "fault"), READ_FAULTS, ids=[f"{e}:{f}" for e, f in READ_FAULTS])
def test_read_fault_is_transient(
    running: RunningSimulator, exchange: KrakenFuturesExchange, endpoint: str, fault: str
) -> None:
    running.sim.faults.add(f"{endpoint}:{fault}")
    read = {
        "accounts": exchange.account,
        "openpositions": lambda: exchange.position(SYMBOL),
        "openorders": exchange.open_orders,
        "fills": lambda: exchange.fills_since(START_MS),
        "orders/status": lambda: exchange.order_by_cli_ord_id("x"),
        "charts": lambda: exchange.closed_candles_since(SYMBOL, START_MS, running.sim.now_ms()),
        "instruments": lambda: exchange.instrument(SYMBOL),
    }[endpoint]
    with pytest.raises(TransientExchangeError):
        read()
    assert len(running.sim.faults.fired) == 1
    read()  # the fault fired once: the same read now succeeds


def test_read_refused_for_bad_argument_is_final_and_unknown_code_is_a_reply_error(
    running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    running.sim.faults.add("accounts:error=invalidArgument")
    with pytest.raises(ExchangeRequestRefused) as caught:
        exchange.account()
    assert caught.value.code == "invalidArgument"
    running.sim.faults.add("accounts:error=brandNewCode")
    with pytest.raises(ExchangeReplyError, match="brandNewCode"):
        exchange.account()


def test_unreachable_exchange_is_transient_and_nothing_was_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    exchange = make_exchange(f"http://127.0.0.1:{port}")
    with pytest.raises(TransientExchangeError, match="nothing was sent"):
        exchange.account()


def test_real_rate_limit_is_transient(caplog: pytest.LogCaptureFixture) -> None:
    with running_simulator(make_candles(10), rate_budget=20) as live:
        exchange = make_exchange(live.url)
        for _ in range(10):
            exchange.account()  # 10 x 2 units
        with pytest.raises(TransientExchangeError, match="apiLimitExceeded"):
            exchange.account()


# --------------------------------------------------------------------------- secrets


def test_failed_authentication_is_final_and_never_shows_key_or_secret(
    running: RunningSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    # Arrange: a wrong secret (valid base64) and every logger at DEBUG (urllib3 included)
    import base64

    wrong_secret = base64.b64encode(b"not-the-right-secret-but-64-bytes-long-0123456789abcdefghijklmn").decode()
    caplog.set_level(logging.DEBUG)
    exchange = make_exchange(running.url, secret=wrong_secret)
    # Act
    with pytest.raises(ExchangeRequestRefused) as caught:
        exchange.account()
    with pytest.raises(ExchangeRequestRefused):
        exchange.place_order(buy("auth"))
    # Assert
    assert caught.value.code == "authenticationError"
    assert running.sim.state.orders == {}
    texts = [caplog.text, str(caught.value), repr(caught.value), repr(exchange), repr(exchange.config)]
    texts += [str(record.args) for record in caplog.records]
    for text in texts:
        assert wrong_secret not in text and TEST_API_KEY not in text
    assert "authenticationError" in caplog.text  # the failure itself is logged


def test_isolated_position_is_liquidated_on_a_crash_and_shows_as_a_liquidation_fill() -> None:
    # Arrange: 20 candles, the last one opens 12 % lower; a 10x isolated long from the candle before
    candles = make_candles(20)
    candles.open[19] = candles.low[19] = 44_000.0
    with running_simulator(candles, now_ms=START_MS + 18 * CANDLE_MS + 60_000) as live:
        exchange = make_exchange(live.url)
        exchange.set_leverage(SYMBOL, D("10"))
        exchange.place_order(buy("long", "0.1"))
        assert exchange.position(SYMBOL).size == D("0.1")
        # Act: the next candle opens below the liquidation price
        live.sim.clock.advance(CANDLE_MS)  # type: ignore[attr-defined]
        position = exchange.position(SYMBOL)
        # Assert: flat without any order of ours, and the fills say why
        assert position.is_flat
        kinds = [(f.fill_type, f.cli_ord_id, f.price) for f in exchange.fills_since(START_MS)]
        assert kinds == [(FillType.TAKER, "long", D("50180")), (FillType.LIQUIDATION, None, D("44000"))]
        assert exchange.account().balance < D("10000") - D("500")


def test_order_delayed_past_the_client_timeout_is_unknown_then_appears(
    running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    """A timeout is no proof of absence: the exchange may still execute the order after we gave up."""
    import time

    exchange.instrument(SYMBOL)
    running.sim.faults.add("sendorder:delay=1.5")
    with pytest.raises(OrderStateUnknown):
        exchange.place_order(buy("late"))
    # No request in between: a later call would carry a higher nonce and the late order would then be
    # refused with nonceBelowThreshold when it finally arrives.
    deadline = time.monotonic() + 5
    while not running.sim.state.orders and time.monotonic() < deadline:
        time.sleep(0.05)
    assert exchange.order_by_cli_ord_id("late").found is True
    assert exchange.position(SYMBOL).size == D("0.01")


def test_delayed_order_overtaken_by_a_later_call_is_refused_for_its_nonce(
    running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    import time

    exchange.instrument(SYMBOL)
    running.sim.faults.add("sendorder:delay=1.3")
    with pytest.raises(OrderStateUnknown):
        exchange.place_order(buy("overtaken"))
    assert exchange.order_by_cli_ord_id("overtaken").found is False  # a higher nonce reaches the exchange first
    time.sleep(0.6)
    assert running.sim.state.orders == {}
    assert exchange.order_by_cli_ord_id("overtaken").found is False


# --------------------------------------------------------------------------- processBefore and partial fills


def _wall_ms() -> int:
    import time

    return int(time.time() * 1000)


def test_order_with_a_process_before_still_ahead_is_executed(
    running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    result = exchange.place_order(replace(buy("pb-ok"), process_before_ms=_wall_ms() + 5_000))

    assert result.filled_size == D("0.01")
    assert running.sim.state.refusals == []


def test_order_held_inside_the_exchange_past_its_process_before_is_refused_not_executed(
    running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    # Arrange: the exchange accepts the request at once (nonce checked) but processes it 0.4 s later
    exchange.instrument(SYMBOL)
    running.sim.faults.add("sendorder:hold=0.4")

    # Act: the deadline is 0.2 s away
    with pytest.raises(OrderRefused) as caught:
        exchange.place_order(replace(buy("pb-late"), process_before_ms=_wall_ms() + 200))

    # Assert
    assert (caught.value.status, caught.value.cli_ord_id) == (DEADLINE_PASSED, "pb-late")
    assert running.sim.state.orders == {} and exchange.position(SYMBOL).is_flat
    assert running.sim.state.refusals == [("pb-late", DEADLINE_PASSED)]


def test_order_held_inside_the_exchange_without_a_deadline_executes_late(
    running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    """The control of the test above: the hold alone does not refuse anything."""
    exchange.instrument(SYMBOL)
    running.sim.faults.add("sendorder:hold=0.4")

    result = exchange.place_order(buy("held"))

    assert result.filled_size == D("0.01") and exchange.position(SYMBOL).size == D("0.01")


def test_partial_fill_reports_the_filled_part_and_the_rest_is_cancelled(
    running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    # Arrange: only half of the market order can fill (IOC with price protection)
    exchange.instrument(SYMBOL)
    running.sim.faults.add("sendorder:partial=0.5")

    # Act
    result = exchange.place_order(buy("half", "0.0101"))

    # Assert: 0.00505 floored to the 0.0001 step; nothing rests
    assert result.filled_size == D("0.005")
    lookup = exchange.order_by_cli_ord_id("half")
    assert [(s.state, s.quantity, s.filled) for s in lookup.statuses] == [
        (OrderState.CANCELLED, D("0.0101"), D("0.005"))
    ]
    assert exchange.open_orders() == () and lookup.filled_size == D("0.005")
    assert exchange.position(SYMBOL).size == D("0.005")
