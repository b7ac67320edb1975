"""Renderers: the JSON lines a monitoring system reads and the summary table people read."""

from __future__ import annotations

import io
import json

from rich.console import Console

from sfbackup.ui.jsonlines import JsonLinesProgress
from sfbackup.ui.rich_console import RichProgress
from sfbackup.ui.summary import summary_line

SUMMARY = {
    "snapshot_id": "20261127T020000Z-3f9a1c2e", "state": "complete", "objects": 2, "rows": 30,
    "files": 3, "bytes": 4096, "api_calls": 12, "seconds": 1.5,
    "object_results": [{"object": "Account", "api": "bulk2", "state": "done", "rows": 20, "seconds": 1.0,
                        "error": None}],
    "file_results": {"Attachment": {"count": 3, "bytes": 4096, "downloaded": 1, "deduplicated": 2,
                                    "failed": 0, "missing": 0}},
}


def test_given_events_when_rendered_as_json_lines_then_each_line_has_a_type() -> None:
    out = io.StringIO()
    progress = JsonLinesProgress(out)
    progress.run_started("s", "t0", ["Account"])
    progress.object_finished("Account", "done", 20, 1.0, None)
    progress.run_finished(SUMMARY)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["type"] for line in lines] == ["status", "status", "summary"]
    assert lines[-1]["state"] == "complete"


def test_given_summary_when_rendered_for_a_terminal_then_objects_and_files_are_listed() -> None:
    console = Console(file=io.StringIO(), width=160)
    progress = RichProgress(console)
    progress.object_started("Account", "bulk2", 20)
    progress.object_finished("Account", "done", 20, 1.0, None)
    progress.run_finished(SUMMARY)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "Account" in text and "Attachment files" in text and "2 deduplicated" in text


def test_summary_line_is_one_parseable_line() -> None:
    line = summary_line(SUMMARY)
    assert "\n" not in line
    assert "state=complete" in line and "api_calls=12" in line
