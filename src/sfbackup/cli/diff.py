"""`sfbackup diff A B`: what changed between two snapshots, per object, by Id."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sfbackup.cli.common import add_command, add_config_arguments, add_repo_arguments, open_repository
from sfbackup.errors import ExitCode

DESCRIPTION = """\
Compare two snapshots of a repository: per object, the records added, changed and deleted (by Id,
live records: a record moved to the Recycle Bin counts as deleted), the fields that changed and
the fields one snapshot has and the other not. Timestamps that change with every edit
(SystemModstamp, LastModifiedDate...) are not counted as changes on their own. Then the org's
configuration: per metadata type, the components added, changed (a file's content differs) and
removed.

examples:
  sfbackup diff 20261127T020000Z-3f9a1c2e latest --repo /backups/acme
  sfbackup diff 20261127T020000Z-3f9a1c2e latest --repo /backups/acme --ids --json
"""


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "diff", help="compare two snapshots, per object", description=DESCRIPTION
    )
    parser.add_argument("a", help="the older snapshot (id, 'latest', 'latest-complete')")
    parser.add_argument("b", help="the newer snapshot")
    add_repo_arguments(parser)
    add_config_arguments(parser, org=False)
    parser.add_argument("--ids", action="store_true", help="list the Ids (at most --limit per kind)")
    parser.add_argument("--limit", type=int, default=20, help="Ids listed per kind and object (default 20)")
    parser.add_argument("--all", action="store_true", help="also objects without differences")
    parser.add_argument("--json", action="store_true", help="one JSON line per object")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from sfbackup.inspect.diff import diff_configuration, diff_snapshots

    repository = open_repository(args)
    a, b = repository.snapshot(args.a), repository.snapshot(args.b)
    diffs = [d for d in diff_snapshots(a, b, limit=args.limit) if args.all or d.any]
    configuration = diff_configuration(a, b)
    if args.json:
        for item in diffs:
            print(json.dumps(item.to_dict()))
        if configuration is not None:
            print(json.dumps({"configuration": [c.to_dict() for c in configuration]}))
        return int(ExitCode.OK)
    print(f"{a.id} -> {b.id}")
    if not diffs:
        print("no differences in the records")
    for item in diffs:
        where = {"a": f" (only in {a.id})", "b": f" (only in {b.id})"}.get(item.only_in or "", "")
        print(
            f"{item.object}: +{item.added:,} added, ~{item.changed:,} changed, "
            f"-{item.deleted:,} deleted{where}"
        )
        if item.changed_fields:
            fields = ", ".join(
                f"{f} ({n:,})" for f, n in sorted(item.changed_fields.items(), key=lambda x: -x[1])
            )
            print(f"  changed fields: {fields}")
        if item.fields_added or item.fields_removed:
            print(
                f"  fields added: {', '.join(item.fields_added) or '-'}; "
                f"removed: {', '.join(item.fields_removed) or '-'}"
            )
        if args.ids:
            for kind, ids in (("+", item.added_ids), ("~", item.changed_ids), ("-", item.deleted_ids)):
                for record_id in ids:
                    print(f"  {kind} {record_id}")
    if configuration is None:
        print("configuration: not compared (a snapshot holds no metadata)")
    elif not configuration:
        print("configuration: no differences")
    for change in configuration or ():
        print(f"configuration {change.type}: +{len(change.added)} added, ~{len(change.changed)} changed, "
              f"-{len(change.removed)} removed")  # fmt: skip
        for kind, names in (("+", change.added), ("~", change.changed), ("-", change.removed)):
            for name in names[: args.limit]:
                print(f"  {kind} {name}")
            if len(names) > args.limit:
                print(f"  {kind} ... and {len(names) - args.limit} more")
    return int(ExitCode.OK)
