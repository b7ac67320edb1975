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


def human_size(count: int) -> str:
    """Bytes for people: `512 B`, `3.4 MiB`, `1.2 GiB`."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    value, unit = float(count), 0
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    return f"{value:.0f} B" if unit == 0 else f"{value:.1f} {units[unit]}"
