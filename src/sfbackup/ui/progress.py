"""How the library reports progress: a small protocol of events, rendered elsewhere.

Library code calls these methods and never prints. The CLI picks a renderer from `sfbackup.ui`
(rich on a terminal, JSON lines otherwise). Every method must be cheap and thread-safe: objects and
files are exported in parallel.
"""

from __future__ import annotations

from typing import Any, Protocol


class Progress(Protocol):
    """Receiver of progress events from a backup, verify or upload."""

    def run_started(self, snapshot_id: str, t0: str, objects: list[str]) -> None: ...

    def object_started(self, name: str, api: str, expected_rows: int | None) -> None: ...

    def object_progress(self, name: str, rows: int) -> None: ...

    def object_finished(
        self, name: str, state: str, rows: int, seconds: float, error: str | None
    ) -> None: ...

    def files_progress(self, name: str, done: int, total: int, bytes_done: int) -> None: ...

    def message(self, level: str, text: str, **fields: Any) -> None: ...

    def run_finished(self, summary: dict[str, Any]) -> None: ...


class NullProgress:
    """A Progress that ignores everything (library default, tests)."""

    def run_started(self, snapshot_id: str, t0: str, objects: list[str]) -> None:
        pass

    def object_started(self, name: str, api: str, expected_rows: int | None) -> None:
        pass

    def object_progress(self, name: str, rows: int) -> None:
        pass

    def object_finished(
        self, name: str, state: str, rows: int, seconds: float, error: str | None
    ) -> None:
        pass

    def files_progress(self, name: str, done: int, total: int, bytes_done: int) -> None:
        pass

    def message(self, level: str, text: str, **fields: Any) -> None:
        pass

    def run_finished(self, summary: dict[str, Any]) -> None:
        pass


class RecordingProgress(NullProgress):
    """Keeps every event as (name, kwargs); for tests and for the end-of-run summary."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def _record(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    def run_started(self, snapshot_id: str, t0: str, objects: list[str]) -> None:
        self._record("run_started", snapshot_id=snapshot_id, t0=t0, objects=objects)

    def object_started(self, name: str, api: str, expected_rows: int | None) -> None:
        self._record("object_started", name=name, api=api, expected_rows=expected_rows)

    def object_finished(
        self, name: str, state: str, rows: int, seconds: float, error: str | None
    ) -> None:
        self._record("object_finished", name=name, state=state, rows=rows, error=error)

    def message(self, level: str, text: str, **fields: Any) -> None:
        self._record("message", level=level, text=text, **fields)

    def run_finished(self, summary: dict[str, Any]) -> None:
        self._record("run_finished", summary=summary)
