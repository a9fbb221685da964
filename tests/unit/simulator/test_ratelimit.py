"""Kraken's cost budget: 500 units per 10 s."""

from __future__ import annotations

from bitsniper.simulator.ratelimit import RateLimiter, cost_of


def test_costs_follow_krakens_table() -> None:
    assert [cost_of(e) for e in ("sendorder", "orders/status", "accounts", "fills", "charts", "instruments")] == [
        10, 1, 2, 2, 0, 0
    ]


def test_fifty_orders_exhaust_the_budget_and_the_next_is_refused() -> None:
    limiter = RateLimiter()
    assert all(limiter.try_spend(10, 0) for _ in range(50))
    assert limiter.try_spend(10, 0) is False
    assert limiter.try_spend(0, 0) is True  # free endpoints are never limited


def test_budget_refills_at_fifty_units_a_second() -> None:
    limiter = RateLimiter()
    for _ in range(50):
        limiter.try_spend(10, 0)
    assert limiter.try_spend(10, 100) is False  # 5 units back after 100 ms
    assert limiter.try_spend(10, 200) is True  # 10 units back after 200 ms
    assert limiter.try_spend(10, 200) is False
