"""The simulated market: a candle file as the price source and the charts endpoint's data.

The price 'now' is the open of the candle whose bucket holds now (so an order sent right after candle N-1
closed fills at candle N's open, as the paper exchange and the backtest assume); past the file's end it
is the last close.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from bitsniper.candles import Candles

__all__ = ["CandleMarket", "ChartPage", "shift_to_latest_closed"]


@dataclass(frozen=True, slots=True)
class ChartPage:
    """What ``GET /api/charts/v1/...`` returns: rows as Kraken sends them and the ``more_candles`` flag."""

    candles: list[dict[str, object]]
    more_candles: bool


def shift_to_latest_closed(candles: Candles, now_ms: int, candle_ms: int, history: int | None = None) -> Candles:
    """Shift every candle by whole buckets so candle ``history - 1`` (the last one by default) is the latest
    candle closed at ``now_ms``. The candles after it lie in the future: the charts reveal one per interval
    as the clock passes, so a live pipeline finds a new candle at every tick (``make run
    EXCHANGE=simulator``); with all of them in the past nothing new ever closes."""
    if history is not None and not 1 <= history <= len(candles):
        raise ValueError(f"history must be between 1 and the file's {len(candles)} candles, not {history}")
    latest_closed_open = (now_ms // candle_ms) * candle_ms - candle_ms
    offset = latest_closed_open - int(candles.time[(history or len(candles)) - 1])
    offset -= offset % candle_ms
    return Candles(candles.time + offset, candles.open, candles.high, candles.low, candles.close, candles.volume)


def _price_text(value: float) -> str:
    """Kraken sends candle prices as strings; trim float noise to 8 decimals."""
    text = f"{value:.8f}".rstrip("0").rstrip(".")
    return text or "0"


class CandleMarket:
    """Candles of one symbol and resolution, read-only after construction."""

    def __init__(self, candles: Candles, candle_ms: int = 900_000, page_limit: int = 2000) -> None:
        if len(candles) == 0:
            raise ValueError("the simulator needs at least one candle")
        self.candles = candles
        self.candle_ms = candle_ms
        self.page_limit = page_limit
        self._times: list[int] = [int(t) for t in candles.time]

    @property
    def first_ms(self) -> int:
        return self._times[0]

    @property
    def last_ms(self) -> int:
        return self._times[-1]

    def price_at(self, now_ms: int) -> Decimal:
        """Open of the candle holding ``now_ms``; before the file its first open, after it the last close."""
        i = bisect.bisect_right(self._times, now_ms) - 1
        if i < 0:
            return Decimal(_price_text(float(self.candles.open[0])))
        if now_ms < self._times[i] + self.candle_ms:
            return Decimal(_price_text(float(self.candles.open[i])))
        return Decimal(_price_text(float(self.candles.close[i])))

    def chart(
        self, now_ms: int, from_s: int | None, to_s: int | None, count: int | None, include_forming: bool
    ) -> ChartPage:
        """Candles with open time in [from, to] (seconds, inclusive) that have started by ``now_ms``.

        The forming candle (open <= now < open + resolution) is included only when asked: Kraken does not
        document whether it sends it, so the client must drop it itself (T2).
        """
        times = np.asarray(self._times, dtype=np.int64)
        mask = times <= now_ms
        if not include_forming:
            mask &= times + self.candle_ms <= now_ms
        if from_s is not None:
            mask &= times >= from_s * 1000
        if to_s is not None:
            mask &= times <= to_s * 1000
        index = np.flatnonzero(mask)
        limit = self.page_limit if count is None else max(0, min(count, self.page_limit))
        more = len(index) > limit
        index = index[:limit] if from_s is not None else index[max(0, len(index) - limit):]
        rows: list[dict[str, object]] = []
        for i in index:
            rows.append(
                {
                    "time": int(times[i]),
                    "open": _price_text(float(self.candles.open[i])),
                    "high": _price_text(float(self.candles.high[i])),
                    "low": _price_text(float(self.candles.low[i])),
                    "close": _price_text(float(self.candles.close[i])),
                    "volume": float(self.candles.volume[i]),
                }
            )
        return ChartPage(rows, bool(more))
