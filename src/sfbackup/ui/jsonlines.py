"""JSON-lines progress for cron, systemd and Kubernetes logs: one object per line, each with a `type`.

`type` is `status` for progress events and `error` for failures; the command itself ends with one
`result` line (the CLI writes those two). Per-object and per-transfer progress is throttled to one
line every few seconds, plus the line that reaches the total.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from sfbackup.clock import format_time, utc_now
from sfbackup.errors import redact
from sfbackup.ui.rates import Stopwatch, per_second

_THROTTLE_SECONDS = 5.0


class JsonLinesProgress:
    """Writes progress events as JSON lines to a text stream."""

    def __init__(self, out: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._out = out
        self._clock = clock
        self._lock = threading.Lock()
        self._last_progress: dict[str, float] = {}
        self._finished: set[str] = set()  # counts that reached their total: their last line is written
        self._stopwatch = Stopwatch(clock)

    def _emit(self, kind: str, event: str, **fields: Any) -> None:
        record = {
            "type": kind,
            "event": event,
            "time": format_time(utc_now()),
            **fields,
        }
        line = redact(json.dumps(record, default=str, ensure_ascii=False))
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()

    def _due(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            last = self._last_progress.get(key)
            if last is not None and now - last < _THROTTLE_SECONDS:
                return False
            self._last_progress[key] = now
            return True

    def run_started(self, snapshot_id: str, t0: str, objects: list[str]) -> None:
        self._emit("status", "run_started", snapshot_id=snapshot_id, t0=t0, objects=objects)

    def object_started(self, name: str, api: str, expected_rows: int | None) -> None:
        self._emit("status", "object_started", object=name, api=api, expected_rows=expected_rows)

    def object_progress(self, name: str, rows: int) -> None:
        if self._due(f"rows:{name}"):
            self._emit("status", "object_progress", object=name, rows=rows)

    def object_finished(
        self, name: str, state: str, rows: int, seconds: float, error: str | None
    ) -> None:
        self._emit(
            "status", "object_finished", object=name, state=state, rows=rows,
            seconds=round(seconds, 3), error=error,
        )

    def _count_due(self, key: str, done: int, total: int) -> bool:
        """Whether to write a count: every few seconds, and once when it reaches its total."""
        if done < total:
            return self._due(key)
        with self._lock:
            if key in self._finished:
                return False
            self._finished.add(key)
            return True

    def files_progress(self, name: str, done: int, total: int, bytes_done: int) -> None:
        elapsed = self._stopwatch.elapsed(f"files:{name}")
        if self._count_due(f"files:{name}", done, total):
            self._emit(
                "status", "files_progress", object=name, done=done, total=total, bytes=bytes_done,
                files_per_second=round(per_second(done, elapsed), 2),
                bytes_per_second=round(per_second(bytes_done, elapsed)),
            )

    def phase(self, name: str, text: str) -> None:
        self._emit("status", "phase", phase=name, message=text)

    def transfer(self, name: str, done: int, total: int, bytes_done: int) -> None:
        elapsed = self._stopwatch.elapsed(f"transfer:{name}")
        if self._count_due(f"transfer:{name}", done, total):
            self._emit(
                "status", "transfer", name=name, done=done, total=total, bytes=bytes_done,
                items_per_second=round(per_second(done, elapsed), 2),
                bytes_per_second=round(per_second(bytes_done, elapsed)),
            )

    def message(self, level: str, text: str, **fields: Any) -> None:
        self._emit("status", "message", level=level, message=text, **fields)

    def run_finished(self, summary: dict[str, Any]) -> None:
        # The command's one final `result` line carries the whole summary; this marks the moment.
        self._emit(
            "status", "run_finished", snapshot_id=summary.get("snapshot_id"), state=summary.get("state")
        )

    def close(self) -> None:
        """Nothing to finish: every line is flushed as it is written."""
