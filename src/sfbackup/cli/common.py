"""Arguments shared by the commands that talk to an org, and turning them into Settings."""

from __future__ import annotations

import argparse
import os
from typing import Any

from sfbackup.cli import exit_status_epilog
from sfbackup.config import Settings, load_settings


def add_command(subparsers: Any, name: str, *, help: str, description: str | None) -> argparse.ArgumentParser:
    """A command's parser: its description above, the exit-status table below, text kept as written."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=exit_status_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """--config, --instance-url and --sf-org: where the settings come from (secrets never as flags)."""
    parser.add_argument("--config", help="TOML config file (see configs/sfbackup.example.toml)")
    parser.add_argument("--instance-url", help="the org's URL, e.g. https://acme.my.salesforce.com")
    parser.add_argument("--sf-org", metavar="ALIAS",
                        help="log in as the Salesforce CLI's org ALIAS (`sf org display`); sets sf_org")


def settings_from_args(args: argparse.Namespace, overrides: dict[str, Any] | None = None) -> Settings:
    """Settings from defaults < config file < environment < flags."""
    merged = dict(overrides or {})
    if getattr(args, "instance_url", None):
        merged["connection.instance_url"] = args.instance_url
    if getattr(args, "sf_org", None):
        merged.update({"connection.sf_org": args.sf_org, "connection.auth": "sf_org"})
    return load_settings(getattr(args, "config", None), env=os.environ, overrides=merged)
