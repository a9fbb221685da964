"""Execution settings reach the policy and the breaker; `bitsniper resume` with nothing halted says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bitsniper.breaker import breaker_from_settings
from bitsniper.cli import app
from bitsniper.config import load_settings
from bitsniper.execution import ExecutionPolicy
from bitsniper.store import make_engine, make_session_factory, upgrade


def test_policy_and_breaker_take_their_values_from_the_settings(tmp_path: Path) -> None:
    settings = load_settings(
        order_lookup_timeout_secs=4, order_lookup_interval_secs=0.2, order_settle_secs=45, order_max_attempts=2,
        breaker_fail_max=7, breaker_reset_timeout_secs=90,
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    upgrade(engine)

    policy = ExecutionPolicy.from_settings(settings)
    breaker = breaker_from_settings(make_session_factory(engine), settings)

    assert policy == ExecutionPolicy(lookup_timeout_secs=4, lookup_interval_secs=0.2, settle_secs=45, max_attempts=2)
    assert (breaker.fail_max, breaker.reset_timeout, breaker.name) == (7, 90, "exchange-paper")
    engine.dispose()


def test_bad_execution_setting_is_refused_naming_it() -> None:
    from bitsniper.errors import ConfigError

    with pytest.raises(ConfigError, match="order_settle_secs"):
        load_settings(order_settle_secs=0)


def test_resume_without_a_halt_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    monkeypatch.setenv("BITSNIPER_DATABASE_URL", url)

    result = CliRunner().invoke(app, ["resume"])

    assert result.exit_code == 0, result.output
    assert "paper PF_XBTUSD is not halted" in result.output


def test_resume_in_paper_mode_clears_the_halt_and_rebases_on_the_paper_book(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bitsniper.reconcile import expected_position_from_store, halt, halted

    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    halt(factory, mode="paper", symbol="PF_XBTUSD", message="test mismatch", details={})
    monkeypatch.setenv("BITSNIPER_DATABASE_URL", url)

    result = CliRunner().invoke(app, ["resume", "--mode", "paper"])

    assert result.exit_code == 0, result.output
    assert "1 halt alert(s) resolved" in result.output
    assert not halted(factory, mode="paper", symbol="PF_XBTUSD")
    assert expected_position_from_store(factory, mode="paper", symbol="PF_XBTUSD") == 0
    engine.dispose()
