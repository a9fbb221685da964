"""``parse_*``: every translation from Kraken Futures replies to BitSniper values happens here.

Strings and floats become ``Decimal`` (floats through their shortest repr, so 0.1 stays 0.1), ISO times
become epoch ms, Kraken enums map to ours through tables written out in full. An empty string counts as
missing; a missing field or an unknown enum value raises ``ExchangeReplyError``: it never gets a default.
Symbols are compared upper-case because Kraken writes them both ways (``PF_XBTUSD``, ``pf_xbtusd``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from bitsniper.errors import ExchangeReplyError, OrderRefused, OrderStateUnknown
from bitsniper.exchange.base import (
    DEADLINE_PASSED,
    AccountInfo,
    Candle,
    CandlePage,
    ExchangePosition,
    Execution,
    Fill,
    FillType,
    InstrumentSpec,
    OrderResult,
    OrderSide,
    OrderState,
    OrderStatus,
    PositionSide,
)

__all__ = [
    "ORDER_STATUS_STATES",
    "OPEN_ORDER_STATES",
    "SEND_STATUS_ACCEPTED",
    "SEND_STATUS_REFUSALS",
    "parse_decimal",
    "parse_time",
    "format_time",
    "parse_candle_page",
    "parse_instrument",
    "parse_account",
    "parse_position",
    "parse_send_status",
    "parse_order_statuses",
    "parse_open_orders",
    "parse_fills",
    "parse_leverage_preferences",
]

ORDER_STATUS_STATES: dict[str, OrderState] = {
    "ENTERED_BOOK": OrderState.OPEN,
    "FULLY_EXECUTED": OrderState.FILLED,
    "REJECTED": OrderState.REJECTED,
    "CANCELLED": OrderState.CANCELLED,
    "TRIGGER_PLACED": OrderState.TRIGGER_PLACED,
    "TRIGGER_ACTIVATION_FAILURE": OrderState.REJECTED,
}
OPEN_ORDER_STATES: dict[str, OrderState] = {
    "untouched": OrderState.OPEN,
    "partiallyFilled": OrderState.OPEN,
}
ORDER_SIDES: dict[str, OrderSide] = {"buy": OrderSide.BUY, "sell": OrderSide.SELL}
POSITION_SIDES: dict[str, PositionSide] = {"long": PositionSide.LONG, "short": PositionSide.SHORT}
FILL_TYPES: dict[str, FillType] = {
    "maker": FillType.MAKER,
    "taker": FillType.TAKER,
    "liquidation": FillType.LIQUIDATION,
    "assignor": FillType.ASSIGNOR,
    "assignee": FillType.ASSIGNEE,
    "takerAfterEdit": FillType.TAKER_AFTER_EDIT,
    "unwindBankrupt": FillType.UNWIND_BANKRUPT,
    "unwindCounterparty": FillType.UNWIND_COUNTERPARTY,
}
# ``result: success`` only means "received": the order's fate is sendStatus.status.
SEND_STATUS_ACCEPTED = frozenset({"placed", "partiallyFilled", "filled"})
SEND_STATUS_REFUSALS = frozenset(
    {
        "insufficientAvailableFunds",
        "invalidSize",
        "invalidPrice",
        "wouldCauseLiquidation",
        "clientOrderIdAlreadyExist",
        "clientOrderIdTooBig",
        "clientOrderIdInvalid",
        "marketSuspended",
        "marketInactive",
        "marketIsPostOnly",
        "wouldNotReducePosition",
        "iocWouldNotExecute",
        "postWouldExecute",
        "selfFill",
        "tooManySmallOrders",
        "tooManyOrders",
        "maxPositionViolation",
        "outsidePriceCollar",
        "wouldIncreasePriceDislocation",
        "fixedLeverageTooHigh",
        "notFound",
        # processBefore passed before Kraken processed the order. Kraken documents only "otherwise it is
        # rejected", not the status string: this is the simulator's; any other unknown status is looked up.
        DEADLINE_PASSED,
    }
)


def _field(payload: Mapping[str, Any], name: str, where: str) -> Any:
    if not isinstance(payload, Mapping):
        raise ExchangeReplyError(f"{where}: expected an object, got {type(payload).__name__}")
    value = payload.get(name)
    if value is None or value == "":
        raise ExchangeReplyError(f"{where}: field {name!r} is missing")
    return value


def _list(payload: Mapping[str, Any], name: str, where: str) -> list[Any]:
    if not isinstance(payload, Mapping) or not isinstance(payload.get(name), list):
        raise ExchangeReplyError(f"{where}: field {name!r} is missing or not a list")
    return payload[name]


def _enum(table: Mapping[str, Any], value: Any, name: str, where: str) -> Any:
    if value not in table:
        raise ExchangeReplyError(f"{where}: unknown {name} {value!r}")
    return table[value]


def parse_decimal(value: Any, name: str = "value", where: str = "reply") -> Decimal:
    """A Kraken number (string, int or float) as Decimal; bools, blanks and non-finite values raise."""
    if value is None or value == "" or isinstance(value, bool):
        raise ExchangeReplyError(f"{where}: field {name!r} is missing")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except InvalidOperation:
        raise ExchangeReplyError(f"{where}: field {name!r} is not a number: {value!r}") from None
    if not number.is_finite():
        raise ExchangeReplyError(f"{where}: field {name!r} is not finite: {value!r}")
    return number


def parse_time(value: Any, name: str = "time", where: str = "reply") -> int:
    """Kraken's ISO 8601 time (``2023-04-07T15:18:04.699Z``) as epoch milliseconds."""
    if not isinstance(value, str) or not value:
        raise ExchangeReplyError(f"{where}: field {name!r} is missing or not a time")
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ExchangeReplyError(f"{where}: field {name!r} is not an ISO time: {value!r}") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return int(round(stamp.timestamp() * 1000))


def format_time(ms: int) -> str:
    """Epoch ms in Kraken's ISO format, for request parameters such as ``lastFillTime``."""
    stamp = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _symbol(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ExchangeReplyError(f"{where}: field 'symbol' is missing")
    return value.upper()


def _optional_text(payload: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = payload.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def parse_candle_page(payload: Any) -> CandlePage:
    """Charts reply: no envelope, ``candles`` (time in ms, prices as strings) and ``more_candles``."""
    where = "charts"
    rows = _list(payload, "candles", where)
    more = payload.get("more_candles")
    if not isinstance(more, bool):
        raise ExchangeReplyError(f"{where}: field 'more_candles' is missing or not a boolean")
    candles = []
    for row in rows:
        time = _field(row, "time", where)
        if not isinstance(time, int) or isinstance(time, bool):
            raise ExchangeReplyError(f"{where}: candle time {time!r} is not integer milliseconds")
        candles.append(
            Candle(
                time=time,
                open=parse_decimal(_field(row, "open", where), "open", where),
                high=parse_decimal(_field(row, "high", where), "high", where),
                low=parse_decimal(_field(row, "low", where), "low", where),
                close=parse_decimal(_field(row, "close", where), "close", where),
                volume=parse_decimal(row.get("volume"), "volume", where),
            )
        )
    return CandlePage(tuple(sorted(candles, key=lambda c: c.time)), more)


def parse_instrument(payload: Any, symbol: str) -> InstrumentSpec:
    """The instrument ``symbol`` from ``instruments``; its size step is 10^-contractValueTradePrecision."""
    where = "instruments"
    for row in _list(payload, "instruments", where):
        if _symbol(row.get("symbol"), where) != symbol.upper():
            continue
        precision = _field(row, "contractValueTradePrecision", where)
        if not isinstance(precision, int) or isinstance(precision, bool):
            raise ExchangeReplyError(f"{where}: contractValueTradePrecision {precision!r} is not an integer")
        step = Decimal(1).scaleb(-precision)
        levels = _list(row, "marginLevels", where)
        if not levels:
            raise ExchangeReplyError(f"{where}: marginLevels is empty")
        tradeable = row.get("tradeable")
        if not isinstance(tradeable, bool):
            raise ExchangeReplyError(f"{where}: field 'tradeable' is missing or not a boolean")
        return InstrumentSpec(
            symbol=symbol.upper(),
            tick_size=parse_decimal(_field(row, "tickSize", where), "tickSize", where),
            size_step=step,
            min_size=step,
            max_position_size=parse_decimal(_field(row, "maxPositionSize", where), "maxPositionSize", where),
            initial_margin_rate=parse_decimal(_field(levels[0], "initialMargin", where), "initialMargin", where),
            maintenance_margin_rate=parse_decimal(
                _field(levels[0], "maintenanceMargin", where), "maintenanceMargin", where
            ),
            tradeable=tradeable,
        )
    raise ExchangeReplyError(f"{where}: no instrument {symbol!r}")


def parse_account(payload: Any) -> AccountInfo:
    """The ``flex`` (multi-collateral, USD) account: PF_ contracts margin from it."""
    where = "accounts"
    flex = _field(_field(payload, "accounts", where), "flex", where)

    def number(name: str) -> Decimal:
        return parse_decimal(flex.get(name), name, where)

    return AccountInfo(
        available_margin=number("availableMargin"),
        equity=number("marginEquity"),
        balance=number("balanceValue"),
        portfolio_value=number("portfolioValue"),
        initial_margin=number("initialMargin"),
        maintenance_margin=number("maintenanceMargin"),
    )


def parse_position(payload: Any, symbol: str) -> ExchangePosition:
    """The position in ``symbol``; Kraken omits flat symbols, so absence means flat."""
    where = "openpositions"
    found = [row for row in _list(payload, "openPositions", where) if _symbol(row.get("symbol"), where) == symbol.upper()]
    if not found:
        return ExchangePosition(symbol.upper(), None, Decimal(0), None)
    if len(found) > 1:
        raise ExchangeReplyError(f"{where}: {len(found)} positions in {symbol}")
    row = found[0]
    size = parse_decimal(row.get("size"), "size", where)
    if size < 0:
        raise ExchangeReplyError(f"{where}: negative size {size} (the side carries the direction)")
    return ExchangePosition(
        symbol=symbol.upper(),
        side=_enum(POSITION_SIDES, row.get("side"), "side", where),
        size=size,
        entry_price=parse_decimal(row.get("price"), "price", where),
    )


def parse_send_status(payload: Any, cli_ord_id: str) -> OrderResult:
    """``sendorder`` reply: placed -> result; a refusal status -> ``OrderRefused``; anything else means we
    cannot tell what happened -> ``OrderStateUnknown`` (look it up, never resend blind)."""
    where = "sendorder"
    if not isinstance(payload, Mapping) or not isinstance(payload.get("sendStatus"), Mapping):
        raise OrderStateUnknown(f"{where}: reply for {cli_ord_id} has no sendStatus")
    status_body = payload["sendStatus"]
    status = status_body.get("status")
    if status in SEND_STATUS_REFUSALS:
        raise OrderRefused(cli_ord_id, status)
    if status not in SEND_STATUS_ACCEPTED:
        raise OrderStateUnknown(f"{where}: unknown status {status!r} for {cli_ord_id}")
    try:
        order_id = _field(status_body, "order_id", where)
        received = parse_time(status_body.get("receivedTime"), "receivedTime", where)
        executions = []
        for event in status_body.get("orderEvents") or []:
            kind = _field(event, "type", where)
            if kind != "EXECUTION":
                continue
            executions.append(
                Execution(
                    execution_id=str(_field(event, "executionId", where)),
                    price=parse_decimal(event.get("price"), "price", where),
                    size=parse_decimal(event.get("amount"), "amount", where),
                )
            )
    except ExchangeReplyError as error:
        raise OrderStateUnknown(f"{where}: placed but unreadable reply for {cli_ord_id}: {error}") from None
    return OrderResult(str(order_id), cli_ord_id, received, tuple(executions))


def _order_status(order: Mapping[str, Any], state: OrderState, where: str) -> OrderStatus:
    reduce_only = order.get("reduceOnly")
    if not isinstance(reduce_only, bool):
        raise ExchangeReplyError(f"{where}: field 'reduceOnly' is missing or not a boolean")
    return OrderStatus(
        order_id=str(_field(order, "orderId", where)),
        cli_ord_id=_optional_text(order, "cliOrdId"),
        symbol=_symbol(order.get("symbol"), where),
        side=_enum(ORDER_SIDES, order.get("side"), "side", where),
        state=state,
        quantity=parse_decimal(order.get("quantity"), "quantity", where),
        filled=parse_decimal(order.get("filled"), "filled", where),
        reduce_only=reduce_only,
        last_update_time=parse_time(order.get("lastUpdateTimestamp"), "lastUpdateTimestamp", where),
    )


def parse_order_statuses(payload: Any) -> tuple[OrderStatus, ...]:
    """``orders/status``: only orders open or closed in the last 5 s; unknown ids are simply absent."""
    where = "orders/status"
    result = []
    for row in _list(payload, "orders", where):
        state = _enum(ORDER_STATUS_STATES, row.get("status"), "status", where)
        result.append(_order_status(_field(row, "order", where), state, where))
    return tuple(result)


def parse_open_orders(payload: Any) -> tuple[OrderStatus, ...]:
    where = "openorders"
    result = []
    for row in _list(payload, "openOrders", where):
        state = _enum(OPEN_ORDER_STATES, row.get("status"), "status", where)
        filled = parse_decimal(row.get("filledSize"), "filledSize", where)
        unfilled = parse_decimal(row.get("unfilledSize"), "unfilledSize", where)
        reduce_only = row.get("reduceOnly")
        if not isinstance(reduce_only, bool):
            raise ExchangeReplyError(f"{where}: field 'reduceOnly' is missing or not a boolean")
        result.append(
            OrderStatus(
                order_id=str(_field(row, "order_id", where)),
                cli_ord_id=_optional_text(row, "cliOrdId", "cli_ord_id"),
                symbol=_symbol(row.get("symbol"), where),
                side=_enum(ORDER_SIDES, row.get("side"), "side", where),
                state=state,
                quantity=filled + unfilled,
                filled=filled,
                reduce_only=reduce_only,
                last_update_time=parse_time(row.get("lastUpdateTime"), "lastUpdateTime", where),
            )
        )
    return tuple(result)


def parse_fills(payload: Any) -> tuple[Fill, ...]:
    """``fills`` (newest first as Kraken sends them); ``cliOrdId`` is present only when the order had one."""
    where = "fills"
    result = []
    for row in _list(payload, "fills", where):
        result.append(
            Fill(
                fill_id=str(_field(row, "fill_id", where)),
                order_id=str(_field(row, "order_id", where)),
                cli_ord_id=_optional_text(row, "cliOrdId", "cli_ord_id"),
                symbol=_symbol(row.get("symbol"), where),
                side=_enum(ORDER_SIDES, row.get("side"), "side", where),
                size=parse_decimal(row.get("size"), "size", where),
                price=parse_decimal(row.get("price"), "price", where),
                time=parse_time(row.get("fillTime"), "fillTime", where),
                fill_type=_enum(FILL_TYPES, row.get("fillType"), "fillType", where),
            )
        )
    return tuple(result)


def parse_leverage_preferences(payload: Any) -> dict[str, Decimal]:
    where = "leveragepreferences"
    return {
        _symbol(row.get("symbol"), where): parse_decimal(row.get("maxLeverage"), "maxLeverage", where)
        for row in _list(payload, "leveragePreferences", where)
    }
