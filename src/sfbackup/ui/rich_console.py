"""Rich progress on a terminal: an overall bar with an ETA, one bar per object (rows, rate), per
file object and per transfer (count, MB, MB/s), phases and messages above the bars, and a
summary table at the end of a run. Written to stderr so stdout stays clean for pipes."""

from __future__ import annotations

import threading
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as Bars
from rich.table import Column
from rich.text import Text

from sfbackup.errors import redact
from sfbackup.ui.rates import Stopwatch, human_size, per_second
from sfbackup.ui.summary import summary_table

_OVERALL = "overall"


def compact_count(count: float) -> str:
    """A count in at most 6 characters: `9,999`, `123.4k`, `12.35M`."""
    if count < 10_000:
        return f"{count:,.0f}"
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.2f}M"


class _CountColumn(ProgressColumn):
    """`done/total` in compact numbers; nothing while a bar has not moved (a queued object)."""

    def render(self, task: Task) -> Text:
        if not task.completed and not task.finished:
            return Text("")
        total = "?" if task.total is None else compact_count(task.total)
        return Text(f"{compact_count(task.completed)}/{total}", style="progress.download")


def eta_text(seconds: float | None) -> str:
    """`ETA 4:05` (or `ETA 1:02:03`; `ETA -:--` while unknown)."""
    if seconds is None:
        return "ETA -:--"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"ETA {hours}:{minutes:02d}:{secs:02d}" if hours else f"ETA {minutes}:{secs:02d}"


class RichProgress:
    """Renders progress events with rich: an overall bar (rows exported of the rows expected, with
    an ETA), then one line per object, file object and transfer, each fitting an 80-column terminal."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._bars: Bars | None = None
        self._tasks: dict[str, TaskID] = {}
        self._stopwatch = Stopwatch()
        self._lock = threading.Lock()
        self._rows: dict[str, int] = {}
        self._expected: dict[str, int] = {}

    def _task(self, key: str, description: str, total: int | None) -> tuple[Bars, TaskID]:
        """The live bars (started on first use) and the bar for `key` (added on first use)."""
        with self._lock:
            if self._bars is None:
                # 22 + 10 + 13 + 20 + 7 columns and 4 gaps: 76, an 80-column terminal's line.
                self._bars = Bars(
                    TextColumn("[bold]{task.description}",
                               table_column=Column(no_wrap=True, overflow="ellipsis", max_width=22)),
                    BarColumn(bar_width=10),
                    _CountColumn(table_column=Column(no_wrap=True, min_width=13, justify="right")),
                    TextColumn("{task.fields[detail]}",
                               table_column=Column(no_wrap=True, overflow="ellipsis", max_width=20)),
                    TimeElapsedColumn(table_column=Column(no_wrap=True, min_width=7)),
                    console=self.console,
                    transient=False,
                )
                self._bars.start()
            if key not in self._tasks:
                self._tasks[key] = self._bars.add_task(escape(description), total=total, detail="")
            return self._bars, self._tasks[key]

    def _update_overall(self) -> None:
        with self._lock:
            if _OVERALL not in self._tasks or self._bars is None:
                return
            bars, task = self._bars, self._tasks[_OVERALL]
            done = sum(self._rows.values())
            expected = sum(max(self._expected.get(n, 0), self._rows.get(n, 0)) for n in self._expected)
            objects = len(self._expected)
        bars.update(task, completed=done, total=max(expected, done, 1))
        remaining = next((t.time_remaining for t in bars.tasks if t.id == task), None)
        bars.update(task, detail=f"{eta_text(remaining)}, {objects} started")

    def _stop_bars(self) -> None:
        with self._lock:
            bars, self._bars = self._bars, None
            self._tasks.clear()
        if bars is not None:
            bars.stop()

    def run_started(self, snapshot_id: str, t0: str, objects: list[str]) -> None:
        self.console.print(f"snapshot [bold]{snapshot_id}[/] (T0 {t0}), {len(objects)} objects")
        self._task(_OVERALL, f"all {len(objects)} objects", None)

    def object_started(self, name: str, api: str, expected_rows: int | None) -> None:
        bars, task = self._task(f"rows:{name}", f"{name} ({api})", expected_rows)
        if api.startswith("bulk"):
            bars.update(task, detail="Bulk job queued")
        with self._lock:
            self._expected[name] = expected_rows or 0
            self._rows.setdefault(name, 0)
        self._update_overall()

    def object_progress(self, name: str, rows: int) -> None:
        bars, task = self._task(f"rows:{name}", name, None)
        bars.update(task, completed=rows, detail="")
        with self._lock:
            self._rows[name] = rows
        self._update_overall()

    def object_finished(
        self, name: str, state: str, rows: int, seconds: float, error: str | None
    ) -> None:
        bars, task = self._task(f"rows:{name}", name, None)
        if error:
            detail = f"[red]{escape(state)}: {escape(redact(error)[:80])}"
        else:
            detail = f"{state}, {compact_count(per_second(rows, seconds))} rows/s"
        bars.update(task, completed=rows, total=max(rows, 1), detail=detail)
        with self._lock:
            self._rows[name] = rows
            self._expected[name] = rows
        self._update_overall()

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
            detail = f"{human_size(bytes_done)}, {human_size(int(per_second(bytes_done, elapsed)))}/s"
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
