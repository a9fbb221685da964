"""Position sizing (spec E6), risk limits checked before every entry, and the kill switch (issue 6).

Limits (settings ``daily_loss_limit_pct``, ``daily_profit_lock_pct``, ``drawdown_kill_pct``,
``loss_pause_streaks``/``loss_pause_hours``, ``max_position_notional_usd``), from the seed bot's RiskManager:

- daily loss / profit lock: equity against the equity at the UTC day's start; blocks entries until the next
  UTC day (derived from the store each time: nothing to clear).
- drawdown: equity at or below peak x (1 - pct) turns the kill switch ON (it stays on until
  ``bitsniper resume``; the peak then restarts from the resume).
- loss streak: after N consecutive losing trades, no entry for the ladder's hours counted from the last
  loss's exit (3 -> 1 h, 5 -> 4 h by default).
- max notional: the engine sizes on margin x leverage (E6), so an entry is refused (not shrunk) when
  equity x leverage exceeds the cap; the engine's sizing stays the spec's.

Equity history: each ``entry_block`` call stores the equity it was given as a position snapshot of source
``equity`` (side/size flat: these rows carry the account only). Day start = the last sample before 00:00
UTC, else the day's first sample; peak = the highest sample since the kill switch was last cleared.

The kill switch is an unresolved alert of kind ``kill_switch`` whose details name mode and symbol (as the
reconciliation halt): it survives restarts, and ``resume`` resolves it. Exits are never blocked.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bitsniper.alerts import Alert
    from bitsniper.config import Settings
    from bitsniper.store.db import SessionFactory
    from bitsniper.store.records import AlertRecord

__all__ = [
    "position_size",
    "KILL_ALERT_KIND",
    "RISK_ALERT_KIND",
    "EQUITY_SOURCE",
    "daily_limit_reason",
    "drawdown_reason",
    "loss_pause_until",
    "notional_reason",
    "kill_switch",
    "engage_kill_switch",
    "clear_kill_switch",
    "record_equity",
    "day_start_equity",
    "peak_equity",
    "RiskStatus",
    "risk_status",
    "entry_block",
]

log = logging.getLogger("bitsniper.risk")

_EPSILON = 1e-9  # absorbs binary rounding so 0.3/0.0001 counts as 3000 steps, not 2999
KILL_ALERT_KIND = "kill_switch"
RISK_ALERT_KIND = "risk_limit"
EQUITY_SOURCE = "equity"
Notify = Callable[["Alert"], None]


def position_size(margin: float, leverage: float, fee_buffer: float, price: float, step: float) -> float:
    """All of it: ``floor_to_step(margin * leverage * (1 - fee_buffer) / price)`` in BTC."""
    if not (margin > 0 and price > 0 and step > 0):
        return 0.0
    raw = margin * leverage * (1.0 - fee_buffer) / price
    steps = math.floor(raw / step + _EPSILON)
    decimals = max(0, -math.floor(math.log10(step))) + 2
    return round(steps * step, decimals)


# --------------------------------------------------------------------------- pure checks


def daily_limit_reason(
    start_equity: float | None, equity: float, loss_pct: float | None, profit_pct: float | None
) -> str | None:
    """Daily loss limit (reached at exactly ``loss_pct``) and the optional profit lock (at exactly ``profit_pct``)."""
    if start_equity is None or start_equity <= 0:
        return None
    change = (equity - start_equity) / start_equity * 100.0
    if loss_pct is not None and change <= -loss_pct + 1e-9:
        return f"daily loss limit: equity {equity:,.2f} is {-change:.2f} % below the day's start {start_equity:,.2f} (limit {loss_pct:g} %)"
    if profit_pct is not None and change >= profit_pct - 1e-9:
        return f"daily profit lock: equity {equity:,.2f} is {change:.2f} % above the day's start {start_equity:,.2f} (lock {profit_pct:g} %)"
    return None


def drawdown_reason(peak: float | None, equity: float, pct: float | None) -> str | None:
    """Drawdown kill switch: equity at or below ``peak x (1 - pct/100)``."""
    if pct is None or peak is None or peak <= 0:
        return None
    drawdown = (peak - equity) / peak * 100.0
    if drawdown >= pct - 1e-9:
        return f"drawdown kill switch: equity {equity:,.2f} is {drawdown:.2f} % below its peak {peak:,.2f} (limit {pct:g} %)"
    return None


def loss_pause_until(
    pnls: Sequence[tuple[float, int]], streaks: Sequence[int], hours: Sequence[float]
) -> tuple[int, int] | None:
    """(streak, end ms) of the pause the latest losses call for, or None.

    ``pnls``: closed trades as (net PnL, exit time ms), oldest first. The streak is the run of losses
    (PnL < 0) ending with the latest trade; the ladder step is the largest ``streaks`` value it reaches.
    """
    streak = 0
    for pnl, _ in reversed(pnls):
        if pnl >= 0:
            break
        streak += 1
    reached = [(n, h) for n, h in zip(streaks, hours) if streak >= n]
    if not reached:
        return None
    _, pause_hours = max(reached)
    return streak, pnls[-1][1] + int(pause_hours * 3_600_000)


def notional_reason(equity: float, leverage: float, cap: float | None) -> str | None:
    """The entry the engine would size (margin x leverage, E6) must not exceed the notional cap."""
    if cap is None:
        return None
    notional = equity * leverage
    if notional > cap:
        return f"max position notional: equity x leverage = {notional:,.2f} USD exceeds {cap:,.2f} USD"
    return None


# --------------------------------------------------------------------------- the kill switch


def _mine(alerts: list["AlertRecord"], mode: str, symbol: str) -> list["AlertRecord"]:
    return [a for a in alerts if a.details.get("mode") == mode and a.details.get("symbol") == symbol]


def kill_switch(factory: "SessionFactory", *, mode: str, symbol: str) -> "AlertRecord | None":
    """The alert that holds the kill switch on for this mode and symbol, or None when it is off."""
    from bitsniper.store.repositories import unresolved_alerts

    on = _mine(unresolved_alerts(factory, kind=KILL_ALERT_KIND), mode, symbol)
    return on[0] if on else None


def _send(notify: Notify | None, kind: str, summary: str, details: str | None = None) -> None:
    if notify is None:
        return
    from bitsniper.alerts import Alert

    try:
        notify(Alert(kind, summary, details=details))  # type: ignore[arg-type]
    except Exception as error:  # noqa: BLE001 - a notification never undoes the switch
        log.warning("kill-switch notification failed: %s", error)


def engage_kill_switch(
    factory: "SessionFactory", *, mode: str, symbol: str, reason: str, source: str = "manual",
    notify: Notify | None = None, details: dict[str, Any] | None = None,
) -> bool:
    """Turn the kill switch on (persisted); False when it already was (no second alert, no notification)."""
    from bitsniper.store.repositories import record_alert

    if kill_switch(factory, mode=mode, symbol=symbol) is not None:
        return False
    record_alert(
        factory, kind=KILL_ALERT_KIND, severity="critical", message=f"kill switch on: {reason}",
        details={"mode": mode, "symbol": symbol, "source": source, "reason": reason, **(details or {})},
    )
    log.error("kill switch ON for %s %s (%s): %s", mode, symbol, source, reason)
    _send(notify, "halt", f"kill switch ON for {mode} {symbol}: no new entry", f"{source}: {reason}\nClear it with `bitsniper resume` or /resume.")
    return True


def clear_kill_switch(factory: "SessionFactory", *, mode: str, symbol: str, notify: Notify | None = None) -> int:
    """Turn it off (``bitsniper resume``); returns how many kill-switch alerts were resolved."""
    from bitsniper.store.repositories import resolve_alert, unresolved_alerts

    count = sum(resolve_alert(factory, a.id) for a in _mine(unresolved_alerts(factory, kind=KILL_ALERT_KIND), mode, symbol))
    if count:
        log.warning("kill switch cleared for %s %s", mode, symbol)
        _send(notify, "info", f"kill switch OFF for {mode} {symbol}: entries allowed again")
    return count


def _last_cleared(factory: "SessionFactory", mode: str, symbol: str) -> datetime | None:
    from sqlalchemy import select

    from bitsniper.store.models import AlertRow

    with factory() as session:
        rows = session.execute(
            select(AlertRow.details, AlertRow.resolved_at)
            .where(AlertRow.kind == KILL_ALERT_KIND, AlertRow.resolved_at.is_not(None))
            .order_by(AlertRow.resolved_at.desc())
        ).all()
    return next((at for details, at in rows if details.get("mode") == mode and details.get("symbol") == symbol), None)


# --------------------------------------------------------------------------- equity history


def record_equity(factory: "SessionFactory", *, mode: str, symbol: str, equity: float, at: datetime) -> None:
    from bitsniper.store.records import PositionRecord
    from bitsniper.store.repositories import record_position_snapshot

    record_position_snapshot(
        factory,
        PositionRecord(mode=mode, symbol=symbol, source=EQUITY_SOURCE, side="flat", size=Decimal(0),  # type: ignore[arg-type]
                       taken_at=at, equity=Decimal(repr(float(equity)))),
    )


def _samples(mode: str, symbol: str):  # type: ignore[no-untyped-def]
    from bitsniper.store.models import PositionSnapshot as P

    return P, (P.mode == mode, P.symbol == symbol, P.source == EQUITY_SOURCE, P.equity.is_not(None))


def day_start_equity(factory: "SessionFactory", *, mode: str, symbol: str, now: datetime) -> float | None:
    """The last equity sample before today's 00:00 UTC, else today's first one."""
    from sqlalchemy import select

    P, where = _samples(mode, symbol)
    midnight = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    with factory() as session:
        before = session.scalars(
            select(P.equity).where(*where, P.taken_at < midnight).order_by(P.taken_at.desc(), P.id.desc()).limit(1)
        ).first()
        if before is None:
            before = session.scalars(
                select(P.equity).where(*where, P.taken_at >= midnight, P.taken_at <= now).order_by(P.taken_at, P.id).limit(1)
            ).first()
    return None if before is None else float(before)


def peak_equity(factory: "SessionFactory", *, mode: str, symbol: str, now: datetime) -> float | None:
    """The highest equity sample since the kill switch was last cleared (all history if never)."""
    from sqlalchemy import func, select

    P, where = _samples(mode, symbol)
    since = _last_cleared(factory, mode, symbol)
    with factory() as session:
        query = select(func.max(P.equity)).where(*where, P.taken_at <= now)
        if since is not None:
            query = query.where(P.taken_at >= since)
        peak = session.scalar(query)
    return None if peak is None else float(peak)


# --------------------------------------------------------------------------- the verdict


@dataclass(frozen=True, slots=True)
class RiskStatus:
    """What ``bitsniper status`` and /status show about the limits."""

    kill_switch: str | None  # the reason it is on, or None
    day_start_equity: float | None
    peak_equity: float | None
    loss_streak: int
    paused_until_ms: int | None
    block: str | None


def _pause(factory: "SessionFactory", settings: "Settings", mode: str, symbol: str) -> tuple[int, int] | None:
    from bitsniper.journal import closed_trades
    from bitsniper.store.records import datetime_to_ms

    done = closed_trades(factory, mode=mode, symbol=symbol)
    pnls = [(float(t.pnl_usd or 0), datetime_to_ms(t.exit_time)) for t in done if t.exit_time is not None]
    return loss_pause_until(pnls, settings.loss_pause_streaks, settings.loss_pause_hours)


def _once_a_day(factory: "SessionFactory", mode: str, symbol: str, now: datetime, limit: str, reason: str) -> None:
    """Record a risk-limit alert the first time a limit blocks on a UTC day (later runs stay quiet)."""
    from bitsniper.store.repositories import record_alert, unresolved_alerts

    day = now.astimezone(timezone.utc).date().isoformat()
    for alert in _mine(unresolved_alerts(factory, kind=RISK_ALERT_KIND), mode, symbol):
        if alert.details.get("day") == day and alert.details.get("limit") == limit:
            return
    record_alert(factory, kind=RISK_ALERT_KIND, severity="warning", message=reason,
                 details={"mode": mode, "symbol": symbol, "day": day, "limit": limit})


def _verdict(
    factory: "SessionFactory", settings: "Settings", mode: str, symbol: str, now: datetime, equity: float | None,
    notify: Notify | None, act: bool,
) -> RiskStatus:
    killed = kill_switch(factory, mode=mode, symbol=symbol)
    start = day_start_equity(factory, mode=mode, symbol=symbol, now=now)
    peak = peak_equity(factory, mode=mode, symbol=symbol, now=now)
    pause = _pause(factory, settings, mode, symbol)
    streak, until = (pause if pause is not None else (0, None))
    now_ms = int(now.timestamp() * 1000)
    block: str | None = None
    if killed is not None:
        block = f"kill switch on ({killed.details.get('source', 'manual')}): {killed.details.get('reason', killed.message)}"
    elif equity is not None and (reason := drawdown_reason(peak, equity, settings.drawdown_kill_pct)):
        block = f"kill switch on (drawdown): {reason}"
        if act:
            engage_kill_switch(factory, mode=mode, symbol=symbol, reason=reason, source="drawdown", notify=notify,
                               details={"peak": peak, "equity": equity})
    elif equity is not None and (reason := daily_limit_reason(start, equity, settings.daily_loss_limit_pct, settings.daily_profit_lock_pct)):
        block = reason
        if act:
            _once_a_day(factory, mode, symbol, now, reason.split(":")[0], reason)
    elif until is not None and now_ms < until:
        block = f"loss-streak pause: {streak} losing trades in a row, no entry until {datetime.fromtimestamp(until / 1000, timezone.utc):%Y-%m-%d %H:%M} UTC"
    elif equity is not None and (reason := notional_reason(equity, settings.leverage, settings.max_position_notional_usd)):
        block = reason
    return RiskStatus(
        None if killed is None else str(killed.details.get("reason", killed.message)), start, peak, streak,
        until if until is not None and now_ms < until else None, block,
    )


def risk_status(
    factory: "SessionFactory", settings: "Settings", *, mode: str, symbol: str, now: datetime, equity: float | None = None
) -> RiskStatus:
    """The limits' state without changing anything (no equity sample, no alert)."""
    return _verdict(factory, settings, mode, symbol, now, equity, None, act=False)


def entry_block(
    factory: "SessionFactory", settings: "Settings", *, mode: str, symbol: str, now_ms: int, equity: float,
    notify: Notify | None = None,
) -> str | None:
    """Why entries are blocked now, or None (called by the pipeline before each live/paper decision).

    Stores the equity sample first (the history the daily and drawdown limits read). A drawdown past the
    limit turns the kill switch on here, notifying through ``notify`` (default: the operator channels of
    the settings, webhook and Telegram).
    """
    now = datetime.fromtimestamp(now_ms / 1000, timezone.utc)
    record_equity(factory, mode=mode, symbol=symbol, equity=equity, at=now)
    if notify is None:
        from bitsniper.notifiers import operator_notifier

        notify = operator_notifier(settings)
    status = _verdict(factory, settings, mode, symbol, now, equity, notify, act=True)
    if status.block:
        log.warning("entries blocked for %s %s: %s", mode, symbol, status.block)
    return status.block
