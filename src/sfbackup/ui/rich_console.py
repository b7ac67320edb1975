"""Rich progress on a terminal: one bar per object (rows, rate), per file object and per transfer
(count, MiB, MiB/s), phases and messages above the bars, and a summary table at the end of a run.
Written to stderr so stdout stays clean for pipes."""

from __future__ import annotations

import threading
from typing import Any

from rich.console import Console
from rich.markup import escape
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
from sfbackup.ui.rates import Stopwatch, per_second
from sfbackup.ui.summary import summary_table


class RichProgress:
    """Renders progress events with rich."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._bars: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._stopwatch = Stopwatch()
        self._lock = threading.Lock()

    def _task(self, key: str, description: str, total: int | None) -> tuple[Progress, TaskID]:
        """The live bars (started on first use) and the bar for `key` (added on first use)."""
        with self._lock:
            if self._bars is None:
                self._bars = Progress(
                    SpinnerColumn(),
                    TextColumn("[bold]{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[detail]}"),
                    TimeElapsedColumn(),
                    console=self.console,
                    transient=False,
                )
                self._bars.start()
            if key not in self._tasks:
                self._tasks[key] = self._bars.add_task(escape(description), total=total, detail="")
            return self._bars, self._tasks[key]

    def _stop_bars(self) -> None:
        with self._lock:
            bars, self._bars = self._bars, None
            self._tasks.clear()
        if bars is not None:
            bars.stop()

    def run_started(self, snapshot_id: str, t0: str, objects: list[str]) -> None:
        self.console.print(f"snapshot [bold]{snapshot_id}[/] (T0 {t0}), {len(objects)} objects")

    def object_started(self, name: str, api: str, expected_rows: int | None) -> None:
        self._task(f"rows:{name}", f"{name} ({api})", expected_rows)

    def object_progress(self, name: str, rows: int) -> None:
        bars, task = self._task(f"rows:{name}", name, None)
        bars.update(task, completed=rows)

    def object_finished(
        self, name: str, state: str, rows: int, seconds: float, error: str | None
    ) -> None:
        bars, task = self._task(f"rows:{name}", name, None)
        if error:
            detail = f"[red]{escape(state)}: {escape(redact(error)[:80])}"
        else:
            detail = f"{state}, {per_second(rows, seconds):,.0f} rows/s"
        bars.update(task, completed=rows, total=max(rows, 1), detail=detail)

    def files_progress(self, name: str, done: int, total: int, bytes_done: int) -> None:
        self._count_and_bytes(f"files:{name}", f"{name} files", done, total, bytes_done)

    def phase(self, name: str, text: str) -> None:
        self.console.print(f"[bold cyan]{escape(name)}[/]: {escape(redact(text))}")

    def transfer(self, name: str, done: int, total: int, bytes_done: int) -> None:
        self._count_and_bytes(f"transfer:{name}", name, done, total, bytes_done)

    def _count_and_bytes(self, key: str, description: str, done: int, total: int, bytes_done: int) -> None:
        bars, task = self._task(key, description, total)
        elapsed = self._stopwatch.elapsed(key)
        if bytes_done:
            detail = f"{bytes_done / 2**20:,.1f} MiB, {per_second(bytes_done, elapsed) / 2**20:,.1f} MiB/s"
        else:  # nothing moved yet, or only checked (a verify without --read-data)
            detail = f"{per_second(done, elapsed):,.0f}/s"
        bars.update(task, completed=done, total=total, detail=detail)

    def message(self, level: str, text: str, **fields: Any) -> None:
        style = {"warning": "yellow", "error": "red"}.get(level, "dim")
        self.console.print(f"[{style}]{escape(redact(text))}[/]")

    def run_finished(self, summary: dict[str, Any]) -> None:
        self._stop_bars()
        self.console.print(summary_table(summary))

    def close(self) -> None:
        """Stop the live bars, leaving their last state on the screen."""
        self._stop_bars()
