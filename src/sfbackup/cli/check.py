"""`sfbackup check`: can this user back the org up completely? The preflight alone, in seconds.

Exit 0 when nothing the backup user cannot see would block SAFE TO CANCEL, 6 when something
would (each gap says what to grant and where in Setup), and the usual codes for usage (2) and
login (12) errors.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from sfbackup.cli.common import add_command, add_config_arguments, object_overrides, settings_from_args
from sfbackup.config import PRESETS
from sfbackup.errors import BlindSpotsFound, ExitCode

DESCRIPTION = """\
Check, before anything is scheduled, what the backup user cannot see: its permissions (View All
Data, Query All Files, View Encrypted Data, Modify All Data), records outside its sharing
(/limits/recordCount, which ignores sharing, against its own COUNT()), fields field-level
security hides (FieldDefinition against its describe), encrypted fields it reads masked, and
files without Query All Files. Each gap names the object and fields, its effect and the exact
fix. Nothing is written; it reads the objects `sfbackup run` would export with the same config.

examples:
  sfbackup check --config /etc/sfbackup.toml
  sfbackup check --instance-url https://acme.my.salesforce.com --objects all --json
"""


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "check",
        help="check what the backup user cannot see (permissions, sharing, fields, files)",
        description=DESCRIPTION,
    )
    add_config_arguments(parser)
    parser.add_argument("--objects", help="comma-separated object names, or 'all' (default: the config's)")
    parser.add_argument(
        "--preset", choices=list(PRESETS), help="objects to check when --objects is not given, as for `run`"
    )
    parser.add_argument("--no-files", action="store_true", help="file bodies will not be backed up")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = object_overrides(args)
    settings = settings_from_args(args, overrides)
    from sfbackup.backup.preflight import check_access
    from sfbackup.salesforce.client import SalesforceClient

    client = SalesforceClient(settings.connection)
    found = check_access(client, settings)
    code = BlindSpotsFound.exit_code if found.blocking else ExitCode.OK
    if args.json:
        body = {"type": "result", "command": "check", "exit_code": int(code), **found.to_dict()}
        print(json.dumps(body, default=str), flush=True)
    else:
        print(render_text(found, client.instance_url), flush=True)
    return int(code)


def render_text(found: Any, instance_url: str) -> str:
    """The human answer: who, which permissions, every gap, each fix once (with what it fixes),
    then the outcome."""
    user = found.user
    from sfbackup.salesforce.access import PERMISSIONS

    held = ", ".join(f"{label} {'yes' if user.has(key) else 'NO'}" for key, _, label in PERMISSIONS)
    lines = [
        f"backup user {found.username or user.user_id} (profile {user.profile or 'unknown'}) "
        f"at {instance_url}",
        f"  permissions ({user.source}): {held}",
        f"  checked {len(found.objects)} objects in {found.seconds:.2f} s with {found.api_calls} API calls",
    ]
    lines += ["  " + gap.one_line() for gap in found.gaps]
    fixes: dict[str, list[str]] = {}
    for gap in found.gaps:
        where = ".".join(x for x in (gap.object, ",".join(gap.fields)) if x)
        fixes.setdefault(gap.fix, []).append(f"{gap.kind} {where}".strip())
    if fixes:
        lines.append("to fix:")
        lines += [f"  - {fix} [{'; '.join(what)}]" for fix, what in fixes.items()]
    blocking = found.blocking
    if blocking:
        objects = sorted({g.object for g in blocking if g.object})
        lines.append(
            f"NOT SAFE: {len(blocking)} blind spot{'s' if len(blocking) != 1 else ''} "
            f"({', '.join(objects)}): a backup made as this user would be NOT SAFE TO CANCEL; "
            "fix them and run `sfbackup check` again (exit 6)"
        )
    else:
        lines.append("OK: this user sees every record, field, value and file of the objects checked (exit 0)")
    return "\n".join(lines)
