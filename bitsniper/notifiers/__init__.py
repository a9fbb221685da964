"""Alert channels usable without Airflow (CLI, Telegram bot, risk checks): a JSON webhook and Telegram."""

from bitsniper.notifiers.webhook import WebhookNotifier, alert_event
from bitsniper.notifiers.channels import TelegramNotifier, operator_notifier

__all__ = ["WebhookNotifier", "alert_event", "TelegramNotifier", "operator_notifier"]
