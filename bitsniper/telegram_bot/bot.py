"""The Telegram bot: /status /pnl /balance /trades /pause /resume /kill /close /help (issue 6).

Only chats in ``TELEGRAM_ALLOWED_CHAT_IDS`` are obeyed: a guard in handler group -1 stops every update from
any other chat before a handler sees it, logs the attempt and answers nothing (an answer would confirm the
bot exists to a stranger). Everything acts through the store (``bitsniper.controls``), so the DAG sees it
on its next run; blocking work (database, exchange) runs in a worker thread, off the bot's event loop.

/pause and /resume turn the kill switch on and off (no new entry; exits still apply). /close (flatten) and
/kill (kill switch + flatten) ask for a confirmation button first; the flatten goes through the pipeline's
exactly-once execution. /resume does not clear a reconciliation halt: that needs ``bitsniper resume``,
which re-bases on the exchange's position.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bitsniper.alerts import Alert, redact
from bitsniper.config import Settings
from bitsniper.errors import BitSniperError, ConfigError
from bitsniper.store.db import SessionFactory

if TYPE_CHECKING:
    from bitsniper.exchange.base import Exchange
    from bitsniper.execution import ExecutionPolicy

__all__ = ["COMMANDS", "build_application", "run_bot"]

log = logging.getLogger("bitsniper.telegram")

COMMANDS: dict[str, str] = {
    "status": "mode, position (type, entry RSI, target), indicators, last run, breaker, kill switch",
    "pnl": "profit and loss: today, 7 days, all time",
    "balance": "the account's margin and equity on the venue",
    "trades": "the last 10 trades (/trades N for up to 50)",
    "pause": "kill switch on: no new entry (exits still apply)",
    "resume": "kill switch off: entries allowed again",
    "kill": "kill switch on AND close the position (asks to confirm)",
    "close": "close the position now (asks to confirm)",
    "help": "this list",
}
Notify = Callable[[Alert], None]


class _Bot:
    """The handlers, bound to the settings, the store and (lazily) the trading venue."""

    def __init__(self, settings: Settings, factory: SessionFactory, exchange: Callable[[], "Exchange"],
                 notify: Notify, policy: "ExecutionPolicy | None") -> None:
        self.settings = settings
        self.factory = factory
        self.exchange = exchange
        self.notify = notify
        self.policy = policy
        self.allowed = frozenset(settings.telegram_allowed_chat_ids)
        self.mode, self.symbol = settings.mode, settings.symbol

    # --- the allow-list -------------------------------------------------------------------------------

    async def guard(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None or chat.id not in self.allowed:
            user = update.effective_user if isinstance(update, Update) else None
            text = update.effective_message.text if isinstance(update, Update) and update.effective_message else None
            log.warning(
                "telegram: ignored an update from chat %s (user %s, text %r): not in TELEGRAM_ALLOWED_CHAT_IDS",
                None if chat is None else chat.id, None if user is None else user.id, (text or "")[:40],
            )
            raise ApplicationHandlerStop

    # --- helpers --------------------------------------------------------------------------------------

    async def _reply(self, update: Update, text: str, **kwargs: Any) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(redact(text)[:4000], **kwargs)

    async def _run(self, update: Update, work: Callable[[], str]) -> None:
        """Run blocking work in a thread; a failure becomes a clear reply, never a crash of the bot."""
        try:
            text = await asyncio.to_thread(work)
        except BitSniperError as error:
            text = f"Failed: {error}"
        except Exception as error:  # noqa: BLE001 - the bot must keep answering
            log.exception("telegram command failed")
            text = f"Failed: {type(error).__name__}: {error}"
        await self._reply(update, text)

    def _no_args(self, context: ContextTypes.DEFAULT_TYPE, name: str) -> str | None:
        if context.args:
            return f"/{name} takes no argument. Nothing was changed. See /help."
        return None

    # --- read-only commands ---------------------------------------------------------------------------

    async def status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        from bitsniper.controls import format_status, status

        if (bad := self._no_args(context, "status")) is not None:
            return await self._reply(update, bad)
        await self._run(update, lambda: format_status(status(self.factory, self.settings)))

    async def pnl(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        from bitsniper.controls import format_pnl, pnl_summary

        if (bad := self._no_args(context, "pnl")) is not None:
            return await self._reply(update, bad)
        await self._run(update, lambda: format_pnl(pnl_summary(self.factory, mode=self.mode, symbol=self.symbol)))

    async def balance(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if (bad := self._no_args(context, "balance")) is not None:
            return await self._reply(update, bad)

        def work() -> str:
            info = self.exchange().account()
            return (f"Balance ({self.mode}): equity {info.equity:,.2f} USD, available margin "
                    f"{info.available_margin:,.2f} USD, initial margin {info.initial_margin:,.2f} USD")

        await self._run(update, work)

    async def trades(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        from bitsniper.controls import format_trades
        from bitsniper.journal import trades

        limit = 10
        if context.args:
            arg = context.args[0]
            if len(context.args) > 1 or not arg.isdigit() or not 1 <= int(arg) <= 50:
                return await self._reply(update, "Usage: /trades [N] with N from 1 to 50. Nothing was changed.")
            limit = int(arg)
        await self._run(update, lambda: format_trades(trades(self.factory, mode=self.mode, symbol=self.symbol), limit))

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        lines = [f"BitSniper {self.mode} {self.symbol}"] + [f"/{name} - {text}" for name, text in COMMANDS.items()]
        await self._reply(update, "\n".join(lines))

    # --- commands that change something ---------------------------------------------------------------

    def _who(self, update: Update) -> str:
        chat = update.effective_chat
        return f"telegram chat {chat.id if chat else '?'}"

    async def pause(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        from bitsniper.risk import engage_kill_switch

        if (bad := self._no_args(context, "pause")) is not None:
            return await self._reply(update, bad)
        who = self._who(update)

        def work() -> str:
            changed = engage_kill_switch(self.factory, mode=self.mode, symbol=self.symbol, reason=f"/pause from {who}",
                                         source="telegram", notify=self.notify)
            return "Kill switch ON: no new entry until /resume." if changed else "The kill switch was already ON."

        await self._run(update, work)

    async def resume(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        from bitsniper.reconcile import halted
        from bitsniper.risk import clear_kill_switch

        if (bad := self._no_args(context, "resume")) is not None:
            return await self._reply(update, bad)

        def work() -> str:
            count = clear_kill_switch(self.factory, mode=self.mode, symbol=self.symbol, notify=self.notify)
            text = "Kill switch OFF: entries allowed again." if count else "The kill switch was not on."
            if halted(self.factory, mode=self.mode, symbol=self.symbol):
                text += " Trading is still HALTED by reconciliation: run `bitsniper resume` on the server."
            return text

        await self._run(update, work)

    async def ask(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/close and /kill: ask first; the button carries the action."""
        assert update.effective_message is not None and update.effective_message.text is not None
        name = update.effective_message.text.split()[0].lstrip("/").split("@")[0].lower()
        if (bad := self._no_args(context, name)) is not None:
            return await self._reply(update, bad)
        what = "turn the kill switch ON and close" if name == "kill" else "close"
        buttons = InlineKeyboardMarkup([[
            InlineKeyboardButton("Yes, do it", callback_data=f"{name}:yes"),
            InlineKeyboardButton("Cancel", callback_data=f"{name}:no"),
        ]])
        await self._reply(update, f"Really {what} the {self.mode} {self.symbol} position?", reply_markup=buttons)

    async def confirm(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        from bitsniper.controls import flatten, kill

        query = update.callback_query
        assert query is not None
        await query.answer()
        name, _, answer = (query.data or "").partition(":")
        if name not in ("close", "kill") or answer not in ("yes", "no"):
            await query.edit_message_text("Unknown button: nothing was changed.")
            return
        if answer == "no":
            await query.edit_message_text(f"/{name} cancelled: nothing was changed.")
            return
        who = self._who(update)

        def work() -> str:
            now_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
            if name == "kill":
                changed, report = kill(self.factory, self.settings, mode=self.mode, symbol=self.symbol,
                                       reason=f"/kill from {who}", source="telegram", notify=self.notify,
                                       exchange=self.exchange(), now_ms=now_ms, policy=self.policy)
                head = "Kill switch ON." if changed else "Kill switch was already ON."
            else:
                report = flatten(self.factory, self.exchange(), self.settings, mode=self.mode, symbol=self.symbol,
                                 now_ms=now_ms, policy=self.policy)
                head = "Close:"
            if report is None:
                return f"{head} The position is already flat: nothing sent."
            orders = ", ".join(f"{o.status} {o.filled_size.normalize():f} BTC" for o in report.outcomes)
            return f"{head} Closed: {orders}."

        try:
            text = await asyncio.to_thread(work)
        except BitSniperError as error:
            text = f"Failed: {error}"
        except Exception as error:  # noqa: BLE001
            log.exception("telegram confirmation failed")
            text = f"Failed: {type(error).__name__}: {error}"
        await query.edit_message_text(redact(text)[:4000])

    async def unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, "Unknown command: nothing was changed. See /help.")


def build_application(
    settings: Settings,
    factory: SessionFactory,
    *,
    exchange: Callable[[], "Exchange"] | None = None,
    notify: Notify | None = None,
    policy: "ExecutionPolicy | None" = None,
) -> Application:
    """The bot (not started); ``settings.telegram_api_url`` points it at another Bot API (tests: a stand-in)."""
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value():
        raise ConfigError("telegram_bot_token (TELEGRAM_BOT_TOKEN) must be set to run the bot")
    if not settings.telegram_allowed_chat_ids:
        raise ConfigError("telegram_allowed_chat_ids (TELEGRAM_ALLOWED_CHAT_IDS) is empty: the bot would obey no one")
    if exchange is None:
        from bitsniper.controls import trading_exchange

        def exchange() -> "Exchange":
            return trading_exchange(settings, factory)

    if notify is None:
        from bitsniper.notifiers import operator_notifier

        notify = operator_notifier(settings)
    builder = Application.builder().token(settings.telegram_bot_token.get_secret_value())
    if settings.telegram_api_url:
        builder = builder.base_url(settings.telegram_api_url)
    app = builder.build()
    bot = _Bot(settings, factory, exchange, notify, policy)
    app.add_handler(TypeHandler(Update, bot.guard), group=-1)
    for name in ("status", "pnl", "balance", "trades", "pause", "resume", "help"):
        app.add_handler(CommandHandler(name, getattr(bot, name)))
    app.add_handler(CommandHandler("start", bot.help))
    app.add_handler(CommandHandler(["close", "kill"], bot.ask))
    app.add_handler(CallbackQueryHandler(bot.confirm))
    app.add_handler(MessageHandler(filters.COMMAND, bot.unknown))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, bot.help))
    return app


def run_bot(settings: Settings) -> None:
    """Long polling until stopped (SIGINT/SIGTERM): its own process, a service of docker-compose."""
    from bitsniper.store.db import make_session_factory

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its request lines carry the bot token
    factory = make_session_factory(settings.database_url.get_secret_value())
    app = build_application(settings, factory)
    log.info("telegram bot started for %s %s; %d allowed chat(s)", settings.mode, settings.symbol,
             len(settings.telegram_allowed_chat_ids))
    app.run_polling(allowed_updates=Update.ALL_TYPES)
