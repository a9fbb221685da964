"""Candle frames: CSV input with line-precise errors, closed-candle selection, gap detection (T1, T2, T5)."""

from __future__ import annotations

import gzip
import io
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from bitsniper.errors import CandleFileError

__all__ = ["Candles", "read_candles_csv", "closed_only", "gap_indices", "ms_to_iso", "iso_to_ms", "COLUMNS"]

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
_PRICE_COLUMNS = ("open", "high", "low", "close")
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Candles:
    """Closed candles as column arrays; ``time`` is the candle open time in epoch milliseconds (UTC)."""

    time: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return int(self.time.shape[0])

    def slice(self, start: int | None = None, stop: int | None = None) -> "Candles":
        s = slice(start, stop)
        return Candles(self.time[s], self.open[s], self.high[s], self.low[s], self.close[s], self.volume[s])

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "Candles":
        """Build from a DataFrame with the CSV columns and an int64 ms ``timestamp``."""
        return cls(
            time=frame["timestamp"].to_numpy(dtype=np.int64, copy=True),
            **{c: frame[c].to_numpy(dtype=np.float64, copy=True) for c in COLUMNS[1:]},
        )

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"timestamp": self.time, "open": self.open, "high": self.high, "low": self.low,
             "close": self.close, "volume": self.volume}
        )


def ms_to_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_to_ms(text: str) -> int:
    stamp = pd.Timestamp(text)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value // 1_000_000)


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise CandleFileError(str(path), None, f"cannot read the file ({error.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise CandleFileError(str(path), None, f"corrupt gzip data ({error})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CandleFileError(str(path), None, "not UTF-8 text") from None


def _parse_timestamps(values: pd.Series, path: str, lines: IntArray) -> IntArray:
    """Accept epoch milliseconds or ISO-8601 (naive means UTC); name the first bad line."""
    text = values.astype("string").str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().all():
        if (numeric % 1 != 0).any():
            bad = int(np.flatnonzero((numeric % 1 != 0).to_numpy())[0])
            raise CandleFileError(path, int(lines[bad]), f"timestamp {text.iloc[bad]!r} is not whole milliseconds")
        return numeric.to_numpy(dtype=np.int64)
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    bad_mask = parsed.isna().to_numpy()
    if bad_mask.any():
        bad = int(np.flatnonzero(bad_mask)[0])
        raise CandleFileError(path, int(lines[bad]), f"unparsable timestamp {text.iloc[bad]!r}")
    return (parsed.astype("datetime64[ms, UTC]").astype("int64")).to_numpy(dtype=np.int64)


def read_candles_csv(path: str | Path) -> Candles:
    """Read and check a candle CSV (optionally gzip); any problem raises ``CandleFileError`` with its line."""
    path = Path(path)
    name = str(path)
    text = _read_text(path)
    try:
        with warnings.catch_warnings():
            # index_col=False: a row with an extra field must not turn the first column into an index
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False, index_col=False
            )
    except (pd.errors.ParserError, pd.errors.ParserWarning) as error:
        ragged = _first_ragged_line(text)
        if ragged is None:
            raise CandleFileError(name, None, f"not a CSV file ({str(error).strip()})") from None
        line, fields, width = ragged
        raise CandleFileError(name, line, f"{fields} fields where the header has {width}") from None
    except pd.errors.EmptyDataError as error:
        raise CandleFileError(name, None, f"not a CSV file ({str(error).strip()})") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise CandleFileError(name, 1, f"missing column(s) {', '.join(missing)}; header must be {','.join(COLUMNS)}")
    # Blank lines are skipped, but every row keeps its line in the file (header = line 1) for errors.
    blank = ((frame.iloc[:, 0].str.strip() == "") & (frame.iloc[:, 1:] == "").all(axis=1)).to_numpy()
    lines = np.flatnonzero(~blank).astype(np.int64) + 2
    frame = frame.loc[~blank].reset_index(drop=True)
    if frame.empty:
        raise CandleFileError(name, None, "no candles")
    times = _parse_timestamps(frame["timestamp"], name, lines)
    columns: dict[str, FloatArray] = {}
    for column in COLUMNS[1:]:
        values = pd.to_numeric(frame[column].str.strip(), errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise CandleFileError(name, int(lines[row]), f"unparsable {column} {frame[column].iloc[row]!r}")
        columns[column] = values
    candles = Candles(time=times, **columns)
    problem = check_candles(candles)
    if problem is not None:
        row, message = problem
        raise CandleFileError(name, int(lines[row]), message)
    return candles


def _first_ragged_line(text: str) -> tuple[int, int, int] | None:
    """(line, fields, header fields) of the first line whose field count differs from the header's."""
    rows = text.splitlines()
    width = rows[0].count(",") + 1 if rows else 0
    for number, row in enumerate(rows[1:], start=2):
        if row.strip() and row.count(",") + 1 != width:
            return number, row.count(",") + 1, width
    return None


def check_candles(candles: Candles) -> tuple[int, str] | None:
    """Return (row, problem) for the first inconsistent candle, or None when all are sound."""
    steps = np.diff(candles.time)
    if (steps == 0).any():
        row = int(np.flatnonzero(steps == 0)[0]) + 1
        return row, f"duplicate timestamp {ms_to_iso(int(candles.time[row]))}"
    if (steps < 0).any():
        row = int(np.flatnonzero(steps < 0)[0]) + 1
        return row, f"timestamp {ms_to_iso(int(candles.time[row]))} is not after the previous one (unsorted)"
    for column in _PRICE_COLUMNS:
        values = getattr(candles, column)
        if (values <= 0).any():
            row = int(np.flatnonzero(values <= 0)[0])
            return row, f"non-positive {column} price {float(values[row])!r}"
    if (candles.volume < 0).any():
        row = int(np.flatnonzero(candles.volume < 0)[0])
        return row, f"negative volume {float(candles.volume[row])!r}"
    if (candles.high < candles.low).any():
        row = int(np.flatnonzero(candles.high < candles.low)[0])
        return row, f"high {float(candles.high[row])!r} is below low {float(candles.low[row])!r}"
    return None


def closed_only(candles: Candles, now_ms: int, interval_ms: int) -> Candles:
    """Keep candles that have closed (T2: ``open_time + interval <= now``), chosen by timestamp."""
    keep = candles.time + interval_ms <= now_ms
    if keep.all():
        return candles
    index = np.flatnonzero(keep)
    return Candles(*(getattr(candles, f)[index] for f in ("time", "open", "high", "low", "close", "volume")))


def gap_indices(time: IntArray, interval_ms: int) -> IntArray:
    """Indices i whose candle does not directly follow candle i-1 (a hole in the history, T5)."""
    return np.flatnonzero(np.diff(time) != interval_ms) + 1
