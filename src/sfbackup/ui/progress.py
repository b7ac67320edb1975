"""How the library reports progress: a small protocol of events, rendered elsewhere.

Library code calls these methods and never prints. The CLI picks a renderer from `sfbackup.ui`
(rich on a terminal, JSON lines otherwise). Every method must be cheap and thread-safe: objects and
files are exported in parallel, and renderers do their own throttling.
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

    def files_progress(self, name: str, done: int, total: int, bytes_done: int) -> None:
        """File bodies of object `name` settled so far (downloaded or reused), and bytes downloaded."""

    def phase(self, name: str, text: str) -> None:
        """A command enters one of its stages, e.g. an upload's `data`, `metadata`, `manifest`."""

    def transfer(self, name: str, done: int, total: int, bytes_done: int) -> None:
        """Items of a copy or re-read handled so far (upload to S3, verify reading bodies), bytes moved."""

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

    def phase(self, name: str, text: str) -> None:
        pass

    def transfer(self, name: str, done: int, total: int, bytes_done: int) -> None:
        pass

    def message(self, level: str, text: str, **fields: Any) -> None:
        pass

    def run_finished(self, summary: dict[str, Any]) -> None:
        pass
