"""``bitsniper ...``: the command line (Typer + Rich). Commands are thin: logic lives in the package."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from bitsniper.errors import BitSniperError, ConfigError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="BitSniper: BTC/USD perpetual futures on Kraken Futures.")
err = Console(stderr=True)
out = Console()

from bitsniper.store.cli import db_app  # noqa: E402  (a sub-app: `bitsniper db upgrade|current`)

app.add_typer(db_app, name="db")

from bitsniper.backtest.cli import register as register_research  # noqa: E402  (backtest, optimize, ...)

register_research(app)

from bitsniper.simulator.cli import register as register_simulator  # noqa: E402  (bitsniper simulator)

register_simulator(app)

from bitsniper.execution_cli import register as register_execution  # noqa: E402  (bitsniper resume)

register_execution(app)

from bitsniper.operator_cli import register as register_operator  # noqa: E402  (kill, status, trades, telegram)

register_operator(app)

from bitsniper.backtest.cli import CandlesOption, SetOption  # noqa: E402  (one definition of the shared options)


def _fail(message: str, code: int = 2) -> "typer.Exit":
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _settings(overrides: list[str] | None = None, **fixed: object):  # type: ignore[no-untyped-def]
    from bitsniper.config import load_settings, parse_overrides

    values = parse_overrides(overrides or [])
    values.update({k: v for k, v in fixed.items() if v is not None})
    return load_settings(**values)


@app.command()
def indicators(
    candles: CandlesOption,
    out_path: Annotated[Path, typer.Option("--out", help="Output CSV path.")],
    overrides: SetOption = None,
) -> None:
    """Compute RSI, ATR and VI1-VI3 for a candle file and write them as CSV."""
    from bitsniper.backtest.outputs import write_file
    from bitsniper.candles import read_candles_csv
    from bitsniper.indicators_table import indicator_table
    from bitsniper.strategy.frame import build_frame

    try:
        settings = _settings(overrides)
        frame = build_frame(read_candles_csv(candles), settings.strategy_params())
        table = indicator_table(frame)
        write_file(out_path, lambda temp: table.to_csv(temp, index=False, float_format="%.10g"))
    except BitSniperError as error:
        raise _fail(str(error)) from None
    out.print(f"wrote {len(table)} rows to {out_path}", highlight=False)


@app.command()
def replay(
    candles: CandlesOption,
    strategy: Annotated[Optional[str], typer.Option("--strategy", help="vi or rsi_volume")] = None,
    capital: Annotated[float, typer.Option("--capital", help="Margin (USD) used for sizing.")] = 10_000.0,
    overrides: SetOption = None,
) -> None:
    """Run the decision engine over a candle file and list every action it takes (no accounting)."""
    from bitsniper.candles import ms_to_iso, read_candles_csv
    from bitsniper.strategy import Account, build_frame, decide, initial_state

    try:
        params = _settings(overrides, strategy=strategy).strategy_params()
        frame = build_frame(read_candles_csv(candles), params)
    except BitSniperError as error:
        raise _fail(str(error)) from None
    state = initial_state(params)
    account = Account(available_margin=capital, equity=capital)
    table = Table(title=f"Decisions of strategy {params.strategy!r} on {candles.name}")
    for column in ("decision candle (N-1)", "action", "type", "rule", "close", "RSI", "size BTC"):
        table.add_column(column)
    for i in range(len(frame)):
        decision = decide(state, frame, account, params, at=i)
        state = decision.state
        for action in decision.actions:
            table.add_row(
                ms_to_iso(action.decision_time), action.kind, action.position_type.value, action.reason,
                f"{frame.c[i]:.1f}", f"{frame.r[i]:.2f}", f"{action.size:g}",
            )
    out.print(table)
    out.print(f"{table.row_count} actions over {len(frame)} candles")


@app.command("config")
def show_config(overrides: SetOption = None) -> None:
    """Validate and print the effective settings (secrets hidden)."""
    try:
        settings = _settings(overrides)
    except ConfigError as error:
        raise _fail(str(error)) from None
    table = Table("setting", "value", "description")
    for name, field in type(settings).model_fields.items():
        table.add_row(name, str(getattr(settings, name)), field.description or "")
    out.print(table)


def main() -> None:
    """Console-script entry point; a bad configuration exits with status 2 and names the setting."""
    try:
        app()
    except ConfigError as error:  # pragma: no cover - commands catch their own
        err.print(f"[bold red]error:[/] {error}")
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
