"""`sfbackup export SNAPSHOT --to xlsx|csv|migration-pack --out DIR`: a snapshot for people, offline."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sfbackup.cli.common import add_command, add_config_arguments, add_repo_arguments, open_repository
from sfbackup.errors import ExitCode, VerificationFailed

DESCRIPTION = """\
Export objects of a snapshot for people, with no Salesforce needed: a spreadsheet (xlsx) or CSV
whose header gives each field's label beside its API name, each lookup followed by its parent's
name (Account Name beside AccountId), picklist labels, datetimes in --timezone, exact decimals.
Live records only unless --include-deleted. An object longer than Excel's 1,048,576 rows is split
across sheets (xlsx) or files (Opportunity-2.csv). CSV text starting with = + - @ gets a leading '
so a spreadsheet shows it instead of running it.

--to migration-pack writes the layout of Salesforce's own Data Export instead (one UTF-8 CSV per
object with Salesforce column names, the bodies in Attachments/, Documents/ and ContentVersion/
named by Id), which other CRMs' import wizards read: docs/reading-a-backup.md.

examples:
  sfbackup export latest --repo /backups/acme --objects Opportunity --to xlsx --out ~/export
  sfbackup export latest-complete --repo s3://acme/prod --to csv --timezone Europe/Berlin --out out
  sfbackup export latest --repo /backups/acme --to migration-pack --out ~/pack
"""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "export", help="export a snapshot as xlsx, CSV or a migration pack",
                         description=DESCRIPTION)  # fmt: skip
    parser.add_argument("snapshot", help="snapshot id, 'latest' or 'latest-complete'")
    add_repo_arguments(parser)
    add_config_arguments(parser, org=False)
    parser.add_argument("--objects", default="all",
                        help="comma-separated objects, or 'all' (default)")  # fmt: skip
    parser.add_argument("--to", dest="to", required=True, choices=("xlsx", "csv", "migration-pack"),
                        help="xlsx or csv for people; migration-pack for another CRM's import")  # fmt: skip
    parser.add_argument("--out", required=True, type=Path, help="folder to write into (created)")
    parser.add_argument(
        "--timezone",
        default="UTC",
        help="IANA time zone datetimes are shown in (default UTC), e.g. Europe/Berlin",
    )
    parser.add_argument(
        "--include-deleted",
        action="store_true",
        help="also the records that were in the Recycle Bin (IsDeleted true)",
    )
    parser.add_argument(
        "--rows-per-sheet",
        type=int,
        default=None,
        help="rows per sheet or CSV file (default and most: Excel's 1,048,575)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from sfbackup.inspect.labels import Labels
    from sfbackup.inspect.spreadsheet import EXCEL_MAX_ROWS, export_object
    from sfbackup.inspect.tables import select_objects

    snapshot = open_repository(args).snapshot(args.snapshot)
    names = select_objects(snapshot, [n for n in args.objects.split(",") if n.strip()])
    if args.to == "migration-pack":
        from sfbackup.inspect.migration import write_migration_pack

        pack = write_migration_pack(snapshot, args.out, names, include_deleted=args.include_deleted)
        for line in pack.lines():
            print(line, flush=True)
        if pack.damaged:
            raise VerificationFailed(
                f"{len(pack.damaged)} file bodies in snapshot {snapshot.id} are damaged or unreadable",
                hint=f"`sfbackup verify --read-data --repo {snapshot.repository.location}` lists them all",
            )
        return int(ExitCode.OK)
    labels = Labels(snapshot)
    rows_per_sheet = args.rows_per_sheet or EXCEL_MAX_ROWS - 1
    total = 0
    for name in names:
        done = export_object(snapshot, name, args.out, fmt=args.to, zone_name=args.timezone,
                             include_deleted=args.include_deleted, rows_per_sheet=rows_per_sheet,
                             labels=labels)  # fmt: skip
        total += done.rows
        where = ", ".join(str(p) for p in done.files)
        sheets = f" ({len(done.sheets)} sheets)" if len(done.sheets) > 1 else ""
        cut = f"; {done.truncated_cells:,} cells cut at Excel's 32,767 characters (CSV keeps them)" \
            if done.truncated_cells else ""  # fmt: skip
        print(f"{name}: {done.rows:,} rows -> {where}{sheets}{cut}", flush=True)
    print(f"exported {len(names)} objects, {total:,} rows from snapshot {snapshot.id} to {args.out}")
    return int(ExitCode.OK)
