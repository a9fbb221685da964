"""The production compose file, read as data: Docker is not available where the tests run, so these checks
stand in for ``docker compose config`` and pin what matters — start-up order, one image, the executor
settings, and secrets coming only from ``.env`` (every ``${VAR}`` documented, none written in the file)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bitsniper.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}")
BARE_REFERENCE = re.compile(r"(?<!\$)\$(?!\{|\$)[A-Za-z_]")
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|SECRET_KEY|FERNET_KEY|TOKEN|API_KEY)$|^AIRFLOW_CONN_")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: {line!r} is not NAME=value"
            assert name not in values, f".env.example declares {name} twice"
            values[name.strip()] = value.strip()
    return values


def _strings(node: Any) -> list[str]:
    """Every string value of the parsed file: what compose interpolates (comments are not read)."""
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return [node] if isinstance(node, str) else []


def _references(compose: dict[str, Any]) -> list[re.Match[str]]:
    return [m for text in _strings(compose) for m in REFERENCE.finditer(text)]


def _url(value: str):  # type: ignore[no-untyped-def]
    """``urlsplit`` of a URL whose parts may be ``${VAR...}`` references (each becomes ``<VAR>``)."""
    return urlsplit(REFERENCE.sub(lambda m: f"REF-{m.group(1)}", value))


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment must be a mapping (NAME: value)"
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _depends(service: dict[str, Any]) -> dict[str, str]:
    return {name: spec["condition"] for name, spec in (service.get("depends_on") or {}).items()}


def _start_order(services: dict[str, Any]) -> list[str]:
    """A topological order of ``depends_on``; fails on a cycle or an unknown service."""
    order: list[str] = []
    pending = dict(services)
    while pending:
        ready = sorted(n for n, s in pending.items() if all(d in order for d in _depends(s)))
        assert ready, f"depends_on has a cycle or names an unknown service among {sorted(pending)}"
        order.extend(ready)
        for name in ready:
            del pending[name]
    return order


def test_every_variable_the_compose_file_reads_is_declared_in_env_example(
    compose: dict[str, Any], env_example: dict[str, str]
) -> None:
    referenced = {m.group(1) for m in _references(compose)}
    assert referenced, "the compose file reads no variable at all"
    assert not [s for s in _strings(compose) if BARE_REFERENCE.search(s)], "use ${VAR} or $$, never a bare $VAR"
    assert sorted(referenced - env_example.keys()) == []
    assert sorted(env_example.keys() - referenced) == [], "documented in .env.example but never read by compose"


def test_env_example_leaves_every_secret_empty(env_example: dict[str, str]) -> None:
    secrets = {name: value for name, value in env_example.items() if SECRET_NAME.search(name)}
    assert {"POSTGRES_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "KRAKEN_API_SECRET"} <= secrets.keys()
    assert {name: value for name, value in secrets.items() if value} == {}


def test_every_variable_in_env_example_is_explained_by_a_comment() -> None:
    explained = False  # a comment covers the variables that follow it up to the next blank line
    for line in ENV_EXAMPLE.read_text().splitlines():
        if not line.strip():
            explained = False
        elif line.startswith("#"):
            explained = True
        else:
            assert explained, f".env.example: {line.partition('=')[0]} has no comment above it"


def test_required_secrets_stop_compose_when_missing(compose: dict[str, Any]) -> None:
    required = {m.group(1) for m in _references(compose) if m.group(2).startswith(":?")}
    assert {"POSTGRES_PASSWORD", "AIRFLOW_DB_PASSWORD", "BITSNIPER_DB_PASSWORD", "AIRFLOW_FERNET_KEY",
            "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY"} <= required
    defaults = {m.group(1): m.group(2)[2:] for m in _references(compose) if m.group(2).startswith(":-")}
    assert {name: value for name, value in defaults.items() if SECRET_NAME.search(name) and value} == {}


def test_no_secret_value_is_written_in_the_compose_file(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key):
                assert REFERENCE.fullmatch(value), f"{name}: {key} must come from .env as ${{...}}, not a literal"
            if "://" in value and "@" in value:  # a URL carrying credentials: the password part is a reference
                password = _url(value).password or ""
                assert password.startswith("REF-"), f"{name}: {key} has a literal password"


def test_services_start_postgres_then_init_then_the_api_server_then_the_rest(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "airflow-init", *AIRFLOW_SERVICES, "telegram-bot"}
    assert _depends(services["telegram-bot"]) == {"airflow-init": "service_completed_successfully"}
    order = _start_order(services)
    assert order[:3] == ["postgres", "airflow-init", "airflow-apiserver"]
    assert _depends(services["airflow-init"]) == {"postgres": "service_healthy"}
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["airflow-apiserver"]
    assert _depends(services["airflow-apiserver"]) == {"airflow-init": "service_completed_successfully"}
    for name in AIRFLOW_SERVICES[1:]:  # tasks and callbacks talk to the execution API: it must be up
        assert _depends(services[name]) == {
            "airflow-init": "service_completed_successfully", "airflow-apiserver": "service_healthy",
        }, name
    assert services["airflow-init"]["restart"] == "no"
    assert all(services[name]["restart"] == "unless-stopped" for name in ("postgres", *AIRFLOW_SERVICES))


def test_init_migrates_airflow_then_creates_the_pool_then_migrates_the_store(compose: dict[str, Any]) -> None:
    init = compose["services"]["airflow-init"]
    script = " ".join(init["command"]) if isinstance(init["command"], list) else init["command"]
    assert init["entrypoint"] == "/bin/bash" and "set -euo pipefail" in script
    steps = [script.index(s) for s in ("airflow db migrate", "airflow pools set kraken_api 1 ", "bitsniper db upgrade")]
    assert steps == sorted(steps)
    dag_pool = re.search(r'^KRAKEN_POOL = "([^"]+)"', (ROOT / "dags" / "bitsniper_dag.py").read_text(), re.M)
    assert dag_pool and dag_pool.group(1) == "kraken_api", "the pool the init creates is the DAG's pool"


def test_airflow_services_share_one_image_local_executor_and_the_execution_api(compose: dict[str, Any]) -> None:
    services = compose["services"]
    airflow = [services[name] for name in ("airflow-init", *AIRFLOW_SERVICES)]
    assert {(s["build"], s["image"]) for s in airflow} == {(".", airflow[0]["image"])}
    assert [s["command"] for s in airflow[1:]] == ["api-server", "scheduler", "dag-processor", "triggerer"]
    envs = [_environment(s) for s in airflow]
    assert all(env == envs[0] for env in envs), "every Airflow service must see the same settings (JWT secret...)"
    env = envs[0]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor" and env["AIRFLOW__CORE__PARALLELISM"] == "4"
    api = _url(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    published = {int(p.rsplit(":", 1)[1]) for p in services["airflow-apiserver"]["ports"]}
    assert (api.hostname, api.path) == ("airflow-apiserver", "/execution/") and {api.port} == published
    assert services["airflow-apiserver"]["ports"][0].startswith("127.0.0.1:"), "the UI is not published to the world"
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "BITSNIPER_DATABASE_URL"):
        assert _url(env[key]).hostname == "postgres"
    assert _url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).path != _url(env["BITSNIPER_DATABASE_URL"]).path


def test_image_is_airflow_3_3_2_on_python_3_11_matching_the_pinned_stack() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM apache/airflow:(\S+)-python(\S+)$", dockerfile, re.M)
    pinned = re.search(r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert base and pinned and base.group(1) == pinned.group(1) == "3.3.2" and base.group(2) == "3.11"
    assert "-r /opt/bitsniper/requirements.txt" in dockerfile and "-e /opt/bitsniper" in dockerfile


def test_bitsniper_variables_name_real_settings_and_connections(compose: dict[str, Any], env_example: dict[str, str]) -> None:
    env = _environment(compose["services"]["airflow-scheduler"])
    names = [k for k in (*env, *env_example) if k.startswith("BITSNIPER_") and not k.endswith("_DB_PASSWORD")]
    assert sorted({n for n in names if n.removeprefix("BITSNIPER_").lower() not in Settings.model_fields}) == []
    defaults = Settings.model_fields
    connections = {k.removeprefix("AIRFLOW_CONN_").lower() for k in env if k.startswith("AIRFLOW_CONN_")}
    assert connections == {defaults["alert_telegram_conn_id"].default, defaults["alert_smtp_conn_id"].default}
    assert env["BITSNIPER_MODE"] == "${BITSNIPER_MODE:-paper}"
    assert env["BITSNIPER_LIVE_TRADING_ENABLED"] == "${BITSNIPER_LIVE_TRADING_ENABLED:-false}"


def test_dot_env_stays_out_of_git_and_out_of_the_image() -> None:
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in (ROOT / ".dockerignore").read_text().splitlines()
    mounts = [v for s in yaml.safe_load(COMPOSE.read_text())["services"].values() for v in s.get("volumes", [])]
    assert not [m for m in mounts if ".env" in m]


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's rules for ${VAR}, ${VAR:-default} and ${VAR:?message} (unset or empty count alike)."""

    def one(match: re.Match[str]) -> str:
        name, rest = match.group(1), match.group(2)
        current = env.get(name, "")
        if rest.startswith(":?") and not current:
            raise LookupError(f"{name}: {rest[2:]}")
        if rest.startswith(":-") and not current:
            return rest[2:]
        return current

    return REFERENCE.sub(one, value).replace("$$", "$")


def test_env_example_as_shipped_refuses_to_start_and_filled_in_gives_valid_paper_settings(
    compose: dict[str, Any], env_example: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bitsniper.config import load_settings

    raw = _environment(compose["services"]["airflow-scheduler"])
    with pytest.raises(LookupError, match="set .* in .env"):
        {key: _interpolate(value, env_example) for key, value in raw.items()}
    filled = {name: value or ("f" * 32 if SECRET_NAME.search(name) and "CONN" not in name else value)
              for name, value in env_example.items()}
    env = {key: _interpolate(value, filled) for key, value in raw.items()}
    for key in [k for k in os.environ if k.startswith("BITSNIPER_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("BITSNIPER_"):
            monkeypatch.setenv(key, value)
    settings = load_settings()
    assert (settings.mode, settings.live_trading_enabled, settings.exchange) == ("paper", False, "kraken")
    url = settings.database_url.get_secret_value()
    assert url == f"postgresql+psycopg2://bitsniper:{'f' * 32}@postgres:5432/bitsniper"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"postgresql+psycopg2://airflow:{'f' * 32}@postgres:5432/airflow"
