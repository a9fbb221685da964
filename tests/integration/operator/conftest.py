"""Operator-control fixtures: a fresh migrated PostgreSQL database per test, a local HTTP stub for webhooks."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bitsniper.store import SessionFactory, make_engine, make_session_factory, upgrade

sys.path.insert(0, str(Path(__file__).resolve().parent))

from operator_kit import HttpStub  # noqa: E402


@pytest.fixture
def store_url(postgres_url: str) -> str:
    engine = make_engine(postgres_url)
    upgrade(engine)
    engine.dispose()
    return postgres_url


@pytest.fixture
def factory(store_url: str) -> SessionFactory:
    return make_session_factory(store_url)


@pytest.fixture
def stub() -> Iterator[HttpStub]:
    with HttpStub.running() as running:
        yield running
