#!/usr/bin/env python3
"""Whole-org speed: `sfbackup run` on the enterprise-shaped org with files at WAN latencies, next to
the run's critical path and the Salesforce CLI's bulk export.

For each latency (``--latencies``, default 0, 50 and 150 ms) the script starts the emulator in this
process with the network and Salesforce's time modelled (docs/emulator.md: ``latency_ms``,
``bandwidth_mbps``, ``bulk_rows_per_second``, ``bulk_job_slots``), then runs, each as its own
process measured with os.wait4 (wall, CPU, peak RSS):

    ours      sfbackup run --repo <fresh> --no-verify --json: the default coverage (every queryable
              object, files, metadata), verify left out (the other tool does not verify)
    sf-cli    the Salesforce CLI's ``sf data export bulk`` per object ours exported with rows, in a
              shell loop, where ``sf`` is installed (on PATH or under --peers-dir); said when not

and prints one table with the critical path beside ours. Salesforce's own Data Export (Setup) is a
web page that mails a link days later: not reachable from here, so not measured (said in the output).

The critical path is computed from the calls ours made (the emulator's request log) and the same
emulator settings: each call costs one round trip, its body at the bandwidth, and the emulator's
service time; a Bulk job or a retrieve adds its modelled Salesforce time once (its polls are not on
the path, one final poll is). Calls about one object form a chain (describe -> COUNT() -> job ->
pages); calls about no object (login, limits, describeGlobal, the preflight) form the start (the
preflight's /limits/recordCount calls `concurrency` at a time, as the run makes them). The
planning's Composite calls (one round trip each, its service the time of its subrequests) come in
two dependent waves, the describes then the COUNT()s, each at least its longest call and its calls
/ concurrency: they are part of the start. Given
the concurrency the product allows itself (backup.concurrency chains of records at once,
backup.download_concurrency bodies at once, the org's Bulk job slots), the run cannot end sooner than

    start + max(longest chain, sum of record chains / concurrency, Bulk job time / slots,
                file chains + sum of bodies / download concurrency, metadata chain)

which is what "critical path" means in the table; ours / critical path is the shape's waste.

    .venv/bin/python scripts/bench_org.py                          # enterprise org, 0/50/150 ms
    .venv/bin/python scripts/bench_org.py --latencies 0,5 --org-shape default --records 20   # smoke
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import SF_CLI_ENV, code_version, find_sf, machine, run_measured  # scripts/ is not a package

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "src"))
from sfbackup.emulator.http.server import LoggedRequest  # noqa: E402
from sfbackup.testing import RunningEmulator, running_emulator  # noqa: E402

#: ours' defaults (config.py BackupSettings): the concurrency the product allows itself.
CONCURRENCY = 4
DOWNLOAD_CONCURRENCY = 8
#: Polls: on the path only once per job (the one that sees it done).
POLL_KINDS = {"get_job", "get_batch", "metadata_checkRetrieveStatus"}
BODY_KINDS = {"blob", "rich_text_image"}
#: Calls about no object that the run makes `concurrency` at a time (the preflight's org-wide counts).
CONCURRENT_START_KINDS = {"record_count"}
DATA_EXPORT = (
    "Salesforce's Data Export (Setup > Data Export) is not reachable here: it is a Setup page "
    "whose export is mailed as a link hours or days later; not measured"
)


@dataclass
class CriticalPath:
    """The shortest wall time the run's calls allow, and what bounds it."""

    seconds: float
    start: float
    bound: str  # which term is the longest
    terms: dict[str, float] = field(default_factory=dict)


def call_cost(entry: LoggedRequest, latency: float, bandwidth: float) -> float:
    """One call on the wire: a round trip, the body at the bandwidth, the emulator's service time."""
    return latency + entry.service + (entry.body_bytes / bandwidth if bandwidth > 0 else 0.0)


def critical_path(
    entries: list[LoggedRequest],
    *,
    latency_ms: float,
    bandwidth_mbps: float,
    concurrency: int = CONCURRENCY,
    download_concurrency: int = DOWNLOAD_CONCURRENCY,
    job_slots: int = 0,
    file_objects: frozenset[str] = frozenset(),
) -> CriticalPath:
    """The lower bound on a run's wall time that its calls and the emulator's settings allow."""
    latency, bandwidth = latency_ms / 1000, bandwidth_mbps * 1e6 / 8
    start = 0.0
    chains: dict[str, float] = collections.defaultdict(float)
    bodies: dict[str, float] = collections.defaultdict(float)
    longest_body = 0.0
    work_total = 0.0
    planning: dict[str, list[float]] = collections.defaultdict(list)
    for entry in entries:
        if entry.kind in POLL_KINDS:
            continue  # waiting for Salesforce: counted once below, with the job's own time
        cost = call_cost(entry, latency, bandwidth)
        if entry.kind == "composite":
            wave = "counts" if any(kind == "query" for kind, _ in entry.parts) else "describes"
            planning[wave].append(cost)
            continue
        if entry.work:
            cost += entry.work + latency  # the job's time and the one poll that sees it done
            work_total += entry.work
        if entry.kind in BODY_KINDS:
            bodies[entry.subject] += cost
            longest_body = max(longest_body, cost)
        elif entry.subject:
            chains[entry.subject] += cost
        elif entry.kind in CONCURRENT_START_KINDS:
            start += cost / max(1, concurrency)
        else:
            start += cost
    start += sum(max(max(wave), sum(wave) / max(1, concurrency)) for wave in planning.values())
    metadata = chains.pop("(metadata)", 0.0)
    record_chains = {name: t for name, t in chains.items()}
    files = sum(t for name, t in record_chains.items() if name in file_objects or name in bodies)
    terms = {
        "longest chain": max([*record_chains.values(), longest_body, 0.0]),
        "records / concurrency": sum(record_chains.values()) / max(1, concurrency),
        "file indexes + bodies / download concurrency": files
        + sum(bodies.values()) / max(1, download_concurrency),
        "metadata": metadata,
    }
    if job_slots > 0:
        terms["Bulk job time / slots"] = work_total / job_slots
    bound = max(terms, key=lambda k: terms[k])
    return CriticalPath(start + terms[bound], start, bound, terms)


def calls_by_kind(entries: list[LoggedRequest]) -> dict[str, int]:
    return dict(sorted(collections.Counter(e.kind for e in entries).items(), key=lambda kv: -kv[1]))


def subrequests_by_kind(entries: list[LoggedRequest]) -> dict[str, int]:
    """What the Composite calls carried (each one API call whatever it carried)."""
    counted = collections.Counter(kind for e in entries for kind, _ in e.parts)
    return dict(sorted(counted.items(), key=lambda kv: -kv[1]))


def run_env(emu: RunningEmulator) -> dict[str, str]:
    """The environment ours runs with: this org's throwaway credentials, nobody else's."""
    creds = emu.credentials
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFBACKUP_"))}
    env.update(
        SF_USERNAME=creds.username,
        SF_PASSWORD=creds.password,
        SF_SECURITY_TOKEN=creds.security_token,
        SF_ACCESS_TOKEN=emu.access_token(),
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT / "src"), env.get("PYTHONPATH")) if p),
    )
    return env


def org_code() -> str:
    """A digest of the emulator's org code: a cached org built by other code (tables a newer
    shape adds are missing) is not reused."""
    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "src" / "sfbackup" / "emulator" / "org").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def sf_cli_loop(sf: str, emu: RunningEmulator, objects: list[str], out: Path) -> list[str]:
    """A shell loop of `sf data export bulk`, one object after another, as a person would write it."""
    session = emu.session()
    session.headers["Authorization"] = f"Bearer {emu.access_token()}"
    base = f"{emu.instance_url}/services/data/v62.0"
    lines = [
        "set -e",
        f'export PATH="{Path(sf).parent}:$PATH" HOME="{out}/home"',
        # Both autoupdate names: with only SF_AUTOUPDATE_DISABLE an npm install spawns a detached
        # `sf update --autoupdate` per command that sleeps for an hour.
        "export SF_DISABLE_TELEMETRY=true SF_AUTOUPDATE_DISABLE=true SF_DISABLE_AUTOUPDATE=true "
        "SF_SKIP_NEW_VERSION_CHECK=true SF_HIDE_RELEASE_NOTES=true SF_USE_GENERIC_UNIX_KEYCHAIN=true "
        "SF_DISABLE_LOG_FILE=true",
        f"sf org login access-token --instance-url {emu.instance_url} --no-prompt --alias bench --json "
        "> /dev/null",
    ]
    for name in objects:
        described = session.get(f"{base}/sobjects/{name}/describe").json()
        names = [
            f["name"]
            for f in described.get("fields", [])
            if f.get("type") not in ("address", "location", "base64")
        ]
        soql = f"SELECT {', '.join(names)} FROM {name}"
        lines.append(
            f'sf data export bulk --query "{soql}" --output-file "{out}/{name}.csv" '
            "--result-format csv --wait 600 --target-org bench --json > /dev/null"
        )
    script = out / "export.sh"
    (out / "home").mkdir(parents=True, exist_ok=True)
    script.write_text("\n".join(lines) + "\n")
    return ["bash", str(script)]


def measure_latency(args: argparse.Namespace, latency: float, scratch: Path, log: TextIO) -> dict[str, Any]:
    """One emulator at `latency` ms: ours, its critical path, and sf-cli where installed."""
    db = Path(args.db_dir) / f"{args.org_shape}-{args.records}-{args.large_file_bytes}-{org_code()}.sqlite"
    db.parent.mkdir(parents=True, exist_ok=True)
    with running_emulator(
        records=args.records,
        seed=7,
        org_shape=args.org_shape,
        db_path=str(db),
        large_file_bytes=args.large_file_bytes,
        daily_api_limit=100_000_000,
        session_ttl=604_800.0,
        job_latency=args.job_latency,
        latency_ms=latency,
        bandwidth_mbps=args.bandwidth_mbps,
        bulk_rows_per_second=args.bulk_rows_per_second,
        bulk_job_slots=args.bulk_job_slots,
    ) as emu:
        emu.server.requests.clear()
        out = Path(tempfile.mkdtemp(prefix="ours-", dir=scratch))
        command = [
            sys.executable,
            "-m",
            "sfbackup",
            "run",
            "--repo",
            str(out / "repo"),
            "--instance-url",
            emu.instance_url,
            "--no-verify",
            "--json",
        ]
        done = run_measured(command, run_env(emu), out, log)
        entries = emu.server.requests.entries()
        summary = next((json.loads(line) for line in reversed(done.lines) if '"object_results"' in line), {})
        path = critical_path(
            entries,
            latency_ms=latency,
            bandwidth_mbps=args.bandwidth_mbps,
            job_slots=args.bulk_job_slots,
            file_objects=frozenset(summary.get("file_results", {})),
        )
        ours = {
            "exit_code": done.exit_code,
            "wall": done.wall,
            "cpu": done.cpu,
            "peak_rss_mb": done.peak_rss_mb,
            "api_calls": len(entries),
            "calls_by_kind": calls_by_kind(entries),
            "composite_subrequests": subrequests_by_kind(entries),
            "objects": summary.get("objects"),
            "rows": summary.get("rows"),
            "files": summary.get("files"),
        }
        result: dict[str, Any] = {"latency_ms": latency, "ours": ours, "critical_path": asdict(path)}
        sf = find_sf(args.sf, args.peers_dir)
        if sf is None:
            result["sf_cli"] = {
                "skipped": "the Salesforce CLI (sf) is not installed: not given by --sf or "
                f"${SF_CLI_ENV}, not on PATH nor under {args.peers_dir} (scripts/peers_check.sh "
                "installs it)"
            }
        else:
            exported = [
                o["object"]
                for o in summary.get("object_results", [])
                if o.get("api") == "bulk2" and o.get("rows")
            ]
            sf_out = Path(tempfile.mkdtemp(prefix="sf-", dir=scratch))
            emu.server.requests.clear()
            sf_env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFBACKUP_"))}
            sf_env["SF_ACCESS_TOKEN"] = emu.access_token()  # read by `sf org login access-token`
            sf_done = run_measured(sf_cli_loop(sf, emu, exported, sf_out), sf_env, sf_out, log)
            sf_entries = emu.server.requests.entries()
            result["sf_cli"] = {
                "exit_code": sf_done.exit_code,
                "wall": sf_done.wall,
                "cpu": sf_done.cpu,
                "peak_rss_mb": sf_done.peak_rss_mb,
                "objects": len(exported),
                "api_calls": len(sf_entries),
                "calls_by_kind": calls_by_kind(sf_entries),
            }
    return result


def table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| latency | contender | wall s | CPU s | peak RSS MB | API calls | ours / critical path |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ours, path = r["ours"], r["critical_path"]
        lines.append(
            f"| {r['latency_ms']:g} ms | ours (exit {ours['exit_code']}) | {ours['wall']:.1f} | "
            f"{ours['cpu']:.1f} | {ours['peak_rss_mb']:.0f} | {ours['api_calls']} | "
            f"{ours['wall'] / path['seconds']:.2f}x |"
        )
        lines.append(
            f"| {r['latency_ms']:g} ms | critical path (bound: {path['bound']}) | "
            f"{path['seconds']:.1f} | | | | 1.00x |"
        )
        sf = r["sf_cli"]
        if "skipped" in sf:
            lines.append(f"| {r['latency_ms']:g} ms | sf-cli | not installed | | | | |")
        else:
            lines.append(
                f"| {r['latency_ms']:g} ms | sf-cli ({sf['objects']} objects, exit {sf['exit_code']}) | "
                f"{sf['wall']:.1f} | {sf['cpu']:.1f} | {sf['peak_rss_mb']:.0f} | {sf['api_calls']} | |"
            )
    lines.append("")
    lines.append("API calls by kind (ours):")
    lines.append("")
    kinds = sorted(
        {k for r in results for k in r["ours"]["calls_by_kind"]},
        key=lambda k: -results[0]["ours"]["calls_by_kind"].get(k, 0),
    )
    lines.append("| kind | " + " | ".join(f"{r['latency_ms']:g} ms" for r in results) + " |")
    lines.append("|---|" + "---|" * len(results))
    for kind in kinds:
        lines.append(
            f"| {kind} | " + " | ".join(str(r["ours"]["calls_by_kind"].get(kind, 0)) for r in results) + " |"
        )
    carried = results[0]["ours"].get("composite_subrequests") or {}
    if carried:
        shown = ", ".join(f"{kind} {n}" for kind, n in carried.items())
        lines.append(f"\nThe composite calls carried ({results[0]['latency_ms']:g} ms run): {shown}.")
    lines.append("")
    for r in results:
        terms = ", ".join(f"{k} {v:.1f} s" for k, v in r["critical_path"]["terms"].items())
        lines.append(
            f"- {r['latency_ms']:g} ms: critical path = start {r['critical_path']['start']:.1f} s + "
            f"max({terms})"
        )
    skipped = {r["sf_cli"]["skipped"] for r in results if "skipped" in r["sf_cli"]}
    lines += [f"- sf-cli: {text}" for text in skipped]
    lines.append(f"- {DATA_EXPORT}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=30, help="Accounts of the org (default 30)")
    parser.add_argument("--org-shape", choices=("enterprise", "default"), default="enterprise")
    parser.add_argument("--latencies", default="0,50,150", help="round trips in ms, comma-separated")
    parser.add_argument("--bandwidth-mbps", type=float, default=100.0, help="per connection (default 100)")
    parser.add_argument(
        "--job-latency", type=float, default=1.0, help="a Bulk job's fixed seconds (default 1)"
    )
    parser.add_argument(
        "--bulk-rows-per-second",
        type=float,
        default=50_000.0,
        help="a Bulk job's rows per second on Salesforce's side (default 50,000)",
    )
    parser.add_argument(
        "--bulk-job-slots", type=int, default=10, help="Bulk jobs processed at once (default 10)"
    )
    parser.add_argument(
        "--large-file-bytes",
        type=int,
        default=2_000_000,
        help="the org's two large file bodies (default 2 MB)",
    )
    parser.add_argument(
        "--db-dir",
        default=str(Path(tempfile.gettempdir()) / "sfbackup-bench-org"),
        help="where the org's SQLite files are kept and reused",
    )
    parser.add_argument("--peers-dir", default=os.environ.get("PEERS_DIR", "/tmp/sfbackup-peers"))
    parser.add_argument(
        "--sf",
        default=None,
        metavar="PATH",
        help=f"the Salesforce CLI (default ${SF_CLI_ENV}, else <peers-dir>/node/node_modules/.bin/sf, "
        "else sf on PATH)",
    )
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    latencies = [float(text) for text in args.latencies.split(",") if text.strip()]
    scratch = Path(tempfile.mkdtemp(prefix="bench-org-"))
    log_path = scratch / "bench_org.log"
    results = []
    try:
        with open(log_path, "w") as log:
            for latency in latencies:
                print(f"bench_org: {args.org_shape} org, {latency:g} ms ...", file=sys.stderr, flush=True)
                started = time.perf_counter()
                results.append(measure_latency(args, latency, scratch, log))
                print(
                    f"bench_org: {latency:g} ms done in {time.perf_counter() - started:.0f} s",
                    file=sys.stderr,
                )
        report = {
            "code": code_version(),
            "machine": machine(),
            "settings": {
                k: v for k, v in vars(args).items() if k not in ("json", "db_dir", "peers_dir", "sf")
            },
            "results": results,
        }
        print(f"whole-org benchmark: {report['machine']}; code {report['code']}")
        print(f"settings: {json.dumps(report['settings'])}")
        print()
        print("\n".join(table(results)))
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2))
    finally:
        if any(r["ours"]["exit_code"] not in (0, 3) for r in results):
            print(f"bench_org: a run failed; its log: {log_path}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
