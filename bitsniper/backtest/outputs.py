"""Files a research command writes: trades, equity, metrics; all or nothing (issue 3: nothing on error)."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bitsniper.backtest.accounting import Trade
from bitsniper.backtest.metrics import drawdown_pct
from bitsniper.candles import ms_to_iso

__all__ = ["TRADE_COLUMNS", "write_trades", "write_equity", "write_json", "write_all", "write_file", "trade_rows"]

TRADE_COLUMNS = (
    "type", "side", "entry_decision_time", "entry_time", "entry_price", "entry_rsi", "exit_decision_time",
    "exit_time", "exit_price", "exit_reason", "size", "fees", "pnl", "return_pct",
)
Writer = Callable[[Path], None]


def _iso(ms: int | None) -> str:
    return "" if ms is None else ms_to_iso(ms)


def _num(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


def trade_rows(trades: Sequence[Trade]) -> list[dict[str, str]]:
    """Trades as CSV rows: ISO-8601 UTC times, prices to the cent, money to the tenth of a cent."""
    return [
        {
            "type": tr.type, "side": tr.side, "entry_decision_time": _iso(tr.entry_decision_time),
            "entry_time": _iso(tr.entry_time), "entry_price": _num(tr.entry_price, 2),
            "entry_rsi": _num(tr.entry_rsi, 4), "exit_decision_time": _iso(tr.exit_decision_time),
            "exit_time": _iso(tr.exit_time), "exit_price": _num(tr.exit_price, 2), "exit_reason": tr.exit_reason,
            "size": f"{tr.size:.4f}", "fees": _num(tr.fees, 3), "pnl": _num(tr.pnl, 3),
            "return_pct": _num(tr.return_pct, 4),
        }
        for tr in trades
    ]


def write_trades(path: Path, trades: Sequence[Trade]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=TRADE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(trade_rows(trades))


def write_equity(path: Path, times: Sequence[int], equity: Sequence[float], capital: float) -> None:
    """One row per candle close: ``time,equity,drawdown_pct``."""
    drawdown = drawdown_pct(equity, capital)
    with path.open("w", newline="") as handle:
        handle.write("time,equity,drawdown_pct\n")
        for ms, value, dd in zip(times, equity, drawdown.tolist()):
            handle.write(f"{ms_to_iso(ms)},{value:.4f},{dd:.4f}\n")


def _clean(value: Any) -> Any:
    """JSON has no infinity or NaN: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(_clean(data), indent=2, sort_keys=False) + "\n")


def write_all(directory: Path, files: Mapping[str, Writer]) -> None:
    """Write every file into a temporary folder beside ``directory``, then move them in together.

    A failure while writing leaves ``directory`` as it was: no partial set of outputs.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        for name, write in files.items():
            write(staging / name)
        if not directory.exists():
            os.replace(staging, directory)
            return
        for name in files:
            os.replace(staging / name, directory / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_file(path: Path, write: Writer) -> None:
    """One file through a temporary name in the same folder: complete or absent."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        write(Path(temp))
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
