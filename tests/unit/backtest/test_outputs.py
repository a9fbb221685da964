"""Outputs are all or nothing; inputs refuse what cannot be studied."""

from __future__ import annotations

from pathlib import Path

import pytest

from bitsniper.backtest.inputs import decision_range, load_study_settings, read_study_candles
from bitsniper.backtest.outputs import write_all
from bitsniper.candles import Candles
from bitsniper.errors import ConfigError


def _boom(path: Path) -> None:
    path.write_text("half")
    raise OSError("disk full")


def test_a_failing_writer_leaves_a_new_folder_absent(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(OSError, match="disk full"):
        write_all(out, {"a.csv": lambda p: p.write_text("a"), "b.csv": _boom})
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # the staging folder is gone too


def test_a_failing_writer_leaves_an_existing_folder_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "a.csv").write_text("old")
    with pytest.raises(OSError):
        write_all(out, {"a.csv": lambda p: p.write_text("new"), "b.csv": _boom})
    assert (out / "a.csv").read_text() == "old" and sorted(p.name for p in out.iterdir()) == ["a.csv"]
    write_all(out, {"a.csv": lambda p: p.write_text("new"), "b.csv": lambda p: p.write_text("b")})
    assert (out / "a.csv").read_text() == "new" and (out / "b.csv").read_text() == "b"


def test_five_minute_candles_with_the_fifteen_minute_setting_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "5m.csv"
    rows = [f"2025-01-01T00:{m:02d}:00Z,100,101,99,100,1" for m in range(0, 60, 5)]
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    with pytest.raises(ConfigError, match="5 minutes apart but candle_minutes is 15; pass --set candle_minutes=5"):
        read_study_candles(path, load_study_settings(None))
    assert len(read_study_candles(path, load_study_settings(["candle_minutes=5"]))) == 12


def test_a_range_before_the_data_or_reversed_is_refused(slice_candles: Candles) -> None:
    with pytest.raises(ConfigError, match="must be after --from"):
        decision_range(slice_candles, 1_751_000_000_000, 1_750_000_000_000, "slice")
    rows = decision_range(slice_candles, None, None, "slice")
    assert (rows.start, rows.stop) == (0, len(slice_candles))
