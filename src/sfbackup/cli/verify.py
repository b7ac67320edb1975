"""`sfbackup verify`: is everything in the backup, and can it be proven? Exit 0 verified, 4 not."""

from __future__ import annotations

import argparse
import json
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Any

from sfbackup.cli.common import (
    add_command,
    add_config_arguments,
    add_repo_arguments,
    add_require_safe_argument,
    exit_code_for,
    open_repository,
    settings_from_args,
    verdict_lines,
    wrap_for_terminal,
)
from sfbackup.clock import format_time
from sfbackup.errors import UsageError
from sfbackup.ui import choose_renderer
from sfbackup.verify import VerificationResult, verify_snapshot
from sfbackup.verify.findings import counted

DESCRIPTION = """\
Verify a snapshot, after restic's `check`. By default the structure: every part, files index and
file body the manifest names exists with the size it recorded, and the Parquet row counts add up.
--read-data re-reads every byte (SHA-256 of every part and body, MD5 against Salesforce's
ContentVersion checksum, every part fully decoded); --read-data-subset n/t reads one t-th of it.
--against-org counts every object and file object in the org under the snapshot's own predicate
(records created after T0 belong to the next snapshot); --ids compares the exact Id lists and
names every missing record.

Each verification's report.json, report.md and report.html (self-contained, for a manager) are
kept in the snapshot's reports/<time>-<level>/, with one verdict line: SAFE TO CANCEL or NOT SAFE
TO CANCEL and why. report.* beside the manifest is the strongest verification's: a weaker check
(--read-data without --against-org after a check against the org) never replaces it; one that finds
damage always does. --require-safe judges that standing verdict. A snapshot whose run finished
(state exported) and that passes is marked complete; nothing else is changed.

examples:
  sfbackup verify --repo /backups/acme
  sfbackup verify latest --repo /backups/acme --read-data --against-org --ids --config acme.toml
  sfbackup verify 20261127T020000Z-3f9a1c2e --repo s3://acme-backups/salesforce --read-data-subset 2/7
  sfbackup verify latest --repo /mnt/auditor-copy --read-data --no-lock --report-dir ./audit
"""


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "verify",
        help="verify a snapshot (structure, data, against the org) and write the report",
        description=DESCRIPTION,
    )
    parser.add_argument("snapshot", nargs="?", default="latest", help="snapshot id, or 'latest' (default)")
    add_repo_arguments(parser)
    parser.add_argument(
        "--read-data", action="store_true", help="re-read and re-hash every part and file body"
    )
    parser.add_argument(
        "--read-data-subset", metavar="n/t", help="re-read only subset n of t (by SHA-256 prefix)"
    )
    parser.add_argument(
        "--against-org", action="store_true", help="compare record and file counts with the org"
    )
    parser.add_argument("--ids", action="store_true", help="with --against-org: compare the exact Id lists")
    parser.add_argument(
        "--contract-end",
        metavar="YYYY-MM-DD",
        help="Salesforce contract end: the report shows the notice deadline",
    )
    parser.add_argument("--notice-days", type=int, help="days of notice the contract requires (default 60)")
    add_config_arguments(parser)
    add_require_safe_argument(parser)
    parser.add_argument(
        "--no-lock", action="store_true",
        help="verify a read-only copy (WORM storage, an auditor's mount): take no lock and write nothing "
        "in the repository; the reports go to --report-dir (the check is not recorded in the snapshot)",
    )
    parser.add_argument(
        "--report-dir", metavar="DIR",
        help="with --no-lock: where the reports go (default ./sfbackup-verify-<snapshot>)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if args.ids and not args.against_org:
        raise UsageError("--ids compares Id lists with the org", hint="add --against-org")
    if args.report_dir and not args.no_lock:
        raise UsageError(
            "--report-dir is for read-only copies",
            hint="add --no-lock (otherwise the reports go in the snapshot)",
        )
    settings = settings_from_args(args)
    repository = open_repository(args, settings)
    client = None
    preflight: Any = None
    if args.against_org:  # the preflight first: what this user cannot see of the snapshot's objects
        from sfbackup.backup.preflight import preflight_objects
        from sfbackup.salesforce.client import SalesforceClient

        manifest = repository.snapshot(args.snapshot).manifest
        client = SalesforceClient(settings.connection)
        preflight = preflight_objects(
            client, sorted(manifest.objects), username=settings.connection.username,
            files=bool(manifest.files), concurrency=settings.backup.concurrency,
        )  # fmt: skip

    contract_end = settings.backup.contract_end
    if args.contract_end:
        try:
            contract_end = date.fromisoformat(args.contract_end)
        except ValueError:
            raise UsageError(
                f"--contract-end {args.contract_end!r} is not a date", hint="write YYYY-MM-DD"
            ) from None
    notice_days = args.notice_days
    if notice_days is None and settings.backup.contract_end is not None:
        notice_days = settings.backup.notice_days
    report_dir = None
    if args.no_lock:
        chosen = repository.snapshot(args.snapshot).id
        report_dir = Path(args.report_dir or f"sfbackup-verify-{chosen}").resolve()
    with closing(choose_renderer(json_output=args.json)) as progress:
        for gap in preflight.gaps if preflight is not None else ():
            progress.message("warning" if gap.blocks_safe else "info", f"preflight: {gap.one_line()}")
        result = verify_snapshot(
            repository,
            args.snapshot,
            read_data=args.read_data,
            read_data_subset=args.read_data_subset,
            against_org=args.against_org,
            ids=args.ids,
            client=client,
            progress=progress,
            contract_end=contract_end,
            notice_days=notice_days,
            report_dir=report_dir,
        )
    if args.json:
        body = {"type": "result", "command": "verify", **result.summary()}
        if preflight is not None:
            body["preflight"] = preflight.to_dict()
        print(json.dumps(body, default=str), flush=True)
    else:
        print(render_text(result), flush=True)
    standing = result.standing if result.superseded else result.verdict
    return int(exit_code_for(result.exit_code, standing, require_safe=args.require_safe))


def render_text(result: VerificationResult) -> str:
    """The human summary: outcome, verdict, every error and warning, where the reports are."""
    counts = result.summary()["counts"]
    transition = f"{result.previous_state} -> {result.state}" if result.promoted else f"state {result.state}"
    notice = (result.report.get("readiness") or {}).get("notice")
    lines = [
        f"snapshot {result.snapshot_id}: verification {'passed' if result.passed else 'FAILED'} "
        f"({result.level}), {transition}",
        f"  {counted(counts['error'], 'error')}, {counted(counts['warning'], 'warning')}, "
        f"{counted(counts['info'], 'explained difference')}",
        f"  notice: {notice['message']}" if notice else "",
    ]
    for finding in result.findings:
        if finding.severity == "info":
            continue
        lines.append("  " + finding.one_line())
        if finding.what_to_do:
            lines.append(f"      what to do: {finding.what_to_do}")
    for finding in result.findings:
        if finding.severity == "info":
            lines.append("  " + finding.one_line())
    html = result.report_paths.get("report.html")
    standing = result.standing
    if result.superseded and standing is not None:
        own = result.own_report_paths.get("report.html")
        lines += verdict_lines(result.verdict, own)
        lines += wrap_for_terminal(
            [
                f"the snapshot's strongest verification still stands ({standing.describe()}, "
                f"{format_time(standing.verified_at)}):",
                standing.verdict,
                f"report: {html} (also report.md, report.json)",
            ]
        )
    else:
        lines += verdict_lines(result.verdict, f"{html} (also report.md, report.json)" if html else None)
    return "\n".join(line for line in lines if line)
