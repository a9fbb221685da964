"""bitsniper.airflow.health: which components the stack's watchdog restarts, read from Airflow's answer."""

from __future__ import annotations

import pytest

from bitsniper.airflow.health import main, unhealthy_components

from tests.unit.airflow.conftest import airflow_health


def test_all_healthy_means_nothing_to_restart() -> None:
    assert unhealthy_components(airflow_health()) == []


def test_a_stale_component_is_named_as_the_stack_names_it() -> None:
    assert unhealthy_components(airflow_health(scheduler="unhealthy")) == ["scheduler"]
    assert unhealthy_components(airflow_health(triggerer="unhealthy", dag_processor="unhealthy")) == ["triggerer", "dag-processor"]


def test_a_component_that_never_ran_is_not_unhealthy() -> None:
    # Airflow answers status null for a triggerer or DAG processor that never started.
    assert unhealthy_components(airflow_health(triggerer=None, dag_processor=None)) == []


def test_no_verdict_while_the_metadata_database_is_down() -> None:
    # Airflow then reports every component unhealthy; restarting them cannot bring the database back.
    down = airflow_health(scheduler="unhealthy", triggerer="unhealthy", metadatabase="unhealthy")
    assert unhealthy_components(down) == []


def test_main_prints_the_names_from_the_api_server(health_endpoint, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    health_endpoint.payload = airflow_health(scheduler="unhealthy")
    assert main([health_endpoint.url]) == 0
    assert capsys.readouterr().out.split() == ["scheduler"]
    health_endpoint.payload = airflow_health()
    assert main([health_endpoint.url]) == 0
    assert capsys.readouterr().out.strip() == ""
    assert health_endpoint.requests == 2


def test_main_gives_no_verdict_when_the_api_server_does_not_answer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["http://127.0.0.1:9/api/v2/monitor/health"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "no answer" in captured.err
