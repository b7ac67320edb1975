"""`sfbackup unlock`: remove stale repository locks (or every lock with --remove-all)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sfbackup.cli.common import add_command, add_config_arguments, add_repo_arguments, open_repository
from sfbackup.errors import ExitCode
from sfbackup.repository.lock import remove_all, remove_stale

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
    add_repo_arguments(parser)
    parser.add_argument("--remove-all", action="store_true", help="remove live locks too")
    add_config_arguments(parser, org=False)
    parser.add_argument("--json", action="store_true", help="print one JSON result line instead of text")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    repository = open_repository(args)
    store = repository.store
    removed = remove_all(store) if args.remove_all else remove_stale(store)
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
