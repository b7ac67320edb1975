"""`sfbackup upload` of a repository with many blobs to moto's S3 server: requests and seconds of a
first and a second (unchanged) upload, for an older code tree (`--before`, default `main`: one
HEAD per blob already in the bucket) and this one (the listing and the upload ledger), side by side.

    .venv/bin/python scripts/bench_upload.py                        # 10,000 blobs, ~3 min
    .venv/bin/python scripts/bench_upload.py --blobs 500 --latency-ms 20

Each upload is a separate `sfbackup upload --json` process (its code from the tree measured) to a
bucket of its own; the requests are counted by moto's server as it receives them, by operation
(tests/s3_server.py's request log), so both trees are counted the same way. `--latency-ms` makes
the server wait that long before answering each request (a round trip to a remote endpoint;
requests in flight at once wait together).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(1, str(ROOT))  # tests.s3_server (moto with a request log), tests.snapshot_builder

from tests.s3_server import TEST_ENV, RunningS3, running_s3  # noqa: E402
from tests.snapshot_builder import add_snapshot  # noqa: E402

from sfbackup.repository import Repository  # noqa: E402


def code_tree(ref: str, into: Path) -> Path:
    """`src/` of git `ref` extracted into `into` (the `before` code), or this tree for `.`."""
    if ref == ".":
        return ROOT / "src"
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"], check=True, capture_output=True)
    target = into / f"src-{ref.replace('/', '_')}"
    target.mkdir(parents=True)
    with tempfile.TemporaryFile() as handle:
        handle.write(archive.stdout)
        handle.seek(0)
        with tarfile.open(fileobj=handle) as tar:
            tar.extractall(target, filter="data")
    return target / "src"


def upload(src: Path, repo: Path, s3: RunningS3, bucket: str) -> dict[str, Any]:
    """One `sfbackup upload` process with the code in `src`: wall seconds, result, requests served."""
    env = {**os.environ, **TEST_ENV, "PYTHONPATH": str(src)}
    region = TEST_ENV["AWS_DEFAULT_REGION"]
    command = [sys.executable, "-m", "sfbackup", "upload", "--repo", str(repo), "--bucket", bucket,
               "--endpoint-url", s3.endpoint_url, "--region", region, "--json"]  # fmt: skip
    s3.log.clear()
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"upload failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"seconds": seconds, "result": result, "served": s3.log.counts(bucket)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--blobs", type=int, default=10_000, help="file bodies (default 10,000)")
    parser.add_argument("--size", type=int, default=1024, help="bytes per body (default 1,024)")
    parser.add_argument("--before", default="main", help="git ref of the code to compare with (default main)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="server wait before each answer")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sfbackup-bench-upload-") as folder:
        work = Path(folder)
        repo = Repository.init(work / "repo")
        built = time.monotonic()
        bodies = [os.urandom(args.size) for _ in range(args.blobs)]
        add_snapshot(repo, datetime(2026, 12, 1, 2, 0, tzinfo=UTC), bodies=bodies)
        print(f"repository with {args.blobs} blobs of {args.size} bytes built in "
              f"{time.monotonic() - built:.1f}s", file=sys.stderr)  # fmt: skip
        trees = {"before": code_tree(args.before, work), "after": code_tree(".", work)}
        figures: dict[str, dict[str, Any]] = {}
        with running_s3(set_env=False) as s3:
            s3.log.latency = args.latency_ms / 1000
            for name, src in trees.items():
                bucket = f"bench-{name}"
                s3.create_bucket(bucket)
                for run in ("first", "second"):
                    figures[f"{name} {run}"] = measured = upload(src, repo.path, s3, bucket)
                    print(f"{name} {run}: {measured['seconds']:.1f}s {measured['served']}", file=sys.stderr)
    if args.json:
        print(json.dumps({"blobs": args.blobs, "size": args.size, "before": args.before,
                          "latency_ms": args.latency_ms, "figures": figures}, indent=2))  # fmt: skip
    else:
        print(table(figures, args))
    return 0


def table(figures: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    kinds = sorted({kind for f in figures.values() for kind in f["served"]})
    columns = list(figures)

    def row(label: str, cell: Any) -> str:
        return f"| {label} | " + " | ".join(cell(figures[c]) for c in columns) + " |"

    lines = [
        f"upload of {args.blobs:,} blobs ({args.size:,} bytes each) to moto, latency {args.latency_ms:g} ms; "
        f"before = {args.before}, after = this tree",
        "",
        "| | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
        row("process wall s", lambda f: f"{f['seconds']:.1f}"),
        row("upload s (its own timer)", lambda f: f"{f['result']['seconds']:.1f}"),
        row("requests", lambda f: f"{sum(f['served'].values()):,}"),
    ]
    for kind in kinds:
        lines.append(row(kind, lambda f, kind=kind: f"{f['served'].get(kind, 0):,}"))
    lines.append(row("sent / skipped", lambda f: f"{f['result']['uploaded']:,} / {f['result']['skipped']:,}"))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
