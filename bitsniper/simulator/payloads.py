"""Kraken Futures reply bodies, shaped exactly as the exchange sends them (see tests/data/kraken/).

Numbers are JSON numbers (Kraken's REST v3 sends floats), candle prices are strings, symbols are upper-case
in fills, positions and order status and lower-case in order events and open orders, and order ids are
``order_id`` in sendStatus, fills and openorders but ``orderId`` in events and order status.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bitsniper.simulator.clock import iso_ms
from bitsniper.simulator.state import AccountSnapshot, ExchangeState, InstrumentRules, SendOutcome, SimFill, SimOrder

__all__ = [
    "success",
    "error",
    "instrument_payload",
    "order_event_payload",
    "send_status_payload",
    "order_status_payload",
    "open_order_payload",
    "fill_payload",
    "position_payloads",
    "account_payload",
]


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def success(server_ms: int, **fields: Any) -> dict[str, Any]:
    return {"result": "success", **fields, "serverTime": iso_ms(server_ms)}


def error(server_ms: int, code: str) -> dict[str, Any]:
    return {"result": "error", "serverTime": iso_ms(server_ms), "error": code}


def instrument_payload(rules: InstrumentRules) -> dict[str, Any]:
    return {
        "symbol": rules.symbol,
        "type": "flexible_futures",
        "tradeable": True,
        "tickSize": float(rules.tick_size),
        "contractSize": 1,
        "impactMidSize": 1.0,
        "maxPositionSize": float(rules.max_position_size),
        "openingDate": "2022-03-22T13:18:45.000Z",
        "marginLevels": [
            {
                "numNonContractUnits": 0.0,
                "initialMargin": float(rules.initial_margin_rate),
                "maintenanceMargin": float(rules.maintenance_margin_rate),
            },
            {
                "numNonContractUnits": 500000.0,
                "initialMargin": float(rules.initial_margin_rate * 2),
                "maintenanceMargin": float(rules.maintenance_margin_rate * 2),
            },
        ],
        "fundingRateCoefficient": 24,
        "maxRelativeFundingRate": 0.0025,
        "contractValueTradePrecision": rules.contract_value_trade_precision,
        "postOnly": False,
        "feeScheduleUid": "eef90775-995b-4596-9257-0917f6134766",
        "retailMarginLevels": [],
        "category": "Layer 1",
        "tags": [],
        "mtf": False,
        "base": "BTC",
        "quote": "USD",
        "pair": "BTC:USD",
    }


def _order_core(order: SimOrder, filled: Decimal, symbol_case: str) -> dict[str, Any]:
    symbol = order.symbol.lower() if symbol_case == "lower" else order.symbol
    return {
        "orderId": order.order_id,
        "cliOrdId": order.cli_ord_id,
        "type": order.order_type,
        "symbol": symbol,
        "side": order.side,
        "quantity": float(order.quantity),
        "filled": float(filled),
        "limitPrice": _num(order.limit_price),
        "reduceOnly": order.reduce_only,
        "timestamp": iso_ms(order.received_ms),
        "lastUpdateTimestamp": iso_ms(order.last_update_ms),
    }


def order_event_payload(outcome: SendOutcome) -> list[dict[str, Any]]:
    """``orderEvents``: one EXECUTION per fill of a marketable order, or a PLACE for a resting order; an
    immediate-or-cancel order stopped part-way ends with a CANCEL of its unfilled rest."""
    order = outcome.order
    if order is None:
        return []
    cancel = {"uid": order.order_id, "order": _order_core(order, order.filled, "lower"), "type": "CANCEL"}
    if not outcome.executions:
        if order.state == "cancelled":
            return [cancel]
        return [{"order": _order_core(order, Decimal(0), "lower"), "reducedQuantity": None, "type": "PLACE"}]
    events: list[dict[str, Any]] = []
    filled_before = Decimal(0)
    for fill in outcome.executions:
        prior = _order_core(order, filled_before, "lower")
        prior["lastUpdateTimestamp"] = iso_ms(order.received_ms)
        events.append(
            {
                "executionId": fill.fill_id,
                "price": float(fill.price),
                "amount": float(fill.size),
                "orderPriorEdit": None,
                "orderPriorExecution": prior,
                "takerReducedQuantity": _num(outcome.reduced_quantity),
                "type": "EXECUTION",
            }
        )
        filled_before += fill.size
    if order.state == "cancelled":
        events.append(cancel)
    return events


def send_status_payload(outcome: SendOutcome) -> dict[str, Any]:
    status: dict[str, Any] = {"status": outcome.status, "receivedTime": iso_ms(outcome.received_ms)}
    if outcome.order is not None:
        status = {"order_id": outcome.order.order_id, **status}
    status["orderEvents"] = order_event_payload(outcome)
    return status


def order_status_payload(order: SimOrder) -> dict[str, Any]:
    """One entry of ``orders/status``."""
    core = _order_core(order, order.filled, "upper")
    core = {"type": "ORDER", **{k: v for k, v in core.items() if k != "type"}}
    core.update({"algoId": None, "priceTriggerOptions": None, "triggerTime": None})
    status = {"open": "ENTERED_BOOK", "filled": "FULLY_EXECUTED", "cancelled": "CANCELLED"}[order.state]
    reason = "CANCELLED_BY_USER" if order.state == "cancelled" else None
    return {"order": core, "status": status, "updateReason": reason, "error": None}


def open_order_payload(order: SimOrder) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "order_id": order.order_id,
        "symbol": order.symbol.lower(),
        "side": order.side,
        "orderType": order.order_type,
        "limitPrice": _num(order.limit_price),
        "unfilledSize": float(order.quantity - order.filled),
        "receivedTime": iso_ms(order.received_ms),
        "status": "untouched" if order.filled == 0 else "partiallyFilled",
        "filledSize": float(order.filled),
        "reduceOnly": order.reduce_only,
        "lastUpdateTime": iso_ms(order.last_update_ms),
    }
    if order.cli_ord_id is not None:
        payload["cliOrdId"] = order.cli_ord_id
    return payload


def fill_payload(fill: SimFill) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "fill_id": fill.fill_id,
        "symbol": fill.symbol,
        "side": fill.side,
        "order_id": fill.order_id,
        "size": float(fill.size),
        "price": float(fill.price),
        "fillTime": iso_ms(fill.time_ms),
        "fillType": fill.fill_type,
    }
    if fill.cli_ord_id is not None:
        payload["cliOrdId"] = fill.cli_ord_id
    return payload


def position_payloads(state: ExchangeState) -> list[dict[str, Any]]:
    """``openPositions``: size is positive and ``side`` carries the direction; flat symbols are absent."""
    rows = []
    for position in state.positions.values():
        row: dict[str, Any] = {
            "side": "long" if position.size > 0 else "short",
            "symbol": position.symbol,
            "price": float(position.entry_price),
            "fillTime": iso_ms(position.fill_time_ms),
            "size": float(abs(position.size)),
            "unrealizedFunding": 0.0,
            "pnlCurrency": "USD",
        }
        if position.symbol in state.leverage:
            row["maxFixedLeverage"] = float(state.leverage[position.symbol])
        rows.append(row)
    return rows


def account_payload(snapshot: AccountSnapshot) -> dict[str, Any]:
    """``accounts``: the multi-collateral ``flex`` account holding USD (PF_ contracts margin from it)."""
    balance = float(snapshot.balance)
    return {
        "cash": {"type": "cashAccount", "balances": {"usd": 0.0}},
        "flex": {
            "type": "multiCollateralMarginAccount",
            "currencies": {
                "USD": {"quantity": balance, "value": balance, "collateral": balance, "available": balance}
            },
            "initialMargin": float(snapshot.initial_margin),
            "initialMarginWithOrders": float(snapshot.initial_margin),
            "maintenanceMargin": float(snapshot.maintenance_margin),
            "balanceValue": balance,
            "portfolioValue": float(snapshot.margin_equity),
            "collateralValue": balance,
            "pnl": float(snapshot.unrealized_pnl),
            "unrealizedFunding": 0.0,
            "totalUnrealized": float(snapshot.unrealized_pnl),
            "totalUnrealizedAsMargin": float(snapshot.unrealized_pnl),
            "availableMargin": float(snapshot.available_margin),
            "marginEquity": float(snapshot.margin_equity),
        },
    }
