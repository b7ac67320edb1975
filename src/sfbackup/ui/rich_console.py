"""Rich progress on a terminal: one bar per object (rows, rate), file counts and bytes, and a
summary table at the end. Written to stderr so stdout stays clean for pipes."""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from sfbackup.errors import redact
from sfbackup.ui.summary import summary_table


class RichProgress:
    """Renders progress events with rich."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._files_started: dict[str, float] = {}
        self._lock = threading.Lock()
        self._started = False

    def _task(self, key: str, description: str, total: int | None) -> TaskID:
        with self._lock:
            if not self._started:
                self._progress.start()
                self._started = True
            if key not in self._tasks:
                self._tasks[key] = self._progress.add_task(description, total=total, detail="")
            return self._tasks[key]

    def run_started(self, snapshot_id: str, t0: str, objects: list[str]) -> None:
        self.console.print(f"snapshot [bold]{snapshot_id}[/] (T0 {t0}), {len(objects)} objects")

    def object_started(self, name: str, api: str, expected_rows: int | None) -> None:
        self._task(f"rows:{name}", f"{name} ({api})", expected_rows)

    def object_progress(self, name: str, rows: int) -> None:
        task = self._task(f"rows:{name}", name, None)
        self._progress.update(task, completed=rows)

    def object_finished(
        self, name: str, state: str, rows: int, seconds: float, error: str | None
    ) -> None:
        task = self._task(f"rows:{name}", name, None)
        rate = rows / seconds if seconds > 0 else 0.0
        detail = f"{state}, {rate:,.0f} rows/s" if not error else f"[red]{state}: {redact(error)[:80]}"
        self._progress.update(task, completed=rows, total=max(rows, 1), detail=detail)

    def files_progress(self, name: str, done: int, total: int, bytes_done: int) -> None:
        task = self._task(f"files:{name}", f"{name} files", total)
        started = self._files_started.setdefault(name, time.monotonic())
        elapsed = max(time.monotonic() - started, 1e-6)
        detail = f"{bytes_done / 2**20:,.1f} MiB, {bytes_done / 2**20 / elapsed:,.1f} MiB/s"
        self._progress.update(task, completed=done, total=total, detail=detail)

    def message(self, level: str, text: str, **fields: Any) -> None:
        style = {"warning": "yellow", "error": "red"}.get(level, "dim")
        self.console.print(f"[{style}]{redact(text)}[/]")

    def run_finished(self, summary: dict[str, Any]) -> None:
        if self._started:
            self._progress.stop()
        self.console.print(summary_table(summary))
