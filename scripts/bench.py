#!/usr/bin/env python3
"""Speed and memory of `sfbackup run` next to the physical limit and the scripts users write.

Starts the emulator (`sfbackup emulator`) with ``--records N`` Accounts, then runs every contender
as its own process, ROUNDS times, in a rotating order (so slow drift of the machine hits everyone
alike), and prints ONE Markdown table of medians with ours/theirs ratios, then the targets:

    .venv/bin/python scripts/bench.py                       # 20k Accounts, 3 rounds, ~2 minutes
    .venv/bin/python scripts/bench.py --records 100000      # 100k (the org is generated once, ~1 min)
    .venv/bin/python scripts/bench.py --records 1000000 --rounds 3 --flat-ref-records 100000

Contenders (all read Account only, the same fields, through the same emulator and job latency):

    ours          sfbackup run --objects Account --no-files --no-verify (Parquet) into a fresh repo
    fetch         plain requests: the Bulk 2.0 job's pages read into memory and dropped
    limit         fetch + pyarrow.csv + pyarrow.parquet per page (no sfbackup code)
    sf-bulk2      simple-salesforce bulk2 download -> pandas.read_csv -> to_parquet
    sf-query-all  simple-salesforce query_all (REST) -> pandas.DataFrame -> to_parquet
    ours@REF      ours against a second org of --flat-ref-records Accounts (flat-memory check)

Optional (only when --contenders names them or --peers is given; skipped when not installed under
--peers-dir by scripts/peers_check.sh --with-python-peers), the tools people install, unchanged:

    airbyte       airbyte-source-salesforce discover + read (JSON lines)
    tap-rest      tap-salesforce (Singer) discover + sync, REST API
    tap-bulk      tap-salesforce discover + sync, Bulk API 1.0 (stock 20 s between batch polls)
    sf-cli        Salesforce CLI: sf org login access-token + sf data export bulk (CSV); the sf
                  binary from --sf, else $SFBACKUP_SF_CLI, else <peers-dir>/node/node_modules/.bin/sf,
                  else `sf` on PATH

The emulator's network and Salesforce-time model is the same for every contender:
--latency-ms (round trip per request), --bandwidth-mbps (per connection), --bulk-rows-per-second and
--bulk-job-slots (a Bulk job's time grows with its rows; jobs processed at once), see docs/emulator.md:

    .venv/bin/python scripts/bench.py --records 1000000 --rounds 1 --flat-ref-records 0 \
        --contenders ours,sf-cli --latency-ms 50 --bulk-rows-per-second 50000 --bulk-job-slots 10

Each process is measured with os.wait4: wall time, CPU (user + system) and peak RSS (ru_maxrss).
MB/s is the size of the Bulk CSV of the whole result (as served) divided by wall time, for every
contender alike. Orgs are kept as SQLite files under --db-dir and reused. Nothing is sent outside
127.0.0.1; the emulator's throwaway credentials reach the contenders through their environment.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

REPO_ROOT = Path(__file__).resolve().parent.parent
BASELINES = REPO_ROOT / "scripts" / "bench_baselines.py"
ALL_CONTENDERS = ("ours", "limit", "fetch", "sf-bulk2", "sf-query-all")
PEER_CONTENDERS = ("airbyte", "tap-rest", "tap-bulk", "sf-cli")
SIMPLE_SALESFORCE = ("sf-bulk2", "sf-query-all")

#: Targets from the performance issue.
TARGET_SHARE_OF_LIMIT = 0.70
TARGET_SPEEDUP_OVER_SCRIPTS = 5.0
TARGET_RSS_SHARE_OF_SCRIPTS = 0.20
TARGET_FLAT_RSS_GROWTH = 1.5


@dataclass
class Emulator:
    """A running `sfbackup emulator` process and how to log in to it."""

    records: int
    process: subprocess.Popen[str]
    connection: dict[str, str]
    started_seconds: float

    @property
    def instance_url(self) -> str:
        return self.connection["instance_url"]

    def env(self) -> dict[str, str]:
        """The environment a contender runs with: this org's credentials, nobody else's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFBACKUP_"))}
        env.update(
            SF_USERNAME=self.connection["username"],
            SF_PASSWORD=self.connection["password"],
            SF_SECURITY_TOKEN=self.connection["security_token"],
            SF_ACCESS_TOKEN=self.connection["access_token"],
            # The connected app's refresh-token grant, for airbyte and tap-salesforce only.
            BENCH_SF_CLIENT_ID=self.connection.get("consumer_key", ""),
            BENCH_SF_CLIENT_SECRET=self.connection.get("consumer_secret", ""),
            BENCH_SF_REFRESH_TOKEN=self.connection.get("refresh_token", ""),
            PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT / "src"), env.get("PYTHONPATH")) if p),
        )
        return env

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Measurement:
    """One contender process: what it read and what it cost."""

    contender: str
    round: int
    exit_code: int
    wall: float
    cpu: float
    peak_rss_mb: float
    rows: int | None
    csv_bytes: int | None
    output_bytes: int
    phases: dict[str, float] = field(default_factory=dict)


def emulator_model(args: argparse.Namespace) -> list[str]:
    """The emulator flags that model the network and Salesforce's job time, the same for everyone."""
    return ["--job-latency", str(args.job_latency), "--latency-ms", str(args.latency_ms),
            "--bandwidth-mbps", str(args.bandwidth_mbps),
            "--bulk-rows-per-second", str(args.bulk_rows_per_second),
            "--bulk-job-slots", str(args.bulk_job_slots)]


def start_emulator(python: str, records: int, args: argparse.Namespace, log: TextIO) -> Emulator:
    """`sfbackup emulator` on a free port, with the org from (or saved to) --db-dir."""
    db_path = Path(args.db_dir) / f"org-{records}-seed{args.seed}.db"
    return launch_emulator(python, records, db_path, emulator_model(args), args.seed,
                           log, label=f"{records} Accounts")


#: Where to look for the Salesforce CLI when --sf is not given.
SF_CLI_ENV = "SFBACKUP_SF_CLI"


def find_sf(explicit: str | None, peers_dir: str) -> str | None:
    """The `sf` binary to benchmark: --sf, else $SFBACKUP_SF_CLI, else the one
    scripts/peers_check.sh installs under peers_dir, else `sf` on PATH; None when there is none."""
    named = explicit or os.environ.get(SF_CLI_ENV)
    if named:
        found = shutil.which(named)
        if found is None:
            raise SystemExit(f"the Salesforce CLI {named!r} (--sf or ${SF_CLI_ENV}) is not an "
                             "executable; give the path of the `sf` that npm installed")
        return found
    installed = Path(peers_dir) / "node" / "node_modules" / ".bin" / "sf"
    return str(installed) if installed.is_file() else shutil.which("sf")


def launch_emulator(python: str, records: int, db_path: Path, extra: list[str], seed: int, log: TextIO,
                    *, label: str) -> Emulator:
    """Start `sfbackup emulator` (this checkout's code) on a free port; the org is kept in db_path."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        python, "-m", "sfbackup", "emulator", "--port", "0", "--records", str(records),
        "--seed", str(seed), "--db", str(db_path), *extra,
        "--session-ttl", "604800", "--daily-api-limit", "100000000",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFBACKUP_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT / "src"), env.get("PYTHONPATH")) if p)
    fresh = "reusing" if db_path.exists() else "generating (once; kept for the next run)"
    _say(f"emulator: {label}, {fresh} {db_path}")
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait()
        raise SystemExit(f"the emulator exited ({process.returncode}) before it started; see {log.name}")
    emulator = Emulator(records, process, json.loads(line), time.perf_counter() - started)
    _say(f"emulator: ready in {emulator.started_seconds:.1f} s")
    return emulator


def warm_limits(emulator: Emulator) -> float:
    """Ask the emulator for /limits and /limits/recordCount once, so the one-off count of its rows
    (Salesforce keeps these figures precomputed) lands on no contender; seconds it took."""
    started = time.perf_counter()
    for resource in ("limits", "limits/recordCount"):
        request = urllib.request.Request(
            f"{emulator.instance_url}/services/data/v62.0/{resource}",
            headers={"Authorization": f"Bearer {emulator.connection['access_token']}"},
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            response.read()
    return time.perf_counter() - started


def contender_command(python: str, contender: str, emulator: Emulator, out: Path,
                      peers_dir: str | None = None, sf: str | None = None) -> list[str]:
    if contender.startswith("ours"):
        return [python, "-m", "sfbackup", "run", "--repo", str(out / "repo"),
                "--instance-url", emulator.instance_url, "--objects", "Account",
                "--no-files", "--no-metadata", "--no-verify", "--json"]
    command = [python, str(BASELINES), contender, "--instance-url", emulator.instance_url, "--out", str(out)]
    if contender in PEER_CONTENDERS and peers_dir:
        command += ["--peers-dir", peers_dir]
    if contender == "sf-cli" and sf:
        command += ["--sf", sf]
    return command


def installed_peers(contenders: list[str], peers_dir: str, sf: str | None = None) -> list[str]:
    """The contenders without the installed tools missing from peers_dir (each skip said aloud)."""
    sys.path.insert(0, str(BASELINES.parent))
    from bench_baselines import PEER_EXECUTABLES

    kept = []
    for name in contenders:
        if name == "sf-cli":
            if sf is None:
                _say(f"skipping sf-cli: no Salesforce CLI (sf): give --sf PATH or ${SF_CLI_ENV}, or "
                     "install it with scripts/peers_check.sh")
                continue
            kept.append(name)
            continue
        exe = Path(peers_dir) / PEER_EXECUTABLES.get(name, "")
        if name in PEER_CONTENDERS and not exe.is_file():
            _say(f"skipping {name}: {exe} is not installed "
                 "(scripts/peers_check.sh --with-python-peers installs it; or pass --peers-dir)")
            continue
        kept.append(name)
    return kept


@dataclass
class Finished:
    """One measured process: how it ended, what it cost, its JSON stdout lines, what it wrote."""

    exit_code: int
    wall: float
    cpu: float
    peak_rss_mb: float
    lines: list[str]
    output_bytes: int
    spawned_at: float


def run_measured(command: list[str], env: dict[str, str], out: Path, log: TextIO) -> Finished:
    """Run `command` writing into `out` (removed after); wall clock around it, CPU and RSS from wait4."""
    stdout_path = out.parent / f"{out.name}.stdout"
    try:
        with open(stdout_path, "w+") as stdout:
            spawned_at = time.time()
            started = time.perf_counter()
            process = subprocess.Popen(command, stdout=stdout, stderr=log, env=env)
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
            stdout.seek(0)
            lines = [line for line in stdout.read().splitlines() if line.startswith("{")]
        output_bytes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    finally:
        shutil.rmtree(out, ignore_errors=True)
        stdout_path.unlink(missing_ok=True)
    return Finished(
        exit_code=os.waitstatus_to_exitcode(status),
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,  # Linux reports kilobytes
        lines=lines,
        output_bytes=output_bytes,
        spawned_at=spawned_at,
    )


def measure(python: str, contender: str, emulator: Emulator, round_number: int, scratch: Path,
            log: TextIO, peers_dir: str | None = None, sf: str | None = None) -> Measurement:
    """Run one contender in its own process and measure it."""
    out = Path(tempfile.mkdtemp(prefix=f"{contender.replace('@', '-')}-", dir=scratch))
    command = contender_command(python, contender, emulator, out, peers_dir, sf)
    done = run_measured(command, emulator.env(), out, log)
    if done.exit_code != 0:
        log.write(f"bench: {contender} round {round_number} exited {done.exit_code}\n")
        log.flush()
    result = json.loads(done.lines[-1]) if done.lines else {}
    return Measurement(
        contender=contender,
        round=round_number,
        exit_code=done.exit_code,
        wall=done.wall,
        cpu=done.cpu,
        peak_rss_mb=done.peak_rss_mb,
        rows=result.get("rows"),
        csv_bytes=result.get("csv_bytes"),
        output_bytes=done.output_bytes,
        phases=result["seconds"] if isinstance(result.get("seconds"), dict)
        else _ours_phases(done.lines, done.spawned_at, done.spawned_at + done.wall),
    )


def _ours_phases(lines: list[str], spawned_at: float, exited_at: float) -> dict[str, float]:
    """Where `sfbackup run` spent its wall time, from the timestamps of its JSON progress events:
    start-up (imports, login, limits, describeGlobal), plan (describes, COUNT, job submitted),
    export (Bulk job, pages, parts) and finish (manifest, exit)."""
    times: dict[str, list[float]] = {}
    for line in lines:
        try:
            event = json.loads(line)
            stamp = datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()
        except (ValueError, KeyError, TypeError):
            continue
        times.setdefault(str(event.get("event")), []).append(stamp)
    marks = [times.get(name) for name in ("run_started", "object_started", "object_finished")]
    if not all(marks):
        return {}
    run_started, first_object, last_object = marks[0][0], marks[1][0], marks[2][-1]  # type: ignore[index]
    return {"startup": run_started - spawned_at, "plan": first_object - run_started,
            "export": last_object - first_object, "finish": exited_at - last_object}


# -- summary -------------------------------------------------------------------------------------


@dataclass
class Row:
    contender: str
    records: int
    ok: bool
    rows: int | None
    wall: float
    wall_min: float
    wall_max: float
    cpu: float
    rss: float
    output_mb: float
    export: float = 0.0  # sf-cli: median seconds of `sf data export bulk` alone (its "export" phase)

    @property
    def rows_per_s(self) -> float:
        return (self.rows or 0) / self.wall if self.wall else 0.0


def summarise(measurements: list[Measurement], scales: dict[str, int]) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for name, records in scales.items():
        mine = [m for m in measurements if m.contender == name]
        good = [m for m in mine if m.exit_code == 0] or mine
        row_counts = [m.rows for m in good if m.rows is not None]
        rows[name] = Row(
            contender=name,
            records=records,
            ok=all(m.exit_code == 0 for m in mine),
            rows=int(statistics.median(row_counts)) if row_counts else None,
            wall=statistics.median(m.wall for m in good),
            wall_min=min(m.wall for m in good),
            wall_max=max(m.wall for m in good),
            cpu=statistics.median(m.cpu for m in good),
            rss=statistics.median(m.peak_rss_mb for m in good),
            output_mb=statistics.median(m.output_bytes for m in good) / 1e6,
            export=statistics.median(m.phases.get("export", 0.0) for m in good),
        )
    return rows


def csv_size(measurements: list[Measurement]) -> int | None:
    """Bytes of the whole Bulk CSV result as served (from the plain-requests contenders)."""
    sizes = [m.csv_bytes for m in measurements
             if m.contender in ("fetch", "limit") and m.csv_bytes and m.exit_code == 0]
    return int(statistics.median(sizes)) if sizes else None


def table(rows: dict[str, Row], csv_bytes: dict[int, int | None], main_records: int) -> list[str]:
    ours = rows.get("ours")
    lines = [
        "| contender | Accounts | rows | wall s | wall min-max | rows/s | MB/s | CPU s | peak RSS MB "
        "| output MB | speed ours/this | CPU ours/this | RSS ours/this |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows.values():
        size = csv_bytes.get(row.records)
        mb_s = f"{size / 1e6 / row.wall:.1f}" if size and row.wall else "-"
        speed = cpu = memory = "-"
        if ours is not None and row.records == main_records and row.contender != "ours":
            speed = f"{ours.rows_per_s / row.rows_per_s:.2f}x" if row.rows_per_s else "-"
            cpu = f"{ours.cpu / row.cpu:.2f}x" if row.cpu else "-"
            memory = f"{ours.rss / row.rss:.2f}x" if row.rss else "-"
        status = "" if row.ok else " (FAILED)"
        rows_text = f"{row.rows:,}" if row.rows is not None else "-"
        lines.append(
            f"| {row.contender}{status} | {row.records:,} | {rows_text} | {row.wall:.2f} "
            f"| {row.wall_min:.1f}-{row.wall_max:.1f} | {row.rows_per_s:,.0f} | {mb_s} | {row.cpu:.2f} "
            f"| {row.rss:.0f} | {row.output_mb:.1f} | {speed} | {cpu} | {memory} |"
        )
    return lines


def phase_lines(measurements: Sequence[Any], names: Iterable[str]) -> list[str]:
    """Median seconds of each phase a contender reports (ours: from its progress events).

    `measurements` are any records with `contender`, `exit_code` and `phases` (files too).
    """
    lines = []
    for name in names:
        phases: dict[str, list[float]] = {}
        for m in measurements:
            if m.contender == name and m.exit_code == 0:
                for phase, seconds in m.phases.items():
                    phases.setdefault(phase, []).append(seconds)
        if phases:
            parts = ", ".join(f"{phase} {statistics.median(v):.2f}" for phase, v in phases.items())
            lines.append(f"- {name}: {parts}")
    return lines


def targets(rows: dict[str, Row], main_records: int) -> list[str]:
    """Each target of the issue, with the measured value and whether it holds at this scale."""
    ours = rows.get("ours")
    if ours is None:
        return ["(targets need the `ours` contender)"]
    lines: list[str] = []

    def verdict(label: str, value: str, holds: bool, note: str = "") -> None:
        lines.append(f"- {'PASS' if holds else 'FAIL'}: {label}: {value}{note}")

    if "limit" in rows and rows["limit"].rows_per_s:
        share = ours.rows_per_s / rows["limit"].rows_per_s
        verdict(f"ours >= {TARGET_SHARE_OF_LIMIT:.0%} of `limit` throughput", f"{share:.0%}",
                share >= TARGET_SHARE_OF_LIMIT)
    at_scale = f" (the target is stated at 1M rows; this is {main_records:,})"
    if main_records >= 1_000_000:
        at_scale = ""
    for name in SIMPLE_SALESFORCE:
        if name in rows and rows[name].rows_per_s:
            speedup = ours.rows_per_s / rows[name].rows_per_s
            verdict(f"ours >= {TARGET_SPEEDUP_OVER_SCRIPTS:.0f}x faster than `{name}`", f"{speedup:.2f}x",
                    speedup >= TARGET_SPEEDUP_OVER_SCRIPTS, at_scale)
            share = ours.rss / rows[name].rss
            verdict(f"ours peak RSS <= 1/{1 / TARGET_RSS_SHARE_OF_SCRIPTS:.0f} of `{name}`",
                    f"{share:.2f} ({ours.rss:.0f} vs {rows[name].rss:.0f} MB)",
                    share <= TARGET_RSS_SHARE_OF_SCRIPTS, at_scale)
    if "sf-cli" in rows and rows["sf-cli"].ok and rows["sf-cli"].export:
        # Against `sf data export bulk` alone: a nightly job logs the CLI in once, ours logs in per run.
        export = rows["sf-cli"].export
        ratio = export / ours.wall
        verdict("ours ahead of the Salesforce CLI's bulk export in wall time (its `sf data export bulk` "
                "/ ours' whole run)", f"{ratio:.2f}x ({ours.wall:.1f} vs {export:.1f} s; with its "
                f"describe and login {rows['sf-cli'].wall:.1f} s)", ratio > 1.0)
    for name, row in rows.items():
        if name.startswith("ours@"):
            growth = ours.rss / row.rss
            verdict(f"flat memory: ours peak RSS at {main_records:,} <= {TARGET_FLAT_RSS_GROWTH}x of at "
                    f"{row.records:,}", f"{growth:.2f}x ({ours.rss:.0f} vs {row.rss:.0f} MB)",
                    growth <= TARGET_FLAT_RSS_GROWTH)
    return lines


#: Peak RSS per Account row of `sf-query-all` (8.5 GB at 1M: a list of dicts, then a DataFrame).
QUERY_ALL_BYTES_PER_ROW = 9_000


def affordable(contenders: list[str], records: int) -> list[str]:
    """The contenders without those this machine's memory cannot hold at this scale (said aloud)."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    needed = records * QUERY_ALL_BYTES_PER_ROW
    if "sf-query-all" in contenders and needed > 0.8 * memory:
        _say(f"skipping sf-query-all: it would need about {needed / 2**30:.0f} GiB at {records:,} rows "
             f"(every record as a dict, then a DataFrame); this machine has {memory / 2**30:.0f} GiB")
        return [c for c in contenders if c != "sf-query-all"]
    return contenders


def code_version() -> str:
    """The commit the contenders ran (and whether the working tree differed from it)."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True,
                              check=False)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "src")
    return f"{commit}{' + uncommitted changes in src/' if dirty else ''}"


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpus = len(os.sched_getaffinity(0))
    return (f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, nproc {cpus}, "
            f"{memory:.1f} GiB RAM, Python {platform.python_version()}, {platform.platform()}")


# -- driver --------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    code = code_version()  # at the start: commits landing during a long run must not relabel it
    contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    if args.peers:
        contenders += [name for name in PEER_CONTENDERS if name not in contenders]
    unknown = sorted(set(contenders) - set(ALL_CONTENDERS) - set(PEER_CONTENDERS))
    if unknown:
        raise SystemExit(f"unknown contenders {unknown}; choose from "
                         f"{', '.join(ALL_CONTENDERS + PEER_CONTENDERS)}")
    sf = find_sf(args.sf, args.peers_dir) if "sf-cli" in contenders else None
    contenders = installed_peers(contenders, args.peers_dir, sf)
    contenders = affordable(contenders, args.records)
    if not contenders:
        raise SystemExit("no contender left to run")
    python = args.python
    scratch = Path(tempfile.mkdtemp(prefix="sfbackup-bench-"))
    log_path = scratch.parent / f"{scratch.name}.log"
    emulators: dict[int, Emulator] = {}
    measurements: list[Measurement] = []
    flat_ref = args.flat_ref_records
    if flat_ref is None:
        flat_ref = args.records // 10 if args.records // 10 >= 2000 else 0
    scales = {name: args.records for name in contenders}
    if flat_ref and "ours" in contenders:
        scales[f"ours@{flat_ref}"] = flat_ref
    with open(log_path, "w") as log:
        try:
            for records in sorted(set(scales.values()), reverse=True):
                emulators[records] = start_emulator(python, records, args, log)
            for records, emulator in emulators.items():
                # The first job after a start reads the org cold from disk; nobody should pay that.
                warm = measure(python, "fetch", emulator, 0, scratch, log)
                limits = warm_limits(emulator)
                _say(f"warm-up at {records}: one Bulk job fetched in {warm.wall:.1f} s, the org's limits "
                     f"and record counts computed in {limits:.1f} s (not counted)")
            order = list(scales)
            for round_number in range(1, args.rounds + 1):
                shift = (round_number - 1) % len(order)
                for name in order[shift:] + order[:shift]:
                    m = measure(python, name, emulators[scales[name]], round_number, scratch, log,
                                args.peers_dir, sf)
                    measurements.append(m)
                    _say(f"round {round_number}/{args.rounds} {name:<14} {m.wall:7.2f} s wall "
                         f"{m.cpu:7.2f} s CPU {m.peak_rss_mb:7.0f} MB  rows={m.rows} exit={m.exit_code}")
            if args.profile and "ours" in scales:
                _say("profile: sfbackup run in-process under a sampling profiler (not in the table)")
                (scratch / "profile").mkdir()
                profile = subprocess.run(
                    [python, str(BASELINES), "profile-ours", "--instance-url",
                     emulators[args.records].instance_url, "--out", str(scratch / "profile")],
                    env=emulators[args.records].env(), capture_output=True, text=True, check=False,
                )
                profile_text = profile.stderr
            else:
                profile_text = ""
        finally:
            for emulator in emulators.values():
                emulator.stop()
    shutil.rmtree(scratch, ignore_errors=True)
    report: dict[str, Any] = {
        "machine": machine(),
        "code": code,
        "settings": {"records": args.records, "rounds": args.rounds, "job_latency": args.job_latency,
                     "seed": args.seed, "flat_ref_records": flat_ref, "latency_ms": args.latency_ms,
                     "bandwidth_mbps": args.bandwidth_mbps,
                     "bulk_rows_per_second": args.bulk_rows_per_second,
                     "bulk_job_slots": args.bulk_job_slots, "sf": sf},
        "scales": scales,
        "emulator_start_seconds": {str(k): round(e.started_seconds, 2) for k, e in emulators.items()},
        "log": str(log_path),
        "measurements": [m.__dict__ for m in measurements],
        "profile": profile_text,
    }
    return summarised(report)


def summarised(report: dict[str, Any]) -> dict[str, Any]:
    """The report with its table, targets and failure count (re)computed from its measurements."""
    scales: dict[str, int] = report["scales"]
    records: int = report["settings"]["records"]
    measurements = [Measurement(**m) for m in report["measurements"]]
    rows = summarise(measurements, scales)
    sizes = {n: csv_size([m for m in measurements if scales[m.contender] == n]) for n in set(scales.values())}
    return {
        **report,
        "csv_bytes": {str(k): v for k, v in sizes.items()},
        "table": table(rows, sizes, records),
        "targets": targets(rows, records),
        "phases": phase_lines(measurements, scales),
        "failures": sum(1 for m in measurements if m.exit_code != 0),
    }


def print_report(report: dict[str, Any]) -> None:
    settings = report["settings"]
    print(f"\nsfbackup bench: {settings['records']:,} Accounts, {settings['rounds']} rounds, job latency "
          f"{settings['job_latency']} s, medians; {report['machine']}; code {report.get('code', '?')}")
    model = {k: settings.get(k) for k in ("latency_ms", "bandwidth_mbps", "bulk_rows_per_second",
                                          "bulk_job_slots")}
    if any(model.values()):
        print("emulator model: " + ", ".join(f"{k} {v:g}" for k, v in model.items() if v is not None))
    size = report["csv_bytes"].get(str(settings["records"]))
    if size:
        print(f"Bulk CSV of the whole result: {size / 1e6:.1f} MB")
    print()
    print("\n".join(report["table"]))
    print()
    print("\n".join(report["targets"]))
    if report.get("phases"):
        print("\nmedian seconds per phase (from each contender's own clock):")
        print("\n".join(report["phases"]))
    if report["failures"]:
        print(f"\n{report['failures']} contender runs failed; their stderr is in {report['log']}")
    if report["profile"]:
        print("\nwhere `ours` spends its time (sampled):" + report["profile"])


def _say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=20_000, help="Accounts in the org (default 20000)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every contender (default 3)")
    parser.add_argument("--job-latency", type=float, default=1.0, metavar="SECONDS",
                        help="Bulk job creation -> JobComplete, the same for everyone (default 1)")
    parser.add_argument("--latency-ms", type=float, default=0.0, metavar="MS",
                        help="emulator: round trip added to every request (default 0)")
    parser.add_argument("--bandwidth-mbps", type=float, default=0.0, metavar="MBPS",
                        help="emulator: per-connection body throughput (default 0: no limit)")
    parser.add_argument("--bulk-rows-per-second", type=float, default=0.0, metavar="N",
                        help="emulator: a Bulk job takes --job-latency plus its rows at this rate "
                             "(default 0: rows add no time)")
    parser.add_argument("--bulk-job-slots", type=int, default=0, metavar="N",
                        help="emulator: Bulk jobs processed at once (default 0: no limit)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the org's data (default 1)")
    parser.add_argument("--contenders", default=",".join(ALL_CONTENDERS),
                        help=f"comma-separated subset of {','.join(ALL_CONTENDERS)} (the default), "
                             f"optionally with the installed tools {','.join(PEER_CONTENDERS)}")
    parser.add_argument("--peers", action="store_true",
                        help=f"also run the installed tools ({','.join(PEER_CONTENDERS)}); each one "
                             "missing from --peers-dir is skipped")
    parser.add_argument("--peers-dir", default=os.environ.get("PEERS_DIR", "/tmp/sfbackup-peers"),
                        help="where scripts/peers_check.sh --with-python-peers installed them "
                             "(default $PEERS_DIR or /tmp/sfbackup-peers)")
    parser.add_argument("--sf", default=None, metavar="PATH",
                        help=f"the Salesforce CLI for sf-cli (default ${SF_CLI_ENV}, else "
                             "<peers-dir>/node/node_modules/.bin/sf, else sf on PATH)")
    parser.add_argument("--flat-ref-records", type=int, default=None, metavar="N",
                        help="also run ours against an org of N Accounts (peak RSS growth); "
                             "default records/10 when that is >= 2000; 0 = off")
    parser.add_argument("--db-dir", default=str(Path(tempfile.gettempdir()) / "sfbackup-bench"),
                        help="where generated orgs are kept and reused (default $TMPDIR/sfbackup-bench)")
    parser.add_argument("--python", default=sys.executable, help="interpreter for every process")
    parser.add_argument("--profile", action="store_true",
                        help="after the rounds, sample where `sfbackup run` spends its time")
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
