"""`sfbackup browse SNAPSHOT`: the snapshot as a local web site on 127.0.0.1, offline."""

from __future__ import annotations

import argparse
from typing import Any

from sfbackup.cli.common import add_command, add_config_arguments, add_repo_arguments, open_repository
from sfbackup.errors import ExitCode

DESCRIPTION = """\
Serve a snapshot as a small web site on 127.0.0.1 (this machine only), no Salesforce needed:
search across objects, list views with a filter and paging, each record with its fields by label,
lookups as links, related lists and files (download, or view images and PDFs). The URL printed
carries a random token; without it every request is refused. Ctrl-C stops it.

examples:
  sfbackup browse latest --repo /backups/acme
  sfbackup browse latest-complete --repo s3://acme-sf-backups/prod --port 8765
"""


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers, "browse", help="browse a snapshot in a local web app", description=DESCRIPTION
    )
    parser.add_argument("snapshot", help="snapshot id, 'latest' or 'latest-complete'")
    add_repo_arguments(parser)
    add_config_arguments(parser, org=False)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from sfbackup.inspect.browse import BrowseServer

    snapshot = open_repository(args).snapshot(args.snapshot)
    server = BrowseServer(snapshot, port=args.port)
    print(f"browse snapshot {snapshot.id} at {server.url}", flush=True)
    print("only this machine can reach it; Ctrl-C stops it", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return int(ExitCode.OK)
