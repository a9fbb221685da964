"""Email alerts end to end: ``send_alert`` -> Airflow's SmtpNotifier -> a real SMTP conversation with a local
sink on 127.0.0.1 (stdlib only), configured as the ``smtp_default`` connection from the environment."""

from __future__ import annotations

import base64
import email
import json
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message

import pytest

from bitsniper.airflow.notify import alert_channels, send_alert
from bitsniper.alerts import Alert
from bitsniper.config import load_settings

SMTP_LOGIN = "bitsniper-alerts"
SMTP_PASSWORD = "smtp-Pa55word-never-in-a-mail"
TELEGRAM_TOKEN = "987654321:AAF-telegram-token-never-in-a-mail-0000"
TO = "trader@example.com"
FROM = "bitsniper@example.com"


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes


@dataclass
class SmtpSink:
    """What the local SMTP server received: the AUTH credentials and every message."""

    port: int = 0
    logins: list[tuple[str, str]] = field(default_factory=list)
    mails: list[Mail] = field(default_factory=list)


def _b64(text: bytes) -> str:
    return base64.b64decode(text).decode()


def _handler(sink: SmtpSink) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        """Just enough ESMTP for smtplib: EHLO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

        def reply(self, line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")

        def read(self) -> bytes:
            return self.rfile.readline().rstrip(b"\r\n")

        def handle(self) -> None:
            self.reply("220 127.0.0.1 sink ESMTP")
            sender, recipients = "", []
            while line := self.rfile.readline():
                verb, _, arg = line.rstrip(b"\r\n").partition(b" ")
                verb = verb.upper()
                if verb == b"EHLO":
                    self.wfile.write(b"250-127.0.0.1\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n")
                elif verb == b"HELO" or verb in (b"RSET", b"NOOP"):
                    self.reply("250 ok")
                elif verb == b"AUTH":
                    mechanism, _, initial = arg.partition(b" ")
                    if mechanism.upper() == b"PLAIN":
                        if not initial:
                            self.reply("334 ")
                            initial = self.read()
                        _, user, password = _b64(initial).split("\0")
                    else:
                        self.reply("334 VXNlcm5hbWU6")
                        user = _b64(self.read())
                        self.reply("334 UGFzc3dvcmQ6")
                        password = _b64(self.read())
                    sink.logins.append((user, password))
                    self.reply("235 2.7.0 authenticated")
                elif verb == b"MAIL":
                    sender = arg.decode().partition(":")[2].strip("<> ").split(">")[0]
                    recipients = []
                    self.reply("250 ok")
                elif verb == b"RCPT":
                    recipients.append(arg.decode().partition(":")[2].strip().strip("<>"))
                    self.reply("250 ok")
                elif verb == b"DATA":
                    self.reply("354 end with <CRLF>.<CRLF>")
                    lines = []
                    while (data := self.rfile.readline()) not in (b".\r\n", b""):
                        lines.append(data[1:] if data.startswith(b"..") else data)
                    sink.mails.append(Mail(sender, recipients, b"".join(lines)))
                    self.reply("250 queued")
                elif verb == b"QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("502 not implemented")

    return Handler


@pytest.fixture
def smtp_sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    sink = SmtpSink()
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _handler(sink))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sink.port = server.server_address[1]
    connection = {
        "conn_type": "smtp", "host": "127.0.0.1", "port": sink.port, "login": SMTP_LOGIN, "password": SMTP_PASSWORD,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": FROM, "timeout": 5, "retry_limit": 0},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(connection))
    monkeypatch.setenv("BITSNIPER_ALERT_EMAIL_TO", TO)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TELEGRAM_TOKEN)
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.delenv("AIRFLOW_CONN_TELEGRAM_DEFAULT", raising=False)
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()


def _html(message: Message) -> str:
    parts = [p for p in message.walk() if p.get_content_type() == "text/html"]
    assert len(parts) == 1
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(parts[0].get_content_charset() or "utf-8")


def _check_no_secret(mail: Mail) -> None:
    raw = mail.data.decode("ascii", errors="replace")
    decoded = _html(email.message_from_bytes(mail.data)) + str(email.message_from_bytes(mail.data)["Subject"])
    for secret in (SMTP_PASSWORD, TELEGRAM_TOKEN, TELEGRAM_TOKEN.split(":")[1]):
        assert secret not in raw and secret not in decoded
        assert base64.b64encode(secret.encode()).decode()[:16] not in raw


def test_an_alert_reaches_the_smtp_server_with_the_exact_subject_and_body(smtp_sink: SmtpSink) -> None:
    settings = load_settings()
    alert = Alert(
        "failure", "circuit breaker exchange-paper is open after 5 transport failures",
        dag_id="bitsniper_monitoring", task_id="check_pipeline", run_id="scheduled__2026-03-02T10:05:00+00:00",
        details="check: circuit_breaker (critical)",
    )
    assert alert_channels(settings) == ["email"]

    assert send_alert(settings, alert) == ["email"]

    assert smtp_sink.logins == [(SMTP_LOGIN, SMTP_PASSWORD)]  # it authenticated with the connection's login
    assert len(smtp_sink.mails) == 1
    mail = smtp_sink.mails[0]
    assert (mail.sender, mail.recipients) == (FROM, [TO])
    message = email.message_from_bytes(mail.data)
    assert message["Subject"] == (
        "BitSniper failure: circuit breaker exchange-paper is open after 5 transport failures "
        "[bitsniper_monitoring.check_pipeline]"
    )
    assert (message["From"], message["To"]) == (FROM, TO)
    assert _html(message) == (
        "<pre>🔴 BitSniper FAILURE: circuit breaker exchange-paper is open after 5 transport failures\n"
        "DAG: bitsniper_monitoring / task check_pipeline\n"
        "Run: scheduled__2026-03-02T10:05:00+00:00\n"
        "check: circuit_breaker (critical)\n"
        "</pre>"
    )
    _check_no_secret(mail)


def test_secrets_inside_an_error_message_are_removed_from_the_email(smtp_sink: SmtpSink) -> None:
    error = (
        f"RuntimeError: POST https://api.telegram.org/bot{TELEGRAM_TOKEN}/sendMessage failed; "
        f"smtp login {SMTP_LOGIN}:{SMTP_PASSWORD} refused <html>"
    )
    alert = Alert("failure", f"notify failed: {error}"[:120], dag_id="bitsniper", task_id="execute_orders", details=error)

    assert send_alert(load_settings(), alert) == ["email"]

    message = email.message_from_bytes(smtp_sink.mails[0].data)
    assert message["Subject"].startswith("BitSniper failure: notify failed: RuntimeError: POST https://api.telegram.org/bot***/")
    body = _html(message)
    assert "bot***/sendMessage failed; smtp login bitsniper-alerts:*** refused &lt;html>" in body
    _check_no_secret(smtp_sink.mails[0])


def test_no_recipient_means_no_email_and_nothing_reaches_the_server(smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BITSNIPER_ALERT_EMAIL_TO")
    settings = load_settings()
    assert alert_channels(settings) == []
    assert send_alert(settings, Alert("info", "nothing to send")) == []
    assert smtp_sink.mails == [] and smtp_sink.logins == []
