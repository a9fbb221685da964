"""Exactly-once execution under every fault the simulator injects (issue 4, design.md "Exactly once").

Each case executes the same decision again and again, as Airflow retries would, catching the retryable
errors between attempts; then exactly one order must have reached the simulator, the position must be
the one decided, and the store must agree. The table of faults x outcomes is printed at the end.
"""

from __future__ import annotations

import os
from collections import Counter
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal as D
from pathlib import Path

import pytest

from bitsniper.errors import OrderStateUnknown
from bitsniper.execution import ExecutionPolicy, execute_decision
from bitsniper.simulator.state import SimFill
from bitsniper.simulator.testing import CANDLE_MS
from bitsniper.simulator.server import RunningSimulator
from bitsniper.store import SessionFactory, fills_for_order, latest_position_snapshot, orders_for_decision
from bitsniper.exchange import KrakenFuturesExchange

from execution_kit import (
    DECISION_TIME,
    FAULT_TABLE,
    LAST_OPEN,
    POLICY,
    SYMBOL,
    applied_orders,
    close_action,
    open_action,
    record,
    run_like_airflow,
)

SENDORDER_FAULTS = [
    "sendorder:delay=0.2",  # slow but answered
    "sendorder:delay=0.8",  # handled late, after the client gave up (< settle time)
    "sendorder:timeout",  # no reply, not applied
    "sendorder:drop",
    "sendorder:http=500",
    "sendorder:http=502",  # a proxy's 5xx may follow a delivered order: looked up, resent once proven absent
    "sendorder:http=503",
    "sendorder:http=504",
    "sendorder:http=429",  # refused before processing: not sent, resent at once
    "sendorder:error=Server Error",
    "sendorder:error=apiLimitExceeded",
    "sendorder:error=Unavailable",
    "sendorder:malformed",
    "sendorder:drop_after_apply",
    "sendorder:drop_after_apply:2",
    "sendorder:timeout_after_apply",
    "sendorder:malformed_after_apply",
]
LOOKUP_FAULTS = [
    "orders/status:http=500:2",
    "orders/status:drop",
    "openorders:error=Server Error:2",
    "openorders:timeout",
    "fills:malformed:2",
    "fills:http=503",
    "openpositions:drop:2",
    "openpositions:error=apiLimitExceeded",
]
# Lost replies whose lookups fail too: only the position (or persistence) can tell.
COMBINED_FAULTS = [
    "sendorder:timeout_after_apply+late:orders/status:error=Server Error:always+late:fills:http=500:always",
    "sendorder:timeout_after_apply+fills:http=500:3+orders/status:drop:2",
    "sendorder:drop+openpositions:http=502:2",
]

def _add_once_applied(running: RunningSimulator, specs: list[str]) -> threading.Thread:
    """Add ``specs`` as soon as the simulator has executed an order (the lookups fail from then on)."""

    def watch() -> None:
        deadline = time.monotonic() + 5
        while not applied_orders(running) and time.monotonic() < deadline:
            time.sleep(0.002)
        for spec in specs:
            running.sim.faults.add(spec)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("faults", SENDORDER_FAULTS + LOOKUP_FAULTS + COMBINED_FAULTS)
def test_open_under_fault_reaches_the_exchange_exactly_once(
    faults: str, factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    # Arrange
    decision = record(factory, (open_action("long", 0.01),))
    late = [spec.removeprefix("late:") for spec in faults.split("+") if spec.startswith("late:")]
    for spec in faults.split("+"):
        if not spec.startswith("late:"):
            running.sim.faults.add(spec)
    watcher = _add_once_applied(running, late) if late else None

    # Act
    report, errors = run_like_airflow(
        lambda: execute_decision(factory, exchange, decision, (open_action("long", 0.01),), mode="live",
                                 symbol=SYMBOL, policy=POLICY)
    )
    again = execute_decision(factory, exchange, decision, (open_action("long", 0.01),), mode="live",
                             symbol=SYMBOL, policy=POLICY)  # one more retry after success sends nothing

    # Assert
    if watcher is not None:
        watcher.join(timeout=5)
    applied = applied_orders(running)
    position = exchange.position(SYMBOL)
    orders = orders_for_decision(factory, decision)
    filled = [o for o in orders if o.status == "filled"]
    FAULT_TABLE.append((faults, len(errors) + 1, ",".join(f"{name}x{n}" for name, n in Counter(errors).items()) or "-", len(orders),
                   len(applied), str(position.signed_size), "/".join(f"{o.cli_ord_id[len(decision) + 1:]}:{o.status}" for o in orders)))
    assert len(applied) == 1, f"{len(applied)} orders reached the exchange"
    assert position.signed_size == D("0.0100")
    assert len(filled) == 1 and filled[0].filled_size == D("0.01")
    assert filled[0].cli_ord_id == applied[0].cli_ord_id
    assert all(o.status in ("filled", "cancelled") for o in orders)
    assert again.orders_sent == 0 and again.outcomes[0].status == "filled"
    snapshot = latest_position_snapshot(factory, mode="live", symbol=SYMBOL, source="exchange")
    assert snapshot is not None and snapshot.side == "long" and snapshot.size == D("0.01")
    if not late:  # with the lookups down, only the position proves the fill
        assert sum(f.size for f in fills_for_order(factory, filled[0].cli_ord_id)) == D("0.01")


def test_lost_reply_past_the_status_window_and_the_newest_100_fills_is_proven_by_the_position(
    factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    # Arrange: the order executes, its reply is withheld; meanwhile 6 s pass (orders/status forgets it) and
    # 100 newer fills push it out of the fills endpoint (Kraken returns the newest 100)
    actions = (open_action("long", 0.01),)
    decision = record(factory, actions)
    running.sim.faults.add("sendorder:timeout_after_apply")

    def bury() -> None:
        deadline = time.monotonic() + 5
        while not applied_orders(running) and time.monotonic() < deadline:
            time.sleep(0.002)
        now = running.sim.clock.advance(6_000)
        with running.sim.state.lock:
            running.sim.state.fills.extend(
                SimFill(f"other-{i}", f"o-{i}", None, "PF_ETHUSD", "buy", D("1"), D("3000"), now + i, "taker", D("0"))
                for i in range(100)
            )

    watcher = threading.Thread(target=bury, daemon=True)
    watcher.start()

    # Act
    report = execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, policy=POLICY)
    watcher.join(timeout=5)

    # Assert: found nowhere, yet recorded as filled because the position moved by exactly this order
    order = orders_for_decision(factory, decision)[0]
    assert exchange.order_by_cli_ord_id(order.cli_ord_id).found is False
    assert order.status == "filled" and order.filled_size == D("0.01")
    assert order.status_reason == "the position moved by exactly this order"
    assert order.average_price == LAST_OPEN  # the entry price of a position opened from flat
    assert report.orders_sent == 1 and len(applied_orders(running)) == 1


# --------------------------------------------------------------------------- reversal (X9)


def _open_long(factory: SessionFactory, exchange: KrakenFuturesExchange, size: float = 0.01) -> None:
    earlier = DECISION_TIME - CANDLE_MS
    decision = record(factory, (open_action("long", size, decision_time=earlier),), decision_time=earlier)
    execute_decision(factory, exchange, decision, (open_action("long", size, decision_time=earlier),),
                     mode="live", symbol=SYMBOL, policy=POLICY)


def test_reversal_with_lost_close_reply_closes_the_actual_size_then_opens_once(
    factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    # Arrange: long 0.01 held; the engine remembers 0.0123 (the close must use the exchange's size)
    _open_long(factory, exchange)
    actions = (close_action("long", 0.0123, index=0), open_action("short", 0.02, index=1))
    decision = record(factory, actions)
    running.sim.faults.add("sendorder:drop_after_apply")

    # Act
    report, errors = run_like_airflow(
        lambda: execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, policy=POLICY)
    )

    # Assert
    orders = orders_for_decision(factory, decision)
    assert [(o.action_index, o.side, o.size, o.reduce_only, o.status) for o in orders] == [
        (0, "sell", D("0.0100"), True, "filled"),
        (1, "sell", D("0.0200"), False, "filled"),
    ]
    assert exchange.position(SYMBOL).signed_size == D("-0.0200")
    assert len(applied_orders(running)) == 3  # the first long, the close, the short
    assert report.orders_sent == 2 and errors == []


def test_reversal_sends_the_open_only_once_the_close_is_confirmed(
    factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange
) -> None:
    # Arrange: the close's reply is lost and not applied; this run may not wait long enough to tell
    _open_long(factory, exchange)
    actions = (close_action("long", 0.01, index=0), open_action("short", 0.02, index=1))
    decision = record(factory, actions)
    running.sim.faults.add("sendorder:drop")
    impatient = ExecutionPolicy(lookup_timeout_secs=0.3, lookup_interval_secs=0.1, settle_secs=1.0,
                                process_before_secs=0.6)

    # Act: the first attempt cannot resolve the close
    with pytest.raises(OrderStateUnknown):
        execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, policy=impatient)
    orders_after_first = [(o.action_index, o.status) for o in orders_for_decision(factory, decision)]
    applied_after_first = len(applied_orders(running))
    report, _ = run_like_airflow(
        lambda: execute_decision(factory, exchange, decision, actions, mode="live", symbol=SYMBOL, policy=POLICY)
    )

    # Assert: no open while the close was unknown; then the close was resent (proven not executed) and the open sent
    assert orders_after_first == [(0, "unknown")]
    assert applied_after_first == 1
    assert [(o.action_index, o.status) for o in orders_for_decision(factory, decision)] == [
        (0, "cancelled"), (0, "filled"), (1, "filled"),
    ]
    assert exchange.position(SYMBOL).signed_size == D("-0.0200")
    assert report.orders_sent == 2


# --------------------------------------------------------------------------- a crash (SIGKILL) mid-send

_CHILD = """
import sys
from bitsniper.errors import OrderStateUnknown
from bitsniper.execution import ExecutionPolicy, execute_decision
from bitsniper.simulator.state import SimFill
from bitsniper.simulator.testing import CANDLE_MS
from bitsniper.store import make_session_factory
from execution_kit import POLICY, SYMBOL, make_exchange, open_action
url, db_url, decision = sys.argv[1:4]
exchange = make_exchange(url, timeout_secs=30)  # wait for the reply: the parent kills us meanwhile
execute_decision(make_session_factory(db_url), exchange, decision, (open_action("long", 0.01),),
                 mode="live", symbol=SYMBOL, policy=POLICY)
print("the child should have been killed before this line")
"""


def test_process_killed_after_sending_is_resolved_by_the_next_run_without_sending(
    factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange, store_url: str
) -> None:
    # Arrange: the order is executed at once, its reply withheld until the client hangs up
    decision = record(factory, (open_action("long", 0.01),))
    running.sim.faults.add("sendorder:timeout_after_apply=20")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, running.url, store_url, decision], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    # Act: SIGKILL once the exchange has executed it and before the child hears back
    deadline = time.monotonic() + 20
    while not applied_orders(running) and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    _, stderr = child.communicate(timeout=10)
    status_at_crash = [o.status for o in orders_for_decision(factory, decision)]
    report = execute_decision(factory, exchange, decision, (open_action("long", 0.01),), mode="live",
                              symbol=SYMBOL, policy=POLICY)

    # Assert
    assert child.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
    assert status_at_crash == ["sent"]  # killed between the request and recording its result
    assert report.orders_sent == 0
    assert running.sim.requests.get("sendorder") == 1 and len(applied_orders(running)) == 1
    orders = orders_for_decision(factory, decision)
    assert [o.status for o in orders] == ["filled"] and orders[0].filled_size == D("0.01")
    assert sum(f.size for f in fills_for_order(factory, orders[0].cli_ord_id)) == D("0.01")
    assert exchange.position(SYMBOL).signed_size == D("0.0100")


def test_backfill_decision_never_trades(factory: SessionFactory, running: RunningSimulator, exchange: KrakenFuturesExchange) -> None:
    decision = record(factory, (open_action("long", 0.01),), mode="backfill")

    report = execute_decision(factory, exchange, decision, (open_action("long", 0.01),), mode="backfill",
                              symbol=SYMBOL, policy=POLICY)

    assert report.skipped is not None and report.outcomes == ()
    assert running.sim.requests == {} and orders_for_decision(factory, decision) == []
