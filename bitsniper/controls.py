"""What the operator's controls do, shared by the CLI and the Telegram bot (issue 6).

Everything acts through the store, so the DAG sees it on its next run: the kill switch is a persisted
alert (``bitsniper.risk``), a flatten is a decision executed through the same exactly-once execution as
the pipeline's, and the status is read from the stored decisions, state, indicators and alerts.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from bitsniper.alerts import Alert
from bitsniper.config import Settings
from bitsniper.store.db import SessionFactory

if TYPE_CHECKING:
    from bitsniper.exchange.base import Exchange
    from bitsniper.execution import ExecutionPolicy, ExecutionReport

__all__ = [
    "FLATTEN_RULE",
    "Status",
    "PnlSummary",
    "trading_exchange",
    "env_credentials",
    "flatten",
    "kill",
    "resume_kill_switch",
    "status",
    "pnl_summary",
    "format_status",
    "format_pnl",
    "format_trades",
]

FLATTEN_RULE = "KILL"  # the close action's rule id in the journal
Notify = Callable[[Alert], None]


def env_credentials() -> tuple[SecretStr, SecretStr] | None:
    """Kraken keys from the environment (the CLI and the bot run outside Airflow's connections)."""
    key = os.environ.get("KRAKEN_API_KEY") or os.environ.get("BITSNIPER_KRAKEN_API_KEY")
    secret = os.environ.get("KRAKEN_API_SECRET") or os.environ.get("BITSNIPER_KRAKEN_API_SECRET")
    return (SecretStr(key), SecretStr(secret)) if key and secret else None


def trading_exchange(settings: Settings, factory: SessionFactory) -> "Exchange":
    """The venue the pipeline trades on for these settings (paper book, simulator or Kraken)."""
    from bitsniper.services import build_services

    return build_services(settings, credentials=env_credentials(), factory=factory).trading()  # type: ignore[misc]


# --------------------------------------------------------------------------- kill switch and flatten


def flatten(
    factory: SessionFactory, exchange: "Exchange", settings: Settings, *, mode: str, symbol: str, now_ms: int,
    policy: "ExecutionPolicy | None" = None,
) -> "ExecutionReport | None":
    """Close the exchange's position through ``execute_decision``; None when already flat.

    A decision (rule ``KILL``) is stored first with the strategy state made flat (its position gone, as
    after an exit, X8), then executed exactly once like any pipeline decision: the close is reduce-only
    and sized to the exchange's actual position. Its candle time is ``now_ms`` (moved 1 ms off a candle
    boundary, so it never takes the key of a pipeline decision).
    """
    from bitsniper.execution import execute_decision
    from bitsniper.store.repositories import load_state, record_decision
    from bitsniper.strategy import initial_state
    from bitsniper.strategy.state import Action, Decision, PositionType

    position = exchange.position(symbol)
    if position.is_flat or position.side is None:
        return None
    params = settings.strategy_params()
    state = load_state(factory, mode=mode, strategy=params.strategy, symbol=symbol) or initial_state(params)  # type: ignore[arg-type]
    side = position.side.value
    if state.position is not None and state.position.side == side:
        ptype = state.position.type
    elif params.strategy == "vi":
        ptype = PositionType.LONG_VI1 if side == "long" else PositionType.SHORT
    else:
        ptype = PositionType.RV_LONG1 if side == "long" else PositionType.RV_SHORT
    at = now_ms + 1 if now_ms % params.candle_ms == 0 else now_ms
    last_closed = (now_ms // params.candle_ms - 1) * params.candle_ms
    action = Action("close", ptype, side, FLATTEN_RULE, at, at, float(position.size), 0)  # type: ignore[arg-type]
    after = state._replace(position=None, last_position_type=ptype, last_exit_decision_time=last_closed)
    note = f"kill --flatten: close the exchange's {position.signed_size} {symbol}"
    record, _ = record_decision(
        factory, mode=mode, symbol=symbol, decision=Decision(at, "ok", (action,), after, (note,)),  # type: ignore[arg-type]
        state_before=state,
    )
    return execute_decision(
        factory, exchange, record.id, record.actions, mode=mode, symbol=symbol,  # type: ignore[arg-type]
        settings=settings, policy=policy,
    )


def kill(
    factory: SessionFactory, settings: Settings, *, mode: str, symbol: str, reason: str, source: str,
    notify: Notify | None, exchange: "Exchange | None" = None, now_ms: int | None = None,
    policy: "ExecutionPolicy | None" = None,
) -> tuple[bool, "ExecutionReport | None"]:
    """Turn the kill switch on (already on: unchanged) and, given ``exchange``, flatten. Returns (changed, report)."""
    from bitsniper.risk import engage_kill_switch

    changed = engage_kill_switch(factory, mode=mode, symbol=symbol, reason=reason, source=source, notify=notify)
    report = None
    if exchange is not None:
        now = now_ms if now_ms is not None else int(datetime.now(timezone.utc).timestamp() * 1000)
        report = flatten(factory, exchange, settings, mode=mode, symbol=symbol, now_ms=now, policy=policy)
        if report is not None and notify is not None:
            filled = ", ".join(f"{o.status} {o.filled_size.normalize():f}" for o in report.outcomes)
            try:
                notify(Alert("exit", f"flattened {mode} {symbol}: {filled}", details=f"decision {report.decision_id}"))
            except Exception:  # noqa: BLE001 - the close happened; a channel failing does not change that
                pass
    return changed, report


def resume_kill_switch(factory: SessionFactory, *, mode: str, symbol: str, notify: Notify | None) -> int:
    from bitsniper.risk import clear_kill_switch

    return clear_kill_switch(factory, mode=mode, symbol=symbol, notify=notify)


# --------------------------------------------------------------------------- status


@dataclass(frozen=True, slots=True)
class Status:
    """The facts /status and ``bitsniper status`` show (read from the store only)."""

    mode: str
    symbol: str
    strategy: str
    position: dict[str, Any] | None
    last_run: dict[str, Any] | None
    indicators: dict[str, float]
    breaker: str
    kill_switch: str | None
    halted: bool
    entry_block: str | None
    equity: float | None
    paused_until: str | None


def _last_equity(factory: SessionFactory, mode: str, symbol: str) -> float | None:
    from bitsniper.risk import EQUITY_SOURCE
    from bitsniper.store.repositories import latest_position_snapshot

    row = latest_position_snapshot(factory, mode=mode, symbol=symbol, source=EQUITY_SOURCE)  # type: ignore[arg-type]
    return None if row is None or row.equity is None else float(row.equity)


def status(factory: SessionFactory, settings: Settings, *, now: datetime | None = None) -> Status:
    from sqlalchemy import select

    from bitsniper.breaker import breaker_name
    from bitsniper.reconcile import halted
    from bitsniper.risk import risk_status
    from bitsniper.store.models import DecisionRow
    from bitsniper.store.records import datetime_to_ms
    from bitsniper.store.repositories import load_breaker, load_indicator_values, load_state

    now = now or datetime.now(timezone.utc)
    mode, symbol, params = settings.mode, settings.symbol, settings.strategy_params()
    state = load_state(factory, mode=mode, strategy=params.strategy, symbol=symbol)
    position = None
    if state is not None and state.position is not None:
        p = state.position
        position = {
            "type": p.type.value, "side": p.side, "size_btc": p.size, "entry_rsi": round(p.entry_rsi, 2),
            "exit_rsi_target": None if p.exit_rsi is None else round(p.exit_rsi, 2), "fill_price": p.fill_price,
            "entry_time": datetime.fromtimestamp(p.entry_time / 1000, timezone.utc).isoformat(),
        }
    with factory() as session:
        row = session.scalars(
            select(DecisionRow).where(DecisionRow.mode == mode, DecisionRow.symbol == symbol)
            .order_by(DecisionRow.created_at.desc()).limit(1)
        ).first()
        last_run = None if row is None else {
            "decision": row.id, "candle": row.candle_time.isoformat(), "at": row.created_at.isoformat(),
            "status": row.status, "actions": len(row.actions),
        }
        candle_ms = None if row is None else datetime_to_ms(row.candle_time)
    indicators: dict[str, float] = {}
    if candle_ms is not None:
        values = load_indicator_values(factory, symbol=symbol, resolution=f"{settings.candle_minutes}m", open_time_ms=candle_ms)
        indicators = {k: round(v, 4) for k, v in values.items() if not math.isnan(v)}
    equity = _last_equity(factory, mode, symbol)
    risk = risk_status(factory, settings, mode=mode, symbol=symbol, now=now, equity=equity)
    paused = None if risk.paused_until_ms is None else datetime.fromtimestamp(risk.paused_until_ms / 1000, timezone.utc).isoformat()
    return Status(
        mode=mode, symbol=symbol, strategy=params.strategy, position=position, last_run=last_run,
        indicators=indicators, breaker=load_breaker(factory, breaker_name(mode)).state, kill_switch=risk.kill_switch,
        halted=halted(factory, mode=mode, symbol=symbol), entry_block=risk.block, equity=equity, paused_until=paused,
    )


def format_status(s: Status) -> str:
    lines = [f"Mode: {s.mode}  {s.symbol}  strategy {s.strategy}"]
    if s.position is None:
        lines.append("Position: flat")
    else:
        p = s.position
        target = "-" if p["exit_rsi_target"] is None else f"{p['exit_rsi_target']}"
        price = "" if p["fill_price"] is None else f" at {p['fill_price']:,.1f}"
        lines.append(f"Position: {p['type']} {p['side']} {p['size_btc']:g} BTC{price}, entry RSI {p['entry_rsi']}, target RSI {target}")
    if s.indicators:
        shown = ", ".join(f"{k} {v:g}" for k, v in s.indicators.items() if not k.endswith("_above") and k != "converged")
        lines.append(f"Indicators: {shown}")
    if s.last_run:
        lines.append(f"Last run: {s.last_run['at']} (candle {s.last_run['candle']}, {s.last_run['status']}, {s.last_run['actions']} action(s))")
    else:
        lines.append("Last run: none yet")
    lines.append(f"Breaker: {s.breaker}  Halted: {'yes' if s.halted else 'no'}")
    lines.append(f"Kill switch: {'ON (' + s.kill_switch + ')' if s.kill_switch else 'off'}")
    if s.equity is not None:
        lines.append(f"Equity (last seen): {s.equity:,.2f} USD")
    lines.append(f"Entries: {'blocked: ' + s.entry_block if s.entry_block else 'allowed'}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- PnL and trades


@dataclass(frozen=True, slots=True)
class PnlSummary:
    today: Decimal
    week: Decimal
    all_time: Decimal
    trades_today: int
    trades_week: int
    trades_all: int


def pnl_summary(factory: SessionFactory, *, mode: str, symbol: str, now: datetime | None = None) -> PnlSummary:
    """Net PnL of closed trades by exit time: since 00:00 UTC, the last 7 days, all time."""
    from bitsniper.journal import closed_trades

    now = now or datetime.now(timezone.utc)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week = now - timedelta(days=7)
    done = closed_trades(factory, mode=mode, symbol=symbol)
    today = [t for t in done if t.exit_time is not None and t.exit_time >= midnight]
    last7 = [t for t in done if t.exit_time is not None and t.exit_time >= week]

    def total(items: list[Any]) -> Decimal:
        return sum((t.pnl_usd or Decimal(0) for t in items), Decimal(0))

    return PnlSummary(total(today), total(last7), total(done), len(today), len(last7), len(done))


def format_pnl(p: PnlSummary) -> str:
    return (
        f"PnL today: {p.today:,.2f} USD ({p.trades_today} trades)\n"
        f"PnL 7 days: {p.week:,.2f} USD ({p.trades_week} trades)\n"
        f"PnL all time: {p.all_time:,.2f} USD ({p.trades_all} trades)"
    )


def format_trades(items: list[Any], limit: int = 10) -> str:
    if not items:
        return "No trades yet."
    lines = []
    for t in items[-limit:][::-1]:
        exit_part = "open" if t.exit_time is None else f"{t.exit_price:,.1f} {t.exit_rule} PnL {t.pnl_usd:,.2f}"
        lines.append(f"{t.entry_time:%m-%d %H:%M} {t.position_type} {t.side} {t.size.normalize():f} BTC @ {t.entry_price:,.1f} -> {exit_part}")
    return "\n".join(lines)
