"""What every research command starts from: settings with overrides, candles, and the decision range."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bitsniper.candles import Candles, iso_to_ms, ms_to_iso, read_candles_csv
from bitsniper.config import Settings, load_settings, parse_overrides
from bitsniper.errors import ConfigError

__all__ = ["load_study_settings", "decision_range", "read_study_candles", "parse_date"]


def load_study_settings(overrides: list[str] | None, strategy: str | None = None) -> Settings:
    """``--set name=value`` pairs (unknown names refused with the valid list) on top of the environment."""
    values: dict[str, object] = dict(parse_overrides(overrides or []))
    if strategy is not None:
        values["strategy"] = strategy
    return load_settings(**values)


def parse_date(text: str | None, option: str) -> int | None:
    """An ISO-8601 date or time (UTC when no zone is given) as epoch ms."""
    if text is None:
        return None
    try:
        return iso_to_ms(text)
    except (ValueError, TypeError):
        raise ConfigError(f"{option}: {text!r} is not a date (use e.g. 2025-03-01 or 2025-03-01T12:00Z)") from None


def read_study_candles(path: Path, settings: Settings) -> Candles:
    """Read the candle file; its spacing must be the configured candle length (T1)."""
    candles = read_candles_csv(path)
    if len(candles) >= 2:
        step = int(np.median(np.diff(candles.time[: 1000])))
        if step != settings.candle_ms:
            raise ConfigError(
                f"{path}: candles are {step // 60_000} minutes apart but candle_minutes is "
                f"{settings.candle_minutes}; pass --set candle_minutes={step // 60_000}"
            )
    return candles


@dataclass(frozen=True, slots=True)
class DecisionRange:
    start: int  # first row decided (rows before it only warm the indicators up)
    stop: int  # one past the last row


def decision_range(candles: Candles, start_ms: int | None, stop_ms: int | None, name: str) -> DecisionRange:
    """Rows whose candle opens in ``[from, to)``; an empty range is an error that says what the file holds."""
    if start_ms is not None and stop_ms is not None and stop_ms <= start_ms:
        raise ConfigError(f"--to ({ms_to_iso(stop_ms)}) must be after --from ({ms_to_iso(start_ms)})")
    start = 0 if start_ms is None else int(np.searchsorted(candles.time, start_ms, side="left"))
    stop = len(candles) if stop_ms is None else int(np.searchsorted(candles.time, stop_ms, side="left"))
    if stop - start < 2:
        span = f"{ms_to_iso(int(candles.time[0]))} to {ms_to_iso(int(candles.time[-1]))}"
        wanted = f"{ms_to_iso(start_ms) if start_ms else 'the start'} to {ms_to_iso(stop_ms) if stop_ms else 'the end'}"
        raise ConfigError(f"no candles to backtest from {wanted} in {name} (it holds {span})")
    return DecisionRange(start, stop)
