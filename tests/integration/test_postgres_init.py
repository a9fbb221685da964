"""include/postgres/10-bitsniper-databases.sh, run by psql against the real PostgreSQL as the postgres image's
entrypoint would: two login roles, each owning its database, and a second run changing nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

SCRIPT = Path(__file__).resolve().parents[2] / "include" / "postgres" / "10-bitsniper-databases.sh"


@pytest.fixture
def names(postgres_admin_url: str) -> Iterator[dict[str, str]]:
    """Unique role and database names (the shared server has its own `airflow` and `bitsniper`, maybe)."""
    tag = uuid.uuid4().hex[:8]
    chosen = {
        "AIRFLOW_DB_USER": f"t_airflow_{tag}", "AIRFLOW_DB_NAME": f"t_airflow_db_{tag}",
        "BITSNIPER_DB_USER": f"t_bitsniper_{tag}", "BITSNIPER_DB_NAME": f"t_bitsniper_db_{tag}",
    }
    yield chosen
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for key in ("AIRFLOW_DB_NAME", "BITSNIPER_DB_NAME"):
            connection.execute(text(f'DROP DATABASE IF EXISTS "{chosen[key]}" WITH (FORCE)'))
        for key in ("AIRFLOW_DB_USER", "BITSNIPER_DB_USER"):
            connection.execute(text(f'DROP ROLE IF EXISTS "{chosen[key]}"'))
    admin.dispose()


def _run(admin_url: str, names: dict[str, str]) -> subprocess.CompletedProcess[str]:
    url = make_url(admin_url)
    env = {
        **os.environ, **names,
        "PGHOST": url.host or "127.0.0.1", "PGPORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres", "POSTGRES_DB": url.database or "postgres",
        # a quote and SQL in a password must stay data (psql :'var' quoting)
        "AIRFLOW_DB_PASSWORD": "quote's; drop role x;--" * 2, "BITSNIPER_DB_PASSWORD": "b" * 32,
    }
    if url.password:
        env["PGPASSWORD"] = url.password
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)


def test_init_script_creates_two_databases_each_owned_by_its_login_role(postgres_admin_url: str, names: dict[str, str]) -> None:
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    for attempt in (1, 2):  # the second run finds everything in place and must not fail
        done = _run(postgres_admin_url, names)
        assert done.returncode == 0, f"run {attempt}: {done.stderr}"
    admin = create_engine(postgres_admin_url)
    with admin.connect() as connection:
        owners = dict(connection.execute(text(
            "select d.datname, r.rolname from pg_database d join pg_roles r on r.oid = d.datdba where d.datname in (:a, :b)"
        ), {"a": names["AIRFLOW_DB_NAME"], "b": names["BITSNIPER_DB_NAME"]}).all())
        logins = dict(connection.execute(text(
            "select rolname, rolcanlogin and not rolsuper from pg_roles where rolname in (:a, :b)"
        ), {"a": names["AIRFLOW_DB_USER"], "b": names["BITSNIPER_DB_USER"]}).all())
    admin.dispose()
    assert owners == {names["AIRFLOW_DB_NAME"]: names["AIRFLOW_DB_USER"], names["BITSNIPER_DB_NAME"]: names["BITSNIPER_DB_USER"]}
    assert logins == {names["AIRFLOW_DB_USER"]: True, names["BITSNIPER_DB_USER"]: True}
    # The bot's role can create its tables in its own database (PostgreSQL 15 no longer lets anyone
    # create in public: ownership of the database is what grants it).
    own = make_url(postgres_admin_url).set(username=names["BITSNIPER_DB_USER"], password="b" * 32, database=names["BITSNIPER_DB_NAME"])
    engine = create_engine(own)
    with engine.begin() as connection:
        connection.execute(text("create table probe (id int primary key)"))
        connection.execute(text("insert into probe values (1)"))
        assert connection.execute(text("select count(*) from probe")).scalar_one() == 1
    engine.dispose()


def test_init_script_refuses_to_run_without_the_passwords(postgres_admin_url: str, names: dict[str, str]) -> None:
    env = {**os.environ, **names, "AIRFLOW_DB_PASSWORD": "", "BITSNIPER_DB_PASSWORD": ""}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "AIRFLOW_DB_PASSWORD must be set" in done.stderr
