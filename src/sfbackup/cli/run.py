"""`sfbackup run`: back up an org into a repository (the nightly command)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from contextlib import closing
from types import FrameType
from typing import Any

from sfbackup.backup.run import run_backup
from sfbackup.cli.common import (
    add_command,
    add_config_arguments,
    add_require_safe_argument,
    exit_code_for,
    object_overrides,
    repository_location,
    settings_from_args,
    verdict_lines,
)
from sfbackup.config import CORE_OBJECTS, PRESETS
from sfbackup.errors import UsageError
from sfbackup.repository import local_folder
from sfbackup.repository.manifest import SnapshotState
from sfbackup.ui import choose_renderer
from sfbackup.ui.summary import summary_line

DESCRIPTION = """\
Back up an org: every selected object's records to Parquet (or CSV), every file to the blob
store, a manifest with every count and checksum; then verify against the org and mark the
snapshot complete. Secrets come from SF_* environment variables or files named in the config,
never from the command line.

examples:
  SF_USERNAME=me@acme.com SF_PASSWORD=... SF_SECURITY_TOKEN=... sfbackup run --repo /backups/acme
  sfbackup run --repo /backups/acme --config /etc/sfbackup.toml --preset core --json
  sfbackup run --repo /backups/acme --resume
"""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "run", help="back up an org into a repository", description=DESCRIPTION)
    parser.add_argument("--repo", required=False, help="repository folder (created if missing)")
    add_config_arguments(parser)
    add_require_safe_argument(parser)
    parser.add_argument(
        "--objects",
        help="comma-separated object API names, or 'all' (default: the preset's objects)",
    )
    parser.add_argument(
        "--preset", choices=list(PRESETS),
        help="objects to back up when --objects is not given: 'everything' (default), every object the "
        "org lets us query, custom objects included; 'core': " + ", ".join(CORE_OBJECTS),
    )
    parser.add_argument("--format", choices=["parquet", "csv"], help="record file format")
    parser.add_argument(
        "--resume", action="store_true",
        help="continue the last unfinished snapshot, with its own format, objects and files settings "
        "(options that would change them are refused)",
    )
    parser.add_argument("--no-files", action="store_true", help="skip file bodies (records only)")
    parser.add_argument("--no-metadata", action="store_true",
                        help="skip the org's configuration (Metadata API components)")
    parser.add_argument("--no-verify", action="store_true", help="do not verify against the org at the end")
    parser.add_argument("--concurrency", type=int, help="objects exported in parallel")
    parser.add_argument("--contract-end", help="Salesforce contract end date (YYYY-MM-DD) for the report")
    parser.add_argument("--notice-days", type=int, help="days of notice the contract requires (default 60)")
    parser.add_argument("--upload", action="store_true",
                        help="upload the snapshot to S3 (the config's [s3] section) once it is complete")
    parser.add_argument("--bucket", help="S3 bucket for --upload (overrides s3.bucket)")
    parser.add_argument("--prefix", help="key prefix in the bucket for --upload (overrides s3.prefix)")
    parser.add_argument("--endpoint-url", help="S3-compatible endpoint for --upload (MinIO, Ceph, R2)")
    parser.add_argument("--json", action="store_true", help="JSON lines on stdout (default when not a tty)")
    parser.set_defaults(handler=handle, json_when_piped=True)


def handle(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = object_overrides(args)
    if args.format:
        overrides["backup.format"] = args.format
    if args.no_metadata:
        overrides["backup.metadata"] = False
    if args.no_verify:
        overrides["backup.verify_after_run"] = False
    if args.concurrency:
        overrides["backup.concurrency"] = args.concurrency
    if args.contract_end:
        overrides["backup.contract_end"] = args.contract_end
    if args.notice_days is not None:
        overrides["backup.notice_days"] = args.notice_days
    for flag, key in (("bucket", "s3.bucket"), ("prefix", "s3.prefix"), ("endpoint_url", "s3.endpoint_url")):
        if getattr(args, flag):
            overrides[key] = getattr(args, flag)
    settings = settings_from_args(args, overrides)
    repo = local_folder(repository_location(args, settings))
    if args.upload and not settings.s3.bucket:
        raise UsageError("--upload needs a bucket", hint="pass --bucket B or set bucket in the [s3] section")
    as_json = args.json or not sys.stdout.isatty()
    stop_event = threading.Event()
    _stop_on_signals(stop_event)
    with closing(choose_renderer(json_output=as_json)) as progress:
        result = run_backup(settings, repo, resume=args.resume, progress=progress, stop_event=stop_event)
        if args.upload and result.state == SnapshotState.COMPLETE:
            from sfbackup.maintain.upload import upload_snapshot

            uploaded = upload_snapshot(repo, result.snapshot_id, settings.s3, progress=progress)
            result.summary["upload"] = {
                "bucket": uploaded.bucket, "prefix": uploaded.prefix, "uploaded": uploaded.uploaded,
                "skipped": uploaded.skipped, "verified": uploaded.verified, "requests": uploaded.requests,
            }
        elif args.upload:
            progress.message("warning", f"not uploading: snapshot {result.snapshot_id} is {result.state}")
    verification = result.verification
    verdict = verification.verdict if verification is not None else None
    report = verification.report_paths.get("report.html") if verification is not None else None
    if verdict is not None:
        result.summary["verdict"] = verdict.to_dict()
        result.summary["report"] = str(report) if report else None
    if result.problem is not None:  # e.g. exit 3 with the objects not exported, by name
        result.summary["problem"] = result.problem.to_dict()
    if as_json:
        print(json.dumps({"type": "result", "command": "run", **result.summary}, default=str), flush=True)
    else:
        problem = [str(result.problem)] if result.problem is not None else []
        print("\n".join([summary_line(result.summary), *problem, *verdict_lines(verdict, report)]),
              flush=True)  # fmt: skip
    return int(exit_code_for(result.exit_code, verdict, require_safe=args.require_safe))


def _stop_on_signals(stop_event: threading.Event) -> None:
    """First SIGTERM/SIGINT: stop cleanly between pages; second: interrupt at once."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop_event.is_set():
            raise KeyboardInterrupt
        stop_event.set()
        os.write(2, b"sfbackup: stopping after the current page (signal again to abort)\n")

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
