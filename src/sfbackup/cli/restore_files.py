"""`sfbackup restore-files SNAPSHOT --out DIR`: file bodies under their real names, per record."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sfbackup.cli.common import add_command, add_config_arguments, add_repo_arguments, open_repository
from sfbackup.errors import ExitCode, VerificationFailed

DESCRIPTION = """\
Write the files of a snapshot (Attachments, Files, Documents) under their real names, once per
record they are linked to, as DIR/<Object>/<record name> (<Id>)/<file name>. Only each File's
latest version unless --all-versions; deleted files only with --include-deleted. Names are made
safe (no paths, no device names, no control characters; collisions numbered). Every body is
checked against its SHA-256 as it is written: a damaged one is reported (exit 4), never written.

examples:
  sfbackup restore-files latest --repo /backups/acme --out ~/files
  sfbackup restore-files latest --repo /backups/acme --object Account --id 001Dx000000001IAA \
      --out ~/acme-files
"""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "restore-files", help="write a snapshot's files under their real names",
                         description=DESCRIPTION)  # fmt: skip
    parser.add_argument("snapshot", help="snapshot id, 'latest' or 'latest-complete'")
    add_repo_arguments(parser)
    add_config_arguments(parser, org=False)
    parser.add_argument("--out", required=True, type=Path, help="folder to write into (created)")
    parser.add_argument("--object", help="only files linked to records of this object, e.g. Account")
    parser.add_argument("--id", help="only files linked to this record")
    parser.add_argument("--all-versions", action="store_true", help="every version of a File, not the latest")
    parser.add_argument("--include-deleted", action="store_true", help="also files that were deleted")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from sfbackup.inspect.restore_files import restore_files

    snapshot = open_repository(args).snapshot(args.snapshot)
    result = restore_files(snapshot, args.out, object_name=args.object, record_id=args.id,
                           all_versions=args.all_versions, include_deleted=args.include_deleted)  # fmt: skip
    size = sum(copy.size for _, copy in result.written)
    print(f"wrote {len(result.written):,} files ({size:,} bytes) to {args.out}"
          + (f"; {len(result.unchanged):,} already there" if result.unchanged else ""))  # fmt: skip
    for status, count in sorted(result.not_stored.items()):
        print(f"not in the backup: {count:,} files ({status})")
    for copy, problem in result.damaged:
        print(f"NOT WRITTEN: {copy.file_object} {copy.file_id} {copy.name!r} for {copy.owner_id}: {problem}")
    if result.damaged:
        raise VerificationFailed(
            f"{len(result.damaged)} file bodies in snapshot {snapshot.id} are damaged or unreadable",
            hint=f"`sfbackup verify --read-data --repo {snapshot.repository.location}` lists every problem",
        )
    return int(ExitCode.OK)
