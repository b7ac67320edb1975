"""Renderers: the JSON lines a monitoring system reads and the bars and summary table people read."""

from __future__ import annotations

import io
import json
import sys
from typing import Any

import pytest
from rich.console import Console

from sfbackup.ui import choose_renderer
from sfbackup.ui.jsonlines import JsonLinesProgress
from sfbackup.ui.rates import human_size
from sfbackup.ui.rich_console import RichProgress, compact_count, eta_text
from sfbackup.ui.summary import summary_line, summary_table

SUMMARY = {
    "snapshot_id": "20261127T020000Z-3f9a1c2e", "state": "complete", "objects": 2, "rows": 30,
    "files": 3, "bytes": 4096, "api_calls": 12, "seconds": 1.5,
    "object_results": [{"object": "Account", "api": "bulk2", "state": "done", "rows": 20, "seconds": 1.0,
                        "error": None}],
    "file_results": {"Attachment": {"count": 3, "bytes": 4096, "downloaded": 1, "deduplicated": 2,
                                    "failed": 0, "missing": 0}},
}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def json_lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def terminal() -> Console:
    return Console(file=io.StringIO(), width=160)


def screen(console: Console) -> str:
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_given_events_when_rendered_as_json_lines_then_each_line_has_a_type() -> None:
    out = io.StringIO()
    progress = JsonLinesProgress(out)
    progress.run_started("s", "t0", ["Account"])
    progress.object_finished("Account", "done", 20, 1.0, None)
    progress.run_finished(SUMMARY)
    lines = json_lines(out)
    assert [line["type"] for line in lines] == ["status", "status", "status"]
    assert lines[-1]["event"] == "run_finished" and lines[-1]["state"] == "complete"
    assert "rows" not in lines[-1]  # the summary is the command's one `result` line, not repeated


def test_given_a_transfer_when_rendered_as_json_lines_then_throttled_with_rates_and_last_line_kept() -> None:
    out, clock = io.StringIO(), Clock()
    progress = JsonLinesProgress(out, clock=clock)
    progress.phase("data", "3 file bodies and record parts (3.0 MB)")
    progress.transfer("upload", 1, 3, 2**20)
    clock.now += 1
    progress.transfer("upload", 2, 3, 2 * 2**20)  # within 5 s of the last line: not written
    clock.now += 1
    progress.transfer("upload", 3, 3, 4 * 2**20)  # the total: always written, once
    clock.now += 10
    progress.transfer("upload", 3, 3, 4 * 2**20)
    phase, first, last = json_lines(out)
    assert (phase["event"], phase["phase"], phase["message"]) == (
        "phase", "data", "3 file bodies and record parts (3.0 MB)"
    )
    assert (first["event"], first["name"], first["done"], first["total"]) == ("transfer", "upload", 1, 3)
    assert (last["done"], last["bytes"]) == (3, 4 * 2**20)
    assert last["items_per_second"] == 1.5 and last["bytes_per_second"] == 2 * 2**20


def test_given_file_downloads_when_rendered_as_json_lines_then_files_and_bytes_per_second() -> None:
    out, clock = io.StringIO(), Clock()
    progress = JsonLinesProgress(out, clock=clock)
    progress.files_progress("Attachment", 0, 10, 0)
    clock.now += 4
    progress.files_progress("Attachment", 10, 10, 8000)
    start, end = json_lines(out)
    assert start["event"] == end["event"] == "files_progress" and end["object"] == "Attachment"
    assert (end["done"], end["total"], end["bytes"]) == (10, 10, 8000)
    assert end["files_per_second"] == 2.5 and end["bytes_per_second"] == 2000


def test_given_summary_when_rendered_for_a_terminal_then_objects_and_files_are_listed() -> None:
    console = terminal()
    progress = RichProgress(console)
    progress.object_started("Account", "bulk2", 20)
    progress.object_finished("Account", "done", 20, 1.0, None)
    progress.run_finished(SUMMARY)
    text = screen(console)
    assert "Account" in text and "Attachment files" in text and "2 deduplicated" in text


def test_given_an_upload_when_rendered_for_a_terminal_and_closed_then_phases_and_rate_shown() -> None:
    console = terminal()
    progress = RichProgress(console)
    progress.phase("data", "2 file bodies and record parts")
    progress.transfer("upload", 1, 2, 3 * 2**20)
    progress.transfer("upload", 2, 2, 5 * 2**20)
    progress.close()  # stops the live bars: their last state stays on the screen
    text = screen(console)
    assert "data: 2 file bodies and record parts" in text
    assert "upload" in text and "2/2" in text and "5.0 MB, " in text and "/s" in text


def test_given_text_with_brackets_when_rendered_for_a_terminal_then_shown_as_written() -> None:
    console = terminal()
    progress = RichProgress(console)
    progress.message("warning", "[bold]Account[/] has no Id field")
    progress.object_started("Weird[Name]__c", "rest", 1)
    progress.close()
    text = screen(console)
    assert "[bold]Account[/] has no Id field" in text and "Weird[Name]__c" in text


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("json_output", "stderr_is_a_terminal", "renderer", "written_to"),
    [
        (True, True, JsonLinesProgress, "stdout"),
        (False, False, JsonLinesProgress, "stderr"),
        (False, True, RichProgress, "stderr"),
    ],
)
def test_choose_renderer_json_on_stdout_when_asked_rich_on_a_terminal_json_on_stderr_otherwise(
    monkeypatch: pytest.MonkeyPatch, json_output: bool, stderr_is_a_terminal: bool, renderer: type,
    written_to: str,
) -> None:
    streams = {"stdout": _Stream(tty=False), "stderr": _Stream(tty=stderr_is_a_terminal)}
    monkeypatch.setattr(sys, "stdout", streams["stdout"])
    monkeypatch.setattr(sys, "stderr", streams["stderr"])
    progress = choose_renderer(json_output=json_output)
    assert isinstance(progress, renderer)
    progress.message("info", "hello")
    progress.close()
    assert "hello" in streams[written_to].getvalue()
    assert "hello" not in streams["stdout" if written_to == "stderr" else "stderr"].getvalue()


def test_summary_line_is_one_line_of_words() -> None:
    line = summary_line(SUMMARY)
    assert line == ("snapshot 20261127T020000Z-3f9a1c2e complete: 2 objects, 30 rows, 3 files (4.0 KB in all), "
                    "12 API calls, 1.5 s")


def test_given_a_thousand_objects_when_summarised_then_the_table_shows_the_unfinished_and_largest_only() -> None:
    results = [{"object": f"Obj{i}__c", "api": "rest", "state": "done", "rows": i, "seconds": 0.1}
               for i in range(1000)]
    results[500] = {**results[500], "state": "failed", "error": "INVALID_TYPE: refused"}
    console = terminal()
    console.print(summary_table({"snapshot_id": "s", "state": "incomplete", "object_results": results}))
    text = screen(console)
    assert "Obj500__c" in text and "INVALID_TYPE" in text and "Obj999__c" in text
    assert "Obj3__c " not in text and "... 975 more" in text


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 bytes"), (1023, "1,023 bytes"), (1536, "1.5 KB"), (5 * 2**20, "5.0 MB"), (3 * 2**40, "3.0 TB"), (2**60, "1,048,576.0 TB")],
)
def test_human_size(count: int, text: str) -> None:
    assert human_size(count) == text


def test_given_a_transfer_that_moves_no_bytes_when_rendered_for_a_terminal_then_items_per_second() -> None:
    console = terminal()
    progress = RichProgress(console)
    progress.transfer("Attachment bodies", 3, 3, 0)
    progress.close()
    text = screen(console)
    assert "3/3" in text and "/s" in text and "MB" not in text


def test_given_many_objects_when_rendered_on_80_columns_then_every_line_fits_with_an_overall_eta() -> None:
    console = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None, record=True)
    progress = RichProgress(console)
    progress.run_started("20261127T020000Z-3f9a1c2e", "2026-11-27T02:00:00.000Z", ["A"] * 3)
    progress.object_started("OpportunityLineItemSchedule__History", "bulk2", 1_234_567)
    progress.object_started("Contact", "bulk2", 3992)
    progress.object_progress("OpportunityLineItemSchedule__History", 456_789)
    progress.object_finished("Account", "done", 20_000, 2.0, None)
    progress.files_progress("ContentVersion", 1200, 5000, 3 * 2**30)
    frame = Console(file=io.StringIO(), width=80, color_system=None, record=True)
    assert progress._bars is not None
    frame.print(progress._bars.get_renderable())  # the screen as it stands (the live display's last frame)
    progress.close()
    lines = frame.export_text().splitlines()
    assert lines and all(len(line) <= 80 for line in lines), "\n".join(lines)
    text = "\n".join(lines)
    assert "all 3 objects" in text and "ETA -:--, 3 started" in text
    assert all("━" in line or "Contact" in line or "ContentVersion" in line for line in lines)  # bars kept
    assert "456.8k/1.23M" in text
    contact = next(line for line in lines if "Contact" in line)
    assert "0/3,992" not in contact and "Bulk job queued" in contact  # queued, not "0 of N" for 40 s
    assert "20.0k/20.0k" in text and "10.0k rows/s" in text


@pytest.mark.parametrize(("count", "text"), [(0, "0"), (9_999, "9,999"), (123_456, "123.5k"), (12_345_678, "12.35M")])
def test_compact_count(count: int, text: str) -> None:
    assert compact_count(count) == text


@pytest.mark.parametrize(("seconds", "text"), [(None, "ETA -:--"), (65.2, "ETA 1:05"), (3723, "ETA 1:02:03")])
def test_eta_text(seconds: float | None, text: str) -> None:
    assert eta_text(seconds) == text


def test_given_a_terminal_when_the_verdict_is_wrapped_then_no_id_is_cut_in_two() -> None:
    from sfbackup.cli.common import wrap_for_terminal

    ids = ", ".join(f"068Dx00000000{i:02d}aIAA" for i in range(12))
    line = f"  - 12 ContentVersion files in the Recycle Bin: {ids}. What to do: undelete them"
    wrapped = wrap_for_terminal([line], _Stream(tty=True))
    assert len(wrapped) > 1 and all(len(w) < 80 for w in wrapped)
    assert all(w.startswith("    ") for w in wrapped[1:])
    assert " ".join(w.strip() for w in wrapped) == line.strip()
    assert wrap_for_terminal([line], _Stream(tty=False)) == [line]
