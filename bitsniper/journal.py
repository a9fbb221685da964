"""The trade journal: round trips rebuilt from the store's filled orders, and their export (issue 6).

A trade is an entry order (not reduce-only) followed by the reduce-only order that closed it, both
filled, of one mode and symbol. Prices are the orders' average fill prices; fees are the recorded fills'
fees where the venue reported them (Kraken's sendorder reply carries none, so live fees may read 0 until
the fills are fetched). The position type and rules come from the decision that sent each order.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, select

from bitsniper.store.db import SessionFactory
from bitsniper.store.models import DecisionRow, FillRow, OrderRow

__all__ = ["Trade", "trades", "closed_trades", "export_trades", "ExportFormat"]

ExportFormat = Literal["csv", "jsonl"]


@dataclass(frozen=True, slots=True)
class Trade:
    """One round trip; ``exit_*`` and ``pnl_usd`` are None while it is open."""

    mode: str
    symbol: str
    side: str  # long | short
    position_type: str
    entry_rule: str
    entry_order: str
    entry_time: datetime
    entry_price: Decimal
    size: Decimal
    exit_rule: str | None = None
    exit_order: str | None = None
    exit_time: datetime | None = None
    exit_price: Decimal | None = None
    fees_usd: Decimal = Decimal(0)
    pnl_usd: Decimal | None = None  # net of the known fees

    @property
    def is_closed(self) -> bool:
        return self.exit_time is not None

    def as_json(self) -> dict[str, Any]:
        """Plain JSON values: ISO times, decimals as strings (no float rounding in the journal)."""
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, Decimal):
                value = format(value.normalize(), "f")
            out[name] = value
        return out


def _action_of(decision: DecisionRow | None, index: int | None) -> dict[str, Any]:
    if decision is None:
        return {}
    for action in decision.actions:
        if action.get("index", 0) == (index or 0):
            return action
    return {}


def trades(factory: SessionFactory, *, mode: str, symbol: str) -> list[Trade]:
    """Every round trip of ``mode`` and ``symbol``, oldest first (the last may still be open)."""
    with factory() as session:
        orders = session.scalars(
            select(OrderRow)
            .where(OrderRow.mode == mode, OrderRow.symbol == symbol, OrderRow.status == "filled", OrderRow.filled_size > 0)
            .order_by(OrderRow.filled_at, OrderRow.id)
        ).all()
        ids = {o.decision_id for o in orders if o.decision_id}
        decisions = {d.id: d for d in session.scalars(select(DecisionRow).where(DecisionRow.id.in_(ids)))} if ids else {}
        fees = dict(
            session.execute(
                select(FillRow.cli_ord_id, func.sum(FillRow.fee))
                .where(FillRow.cli_ord_id.in_([o.cli_ord_id for o in orders]))
                .group_by(FillRow.cli_ord_id)
            ).all()
        ) if orders else {}
        result: list[Trade] = []
        current: Trade | None = None
        for order in orders:
            action = _action_of(decisions.get(order.decision_id or ""), order.action_index)
            fee = Decimal(fees.get(order.cli_ord_id) or 0)
            price = order.average_price
            if not order.reduce_only:
                if current is not None:  # an entry while one is open: keep the open one, note nothing
                    continue
                current = Trade(
                    mode=mode, symbol=symbol, side="long" if order.side == "buy" else "short",
                    position_type=str(action.get("position_type", "")), entry_rule=str(action.get("reason", "")),
                    entry_order=order.cli_ord_id, entry_time=order.filled_at or order.intent_at,
                    entry_price=price if price is not None else Decimal(0), size=order.filled_size, fees_usd=fee,
                )
                continue
            if current is None or price is None:
                continue  # a close with nothing open here (e.g. a manual position): not a trade of ours
            direction = Decimal(1) if current.side == "long" else Decimal(-1)
            size = min(current.size, order.filled_size)
            total_fees = current.fees_usd + fee
            pnl = (price - current.entry_price) * size * direction - total_fees
            result.append(
                Trade(
                    **{f.name: getattr(current, f.name) for f in fields(Trade)
                       if f.name not in ("exit_rule", "exit_order", "exit_time", "exit_price", "fees_usd", "pnl_usd")},
                    exit_rule=str(action.get("reason", "")), exit_order=order.cli_ord_id,
                    exit_time=order.filled_at, exit_price=price, fees_usd=total_fees, pnl_usd=pnl,
                )
            )
            current = None
        if current is not None:
            result.append(current)
        return result


def closed_trades(factory: SessionFactory, *, mode: str, symbol: str) -> list[Trade]:
    return [t for t in trades(factory, mode=mode, symbol=symbol) if t.is_closed]


def export_trades(items: Iterable[Trade], path: Path, fmt: ExportFormat) -> int:
    """Write the journal as CSV (one header row) or JSON lines; returns the number of trades written."""
    rows = [t.as_json() for t in items]
    names = [f.name for f in fields(Trade)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        if fmt == "csv":
            writer = csv.DictWriter(handle, fieldnames=names)
            writer.writeheader()
            writer.writerows(rows)
        elif fmt == "jsonl":
            for row in rows:
                handle.write(json.dumps(row, sort_keys=False) + "\n")
        else:
            raise ValueError(f"unknown export format {fmt!r}: csv or jsonl")
    return len(rows)
