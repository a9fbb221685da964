"""Trade journal (issue 6): round trips rebuilt from the store, exported as CSV and JSON lines, PnL summary."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from bitsniper.cli import app
from bitsniper.controls import pnl_summary
from bitsniper.journal import trades
from bitsniper.store import SessionFactory

from operator_kit import SYMBOL, record_trade, utc


def _three_trades(factory: SessionFactory) -> None:
    record_trade(factory, mode="paper", side="long", entry_price="50000", exit_price="51000", entry_at=utc(2026, 3, 1, 10),
                 exit_at=utc(2026, 3, 1, 18), fee="0.25")
    record_trade(factory, mode="paper", side="short", entry_price="52000", exit_price="52500", size="0.02",
                 entry_at=utc(2026, 3, 9, 1), exit_at=utc(2026, 3, 9, 9))
    record_trade(factory, mode="paper", side="long", entry_price="53000", exit_price=None, entry_at=utc(2026, 3, 10, 2))
    record_trade(factory, mode="live", side="long", entry_price="1", exit_price="2", entry_at=utc(2026, 3, 10, 2),
                 exit_at=utc(2026, 3, 10, 3))  # another mode: never mixed in


def test_trades_pair_entries_with_their_closes_and_net_the_known_fees(factory: SessionFactory) -> None:
    _three_trades(factory)
    journal = trades(factory, mode="paper", symbol=SYMBOL)
    assert [(t.side, t.position_type, t.entry_rule, t.exit_rule) for t in journal] == [
        ("long", "LONG_VI1", "E2", "X2"), ("short", "SHORT", "E1", "X2"), ("long", "LONG_VI1", "E2", None),
    ]
    assert journal[0].pnl_usd == Decimal("9.50")  # 1000 x 0.01 - 2 fills x 0.25
    assert journal[1].pnl_usd == Decimal("-10.00")  # a short that rose 500 x 0.02
    assert journal[2].pnl_usd is None and not journal[2].is_closed


def test_export_csv_and_jsonl_hold_the_same_trades(factory: SessionFactory, store_url: str, tmp_path: Path, monkeypatch) -> None:
    # Arrange
    _three_trades(factory)
    monkeypatch.setenv("BITSNIPER_DATABASE_URL", store_url)
    runner = CliRunner()
    # Act
    as_csv = runner.invoke(app, ["trades", "export", "--format", "csv", "--out", str(tmp_path / "t.csv")])
    as_jsonl = runner.invoke(app, ["trades", "export", "--format", "jsonl", "--out", str(tmp_path / "t.jsonl")])
    bad = runner.invoke(app, ["trades", "export", "--format", "xml", "--out", str(tmp_path / "t.xml")])
    # Assert
    assert as_csv.exit_code == 0 and "wrote 3 trades" in as_csv.output
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    lines = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert as_jsonl.exit_code == 0 and len(lines) == len(rows) == 3
    assert rows[0]["entry_price"] == lines[0]["entry_price"] == "50000"
    assert rows[0]["pnl_usd"] == lines[0]["pnl_usd"] == "9.5"
    assert rows[1]["exit_time"] == lines[1]["exit_time"] == "2026-03-09T09:00:00+00:00"
    assert rows[2]["exit_price"] == "" and lines[2]["exit_price"] is None
    assert bad.exit_code == 2 and not (tmp_path / "t.xml").exists()


def test_pnl_summary_splits_today_seven_days_and_all_time(factory: SessionFactory) -> None:
    _three_trades(factory)
    summary = pnl_summary(factory, mode="paper", symbol=SYMBOL, now=utc(2026, 3, 9, 12))
    assert (summary.today, summary.trades_today) == (Decimal("-10.00"), 1)
    assert (summary.week, summary.trades_week) == (Decimal("-10.00"), 1)
    assert (summary.all_time, summary.trades_all) == (Decimal("-0.50"), 2)
