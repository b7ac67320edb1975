"""`sfbackup snapshots` (list a repository's snapshots) and `sfbackup show SNAPSHOT` (one in detail)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sfbackup.cli.common import add_command, add_config_arguments, add_repo_arguments, open_repository
from sfbackup.clock import format_time
from sfbackup.errors import ExitCode
from sfbackup.repository import DamagedSnapshot, Repository, Snapshot, layout
from sfbackup.repository.manifest import Manifest
from sfbackup.ui.rates import human_size
from sfbackup.verify.findings import counted

SNAPSHOTS_DESCRIPTION = """\
List the snapshots of a repository (a folder or s3://bucket/prefix), oldest first: id, T0 (the
org's clock at the cut), state, objects, rows, files and bytes. Only `complete` snapshots were
verified; a damaged manifest is listed as `damaged` with the reason.

examples:
  sfbackup snapshots --repo /backups/acme
  sfbackup snapshots --repo s3://acme-sf-backups/prod --json
"""

SHOW_DESCRIPTION = """\
Show one snapshot: its org, T0, state and verification, every object (API, rows, deleted rows,
parts, bytes, error) and file object (files, bytes, downloaded, not stored), and what the org
lists that is not backed up.

examples:
  sfbackup show latest --repo /backups/acme
  sfbackup show latest-complete --path --repo /backups/acme     # its folder, for DuckDB or pandas
  sfbackup show 20261127T020000Z-3f9a1c2e --repo s3://acme-sf-backups/prod --json
"""


def register(subparsers: Any) -> None:
    listing = add_command(
        subparsers,
        "snapshots",
        help="list the snapshots in a repository",
        description=SNAPSHOTS_DESCRIPTION,
    )
    add_repo_arguments(listing)
    add_config_arguments(listing, org=False)
    listing.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    listing.set_defaults(handler=handle_snapshots)

    show = add_command(subparsers, "show", help="show one snapshot in detail", description=SHOW_DESCRIPTION)
    show.add_argument(
        "snapshot",
        nargs="?",
        default="latest",
        help="snapshot id, 'latest' (default: the newest) or 'latest-complete'",
    )
    add_repo_arguments(show)
    add_config_arguments(show, org=False)
    show.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    show.add_argument(
        "--path",
        action="store_true",
        help="print only the snapshot's folder (or s3:// URL), e.g. for DuckDB: "
        "$(sfbackup show latest-complete --path)/objects/Account/*.parquet",
    )
    show.set_defaults(handler=handle_show)


def snapshot_row(manifest: Manifest) -> dict[str, Any]:
    """The listing's numbers for one snapshot."""
    part_bytes = sum(p.bytes for e in manifest.objects.values() for p in e.parts)
    standing = manifest.standing_verification
    return {
        "id": manifest.snapshot_id,
        "t0": format_time(manifest.t0),
        "state": manifest.status,
        "objects": len(manifest.objects),
        "rows": sum(e.rows for e in manifest.objects.values()),
        "files": sum(f.count for f in manifest.files.values()),
        "bytes": part_bytes + sum(f.bytes for f in manifest.files.values()),
        "verified": standing.passed
        if standing is not None
        else bool(manifest.verification and manifest.verification.get("passed")),
        "verified_level": standing.describe() if standing is not None else None,
        "safe": standing.safe if standing is not None else None,
    }


def list_snapshots(repository: Repository) -> list[dict[str, Any]]:
    """Every snapshot's row, oldest first; a manifest that cannot be read is listed as damaged."""
    rows = []
    for snapshot in repository.read_snapshots():
        if isinstance(snapshot, DamagedSnapshot):
            rows.append(
                {
                    "id": snapshot.id,
                    "t0": None,
                    "state": "damaged",
                    "objects": None,
                    "rows": None,
                    "files": None,
                    "bytes": None,
                    "verified": False,
                    "error": snapshot.error,
                }
            )
        else:
            rows.append(snapshot_row(snapshot.manifest))
    return rows


def handle_snapshots(args: argparse.Namespace) -> int:
    repository = open_repository(args)
    rows = list_snapshots(repository)
    if args.json:
        document = {
            "type": "result",
            "command": "snapshots",
            "repository": repository.location,
            "snapshots": rows,
        }
        print(json.dumps(document), flush=True)
        return int(ExitCode.OK)
    if not rows:
        print(f"no snapshots in {repository.location} yet (`sfbackup run --repo PATH` takes one)")
        return int(ExitCode.OK)
    columns = ("id", "t0", "state", "objects", "rows", "files", "bytes")
    table = [[_cell(row.get(c), c) for c in columns] for row in rows]
    print(_table([c.upper() if c != "t0" else "T0" for c in columns], table, right={3, 4, 5, 6}))
    damaged = [row for row in rows if row["state"] == "damaged"]
    for row in damaged:
        print(f"damaged: {row['id']}: {row['error']}")
    return int(ExitCode.OK)


def handle_show(args: argparse.Namespace) -> int:
    snapshot = open_repository(args).snapshot(args.snapshot)
    if args.path:
        print(f"{snapshot.repository.location.rstrip('/')}/{layout.SNAPSHOTS_DIR}/{snapshot.id}", flush=True)
        return int(ExitCode.OK)
    reports = report_locations(snapshot)
    if args.json:
        document = {
            "type": "result",
            "command": "show",
            "snapshot": snapshot_row(snapshot.manifest),
            "manifest": snapshot.manifest.to_dict(),
            "reports": reports,
        }
        print(json.dumps(document, default=str), flush=True)
        return int(ExitCode.OK)
    print(render_show(snapshot, reports))
    return int(ExitCode.OK)


def report_locations(snapshot: Snapshot) -> list[str]:
    """Where the snapshot's verification reports are: local paths, or s3:// URLs."""
    base = snapshot.repository.location
    return [f"{base}/{snapshot.key(name)}" for name in snapshot.reports()]


def _metadata_line(manifest: Manifest) -> str:
    entry = manifest.metadata
    if entry is None:
        return "not backed up"
    types = sum(1 for counts in entry.types.values() if counts.get("listed"))
    refused = ""
    if entry.not_retrievable:
        refused = f", {len(entry.not_retrievable)} type(s) Salesforce would not list"
    return (f"{entry.components:,} components of {types} types, {entry.files:,} files, "
            f"{human_size(entry.bytes)} ({entry.new_blobs:,} new blobs), {len(entry.failed):,} not "
            f"retrieved{refused}")


def render_show(snapshot: Snapshot, reports: list[str]) -> str:
    """The text of `sfbackup show`."""
    manifest = snapshot.manifest
    org = manifest.org
    row = snapshot_row(manifest)
    standing = manifest.standing_verification
    legacy = manifest.verification or {}
    lines = [
        f"snapshot   {manifest.snapshot_id}",
        f"org        {org.get('org_name') or '-'} ({org.get('org_id') or '-'})",
        f"instance   {org.get('instance_url') or '-'}",
        f"T0         {format_time(manifest.t0)}",
        f"state      {manifest.status}"
        + (f" (finished {format_time(manifest.finished_at)})" if manifest.finished_at else ""),
        "verified   "
        + (
            f"{format_time(standing.verified_at)} at level {standing.describe()}, "
            + (
                "passed (the strongest check)"
                if standing.passed
                else f"FAILED ({counted(standing.errors, 'error')}) "
                + (
                    "(the newest check found damage)"
                    if standing is manifest.verifications[-1]
                    else "(the strongest check; a weaker one since does not clear it)"
                )
            )
            if standing is not None
            else f"{legacy.get('verified_at')} at level {legacy.get('level')}, passed"
            if legacy
            else "no"
        ),
        *([f"verdict    {standing.verdict}"] if standing is not None and standing.verdict else []),
        *(
            f"  check    {format_time(v.verified_at)} {v.describe()}"
            + (": passed" if v.passed else f": FAILED ({counted(v.errors, 'error')})")
            + (f", {'SAFE' if v.safe else 'NOT SAFE'}" if v.verdict else "")
            + (f" ({v.report}/)" if v.report else "")
            for v in manifest.verifications
        ),
        f"totals     {row['objects']} objects, {row['rows']:,} rows, {row['files']:,} files, "
        f"{human_size(row['bytes'])}",
        *_read_as(manifest),
        f"metadata   {_metadata_line(manifest)}",
        "",
    ]
    object_rows = []
    for name, entry in sorted(manifest.objects.items()):
        error = entry.error.message if entry.error else ""
        object_rows.append(
            [
                name,
                entry.state,
                entry.api or "-",
                f"{entry.rows:,}",
                f"{entry.deleted_rows:,}",
                str(len(entry.parts)),
                human_size(sum(p.bytes for p in entry.parts)),
                error[:80],
            ]
        )
    if object_rows:
        lines.append(
            _table(
                ["OBJECT", "STATE", "API", "ROWS", "DELETED", "PARTS", "SIZE", "ERROR"],
                object_rows,
                right={3, 4, 5, 6},
            )
        )
        lines.append("")
    file_rows = []
    for name, files in sorted(manifest.files.items()):
        file_rows.append(
            [
                name,
                f"{files.count:,}",
                human_size(files.bytes),
                f"{files.downloaded:,}",
                f"{files.deduplicated:,}",
                f"{len(files.failed) + len(files.missing):,}",
            ]
        )
    if file_rows:
        lines.append(
            _table(
                ["FILES", "COUNT", "SIZE", "DOWNLOADED", "DEDUPLICATED", "NOT STORED"],
                file_rows,
                right={1, 2, 3, 4, 5},
            )
        )
        lines.append("")
    not_covered = [c for c in manifest.coverage if c.status != "backed_up"]
    if not_covered:
        by_status: dict[str, list[str]] = {}
        for item in not_covered:
            by_status.setdefault(item.status, []).append(item.object)
        for status, names in sorted(by_status.items()):
            shown = ", ".join(names[:15]) + (f" and {len(names) - 15} more" if len(names) > 15 else "")
            lines.append(f"{status} ({len(names)}): {shown}")
        lines.append("")
    if reports:
        lines.append("reports    " + ", ".join(reports))
    return "\n".join(lines).rstrip()


def _read_as(manifest: Manifest) -> list[str]:
    """`read as   <user>: 11 blind spots (...)`: whom the run read the org as, and what it missed."""
    access = manifest.access
    if access is None:
        return []
    who = access.username or access.user_id
    blocking = access.blocking
    if not blocking:
        return [f"read as    {who}: no blind spot (docs/check.md)"]
    by_kind: dict[str, list[str]] = {}
    for gap in blocking:
        fields = gap.get("fields") or []
        where = ",".join(f"{gap.get('object')}.{f}" for f in fields) if fields else str(gap.get("object"))
        by_kind.setdefault(str(gap.get("kind")), []).append(where)
    shown = "; ".join(f"{kind}: {', '.join(items)}" for kind, items in sorted(by_kind.items()))
    return [f"read as    {who}: {counted(len(blocking), 'blind spot')} blocking SAFE ({shown})"]


def _cell(value: Any, column: str) -> str:
    if value is None:
        return "-"
    if column == "bytes":
        return human_size(int(value))
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(header: list[str], rows: list[list[str]], *, right: set[int]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            (c.rjust(w) if i in right else c.ljust(w))
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(header), *[line(r) for r in rows]])
