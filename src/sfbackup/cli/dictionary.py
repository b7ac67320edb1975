"""`sfbackup dictionary [SNAPSHOT]`: the data dictionary of a snapshot, as HTML and xlsx."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sfbackup.cli.common import add_command, add_config_arguments, add_repo_arguments, open_repository
from sfbackup.errors import ExitCode

DESCRIPTION = """\
Write the data dictionary of a snapshot: every backed-up object and field with its label, API name,
type, length or precision, required, help text, picklist values, formula, relationship and the
records the snapshot holds, with each object's validation rules and record types from its
metadata. dictionary.html (self-contained) and dictionary.xlsx go into the snapshot folder, beside
the report (verify writes them too), for mapping fields to the next system without Salesforce.

examples:
  sfbackup dictionary --repo /backups/acme
  sfbackup dictionary 20261127T020000Z-3f9a1c2e --repo s3://acme-sf-backups/prod --json
"""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "dictionary", help="write a snapshot's data dictionary (HTML and xlsx)",
                         description=DESCRIPTION)  # fmt: skip
    parser.add_argument("snapshot", nargs="?", default="latest", help="snapshot id, or 'latest' (default)")
    add_repo_arguments(parser)
    add_config_arguments(parser, org=False)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from sfbackup.verify.dictionary import build_dictionary, write_dictionary

    repository = open_repository(args)
    snapshot = repository.snapshot(args.snapshot)
    dictionary = build_dictionary(snapshot)
    keys = write_dictionary(snapshot, dictionary)
    where = [f"{repository.location}/{key}" for key in keys]
    fields = sum(len(o.fields) for o in dictionary.objects)
    if args.json:
        print(json.dumps({"type": "result", "command": "dictionary", "snapshot_id": snapshot.id,
                          "objects": len(dictionary.objects), "fields": fields, "files": where}), flush=True)
    else:
        print(f"data dictionary of snapshot {snapshot.id}: {len(dictionary.objects)} objects, {fields} "
              "fields")
        print("\n".join(where))
    return int(ExitCode.OK)
