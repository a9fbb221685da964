"""Connection arguments for Airflow's SQLite metadata database, the default of ``make run``.

sqlite3 gives up on a locked database after 5 s, and Airflow's scheduler, triggerer and DAG processor
then crash ("database is locked"). On a slow VPS one ``airflow backfill create`` holds the write lock for
longer than that (seen in CI), and a scheduler that crashes while a task runs can hang for good in
``LocalExecutor.end()`` (apache/airflow#67870; the fix is not in 3.3.2). Waiting longer for the lock is
the remedy SQLite offers; scripts/airflow-env.sh points ``[database] sql_alchemy_connect_args`` here
when the metadata database is SQLite. Stdlib only: Airflow imports it in every process.
"""

from __future__ import annotations

__all__ = ["BUSY_TIMEOUT_SECS", "CONNECT_ARGS", "ASYNC_CONNECT_ARGS"]

BUSY_TIMEOUT_SECS = 60.0
# Two dicts: Airflow adds ``check_same_thread`` to the synchronous engine's arguments in place.
CONNECT_ARGS: dict[str, object] = {"timeout": BUSY_TIMEOUT_SECS}
ASYNC_CONNECT_ARGS: dict[str, object] = {"timeout": BUSY_TIMEOUT_SECS}
