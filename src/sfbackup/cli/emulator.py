"""`sfbackup emulator`: run the local Salesforce API emulator until SIGINT/SIGTERM.

Prints one JSON line with the instance URL and the emulator's throwaway test credentials (they
exist only inside this process) of the user `--user` picks, then serves. Exit 0 on a clean shutdown.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType
from typing import Any

from sfbackup.cli.common import add_command
from sfbackup.emulator.http.faults import FAULT_KINDS, FaultConfig, parse_fault_flag
from sfbackup.errors import UsageError


def register(subparsers: Any) -> None:
    """Add the `emulator` command."""
    parser = add_command(
        subparsers,
        "emulator",
        help="run the local Salesforce API emulator (for trials, demos and tests)",
        description=__doc__,
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: a free port)")
    parser.add_argument("--records", type=int, default=None,
                        help="org scale: number of Accounts (Contacts, Opportunities, Leads, invoices and "
                             "files scale with it up to 1M Accounts, then stay at that size)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the synthetic org's data")
    parser.add_argument("--db", default=None, metavar="PATH", help="SQLite file for the org (default: temp)")
    parser.add_argument("--job-latency", type=float, default=1.0, metavar="SECONDS",
                        help="seconds from Bulk job creation to JobComplete (default 1)")
    parser.add_argument("--latency-ms", type=_non_negative, default=0.0, metavar="MS",
                        help="network round trip added to every request, in milliseconds (default 0)")
    parser.add_argument("--bandwidth-mbps", type=_non_negative, default=0.0, metavar="MBPS",
                        help="per-connection throughput of response bodies, megabits/s (default 0: no limit)")
    parser.add_argument("--bulk-rows-per-second", type=_non_negative, default=0.0, metavar="N",
                        help="a Bulk job takes --job-latency plus its rows at this rate (default 0: rows "
                             "add no time)")
    parser.add_argument("--bulk-job-slots", type=int, default=0, metavar="N",
                        help="Bulk jobs processed at once; later ones wait queued (default 0: no limit)")
    parser.add_argument("--session-ttl", type=float, default=7200.0, metavar="SECONDS",
                        help="seconds a session lives (default 7200)")
    parser.add_argument("--bulk-page-records", type=int, default=100_000, metavar="N",
                        help="rows per Bulk results page when the client sends no maxRecords")
    parser.add_argument("--fault", action="append", default=[], metavar="KIND=RATE",
                        help=f"inject a fault at a rate in [0,1]; kinds: {', '.join(FAULT_KINDS)}")
    parser.add_argument("--fault-seed", type=int, default=0, help="seed of the fault generator")
    parser.add_argument("--daily-api-limit", type=int, default=None, metavar="N",
                        help="the org's daily API request limit")
    parser.add_argument("--large-file-bytes", type=int, default=None, metavar="BYTES",
                        help="size of the org's two large file bodies (default 20 MiB; 0: none)")
    parser.add_argument("--user", choices=("admin", "restricted"), default="admin",
                        help="whom the printed credentials log in as: the admin (sees everything) or the "
                             "restricted integration user (no View All Data, Query All Files or View "
                             "Encrypted Data; hidden fields); both users can always log in")
    parser.add_argument("--org-shape", choices=("default", "enterprise"), default="default",
                        help="default: a tidy org; enterprise: about 1,000 objects and the refusals real "
                             "enterprise orgs give (filter-required and big objects, COUNT() timeouts, wide "
                             "objects, rich text images...; see docs/emulator.md)")
    parser.add_argument("--operation-too-large", action="store_true",
                        help="Task/Event queries without a record-id filter answer OPERATION_TOO_LARGE, as "
                             "for a user without View All Data (enterprise shape)")
    parser.add_argument("--rotate-refresh-tokens", action="store_true",
                        help="answer every refresh_token grant with a new refresh token (the old one dies)")
    parser.add_argument("--device-interval", type=int, default=5, metavar="SECONDS",
                        help="polling interval the device flow asks for (default 5)")
    parser.add_argument("--soap-login-disabled", action="store_true",
                        help="act as an org created since Winter '26: SOAP login() is refused")
    parser.set_defaults(handler=run)


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; give 0 or more")
    return value


def run(args: argparse.Namespace) -> int:
    """Start the emulator, print its connection line, serve until a signal."""
    from sfbackup.emulator.http.server import ServerConfig, start_emulator
    from sfbackup.emulator.org.store import OrgConfig

    try:
        rates = dict(parse_fault_flag(text) for text in args.fault)
    except ValueError as exc:
        raise UsageError(str(exc), hint="e.g. --fault http_503=0.05 --fault drop=0.01") from exc
    org_options: dict[str, Any] = {}
    if args.records is not None:
        org_options["records"] = args.records
    if args.seed is not None:
        org_options["seed"] = args.seed
    if args.daily_api_limit is not None:
        org_options["daily_api_limit"] = args.daily_api_limit
    if args.large_file_bytes is not None:
        org_options["large_file_bytes"] = args.large_file_bytes
    if args.operation_too_large and args.org_shape != "enterprise":
        raise UsageError("--operation-too-large applies to the enterprise org's Task and Event",
                         hint="add --org-shape enterprise")
    org_options["org_shape"] = args.org_shape
    org_options["operation_too_large"] = args.operation_too_large
    server = start_emulator(
        OrgConfig(**org_options),
        port=args.port,
        db_path=args.db,
        server_config=ServerConfig(job_latency=args.job_latency, session_ttl=args.session_ttl,
                                   bulk_default_page_records=args.bulk_page_records, user=args.user,
                                   rotate_refresh_tokens=args.rotate_refresh_tokens,
                                   device_interval=args.device_interval,
                                   soap_login_disabled=args.soap_login_disabled,
                                   latency_ms=args.latency_ms, bandwidth_mbps=args.bandwidth_mbps,
                                   bulk_rows_per_second=args.bulk_rows_per_second,
                                   bulk_job_slots=max(0, args.bulk_job_slots)),
        faults=FaultConfig(rates=rates, seed=args.fault_seed),
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        creds = server.credentials
        line = {
            "instance_url": server.instance_url,
            "user": args.user,
            "username": creds.username,
            "password": creds.password,
            "security_token": creds.security_token,
            "access_token": server.sessions.issue(),
            "consumer_key": creds.consumer_key,
            "consumer_secret": creds.consumer_secret,
            "refresh_token": server.sessions.refresh_token,
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.2):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
    return 0
