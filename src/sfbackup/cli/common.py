"""Arguments shared by the commands (the org, the repository and S3), and turning them into
Settings or an opened Repository."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import textwrap
from typing import TYPE_CHECKING, Any

from sfbackup.cli import exit_status_epilog
from sfbackup.config import Settings, load_settings
from sfbackup.errors import ExitCode, NotSafeToCancel, UsageError

if TYPE_CHECKING:
    from sfbackup.repository import Repository

#: Flags that become [s3] settings (those a command does not define are left out).
_S3_FLAGS = ("bucket", "prefix", "endpoint_url", "region", "profile", "sse", "kms_key_id", "storage_class")


def add_command(subparsers: Any, name: str, *, help: str, description: str | None) -> argparse.ArgumentParser:
    """A command's parser: its description above, the exit-status table below, text kept as written."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=exit_status_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    output = parser.add_argument_group("output")
    output.add_argument("-v", "--verbose", action="count", default=0,
                        help="show each retry and re-login as it happens (-vv: every API call)")
    output.add_argument("-q", "--quiet", action="store_true",
                        help="no progress: errors and the final result only")
    output.add_argument("--log-file", metavar="PATH",
                        help="append every log record (debug level, JSON lines, redacted) to PATH")
    return parser


def add_require_safe_argument(parser: argparse.ArgumentParser) -> None:
    """--require-safe: exit 5 unless the verdict is SAFE TO CANCEL (for the script before cancelling)."""
    parser.add_argument(
        "--require-safe", action="store_true",
        help="exit 5 when the snapshot verified but the verdict is NOT SAFE TO CANCEL "
        "(by default a verified snapshot exits 0 whatever the verdict)",
    )


def exit_code_for(code: ExitCode, verdict: Any, *, require_safe: bool) -> ExitCode:
    """`code`, or NOT_SAFE (5) when `require_safe` and a successful command's verdict is not SAFE."""
    if require_safe and code == ExitCode.OK and (verdict is None or not verdict.safe):
        return NotSafeToCancel.exit_code
    return code


def verdict_lines(verdict: Any, report: Any, stream: Any = None) -> list[str]:
    """The end of a run or verify for a person: the verdict, its first reasons in full, the report;
    wrapped between words when `stream` (default stdout) is a terminal."""
    if verdict is None:
        return []
    lines = [verdict.line]
    lines += [f"  - {reason}" for reason in verdict.reasons[1:4]]
    if len(verdict.reasons) > 4:
        lines.append(f"  - and {len(verdict.reasons) - 4} more in the report")
    notes = getattr(verdict, "notes", ())
    if notes:
        lines.append("Before you cancel, Salesforce itself no longer serves (or never offers):")
        lines += [f"  - {note}" for note in notes[:3]]
        if len(notes) > 3:
            lines.append(f"  - and {len(notes) - 3} more in the report")
    if report is not None:
        lines.append(f"report: {report}")
    return wrap_for_terminal(lines, stream)


def wrap_for_terminal(lines: list[str], stream: Any = None) -> list[str]:
    """`lines` wrapped at the terminal's width between words (an Id or a path is never cut in two),
    continuation lines indented under their bullet; unchanged when `stream` is not a terminal."""
    stream = stream or sys.stdout
    if not stream.isatty():
        return lines
    width = max(40, shutil.get_terminal_size().columns - 1)
    wrapped: list[str] = []
    for line in lines:
        indent = " " * (len(line) - len(line.lstrip(" -")))
        wrapped += textwrap.wrap(line, width=width, subsequent_indent=indent or "  ",
                                 break_long_words=False, break_on_hyphens=False) or [""]  # fmt: skip
    return wrapped


def add_config_arguments(parser: argparse.ArgumentParser, *, org: bool = True) -> None:
    """--config (and with `org`, --instance-url and --sf-org): where settings come from (never secrets)."""
    parser.add_argument("--config", help="TOML config file (see configs/sfbackup.example.toml)")
    if org:
        parser.add_argument("--instance-url", help="the org's URL, e.g. https://acme.my.salesforce.com")
        parser.add_argument("--sf-org", metavar="ALIAS",
                            help="log in as the Salesforce CLI's org ALIAS (`sf org display`); sets sf_org")


def add_s3_arguments(parser: argparse.ArgumentParser, *, bucket: bool = False) -> None:
    """Where S3 is: endpoint, region, profile (and with `bucket`, --bucket/--prefix for `upload`)."""
    if bucket:
        parser.add_argument("--bucket", help="S3 bucket")
        parser.add_argument("--prefix", help="key prefix inside the bucket")
    parser.add_argument("--endpoint-url", help="S3-compatible endpoint (MinIO, Ceph, R2); default AWS")
    parser.add_argument("--region", help="AWS region of the bucket")
    parser.add_argument("--profile", help="AWS named profile")


def add_repo_arguments(parser: argparse.ArgumentParser) -> None:
    """--repo (a folder or s3://bucket/prefix) and the S3 flags that reach the bucket."""
    parser.add_argument(
        "--repo", help="repository folder, or s3://bucket/prefix (default: `repository` in the config)"
    )
    add_s3_arguments(parser)


def object_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings --objects, --preset and --no-files give (run and check choose objects alike)."""
    overrides: dict[str, Any] = {}
    if getattr(args, "objects", None):
        names = [o.strip() for o in args.objects.split(",") if o.strip()]
        overrides["backup.objects"] = "all" if names == ["all"] else names
    if getattr(args, "preset", None):
        overrides["backup.preset"] = args.preset
    if getattr(args, "no_files", False):
        overrides["backup.files"] = False
    return overrides


def settings_from_args(args: argparse.Namespace, overrides: dict[str, Any] | None = None) -> Settings:
    """Settings from defaults < config file < environment < flags (--instance-url and the S3 flags)."""
    merged = dict(overrides or {})
    if getattr(args, "instance_url", None):
        merged["connection.instance_url"] = args.instance_url
    for name in _S3_FLAGS:
        merged.setdefault(f"s3.{name}", getattr(args, name, None))
    if getattr(args, "sf_org", None):
        merged.update({"connection.sf_org": args.sf_org, "connection.auth": "sf_org"})
    return load_settings(getattr(args, "config", None), env=os.environ, overrides=merged)


def repository_location(args: argparse.Namespace, settings: Settings) -> str:
    """--repo, else the configured `repository`; UsageError when neither is given."""
    location = getattr(args, "repo", None) or settings.repository
    if not location:
        raise UsageError(
            "no repository given",
            hint="pass --repo DIR or --repo s3://bucket/prefix (or set `repository` in the config)",
        )
    return str(location)


def open_repository(args: argparse.Namespace, settings: Settings | None = None) -> Repository:
    """The repository `--repo` names (a folder or s3://bucket/prefix, reached with the [s3]
    endpoint, region and profile), opened; `settings` when the command already resolved them."""
    from sfbackup.repository import Repository

    settings = settings or settings_from_args(args)
    return Repository.open(repository_location(args, settings), settings.s3)
