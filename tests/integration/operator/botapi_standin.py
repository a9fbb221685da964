"""A local Telegram Bot API stand-in on 127.0.0.1 for the bot's tests (python-telegram-bot takes its base_url).

It serves the methods the bot uses: getMe, deleteWebhook, getUpdates (crafted updates fed by the test),
sendMessage, answerCallbackQuery, editMessageText; it records every call with its parameters. Requests
come form-encoded (nested objects as JSON strings), as python-telegram-bot sends them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs

from tests.local_http import JsonHandler, serving

TOKEN = "123456789:AAtest-token-for-the-stand-in-0123456789"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "BitSniper", "username": "bitsniper_test_bot"}


class BotApiStandIn:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.updates: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._next_update = 1
        self._next_message = 1000
        self.url = ""

    # --- what tests feed ------------------------------------------------------------------------------

    def _user(self, chat_id: int) -> dict[str, Any]:
        return {"id": chat_id, "is_bot": False, "first_name": "Trader"}

    def send_text(self, chat_id: int, text: str) -> int:
        """Queue a message from ``chat_id`` (a command gets its bot_command entity, as Telegram sends it)."""
        with self.lock:
            uid, mid = self._next_update, self._next_message
            self._next_update += 1
            self._next_message += 1
            message: dict[str, Any] = {
                "message_id": mid, "date": int(time.time()), "chat": {"id": chat_id, "type": "private"},
                "from": self._user(chat_id), "text": text,
            }
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
            self.updates.append({"update_id": uid, "message": message})
            return uid

    def press(self, chat_id: int, message_id: int, data: str) -> int:
        """Queue a press on an inline button of the bot's message ``message_id``."""
        with self.lock:
            uid = self._next_update
            self._next_update += 1
            self.updates.append({
                "update_id": uid,
                "callback_query": {
                    "id": f"cb{uid}", "from": self._user(chat_id), "chat_instance": "ci", "data": data,
                    "message": {"message_id": message_id, "date": int(time.time()),
                                "chat": {"id": chat_id, "type": "private"}, "from": BOT_USER, "text": "?"},
                },
            })
            return uid

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        with self.lock:
            return [params for name, params in self.calls if name == method]

    def wait_for(self, method: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.calls_of(method)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{method}: expected {count} calls, got {self.calls_of(method)}")

    def wait_consumed(self, timeout: float = 10.0) -> None:
        """Until the bot has fetched every queued update (an offset past them)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self.updates:
                    return
            time.sleep(0.02)
        raise AssertionError("the bot did not fetch the queued updates")

    # --- the API --------------------------------------------------------------------------------------

    def handle(self, method: str, params: dict[str, Any]) -> Any:
        with self.lock:
            self.calls.append((method, params))
        if method == "getMe":
            return BOT_USER
        if method in ("deleteWebhook", "answerCallbackQuery", "setMyCommands"):
            return True
        if method == "getUpdates":
            offset = int(params.get("offset") or 0)
            with self.lock:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                ready = list(self.updates)
            if not ready:
                time.sleep(min(float(params.get("timeout") or 0), 0.01))
            return ready
        if method in ("sendMessage", "editMessageText"):
            with self.lock:
                mid = self._next_message if method == "sendMessage" else int(params.get("message_id", 0))
                self._next_message += 1
            chat = int(params["chat_id"])
            return {"message_id": mid, "date": int(time.time()), "chat": {"id": chat, "type": "private"},
                    "from": BOT_USER, "text": params.get("text", "")}
        raise KeyError(method)


def _params(handler: JsonHandler) -> dict[str, Any]:
    body = handler.body()
    kind = handler.headers.get("Content-Type", "")
    if "json" in kind:
        return json.loads(body or b"{}")
    params: dict[str, Any] = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    for key, value in list(params.items()):
        if isinstance(value, str) and value[:1] in "[{":
            params[key] = json.loads(value)
    return params


@contextmanager
def running_standin() -> Iterator[BotApiStandIn]:
    api = BotApiStandIn()

    class Handler(JsonHandler):
        def do_POST(self) -> None:  # noqa: N802
            prefix, _, method = self.path.rpartition("/")
            if prefix != f"/bot{TOKEN}":
                status, reply = 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            else:
                try:
                    status, reply = 200, {"ok": True, "result": api.handle(method, _params(self))}
                except KeyError:
                    status, reply = 404, {"ok": False, "error_code": 404, "description": "Not Found"}
            self.reply_json(status, reply)

    with serving(Handler) as base:
        api.url = f"{base}/bot"
        yield api
