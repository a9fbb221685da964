"""make run's Airflow settings (scripts/airflow-env.sh): a SQLite metadata database waits 60 s for a write
lock, a PostgreSQL one gets no SQLite-only arguments. The behaviour itself (a held lock crashes nothing)
is proven under a real scheduler in tests/dags/test_scheduler.py."""

from __future__ import annotations

import importlib
import os
import subprocess
from pathlib import Path

from bitsniper.airflow.sqlite_metadata import BUSY_TIMEOUT_SECS
from bitsniper.airflow.stack import ROOT, make_run_settings

KEYS = ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC")


def _resolve(path: str) -> object:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_sqlite_metadata_waits_for_the_write_lock(tmp_path: Path) -> None:
    settings = make_run_settings(tmp_path)
    assert settings["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path}/airflow.db"
    sync, async_ = (_resolve(settings[key]) for key in KEYS)
    assert sync == async_ == {"timeout": BUSY_TIMEOUT_SECS} and BUSY_TIMEOUT_SECS > 5
    assert sync is not async_  # Airflow adds check_same_thread to the synchronous one in place


def test_postgres_metadata_gets_no_sqlite_arguments(tmp_path: Path) -> None:
    shown = subprocess.run(
        ["bash", "-c", "source scripts/airflow-env.sh && env"], cwd=ROOT, capture_output=True, text=True, check=True,
        env={"PATH": os.environ["PATH"], "AIRFLOW_HOME": str(tmp_path),
             "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://airflow@127.0.0.1/airflow"},
    ).stdout
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgresql+psycopg2://airflow@127.0.0.1/airflow" in shown
    assert not any(line.startswith(KEYS) for line in shown.splitlines())
