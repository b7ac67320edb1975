"""`sfbackup unlock`: remove stale repository locks (or every lock with --remove-all)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sfbackup.cli.common import add_command
from sfbackup.cli.forget import repository_location
from sfbackup.cli.upload import add_s3_arguments
from sfbackup.errors import ExitCode
from sfbackup.maintain.retention import open_repository_store
from sfbackup.repository.lock import LockInfo, remove_all, remove_stale
from sfbackup.repository.store import is_s3_url, remove_store_locks

DESCRIPTION = """\
Remove stale locks: a lock is stale when its process is gone (same host) or when it has not
been refreshed for 30 minutes. Live locks are left alone unless --remove-all, which removes
every lock (use it only when you know no sfbackup is running against the repository, for
example after its host was lost). Works for a folder and for s3://bucket/prefix.

examples:
  sfbackup unlock --repo /backups/acme
  sfbackup unlock --repo s3://acme-sf-backups/prod --remove-all
"""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "unlock", help="remove stale repository locks", description=DESCRIPTION)
    parser.add_argument("--repo", help="repository folder, or s3://bucket/prefix")
    parser.add_argument("--remove-all", action="store_true", help="remove live locks too")
    add_s3_arguments(parser, bucket=False)
    parser.add_argument("--config", help="TOML config file ([s3] endpoint/region/profile, repository)")
    parser.add_argument("--json", action="store_true", help="print one JSON result line instead of text")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    location, s3 = repository_location(args)
    store = open_repository_store(location, s3)
    removed: list[LockInfo]
    if is_s3_url(location):
        removed = remove_store_locks(store, remove_all=args.remove_all)
    else:
        removed = remove_all(location) if args.remove_all else remove_stale(location)
    if args.json:
        document = {
            "type": "result",
            "command": "unlock",
            "repository": store.describe(),
            "removed": [{"id": info.id, **info.to_dict()} for info in removed],
        }
        print(json.dumps(document), flush=True)
        return int(ExitCode.OK)
    if not removed:
        print(f"no {'' if args.remove_all else 'stale '}locks in {store.describe()}")
    for info in removed:
        print(f"removed {info.describe()}")
    return int(ExitCode.OK)
