"""Root fixtures: paths to the shared data and a fresh PostgreSQL database per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = ROOT / "tests" / "data"
SHARED = ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"
DEFAULT_TEST_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"

# Airflow reads its settings when first imported: give the whole session a private AIRFLOW_HOME (its
# metadata database is created by the DAG tests' fixture) so tests never touch a developer's .airflow/.
if "PYTEST_AIRFLOW_HOME" not in os.environ:
    import tempfile

    os.environ["PYTEST_AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="bitsniper-airflow-")
    os.environ["AIRFLOW_HOME"] = os.environ["PYTEST_AIRFLOW_HOME"]
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    os.environ.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)


def shared_file(relative: str) -> Path:
    """A file from ../shared; the test skips (with the reason) where the checkout has no shared folder."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{path} is not available (../shared is not beside this checkout)")
    return path


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The server to create test databases on; unreachable means skip, or fail when CI=true."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    url = os.environ.get("BITSNIPER_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    engine = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(text("select 1"))
    except OperationalError as error:
        message = f"PostgreSQL is not reachable at {engine.url.render_as_string(hide_password=True)}: {error.orig}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    finally:
        engine.dispose()
    return url


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A brand-new database for one test, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"bitsniper_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
