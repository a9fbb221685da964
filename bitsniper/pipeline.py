"""The five steps of one run, as plain functions: the DAG, the CLI and the tests call them.

Each step reads what the previous one stored, does one thing, stores its result and is safe to run again
(Airflow retries it). A run acts on ONE candle, N-1, named explicitly from the run's time, never "the
latest". Backfills and runs older than one interval record what the engine would have decided and never
trade (design.md, "Backfills never trade").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bitsniper.alerts import Alert
from bitsniper.candles import closed_only, ms_to_iso
from bitsniper.config import Settings
from bitsniper.errors import DataQualityError, TransientExchangeError
from bitsniper.exchange.base import Exchange, candles_to_frame
from bitsniper.store import repositories as repo
from bitsniper.store.db import SessionFactory
from bitsniper.store.records import Mode
from bitsniper import strategy
from bitsniper.strategy import Account, Decision
from bitsniper.validation import validate_candles

__all__ = [
    "RunSpec",
    "Services",
    "CandleNotReady",
    "run_spec",
    "ingest_candles",
    "validate_data",
    "compute_indicators",
    "decide_step",
    "execute_orders",
    "SUITE_NAME",
]

SUITE_NAME = "bitsniper_candles"
_LOG = logging.getLogger(__name__)
Notify = Callable[[Alert], None]


class CandleNotReady(TransientExchangeError):
    """The exchange has not published candle N-1 yet: retry shortly, never act on older data."""


@dataclass(frozen=True, slots=True)
class RunSpec:
    """Which candle a run acts on and whether it may trade."""

    dag_id: str
    run_id: str
    candle_ms: int  # open time of N-1, the candle that closed at the run's tick
    now_ms: int  # wall clock when the step started: only for closed-candle selection and staleness
    trades: bool  # False for backfills and stale runs
    why_no_trading: str | None = None

    @property
    def candle_iso(self) -> str:
        return ms_to_iso(self.candle_ms)


@dataclass(slots=True)
class Services:
    """What the steps need: settings, the store, market data, the trading venue and a way to alert."""

    settings: Settings
    factory: SessionFactory
    market: Exchange
    trading: Callable[[], Exchange] | None = None  # built lazily: backfills never need it
    notify: Notify = field(default=lambda alert: None)

    @property
    def symbol(self) -> str:
        return self.settings.symbol

    @property
    def resolution(self) -> str:
        return f"{self.settings.candle_minutes}m"

    @property
    def interval_ms(self) -> int:
        return self.settings.candle_ms


def run_spec(*, dag_id: str, run_id: str, tick_ms: int, now_ms: int, interval_ms: int, backfill: bool) -> RunSpec:
    """The run's candle is the one that closed at its tick; a backfill or a late run does not trade."""
    candle_ms = tick_ms - interval_ms
    if backfill:
        return RunSpec(dag_id, run_id, candle_ms, now_ms, False, "backfill run: decisions are recorded, never traded")
    late_ms = now_ms - tick_ms
    if late_ms > interval_ms:
        why = f"run is {late_ms / 60_000:.0f} min after its candle closed (more than one interval): no catch-up trading"
        return RunSpec(dag_id, run_id, candle_ms, now_ms, False, why)
    return RunSpec(dag_id, run_id, candle_ms, now_ms, True)


def _mode(services: Services, spec: RunSpec) -> Mode:
    return services.settings.mode if spec.trades else "backfill"


def _alert(services: Services, spec: RunSpec, kind: str, severity: str, summary: str, details: str | None = None) -> None:
    """Store the alert for the record, then send it; a failing channel never hides the stored alert."""
    repo.record_alert(
        services.factory, kind=kind, severity=severity, message=summary,
        details={"dag_id": spec.dag_id, "run_id": spec.run_id, "candle": spec.candle_iso, "details": details},
    )
    alert_kind = kind if kind in ("data", "halt", "entry", "exit", "info") else "info"
    try:
        services.notify(Alert(alert_kind, summary, dag_id=spec.dag_id, run_id=spec.run_id, candle=spec.candle_iso, details=details))  # type: ignore[arg-type]
    except Exception as error:  # noqa: BLE001 - an alert channel must not break the run
        _LOG.warning("alert could not be sent: %s", error)


def _window(services: Services) -> int:
    return max(services.settings.min_history_candles, services.settings.validation_window_candles)


# --- 1. ingest_candles ------------------------------------------------------------------------------------


def ingest_candles(services: Services, spec: RunSpec) -> int:
    """Fetch the closed candles the decision needs that the store lacks; fail until N-1 is published."""
    interval = services.interval_ms
    window_start = spec.candle_ms - (_window(services) - 1) * interval
    stored = repo.load_candles(services.factory, services.symbol, services.resolution, _window(services), end_time_ms=spec.candle_ms)
    if len(stored) and int(stored.time[0]) <= window_start and int(stored.time[-1]) == spec.candle_ms:
        return 0  # everything is there already (a retry, or a backfill of stored history)
    since = window_start
    if len(stored) and int(stored.time[0]) <= window_start:
        since = int(stored.time[-1]) + interval  # only what is missing at the end
    fetched = services.market.closed_candles_since(services.symbol, since, spec.now_ms)
    count = 0
    if fetched:
        # T2 at our own clock too: the store refuses a forming candle, so drop one rather than fail the run.
        candles = closed_only(candles_to_frame(fetched), spec.now_ms, interval)
        count = repo.upsert_candles(services.factory, candles, symbol=services.symbol, resolution=services.resolution, now_ms=spec.now_ms)
    latest = repo.load_candles(services.factory, services.symbol, services.resolution, 1, end_time_ms=spec.candle_ms)
    if not len(latest) or int(latest.time[-1]) != spec.candle_ms:
        raise CandleNotReady(f"candle {spec.candle_iso} is not published by the exchange yet")
    return count


# --- 2. validate_data ---------------------------------------------------------------------------------------


def validate_data(services: Services, spec: RunSpec) -> dict[str, Any]:
    """Run the candle suite; a failure is stored, alerted and stops the run before any decision."""
    settings = services.settings
    count = _window(services)
    previous = repo.load_validation(
        services.factory, suite=SUITE_NAME, symbol=services.symbol, resolution=services.resolution,
        candle_time_ms=spec.candle_ms - services.interval_ms,
    )
    if previous is not None and previous.success:
        # The older candles passed at the previous run: check what is new plus a day around it, not 6,000 again.
        count = min(count, max(settings.validation_recent_candles, settings.validation_window_candles))
    candles = repo.load_candles(services.factory, services.symbol, services.resolution, count, end_time_ms=spec.candle_ms)
    report = validate_candles(
        candles, spec.candle_ms, services.interval_ms,
        window=settings.validation_window_candles, fail_on_window_hole=settings.fail_on_window_hole,
    )
    repo.record_validation(
        services.factory, suite=SUITE_NAME, symbol=services.symbol, resolution=services.resolution,
        candle_time_ms=spec.candle_ms, success=report.passed, details=report.to_json(),
    )
    if report.warnings:
        _alert(services, spec, "data", "warning", f"candle warnings at {spec.candle_iso}", report.summary())
    if not report.passed:
        _alert(services, spec, "data", "critical", f"bad candles at {spec.candle_iso}: no decision, no order", report.summary())
        raise DataQualityError(report.summary())
    return {"passed": True, "rows": report.rows, "warnings": len(report.warnings)}


# --- 3. compute_indicators ----------------------------------------------------------------------------------


def _frame(services: Services, spec: RunSpec):  # type: ignore[no-untyped-def]
    candles = repo.load_candles(services.factory, services.symbol, services.resolution, _window(services), end_time_ms=spec.candle_ms)
    if not len(candles) or int(candles.time[-1]) != spec.candle_ms:
        raise DataQualityError(f"candle {spec.candle_iso} is not in the store: run ingest_candles first")
    return strategy.build_frame(candles, services.settings.strategy_params())


def compute_indicators(services: Services, spec: RunSpec) -> dict[str, float]:
    """Compute RSI, ATR and VI1-VI3 over the stored history and keep N-1's values (for the UI and audits)."""
    frame = _frame(services, spec)
    i = len(frame) - 1
    values: dict[str, float] = {"rsi": float(frame.rsi[i]), "atr": float(frame.atr[i]), "converged": float(frame.converged[i])}
    for k in range(3):
        values[f"vi{k + 1}"] = float(frame.vi[k][i])
        values[f"vi{k + 1}_above"] = float(frame.vi_above[k][i])
    repo.store_indicator_values(
        services.factory, symbol=services.symbol, resolution=services.resolution, open_time_ms=spec.candle_ms, values=values
    )
    if not frame.converged[i] and services.settings.strategy == "vi":
        _alert(services, spec, "data", "warning", f"volatility indexes not converged at {spec.candle_iso}: no decision (I3)")
    return {k: (None if np.isnan(v) else round(v, 6)) for k, v in values.items()}  # type: ignore[misc]


# --- 4. decide ------------------------------------------------------------------------------------------------


def _state_before(services: Services, spec: RunSpec, mode: Mode):  # type: ignore[no-untyped-def]
    params = services.settings.strategy_params()
    if mode == "backfill":
        # A backfill chains its own decisions, candle after candle, so it can be rerun over any range.
        previous = repo.load_decision(
            services.factory, repo.decision_id("backfill", params.strategy, services.symbol, spec.candle_ms - services.interval_ms)
        )
        return previous.state_after if previous is not None else strategy.initial_state(params)
    return repo.load_state(services.factory, mode=mode, strategy=params.strategy, symbol=services.symbol) or strategy.initial_state(params)


def _account(services: Services, spec: RunSpec) -> Account:
    """Account facts for the engine; live and paper runs also carry the risk limits' verdict (issue 6)."""
    if not spec.trades or services.trading is None:
        capital = services.settings.backfill_capital_usd
        return Account(available_margin=capital, equity=capital)
    info = services.trading().account()
    equity = float(info.equity)
    from bitsniper import risk

    check = getattr(risk, "entry_block", None)
    block = None
    if check is not None:
        block = check(
            services.factory, services.settings, mode=services.settings.mode, symbol=services.symbol,
            now_ms=spec.now_ms, equity=equity,
        )
    return Account(available_margin=float(info.available_margin), equity=equity, entry_block=block)


def decide_step(services: Services, spec: RunSpec) -> str:
    """Take the engine's decision for N-1 and store it with the new state in one transaction."""
    mode = _mode(services, spec)
    params = services.settings.strategy_params()
    ident = repo.decision_id(mode, params.strategy, services.symbol, spec.candle_ms)
    existing = repo.load_decision(services.factory, ident)
    if existing is not None and mode != "backfill":
        return ident  # a retry: the first decision for a candle is the one that counts
    state = _state_before(services, spec, mode)
    decision: Decision = strategy.decide(state, _frame(services, spec), _account(services, spec), params)
    record, created = repo.record_decision(services.factory, mode=mode, symbol=services.symbol, decision=decision, state_before=state)
    if decision.status != "ok":
        _alert(services, spec, "data", "warning", f"decision at {spec.candle_iso}: {decision.status}", "; ".join(decision.notes))
    elif decision.notes:
        _alert(services, spec, "info", "info", f"decision notes at {spec.candle_iso}", "; ".join(decision.notes))
    _LOG.info(
        "decision %s (%s): %s", ident, decision.status,
        ", ".join(f"{a.kind} {a.position_type.value} ({a.reason}) {a.size:g} BTC" for a in decision.actions) or "no action",
    )
    return record.id


# --- 5. execute_orders ----------------------------------------------------------------------------------------


def execute_orders(services: Services, spec: RunSpec, decision_ident: str) -> dict[str, Any]:
    """Execute the decision's orders exactly once; backfills and late runs send nothing."""
    record = repo.load_decision(services.factory, decision_ident)
    if record is None:
        raise DataQualityError(f"decision {decision_ident} is not in the store")
    if not spec.trades or record.mode == "backfill":
        _LOG.info("no order sent: %s", spec.why_no_trading or "backfill decision")
        return {"sent": 0, "skipped": spec.why_no_trading or "backfill"}
    if services.trading is None:
        raise DataQualityError("no trading venue configured")
    from bitsniper.execution import execute_decision

    report = execute_decision(
        services.factory, services.trading(), decision_ident, record.actions,
        mode=record.mode, symbol=services.symbol, settings=services.settings,
    )
    by_index = {outcome.index: outcome for outcome in report.outcomes}
    for action in record.actions:
        outcome = by_index.get(action.index)
        if outcome is None:
            continue
        if action.kind == "open" and outcome.average_price is not None:
            _record_entry_fill(services, record, float(outcome.average_price), float(outcome.filled_size))
        if outcome.sent_now:  # alert once, on the run that sent it, not on every retry that finds it done
            verb = "entry" if action.kind == "open" else "exit"
            price = "?" if outcome.average_price is None else f"{float(outcome.average_price):,.1f}"
            _alert(
                services, spec, verb, "info",
                f"{verb} {action.position_type.value} ({action.reason}): {action.order_side} {outcome.filled_size} BTC at {price}",
                f"order {outcome.cli_ord_id}: {outcome.status}",
            )
    return report.as_dict()


def _record_entry_fill(services: Services, record, price: float, filled: float) -> None:  # type: ignore[no-untyped-def]
    """E7: keep the entry's fill price (and the size that really filled) in the state, if it is still this decision's."""
    state = repo.load_state(services.factory, mode=record.mode, strategy=record.strategy, symbol=services.symbol)
    position = state.position if state is not None else None
    if position is None or position.entry_decision_time != record.candle_time:
        return
    if position.fill_price == price and position.size == filled:
        return
    updated = state._replace(position=position._replace(fill_price=price, size=filled or position.size))
    repo.save_state(services.factory, mode=record.mode, symbol=services.symbol, state=updated)
