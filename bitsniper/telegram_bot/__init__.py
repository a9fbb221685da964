"""``bitsniper telegram``: the operator's Telegram bot (python-telegram-bot 22, long polling)."""

from bitsniper.telegram_bot.bot import COMMANDS, build_application, run_bot

__all__ = ["COMMANDS", "build_application", "run_bot"]
