"""``bitsniper simulator``: run the Kraken Futures simulator on 127.0.0.1 for offline runs.

Kept import-light (FastAPI and uvicorn load only when the command runs) because ``bitsniper.cli`` imports
this module to register the command.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

__all__ = ["register", "simulator"]

KEY_ENV = "BITSNIPER_SIMULATOR_API_KEY"
SECRET_ENV = "BITSNIPER_SIMULATOR_API_SECRET"


def simulator(
    candles: Annotated[
        Optional[Path], typer.Option("--candles", help="Candle CSV(.gz) replayed as PF_XBTUSD 15m trade candles.")
    ] = None,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 8787,
    api_key: Annotated[
        Optional[str], typer.Option("--api-key", help=f"Accepted API key (or env {KEY_ENV}).", show_default=False)
    ] = None,
    api_secret: Annotated[
        Optional[str],
        typer.Option("--api-secret", help=f"Accepted base64 API secret (or env {SECRET_ENV}).", show_default=False),
    ] = None,
    balance: Annotated[float, typer.Option("--balance", help="Starting USD balance.")] = 10_000.0,
    history: Annotated[
        Optional[int],
        typer.Option("--history", help="Candles already closed at start; the rest of the file closes live, one per "
                     "15 minutes (default: all of them, nothing new ever closes)."),
    ] = None,
    fault: Annotated[
        Optional[list[str]],
        typer.Option("--fault", help="Fault ENDPOINT:KIND[=VALUE][:COUNT], e.g. sendorder:drop_after_apply:2."),
    ] = None,
) -> None:
    """Serve a Kraken Futures exchange on 127.0.0.1 (charts, orders, fills, positions, auth, faults)."""
    from rich.console import Console

    from bitsniper.errors import BitSniperError
    from bitsniper.simulator.app import DEFAULT_CANDLES, build_simulator
    from bitsniper.simulator.clock import iso_ms
    from bitsniper.simulator.faults import parse_fault
    from bitsniper.simulator.server import serve_forever

    err = Console(stderr=True)
    key = api_key or os.environ.get(KEY_ENV, "")
    secret = api_secret or os.environ.get(SECRET_ENV, "")
    try:
        specs = [parse_fault(text) for text in fault or []]
        sim = build_simulator(key, secret, candles or DEFAULT_CANDLES, balance=str(balance), faults=list(specs), history=history)
    except (ValueError, BitSniperError) as error:
        err.print(f"[bold red]error:[/] {error}", highlight=False)
        raise typer.Exit(2) from None
    now = sim.clock.now_ms()
    closed = int((sim.market.candles.time + sim.market.candle_ms <= now).sum())
    err.print(
        f"Kraken Futures simulator on http://127.0.0.1:{port}  {closed} candles closed, the latest opened "
        f"{iso_ms(int(sim.market.candles.time[closed - 1]))}, {len(sim.market.candles) - closed} to close live  "
        f"balance {balance:,.2f} USD  faults {len(specs)}",
        highlight=False,
    )
    serve_forever(sim, port)


def register(app: typer.Typer) -> None:
    """Add the ``simulator`` command to the main CLI."""
    app.command("simulator")(simulator)
