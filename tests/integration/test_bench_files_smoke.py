"""scripts/bench_files.py at a tiny scale: every contender runs and is measured (no speed thresholds).

Keeps the files benchmark from rotting as the CLI, the emulator and export_files change.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_FILES = REPO_ROOT / "scripts" / "bench_files.py"
CONTENDERS = ("ours", "concurrent", "sf-get-base64", "ours@no-large")
LARGE_BYTES = 3_000_000


def test_given_a_tiny_org_when_the_files_benchmark_runs_then_every_contender_saves_the_same_bodies(
    tmp_path: Path,
) -> None:
    report_path = tmp_path / "report.json"
    completed = subprocess.run(
        [sys.executable, str(BENCH_FILES), "--records", "300", "--rounds", "1", "--job-latency", "0.05",
         "--large-file-bytes", str(LARGE_BYTES), "--db-dir", str(tmp_path / "orgs"),
         "--json", str(report_path)],
        capture_output=True, text=True, timeout=240, check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(report_path.read_text())
    measured = {m["contender"]: m for m in report["measurements"]}
    assert sorted(measured) == sorted(CONTENDERS)
    for name, measurement in measured.items():
        assert measurement["exit_code"] == 0, name
        assert measurement["files"] and measurement["files"] > 0, name
        assert measurement["wall"] > 0 and measurement["peak_rss_mb"] > 0, name
    same_org = ("ours", "concurrent", "sf-get-base64")
    assert len({measured[n]["files"] for n in same_org}) == 1, {n: measured[n]["files"] for n in same_org}
    assert len({measured[n]["bytes"] for n in same_org}) == 1, {n: measured[n]["bytes"] for n in same_org}
    assert measured["ours"]["files"] == report["orgs"][str(LARGE_BYTES)]["listed"]
    assert report["largest"]["ours"] == LARGE_BYTES > report["largest"]["ours@no-large"]
    table = completed.stdout
    assert "| contender |" in table and all(f"| {name} |" in table for name in CONTENDERS)
    assert "ours >= 70% of `concurrent` throughput" in table
    assert "ours faster than `sf-get-base64`" in table
    assert "flat memory" in table
    assert "security_token" not in completed.stdout + completed.stderr
    assert "access_token" not in completed.stdout + completed.stderr
