#!/usr/bin/env python3
"""Memory and speed of reading a backup offline (`export`, `browse`) on a large object.

Takes a small snapshot of the emulator's org (through `sfbackup run`), then grows its Opportunity
to ``--rows`` rows (the real rows repeated with new, unique Ids, written as parts of 200,000 rows
like a REST export's) and rewrites the manifest to name them. Then, each as its own process
measured with os.wait4 (wall time, peak RSS):

    export-xlsx / export-csv   sfbackup export --objects Opportunity --to xlsx|csv, at --rows and
                               at a tenth of it (memory flat: the two peaks should be close)
    browse                     sfbackup browse; GET the first list page (50 rows), a page deep in
                               (keyset: after an Id 90% in), a filtered page, a record page; the
                               server's peak RSS (from /proc) after them

    .venv/bin/python scripts/bench_reading.py                # 1,000,000 rows, a few minutes
    .venv/bin/python scripts/bench_reading.py --rows 200000

Everything stays on 127.0.0.1 and in --work (default: a temporary folder).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PART_ROWS = 200_000


def sfbackup(*args: str) -> list[str]:
    return [sys.executable, "-m", "sfbackup", *args]


def take_snapshot(repo: Path) -> str:
    from sfbackup.cli import main
    from sfbackup.testing import running_emulator

    with running_emulator(records=40, seed=7, large_file_bytes=64 * 1024, job_latency=0.0) as emu:
        creds = emu.credentials
        os.environ.update(SF_USERNAME=creds.username, SF_PASSWORD=creds.password,
                          SF_SECURITY_TOKEN=creds.security_token)  # fmt: skip
        with contextlib.redirect_stdout(sys.stderr):  # the run's JSON result is not part of the table
            code = main(["run", "--repo", str(repo), "--instance-url", emu.instance_url, "-q"])
        for name in ("SF_USERNAME", "SF_PASSWORD", "SF_SECURITY_TOKEN"):
            os.environ.pop(name, None)
    assert code in (0, 4), code
    return sorted(p.name for p in (repo / "snapshots").iterdir())[-1]


def grow(repo: Path, sid: str, rows: int, name: str = "Opportunity") -> None:
    """Replace `name`'s parts with `rows` rows: the real ones repeated under new unique Ids."""
    folder = repo / "snapshots" / sid
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = manifest["objects"][name]
    seed = pa.concat_tables(pq.read_table(folder / p["path"]) for p in entry["parts"])
    seed = seed.filter(pa.compute.invert(seed.column("IsDeleted")))
    for p in entry["parts"]:
        (folder / p["path"]).unlink()
    parts, written, index = [], 0, 0
    while written < rows:
        count = min(PART_ROWS, rows - written)
        take = pa.array([i % seed.num_rows for i in range(written, written + count)])
        table = seed.take(take)
        ids = pa.array([f"006Dx{n:010d}AAA" for n in range(written, written + count)])
        table = table.set_column(table.schema.get_field_index("Id"), table.schema.field("Id"), ids)
        relpath = f"objects/{name}/part-{index:05d}.parquet"
        pq.write_table(table, folder / relpath, compression="zstd", row_group_size=5000)
        body = (folder / relpath).read_bytes()
        parts.append(
            {"path": relpath, "rows": count, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
        )
        written += count
        index += 1
    entry.update(parts=parts, rows=rows, deleted_rows=0)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))


#: Runs argv[1:] and prints its exit code and peak RSS. The measured process must be forked from
#: this small interpreter: a child forked from the benchmark itself (hundreds of MB after growing
#: the object) would count the parent's pages in its ru_maxrss until it execs.
_LAUNCHER = (
    "import json, os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[1:])\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "print(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_maxrss]), file=sys.stderr)\n"
)


def measured(command: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS MiB, stdout) of one process."""
    started = time.monotonic()
    launcher = [sys.executable, "-c", _LAUNCHER, *command]
    done = subprocess.run(launcher, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    code, peak = json.loads(done.stderr.strip().splitlines()[-1])
    assert code == 0, (command, done.stderr[-2000:])
    return seconds, peak / 1024, done.stdout


def get(url: str, cookie: str) -> tuple[float, int]:
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
    return time.monotonic() - started, len(body)


def bench_browse(repo: Path, sid: str, rows: int) -> list[tuple[str, float]]:
    process = subprocess.Popen(
        sfbackup("browse", sid, "--repo", str(repo)), stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        found = re.search(r"(http://127\.0\.0\.1:\d+/)\?token=(\S+)", process.stdout.readline())
        assert found
        base, cookie = found.group(1), f"sfb_token={found.group(2)}"
        deep = f"006Dx{int(rows * 0.9):010d}AAA"
        timings = []
        for label, path in (
            ("list page 1 (50 rows)", "o/Opportunity"),
            ("list page 1 again", "o/Opportunity"),
            ("list page at 90% (keyset)", f"o/Opportunity?after={deep}"),
            ("filtered list (Name ILIKE)", "o/Opportunity?q=Opportunity%2037"),
            ("record page", f"r/{deep}"),
        ):
            seconds, _ = get(base + path, cookie)
            timings.append((label, seconds))
        status = Path(f"/proc/{process.pid}/status").read_text()
        peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
        timings.append(("server peak RSS MiB", peak))
        return timings
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="sfbackup-bench-reading-"))
    print("| case | rows | seconds | peak RSS MiB |\n|---|---:|---:|---:|")
    for rows in (args.rows // 10, args.rows):
        repo = work / f"repo-{rows}"
        sid = take_snapshot(repo)
        grow(repo, sid, rows)
        for fmt in ("csv", "xlsx"):
            out = str(work / f"out-{rows}-{fmt}")
            command = sfbackup("export", sid, "--repo", str(repo), "--objects", "Opportunity")
            command += ["--to", fmt, "--out", out]
            seconds, rss, _ = measured(command)
            print(f"| export --to {fmt} | {rows:,} | {seconds:.1f} | {rss:.0f} |", flush=True)
        if rows == args.rows:
            for label, value in bench_browse(repo, sid, rows):
                shown = f"{value:.0f}" if "RSS" in label else f"{value * 1000:.0f} ms"
                print(f"| browse: {label} | {rows:,} | {shown} | |", flush=True)


if __name__ == "__main__":
    main()
