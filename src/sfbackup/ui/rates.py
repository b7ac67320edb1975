"""Rates for the renderers: items and bytes per second since a transfer's first event."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Stopwatch:
    """Seconds since each key was first seen; thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()

    def elapsed(self, key: str) -> float:
        """Seconds since the first call for `key` (a tiny positive number on that first call)."""
        now = self._clock()
        with self._lock:
            started = self._started.setdefault(key, now)
        return max(now - started, 1e-6)


def per_second(amount: int, seconds: float) -> float:
    """`amount` per second over `seconds`; 0 before anything was measured."""
    return amount / seconds if seconds > 1e-3 else 0.0


def human_size(count: float) -> str:
    """Bytes for people, in the units Salesforce counts storage in (1 KB = 1,024 bytes, 1 MB =
    1,024 KB): `512 bytes`, `3.4 MB`, `1,234.5 GB`. Every command and the report use it."""
    units = ("KB", "MB", "GB", "TB")
    if count < 1024:
        return f"{int(count):,} bytes"
    value = float(count)
    for unit in units:
        value /= 1024
        if value < 1024 or unit == units[-1]:
            return f"{value:,.1f} {unit}"
    raise AssertionError("unreachable")
