"""Alembic, configured in code: ``bitsniper db upgrade`` works from any directory, with no alembic.ini.

The migration scripts live inside the package (``bitsniper/store/migrations``), so an installed bot can
upgrade its own database. The URL is handed over as a live connection, never written into a config
(it may hold a password).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from bitsniper.store.db import make_engine

__all__ = ["MIGRATIONS", "alembic_config", "upgrade", "downgrade", "current_revision", "head_revision"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged scripts."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


def _run(engine: Engine, action: str, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def upgrade(url_or_engine: str | Engine | None = None, revision: str = "head") -> str | None:
    """Migrate the database up to ``revision`` in one transaction; returns the revision reached."""
    engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
    try:
        _run(engine, "upgrade", revision)
        return current_revision(engine)
    finally:
        if engine is not url_or_engine:
            engine.dispose()


def downgrade(url_or_engine: str | Engine | None = None, revision: str = "base") -> str | None:
    """Migrate the database down to ``revision``; returns the revision reached (None at base)."""
    engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
    try:
        _run(engine, "downgrade", revision)
        return current_revision(engine)
    finally:
        if engine is not url_or_engine:
            engine.dispose()


def current_revision(url_or_engine: str | Engine | None = None) -> str | None:
    """The database's revision, or None when it was never migrated."""
    engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        if engine is not url_or_engine:
            engine.dispose()


def head_revision() -> str | None:
    """The newest revision the package ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
