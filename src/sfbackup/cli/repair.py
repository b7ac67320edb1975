"""`sfbackup repair`: mend missing or damaged blobs from the S3 mirror or the org; exit 4 if any stays."""

from __future__ import annotations

import argparse
import json
from contextlib import closing
from typing import Any

from sfbackup.cli.common import (
    add_command,
    add_config_arguments,
    add_repo_arguments,
    open_repository,
    settings_from_args,
)
from sfbackup.errors import ExitCode, UsageError
from sfbackup.maintain.repair import RepairResult, repair_repository
from sfbackup.repository import Repository
from sfbackup.repository.store import is_s3_url, store_from_url
from sfbackup.ui import choose_renderer
from sfbackup.verify import VerificationResult, verify_snapshot

DESCRIPTION = """\
Find every file body the snapshots name (files, base64 fields, rich-text images, metadata files)
that is missing or whose bytes no longer hash to its name, and mend it: from the S3 mirror that
`sfbackup upload` wrote (--from-s3 s3://bucket/prefix), then from the org (--from-org: the
record's body as Salesforce serves it today). A copy is accepted only when its SHA-256 is the
blob's name. Metadata files are mended only from S3. What no source can mend is listed with the
reason (not in the mirror, the org no longer serves it, the org serves other bytes now). Parts,
schemas and indexes whose SHA-256 the manifest records are checked too and mended from S3 only.

Every stored blob is re-read (as `verify --read-data` does). Afterwards each snapshot whose newest
full check failed and whose blobs are all intact is verified again with --read-data, so it can be
complete again. Without --from-s3 or --from-org, repair only lists what is damaged. Exit 0 when
every blob is intact, 4 when something stays damaged (or a snapshot's new check fails).

examples:
  sfbackup repair --repo /backups/acme --all --from-s3 s3://acme-backups/prod
  sfbackup repair latest --repo /backups/acme --from-org --config acme.toml
"""


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "repair",
        help="mend missing or damaged file bodies from the S3 mirror or the org",
        description=DESCRIPTION,
    )
    parser.add_argument("snapshot", nargs="?", help="snapshot id, or 'latest' (default: latest)")
    parser.add_argument("--all", action="store_true", help="every snapshot of the repository")
    add_repo_arguments(parser)
    parser.add_argument("--from-org", action="store_true", help="download damaged bodies again from the org")
    parser.add_argument(
        "--from-s3", metavar="s3://BUCKET/PREFIX", help="the S3 mirror `sfbackup upload` wrote"
    )
    add_config_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON result line instead of text")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if args.all and args.snapshot:
        raise UsageError("give a snapshot or --all, not both", hint="drop the snapshot id, or --all")
    if args.from_s3 and not is_s3_url(args.from_s3):
        raise UsageError(f"--from-s3 {args.from_s3!r} is not an s3:// URL", hint="write s3://bucket/prefix")
    settings = settings_from_args(args)
    repository = open_repository(args, settings)
    ids = repository.snapshot_ids() if args.all else [repository.snapshot(args.snapshot or "latest").id]
    mirror = store_from_url(args.from_s3, settings.s3) if args.from_s3 else None
    client = None
    if args.from_org:
        from sfbackup.salesforce.client import SalesforceClient

        client = SalesforceClient(settings.connection)
    with closing(choose_renderer(json_output=args.json)) as progress:
        result = repair_repository(repository, ids, s3=mirror, client=client, progress=progress)
        checks = _verify_again(repository, result, progress)
    failed = [c for c in checks if not c.passed]
    code = ExitCode.OK if result.intact and not failed else ExitCode.VERIFICATION_FAILED
    if args.json:
        body = {"type": "result", "command": "repair", **result.to_dict(),
                "verified_again": [_check(c) for c in checks]}  # fmt: skip
        print(json.dumps(body, default=str), flush=True)
    else:
        print(render_text(result, checks), flush=True)
    return int(code)


def _verify_again(repository: Repository, result: RepairResult, progress: Any) -> list[VerificationResult]:
    """`verify --read-data` of each snapshot whose newest full check failed and whose blobs are
    all intact now: a passing check makes it complete again."""
    damaged = result.snapshots_still_damaged()
    checks = []
    for snapshot_id in result.snapshots:
        if snapshot_id in damaged or not repository.snapshot(snapshot_id).manifest.check_failed:
            continue
        checks.append(verify_snapshot(repository, snapshot_id, read_data=True, progress=progress))
    return checks


def _check(check: VerificationResult) -> dict[str, Any]:
    return {"snapshot_id": check.snapshot_id, "passed": check.passed, "state": check.state}


def render_text(result: RepairResult, checks: list[VerificationResult]) -> str:
    """What was checked, mended and not mended (with why), and the snapshots verified again."""
    lines = [
        f"repair of {result.repository}: {result.blobs_checked} blobs of {len(result.snapshots)} "
        f"snapshots re-read, {len(result.damaged)} missing or damaged, {len(result.mended)} mended, "
        f"{len(result.unmended)} not mended"
    ]
    if result.files:
        lines.append(f"  {len(result.files)} parts, schemas or indexes missing or damaged, "
                     f"{len(result.files) - len(result.files_unmended)} mended")  # fmt: skip
    for fixed in result.files:
        where = f"{fixed.file.snapshot_id}/{fixed.file.relpath} ({fixed.file.what}, {fixed.problem})"
        outcome = f"mended from {fixed.mended_from}" if fixed.mended_from else "NOT mended"
        lines.append(f"  {outcome}: {where}")
        lines += [f"      {reason}" for reason in fixed.reasons]
    for repair in result.mended:
        lines.append(f"  mended from {repair.mended_from}: blob {repair.sha256} ({repair.problem}), "
                     f"{repair.owners[0].describe()}")  # fmt: skip
    for repair in result.unmended:
        lines.append(f"  NOT mended: blob {repair.sha256} ({repair.problem}), {repair.owners[0].describe()}, "
                     f"in snapshots {', '.join(repair.snapshots)}")  # fmt: skip
        lines += [f"      {reason}" for reason in repair.reasons]
    for snapshot_id, why in result.unreadable.items():
        lines.append(f"  NOT checked: snapshot {snapshot_id}: {why}")
    for check in checks:
        outcome = "passed" if check.passed else "FAILED"
        lines.append(f"  verify --read-data {check.snapshot_id}: {outcome}, state {check.state}")
    if not result.intact:
        lines.append(
            "  what to do: give another source (--from-s3 of another mirror, --from-org), or take "
            "a new snapshot; `sfbackup verify --read-data` lists what each snapshot lacks"
        )
    return "\n".join(lines)
