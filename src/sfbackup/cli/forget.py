"""`sfbackup forget`: apply a retention policy (restic's keep rules) to a repository's snapshots."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sfbackup.cli.common import add_command, add_config_arguments, add_repo_arguments, open_repository
from sfbackup.cli.prune import render_text as render_prune
from sfbackup.errors import ExitCode
from sfbackup.maintain.retention import (
    ForgetResult,
    RetentionPolicy,
    forget_snapshots,
    parse_duration,
    prune_repository,
)

DESCRIPTION = """\
Remove snapshots a retention policy does not keep, locally or in S3, and say why for each one.
The policy chooses among complete snapshots (newest first, periods in UTC): --keep-daily 7 keeps
the newest snapshot of each of the last 7 days that have one, and so on. On top of the policy:
the newest complete snapshot is always kept; running snapshots and unreadable manifests are never
touched; incomplete, failed and unverified snapshots older than the newest complete one are
removed. Only snapshot folders are removed: run `sfbackup prune` (or add --prune) to delete the
file bodies nothing needs any more. Holds an exclusive lock.

examples:
  sfbackup forget --repo /backups/acme --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run
  sfbackup forget --repo s3://acme-sf-backups/prod --keep-daily 14 --keep-monthly 24 --prune
"""


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "forget",
        help="remove snapshots a retention policy does not keep",
        description=DESCRIPTION,
    )
    add_repo_arguments(parser)
    for name, what in (
        ("last", "the N newest complete snapshots"),
        ("hourly", "the newest snapshot of each of the last N hours that have one"),
        ("daily", "the newest snapshot of each of the last N days that have one"),
        ("weekly", "the newest snapshot of each of the last N ISO weeks that have one"),
        ("monthly", "the newest snapshot of each of the last N months that have one"),
        ("yearly", "the newest snapshot of each of the last N years that have one"),
    ):
        parser.add_argument(f"--keep-{name}", type=_count, default=0, metavar="N", help=f"keep {what}")
    parser.add_argument(
        "--keep-within",
        metavar="DURATION",
        help="keep every snapshot this much younger than the newest (30d, 1y6m)",
    )
    parser.add_argument("--dry-run", action="store_true", help="show the plan, remove nothing")
    parser.add_argument("--prune", action="store_true", help="then delete the blobs nothing refers to")
    add_config_arguments(parser, org=False)
    parser.add_argument("--json", action="store_true", help="print one JSON result line instead of a table")
    parser.set_defaults(handler=handle)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("counts are 0 or more")
    return value


def policy_from_args(args: argparse.Namespace) -> RetentionPolicy:
    return RetentionPolicy(
        keep_last=args.keep_last,
        keep_hourly=args.keep_hourly,
        keep_daily=args.keep_daily,
        keep_weekly=args.keep_weekly,
        keep_monthly=args.keep_monthly,
        keep_yearly=args.keep_yearly,
        keep_within=parse_duration(args.keep_within) if args.keep_within else None,
    )


def handle(args: argparse.Namespace) -> int:
    repository = open_repository(args)
    result = forget_snapshots(repository, policy_from_args(args), dry_run=args.dry_run)
    pruned = prune_repository(repository) if args.prune and not args.dry_run else None
    if args.json:
        document = {"type": "result", "command": "forget", **result.to_dict()}
        if pruned is not None:
            document["prune"] = pruned.to_dict()
        print(json.dumps(document), flush=True)
    else:
        print(render_table(result, pruning=pruned is not None), flush=True)
        if pruned is not None:
            print(render_prune(pruned), flush=True)
    return int(ExitCode.OK)


def render_table(result: ForgetResult, *, pruning: bool = False) -> str:
    rows = result.plan.rows()
    if not rows:
        return f"no snapshots in {result.location}"
    width = max(len(r["id"]) for r in rows)
    action_width = 12 if result.dry_run else 6
    lines = [f"{'SNAPSHOT':<{width}}  {'STATE':<10}  {'ACTION':<{action_width}}  REASONS"]
    for row in rows:
        action = (
            row["action"] if row["action"] == "keep" else ("would remove" if result.dry_run else "remove")
        )
        reasons = "; ".join(row["reasons"])
        lines.append(f"{row['id']:<{width}}  {row['state']:<10}  {action:<{action_width}}  {reasons}")
    removing = len(result.plan.remove)
    verb = "would be removed (dry run)" if result.dry_run else "removed"
    lines.append(f"{len(result.plan.keep)} kept, {removing} {verb} in {result.location}")
    if removing and not result.dry_run and not pruning:
        lines.append("file bodies are freed by `sfbackup prune`")
    return "\n".join(lines)
