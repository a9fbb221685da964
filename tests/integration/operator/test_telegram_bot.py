"""The Telegram bot with the real python-telegram-bot against a local Bot API stand-in (issue 6):
commands, the allow-list (silence and a log line for strangers) and the confirmation flow of /close."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from telegram.ext import Application

from bitsniper.alerts import Alert
from bitsniper.config import load_settings
from bitsniper.risk import kill_switch
from bitsniper.simulator.testing import running_simulator
from bitsniper.store import SessionFactory
from bitsniper.telegram_bot import build_application

from botapi_standin import TOKEN, BotApiStandIn, running_standin
from operator_kit import SYMBOL
from test_flatten import CANDLES, POLICY, _exchange, _open_long

OWNER, STRANGER = 111, 999


@pytest.fixture
def api() -> Iterator[BotApiStandIn]:
    with running_standin() as standin:
        yield standin


@contextmanager
def running_bot(app: Application) -> Iterator[None]:
    """Poll the stand-in from a thread with its own event loop, as `bitsniper telegram` does in its process."""
    loop = asyncio.new_event_loop()
    started, stop = threading.Event(), asyncio.Event()

    async def main() -> None:
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0.0, timeout=0)
            started.set()
            await stop.wait()
            await app.updater.stop()
            await app.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(10), "the bot did not start"
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def _settings(store_url: str, api: BotApiStandIn, **values: object):  # type: ignore[no-untyped-def]
    return load_settings(database_url=store_url, telegram_bot_token=TOKEN, telegram_allowed_chat_ids=[OWNER],
                         telegram_api_url=api.url, **values)


def test_commands_answer_the_allowed_chat_and_a_stranger_gets_silence_and_a_log_line(
    factory: SessionFactory, store_url: str, api: BotApiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    # Arrange
    sent: list[Alert] = []
    app = build_application(_settings(store_url, api), factory, exchange=lambda: None, notify=sent.append)  # type: ignore[arg-type,return-value]
    script = ["/status", "/pause", "/status", "/pnl", "/trades", "/trades abc", "/pause now", "/frobnicate", "/resume", "/help"]
    # Act
    with caplog.at_level(logging.WARNING, logger="bitsniper.telegram"), running_bot(app):
        api.send_text(STRANGER, "/pause")
        api.send_text(STRANGER, "/status")
        for text in script:
            api.send_text(OWNER, text)
        replies = api.wait_for("sendMessage", len(script))
    # Assert
    assert {int(r["chat_id"]) for r in replies} == {OWNER}  # not one word to the stranger
    texts = [r["text"] for r in replies]
    assert "Kill switch: off" in texts[0]
    assert texts[1].startswith("Kill switch ON")
    assert "Kill switch: ON (/pause from telegram chat 111)" in texts[2]
    assert "Entries: blocked: kill switch on" in texts[2]
    assert texts[3].startswith("PnL today: 0.00 USD (0 trades)")
    assert texts[4] == "No trades yet."
    assert texts[5].startswith("Usage: /trades [N]")
    assert "takes no argument" in texts[6]
    assert texts[7].startswith("Unknown command")
    assert texts[8].startswith("Kill switch OFF")
    assert all(f"/{name}" in texts[9] for name in ("status", "pnl", "balance", "trades", "pause", "resume", "kill", "close"))
    assert kill_switch(factory, mode="paper", symbol=SYMBOL) is None
    assert [a.kind for a in sent] == ["halt", "info"]  # the stranger's /pause changed nothing
    ignored = [r for r in caplog.records if "not in TELEGRAM_ALLOWED_CHAT_IDS" in r.getMessage()]
    assert len(ignored) == 2 and all("999" in r.getMessage() for r in ignored)
    assert TOKEN not in caplog.text


def test_close_asks_first_cancel_changes_nothing_and_yes_flattens_exactly_once(
    factory: SessionFactory, store_url: str, api: BotApiStandIn
) -> None:
    with running_simulator(CANDLES) as running:
        # Arrange
        exchange = _exchange(running.url)
        _open_long(factory, exchange)
        settings = _settings(store_url, api, mode="live", live_trading_enabled=True, exchange="simulator",
                             exchange_url=running.url)
        app = build_application(settings, factory, exchange=lambda: exchange, notify=lambda alert: None, policy=POLICY)
        with running_bot(app):
            # Act: ask, cancel
            api.send_text(OWNER, "/close")
            [question] = api.wait_for("sendMessage", 1)
            buttons = [b["callback_data"] for row in question["reply_markup"]["inline_keyboard"] for b in row]
            api.press(OWNER, 1000, "close:no")
            [cancelled] = api.wait_for("editMessageText", 1)
            orders_after_cancel = len(running.sim.state.orders)
            # a stranger pressing yes on the owner's question is ignored
            api.press(STRANGER, 1000, "close:yes")
            api.wait_consumed()
            # ask again, confirm
            api.send_text(OWNER, "/close")
            api.wait_for("sendMessage", 2)
            api.press(OWNER, 1000, "close:yes")
            edits = api.wait_for("editMessageText", 2)
            api.send_text(OWNER, "/status")
            api.send_text(OWNER, "/balance")
            api.send_text(OWNER, "/trades 5")
            status, balance, journal = (r["text"] for r in api.wait_for("sendMessage", 5)[2:5])
        # Assert
        assert "Really close the live PF_XBTUSD position?" in question["text"]
        assert buttons == ["close:yes", "close:no"]
        assert cancelled["text"] == "/close cancelled: nothing was changed."
        assert orders_after_cancel == 1  # only the entry
        assert len(api.calls_of("answerCallbackQuery")) == 2  # the stranger's press got no answer
        assert edits[1]["text"] == "Close: Closed: filled 0.02 BTC."
        with running.sim.state.lock:
            orders = list(running.sim.state.orders.values())
        closes = [o for o in orders if o.reduce_only]
        assert len(orders) == 2 and len(closes) == 1 and closes[0].side == "sell"
        assert exchange.position(SYMBOL).is_flat
        assert "Position: flat" in status
        assert balance.startswith("Balance (live): equity ") and "available margin" in balance
        assert journal.count("\n") == 0 and "LONG_VI2 long 0.02 BTC @ " in journal and "KILL" in journal
        assert kill_switch(factory, mode="live", symbol=SYMBOL) is None  # /close alone leaves entries allowed


def test_kill_switch_changes_reach_the_allowed_chats_through_the_bot_api(
    factory: SessionFactory, store_url: str, api: BotApiStandIn
) -> None:
    from bitsniper.notifiers import operator_notifier
    from bitsniper.risk import clear_kill_switch, engage_kill_switch

    notify = operator_notifier(_settings(store_url, api))
    engage_kill_switch(factory, mode="paper", symbol=SYMBOL, reason="drawdown test", source="drawdown", notify=notify)
    clear_kill_switch(factory, mode="paper", symbol=SYMBOL, notify=notify)
    messages = api.calls_of("sendMessage")
    assert [int(m["chat_id"]) for m in messages] == [OWNER, OWNER]
    assert "kill switch ON for paper PF_XBTUSD" in messages[0]["text"] and "drawdown test" in messages[0]["text"]
    assert "kill switch OFF" in messages[1]["text"]
