"""Health checks and the daily summary: the original bot's monitoring, as plain functions (no Airflow).

The checks are the original bot's alerts: 10 consecutive errors, circuit breaker open, memory above 1 GB,
CPU above 90 %, no success for over an hour. Each check turns a measurement into a ``CheckResult``;
``apply_result`` then alerts **on change**: a failing check records one alert in the store and sends it,
later failures of the same check are silent while that alert is unresolved, and the first passing check
resolves it and sends a "recovered" notice. A 5-minute schedule therefore never repeats an open condition.

"Consecutive errors" are consecutive failed runs of the pipeline DAG (each one has already spent its
retries), read from Airflow's metadata by the caller and passed in as ``RunOutcome`` values, newest first:
the task failure callbacks do not write to the store, so the store cannot count them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Literal

from sqlalchemy import func, select

from bitsniper.alerts import Alert
from bitsniper.breaker import breaker_name
from bitsniper.config import Settings
from bitsniper.store.db import SessionFactory
from bitsniper.store.models import AlertRow, DecisionRow, FillRow, OrderRow
from bitsniper.store.records import BreakerRecord
from bitsniper.store.repositories import load_breaker, record_alert, resolve_alert, unresolved_alerts

__all__ = [
    "CheckName",
    "RunOutcome",
    "CheckResult",
    "CheckOutcome",
    "DailySummary",
    "ALERT_KIND_PREFIX",
    "SUMMARY_ALERT_KIND",
    "consecutive_failures",
    "check_consecutive_errors",
    "check_breaker",
    "check_memory",
    "check_cpu",
    "check_stale_run",
    "StackEvent",
    "stack_events",
    "check_stack_restarts",
    "MemoryUsage",
    "bot_memory",
    "host_cpu_percent",
    "last_decision_at",
    "apply_result",
    "pipeline_checks",
    "host_checks",
    "daily_summary",
    "send_daily_summary",
]

_LOG = logging.getLogger(__name__)
Notify = Callable[[Alert], object]
CheckName = Literal["consecutive_errors", "circuit_breaker", "memory", "cpu", "stale_run", "stack_restarts"]
RunOutcome = Literal["success", "failed", "running", "none"]
Severity = Literal["warning", "critical"]
ALERT_KIND_PREFIX = "monitor_"
SUMMARY_ALERT_KIND = "daily_summary"
_MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's verdict: ``ok`` or not, the measured value and the threshold, in words for the operator."""

    name: CheckName
    ok: bool
    message: str
    severity: Severity = "critical"
    value: float | None = None
    threshold: float | None = None

    @property
    def kind(self) -> str:
        """The stored alert kind (the alert-on-change key)."""
        return ALERT_KIND_PREFIX + self.name


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """What ``apply_result`` did: ``raised`` (new alert sent), ``open`` (already alerted), ``resolved``, ``ok``."""

    result: CheckResult
    action: Literal["raised", "open", "resolved", "ok"]
    alert_ids: tuple[int, ...] = ()


# --- the checks (pure) ----------------------------------------------------------------------------------


def consecutive_failures(outcomes: Sequence[RunOutcome]) -> int:
    """Failed runs in a row, newest first; the newest tick may still be running or not started yet."""
    items = list(outcomes)
    if items and items[0] in ("running", "none"):
        items = items[1:]
    count = 0
    for outcome in items:
        if outcome != "failed":
            break
        count += 1
    return count


def check_consecutive_errors(outcomes: Sequence[RunOutcome], threshold: int, dag_id: str = "bitsniper") -> CheckResult:
    count = consecutive_failures(outcomes)
    ok = count < threshold
    message = (
        f"{count} consecutive failed {dag_id} run(s) (alert at {threshold})" if ok
        else f"{count} consecutive failed {dag_id} runs (threshold {threshold}): the bot is not trading"
    )
    return CheckResult("consecutive_errors", ok, message, "critical", float(count), float(threshold))


def check_breaker(record: BreakerRecord) -> CheckResult:
    """Open (or half-open: still on trial) means orders are refused unsent until the exchange answers again."""
    if record.state == "closed":
        return CheckResult("circuit_breaker", True, f"circuit breaker {record.name} is closed")
    since = f" since {record.opened_at.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC" if record.opened_at else ""
    return CheckResult(
        "circuit_breaker", False,
        f"circuit breaker {record.name} is {record.state}{since} after {record.failure_count} transport failures: "
        "no order reaches the exchange",
        "critical", float(record.failure_count),
    )


def check_memory(usage: "MemoryUsage", threshold_mb: float) -> CheckResult:
    """The spec's "bot memory above 1 GB", per process: Airflow's own services (scheduler, API server,
    triggerer, DAG processor, idle workers) already take about 1.5 GB together when idle, so the total
    would alert for ever; a leaking task or service still shows as one process growing past the limit."""
    used = usage.largest_bytes / _MB
    ok = used <= threshold_mb
    word = "within" if ok else "above"
    return CheckResult(
        "memory", ok,
        f"largest bot process ({usage.largest_name}) {used:.0f} MB {word} the {threshold_mb:.0f} MB limit "
        f"({usage.processes} Airflow/bot processes: {usage.total_bytes / _MB:.0f} MB)",
        "warning", used, threshold_mb,
    )


def check_cpu(percent: float, threshold: float) -> CheckResult:
    ok = percent <= threshold
    word = "within" if ok else "above"
    return CheckResult("cpu", ok, f"host CPU {percent:.0f} % {word} the {threshold:.0f} % limit", "warning", percent, threshold)


@dataclass(frozen=True, slots=True)
class StackEvent:
    """A line of scripts/airflow-stack.sh's log that says a component was restarted or found hung."""

    at: datetime
    component: str
    text: str

    @property
    def hung(self) -> bool:
        return " unhealthy for " in self.text


_STACK_TAIL_BYTES = 64 * 1024


def stack_events(path: Path) -> list[StackEvent]:
    """Restarts (``exited (code N)``) and watchdog kills (``unhealthy for N checks``) in the stack's log;
    only its last 64 KB is read (the log grows by a line per event and per start)."""
    try:
        with path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - _STACK_TAIL_BYTES))
            lines = log.read().decode(errors="replace").splitlines()
    except FileNotFoundError:
        return []
    events = []
    for line in lines:
        stamp, _, text = line.partition(" ")
        if " exited (code " not in text and " unhealthy for " not in text:
            continue
        try:
            at = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            continue
        events.append(StackEvent(at, text.split(" ", 1)[0], text))
    return events


def check_stack_restarts(events: Sequence[StackEvent], now: datetime, window_minutes: float) -> CheckResult:
    """An Airflow component that died or hung (and was started again by the stack) within the window: the
    stack heals itself, but a trader wants to know, and a component restarting again and again needs a look."""
    recent = [e for e in events if now - e.at <= timedelta(minutes=window_minutes) and " exited (code " in e.text]
    if not recent:
        return CheckResult("stack_restarts", True, f"no Airflow component restarted in the last {window_minutes:.0f} min",
                           "warning", 0.0, None)
    parts = []
    for component in sorted({e.component for e in recent}):
        times = [e.at for e in recent if e.component == component]
        # The watchdog's kill line comes a few seconds before the exit it causes.
        killed = [e.at for e in events if e.hung and e.component == component]
        why = "hung, killed by the watchdog" if any(abs((t - k).total_seconds()) <= 30 for t in times for k in killed) else "exited"
        parts.append(f"{component} x{len(times)} ({why}; last {max(times):%H:%M} UTC)")
    return CheckResult(
        "stack_restarts", False,
        f"Airflow components restarted in the last {window_minutes:.0f} min: {', '.join(parts)}; see stack.log and "
        "the component logs",
        "warning", float(len(recent)), None,
    )


def check_stale_run(last: datetime | None, now: datetime, stale_minutes: float, mode: str, ran_before: bool = True) -> CheckResult:
    """No decision of the trading mode for ``stale_minutes``: no run got as far as ``decide`` (a success).

    ``ran_before``: the pipeline already had a run ``stale_minutes`` ago (True when unknown). With no
    decision at all yet and no such run, this is a fresh install or the first start in a new mode, not
    "an hour without a successful run": no alert until the pipeline has been running that long.
    """
    if last is None:
        if not ran_before:
            return CheckResult(
                "stale_run", True, f"no {mode} decision yet; the pipeline has run for less than {stale_minutes:.0f} min",
                "critical", None, stale_minutes,
            )
        return CheckResult("stale_run", False, f"no {mode} decision recorded yet: no successful run", "critical", None, stale_minutes)
    age = (now - last).total_seconds() / 60
    ok = age <= stale_minutes
    when = f"{last.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"
    message = (
        f"last {mode} decision {age:.0f} min ago ({when})" if ok
        else f"no successful run for {age:.0f} min: last {mode} decision at {when} (limit {stale_minutes:.0f} min)"
    )
    return CheckResult("stale_run", ok, message, "critical", age, stale_minutes)


# --- measurements ---------------------------------------------------------------------------------------


def _bot_processes() -> Iterable[object]:
    import psutil

    me = psutil.Process(os.getpid())
    seen = {me.pid}
    yield me
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        if proc.pid in seen:
            continue
        name = (proc.info.get("name") or "").lower()
        cmdline = " ".join(proc.info.get("cmdline") or [])
        # Python processes only: a PostgreSQL backend serving database "bitsniper" is not the bot.
        if any(n in name for n in ("python", "airflow", "bitsniper")) and ("airflow" in cmdline or "bitsniper" in cmdline):
            seen.add(proc.pid)
            yield proc


@dataclass(frozen=True, slots=True)
class MemoryUsage:
    """Resident memory of the Airflow/bot processes of this host."""

    total_bytes: int
    largest_bytes: int
    largest_name: str
    processes: int


def bot_memory() -> MemoryUsage:
    """RSS of this process and every Python process of this host whose command line names airflow or
    bitsniper (scheduler, triggerer, API server, DAG processor, task supervisors and tasks)."""
    import psutil

    total = largest = count = 0
    name = "none"
    for proc in _bot_processes():
        try:
            rss = proc.memory_info().rss  # type: ignore[attr-defined]
            words = " ".join(proc.cmdline()).split()[:3]  # type: ignore[attr-defined]
            title = " ".join(os.path.basename(w) for w in words) or proc.name()  # type: ignore[attr-defined]
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue  # ended while we looked, or another user's
        total += rss
        count += 1
        if rss > largest:
            largest, name = rss, title.split(" -- ")[0]
    return MemoryUsage(total, largest, name, count)


def host_cpu_percent(sample_secs: float) -> float:
    """Host-wide CPU use over ``sample_secs`` (what a VPS running the bot has left)."""
    import psutil

    return float(psutil.cpu_percent(interval=sample_secs))


def last_decision_at(factory: SessionFactory, *, mode: str, symbol: str) -> datetime | None:
    """When the newest decision of ``mode`` was recorded (backfill decisions are not runs that trade)."""
    with factory() as session:
        return session.scalar(
            select(func.max(DecisionRow.created_at)).where(DecisionRow.mode == mode, DecisionRow.symbol == symbol)
        )


# --- alert on change -----------------------------------------------------------------------------------


def _send(notify: Notify, alert: Alert) -> None:
    try:
        notify(alert)
    except Exception as error:  # noqa: BLE001 - the alert is stored; a channel must not break the check
        _LOG.error("monitoring alert could not be sent: %s", error)


def apply_result(factory: SessionFactory, result: CheckResult, notify: Notify, *, template: Alert | None = None) -> CheckOutcome:
    """Record and send a new problem once, stay silent while it lasts, resolve it (and say so) when it clears."""
    base = template or Alert("info", "")
    open_alerts = unresolved_alerts(factory, kind=result.kind)
    if result.ok:
        if not open_alerts:
            return CheckOutcome(result, "ok")
        ids = tuple(a.id for a in open_alerts if resolve_alert(factory, a.id))
        if ids:
            _send(notify, replace(base, kind="info", summary=f"recovered: {result.message}"))
        return CheckOutcome(result, "resolved", ids)
    if open_alerts:
        return CheckOutcome(result, "open", tuple(a.id for a in open_alerts))
    ident = record_alert(
        factory, kind=result.kind, severity=result.severity, message=result.message,
        details={"check": result.name, "value": result.value, "threshold": result.threshold},
    )
    _send(notify, replace(base, kind="failure", summary=result.message, details=f"check: {result.name} ({result.severity})"))
    return CheckOutcome(result, "raised", (ident,))


def pipeline_checks(
    factory: SessionFactory,
    settings: Settings,
    notify: Notify,
    *,
    run_outcomes: Sequence[RunOutcome],
    now: datetime | None = None,
    template: Alert | None = None,
    pipeline_dag_id: str = "bitsniper",
    ran_before: bool = True,
) -> list[CheckOutcome]:
    """Consecutive failed runs, the circuit breaker of the trading mode, and the last decision's age
    (``ran_before``: see ``check_stale_run``)."""
    moment = now or datetime.now(timezone.utc)
    last = last_decision_at(factory, mode=settings.mode, symbol=settings.symbol)
    results = [
        check_consecutive_errors(run_outcomes, settings.monitor_consecutive_errors, pipeline_dag_id),
        check_breaker(load_breaker(factory, breaker_name(settings.mode))),
        check_stale_run(last, moment, settings.monitor_stale_minutes, settings.mode, ran_before),
    ]
    return [apply_result(factory, r, notify, template=template) for r in results]


def host_checks(
    factory: SessionFactory,
    settings: Settings,
    notify: Notify,
    *,
    memory: MemoryUsage | None = None,
    cpu_percent: float | None = None,
    template: Alert | None = None,
    stack_log: Path | None = None,
    now: datetime | None = None,
) -> list[CheckOutcome]:
    """Memory of the bot's processes and host CPU, measured now unless given; and, when the stack was
    started by ``make run`` (``stack_log``), the Airflow components it had to restart."""
    usage = bot_memory() if memory is None else memory
    cpu = host_cpu_percent(settings.monitor_cpu_sample_secs) if cpu_percent is None else cpu_percent
    results = [check_memory(usage, settings.monitor_memory_mb), check_cpu(cpu, settings.monitor_cpu_percent)]
    if stack_log is not None:
        moment = now or datetime.now(timezone.utc)
        results.append(check_stack_restarts(stack_events(stack_log), moment, settings.monitor_restart_minutes))
    return [apply_result(factory, r, notify, template=template) for r in results]


# --- daily summary --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DailySummary:
    """Trading over one UTC day; a trade counts on the day its position went back to flat (or flipped)."""

    day: date
    mode: str
    symbol: str
    trades: int
    wins: int
    pnl_usd: Decimal
    fees_usd: Decimal
    fills: int
    decisions: int
    entries: int
    exits: int
    orders_by_status: dict[str, int] = field(default_factory=dict)
    open_position_btc: Decimal = Decimal(0)

    @property
    def win_rate(self) -> float | None:
        return None if self.trades == 0 else self.wins / self.trades

    def text(self) -> str:
        rate = "n/a" if self.win_rate is None else f"{self.win_rate * 100:.0f} %"
        orders = ", ".join(f"{k} {v}" for k, v in sorted(self.orders_by_status.items())) or "none"
        position = "flat" if self.open_position_btc == 0 else f"{_num(self.open_position_btc)} BTC open"
        return (
            f"PnL {_usd(self.pnl_usd):+} USD (fees {_usd(self.fees_usd)}) | trades {self.trades}, wins {self.wins}, "
            f"win rate {rate}\nDecisions {self.decisions} (entries {self.entries}, exits {self.exits}) | "
            f"orders: {orders} | fills {self.fills} | position at day end: {position}"
        )


def _usd(value: Decimal) -> Decimal:
    """Cents, half away from zero as people round money (Decimal's default would give -1.00 for -1.005)."""
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def daily_summary(factory: SessionFactory, *, mode: str, symbol: str, day: date) -> DailySummary:
    """PnL, win rate and counts of ``day`` (UTC) from the store's fills, orders and decisions.

    Fills of our own orders (joined by cliOrdId, so the mode is known) are replayed from the first one:
    a trade closed today may have opened days ago. PnL is price PnL minus the fees the fills carry
    (Kraken's fills feed gives none, so live PnL is before fees).
    """
    start, end = _day_bounds(day)
    with factory() as session:
        fills = session.execute(
            select(FillRow.side, FillRow.size, FillRow.price, FillRow.fee, FillRow.filled_at)
            .join(OrderRow, OrderRow.cli_ord_id == FillRow.cli_ord_id)
            .where(OrderRow.mode == mode, OrderRow.symbol == symbol, FillRow.filled_at < end)
            .order_by(FillRow.filled_at, FillRow.id)
        ).all()
        orders = session.execute(
            select(OrderRow.status, func.count())
            .where(OrderRow.mode == mode, OrderRow.symbol == symbol, OrderRow.intent_at >= start, OrderRow.intent_at < end)
            .group_by(OrderRow.status)
        ).all()
        decisions = session.execute(
            select(DecisionRow.actions).where(
                DecisionRow.mode == mode, DecisionRow.symbol == symbol,
                DecisionRow.candle_time >= start, DecisionRow.candle_time < end,
            )
        ).all()
    position, average, trade_pnl = Decimal(0), Decimal(0), Decimal(0)
    trades = wins = day_fills = 0
    pnl = fees = Decimal(0)
    for side, size, price, fee, filled_at in fills:
        in_day = filled_at >= start
        day_fills += in_day
        fee = fee or Decimal(0)
        signed = size if side == "buy" else -size
        if in_day:
            fees += fee
        if position == 0 or (position > 0) == (signed > 0):
            average = (abs(position) * average + size * price) / (abs(position) + size)
            position += signed
            trade_pnl -= fee
            continue
        closing = min(size, abs(position))
        share = fee * closing / size
        trade_pnl += closing * (price - average) * (1 if position > 0 else -1) - share
        position += signed
        if position == 0 or (position > 0) == (signed > 0):  # flat, or flipped: the trade is over
            if in_day:
                trades += 1
                wins += trade_pnl > 0
                pnl += trade_pnl
            trade_pnl = -(fee - share)
            average = price
    entries = sum(1 for (actions,) in decisions for a in actions if a.get("kind") == "open")
    exits = sum(1 for (actions,) in decisions for a in actions if a.get("kind") != "open")
    return DailySummary(
        day=day, mode=mode, symbol=symbol, trades=trades, wins=wins, pnl_usd=pnl, fees_usd=fees, fills=day_fills,
        decisions=len(decisions), entries=entries, exits=exits, orders_by_status={s: int(n) for s, n in orders},
        open_position_btc=position,
    )


def _already_sent(factory: SessionFactory, summary: DailySummary) -> bool:
    key = {"day": summary.day.isoformat(), "mode": summary.mode, "symbol": summary.symbol}
    with factory() as session:
        rows = session.scalars(select(AlertRow.details).where(AlertRow.kind == SUMMARY_ALERT_KIND)).all()
    return any(all(details.get(k) == v for k, v in key.items()) for details in rows)


def send_daily_summary(factory: SessionFactory, summary: DailySummary, notify: Notify, *, template: Alert | None = None) -> bool:
    """Record (resolved at once: nothing to act on) and send the day's summary; a day already sent is skipped,
    so a retried or rerun task does not send it twice. Returns whether it was sent now."""
    if _already_sent(factory, summary):
        return False
    title = f"daily summary {summary.day.isoformat()} ({summary.mode} {summary.symbol})"
    ident = record_alert(
        factory, kind=SUMMARY_ALERT_KIND, severity="info", message=f"{title}: {summary.text()}",
        details={
            "day": summary.day.isoformat(), "mode": summary.mode, "symbol": summary.symbol, "trades": summary.trades,
            "wins": summary.wins, "pnl_usd": str(summary.pnl_usd), "fees_usd": str(summary.fees_usd),
        },
    )
    resolve_alert(factory, ident)
    _send(notify, replace(template or Alert("info", ""), kind="info", summary=title, details=summary.text()))
    return True
