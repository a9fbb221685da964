"""Price source and the charts endpoint's data: paging, the forming candle, the replay shift."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bitsniper.simulator.market import CandleMarket, shift_to_latest_closed
from bitsniper.simulator.testing import CANDLE_MS, START_MS, make_candles


def test_price_is_the_open_of_the_candle_holding_now_and_last_close_after_the_file() -> None:
    market = CandleMarket(make_candles(10))
    assert market.price_at(START_MS + 3 * CANDLE_MS + 1) == Decimal("50030")
    assert market.price_at(START_MS + 20 * CANDLE_MS) == Decimal("50100")  # close of the last candle


def test_chart_pages_from_the_start_and_flags_more_candles() -> None:
    market = CandleMarket(make_candles(10), page_limit=4)
    now = START_MS + 20 * CANDLE_MS
    first = market.chart(now, START_MS // 1000, None, None, include_forming=False)
    assert [row["time"] for row in first.candles] == [START_MS + i * CANDLE_MS for i in range(4)]
    assert first.more_candles is True
    last = market.chart(now, (START_MS + 8 * CANDLE_MS) // 1000, None, None, include_forming=False)
    assert len(last.candles) == 2 and last.more_candles is False


def test_chart_sends_forming_candle_only_when_asked() -> None:
    market = CandleMarket(make_candles(10))
    now = START_MS + 9 * CANDLE_MS + 60_000  # one minute into the last candle
    with_forming = market.chart(now, None, None, None, include_forming=True)
    without = market.chart(now, None, None, None, include_forming=False)
    assert with_forming.candles[-1]["time"] == START_MS + 9 * CANDLE_MS
    assert without.candles[-1]["time"] == START_MS + 8 * CANDLE_MS


def test_chart_prices_are_strings_as_kraken_sends_them() -> None:
    row = CandleMarket(make_candles(2)).chart(START_MS + CANDLE_MS * 5, None, None, None, True).candles[0]
    assert row["open"] == "50000" and isinstance(row["close"], str)


def test_chart_never_shows_candles_that_have_not_started() -> None:
    market = CandleMarket(make_candles(10))
    page = market.chart(START_MS + 2 * CANDLE_MS + 5, None, None, None, include_forming=True)
    assert [row["time"] for row in page.candles][-1] == START_MS + 2 * CANDLE_MS


def test_replay_shift_makes_the_last_candle_the_latest_closed_one() -> None:
    candles = make_candles(10)
    now = 1_800_000_123_456
    shifted = shift_to_latest_closed(candles, now, CANDLE_MS)
    last_open = int(shifted.time[-1])
    assert last_open % CANDLE_MS == 0
    assert last_open + CANDLE_MS <= now < last_open + 2 * CANDLE_MS
    assert (shifted.close == candles.close).all()


def test_replay_with_history_leaves_the_rest_to_close_live() -> None:
    candles = make_candles(10)
    now = 1_800_000_123_456
    shifted = shift_to_latest_closed(candles, now, CANDLE_MS, history=6)
    latest = int(shifted.time[5])
    assert latest + CANDLE_MS <= now < latest + 2 * CANDLE_MS  # candle 5 is the latest closed
    market = CandleMarket(shifted)
    closed = lambda at: [int(row["time"]) for row in market.chart(at, None, None, None, include_forming=False).candles]  # noqa: E731
    assert closed(now)[-1] == latest and len(closed(now)) == 6
    # Each interval that passes closes one more candle, as on the real exchange.
    assert closed(now + CANDLE_MS)[-1] == latest + CANDLE_MS and len(closed(now + 4 * CANDLE_MS)) == 10
    assert (shifted.close == candles.close).all()


def test_replay_history_must_fit_the_file() -> None:
    with pytest.raises(ValueError, match="history must be between 1 and the file's 10 candles, not 11"):
        shift_to_latest_closed(make_candles(10), 1_800_000_123_456, CANDLE_MS, history=11)
