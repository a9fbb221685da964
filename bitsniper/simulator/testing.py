"""Test kit: synthetic candles and a simulator on a controlled clock, for this package's tests and for
execution's fault-matrix tests (real SDK -> real HTTP -> simulator on 127.0.0.1)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import numpy as np

from bitsniper.candles import Candles
from bitsniper.simulator.app import build_simulator
from bitsniper.simulator.clock import ManualClock
from bitsniper.simulator.server import RunningSimulator, run_in_thread

__all__ = ["TEST_API_KEY", "TEST_API_SECRET", "CANDLE_MS", "START_MS", "make_candles", "running_simulator"]

TEST_API_KEY = "bitsniper-test-key"
TEST_API_SECRET = base64.b64encode(bytes(range(64))).decode()  # the spec's test-vector secret
CANDLE_MS = 900_000
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def make_candles(count: int = 200, start_ms: int = START_MS, first_open: float = 50_000.0, step: float = 10.0) -> Candles:
    """Candles whose open rises by ``step`` each bucket (open_i = first_open + i*step): prices are predictable."""
    opens = first_open + step * np.arange(count, dtype=np.float64)
    closes = opens + step
    return Candles(
        time=start_ms + CANDLE_MS * np.arange(count, dtype=np.int64),
        open=opens,
        high=np.maximum(opens, closes) + 5.0,
        low=np.minimum(opens, closes) - 5.0,
        close=closes,
        volume=np.full(count, 100.0),
    )


@contextmanager
def running_simulator(
    candles: Candles | None = None,
    *,
    now_ms: int | None = None,
    balance: Decimal | str = "10000",
    rate_budget: int = 100_000,
    page_limit: int = 2000,
    faults: list[str] | None = None,
) -> Iterator[RunningSimulator]:
    """A simulator on a ``ManualClock`` (default: one minute into the last candle of ``candles``)."""
    data = candles if candles is not None else make_candles()
    clock = ManualClock(now_ms if now_ms is not None else int(data.time[-1]) + 60_000)
    sim = build_simulator(
        TEST_API_KEY, TEST_API_SECRET, data, balance=balance, clock=clock, faults=list(faults or []),
        rate_budget=rate_budget, page_limit=page_limit,
    )
    with run_in_thread(sim) as running:
        yield running
