"""Kraken Futures' cost-based rate limit on ``/derivatives``: 500 cost units per 10 seconds.

Modelled as a token bucket that refills continuously (500 per 10 s). A request that would overdraw it is
answered ``apiLimitExceeded`` and costs nothing. Charts and instruments are free.
"""

from __future__ import annotations

import threading

__all__ = ["ENDPOINT_COSTS", "RateLimiter", "cost_of"]

ENDPOINT_COSTS: dict[str, int] = {
    "sendorder": 10,
    "cancelorder": 10,
    "editorder": 10,
    "cancelallorders": 25,
    "orders/status": 1,
    "accounts": 2,
    "openpositions": 2,
    "openorders": 2,
    "fills": 2,
    # Not in Kraken's published table: priced like the other private reads.
    "leveragepreferences": 2,
}


def cost_of(endpoint: str) -> int:
    """Cost of one call; endpoints not in the table (charts, instruments) are free."""
    return ENDPOINT_COSTS.get(endpoint, 0)


class RateLimiter:
    """A token bucket of ``budget`` units refilled over ``window_ms``, driven by the simulator's clock."""

    def __init__(self, budget: int = 500, window_ms: int = 10_000) -> None:
        self.budget = budget
        self.window_ms = window_ms
        self._tokens = float(budget)
        self._last_ms: int | None = None
        self._lock = threading.Lock()

    def try_spend(self, cost: int, now_ms: int) -> bool:
        """Spend ``cost`` units if the bucket holds them; False means ``apiLimitExceeded``."""
        if cost <= 0:
            return True
        with self._lock:
            if self._last_ms is not None and now_ms > self._last_ms:
                refill = (now_ms - self._last_ms) * self.budget / self.window_ms
                self._tokens = min(float(self.budget), self._tokens + refill)
            if self._last_ms is None or now_ms > self._last_ms:
                self._last_ms = now_ms
            if self._tokens < cost:
                return False
            self._tokens -= cost
            return True

    def remaining(self) -> float:
        with self._lock:
            return self._tokens
