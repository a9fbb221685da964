"""Kill switch and risk limits against a real PostgreSQL store (issue 6): they persist, block entries and notify."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from typer.testing import CliRunner

from bitsniper.alerts import Alert
from bitsniper.cli import app
from bitsniper.config import load_settings
from bitsniper.controls import kill, resume_kill_switch
from bitsniper.risk import KILL_ALERT_KIND, RISK_ALERT_KIND, entry_block, kill_switch, record_equity
from bitsniper.store import SessionFactory, make_session_factory, unresolved_alerts

from operator_kit import SYMBOL, HttpStub, record_trade, utc

MODE = "paper"


def _now_ms() -> int:
    return int(datetime.now(timezone.utc).timestamp() * 1000)


def _settings(url: str, **values: object):  # type: ignore[no-untyped-def]
    return load_settings(database_url=url, **values)


def test_manual_kill_blocks_entries_survives_a_fresh_session_factory_and_only_resume_clears_it(store_url: str) -> None:
    # Arrange
    settings = _settings(store_url)
    sent: list[Alert] = []
    first = make_session_factory(store_url)
    # Act
    changed, report = kill(first, settings, mode=MODE, symbol=SYMBOL, reason="going on holiday", source="test", notify=sent.append)
    again, _ = kill(first, settings, mode=MODE, symbol=SYMBOL, reason="twice", source="test", notify=sent.append)
    restarted = make_session_factory(store_url)  # a new process: nothing kept in memory
    block = entry_block(restarted, settings, mode=MODE, symbol=SYMBOL, now_ms=_now_ms(), equity=10_000.0, notify=sent.append)
    other_mode = entry_block(restarted, settings, mode="live", symbol=SYMBOL, now_ms=_now_ms(), equity=10_000.0, notify=sent.append)
    cleared = resume_kill_switch(restarted, mode=MODE, symbol=SYMBOL, notify=sent.append)
    after = entry_block(make_session_factory(store_url), settings, mode=MODE, symbol=SYMBOL, now_ms=_now_ms(), equity=10_000.0)
    # Assert
    assert (changed, again, report) == (True, False, None)
    assert block is not None and "kill switch on" in block and "going on holiday" in block
    assert other_mode is None
    assert cleared == 1 and after is None
    assert [a.kind for a in sent] == ["halt", "info"]  # one notification per change, none for the repeat
    assert "ON" in sent[0].summary and "OFF" in sent[1].summary
    assert kill_switch(restarted, mode=MODE, symbol=SYMBOL) is None


def test_drawdown_past_the_limit_turns_the_kill_switch_on_until_resume_which_restarts_the_peak(factory: SessionFactory, store_url: str) -> None:
    # Arrange
    settings = _settings(store_url, daily_loss_limit_pct=None)
    sent: list[Alert] = []
    now = _now_ms()
    # Act
    at_peak = entry_block(factory, settings, mode=MODE, symbol=SYMBOL, now_ms=now - 60_000, equity=20_000.0, notify=sent.append)
    above_limit = entry_block(factory, settings, mode=MODE, symbol=SYMBOL, now_ms=now - 30_000, equity=15_001.0, notify=sent.append)
    at_limit = entry_block(factory, settings, mode=MODE, symbol=SYMBOL, now_ms=now - 20_000, equity=15_000.0, notify=sent.append)
    recovered = entry_block(factory, settings, mode=MODE, symbol=SYMBOL, now_ms=now - 10_000, equity=20_000.0, notify=sent.append)
    resume_kill_switch(factory, mode=MODE, symbol=SYMBOL, notify=sent.append)
    after_resume = entry_block(factory, settings, mode=MODE, symbol=SYMBOL, now_ms=_now_ms() + 1000, equity=15_000.0, notify=sent.append)
    # Assert
    assert at_peak is None and above_limit is None
    assert at_limit is not None and "drawdown" in at_limit
    assert recovered is not None and "kill switch on (drawdown)" in recovered  # latched, not re-evaluated
    assert after_resume is None  # the peak restarts at the resume: 15,000 is the new peak
    assert [a.kind for a in sent] == ["halt", "info"]


def test_daily_loss_limit_uses_the_last_equity_before_midnight_and_alerts_once_a_day(factory: SessionFactory, store_url: str) -> None:
    # Arrange
    settings = _settings(store_url, drawdown_kill_pct=None)
    record_equity(factory, mode=MODE, symbol=SYMBOL, equity=12_000.0, at=utc(2026, 3, 9, 20, 0))
    record_equity(factory, mode=MODE, symbol=SYMBOL, equity=10_000.0, at=utc(2026, 3, 9, 23, 45))  # the day's start
    noon = int(utc(2026, 3, 10, 12, 0).timestamp() * 1000)
    # Act
    above = entry_block(factory, settings, mode=MODE, symbol=SYMBOL, now_ms=noon, equity=9_501.0, notify=lambda a: None)
    at = entry_block(factory, settings, mode=MODE, symbol=SYMBOL, now_ms=noon + 900_000, equity=9_500.0, notify=lambda a: None)
    later = entry_block(factory, settings, mode=MODE, symbol=SYMBOL, now_ms=noon + 1_800_000, equity=9_000.0, notify=lambda a: None)
    next_day = entry_block(factory, settings, mode=MODE, symbol=SYMBOL, now_ms=noon + 86_400_000, equity=9_000.0, notify=lambda a: None)
    # Assert
    assert above is None
    assert at is not None and at.startswith("daily loss limit") and "10,000.00" in at
    assert later is not None and later.startswith("daily loss limit")
    assert next_day is None  # a new UTC day starts from the last equity of the previous one (9,000)
    assert len(unresolved_alerts(factory, kind=RISK_ALERT_KIND)) == 1
    assert unresolved_alerts(factory, kind=KILL_ALERT_KIND) == []


def test_three_losing_trades_pause_entries_one_hour_and_five_pause_four(factory: SessionFactory, store_url: str) -> None:
    # Arrange
    settings = _settings(store_url, daily_loss_limit_pct=None, drawdown_kill_pct=None)
    start = datetime.now(timezone.utc) - timedelta(hours=10)
    for i in range(3):
        t = start + timedelta(hours=i)
        record_trade(factory, mode=MODE, side="long", entry_price="50000", exit_price="49900", entry_at=t, exit_at=t + timedelta(minutes=30))
    last_exit = start + timedelta(hours=2, minutes=30)
    ms = int(last_exit.timestamp() * 1000)
    # Act
    inside = entry_block(factory, settings, mode=MODE, symbol=SYMBOL, now_ms=ms + 3_599_000, equity=10_000.0, notify=lambda a: None)
    after = entry_block(factory, settings, mode=MODE, symbol=SYMBOL, now_ms=ms + 3_600_000, equity=10_000.0, notify=lambda a: None)
    for i in range(3, 5):
        t = start + timedelta(hours=i)
        record_trade(factory, mode=MODE, side="short", entry_price="50000", exit_price="50100", entry_at=t, exit_at=t + timedelta(minutes=30))
    five_ms = int((start + timedelta(hours=4, minutes=30)).timestamp() * 1000)
    three_hours = entry_block(factory, settings, mode=MODE, symbol=SYMBOL, now_ms=five_ms + 3 * 3_600_000, equity=10_000.0, notify=lambda a: None)
    four_hours = entry_block(factory, settings, mode=MODE, symbol=SYMBOL, now_ms=five_ms + 4 * 3_600_000, equity=10_000.0, notify=lambda a: None)
    # Assert
    assert inside is not None and "3 losing trades" in inside
    assert after is None
    assert three_hours is not None and "5 losing trades" in three_hours
    assert four_hours is None


def test_max_notional_blocks_when_equity_times_leverage_exceeds_it(factory: SessionFactory, store_url: str) -> None:
    settings = _settings(store_url, max_position_notional_usd=50_000.0, leverage=10.0)
    assert entry_block(factory, settings, mode=MODE, symbol=SYMBOL, now_ms=_now_ms(), equity=5_000.0, notify=lambda a: None) is None
    blocked = entry_block(factory, settings, mode=MODE, symbol=SYMBOL, now_ms=_now_ms() + 1, equity=5_001.0, notify=lambda a: None)
    assert blocked is not None and "max position notional" in blocked


def test_cli_kill_then_resume_persist_in_the_store_and_post_one_webhook_event_each(
    store_url: str, factory: SessionFactory, stub: HttpStub, monkeypatch
) -> None:
    # Arrange
    monkeypatch.setenv("BITSNIPER_DATABASE_URL", store_url)
    monkeypatch.setenv("BITSNIPER_ALERT_WEBHOOK_URL", f"{stub.url}/hook/s3cr3t-token-123")
    runner = CliRunner()
    # Act
    killed = runner.invoke(app, ["kill", "--reason", "phone says stop"])
    on_after_kill = kill_switch(make_session_factory(store_url), mode=MODE, symbol=SYMBOL)
    status = runner.invoke(app, ["status"])
    resumed = runner.invoke(app, ["resume"])
    again = runner.invoke(app, ["resume"])
    # Assert
    assert killed.exit_code == 0, killed.output
    assert "kill switch turned ON for paper PF_XBTUSD" in killed.output
    assert on_after_kill is not None and on_after_kill.details["reason"] == "phone says stop"
    assert status.exit_code == 0 and "Kill switch: ON (phone says stop)" in status.output
    assert resumed.exit_code == 0 and "kill switch cleared" in resumed.output
    assert "nothing to do" in again.output
    assert kill_switch(factory, mode=MODE, symbol=SYMBOL) is None
    assert [body["kind"] for _, body in stub.requests] == ["halt", "info"]
    assert all(path == "/hook/s3cr3t-token-123" for path, _ in stub.requests)
    assert all("s3cr3t-token-123" not in str(body) for _, body in stub.requests)
