"""Repository behaviour on SQLite and PostgreSQL: upserts, one decision per candle, the order lifecycle,
and one transaction per write."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, StatementError

from bitsniper.candles import Candles
from bitsniper.errors import DataQualityError, DuplicateOrderError, FormingCandleError, IllegalOrderTransition
from bitsniper.store import (
    BreakerRecord,
    FillRecord,
    OrderIntent,
    PositionRecord,
    SessionFactory,
    decision_id,
    fills_for_order,
    get_order,
    latest_position_snapshot,
    load_breaker,
    load_candles,
    load_decision,
    load_indicator_values,
    load_state,
    load_validation,
    make_engine,
    make_session_factory,
    ms_to_datetime,
    record_alert,
    record_decision,
    record_fills,
    record_order_intent,
    record_position_snapshot,
    record_validation,
    resolve_alert,
    save_breaker,
    save_state,
    store_indicator_values,
    transition_order,
    unfinished_orders,
    unresolved_alerts,
    upsert_candles,
)
from bitsniper.store.models import Candle, DecisionRow, OrderRow
from bitsniper.strategy import Action, Decision, Position, PositionType, StrategyState

QUARTER_MS = 900_000
T0 = 1_748_736_000_000  # 2025-06-01T00:00Z
SYMBOL = "PF_XBTUSD"


def make_candles(count: int, start: int = T0, close: float = 104_523.5, high_bump: float = 10.0) -> Candles:
    time = start + QUARTER_MS * np.arange(count, dtype=np.int64)
    closes = close + np.arange(count, dtype=np.float64)
    return Candles(
        time=time, open=closes - 1.0, high=closes + high_bump, low=closes - 12.0, close=closes,
        volume=np.full(count, 12.34567891),
    )


def candle_count(factory: SessionFactory) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(Candle)) or 0


def after_all(candles: Candles) -> int:
    """A 'now' at which every candle given has closed."""
    return int(candles.time[-1]) + QUARTER_MS


# --- candles -------------------------------------------------------------------------------------------


def test_candle_upsert_twice_keeps_one_row_per_candle_and_round_trips_exactly(factory: SessionFactory) -> None:
    candles = make_candles(4)

    upsert_candles(factory, symbol=SYMBOL, resolution="15m", candles=candles, now_ms=after_all(candles))
    upsert_candles(factory, symbol=SYMBOL, resolution="15m", candles=candles, now_ms=after_all(candles))
    loaded = load_candles(factory, SYMBOL, "15m", 10)

    assert candle_count(factory) == 4
    for column in ("time", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(loaded, column), getattr(candles, column), err_msg=column)


def test_candle_upsert_with_new_values_updates_the_stored_candle(factory: SessionFactory) -> None:
    first = make_candles(3)
    revised = make_candles(3, close=105_000.0)

    upsert_candles(factory, symbol=SYMBOL, resolution="15m", candles=first, now_ms=after_all(first))
    upsert_candles(factory, symbol=SYMBOL, resolution="15m", candles=revised, now_ms=after_all(revised))

    loaded = load_candles(factory, SYMBOL, "15m", 10)
    assert candle_count(factory) == 3
    np.testing.assert_array_equal(loaded.close, revised.close)


def test_forming_candle_is_refused_and_nothing_of_its_batch_is_stored(factory: SessionFactory) -> None:
    candles = make_candles(5)
    now = int(candles.time[-1]) + QUARTER_MS - 1  # the last candle closes one millisecond from now

    with pytest.raises(FormingCandleError, match="has not closed"):
        upsert_candles(factory, symbol=SYMBOL, resolution="15m", candles=candles, now_ms=now)

    assert candle_count(factory) == 0


def test_candle_closing_exactly_now_is_stored(factory: SessionFactory) -> None:
    candles = make_candles(2)

    stored = upsert_candles(factory, symbol=SYMBOL, resolution="15m", candles=candles, now_ms=int(candles.time[-1]) + QUARTER_MS)

    assert stored == 2 and candle_count(factory) == 2


def test_load_candles_returns_the_last_n_up_to_the_runs_candle_oldest_first(factory: SessionFactory) -> None:
    candles = make_candles(10)
    upsert_candles(factory, symbol=SYMBOL, resolution="15m", candles=candles, now_ms=after_all(candles))
    upsert_candles(factory, symbol="PF_ETHUSD", resolution="15m", candles=make_candles(10, close=2_500.0), now_ms=after_all(candles))

    loaded = load_candles(factory, SYMBOL, "15m", 3, end_time_ms=int(candles.time[6]))

    np.testing.assert_array_equal(loaded.time, candles.time[4:7])
    np.testing.assert_array_equal(loaded.close, candles.close[4:7])


def test_candle_batch_with_one_bad_row_leaves_the_store_as_it_was(factory: SessionFactory) -> None:
    original = make_candles(5)
    upsert_candles(factory, symbol=SYMBOL, resolution="15m", candles=original.slice(0, 2), now_ms=after_all(original))
    batch = make_candles(5, close=110_000.0)
    batch.high[3] = batch.low[3] - 1.0  # high below low: refused by a CHECK constraint mid-batch

    with pytest.raises(DataQualityError, match="nothing stored"):
        upsert_candles(factory, symbol=SYMBOL, resolution="15m", candles=batch, now_ms=after_all(batch))

    loaded = load_candles(factory, SYMBOL, "15m", 10)
    assert candle_count(factory) == 2  # rows 2 and 4 of the batch were not inserted
    np.testing.assert_array_equal(loaded.close, original.close[:2])  # rows 0 and 1 were not updated


# --- validation and indicators ---------------------------------------------------------------------------


def test_validation_rerun_replaces_the_earlier_result(factory: SessionFactory) -> None:
    key = {"suite": "candles", "symbol": SYMBOL, "resolution": "15m", "candle_time_ms": T0}

    record_validation(factory, success=False, details={"failed": ["gap"]}, **key)
    record_validation(factory, success=True, details={"failed": []}, **key)

    result = load_validation(factory, **key)
    assert result is not None and result.success is True and result.details == {"failed": []}


def test_indicator_values_round_trip_bit_for_bit_and_nan_stays_nan(factory: SessionFactory) -> None:
    rsi = 100.0 / 3.0
    store_indicator_values(factory, symbol=SYMBOL, resolution="15m", open_time_ms=T0,
                           values={"rsi": rsi, "vi1": float("nan"), "atr": 1.0})
    store_indicator_values(factory, symbol=SYMBOL, resolution="15m", open_time_ms=T0, values={"atr": 123.456789012345})

    values = load_indicator_values(factory, symbol=SYMBOL, resolution="15m", open_time_ms=T0)

    assert values["rsi"] == rsi
    assert np.isnan(values["vi1"])
    assert values["atr"] == 123.456789012345


# --- decisions and state ---------------------------------------------------------------------------------


def make_decision(candle_time: int = T0, size: float = 0.0123, reason: str = "E2") -> Decision:
    position = Position(
        type=PositionType.LONG_VI1, entry_time=candle_time + QUARTER_MS, entry_decision_time=candle_time,
        entry_close=104_523.5, entry_rsi=47.25, exit_rsi=67.25, size=size,
    )
    action = Action("open", PositionType.LONG_VI1, "long", reason, candle_time, candle_time + QUARTER_MS, size, 0)
    state = StrategyState(strategy="vi", position=position, last_decision_time=candle_time)
    return Decision(decision_time=candle_time, status="ok", actions=(action,), state=state, notes=("entered",))


def test_recorded_decision_round_trips_and_becomes_the_current_state(factory: SessionFactory) -> None:
    decision = make_decision()
    before = StrategyState(strategy="vi")

    record, created = record_decision(factory, mode="live", symbol=SYMBOL, decision=decision, state_before=before)

    assert created is True
    assert record.id == decision_id("live", "vi", SYMBOL, T0)
    assert load_decision(factory, record.id) == record
    assert record.actions == decision.actions and record.actions[0].position_type is PositionType.LONG_VI1
    assert record.state_before == before and record.state_after == decision.state
    assert load_state(factory, mode="live", strategy="vi", symbol=SYMBOL) == decision.state


def test_second_live_decision_for_a_candle_returns_the_first_and_changes_nothing(factory: SessionFactory) -> None:
    first = make_decision(size=0.0123)
    retry = make_decision(size=0.5, reason="E3")  # a rerun that (wrongly) decided differently

    record_decision(factory, mode="live", symbol=SYMBOL, decision=first, state_before=None)
    again, created = record_decision(factory, mode="live", symbol=SYMBOL, decision=retry, state_before=None)

    assert created is False
    assert again.actions == first.actions
    assert load_state(factory, mode="live", strategy="vi", symbol=SYMBOL) == first.state


def test_unique_constraint_refuses_a_second_live_row_for_the_same_candle(factory: SessionFactory) -> None:
    record_decision(factory, mode="live", symbol=SYMBOL, decision=make_decision(), state_before=None)
    duplicate = DecisionRow(
        id="some-other-id", mode="live", strategy="vi", symbol=SYMBOL, candle_time=ms_to_datetime(T0),
        status="ok", state_before=None, state_after={}, actions=[], notes=[],
    )

    with pytest.raises(IntegrityError):
        with factory.begin() as session:
            session.add(duplicate)

    with factory() as session:
        assert session.scalar(select(func.count()).select_from(DecisionRow)) == 1


def test_paper_and_live_decisions_for_one_candle_are_kept_apart(factory: SessionFactory) -> None:
    live, live_created = record_decision(factory, mode="live", symbol=SYMBOL, decision=make_decision(), state_before=None)
    paper, paper_created = record_decision(factory, mode="paper", symbol=SYMBOL, decision=make_decision(), state_before=None)

    assert live_created and paper_created and live.id != paper.id


def test_backfill_rerun_replaces_its_decision(factory: SessionFactory) -> None:
    record_decision(factory, mode="backfill", symbol=SYMBOL, decision=make_decision(size=0.1), state_before=None)
    record, created = record_decision(factory, mode="backfill", symbol=SYMBOL, decision=make_decision(size=0.2),
                                      state_before=None)

    assert created is True and record.actions[0].size == 0.2
    assert load_decision(factory, record.id) == record


def test_strategy_state_round_trip_keeps_every_field(factory: SessionFactory) -> None:
    state = make_decision().state.with_fill(104_530.0)._replace(
        last_position_type=PositionType.SHORT, last_exit_decision_time=T0 - QUARTER_MS
    )

    assert load_state(factory, mode="paper", strategy="vi", symbol=SYMBOL) is None
    save_state(factory, mode="paper", symbol=SYMBOL, state=state)

    assert load_state(factory, mode="paper", strategy="vi", symbol=SYMBOL) == state
    assert load_state(factory, mode="live", strategy="vi", symbol=SYMBOL) is None


# --- orders and fills ----------------------------------------------------------------------------------


def make_intent(cli_ord_id: str = "live-vi-PF_XBTUSD-1748736000000-a0") -> OrderIntent:
    return OrderIntent(cli_ord_id=cli_ord_id, mode="live", symbol=SYMBOL, side="buy", size=Decimal("0.0123"))


def test_order_cannot_be_marked_sent_before_its_intent_is_recorded(factory: SessionFactory) -> None:
    with pytest.raises(IllegalOrderTransition, match="no recorded intent"):
        transition_order(factory, "never-recorded", "sent")

    assert get_order(factory, "never-recorded") is None


def test_order_intent_is_committed_and_visible_to_another_process_before_sending(
    factory: SessionFactory, store_url: str
) -> None:
    intent = make_intent()

    record_order_intent(factory, intent)

    other_engine = make_engine(store_url)  # a second connection pool, as another task process would have
    try:
        seen = get_order(make_session_factory(other_engine), intent.cli_ord_id)
    finally:
        other_engine.dispose()
    assert seen is not None and seen.status == "intent" and seen.sent_at is None
    assert seen.size == Decimal("0.0123") and seen.intent_at.tzinfo is not None


def test_duplicate_order_intent_is_refused_and_the_first_is_untouched(factory: SessionFactory) -> None:
    record_order_intent(factory, make_intent())
    transition_order(factory, make_intent().cli_ord_id, "sent")

    with pytest.raises(DuplicateOrderError, match="never resend"):
        record_order_intent(factory, make_intent())

    order = get_order(factory, make_intent().cli_ord_id)
    assert order is not None and order.status == "sent"


def test_order_lifecycle_stamps_each_step_in_order(factory: SessionFactory) -> None:
    cli = make_intent().cli_ord_id
    start = datetime(2025, 6, 1, 0, 15, tzinfo=timezone.utc)
    record_order_intent(factory, make_intent(), at=start)

    transition_order(factory, cli, "sent", at=start + timedelta(seconds=1))
    transition_order(factory, cli, "unknown", at=start + timedelta(seconds=11), reason="timeout on sendorder")
    final = transition_order(factory, cli, "filled", at=start + timedelta(seconds=12), exchange_order_id="ex-1",
                             filled_size=Decimal("0.0123"), average_price=Decimal("104530.5"))

    assert final.status == "filled" and final.exchange_order_id == "ex-1"
    assert final.average_price == Decimal("104530.5") and final.status_reason == "timeout on sendorder"
    assert final.intent_at < final.sent_at < final.unknown_at < final.filled_at  # type: ignore[operator]
    assert final.acknowledged_at is None
    assert unfinished_orders(factory, mode="live") == []


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ((), "filled"),  # intent -> filled: it was never sent
        ((), "acknowledged"),
        (("sent",), "sent"),  # marking sent twice would hide a second request
        (("sent",), "cancelled"),
        (("sent", "acknowledged", "filled"), "cancelled"),  # terminal
        (("sent", "rejected"), "acknowledged"),
    ],
)
def test_illegal_order_transition_is_refused_and_the_status_kept(
    factory: SessionFactory, path: tuple[str, ...], illegal: str
) -> None:
    cli = make_intent().cli_ord_id
    record_order_intent(factory, make_intent())
    for status in path:
        transition_order(factory, cli, status)  # type: ignore[arg-type]

    with pytest.raises(IllegalOrderTransition, match="cannot go from"):
        transition_order(factory, cli, illegal)  # type: ignore[arg-type]

    order = get_order(factory, cli)
    assert order is not None and order.status == (path[-1] if path else "intent")


def test_orders_still_open_are_listed_for_reconciliation(factory: SessionFactory) -> None:
    record_order_intent(factory, make_intent("a"))
    record_order_intent(factory, make_intent("b"))
    transition_order(factory, "b", "sent")
    transition_order(factory, "b", "rejected", reason="insufficientAvailableFunds")

    assert [order.cli_ord_id for order in unfinished_orders(factory, mode="live")] == ["a"]


def test_fills_are_recorded_once_by_exchange_fill_id(factory: SessionFactory) -> None:
    at = datetime(2025, 6, 1, 0, 15, 2, tzinfo=timezone.utc)
    fills = [
        FillRecord("f-1", SYMBOL, "buy", Decimal("0.01"), Decimal("104530"), at, cli_ord_id="a", fee=Decimal("0.52")),
        FillRecord("f-2", SYMBOL, "buy", Decimal("0.0023"), Decimal("104531"), at + timedelta(seconds=1), cli_ord_id="a"),
    ]

    first = record_fills(factory, fills)
    second = record_fills(factory, fills + [FillRecord("f-3", SYMBOL, "sell", Decimal("1"), Decimal("1"), at)])

    assert (first, second) == (2, 1)
    assert fills_for_order(factory, "a") == fills


def test_naive_time_is_refused_by_the_store(factory: SessionFactory) -> None:
    naive = FillRecord("f-9", SYMBOL, "buy", Decimal("1"), Decimal("1"), datetime(2025, 6, 1, 0, 15))

    with pytest.raises(StatementError, match="naive datetime"):
        record_fills(factory, [naive])


def test_aware_non_utc_time_reads_back_as_the_same_instant_in_utc(factory: SessionFactory) -> None:
    paris = timezone(timedelta(hours=2))
    at = datetime(2025, 6, 1, 2, 15, 0, 123000, tzinfo=paris)
    record_fills(factory, [FillRecord("f-10", SYMBOL, "buy", Decimal("1"), Decimal("1"), at, cli_ord_id="z")])

    (fill,) = fills_for_order(factory, "z")

    assert fill.filled_at == at and fill.filled_at.utcoffset() == timedelta(0)


# --- positions, alerts, breakers -------------------------------------------------------------------------


def test_latest_position_snapshot_is_the_newest_of_its_source(factory: SessionFactory) -> None:
    at = datetime(2025, 6, 1, tzinfo=timezone.utc)
    old = PositionRecord("live", SYMBOL, "exchange", "long", Decimal("0.01"), at, entry_price=Decimal("100000"))
    new = PositionRecord("live", SYMBOL, "exchange", "flat", Decimal("0"), at + timedelta(minutes=15))
    other = PositionRecord("live", SYMBOL, "store", "short", Decimal("0.5"), at + timedelta(hours=1))
    for snapshot in (old, new, other):
        record_position_snapshot(factory, snapshot)

    assert latest_position_snapshot(factory, mode="live", symbol=SYMBOL, source="exchange") == new
    assert latest_position_snapshot(factory, mode="paper", symbol=SYMBOL, source="exchange") is None


def test_resolved_alert_leaves_the_unresolved_list(factory: SessionFactory) -> None:
    first = record_alert(factory, kind="reconciliation", severity="critical", message="position mismatch",
                         details={"exchange": "0.02", "store": "0.01"})
    record_alert(factory, kind="data", severity="warning", message="gap at 00:15")

    assert resolve_alert(factory, first) is True
    assert resolve_alert(factory, first) is False
    assert [alert.kind for alert in unresolved_alerts(factory)] == ["data"]
    assert unresolved_alerts(factory, kind="reconciliation") == []


def test_circuit_breaker_state_round_trips_and_defaults_to_closed(factory: SessionFactory) -> None:
    opened = datetime(2025, 6, 1, 0, 15, tzinfo=timezone.utc)

    assert load_breaker(factory, "kraken") == BreakerRecord("kraken")
    save_breaker(factory, BreakerRecord("kraken", "open", failure_count=5, opened_at=opened))
    save_breaker(factory, BreakerRecord("kraken", "half-open", failure_count=5, opened_at=opened))

    assert load_breaker(factory, "kraken") == BreakerRecord("kraken", "half-open", 5, 0, opened)


def test_order_row_check_refuses_an_unknown_status(factory: SessionFactory) -> None:
    record_order_intent(factory, make_intent())

    with pytest.raises(IntegrityError):
        with factory.begin() as session:
            row = session.scalars(select(OrderRow)).one()
            row.status = "resent"


def test_concurrent_processes_marking_one_order_sent_let_exactly_one_through(
    factory: SessionFactory, store_url: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    cli = make_intent().cli_ord_id
    record_order_intent(factory, make_intent())
    workers = 4
    barrier = Barrier(workers)
    engines = [make_engine(store_url) for _ in range(workers)]  # one pool each, like separate processes

    def mark_sent(index: int) -> str:
        own = make_session_factory(engines[index])
        barrier.wait()
        try:
            transition_order(own, cli, "sent")
            return "sent"
        except IllegalOrderTransition:
            return "refused"

    try:
        with ThreadPoolExecutor(workers) as pool:
            outcomes = sorted(pool.map(mark_sent, range(workers)))
    finally:
        for engine in engines:
            engine.dispose()

    assert outcomes == ["refused"] * (workers - 1) + ["sent"]


def test_fill_batch_with_one_bad_row_stores_none_of_it(factory: SessionFactory) -> None:
    at = datetime(2025, 6, 1, 0, 15, tzinfo=timezone.utc)
    good = FillRecord("f-1", SYMBOL, "buy", Decimal("0.01"), Decimal("104530"), at, cli_ord_id="a")
    bad = FillRecord("f-2", SYMBOL, "hold", Decimal("0.01"), Decimal("104530"), at, cli_ord_id="a")  # type: ignore[arg-type]

    with pytest.raises(IntegrityError):
        record_fills(factory, [good, bad])

    assert fills_for_order(factory, "a") == []


def test_candle_with_a_nan_price_is_refused(factory: SessionFactory) -> None:
    candles = make_candles(3)
    candles.close[1] = float("nan")

    with pytest.raises(DataQualityError, match="non-finite close"):
        upsert_candles(factory, symbol=SYMBOL, resolution="15m", candles=candles, now_ms=after_all(candles))

    assert candle_count(factory) == 0


def test_stored_state_of_an_unknown_version_is_refused_not_defaulted(factory: SessionFactory) -> None:
    from bitsniper.store.models import StrategyStateRow
    from bitsniper.strategy import StateFormatError

    with factory.begin() as session:
        session.add(StrategyStateRow(mode="live", strategy="vi", symbol=SYMBOL, state={"version": 99}, version=99))

    with pytest.raises(StateFormatError, match="version 99"):
        load_state(factory, mode="live", strategy="vi", symbol=SYMBOL)
