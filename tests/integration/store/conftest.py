"""Store fixtures: every store test runs on a SQLite file AND on a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bitsniper.store import SessionFactory, make_engine, make_session_factory, upgrade


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL: a SQLite file in the test's folder, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bitsniper.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def factory(store_url: str) -> Iterator[SessionFactory]:
    """Sessions on a database migrated to head with the shipped migrations (not ``create_all``)."""
    engine = make_engine(store_url)
    upgrade(engine)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()
