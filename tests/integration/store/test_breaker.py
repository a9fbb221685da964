"""The circuit breaker's state lives in the store, so it holds across task processes (issue 4)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pybreaker
import pytest

from bitsniper.store import SessionFactory, StoreBreakerStorage, load_breaker, make_engine, make_session_factory


class TransportDown(Exception):
    pass


def failing() -> None:
    raise TransportDown("connection refused")


def test_breaker_opened_by_one_process_refuses_calls_in_the_next(factory: SessionFactory, store_url: str) -> None:
    first = pybreaker.CircuitBreaker(fail_max=3, reset_timeout=60, state_storage=StoreBreakerStorage(factory, "kraken"))
    for _ in range(2):
        with pytest.raises(TransportDown):
            first.call(failing)
    with pytest.raises(pybreaker.CircuitBreakerError):
        first.call(failing)  # the third consecutive failure opens it

    other_engine = make_engine(store_url)  # a new task process: new engine, new breaker object
    try:
        second = pybreaker.CircuitBreaker(
            fail_max=3, reset_timeout=60, state_storage=StoreBreakerStorage(make_session_factory(other_engine), "kraken")
        )
        calls: list[int] = []
        with pytest.raises(pybreaker.CircuitBreakerError):
            second.call(lambda: calls.append(1))
    finally:
        other_engine.dispose()

    assert calls == []  # while open, nothing is sent
    stored = load_breaker(factory, "kraken")
    assert stored.state == "open" and stored.failure_count == 3 and stored.opened_at is not None


def test_breaker_half_opens_after_the_cool_down_and_a_success_closes_it(factory: SessionFactory) -> None:
    storage = StoreBreakerStorage(factory, "kraken")
    breaker = pybreaker.CircuitBreaker(fail_max=1, reset_timeout=60, state_storage=storage)
    with pytest.raises(pybreaker.CircuitBreakerError):
        breaker.call(failing)
    storage.opened_at = datetime.now(timezone.utc) - timedelta(seconds=61)  # the cool-down has passed

    assert breaker.call(lambda: "pong") == "pong"

    stored = load_breaker(factory, "kraken")
    assert stored.state == "closed" and stored.failure_count == 0


def test_breakers_with_different_names_do_not_share_failures(factory: SessionFactory) -> None:
    kraken = pybreaker.CircuitBreaker(fail_max=1, state_storage=StoreBreakerStorage(factory, "kraken"))
    with pytest.raises(pybreaker.CircuitBreakerError):
        kraken.call(failing)

    assert load_breaker(factory, "alerts").state == "closed"
    assert pybreaker.CircuitBreaker(fail_max=1, state_storage=StoreBreakerStorage(factory, "alerts")).call(lambda: 1) == 1
