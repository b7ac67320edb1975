"""`sfbackup prune`: delete file bodies no snapshot refers to, and leftovers of interrupted writes."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sfbackup.cli.common import add_command, add_config_arguments, add_repo_arguments, open_repository
from sfbackup.errors import ExitCode
from sfbackup.maintain.retention import PruneResult, prune_repository
from sfbackup.ui.rates import human_size

DESCRIPTION = """\
Delete the blobs (file bodies) that no remaining snapshot's files index names, and temporary
files of interrupted writes older than an hour, locally or in S3. The plan is made first (every
files index is read; one that cannot be read stops prune before anything is deleted), then
carried out under an exclusive lock. Run it after `sfbackup forget`.

examples:
  sfbackup prune --repo /backups/acme --dry-run
  sfbackup prune --repo s3://acme-sf-backups/prod
"""


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "prune",
        help="delete file bodies no snapshot refers to",
        description=DESCRIPTION,
    )
    add_repo_arguments(parser)
    parser.add_argument("--dry-run", action="store_true", help="show what would be deleted, delete nothing")
    add_config_arguments(parser, org=False)
    parser.add_argument("--json", action="store_true", help="print one JSON result line instead of text")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    result = prune_repository(open_repository(args), dry_run=args.dry_run)
    if args.json:
        print(json.dumps({"type": "result", "command": "prune", **result.to_dict()}), flush=True)
    else:
        print(render_text(result), flush=True)
    return int(ExitCode.OK)


def render_text(result: PruneResult) -> str:
    plan = result.plan
    verb = "would delete" if result.dry_run else "deleted"
    lines = [
        f"{result.location}: {plan.snapshots} snapshots, {plan.blobs_total} blobs, {plan.blobs_used} in use",
        f"  {verb} {len(plan.remove_blobs)} unreferenced blobs and {len(plan.remove_temporary)} "
        f"temporary files ({human_size(plan.bytes_freed)})",
    ]
    for info in plan.remove_temporary[:20]:
        lines.append(f"    temporary: {info.key}")
    if plan.missing_blobs:
        lines.append(
            f"  warning: {len(plan.missing_blobs)} blobs named by files indexes are missing "
            "(`sfbackup verify` lists the snapshots affected)"
        )
    return "\n".join(lines)

