"""``bitsniper backtest | optimize | walkforward | check-bias`` end to end through the real CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bitsniper.cli import app
from tests.conftest import TEST_DATA, shared_file

SLICE = str(TEST_DATA / "coinbase_btcusd_15m_2025-06-01_2025-08-05.csv.gz")
TRADE_HEADER = ("type,side,entry_decision_time,entry_time,entry_price,entry_rsi,exit_decision_time,exit_time,"
                "exit_price,exit_reason,size,fees,pnl,return_pct")
runner = CliRunner()


def _invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_backtest_writes_trades_equity_metrics_and_report(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = _invoke("backtest", "--candles", SLICE, "--from", "2025-06-20", "--set", "leverage=5", "--quiet",
                     "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["equity.csv", "metrics.json", "report.html", "trades.csv"]
    lines = (out / "trades.csv").read_text().splitlines()
    assert lines[0] == TRADE_HEADER
    trades = list(csv.DictReader(lines))
    metrics = json.loads((out / "metrics.json").read_text())
    closed = [t for t in trades if t["exit_reason"] != "open"]
    assert metrics["trades"] == len(closed) > 0
    assert all(t["entry_time"] >= "2025-06-20T00:15:00Z" and t["entry_time"].endswith("Z") for t in trades)
    assert sum(float(t["pnl"]) for t in trades) == pytest.approx(metrics["final_equity"] - 10_000.0, abs=0.01 * len(trades))
    equity = list(csv.DictReader((out / "equity.csv").open()))
    assert equity[0]["time"] == "2025-06-20T00:15:00Z"
    assert float(equity[-1]["equity"]) == pytest.approx(metrics["final_equity"], abs=1e-3)
    assert set(metrics) >= {"total_return_pct", "cagr_pct", "max_drawdown_pct", "sharpe", "sortino", "win_rate_pct",
                            "profit_factor", "exposure_pct", "trades_by_type", "trades_by_exit_reason",
                            "liquidations", "final_equity"}
    assert "return" in result.output and "wrote" in result.output


def test_no_report_skips_the_html(tmp_path: Path) -> None:
    result = _invoke("backtest", "--candles", SLICE, "--strategy", "rsi_volume", "--no-report", "--quiet",
                     "--out", str(tmp_path / "rv"))
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "rv" / "report.html").exists() and (tmp_path / "rv" / "metrics.json").exists()


def test_unknown_set_name_is_refused_with_the_valid_names_and_nothing_is_written(tmp_path: Path) -> None:
    out = tmp_path / "never"
    result = _invoke("backtest", "--candles", SLICE, "--set", "levrage=5", "--out", str(out))
    assert result.exit_code == 2
    assert "unknown setting 'levrage'" in result.output and "leverage" in result.output and "vi1_mult" in result.output
    assert not out.exists()


def test_impossible_value_gets_a_clear_message_and_nothing_is_written(tmp_path: Path) -> None:
    out = tmp_path / "never"
    result = _invoke("backtest", "--candles", SLICE, "--set", "leverage=0", "--out", str(out))
    assert result.exit_code == 2 and "invalid setting leverage" in result.output
    assert not out.exists()


def test_empty_date_range_says_what_the_file_holds_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "never"
    result = _invoke("backtest", "--candles", SLICE, "--from", "2024-01-01", "--to", "2024-02-01", "--out", str(out))
    assert result.exit_code == 2
    assert "no candles to backtest from 2024-01-01T00:00:00Z to 2024-02-01T00:00:00Z" in result.output
    assert "2025-06-01T00:00:00Z" in result.output
    assert not out.exists()


def test_existing_output_folder_keeps_its_files_when_the_run_fails(tmp_path: Path) -> None:
    out = tmp_path / "kept"
    out.mkdir()
    (out / "trades.csv").write_text("previous run\n")
    result = _invoke("backtest", "--candles", SLICE, "--from", "nonsense", "--out", str(out))
    assert result.exit_code == 2 and "--from: 'nonsense' is not a date" in result.output
    assert (out / "trades.csv").read_text() == "previous run\n" and len(list(out.iterdir())) == 1


def test_optimize_ranks_every_combination_by_the_metric(tmp_path: Path) -> None:
    out = tmp_path / "grid.csv"
    result = _invoke("optimize", "--candles", SLICE, "--grid", "vi1_mult=17,19", "--grid", "leverage=2,5",
                     "--metric", "total_return_pct", "--jobs", "2", "--quiet", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 4 and [r["rank"] for r in rows] == ["1", "2", "3", "4"]
    returns = [float(r["total_return_pct"]) for r in rows]
    assert returns == sorted(returns, reverse=True)
    assert "2 indicator sets, 2 frame builds" in result.output


def test_optimize_refuses_unknown_grid_names_and_metrics_without_writing(tmp_path: Path) -> None:
    out = tmp_path / "grid.csv"
    result = _invoke("optimize", "--candles", SLICE, "--grid", "vi9_mult=1,2", "--out", str(out))
    assert result.exit_code == 2 and "unknown setting 'vi9_mult'" in result.output and "vi3_mult" in result.output
    result = _invoke("optimize", "--candles", SLICE, "--grid", "vi1_mult=18", "--metric", "luck", "--out", str(out))
    assert result.exit_code == 2 and "unknown metric 'luck'" in result.output and "sharpe" in result.output
    assert not out.exists()


def test_walkforward_writes_windows_equity_and_report(tmp_path: Path) -> None:
    out = tmp_path / "wf"
    result = _invoke("walkforward", "--candles", SLICE, "--train", "25d", "--test", "10d", "--grid", "leverage=2,5",
                     "--jobs", "1", "--quiet", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["equity.csv", "metrics.json", "report.html", "trades.csv",
                                                      "windows.csv"]
    assert json.loads((out / "metrics.json").read_text())["windows"] >= 3


def test_walkforward_too_short_for_one_window_is_refused(tmp_path: Path) -> None:
    result = _invoke("walkforward", "--candles", SLICE, "--train", "90d", "--test", "30d", "--grid", "leverage=2",
                     "--out", str(tmp_path / "wf"))
    assert result.exit_code == 2 and "too short" in result.output
    assert not (tmp_path / "wf").exists()


def test_check_bias_reports_no_difference_on_the_slice(tmp_path: Path) -> None:
    out = tmp_path / "bias.csv"
    result = _invoke("check-bias", "--candles", SLICE, "--warmups", "3000", "--samples", "50", "--quiet",
                     "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "0 differ from the full run" in result.output
    assert out.read_text().splitlines() == ["check,decision_time,full_run,replay"]


def test_full_coinbase_file_with_holes_backtests_and_books_every_trade(tmp_path: Path) -> None:
    candles = shared_file("data/coinbase_btcusd_15m_2024-04_2026-05.csv.gz")
    out = tmp_path / "full"
    result = _invoke("backtest", "--candles", str(candles), "--set", "leverage=2", "--no-report", "--quiet",
                     "--out", str(out))
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    trades = list(csv.DictReader((out / "trades.csv").open()))
    assert metrics["trades"] >= 50  # two years; at leverage 10 a liquidation in August 2024 ends the trading
    assert sum(float(t["pnl"]) for t in trades) == pytest.approx(metrics["final_equity"] - 10_000.0, abs=0.01 * len(trades))
    assert all(t["entry_time"] > t["entry_decision_time"] for t in trades)
