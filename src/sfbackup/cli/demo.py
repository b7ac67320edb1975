"""`sfbackup demo`: the whole pipeline on the bundled emulator, no Salesforce account needed."""

from __future__ import annotations

import argparse
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

from sfbackup.backup.run import run_backup
from sfbackup.cli.common import add_command, verdict_lines
from sfbackup.config import load_settings
from sfbackup.ui import choose_renderer

DESCRIPTION = """\
Start the bundled Salesforce API emulator on 127.0.0.1, back its synthetic org up into a local
repository (records, files, manifest), verify the snapshot against the org, and print where the
readiness report is. Nothing leaves this machine.
"""


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "demo",
        help="back up the bundled emulator and verify it (no Salesforce account needed)",
        description=DESCRIPTION,
    )
    parser.add_argument("--repo", default="./demo-backup", help="repository folder (default ./demo-backup)")
    parser.add_argument(
        "--records", type=int, default=2500,
        help="Accounts in the synthetic org (default 2500: the large objects go through Bulk API 2.0)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic org")
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    parser.add_argument("--json", action="store_true", help="JSON lines instead of rich progress")
    parser.set_defaults(handler=handle, json_when_piped=True)


def handle(args: argparse.Namespace) -> int:
    from sfbackup.testing import running_emulator

    repo = Path(args.repo)
    with (
        closing(choose_renderer(json_output=args.json or not sys.stdout.isatty())) as progress,
        running_emulator(records=args.records, seed=args.seed) as emulator,
    ):
        credentials = emulator.credentials
        env = {
            "SF_USERNAME": credentials.username,
            "SF_PASSWORD": credentials.password,
            "SF_SECURITY_TOKEN": credentials.security_token,
        }
        settings = load_settings(
            None,
            env=env,
            overrides={
                "connection.instance_url": emulator.instance_url,
                "connection.login_url": emulator.instance_url,
                "backup.format": args.format,
            },
        )
        progress.message("info", f"emulator running at {emulator.instance_url}")
        result = run_backup(settings, repo, progress=progress)
    snapshot_dir = result.snapshot_dir
    report = snapshot_dir / "report.html"
    print(f"snapshot {result.snapshot_id}: {result.state}", file=sys.stderr)
    verdict = result.verification.verdict if result.verification is not None else None
    for line in verdict_lines(verdict, None, sys.stderr):
        print(line, file=sys.stderr)
    print(f"repository: {repo.resolve()}", file=sys.stderr)
    if report.exists():
        print(f"readiness report: {report.resolve()}", file=sys.stderr)
        print(f"                  {(snapshot_dir / 'report.md').resolve()}", file=sys.stderr)
    return int(result.exit_code)
