#!/usr/bin/env python3
"""Speed and memory of `sfbackup run` saving file bodies, next to the limit and the script people write.

Starts the emulator (`sfbackup emulator`) with ``--records N`` Accounts, which brings N/10
Attachments and N/10 ContentDocuments of 1-3 ContentVersions each (bodies of 0-300 KB), and makes
the two file bodies of index 1 and 2 ``--large-file-bytes`` long (ContentVersions; the two
Attachments of the same index are capped at Salesforce's 25 MB). Then it runs every contender as
its own process, ROUNDS times, in a rotating order, and prints ONE Markdown table of medians with
ours/theirs ratios, then the targets:

    .venv/bin/python scripts/bench_files.py                  # ~20,000 bodies + two of 128 MiB, ~15 min
    .venv/bin/python scripts/bench_files.py --records 3000 --rounds 1 --large-file-bytes 20000000

Contenders (all save the same bodies: every version of every ContentVersion, every Attachment and
Document body the org serves, each to its own file):

    ours            sfbackup run --objects Attachment,ContentVersion,Document --no-verify into a
                    fresh repository (records of the three objects, then every body into the blob store)
    concurrent      plain requests + ThreadPoolExecutor with ours' default download concurrency,
                    each body streamed to a file: the limit for files
    sf-get-base64   simple-salesforce: query_all of the Ids, then a sequential loop of
                    sf.<Object>.get_base64(id), each body written to a file
    ours@no-large   ours against a second org whose two large bodies are ordinary ones (the
                    "RSS stays flat with large bodies" check; off with --no-flat-ref)

Each process is measured with os.wait4: wall time, CPU (user + system) and peak RSS (ru_maxrss).
files/s and MB/s are the bodies each contender saved (and their bytes) divided by its wall time.
Orgs are kept as SQLite files under --db-dir and reused. Nothing is sent outside 127.0.0.1; the
emulator's throwaway credentials reach the contenders through their environment.

Contender processes are this script again: ``bench_files.py contender NAME --instance-url URL --out DIR``
prints one JSON line ``{"files": N, "bytes": N, "unavailable": N, "seconds": {phase: s}}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import (  # scripts/ is not a package
    Emulator,
    code_version,
    launch_emulator,
    machine,
    phase_lines,
    run_measured,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
ALL_CONTENDERS = ("ours", "concurrent", "sf-get-base64")
FLAT_REF = "ours@no-large"
API_VERSION = "62.0"
#: The file objects and their body fields, as `sfbackup run` saves them (export_files.py).
BODY_FIELDS = {"Attachment": "Body", "ContentVersion": "VersionData", "Document": "Body"}
#: ours' default `backup.download_concurrency` (config.py); `concurrent` uses the same.
DOWNLOAD_CONCURRENCY = 8
CHUNK_BYTES = 1 << 20  # ours streams bodies in 1 MiB chunks (http.py)

#: Targets from the performance issue.
TARGET_SHARE_OF_CONCURRENT = 0.70
TARGET_FLAT_RSS_GROWTH = 1.5

Result = dict[str, Any]


# -- the contenders that are not ours ------------------------------------------------------------


def _rest_session(instance_url: str, access_token: str) -> tuple[Any, str]:
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {access_token}"
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=DOWNLOAD_CONCURRENCY)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session, f"{instance_url.rstrip('/')}/services/data/v{API_VERSION}"


def _list_ids(session: Any, instance_url: str, base: str, obj: str) -> list[str]:
    """Ids of `obj` through REST `query` (nextRecordsUrl until done), as a plain script lists them."""
    ids: list[str] = []
    url, params = f"{base}/query", {"q": f"SELECT Id FROM {obj}"}
    while True:
        response = session.get(url, params=params)
        response.raise_for_status()
        page = response.json()
        ids += [record["Id"] for record in page["records"]]
        if page["done"]:
            return ids
        url, params = instance_url.rstrip("/") + page["nextRecordsUrl"], {}


def run_concurrent(args: argparse.Namespace) -> Result:
    """List the Ids, then stream every body to a file with DOWNLOAD_CONCURRENCY threads."""
    started = time.perf_counter()
    session, base = _rest_session(args.instance_url, os.environ["SF_ACCESS_TOKEN"])
    work = [(obj, record_id) for obj in BODY_FIELDS for record_id in
            _list_ids(session, args.instance_url, base, obj)]
    listed = time.perf_counter()
    out = Path(args.out)
    for obj in BODY_FIELDS:
        (out / obj).mkdir()

    def download(item: tuple[str, str]) -> int | None:
        obj, record_id = item
        with session.get(f"{base}/sobjects/{obj}/{record_id}/{BODY_FIELDS[obj]}", stream=True) as response:
            if response.status_code == 404:
                return None  # no body (a URL Document)
            response.raise_for_status()
            size = 0
            with open(out / obj / record_id, "wb") as target:
                for chunk in response.iter_content(CHUNK_BYTES):
                    size += target.write(chunk)
            return size

    with ThreadPoolExecutor(max_workers=DOWNLOAD_CONCURRENCY) as pool:
        sizes = list(pool.map(download, work))
    saved = [s for s in sizes if s is not None]
    done = time.perf_counter()
    return {"files": len(saved), "bytes": sum(saved), "unavailable": len(sizes) - len(saved),
            "largest": max(saved, default=0),
            "seconds": {"list": listed - started, "download": done - listed}}


def run_sf_get_base64(args: argparse.Namespace) -> Result:
    """simple-salesforce: query_all of the Ids, then get_base64 one body after the other."""
    from simple_salesforce.api import Salesforce
    from simple_salesforce.exceptions import SalesforceResourceNotFound

    from sfbackup.salesforce.transport import rewriting_session

    started = time.perf_counter()
    sf = Salesforce(username=os.environ["SF_USERNAME"], password=os.environ["SF_PASSWORD"],
                    security_token=os.environ["SF_SECURITY_TOKEN"],
                    session=rewriting_session(args.instance_url), version=API_VERSION)
    ids = {obj: [r["Id"] for r in sf.query_all(f"SELECT Id FROM {obj}")["records"]] for obj in BODY_FIELDS}
    listed = time.perf_counter()
    out = Path(args.out)
    files = total = unavailable = largest = 0
    for obj, record_ids in ids.items():
        (out / obj).mkdir()
        sftype = getattr(sf, obj)
        for record_id in record_ids:
            try:
                body = sftype.get_base64(record_id, base64_field=BODY_FIELDS[obj])
            except SalesforceResourceNotFound:
                unavailable += 1
                continue
            (out / obj / record_id).write_bytes(body)
            files, total, largest = files + 1, total + len(body), max(largest, len(body))
    done = time.perf_counter()
    return {"files": files, "bytes": total, "unavailable": unavailable, "largest": largest,
            "seconds": {"login_and_list": listed - started, "download": done - listed}}


CONTENDER_RUNNERS = {"concurrent": run_concurrent, "sf-get-base64": run_sf_get_base64}


def contender_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_files.py contender")
    parser.add_argument("name", choices=sorted(CONTENDER_RUNNERS))
    parser.add_argument("--instance-url", required=True)
    parser.add_argument("--out", required=True, help="an empty folder for this contender's files")
    args = parser.parse_args(argv)
    print(json.dumps(CONTENDER_RUNNERS[args.name](args)), flush=True)
    return 0


# -- the driver ----------------------------------------------------------------------------------


@dataclass
class Measurement:
    """One contender process: what it saved and what it cost."""

    contender: str
    round: int
    exit_code: int
    wall: float
    cpu: float
    peak_rss_mb: float
    files: int | None
    bytes: int | None
    unavailable: int | None
    output_bytes: int
    phases: dict[str, float] = field(default_factory=dict)


@dataclass
class OrgFiles:
    """What an org serves: bodies (Ids a REST query lists, bodies that exist), their bytes, the largest."""

    listed: int
    bytes: int
    largest: int


def start_emulator(python: str, large_file_bytes: int, args: argparse.Namespace, log: TextIO) -> Emulator:
    """`sfbackup emulator` on a free port, with the org from (or saved to) --db-dir."""
    db_path = Path(args.db_dir) / f"files-{args.records}-large{large_file_bytes}-seed{args.seed}.db"
    extra = ["--job-latency", str(args.job_latency), "--large-file-bytes", str(large_file_bytes)]
    return launch_emulator(python, args.records, db_path, extra, args.seed, log,
                           label=f"{args.records} Accounts, large bodies {large_file_bytes:,} B")


def org_files(emulator: Emulator) -> OrgFiles:
    """The org's bodies by their announced sizes (also warms the emulator's metadata pages)."""
    session, base = _rest_session(emulator.instance_url, emulator.connection["access_token"])
    sizes: list[int] = []
    for obj, size_field in (("Attachment", "BodyLength"), ("ContentVersion", "ContentSize"),
                            ("Document", "BodyLength")):
        url, params = f"{base}/query", {"q": f"SELECT {size_field} FROM {obj}"}
        while True:
            response = session.get(url, params=params)
            response.raise_for_status()
            page = response.json()
            sizes += [int(r[size_field]) for r in page["records"] if r[size_field] is not None]
            if page["done"]:
                break
            url, params = emulator.instance_url.rstrip("/") + page["nextRecordsUrl"], {}
    return OrgFiles(listed=len(sizes), bytes=sum(sizes), largest=max(sizes, default=0))


def contender_command(python: str, contender: str, emulator: Emulator, out: Path) -> list[str]:
    if contender.startswith("ours"):
        return [python, "-m", "sfbackup", "run", "--repo", str(out / "repo"),
                "--instance-url", emulator.instance_url, "--objects", ",".join(BODY_FIELDS),
                "--no-verify", "--json"]
    return [python, str(Path(__file__).resolve()), "contender", contender,
            "--instance-url", emulator.instance_url, "--out", str(out)]


def measure(python: str, contender: str, emulator: Emulator, round_number: int, scratch: Path,
            log: TextIO) -> Measurement:
    """Run one contender in its own process and measure it."""
    out = Path(tempfile.mkdtemp(prefix=f"{contender.replace('@', '-')}-", dir=scratch))
    done = run_measured(contender_command(python, contender, emulator, out), emulator.env(), out, log)
    if done.exit_code != 0:
        log.write(f"bench_files: {contender} round {round_number} exited {done.exit_code}\n")
        log.flush()
    if contender.startswith("ours"):
        result = _ours_result(done.lines, done.spawned_at, done.spawned_at + done.wall)
    else:
        result = json.loads(done.lines[-1]) if done.lines else {}
    return Measurement(
        contender=contender,
        round=round_number,
        exit_code=done.exit_code,
        wall=done.wall,
        cpu=done.cpu,
        peak_rss_mb=done.peak_rss_mb,
        files=result.get("files"),
        bytes=result.get("bytes"),
        unavailable=result.get("unavailable"),
        output_bytes=done.output_bytes,
        phases=result.get("seconds") or {},
    )


def _ours_result(lines: list[str], spawned_at: float, exited_at: float) -> Result:
    """Files and bytes `sfbackup run` saved, and its phases, from its JSON lines: start-up (imports,
    login, describes), records (the three objects' rows), files (metadata queries, then every body)
    and finish (indexes, manifest, exit)."""
    events: list[dict[str, Any]] = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    summary = next((e for e in reversed(events) if e.get("type") == "result"), {})
    bytes_by_object: dict[str, int] = {}
    times: dict[str, list[float]] = {}
    for event in events:
        if event.get("event") == "files_progress":
            bytes_by_object[str(event.get("object"))] = int(event.get("bytes") or 0)
        try:
            stamp = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")).timestamp()
        except (KeyError, ValueError):
            continue
        times.setdefault(str(event.get("event")), []).append(stamp)
    result: Result = {"files": summary.get("files_downloaded"), "bytes": sum(bytes_by_object.values()),
                      "unavailable": None, "seconds": {}}
    marks = [times.get(name) for name in ("run_started", "object_finished", "files_progress")]
    if all(marks):
        run_started, records_done, files_done = marks[0][0], marks[1][-1], marks[2][-1]  # type: ignore[index]
        result["seconds"] = {"startup": run_started - spawned_at, "records": records_done - run_started,
                             "files": files_done - records_done, "finish": exited_at - files_done}
    return result


# -- summary -------------------------------------------------------------------------------------


@dataclass
class Row:
    contender: str
    ok: bool
    files: int
    bytes: int
    wall: float
    wall_min: float
    wall_max: float
    cpu: float
    rss: float

    @property
    def files_per_s(self) -> float:
        return self.files / self.wall if self.wall else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.wall if self.wall else 0.0


def summarise(measurements: list[Measurement], contenders: list[str]) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for name in contenders:
        mine = [m for m in measurements if m.contender == name]
        if not mine:
            continue
        good = [m for m in mine if m.exit_code == 0] or mine
        rows[name] = Row(
            contender=name,
            ok=all(m.exit_code == 0 for m in mine),
            files=int(statistics.median(m.files or 0 for m in good)),
            bytes=int(statistics.median(m.bytes or 0 for m in good)),
            wall=statistics.median(m.wall for m in good),
            wall_min=min(m.wall for m in good),
            wall_max=max(m.wall for m in good),
            cpu=statistics.median(m.cpu for m in good),
            rss=statistics.median(m.peak_rss_mb for m in good),
        )
    return rows


def table(rows: dict[str, Row], largest: dict[str, int]) -> list[str]:
    ours = rows.get("ours")
    lines = [
        "| contender | largest body MB | files | MB | wall s | wall min-max | files/s | MB/s | CPU s "
        "| peak RSS MB | files/s ours/this | MB/s ours/this | CPU ours/this | RSS ours/this |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows.values():
        speed = mb = cpu = memory = "-"
        if ours is not None and not row.contender.startswith("ours"):
            speed = f"{ours.files_per_s / row.files_per_s:.2f}x" if row.files_per_s else "-"
            mb = f"{ours.mb_per_s / row.mb_per_s:.2f}x" if row.mb_per_s else "-"
            cpu = f"{ours.cpu / row.cpu:.2f}x" if row.cpu else "-"
            memory = f"{ours.rss / row.rss:.2f}x" if row.rss else "-"
        status = "" if row.ok else " (FAILED)"
        big = largest.get(row.contender)
        big_text = f"{big / 1e6:.1f}" if big is not None else "-"
        lines.append(
            f"| {row.contender}{status} | {big_text} | {row.files:,} | {row.bytes / 1e6:,.1f} "
            f"| {row.wall:.2f} | {row.wall_min:.1f}-{row.wall_max:.1f} | {row.files_per_s:,.0f} "
            f"| {row.mb_per_s:.1f} | {row.cpu:.2f} | {row.rss:.0f} | {speed} | {mb} | {cpu} | {memory} |"
        )
    return lines


def targets(rows: dict[str, Row]) -> list[str]:
    """Each target of the issue, with the measured value and whether it holds."""
    ours = rows.get("ours")
    if ours is None:
        return ["(targets need the `ours` contender)"]
    lines: list[str] = []

    def verdict(label: str, value: str, holds: bool) -> None:
        lines.append(f"- {'PASS' if holds else 'FAIL'}: {label}: {value}")

    base64 = rows.get("sf-get-base64")
    if base64 is not None and base64.files_per_s:
        speedup = ours.files_per_s / base64.files_per_s
        verdict("ours faster than `sf-get-base64` (files/s)",
                f"{speedup:.2f}x ({ours.files_per_s:,.0f} vs {base64.files_per_s:,.0f} files/s)", speedup > 1)
    limit = rows.get("concurrent")
    if limit is not None and limit.files_per_s:
        share = ours.files_per_s / limit.files_per_s
        verdict(f"ours >= {TARGET_SHARE_OF_CONCURRENT:.0%} of `concurrent` throughput (files/s)",
                f"{share:.0%} ({ours.files_per_s:,.0f} vs {limit.files_per_s:,.0f} files/s; MB/s "
                f"{ours.mb_per_s / limit.mb_per_s if limit.mb_per_s else 0:.0%})",
                share >= TARGET_SHARE_OF_CONCURRENT)
    reference = rows.get(FLAT_REF)
    if reference is not None and reference.rss:
        growth = ours.rss / reference.rss
        verdict(f"flat memory: ours peak RSS with the large bodies <= {TARGET_FLAT_RSS_GROWTH}x of without",
                f"{growth:.2f}x ({ours.rss:.0f} vs {reference.rss:.0f} MB)", growth <= TARGET_FLAT_RSS_GROWTH)
    return lines


def run(args: argparse.Namespace) -> dict[str, Any]:
    code = code_version()  # at the start: commits landing during a long run must not relabel it
    contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    unknown = sorted(set(contenders) - set(ALL_CONTENDERS) - {FLAT_REF})
    if unknown:
        raise SystemExit(f"unknown contenders {unknown}; choose from {', '.join(ALL_CONTENDERS)}")
    if "ours" in contenders and not args.no_flat_ref and FLAT_REF not in contenders:
        contenders.append(FLAT_REF)
    large = {name: (0 if name == FLAT_REF else args.large_file_bytes) for name in contenders}
    scratch = Path(tempfile.mkdtemp(prefix="sfbackup-bench-files-"))
    log_path = scratch.parent / f"{scratch.name}.log"
    emulators: dict[int, Emulator] = {}
    orgs: dict[int, OrgFiles] = {}
    measurements: list[Measurement] = []
    with open(log_path, "w") as log:
        try:
            for size in sorted(set(large.values()), reverse=True):
                emulators[size] = start_emulator(args.python, size, args, log)
                orgs[size] = org_files(emulators[size])
                _say(f"org with large bodies of {size:,} B: {orgs[size].listed:,} bodies (not deleted), "
                     f"{orgs[size].bytes / 1e6:,.1f} MB, largest {orgs[size].largest / 1e6:.1f} MB")
            for round_number in range(1, args.rounds + 1):
                shift = (round_number - 1) % len(contenders)
                for name in contenders[shift:] + contenders[:shift]:
                    m = measure(args.python, name, emulators[large[name]], round_number, scratch, log)
                    measurements.append(m)
                    _say(f"round {round_number}/{args.rounds} {name:<14} {m.wall:7.2f} s wall "
                         f"{m.cpu:7.2f} s CPU {m.peak_rss_mb:7.0f} MB  files={m.files} "
                         f"bytes={m.bytes} exit={m.exit_code}")
        finally:
            for emulator in emulators.values():
                emulator.stop()
    shutil.rmtree(scratch, ignore_errors=True)
    report: dict[str, Any] = {
        "machine": machine(),
        "code": code,
        "settings": {"records": args.records, "rounds": args.rounds,
                     "large_file_bytes": args.large_file_bytes, "job_latency": args.job_latency,
                     "seed": args.seed,
                     "download_concurrency": DOWNLOAD_CONCURRENCY},
        "contenders": contenders,
        "largest": {name: orgs[size].largest for name, size in large.items()},
        "orgs": {str(size): org.__dict__ for size, org in orgs.items()},
        "log": str(log_path),
        "measurements": [m.__dict__ for m in measurements],
    }
    return summarised(report)


def summarised(report: dict[str, Any]) -> dict[str, Any]:
    """The report with its table, targets and failure count (re)computed from its measurements."""
    contenders: list[str] = report["contenders"]
    measurements = [Measurement(**m) for m in report["measurements"]]
    rows = summarise(measurements, contenders)
    return {
        **report,
        "table": table(rows, report["largest"]),
        "targets": targets(rows),
        "phases": phase_lines(measurements, contenders),
        "failures": sum(1 for m in measurements if m.exit_code != 0),
    }


def print_report(report: dict[str, Any]) -> None:
    settings = report["settings"]
    print(f"\nsfbackup files bench: {settings['records']:,} Accounts' files, large bodies "
          f"{settings['large_file_bytes']:,} B, {settings['rounds']} rounds, download concurrency "
          f"{settings['download_concurrency']}, medians; {report['machine']}; code {report.get('code', '?')}")
    for size, org in report["orgs"].items():
        print(f"org with large bodies of {int(size):,} B: {org['listed']:,} bodies (the ones not deleted), "
              f"{org['bytes'] / 1e6:,.1f} MB, largest {org['largest'] / 1e6:.1f} MB")
    print()
    print("\n".join(report["table"]))
    print()
    print("\n".join(report["targets"]))
    if report.get("phases"):
        print("\nmedian seconds per phase (from each contender's own clock):")
        print("\n".join(report["phases"]))
    if report["failures"]:
        print(f"\n{report['failures']} contender runs failed; their stderr is in {report['log']}")


def _say(text: str) -> None:
    print(f"[bench-files] {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["contender"]:
        return contender_main(argv[1:])
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=67_000,
                        help="Accounts in the org; files are about 3 x records/10 (default 67000: "
                             "~20,000 bodies)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every contender (default 3)")
    parser.add_argument("--large-file-bytes", type=int, default=128 * 2**20, metavar="BYTES",
                        help="size of the org's two large ContentVersion bodies (default 128 MiB)")
    parser.add_argument("--no-flat-ref", action="store_true",
                        help=f"do not run {FLAT_REF} (ours against an org without the large bodies)")
    parser.add_argument("--job-latency", type=float, default=1.0, metavar="SECONDS",
                        help="Bulk job latency of the emulator (ours' record export; default 1)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the org's data (default 1)")
    parser.add_argument("--contenders", default=",".join(ALL_CONTENDERS),
                        help=f"comma-separated subset of {','.join(ALL_CONTENDERS)} (the default)")
    parser.add_argument("--db-dir", default=str(Path(tempfile.gettempdir()) / "sfbackup-bench-files"),
                        help="where generated orgs are kept and reused "
                             "(default $TMPDIR/sfbackup-bench-files)")
    parser.add_argument("--python", default=sys.executable, help="interpreter for every process")
    parser.add_argument("--json", metavar="FILE", help="also write every measurement to FILE")
    parser.add_argument("--report", metavar="FILE",
                        help="print the table of a --json FILE written earlier instead of running")
    args = parser.parse_args(argv)
    report = summarised(json.loads(Path(args.report).read_text())) if args.report else run(args)
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
