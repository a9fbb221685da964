"""The database fixture the store, execution and DAG tests build on gives each test its own database."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text


def test_postgres_url_gives_an_empty_private_database(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as connection:
            assert inspect(connection).get_table_names() == []
            connection.execute(text("create table probe (x int)"))
            connection.execute(text("insert into probe values (7)"))
        with engine.connect() as connection:
            assert connection.execute(text("select x from probe")).scalar_one() == 7
            assert connection.execute(text("select current_database()")).scalar_one().startswith("bitsniper_test_")
    finally:
        engine.dispose()
