"""A Kraken Futures exchange on 127.0.0.1 for tests and offline runs (same paths, envelopes and quirks).

Names are imported lazily: ``bitsniper.cli`` registers the ``simulator`` command through
``bitsniper.simulator.cli``, and FastAPI/uvicorn should load only when the simulator actually runs.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "DEFAULT_CANDLES",
    "Simulator",
    "build_simulator",
    "create_app",
    "Authenticator",
    "Credentials",
    "sign",
    "Clock",
    "ManualClock",
    "SystemClock",
    "FaultPlan",
    "FaultSpec",
    "parse_fault",
    "RunningSimulator",
    "run_in_thread",
    "serve_forever",
    "ExchangeState",
    "InstrumentRules",
    "OrderInput",
]

_HOME = {
    "DEFAULT_CANDLES": "app",
    "Simulator": "app",
    "build_simulator": "app",
    "create_app": "app",
    "Authenticator": "auth",
    "Credentials": "auth",
    "sign": "auth",
    "Clock": "clock",
    "ManualClock": "clock",
    "SystemClock": "clock",
    "FaultPlan": "faults",
    "FaultSpec": "faults",
    "parse_fault": "faults",
    "RunningSimulator": "server",
    "run_in_thread": "server",
    "serve_forever": "server",
    "ExchangeState": "state",
    "InstrumentRules": "state",
    "OrderInput": "state",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'bitsniper.simulator' has no attribute {name!r}")
    return getattr(importlib.import_module(f"bitsniper.simulator.{_HOME[name]}"), name)
