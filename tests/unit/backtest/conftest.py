"""Fixtures of the backtest tests: the real 15-minute Coinbase slice that ships with the repository."""

from __future__ import annotations

import pytest

from bitsniper.candles import Candles, read_candles_csv
from tests.conftest import TEST_DATA

SLICE = TEST_DATA / "coinbase_btcusd_15m_2025-06-01_2025-08-05.csv.gz"


@pytest.fixture(scope="session")
def slice_candles() -> Candles:
    """2025-06-01 to 2025-08-05, 6,336 candles without holes."""
    return read_candles_csv(SLICE)
