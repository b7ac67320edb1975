"""`sfbackup ls`, `sfbackup find` and `sfbackup stats`: look inside one snapshot, offline."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sfbackup.cli.common import add_command, add_config_arguments, add_repo_arguments, open_repository
from sfbackup.cli.snapshots import _table
from sfbackup.errors import ExitCode
from sfbackup.ui.rates import human_size

LS_DESCRIPTION = """\
List what a snapshot holds: its objects (label, live and deleted rows, parts, size), the records
of one object (Id and name), or its files (--files: object, Id, name, size, status, linked records).

examples:
  sfbackup ls latest --repo /backups/acme
  sfbackup ls latest Account --repo /backups/acme
  sfbackup ls latest --files --repo s3://acme-sf-backups/prod
"""

FIND_DESCRIPTION = """\
Find records whose text contains TEXT (case-insensitive) in any object, or, for an Id, the record
and every record pointing at it. Live records unless --include-deleted.

examples:
  sfbackup find latest "acme" --repo /backups/acme
  sfbackup find latest 001Dx000000001IAA --repo /backups/acme --objects Contact,Opportunity
"""

STATS_DESCRIPTION = """\
Totals of a snapshot: objects, rows, the parts' size, files and their size restored (every file)
and stored (each distinct body once), the largest objects.

examples:
  sfbackup stats latest --repo /backups/acme --json
"""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("snapshot", help="snapshot id, 'latest' or 'latest-complete'")
    add_repo_arguments(parser)
    add_config_arguments(parser, org=False)
    parser.add_argument("--json", action="store_true", help="JSON lines instead of a table")


def register(subparsers: Any) -> None:
    ls = add_command(
        subparsers, "ls", help="list a snapshot's objects, records or files", description=LS_DESCRIPTION
    )
    _common(ls)
    ls.add_argument("object", nargs="?", help="list this object's records (Id and name)")
    ls.add_argument("--files", action="store_true", help="list the files instead")
    ls.add_argument("--include-deleted", action="store_true", help="records deleted in the org too")
    ls.set_defaults(handler=handle_ls)

    find = add_command(subparsers, "find", help="find text or an Id across a snapshot's objects",
                       description=FIND_DESCRIPTION)  # fmt: skip
    _common(find)
    find.add_argument("text", help="the text (or Id) to look for")
    find.add_argument("--objects", help="comma-separated objects to search (default: every one)")
    find.add_argument("--include-deleted", action="store_true", help="records deleted in the org too")
    find.add_argument("--limit", type=int, default=100, help="stop after this many matches (default 100)")
    find.set_defaults(handler=handle_find)

    stats = add_command(
        subparsers, "stats", help="totals and sizes of a snapshot", description=STATS_DESCRIPTION
    )
    _common(stats)
    stats.set_defaults(handler=handle_stats)


def handle_ls(args: argparse.Namespace) -> int:
    from sfbackup.inspect.listing import file_rows, object_rows, record_rows
    from sfbackup.inspect.tables import select_objects

    snapshot = open_repository(args).snapshot(args.snapshot)
    if args.files:
        rows = list(file_rows(snapshot))
        if args.json:
            for row in rows:
                print(json.dumps(row))
            return int(ExitCode.OK)
        table = [[r["object"], r["id"], _printable(r["name"]), f"{int(r['size'] or 0):,}", r["status"],
                  ", ".join(r["linked"][:3]) + (" ..." if len(r["linked"]) > 3 else "")]
                 for r in rows]  # fmt: skip
        print(_table(["OBJECT", "ID", "NAME", "SIZE", "STATUS", "LINKED TO"], table, right={3}))
        return int(ExitCode.OK)
    if args.object:
        (name,) = select_objects(snapshot, [args.object])
        records = record_rows(snapshot, name, include_deleted=args.include_deleted)
        for record in records:
            if args.json:
                print(json.dumps(record))
            else:
                print(
                    f"{record['id']}  {_printable(record['name'])}"
                    + ("  (deleted)" if record["deleted"] else "")
                )
        return int(ExitCode.OK)
    objects = object_rows(snapshot)
    if args.json:
        for row in objects:
            print(json.dumps(row))
        return int(ExitCode.OK)
    table = [[o["object"], o["label"], f"{o['rows']:,}", f"{o['deleted']:,}", str(o["parts"]),
              human_size(o["bytes"]), o["state"]] for o in objects]  # fmt: skip
    print(_table(["OBJECT", "LABEL", "ROWS", "DELETED", "PARTS", "SIZE", "STATE"], table, right={2, 3, 4, 5}))
    return int(ExitCode.OK)


def handle_find(args: argparse.Namespace) -> int:
    from sfbackup.inspect.listing import find

    snapshot = open_repository(args).snapshot(args.snapshot)
    objects = [n for n in args.objects.split(",") if n.strip()] if args.objects else None
    hits = list(
        find(snapshot, args.text, objects=objects, include_deleted=args.include_deleted, limit=args.limit)
    )
    if args.json:
        for hit in hits:
            print(json.dumps(hit.__dict__))
        return int(ExitCode.OK)
    rows = [[h.object, h.id, _printable(h.name)[:40], h.field, _printable(h.value)] for h in hits]
    if rows:
        print(_table(["OBJECT", "ID", "NAME", "FIELD", "MATCH"], rows, right=set()))
    more = f" (stopped at --limit {args.limit})" if len(hits) >= args.limit else ""
    print(f"{len(hits):,} matches in snapshot {snapshot.id}{more}")
    return int(ExitCode.OK)


def handle_stats(args: argparse.Namespace) -> int:
    from sfbackup.inspect.listing import stats

    snapshot = open_repository(args).snapshot(args.snapshot)
    totals = stats(snapshot)
    if args.json:
        print(json.dumps(totals))
        return int(ExitCode.OK)
    saved = totals["files_restore_size"] - totals["blobs_bytes"]
    print("\n".join([
        f"snapshot       {totals['snapshot']}",
        f"objects        {totals['objects']:,}",
        f"records        {totals['rows']:,} live, {totals['deleted_rows']:,} deleted",
        f"parts          {totals['parts']:,} ({human_size(totals['parts_bytes'])})",
        f"files          {totals['files']:,} ({totals['files_stored']:,} with a body)",
        f"restore size   {human_size(totals['files_restore_size'])} (every file)",
        f"stored size    {human_size(totals['blobs_bytes'])} in {totals['blobs']:,} blobs"
        + (f" ({human_size(saved)} saved by deduplication)" if saved > 0 else ""),
        "largest        "
        + ", ".join(f"{o['object']} ({o['rows'] + o['deleted']:,})" for o in totals["largest"][:5]),
    ]))  # fmt: skip
    return int(ExitCode.OK)


def _printable(text: Any) -> str:
    """Record text on one terminal line, with no control characters (escape sequences) in it."""
    if text is None:
        return "-"
    return "".join(c if c.isprintable() else " " for c in str(text))
