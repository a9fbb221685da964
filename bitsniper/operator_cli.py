"""``bitsniper kill [--flatten]``, ``bitsniper status``, ``bitsniper trades export``, ``bitsniper telegram`` (issue 6).

``bitsniper resume`` (``execution_cli``) clears the kill switch as well as a reconciliation halt.
Notifications go straight to the operator channels of the settings (webhook, Telegram): no Airflow here.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from bitsniper.errors import BitSniperError

__all__ = ["register", "kill_command", "status_command", "export_command", "telegram_command", "trades_app"]

_err = Console(stderr=True)
_out = Console()

ModeOption = Annotated[Optional[str], typer.Option("--mode", help="paper or live (default: the configured mode).")]
SymbolOption = Annotated[Optional[str], typer.Option("--symbol", help="Instrument (default: the configured one).")]

trades_app = typer.Typer(add_completion=False, no_args_is_help=True, help="The trade journal.")


def _fail(message: str) -> typer.Exit:
    _err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _context(mode: str | None, symbol: str | None):  # type: ignore[no-untyped-def]
    from bitsniper.config import load_settings
    from bitsniper.store.db import make_session_factory

    settings = load_settings()
    chosen_mode = mode or settings.mode
    if chosen_mode not in ("paper", "live"):
        raise typer.BadParameter("--mode must be paper or live")
    if chosen_mode != settings.mode:
        settings = settings.model_copy(update={"mode": chosen_mode})
    factory = make_session_factory(settings.database_url.get_secret_value())
    return settings, factory, chosen_mode, symbol or settings.symbol


def kill_command(
    flatten: Annotated[bool, typer.Option("--flatten", help="Also close the position now (reduce-only, exactly once).")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why (stored with the switch and notified).")] = "manual kill from the CLI",
    mode: ModeOption = None,
    symbol: SymbolOption = None,
) -> None:
    """Turn the kill switch on: no new entry until `bitsniper resume` (exits still apply)."""
    from bitsniper.controls import kill, trading_exchange
    from bitsniper.notifiers import operator_notifier

    try:
        settings, factory, chosen_mode, chosen_symbol = _context(mode, symbol)
        exchange = trading_exchange(settings, factory) if flatten else None
        changed, report = kill(
            factory, settings, mode=chosen_mode, symbol=chosen_symbol, reason=reason, source="cli",
            notify=operator_notifier(settings), exchange=exchange,
        )
    except BitSniperError as error:
        raise _fail(str(error)) from None
    state = "turned ON" if changed else "was already ON"
    _out.print(f"kill switch {state} for {chosen_mode} {chosen_symbol}", highlight=False)
    if flatten:
        if report is None:
            _out.print("flatten: the position is already flat, nothing sent", highlight=False)
        else:
            for outcome in report.outcomes:
                _out.print(f"flatten: order {outcome.cli_ord_id} {outcome.status} {outcome.filled_size.normalize():f} BTC", highlight=False)


def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the facts as JSON.")] = False,
    mode: ModeOption = None,
    symbol: SymbolOption = None,
) -> None:
    """Mode, position, indicators, last run, breaker, kill switch and risk limits (the facts of /status)."""
    from bitsniper.controls import format_status, status

    try:
        settings, factory, chosen_mode, chosen_symbol = _context(mode, symbol)
        if chosen_symbol != settings.symbol:
            settings = settings.model_copy(update={"symbol": chosen_symbol})
        facts = status(factory, settings)
    except BitSniperError as error:
        raise _fail(str(error)) from None
    if as_json:
        print(json.dumps(asdict(facts), default=str))
    else:
        _out.print(format_status(facts), highlight=False, soft_wrap=True)


@trades_app.command("export")
def export_command(
    out_path: Annotated[Path, typer.Option("--out", help="Output file.")],
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
    mode: ModeOption = None,
    symbol: SymbolOption = None,
) -> None:
    """Write every trade (entry, exit, rules, prices, fees, net PnL) as CSV or JSON lines."""
    from bitsniper.journal import export_trades, trades

    if fmt not in ("csv", "jsonl"):
        raise _fail(f"--format must be csv or jsonl, not {fmt!r}")
    try:
        _, factory, chosen_mode, chosen_symbol = _context(mode, symbol)
        count = export_trades(trades(factory, mode=chosen_mode, symbol=chosen_symbol), out_path, fmt)  # type: ignore[arg-type]
    except BitSniperError as error:
        raise _fail(str(error)) from None
    _out.print(f"wrote {count} trades to {out_path}", highlight=False)


def telegram_command() -> None:
    """Run the Telegram bot (long polling) until stopped; only TELEGRAM_ALLOWED_CHAT_IDS are obeyed."""
    from bitsniper.config import load_settings
    from bitsniper.telegram_bot import run_bot

    try:
        run_bot(load_settings())
    except BitSniperError as error:
        raise _fail(str(error)) from None


def register(app: typer.Typer) -> None:
    app.command("kill")(kill_command)
    app.command("status")(status_command)
    app.command("telegram")(telegram_command)
    app.add_typer(trades_app, name="trades")
