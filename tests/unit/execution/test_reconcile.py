"""Pure parts of bitsniper.reconcile: what the position should be once an order has executed."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal as D

import pytest

from bitsniper.reconcile import _expected_after, signed
from bitsniper.store import OrderRecord

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def order(side: str, size: str, reduce_only: bool = False) -> OrderRecord:
    return OrderRecord("c", "live", "PF_XBTUSD", side, D(size), "mkt", reduce_only, None, None, 0, "unknown",  # type: ignore[arg-type]
                       None, D(0), None, None, NOW, NOW, None, NOW, None, None, None)


@pytest.mark.parametrize(
    ("before", "side", "size", "reduce_only", "after"),
    [
        ("0", "buy", "0.01", False, "0.01"),  # an entry from flat
        ("0.01", "sell", "0.01", True, "0"),  # a close (X7)
        ("0.01", "sell", "0.03", True, "0"),  # reduce-only never flips: Kraken trims it
        ("-0.02", "buy", "0.01", True, "-0.01"),  # a partial close of a short
        ("0.01", "sell", "0.03", False, "-0.02"),  # a plain order may flip
    ],
)
def test_expected_position_after_an_order(before: str, side: str, size: str, reduce_only: bool, after: str) -> None:
    assert _expected_after(order(side, size, reduce_only), D(before)) == D(after)


def test_signed_size_is_positive_for_buys() -> None:
    assert signed("buy", D("0.5")) == D("0.5") and signed("sell", D("0.5")) == D("-0.5")
