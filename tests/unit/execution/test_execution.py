"""Pure parts of bitsniper.execution: the cliOrdId derivation and E6 sizing to the instrument's step."""

from __future__ import annotations

import re
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from bitsniper.exchange import InstrumentSpec
from bitsniper.execution import _size_to_step, cli_ord_id_for
from bitsniper.store import decision_id

SPEC = InstrumentSpec("PF_XBTUSD", D("1"), D("0.0001"), D("0.0001"), D("1000"), D("0.02"), D("0.01"), True)
KRAKEN_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def test_cli_ord_id_is_the_decision_id_plus_action_index_and_attempt() -> None:
    ident = decision_id("live", "vi", "PF_XBTUSD", 1_767_225_600_000)

    assert cli_ord_id_for(ident, 0) == "live-vi-PF_XBTUSD-1767225600000-a0"
    assert cli_ord_id_for(ident, 1) == "live-vi-PF_XBTUSD-1767225600000-a1"
    assert cli_ord_id_for(ident, 1, attempt=2) == "live-vi-PF_XBTUSD-1767225600000-a1-r2"


@given(st.text(min_size=1, max_size=300), st.integers(0, 9), st.integers(1, 99))
def test_cli_ord_id_is_deterministic_kraken_safe_and_within_100_chars(ident: str, index: int, attempt: int) -> None:
    first = cli_ord_id_for(ident, index, attempt)

    assert first == cli_ord_id_for(ident, index, attempt)
    assert KRAKEN_SAFE.match(first), first
    assert first.endswith(f"-a{index}" + (f"-r{attempt}" if attempt > 1 else ""))


def test_long_decision_ids_that_share_a_prefix_get_different_cli_ord_ids() -> None:
    a, b = "x" * 150 + "A", "x" * 150 + "B"

    assert cli_ord_id_for(a, 0) != cli_ord_id_for(b, 0)
    assert len(cli_ord_id_for(a, 0, attempt=42)) <= 100


def test_entry_size_is_floored_to_the_step_through_the_float_repr() -> None:
    assert _size_to_step(0.01239, SPEC) == D("0.0123")
    assert _size_to_step(0.3, SPEC) == D("0.3000")  # 0.3 is 0.29999.. as a binary float: no step lost
    assert _size_to_step(0.00009, SPEC) == D("0")
