"""`sfbackup upload`: copy a snapshot to S3 (or MinIO, Ceph, R2), manifest last, resumable."""

from __future__ import annotations

import argparse
import json
import os
from contextlib import closing
from typing import Any

from sfbackup.cli.common import add_command
from sfbackup.config import S3Settings, load_settings
from sfbackup.errors import ExitCode, UsageError
from sfbackup.maintain.upload import UploadResult, upload_snapshot
from sfbackup.ui import choose_renderer

DESCRIPTION = """\
Upload a snapshot to S3 or an S3-compatible store (MinIO, Ceph, R2). The bucket gets the same
layout as the repository, under --prefix: file bodies and parts first, then files indexes and
schemas, then manifest.json last, so whoever reads the bucket never finds a manifest whose data
is not there yet. Objects already in the bucket with the same size and SHA-256 are skipped: a
rerun sends nothing, a nightly upload sends only what is new, an interrupted one resumes.
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
    parser.add_argument("--config", help="TOML config file (its [s3] section)")
    parser.add_argument("--json", action="store_true", help="print one JSON result line instead of text")
    parser.set_defaults(handler=handle)


def add_s3_arguments(parser: argparse.ArgumentParser, *, bucket: bool) -> None:
    """Where S3 is: endpoint, region, profile (and bucket/prefix for `upload`)."""
    if bucket:
        parser.add_argument("--bucket", help="S3 bucket")
        parser.add_argument("--prefix", help="key prefix inside the bucket")
    parser.add_argument("--endpoint-url", help="S3-compatible endpoint (MinIO, Ceph, R2); default AWS")
    parser.add_argument("--region", help="AWS region of the bucket")
    parser.add_argument("--profile", help="AWS named profile")


def s3_settings_from_args(args: argparse.Namespace) -> tuple[S3Settings, str | None]:
    """The [s3] settings (defaults < config < environment < flags) and the configured repository."""
    overrides = {
        "s3.bucket": getattr(args, "bucket", None),
        "s3.prefix": getattr(args, "prefix", None),
        "s3.endpoint_url": args.endpoint_url,
        "s3.region": args.region,
        "s3.profile": args.profile,
        "s3.sse": getattr(args, "sse", None),
        "s3.kms_key_id": getattr(args, "kms_key_id", None),
        "s3.storage_class": getattr(args, "storage_class", None),
    }
    settings = load_settings(getattr(args, "config", None), env=os.environ, overrides=overrides)
    return settings.s3, settings.repository


def handle(args: argparse.Namespace) -> int:
    s3, configured_repo = s3_settings_from_args(args)
    repo = args.repo or configured_repo
    if not repo:
        raise UsageError("no repository given", hint="pass --repo DIR (or set repository in the config)")
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
