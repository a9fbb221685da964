"""``bitsniper check-bias``: settings, candles and range in; the bias report (and an optional CSV) out."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from bitsniper.backtest.bias import BiasReport, check_bias, findings_table
from bitsniper.backtest.inputs import decision_range, load_study_settings, parse_date, read_study_candles
from bitsniper.backtest.outputs import write_file
from bitsniper.backtest.runner import costs_from_settings
from bitsniper.errors import ConfigError

__all__ = ["run_bias_study", "parse_warmups"]


def parse_warmups(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"--warmups expects candle counts like 6000,10000, got {text!r}") from None
    if any(v < 2 for v in values):
        raise ConfigError(f"--warmups must be at least 2 candles each, got {text!r}")
    return values


def run_bias_study(
    candles_path: Path, strategy: str | None, start: str | None, stop: str | None, overrides: list[str] | None,
    warmups: str, samples: int, out_path: Path | None, progress: Callable[[int, int], None] | None = None,
) -> tuple[BiasReport, list[dict[str, str]]]:
    if samples < 0:
        raise ConfigError(f"--samples must not be negative, got {samples}")
    lengths = parse_warmups(warmups)
    settings = load_study_settings(overrides, strategy)
    params = settings.strategy_params()
    candles = read_study_candles(candles_path, settings)
    rows = decision_range(candles, parse_date(start, "--from"), parse_date(stop, "--to"), str(candles_path))
    report = check_bias(candles, params, costs_from_settings(settings), 10_000.0, rows.start, rows.stop, lengths,
                        samples, progress=progress)
    table = findings_table(report)
    if out_path is not None:
        def write(path: Path) -> None:
            with path.open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=["check", "decision_time", "full_run", "replay"],
                                        lineterminator="\n")
                writer.writeheader()
                writer.writerows(table)

        write_file(out_path, write)
    return report, table
