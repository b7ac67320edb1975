"""`sfbackup sql SNAPSHOT "SELECT ..."`: SQL over DuckDB views of a snapshot, offline."""

from __future__ import annotations

import argparse
from typing import Any

from sfbackup.cli.common import add_command, add_config_arguments, add_repo_arguments, open_repository
from sfbackup.errors import ExitCode

DESCRIPTION = """\
Query a snapshot with SQL (DuckDB), no Salesforce needed. Each object is a view of its live rows
(Account), <Object>_all holds the deleted ones too, files_<Object> is a files index
(files_ContentVersion: Id, LinkedEntityIds, Name, sha256...). `sfbackup views` prints the same
views as CREATE VIEW statements for DuckDB itself; from Python: sfbackup.inspect.sql.open_views.

examples:
  sfbackup sql latest --repo /backups/acme \
      "SELECT c.Name, c.Email FROM Contact c JOIN Account a ON c.AccountId = a.Id WHERE a.Name = 'Acme'"
  sfbackup sql latest --repo /backups/acme --output csv \
      "SELECT * FROM Opportunity_all WHERE IsDeleted" > deleted.csv
"""

VIEWS_DESCRIPTION = """\
Print CREATE VIEW statements over a snapshot's Parquet parts (a local repository), the same views
`sfbackup sql` queries, to use from DuckDB or pandas (duckdb.sql(...).df()).

examples:
  sfbackup views latest --repo /backups/acme > views.sql && duckdb -init views.sql
"""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "sql", help="query a snapshot with SQL (DuckDB views)",
                         description=DESCRIPTION)  # fmt: skip
    parser.add_argument("snapshot", help="snapshot id, 'latest' or 'latest-complete'")
    parser.add_argument("query", help="the SQL query")
    add_repo_arguments(parser)
    add_config_arguments(parser, org=False)
    parser.add_argument("--output", choices=("table", "csv", "json"), default="table",
                        help="a table for people (default), CSV, or JSON lines")  # fmt: skip
    parser.add_argument("--max-rows", type=int, default=1000, help="rows a table shows (default 1000)")
    parser.set_defaults(handler=handle)

    views = add_command(subparsers, "views", help="print the DuckDB views of a snapshot (CREATE VIEW ...)",
                        description=VIEWS_DESCRIPTION)  # fmt: skip
    views.add_argument("snapshot", help="snapshot id, 'latest' or 'latest-complete'")
    add_repo_arguments(views)
    add_config_arguments(views, org=False)
    views.set_defaults(handler=handle_views)


def handle(args: argparse.Namespace) -> int:
    from sfbackup.inspect.sql import run_query

    snapshot = open_repository(args).snapshot(args.snapshot)
    run_query(snapshot, args.query, output=args.output, max_rows=args.max_rows)
    return int(ExitCode.OK)


def handle_views(args: argparse.Namespace) -> int:
    from sfbackup.inspect.sql import view_statements

    snapshot = open_repository(args).snapshot(args.snapshot)
    for statement in view_statements(snapshot):
        print(statement + ";")
    return int(ExitCode.OK)
