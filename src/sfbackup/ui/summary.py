"""The end-of-run summary: a rich table for people, one line for monitoring systems."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def summary_table(summary: dict[str, Any]) -> Table:
    """A table of per-object results followed by the totals."""
    table = Table(title=f"snapshot {summary.get('snapshot_id', '?')}: {summary.get('state', '?')}")
    table.add_column("object")
    table.add_column("api")
    table.add_column("state")
    table.add_column("rows", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("note")
    for row in summary.get("object_results", []):
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
            f"{files.get('bytes', 0) / 2**20:,.1f} MiB",
        )
    return table


def summary_line(summary: dict[str, Any]) -> str:
    """One `key=value` line a monitoring system can parse (also printed in JSON form with --json)."""
    keys = ("state", "snapshot_id", "objects", "rows", "files", "bytes", "api_calls", "seconds")
    return "sfbackup: " + " ".join(f"{k}={summary.get(k)}" for k in keys)
