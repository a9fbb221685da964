"""Time for the simulator: the real clock (replay mode) or a clock the tests set and advance."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Protocol

__all__ = ["Clock", "SystemClock", "ManualClock", "iso_ms", "parse_iso_ms"]


class Clock(Protocol):
    """Anything that tells the current time in epoch milliseconds."""

    def now_ms(self) -> int: ...


class SystemClock:
    """Wall-clock time: used with a candle file shifted so its last candle is the latest closed one."""

    def now_ms(self) -> int:
        return int(time.time() * 1000)


class ManualClock:
    """A clock that moves only when told to, so tests decide what is 'now' (5-s windows, liquidations)."""

    def __init__(self, start_ms: int) -> None:
        self._now = int(start_ms)
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now

    def set(self, now_ms: int) -> None:
        with self._lock:
            self._now = int(now_ms)

    def advance(self, ms: int) -> int:
        with self._lock:
            self._now += int(ms)
            return self._now


def iso_ms(ms: int) -> str:
    """Kraken's time format: ISO 8601 with milliseconds and a Z (``2023-04-07T15:18:04.699Z``)."""
    stamp = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_iso_ms(text: str) -> int:
    """Parse Kraken's ISO time (with or without milliseconds) into epoch milliseconds."""
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return int(round(stamp.timestamp() * 1000))
