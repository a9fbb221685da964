"""The shipped Alembic migrations build exactly the models' schema and take it down again."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from typer.testing import CliRunner, Result

from bitsniper.store import current_revision, downgrade, head_revision, make_engine, upgrade
from bitsniper.store.models import Base

MODEL_TABLES = set(Base.metadata.tables)


def test_upgrade_head_creates_every_model_table(store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        reached = upgrade(engine)
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert reached == head_revision() == "0001"
    assert tables == MODEL_TABLES | {"alembic_version"}
    assert {"candles", "decisions", "orders", "fills", "strategy_state", "circuit_breakers"} <= tables


def test_migrated_schema_has_no_difference_from_the_models(store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_downgrade_base_drops_every_table_and_upgrade_again_restores_them(store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        upgrade(engine)
        assert downgrade(engine, "base") is None
        after_down = set(inspect(engine).get_table_names())
        upgrade(engine)
        after_up = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert after_down & MODEL_TABLES == set()
    assert after_up >= MODEL_TABLES


def test_current_revision_of_a_never_migrated_database_is_none(store_url: str) -> None:
    assert current_revision(store_url) is None


def _bitsniper(*args: str, database_url: str) -> Result:
    """Run the real command-line app in-process (the working directory is whatever the test chdir'd to)."""
    from bitsniper.cli import app

    return CliRunner().invoke(app, list(args), env={"BITSNIPER_DATABASE_URL": database_url})


def test_db_upgrade_command_works_from_an_unrelated_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    before = _bitsniper("db", "current", database_url=url)
    upgraded = _bitsniper("db", "upgrade", database_url=url)
    after = _bitsniper("db", "current", database_url=url)

    assert before.exit_code == 1 and "empty" in before.stdout
    assert upgraded.exit_code == 0, upgraded.output
    assert "empty -> 0001" in upgraded.stdout
    assert after.exit_code == 0 and "0001 (up to date)" in after.stdout
    assert current_revision(url) == "0001"
    assert list(elsewhere.iterdir()) == []  # nothing written to the working directory


def test_db_upgrade_failure_names_the_database_without_its_password() -> None:
    url = "postgresql+psycopg2://postgres:pw-never-shown@127.0.0.1:5432/bitsniper_no_such_database"

    result = _bitsniper("db", "upgrade", database_url=url)

    assert result.exit_code == 2
    assert "cannot migrate" in result.stderr
    assert "pw-never-shown" not in result.output
