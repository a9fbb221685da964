"""Engines and sessions for ``BITSNIPER_DATABASE_URL``: a SQLite file by default, PostgreSQL in production.

SQLite is tuned so it behaves like the production database where it matters: foreign keys on, WAL so a
reader never blocks the writer, and every transaction ``BEGIN IMMEDIATE`` so two task processes cannot
both read-check-write the same order (the second waits on ``busy_timeout``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, FromClause, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from bitsniper.errors import ConfigError

__all__ = ["SessionFactory", "database_url", "dialect_insert", "make_engine", "make_session_factory", "safe_url"]

SessionFactory = sessionmaker[Session]

SQLITE_BUSY_TIMEOUT_MS = 30_000


def database_url() -> str:
    """The configured URL (a secret: it may hold a password, so never log it; use ``safe_url``)."""
    from bitsniper.config import load_settings

    return load_settings().database_url.get_secret_value()


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so BEGIN IMMEDIATE below is what runs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if engine.url.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode=WAL")
            # FULL, not WAL's usual NORMAL: an order intent must survive a power cut once committed.
            cursor.execute("PRAGMA synchronous=FULL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str | URL | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default: the configured ``BITSNIPER_DATABASE_URL``)."""
    url = make_url(url if url is not None else database_url())
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, **kwargs)
        _tune_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_session_factory(engine_or_url: Engine | str | URL | None = None) -> SessionFactory:
    """Sessions whose objects stay readable after commit (repositories return them after the transaction)."""
    engine = engine_or_url if isinstance(engine_or_url, Engine) else make_engine(engine_or_url)
    return sessionmaker(bind=engine, expire_on_commit=False)


def dialect_insert(session: Session, table: FromClause) -> Any:
    """The dialect's INSERT, which carries ``on_conflict_do_update/nothing`` on both databases."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise ConfigError(f"database {name!r} is not supported: use PostgreSQL or SQLite")
