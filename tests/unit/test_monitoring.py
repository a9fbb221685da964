"""Monitoring checks and the daily summary on a real PostgreSQL store: each check both ways, alerts on change."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from bitsniper.alerts import Alert
from bitsniper.config import load_settings
from bitsniper.monitoring import (
    ALERT_KIND_PREFIX,
    apply_result,
    MemoryUsage,
    bot_memory,
    check_breaker,
    check_consecutive_errors,
    check_cpu,
    check_memory,
    check_stack_restarts,
    check_stale_run,
    consecutive_failures,
    daily_summary,
    host_checks,
    host_cpu_percent,
    pipeline_checks,
    send_daily_summary,
    stack_events,
)
from bitsniper.store.db import make_session_factory
from bitsniper.store.migrate import upgrade
from bitsniper.store.records import BreakerRecord, FillRecord, OrderIntent
from bitsniper.store.repositories import (
    record_decision,
    record_fills,
    record_order_intent,
    save_breaker,
    unresolved_alerts,
)
from bitsniper.strategy.state import Action, Decision, PositionType, StrategyState

NOW = datetime.now(timezone.utc)
MB = 1024 * 1024


@pytest.fixture
def factory(postgres_url: str):  # type: ignore[no-untyped-def]
    upgrade(postgres_url)
    factory = make_session_factory(postgres_url)
    yield factory
    factory.kw["bind"].dispose()


class Outbox(list):  # type: ignore[type-arg]
    """Collects what would be sent (the notify callable)."""

    def __call__(self, alert: Alert) -> None:
        self.append(alert)


def _settings(**values):  # type: ignore[no-untyped-def]
    return load_settings(mode="paper", **values)


def _mem(largest_mb: int) -> MemoryUsage:
    return MemoryUsage(total_bytes=3 * largest_mb * MB, largest_bytes=largest_mb * MB, largest_name="airflow worker", processes=3)


def _decide(factory, candle_ms: int, actions: tuple[Action, ...] = ()) -> None:  # type: ignore[no-untyped-def]
    decision = Decision(candle_ms, "ok", actions, StrategyState(strategy="vi"))
    record_decision(factory, mode="paper", symbol="PF_XBTUSD", decision=decision, state_before=None)


# --- checks, both ways ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcomes", "failures"),
    [
        (["failed"] * 10, 10),
        (["running"] + ["failed"] * 10, 10),  # the newest tick is still running
        (["none"] + ["failed"] * 3 + ["success"] + ["failed"] * 8, 3),
        (["failed"] * 4 + ["none"] + ["failed"] * 8, 4),  # a tick without a run breaks the streak
        (["success"] + ["failed"] * 12, 0),
        ([], 0),
    ],
)
def test_consecutive_failures_count_from_the_newest_finished_run(outcomes, failures) -> None:  # type: ignore[no-untyped-def]
    assert consecutive_failures(outcomes) == failures


def test_ten_consecutive_failed_runs_alert_and_nine_do_not() -> None:
    assert not check_consecutive_errors(["failed"] * 10, 10).ok
    assert "10 consecutive failed bitsniper runs" in check_consecutive_errors(["failed"] * 10, 10).message
    assert check_consecutive_errors(["failed"] * 9 + ["success"], 10).ok


def test_breaker_alerts_while_open_or_half_open_and_not_when_closed() -> None:
    opened = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    assert check_breaker(BreakerRecord("exchange-paper")).ok
    result = check_breaker(BreakerRecord("exchange-paper", "open", 5, 0, opened))
    assert not result.ok and "exchange-paper is open since 2026-03-01 12:00:00 UTC after 5" in result.message
    assert not check_breaker(BreakerRecord("exchange-paper", "half-open", 5, 0, opened)).ok


def test_measured_memory_of_the_bot_alerts_only_above_the_threshold() -> None:
    usage = bot_memory()
    assert usage.processes >= 1 and usage.total_bytes >= usage.largest_bytes
    assert usage.largest_bytes > 10 * MB  # at least this Python process with SQLAlchemy loaded
    largest_mb = usage.largest_bytes / MB
    assert check_memory(usage, threshold_mb=largest_mb * 2).ok
    result = check_memory(usage, threshold_mb=largest_mb / 2)
    assert not result.ok and result.severity == "warning" and "above" in result.message


def test_memory_limit_applies_to_the_largest_process_not_the_sum() -> None:
    idle_airflow = MemoryUsage(total_bytes=1500 * MB, largest_bytes=290 * MB, largest_name="airflow api_server", processes=10)
    assert check_memory(idle_airflow, 1024).ok
    leaking = MemoryUsage(total_bytes=2600 * MB, largest_bytes=1100 * MB, largest_name="airflow worker", processes=10)
    result = check_memory(leaking, 1024)
    assert not result.ok
    assert result.message == (
        "largest bot process (airflow worker) 1100 MB above the 1024 MB limit (10 Airflow/bot processes: 2600 MB)"
    )


def test_measured_cpu_alerts_only_above_the_threshold() -> None:
    percent = host_cpu_percent(0.1)
    assert 0.0 <= percent <= 100.0
    assert check_cpu(percent, 100.0).ok
    assert not check_cpu(95.0, 90.0).ok and check_cpu(90.0, 90.0).ok


def test_stale_run_alerts_after_the_limit_and_when_nothing_ran() -> None:
    last = NOW - timedelta(minutes=61)
    assert not check_stale_run(last, NOW, 60, "paper").ok
    assert check_stale_run(last, NOW, 90, "paper").ok
    assert not check_stale_run(None, NOW, 60, "paper").ok


def test_no_decision_yet_is_no_alert_until_the_pipeline_has_run_for_the_whole_limit() -> None:
    fresh = check_stale_run(None, NOW, 60, "live", ran_before=False)
    assert fresh.ok and "no live decision yet" in fresh.message
    assert not check_stale_run(None, NOW, 60, "live", ran_before=True).ok
    # a decision that is too old alerts whatever the pipeline's age
    assert not check_stale_run(NOW - timedelta(minutes=61), NOW, 60, "live", ran_before=False).ok


# --- against the store: what is read, what is alerted ------------------------------------------------


def test_pipeline_checks_read_the_breaker_and_the_last_decision_of_the_mode(factory) -> None:  # type: ignore[no-untyped-def]
    settings = _settings()
    _decide(factory, 1_767_225_600_000)
    outbox = Outbox()
    healthy = pipeline_checks(factory, settings, outbox, run_outcomes=["success"], now=NOW + timedelta(minutes=5))
    assert [o.action for o in healthy] == ["ok", "ok", "ok"] and outbox == []

    save_breaker(factory, BreakerRecord("exchange-paper", "open", 5, 0, NOW))
    save_breaker(factory, BreakerRecord("exchange-live", "closed"))
    sick = pipeline_checks(factory, settings, outbox, run_outcomes=["failed"] * 10, now=NOW + timedelta(minutes=90))
    assert {o.result.name: o.action for o in sick} == {
        "consecutive_errors": "raised", "circuit_breaker": "raised", "stale_run": "raised",
    }
    assert len(outbox) == 3 and all(a.kind == "failure" for a in outbox)
    stored = {a.kind: a for a in unresolved_alerts(factory)}
    assert set(stored) == {ALERT_KIND_PREFIX + n for n in ("consecutive_errors", "circuit_breaker", "stale_run")}
    assert stored["monitor_circuit_breaker"].severity == "critical"


def test_an_open_condition_alerts_once_then_resolves_with_one_recovery_notice(factory) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(monitor_memory_mb=100.0, monitor_cpu_percent=90.0)
    template = Alert("info", "", dag_id="bitsniper_monitoring", task_id="check_host", run_id="r1")
    outbox = Outbox()
    first = host_checks(factory, settings, outbox, memory=_mem(200), cpu_percent=10.0, template=template)
    assert [o.action for o in first] == ["raised", "ok"]
    assert [(a.kind, a.dag_id, a.task_id) for a in outbox] == [("failure", "bitsniper_monitoring", "check_host")]
    assert outbox[0].summary.startswith("largest bot process (airflow worker) 200 MB above the 100 MB limit")

    for _ in range(3):  # every 5 minutes while it lasts: nothing new
        again = host_checks(factory, settings, outbox, memory=_mem(300), cpu_percent=10.0)
        assert [o.action for o in again] == ["open", "ok"]
    assert len(outbox) == 1
    assert len(unresolved_alerts(factory, kind="monitor_memory")) == 1

    cleared = host_checks(factory, settings, outbox, memory=_mem(50), cpu_percent=10.0)
    assert [o.action for o in cleared] == ["resolved", "ok"]
    assert len(outbox) == 2 and outbox[1].kind == "info" and outbox[1].summary.startswith("recovered: largest bot process (airflow worker) 50 MB within")
    assert unresolved_alerts(factory, kind="monitor_memory") == []
    assert [o.action for o in host_checks(factory, settings, outbox, memory=_mem(0), cpu_percent=10.0)] == ["ok", "ok"]
    assert len(outbox) == 2

    again = host_checks(factory, settings, outbox, memory=_mem(200), cpu_percent=10.0)
    assert again[0].action == "raised" and len(outbox) == 3  # a new episode is a new alert


def test_a_failing_channel_keeps_the_alert_stored_and_unsent_alerts_are_not_retried_every_run(factory) -> None:  # type: ignore[no-untyped-def]
    def broken(alert: Alert) -> None:
        raise RuntimeError("channel down")

    result = check_cpu(99.0, 90.0)
    assert apply_result(factory, result, broken).action == "raised"
    assert [a.message for a in unresolved_alerts(factory, kind="monitor_cpu")] == [result.message]
    assert apply_result(factory, result, broken).action == "open"


# --- daily summary -------------------------------------------------------------------------------------


def _trade(factory, ident: str, side: str, size: str, price: str, at: datetime, fee: str | None = None) -> None:  # type: ignore[no-untyped-def]
    record_order_intent(
        factory, OrderIntent(cli_ord_id=ident, mode="paper", symbol="PF_XBTUSD", side=side, size=Decimal(size)), at=at  # type: ignore[arg-type]
    )
    record_fills(factory, [FillRecord(
        fill_id=f"f-{ident}", symbol="PF_XBTUSD", side=side, size=Decimal(size), price=Decimal(price),  # type: ignore[arg-type]
        filled_at=at, cli_ord_id=ident, fee=None if fee is None else Decimal(fee),
    )])


def test_daily_summary_counts_trades_closed_that_day_with_pnl_and_win_rate(factory) -> None:  # type: ignore[no-untyped-def]
    day = date(2026, 3, 2)
    start = datetime(2026, 3, 2, tzinfo=timezone.utc)
    # a long opened the day before, closed at a profit today
    _trade(factory, "a-open", "buy", "0.01", "100000", start - timedelta(hours=3), fee="0.5")
    _trade(factory, "a-close", "sell", "0.01", "101000", start + timedelta(hours=2), fee="0.505")
    # a short opened and closed at a loss today, then a reversal: buy 0.03 closes 0.02 and opens a 0.01 long
    _trade(factory, "b-open", "sell", "0.02", "101000", start + timedelta(hours=4))
    _trade(factory, "b-flip", "buy", "0.03", "101500", start + timedelta(hours=6))
    # the next day: not in this summary
    _trade(factory, "c-close", "sell", "0.01", "103000", start + timedelta(days=1, hours=1))
    open_action = Action("open", PositionType.SHORT, "short", "E1", 0, 0, 0.02)
    _decide(factory, int((start + timedelta(hours=3, minutes=45)).timestamp() * 1000), (open_action,))
    _decide(factory, int((start + timedelta(hours=5)).timestamp() * 1000))
    _decide(factory, int((start - timedelta(minutes=15)).timestamp() * 1000), (open_action,))  # the day before

    summary = daily_summary(factory, mode="paper", symbol="PF_XBTUSD", day=day)
    long_pnl = Decimal("0.01") * (101000 - 100000) - Decimal("0.5") - Decimal("0.505")
    short_pnl = Decimal("0.02") * (101000 - 101500)
    assert summary.trades == 2 and summary.wins == 1 and summary.win_rate == 0.5
    assert summary.pnl_usd == long_pnl + short_pnl
    assert summary.fees_usd == Decimal("0.505")  # fees of today's fills
    assert summary.fills == 3
    assert summary.open_position_btc == Decimal("0.01")
    assert summary.decisions == 2 and summary.entries == 1 and summary.exits == 0
    assert summary.orders_by_status == {"intent": 3}
    assert "PnL -1.01 USD (fees 0.51)" in summary.text() and "win rate 50 %" in summary.text()

    quiet = daily_summary(factory, mode="paper", symbol="PF_XBTUSD", day=date(2026, 2, 1))
    assert (quiet.trades, quiet.win_rate, quiet.pnl_usd, quiet.fills) == (0, None, 0, 0)
    assert "win rate n/a" in quiet.text()


def test_daily_summary_is_sent_once_per_day(factory) -> None:  # type: ignore[no-untyped-def]
    outbox = Outbox()
    summary = daily_summary(factory, mode="paper", symbol="PF_XBTUSD", day=date(2026, 3, 2))
    assert send_daily_summary(factory, summary, outbox) is True
    assert send_daily_summary(factory, summary, outbox) is False
    assert len(outbox) == 1 and outbox[0].summary == "daily summary 2026-03-02 (paper PF_XBTUSD)"
    assert outbox[0].details == summary.text()
    assert unresolved_alerts(factory) == []  # stored for the record, nothing to act on
    other = daily_summary(factory, mode="paper", symbol="PF_XBTUSD", day=date(2026, 3, 3))
    assert send_daily_summary(factory, other, outbox) is True and len(outbox) == 2


# What scripts/airflow-stack.sh writes (tests/unit/airflow/test_airflow_stack.py proves the lines).
STACK_LOG = """\
2026-11-22T08:00:00Z starting scheduler, log: /x/scheduler.log
2026-11-22T08:00:00Z starting triggerer, log: /x/triggerer.log
2026-11-22T08:10:00Z triggerer exited (code 1): restarting in 10 s
2026-11-22T08:10:10Z starting triggerer, log: /x/triggerer.log
2026-11-22T08:46:41Z scheduler unhealthy (no recent heartbeat): check 1 of 3
2026-11-22T08:47:11Z scheduler unhealthy (no recent heartbeat): check 2 of 3
2026-11-22T08:47:41Z scheduler unhealthy for 3 checks: stack dump in /x/scheduler.log, killing 4242
/x/scripts/airflow-stack.sh: line 28: 4242 Killed                  "$BIN/airflow" "$@" >> "$LOGS/$name.log" 2>&1
2026-11-22T08:47:43Z scheduler exited (code 137): restarting in 10 s
2026-11-22T08:47:45Z dag-processor exited (code 1): restarting in 10 s
2026-11-22T08:47:53Z starting scheduler, log: /x/scheduler.log
"""
AT = datetime(2026, 11, 22, 8, 50, tzinfo=timezone.utc)


def test_stack_events_are_the_restarts_and_the_watchdog_kills(tmp_path: Path) -> None:
    log = tmp_path / "stack.log"
    log.write_text(STACK_LOG)
    events = stack_events(log)
    assert [(e.at.strftime("%H:%M:%S"), e.component, e.hung) for e in events] == [
        ("08:10:00", "triggerer", False), ("08:47:41", "scheduler", True), ("08:47:43", "scheduler", False),
        ("08:47:45", "dag-processor", False),
    ]
    assert stack_events(tmp_path / "missing.log") == []


def test_a_restart_within_the_window_alerts_and_says_which_and_why(tmp_path: Path) -> None:
    log = tmp_path / "stack.log"
    log.write_text(STACK_LOG)
    events = stack_events(log)
    result = check_stack_restarts(events, AT, 60)
    assert not result.ok and result.value == 3.0 and result.severity == "warning"
    assert "scheduler x1 (hung, killed by the watchdog; last 08:47 UTC)" in result.message
    assert "triggerer x1 (exited; last 08:10 UTC)" in result.message
    assert "dag-processor x1 (exited; last 08:47 UTC)" in result.message  # the scheduler's kill is not its own
    # Only the scheduler's restart is within the last 10 minutes; none is within the hour after 09:48.
    assert "triggerer" not in check_stack_restarts(events, AT, 10).message
    assert check_stack_restarts(events, AT + timedelta(hours=1), 60).ok


def test_host_checks_raise_the_restart_alert_once_then_resolve_it(factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "stack.log"
    log.write_text(STACK_LOG)
    settings = _settings(monitor_memory_mb=1000.0, monitor_cpu_percent=90.0, monitor_restart_minutes=60.0)
    outbox = Outbox()
    first = host_checks(factory, settings, outbox, memory=_mem(10), cpu_percent=10.0, stack_log=log, now=AT)
    assert [o.result.name for o in first] == ["memory", "cpu", "stack_restarts"]
    assert [o.action for o in first] == ["ok", "ok", "raised"] and len(outbox) == 1
    assert outbox[0].summary.startswith("Airflow components restarted in the last 60 min: dag-processor x1 (exited")
    assert "scheduler x1 (hung" in outbox[0].summary
    again = host_checks(factory, settings, outbox, memory=_mem(10), cpu_percent=10.0, stack_log=log, now=AT + timedelta(minutes=5))
    assert again[2].action == "open" and len(outbox) == 1
    later = host_checks(factory, settings, outbox, memory=_mem(10), cpu_percent=10.0, stack_log=log, now=AT + timedelta(hours=1))
    assert later[2].action == "resolved" and outbox[-1].summary.startswith("recovered: no Airflow component restarted")
