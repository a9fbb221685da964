"""``bitsniper resume``: the only way to clear a reconciliation halt (design.md "Every run reconciles") or the kill switch (issue 6)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console

from bitsniper.errors import BitSniperError

__all__ = ["register", "resume_command"]

_err = Console(stderr=True)
_out = Console()


def _position(settings, mode: str, symbol: str, factory):  # type: ignore[no-untyped-def]
    """The venue's position now: Kraken (keys from the environment) live, the store's paper book in paper."""
    if mode == "paper":
        from bitsniper.exchange.paper import paper_position

        return paper_position(factory, symbol)
    from bitsniper.exchange.kraken_futures import LIVE_URL, KrakenFuturesConfig, KrakenFuturesExchange

    config = KrakenFuturesConfig.from_env(
        url=settings.exchange_url or LIVE_URL, http_timeout_secs=settings.exchange_http_timeout_secs
    )
    return KrakenFuturesExchange(config).position(symbol)


def resume_command(
    mode: Annotated[Optional[str], typer.Option("--mode", help="paper or live (default: the configured mode).")] = None,
    symbol: Annotated[Optional[str], typer.Option("--symbol", help="Instrument (default: the configured one).")] = None,
    accept_position: Annotated[
        bool,
        typer.Option(
            "--accept-position/--keep-expectation",
            help="Take the exchange's position now as the new expectation (after you fixed or accepted it).",
        ),
    ] = True,
) -> None:
    """Clear the kill switch and a trading halt after a reconciliation mismatch (by default re-based on the exchange's position)."""
    from bitsniper.config import load_settings
    from bitsniper.reconcile import halted, resume
    from bitsniper.store.db import make_session_factory

    try:
        settings = load_settings()
        chosen_mode = mode or settings.mode
        chosen_symbol = symbol or settings.symbol
        if chosen_mode not in ("paper", "live"):
            raise typer.BadParameter("--mode must be paper or live")
        factory = make_session_factory(settings.database_url.get_secret_value())
        # Issue 6: resume also turns the kill switch off (notified through the operator channels).
        from bitsniper.notifiers import operator_notifier
        from bitsniper.risk import clear_kill_switch

        cleared = clear_kill_switch(
            factory, mode=chosen_mode, symbol=chosen_symbol, notify=operator_notifier(settings)
        )
        if cleared:
            _out.print(f"kill switch cleared for {chosen_mode} {chosen_symbol}", highlight=False)
        if not halted(factory, mode=chosen_mode, symbol=chosen_symbol):
            if not cleared:
                _out.print(f"trading {chosen_mode} {chosen_symbol} is not halted: nothing to do", highlight=False)
            return
        position = _position(settings, chosen_mode, chosen_symbol, factory) if accept_position else None
        count = resume(factory, mode=chosen_mode, symbol=chosen_symbol, position=position)  # type: ignore[arg-type]
    except BitSniperError as error:
        _err.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    held = "" if position is None else f"; expectation re-based on the exchange's {position.signed_size} {chosen_symbol}"
    _out.print(f"resumed {chosen_mode} {chosen_symbol}: {count} halt alert(s) resolved{held}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("resume")(resume_command)
