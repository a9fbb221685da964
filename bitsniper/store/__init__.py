"""The state store: SQLAlchemy 2 models, Alembic migrations and one-transaction repository functions.

Names are imported lazily (PEP 562): ``bitsniper db upgrade`` and the Alembic env then load only the
modules they need, not the strategy engine and its compiled indicators.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bitsniper.store.breaker import StoreBreakerStorage
    from bitsniper.store.db import SessionFactory, make_engine, make_session_factory, safe_url
    from bitsniper.store.migrate import current_revision, downgrade, head_revision, upgrade
    from bitsniper.store.records import (
        AlertRecord,
        BreakerRecord,
        DecisionRecord,
        FillRecord,
        OrderIntent,
        OrderRecord,
        PositionRecord,
        ValidationRecord,
        datetime_to_ms,
        ms_to_datetime,
        resolution_ms,
    )
    from bitsniper.store.repositories import (
        ORDER_TRANSITIONS,
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
        orders_for_decision,
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

_MODULE_OF = {
    "StoreBreakerStorage": "bitsniper.store.breaker",
    "SessionFactory": "bitsniper.store.db",
    "make_engine": "bitsniper.store.db",
    "make_session_factory": "bitsniper.store.db",
    "safe_url": "bitsniper.store.db",
    "upgrade": "bitsniper.store.migrate",
    "downgrade": "bitsniper.store.migrate",
    "current_revision": "bitsniper.store.migrate",
    "head_revision": "bitsniper.store.migrate",
    "AlertRecord": "bitsniper.store.records",
    "BreakerRecord": "bitsniper.store.records",
    "DecisionRecord": "bitsniper.store.records",
    "FillRecord": "bitsniper.store.records",
    "OrderIntent": "bitsniper.store.records",
    "OrderRecord": "bitsniper.store.records",
    "PositionRecord": "bitsniper.store.records",
    "ValidationRecord": "bitsniper.store.records",
    "datetime_to_ms": "bitsniper.store.records",
    "ms_to_datetime": "bitsniper.store.records",
    "resolution_ms": "bitsniper.store.records",
    "ORDER_TRANSITIONS": "bitsniper.store.repositories",
    "decision_id": "bitsniper.store.repositories",
    "fills_for_order": "bitsniper.store.repositories",
    "get_order": "bitsniper.store.repositories",
    "latest_position_snapshot": "bitsniper.store.repositories",
    "load_breaker": "bitsniper.store.repositories",
    "load_candles": "bitsniper.store.repositories",
    "load_decision": "bitsniper.store.repositories",
    "load_indicator_values": "bitsniper.store.repositories",
    "load_state": "bitsniper.store.repositories",
    "load_validation": "bitsniper.store.repositories",
    "orders_for_decision": "bitsniper.store.repositories",
    "record_alert": "bitsniper.store.repositories",
    "record_decision": "bitsniper.store.repositories",
    "record_fills": "bitsniper.store.repositories",
    "record_order_intent": "bitsniper.store.repositories",
    "record_position_snapshot": "bitsniper.store.repositories",
    "record_validation": "bitsniper.store.repositories",
    "resolve_alert": "bitsniper.store.repositories",
    "save_breaker": "bitsniper.store.repositories",
    "save_state": "bitsniper.store.repositories",
    "store_indicator_values": "bitsniper.store.repositories",
    "transition_order": "bitsniper.store.repositories",
    "unfinished_orders": "bitsniper.store.repositories",
    "unresolved_alerts": "bitsniper.store.repositories",
    "upsert_candles": "bitsniper.store.repositories",
}

__all__ = [
    "StoreBreakerStorage",
    "SessionFactory",
    "make_engine",
    "make_session_factory",
    "safe_url",
    "upgrade",
    "downgrade",
    "current_revision",
    "head_revision",
    "AlertRecord",
    "BreakerRecord",
    "DecisionRecord",
    "FillRecord",
    "OrderIntent",
    "OrderRecord",
    "PositionRecord",
    "ValidationRecord",
    "datetime_to_ms",
    "ms_to_datetime",
    "resolution_ms",
    "ORDER_TRANSITIONS",
    "decision_id",
    "fills_for_order",
    "get_order",
    "latest_position_snapshot",
    "load_breaker",
    "load_candles",
    "load_decision",
    "load_indicator_values",
    "load_state",
    "load_validation",
    "orders_for_decision",
    "record_alert",
    "record_decision",
    "record_fills",
    "record_order_intent",
    "record_position_snapshot",
    "record_validation",
    "resolve_alert",
    "save_breaker",
    "save_state",
    "store_indicator_values",
    "transition_order",
    "unfinished_orders",
    "unresolved_alerts",
    "upsert_candles",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
