"""Parsers on recorded Kraken Futures reply bodies (tests/data/kraken/)."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from bitsniper.errors import ExchangeReplyError, OrderRefused, OrderStateUnknown
from bitsniper.exchange.base import FillType, OrderSide, OrderState, PositionSide
from bitsniper.exchange.kraken_parse import (
    format_time,
    parse_account,
    parse_candle_page,
    parse_decimal,
    parse_fills,
    parse_instrument,
    parse_leverage_preferences,
    parse_open_orders,
    parse_order_statuses,
    parse_position,
    parse_send_status,
    parse_time,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "kraken"


def payload(name: str) -> Any:
    return json.loads((DATA / f"{name}.json").read_text())


def test_candles_parse_strings_and_numbers_to_decimal_oldest_first() -> None:
    # Arrange
    raw = payload("charts_trade_15m")
    raw["candles"].reverse()
    # Act
    page = parse_candle_page(raw)
    # Assert
    assert page.more_candles is True
    assert [c.time for c in page.candles] == [1767225600000, 1767226500000]
    assert page.candles[1].high == D("88100.5") and page.candles[1].volume == D("9.87")
    assert page.candles[0].volume == D("12.3456")


def test_candle_without_more_candles_flag_is_a_reply_error() -> None:
    raw = payload("charts_trade_15m")
    del raw["more_candles"]
    with pytest.raises(ExchangeReplyError, match="more_candles"):
        parse_candle_page(raw)


def test_instrument_step_comes_from_contract_value_trade_precision() -> None:
    spec = parse_instrument(payload("instruments"), "pf_xbtusd")
    assert (spec.symbol, spec.tick_size, spec.size_step, spec.min_size) == ("PF_XBTUSD", D("1"), D("0.0001"), D("0.0001"))
    assert (spec.initial_margin_rate, spec.maintenance_margin_rate) == (D("0.02"), D("0.01"))
    assert spec.size_decimals == 4 and spec.price_decimals == 0


def test_missing_instrument_is_a_reply_error() -> None:
    with pytest.raises(ExchangeReplyError, match="no instrument"):
        parse_instrument(payload("instruments"), "PF_ETHUSD")


def test_account_reads_the_flex_account() -> None:
    account = parse_account(payload("accounts"))
    assert (account.available_margin, account.equity, account.balance) == (D("9836.6"), D("10012.6"), D("9995.6"))


def test_account_without_available_margin_is_a_reply_error() -> None:
    raw = payload("accounts")
    raw["accounts"]["flex"]["availableMargin"] = ""
    with pytest.raises(ExchangeReplyError, match="availableMargin"):
        parse_account(raw)


def test_short_position_has_positive_size_and_short_side() -> None:
    position = parse_position(payload("openpositions"), "PF_XBTUSD")
    assert (position.side, position.size, position.entry_price) == (PositionSide.SHORT, D("0.1"), D("87950.5"))
    assert position.signed_size == D("-0.1")


def test_absent_symbol_means_flat() -> None:
    position = parse_position(payload("openpositions_flat"), "PF_XBTUSD")
    assert position.is_flat and position.signed_size == 0


def test_unknown_position_side_raises_instead_of_defaulting() -> None:
    raw = payload("openpositions")
    raw["openPositions"][0]["side"] = "sideways"
    with pytest.raises(ExchangeReplyError, match="unknown side"):
        parse_position(raw, "PF_XBTUSD")


def test_placed_market_order_yields_its_execution() -> None:
    result = parse_send_status(payload("sendorder_placed_mkt"), "bs-vi-20260101T0000-0")
    assert result.order_id == "61ca5732-3478-42fe-8362-abbfd9465294"
    assert (result.filled_size, result.average_price) == (D("0.1"), D("87950.5"))


def test_refusal_status_raises_order_refused_with_the_status() -> None:
    with pytest.raises(OrderRefused) as caught:
        parse_send_status(payload("sendorder_would_not_reduce"), "cli-1")
    assert (caught.value.status, caught.value.cli_ord_id) == ("wouldNotReducePosition", "cli-1")


def test_unknown_send_status_means_order_state_unknown() -> None:
    with pytest.raises(OrderStateUnknown, match="somethingNew"):
        parse_send_status(payload("sendorder_unknown_status"), "cli-1")


def test_placed_reply_missing_order_id_means_order_state_unknown() -> None:
    raw = payload("sendorder_placed_mkt")
    del raw["sendStatus"]["order_id"]
    with pytest.raises(OrderStateUnknown):
        parse_send_status(raw, "cli-1")


def test_orders_status_maps_fully_executed_to_filled() -> None:
    (status,) = parse_order_statuses(payload("orders_status"))
    assert (status.state, status.filled, status.cli_ord_id, status.side) == (
        OrderState.FILLED, D("0.1"), "bs-vi-20260101T0000-0", OrderSide.SELL
    )


def test_unknown_order_status_raises() -> None:
    with pytest.raises(ExchangeReplyError, match="HALF_DONE"):
        parse_order_statuses(payload("orders_status_unknown_status"))


def test_open_order_quantity_is_filled_plus_unfilled() -> None:
    (order,) = parse_open_orders(payload("openorders"))
    assert (order.state, order.quantity, order.filled, order.symbol) == (OrderState.OPEN, D("0.10"), D("0.05"), "PF_XBTUSD")


def test_fills_keep_cli_ord_id_when_present_and_map_fill_types() -> None:
    fills = parse_fills(payload("fills"))
    assert [(f.cli_ord_id, f.fill_type, f.symbol) for f in fills] == [
        ("bs-vi-20260101T0000-0", FillType.TAKER, "PF_XBTUSD"),
        (None, FillType.LIQUIDATION, "PF_XBTUSD"),
    ]
    assert fills[0].time == parse_time("2026-01-01T00:15:01.410Z")


def test_leverage_preferences_parse() -> None:
    assert parse_leverage_preferences(payload("leveragepreferences")) == {"PF_XBTUSD": D("10")}


@pytest.mark.parametrize(("raw", "expected"), [("0.1", D("0.1")), (0.1, D("0.1")), (5, D("5")), ("1e-4", D("0.0001"))])
def test_decimal_parsing_keeps_the_written_value(raw: object, expected: D) -> None:
    assert parse_decimal(raw) == expected


@pytest.mark.parametrize("raw", ["", None, True, "abc", "NaN", float("inf")])
def test_decimal_parsing_refuses_blank_bool_and_non_finite(raw: object) -> None:
    with pytest.raises(ExchangeReplyError):
        parse_decimal(raw)


def test_time_round_trips_through_krakens_format() -> None:
    assert format_time(parse_time("2026-01-01T00:15:01.410Z")) == "2026-01-01T00:15:01.410Z"


def test_order_refused_for_its_process_before_is_an_order_refused_with_that_status() -> None:
    from bitsniper.exchange import DEADLINE_PASSED

    raw = {"result": "success", "sendStatus": {"status": DEADLINE_PASSED, "receivedTime": "2026-01-01T00:15:01.410Z",
                                               "orderEvents": []}, "serverTime": "2026-01-01T00:15:01.410Z"}
    with pytest.raises(OrderRefused) as caught:
        parse_send_status(raw, "cli-late")
    assert (caught.value.status, caught.value.cli_ord_id) == (DEADLINE_PASSED, "cli-late")
