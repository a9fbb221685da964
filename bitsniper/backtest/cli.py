"""Typer commands of the research side: backtest, optimize, walkforward, check-bias (issue 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from bitsniper.errors import BitSniperError

__all__ = ["backtest", "optimize", "walkforward", "check_bias", "register"]

err = Console(stderr=True)
out = Console()

CandlesOption = Annotated[Path, typer.Option("--candles", help="Candle CSV (optionally .gz): timestamp,open,high,low,close,volume.")]
SetOption = Annotated[Optional[list[str]], typer.Option("--set", help="Override a setting: name=value (repeatable).")]
StrategyOption = Annotated[Optional[str], typer.Option("--strategy", help="vi or rsi_volume")]
FromOption = Annotated[Optional[str], typer.Option("--from", help="First candle to decide on (UTC date/time).")]
ToOption = Annotated[Optional[str], typer.Option("--to", help="Stop before this candle (UTC date/time, exclusive).")]
QuietOption = Annotated[bool, typer.Option("--quiet", help="No progress bar.")]
PROGRESS_MIN_CANDLES = 20_000


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def backtest(
    candles: CandlesOption,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for trades.csv, equity.csv, metrics.json, report.html.")],
    strategy: StrategyOption = None,
    start: FromOption = None,
    stop: ToOption = None,
    overrides: SetOption = None,
    capital: Annotated[float, typer.Option("--capital", help="Starting capital (USD).")] = 10_000.0,
    no_report: Annotated[bool, typer.Option("--no-report", help="Skip report.html.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Backtest the engine over a candle file: decisions at each close, fills at the next open (T3)."""
    from bitsniper.backtest.study import describe_range, run_backtest_study

    with Progress(TextColumn("backtest"), BarColumn(), TextColumn("{task.completed}/{task.total} candles"),
                  TimeRemainingColumn(), console=err, transient=True, disable=quiet) as bar:
        task = None

        def progress(done: int, total: int) -> None:
            nonlocal task
            if total < PROGRESS_MIN_CANDLES:
                return
            if task is None:
                task = bar.add_task("backtest", total=total)
            bar.update(task, completed=done)

        try:
            run = run_backtest_study(candles, out_dir, strategy, start, stop, overrides, capital, not no_report,
                                     progress=None if quiet else progress)
        except BitSniperError as error:
            raise _fail(str(error)) from None
    m = run.metrics
    pf = "n/a" if m["profit_factor"] is None else f"{m['profit_factor']:.2f}"
    sharpe = "n/a" if m["sharpe"] is None else f"{m['sharpe']:.2f}"
    out.print(
        f"{run.result.params.strategy} over {describe_range(run)}: {m['trades']} trades, "
        f"return {m['total_return_pct']:.2f} %, max drawdown {m['max_drawdown_pct']:.2f} %, Sharpe {sharpe}, "
        f"profit factor {pf}, liquidations {m['liquidations']}, final equity {m['final_equity']:,.2f} USD",
        highlight=False, soft_wrap=True,
    )
    if run.report_secs is not None:
        out.print(f"report rendered in {run.report_secs:.2f} s", highlight=False, soft_wrap=True)
    out.print(f"wrote {', '.join(run.written)} to {out_dir}", highlight=False, soft_wrap=True)


GridOption = Annotated[list[str], typer.Option("--grid", help="A setting and its values: name=v1,v2,... (repeatable).")]
MetricOption = Annotated[str, typer.Option("--metric", help="Rank by: sharpe, sortino, total_return_pct, cagr_pct, max_drawdown_pct, profit_factor, ...")]
JobsOption = Annotated[Optional[int], typer.Option("--jobs", help="Worker processes (default: all cores).")]


def _bar(label: str, quiet: bool) -> Progress:
    return Progress(TextColumn(label), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeRemainingColumn(),
                    console=err, transient=True, disable=quiet)


def optimize(
    candles: CandlesOption,
    grid: GridOption,
    out_path: Annotated[Path, typer.Option("--out", help="Ranking CSV.")],
    metric: MetricOption = "sharpe",
    jobs: JobsOption = None,
    strategy: StrategyOption = None,
    start: FromOption = None,
    stop: ToOption = None,
    overrides: SetOption = None,
    capital: Annotated[float, typer.Option("--capital", help="Starting capital (USD).")] = 10_000.0,
    quiet: QuietOption = False,
) -> None:
    """Backtest every combination of the grid on all cores and rank them by a metric."""
    import time

    from bitsniper.backtest.optimize_study import run_optimize_study

    began = time.perf_counter()
    with _bar("optimize", quiet) as bar:
        task = bar.add_task("optimize", total=None)
        try:
            run = run_optimize_study(candles, out_path, grid, metric, jobs, strategy, start, stop, overrides, capital,
                                     progress=lambda done, total: bar.update(task, completed=done, total=total))
        except BitSniperError as error:
            raise _fail(str(error)) from None
    elapsed = time.perf_counter() - began
    best = run.ranked[0]
    shown = ", ".join(f"{k}={v}" for k, v in best.values.items())
    value = run.metrics[best.index].get(metric)
    out.print(f"{len(run.ranked)} combinations in {elapsed:.1f} s ({run.indicator_sets} indicator sets, "
              f"{run.frame_builds} frame builds); best {metric} "
              f"{'n/a' if value is None else f'{value:.4g}'}: {shown}", highlight=False, soft_wrap=True)
    out.print(f"wrote {out_path}", highlight=False, soft_wrap=True)


def walkforward(
    candles: CandlesOption,
    train: Annotated[str, typer.Option("--train", help="Train window length, e.g. 90d.")],
    test: Annotated[str, typer.Option("--test", help="Test window length (and step), e.g. 30d.")],
    grid: GridOption,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for windows.csv, equity.csv, trades.csv, metrics.json, report.html.")],
    metric: MetricOption = "sharpe",
    jobs: JobsOption = None,
    strategy: StrategyOption = None,
    start: FromOption = None,
    stop: ToOption = None,
    overrides: SetOption = None,
    capital: Annotated[float, typer.Option("--capital", help="Starting capital (USD).")] = 10_000.0,
    no_report: Annotated[bool, typer.Option("--no-report", help="Skip report.html.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Rolling windows: best grid point on each train window, traded on the next test window."""
    from bitsniper.backtest.walkforward import run_walkforward_study

    with _bar("walk-forward", quiet) as bar:
        task = bar.add_task("walk-forward", total=None)
        try:
            run = run_walkforward_study(candles, out_dir, train, test, grid, metric, jobs, strategy, start, stop,
                                        overrides, capital, not no_report,
                                        progress=lambda done, total: bar.update(task, completed=done, total=total))
        except BitSniperError as error:
            raise _fail(str(error)) from None
    m = run.metrics
    out.print(f"{m['windows']} windows, out-of-sample: {m['trades']} trades, return {m['total_return_pct']:.2f} %, "
              f"max drawdown {m['max_drawdown_pct']:.2f} %, final equity {m['final_equity']:,.2f} USD", highlight=False, soft_wrap=True)
    out.print(f"wrote {out_dir}", highlight=False, soft_wrap=True)


def check_bias(
    candles: CandlesOption,
    strategy: StrategyOption = None,
    start: FromOption = None,
    stop: ToOption = None,
    overrides: SetOption = None,
    warmups: Annotated[str, typer.Option("--warmups", help="Warm-up lengths to replay with, in candles.")] = "6000,10000",
    samples: Annotated[int, typer.Option("--samples", help="Decisions without action to replay (evenly spaced).")] = 200,
    out_path: Annotated[Optional[Path], typer.Option("--out", help="Also write the differences as CSV.")] = None,
    quiet: QuietOption = False,
) -> None:
    """Replay decisions with truncated histories and other warm-up lengths; list every difference (exit 1)."""
    from rich.table import Table

    from bitsniper.backtest.bias_study import run_bias_study

    with _bar("check-bias", quiet) as bar:
        task = bar.add_task("check-bias", total=None)
        try:
            report, rows = run_bias_study(candles, strategy, start, stop, overrides, warmups, samples, out_path,
                                          progress=lambda done, total: bar.update(task, completed=done, total=total))
        except BitSniperError as error:
            raise _fail(str(error)) from None
    out.print(f"replayed {report.rows_checked} decisions ({report.replays} replays: truncated history and warm-ups "
              f"{', '.join(map(str, report.warmups))}): {len(rows)} differ from the full run", highlight=False, soft_wrap=True)
    if rows:
        table = Table("check", "decision candle (N-1)", "full run", "replay")
        for row in rows:
            table.add_row(row["check"], row["decision_time"], row["full_run"], row["replay"])
        out.print(table)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the research commands to the ``bitsniper`` app (one line in ``bitsniper/cli.py``)."""
    app.command()(backtest)
    app.command()(optimize)
    app.command()(walkforward)
    app.command("check-bias")(check_bias)
