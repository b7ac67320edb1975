"""`sfbackup upload`: copy a snapshot to S3 (or MinIO, Ceph, R2), manifest last, resumable."""

from __future__ import annotations

import argparse
import json
from contextlib import closing
from typing import Any

from sfbackup.cli.common import (
    add_command,
    add_config_arguments,
    add_s3_arguments,
    repository_location,
    settings_from_args,
)
from sfbackup.errors import ExitCode, UsageError
from sfbackup.maintain.upload import UploadResult, describe_requests, upload_snapshot
from sfbackup.ui import choose_renderer

DESCRIPTION = """\
Upload a snapshot to S3 or an S3-compatible store (MinIO, Ceph, R2). The bucket gets the same
layout as the repository, under --prefix: file bodies and parts first, then files indexes and
schemas, then manifest.json last, so whoever reads the bucket never finds a manifest whose data
is not there yet. Objects already in the bucket with the same size and SHA-256 are skipped: a
rerun sends nothing, a nightly upload sends only what is new, an interrupted one resumes. What
the bucket holds is learnt from its listing and the upload ledger (uploads/ledger.json.gz), not
from one request per object; the S3 requests spent are counted by kind in the result.
Afterwards the prefix is listed and compared with the snapshot; the result is kept in
snapshots/<id>/uploads/.

Only complete (verified) snapshots are uploaded unless --force. --archive sends one
archives/<id>.tar.gz instead (streamed, nothing staged on disk) with a .sha256 beside it.

Credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
AWS_PROFILE or [s3] profile, web identity, instance or pod role); they are never printed.

examples:
  sfbackup upload --repo /backups/acme --bucket acme-sf-backups --prefix prod
  sfbackup upload latest --repo /backups/acme --config acme.toml --sse aws:kms --kms-key-id alias/backups
  sfbackup upload --repo /backups/acme --bucket b --endpoint-url https://minio.internal:9000 --archive
"""


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "upload",
        help="upload a snapshot to S3 (manifest last, resumable)",
        description=DESCRIPTION,
    )
    parser.add_argument(
        "snapshot", nargs="?", default="latest", help="snapshot id, or 'latest' (the newest complete one)"
    )
    parser.add_argument("--repo", help="local repository folder (or `repository` in the config)")
    add_s3_arguments(parser, bucket=True)
    parser.add_argument("--sse", choices=("none", "AES256", "aws:kms"), help="server-side encryption")
    parser.add_argument("--kms-key-id", help="KMS key id, ARN or alias for --sse aws:kms")
    parser.add_argument("--storage-class", help="e.g. STANDARD_IA, GLACIER_IR (default: the bucket's)")
    parser.add_argument("--force", action="store_true", help="upload a snapshot that is not complete")
    parser.add_argument("--archive", action="store_true", help="upload one streamed .tar.gz instead")
    add_config_arguments(parser, org=False)
    parser.add_argument("--json", action="store_true", help="print one JSON result line instead of text")
    parser.set_defaults(handler=handle)




def handle(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    repo = repository_location(args, settings)
    s3 = settings.s3
    if not s3.bucket:
        raise UsageError("no bucket given", hint="pass --bucket NAME (or set [s3] bucket in the config)")
    if s3.kms_key_id and s3.sse != "aws:kms":
        raise UsageError("--kms-key-id is only used with --sse aws:kms", hint="add --sse aws:kms")
    with closing(choose_renderer(json_output=args.json)) as progress:
        result = upload_snapshot(
            repo, args.snapshot, s3, force=args.force, archive=args.archive, progress=progress
        )
    if args.json:
        print(json.dumps({"type": "result", "command": "upload", **result.to_dict()}), flush=True)
    else:
        print(render_text(result), flush=True)
    return int(ExitCode.OK if result.verified else ExitCode.FAILED)


def render_text(result: UploadResult) -> str:
    where = f"s3://{result.bucket}/{result.prefix}".rstrip("/")
    if result.mode == "archive":
        lines = [
            f"snapshot {result.snapshot_id}: archive {where}/{result.archive_key} "
            f"({'already there' if result.skipped else f'{result.bytes_uploaded} bytes sent'}), "
            f"sha256 {result.archive_sha256}"
        ]
    else:
        lines = [
            f"snapshot {result.snapshot_id} -> {where}: {result.uploaded} objects sent "
            f"({result.bytes_uploaded} bytes), {result.skipped} already there, {result.seconds:.1f}s"
        ]
    if result.requests:
        lines.append(f"  spent {describe_requests(result.requests)}")
    if result.verified:
        lines.append(
            f"  verified: every object of the snapshot is in the bucket with its size ({result.objects})"
        )
    else:
        lines.append(f"  NOT verified: {len(result.missing)} objects missing or of the wrong size:")
        lines += [f"    {key}" for key in result.missing[:20]]
        lines.append("  what to do: run the same upload again; it sends only what is missing")
    if result.record_path:
        lines.append(f"  recorded in {result.record_path}")
    return "\n".join(lines)
