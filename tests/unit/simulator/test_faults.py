"""The --fault format and how faults are consumed."""

from __future__ import annotations

import pytest

from bitsniper.simulator.faults import FaultPlan, FaultSpec, endpoint_of, parse_fault


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sendorder:drop_after_apply:2", FaultSpec("sendorder", "drop_after_apply", None, 2)),
        ("accounts:http=503", FaultSpec("accounts", "http", "503", 1)),
        ("fills:error=Server Error:always", FaultSpec("fills", "error", "Server Error", None)),
        ("orders/status:timeout=5", FaultSpec("orders/status", "timeout", "5", 1)),
        ("sendorder:delay=2.5", FaultSpec("sendorder", "delay", "2.5", 1)),
        ("sendorder:hold=1.5", FaultSpec("sendorder", "hold", "1.5", 1)),
        ("sendorder:partial=0.5:always", FaultSpec("sendorder", "partial", "0.5", None)),
        ("*:malformed:3", FaultSpec("*", "malformed", None, 3)),
    ],
)
def test_fault_spec_parses(text: str, expected: FaultSpec) -> None:
    assert parse_fault(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("sendorder", "expected"),
        ("sendorder:explode", "unknown kind"),
        ("sendorder:http", "needs a value"),
        ("sendorder:http=200", "4xx/5xx"),
        ("sendorder:delay=soon", "seconds"),
        ("sendorder:drop:0", "COUNT"),
        ("sendorder:hold=-1", "seconds"),
        ("sendorder:partial", "needs a value"),
        ("sendorder:partial=1", "between 0 and 1"),
        ("sendorder:partial=half", "between 0 and 1"),
    ],
)
def test_bad_fault_spec_is_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_fault(text)


def test_fault_fires_count_times_then_stops() -> None:
    plan = FaultPlan([parse_fault("sendorder:drop:2")])
    assert [plan.take("sendorder") is not None for _ in range(3)] == [True, True, False]


def test_fault_only_hits_its_endpoint_and_star_hits_all() -> None:
    plan = FaultPlan([parse_fault("fills:drop:always")])
    assert plan.take("accounts") is None
    assert plan.take("fills") is not None and plan.take("fills") is not None
    plan.add("*:malformed")
    assert plan.take("accounts") is not None


def test_endpoint_names_come_from_the_real_paths() -> None:
    assert endpoint_of("/derivatives/api/v3/orders/status") == "orders/status"
    assert endpoint_of("/derivatives/api/v3/sendorder") == "sendorder"
    assert endpoint_of("/api/charts/v1/trade/PF_XBTUSD/15m") == "charts"


def test_hold_and_partial_let_the_request_through_delay_does_too() -> None:
    assert [parse_fault(f"sendorder:{kind}").applies_request for kind in ("hold=1", "partial=0.5", "delay=1", "drop")] == [
        True, True, True, False,
    ]
