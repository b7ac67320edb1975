"""The end-of-run summary for people: a rich table and one line of totals (machines read the
`--json` result instead)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sfbackup.ui.rates import human_size

if TYPE_CHECKING:
    from rich.table import Table  # ~0.1 s to import: only a terminal's summary needs it

#: Up to this many objects the table lists every one; beyond, those that did not finish and the
#: largest, then a count of the rest (an org of 1,000 objects must not scroll the verdict away).
_TABLE_ROWS = 25


def summary_table(summary: dict[str, Any]) -> Table:
    """A table of per-object results followed by the totals."""
    from rich.table import Table

    table = Table(title=f"snapshot {summary.get('snapshot_id', '?')}: {summary.get('state', '?')}")
    table.add_column("object")
    table.add_column("api")
    table.add_column("state")
    table.add_column("rows", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("note")
    results = list(summary.get("object_results", []))
    shown = results
    if len(results) > _TABLE_ROWS:
        unfinished = [r for r in results if r.get("state") != "done"]
        done = [r for r in results if r.get("state") == "done"]
        largest = sorted(done, key=lambda r: -int(r.get("rows") or 0))
        shown = (unfinished + largest)[: max(_TABLE_ROWS, len(unfinished))]
    for row in shown:
        table.add_row(
            str(row.get("object")),
            str(row.get("api") or ""),
            str(row.get("state")),
            f"{row.get('rows', 0):,}",
            f"{row.get('seconds', 0.0):.1f}",
            str(row.get("error") or ""),
        )
    for name, files in (summary.get("file_results") or {}).items():
        table.add_row(
            f"{name} files",
            "blob",
            "failed" if files.get("failed") else ("incomplete" if files.get("missing") else "done"),
            f"{files.get('count', 0):,}",
            "",
            f"{files.get('downloaded', 0)} downloaded, {files.get('deduplicated', 0)} deduplicated, "
            f"{human_size(int(files.get('bytes', 0)))}",
        )
    if len(shown) < len(results):
        listed = {id(r) for r in shown}
        rest = [r for r in results if id(r) not in listed]
        rows = sum(int(r.get("rows") or 0) for r in rest)
        table.add_row(f"... {len(rest):,} more", "", "done", f"{rows:,}", "", "`sfbackup show` lists each")
    return table


def summary_line(summary: dict[str, Any]) -> str:
    """The run's totals in one line of words: `snapshot <id> complete: 21 objects, 19,843 rows,
    899 files (98.4 MB), 1,010 API calls, 8.4 s`."""

    def count(key: str, word: str) -> str:
        value = int(summary.get(key) or 0)
        return f"{value:,} {word}{'' if value == 1 else 's'}"

    size = human_size(int(summary.get("bytes") or 0))
    return (
        f"snapshot {summary.get('snapshot_id', '?')} {summary.get('state', '?')}: "
        f"{count('objects', 'object')}, {count('rows', 'row')}, {count('files', 'file')} ({size} in all), "
        f"{count('api_calls', 'API call')}, {float(summary.get('seconds') or 0):.1f} s"
    )
