"""``bitsniper indicators``: the CSV it writes, and how it refuses bad input (exit 2, nothing written)."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bitsniper.candles import Candles, iso_to_ms, read_candles_csv
from bitsniper.cli import app
from bitsniper.indicators import atr, rsi, volatility_indexes
from tests.conftest import ROOT, TEST_DATA

SLICE = TEST_DATA / "coinbase_btcusd_15m_2025-06-01_2025-08-05.csv.gz"
COLUMNS = "timestamp,open,high,low,close,volume,rsi,atr,vi1,vi1_side,vi2,vi2_side,vi3,vi3_side,converged"


@pytest.fixture(scope="module")
def candles() -> Candles:
    return read_candles_csv(SLICE)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CLI's output for the real slice (one run shared by the checks on its content)."""
    out = tmp_path_factory.mktemp("cli") / "indicators.csv"
    result = CliRunner().invoke(app, ["indicators", "--candles", str(SLICE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote 6336 rows to {out}" in result.stdout
    return out


def read_table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, dtype=str)


def numbers(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column.replace("", np.nan)).to_numpy(dtype=float)


def test_output_header_is_exactly_the_contract(written: Path) -> None:
    assert written.read_text().splitlines()[0] == COLUMNS


def test_output_values_equal_the_library(written: Path, candles: Candles) -> None:
    table = read_table(written)
    assert len(table) == len(candles)
    assert table["timestamp"].iloc[0] == "2025-06-01T00:00:00Z"
    assert [iso_to_ms(t) for t in table["timestamp"]] == candles.time.tolist()
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_allclose(numbers(table[column]), getattr(candles, column), rtol=1e-9)
    atr28 = atr(candles.high, candles.low, candles.close, 28)
    np.testing.assert_allclose(numbers(table["rsi"]), rsi(candles.close, 40), rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(numbers(table["atr"]), atr28, rtol=1e-9, equal_nan=True)
    vis = volatility_indexes(candles.close, atr28, (19.0, 10.0, 6.0))
    for k, vi in enumerate(vis, start=1):
        np.testing.assert_allclose(numbers(table[f"vi{k}"]), vi.value, rtol=1e-9, equal_nan=True)
        sides = np.where(vi.above, "above", "below")[27:]
        assert table[f"vi{k}_side"].iloc[27:].tolist() == sides.tolist()
    all_flipped = vis[0].converged & vis[1].converged & vis[2].converged
    assert table["converged"].tolist() == np.where(all_flipped, "true", "false").tolist()


def test_vi_columns_are_empty_before_the_first_atr(written: Path) -> None:
    table = read_table(written)
    for column in ("atr", "vi1", "vi1_side", "vi2", "vi2_side", "vi3", "vi3_side"):
        assert (table[column].iloc[:27] == "").all(), column
        assert (table[column].iloc[27:] != "").all(), column
    assert (table["rsi"].iloc[:40] == "").all() and (table["rsi"].iloc[40:] != "").all()


def test_converged_turns_true_when_the_last_vi_flips_and_stays(written: Path) -> None:
    table = read_table(written)
    converged = table["converged"].to_numpy() == "true"
    first = int(np.argmax(converged))
    assert 0 < first and converged[first:].all() and not converged[:first].any()
    # the row where it turns true is one where some VI side changes (the last of the three first flips)
    sides = table[["vi1_side", "vi2_side", "vi3_side"]].to_numpy()
    assert (sides[first] != sides[first - 1]).any()


def test_set_override_changes_the_computation(tmp_path: Path, candles: Candles) -> None:
    out = tmp_path / "rsi12.csv"
    result = CliRunner().invoke(
        app, ["indicators", "--candles", str(SLICE), "--out", str(out), "--set", "rsi_period=12", "--set", "vi1_mult=15"]
    )
    assert result.exit_code == 0, result.output
    table = read_table(out)
    np.testing.assert_allclose(numbers(table["rsi"]), rsi(candles.close, 12), rtol=1e-9, equal_nan=True)
    atr28 = atr(candles.high, candles.low, candles.close, 28)
    np.testing.assert_allclose(
        numbers(table["vi1"]), volatility_indexes(candles.close, atr28, (15.0,))[0].value, rtol=1e-9, equal_nan=True
    )


# ---------------------------------------------------------------- refusals


def broken_candles(tmp_path: Path) -> Path:
    """The first 100 candles of the slice with an unparsable close on line 50 of the file."""
    lines = gzip.decompress(SLICE.read_bytes()).decode().splitlines()[:101]
    fields = lines[49].split(",")
    fields[4] = "12x"
    lines[49] = ",".join(fields)
    path = tmp_path / "broken.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bad_candle_file_exits_2_naming_file_line_and_problem_and_writes_nothing(tmp_path: Path) -> None:
    source = broken_candles(tmp_path)
    out = tmp_path / "out" / "indicators.csv"
    result = CliRunner().invoke(app, ["indicators", "--candles", str(source), "--out", str(out)])
    assert result.exit_code == 2
    assert f"{source}:50: unparsable close '12x'" in result.stderr
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []  # no temporary file left either


def test_bad_candle_file_leaves_an_existing_output_untouched(tmp_path: Path) -> None:
    source = broken_candles(tmp_path)
    out = tmp_path / "indicators.csv"
    out.write_text("previous run\n")
    result = CliRunner().invoke(app, ["indicators", "--candles", str(source), "--out", str(out)])
    assert result.exit_code == 2
    assert out.read_text() == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.csv", "indicators.csv"]


def test_missing_candle_file_exits_2_naming_it(tmp_path: Path) -> None:
    out = tmp_path / "indicators.csv"
    result = CliRunner().invoke(app, ["indicators", "--candles", str(tmp_path / "nope.csv"), "--out", str(out)])
    assert result.exit_code == 2
    assert "nope.csv" in result.stderr and "cannot read the file" in result.stderr
    assert not out.exists()


def test_unknown_setting_exits_2_listing_valid_names(tmp_path: Path) -> None:
    out = tmp_path / "indicators.csv"
    result = CliRunner().invoke(
        app, ["indicators", "--candles", str(SLICE), "--out", str(out), "--set", "rsi_lenght=12"]
    )
    assert result.exit_code == 2
    assert "unknown setting 'rsi_lenght'" in result.stderr and "rsi_period" in result.stderr
    assert not out.exists()


def test_bad_setting_value_exits_2_naming_the_setting(tmp_path: Path) -> None:
    out = tmp_path / "indicators.csv"
    result = CliRunner().invoke(app, ["indicators", "--candles", str(SLICE), "--out", str(out), "--set", "atr_period=1"])
    assert result.exit_code == 2
    assert "invalid setting atr_period" in result.stderr
    assert not out.exists()


# ---------------------------------------------------------------- as a real process


def command() -> list[str]:
    script = Path(sys.executable).parent / "bitsniper"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bitsniper.cli"]


def test_real_process_writes_the_same_file_and_refuses_bad_input(tmp_path: Path, written: Path) -> None:
    small = tmp_path / "slice.csv.gz"
    shutil.copy(SLICE, small)
    out = tmp_path / "indicators.csv"
    done = subprocess.run(
        [*command(), "indicators", "--candles", str(small), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == written.read_bytes()

    source = broken_candles(tmp_path)
    refused = tmp_path / "refused.csv"
    failed = subprocess.run(
        [*command(), "indicators", "--candles", str(source), "--out", str(refused)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert failed.returncode == 2
    assert f"{source}:50: unparsable close '12x'" in failed.stderr
    assert not refused.exists()
