"""The indicator table written by ``bitsniper indicators`` (CSV columns of the CLI contract)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bitsniper.strategy.frame import MarketFrame

__all__ = ["indicator_table", "INDICATOR_COLUMNS"]

INDICATOR_COLUMNS = (
    "timestamp", "open", "high", "low", "close", "volume", "rsi", "atr",
    "vi1", "vi1_side", "vi2", "vi2_side", "vi3", "vi3_side", "converged",
)


def indicator_table(frame: MarketFrame) -> pd.DataFrame:
    """One row per candle; VI values and sides from the first candle with an ATR, else empty."""
    candles = frame.candles
    stamps = pd.to_datetime(candles.time, unit="ms", utc=True).strftime("%Y-%m-%dT%H:%M:%SZ")
    table = pd.DataFrame({
        "timestamp": stamps, "open": candles.open, "high": candles.high, "low": candles.low,
        "close": candles.close, "volume": candles.volume, "rsi": frame.rsi, "atr": frame.atr,
    })
    defined = ~np.isnan(frame.vi[0])
    for k in range(3):
        table[f"vi{k + 1}"] = frame.vi[k]
        table[f"vi{k + 1}_side"] = np.where(defined, np.where(frame.vi_above[k], "above", "below"), "")
    table["converged"] = np.where(frame.converged, "true", "false")
    return table.loc[:, list(INDICATOR_COLUMNS)]
