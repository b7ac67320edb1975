"""scripts/bench.py at a tiny scale: every contender runs and is measured (no speed thresholds).

Keeps the benchmark from rotting as the CLI, the emulator and the baselines change.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH = REPO_ROOT / "scripts" / "bench.py"
CONTENDERS = ("ours", "limit", "fetch", "sf-bulk2", "sf-query-all")


def test_given_a_tiny_org_when_the_benchmark_runs_then_every_contender_is_measured(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    completed = subprocess.run(
        [sys.executable, str(BENCH), "--records", "300", "--rounds", "1", "--job-latency", "0.05",
         "--flat-ref-records", "0", "--db-dir", str(tmp_path / "orgs"), "--json", str(report_path)],
        capture_output=True, text=True, timeout=240, check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(report_path.read_text())
    measured = {m["contender"]: m for m in report["measurements"]}
    assert sorted(measured) == sorted(CONTENDERS)
    for name, measurement in measured.items():
        assert measurement["exit_code"] == 0, name
        assert measurement["rows"] and measurement["rows"] > 0, name
        assert measurement["wall"] > 0 and measurement["peak_rss_mb"] > 0, name
    assert measured["ours"]["rows"] == measured["limit"]["rows"] == measured["sf-query-all"]["rows"]
    assert report["csv_bytes"]["300"] > 0
    table = completed.stdout
    assert "| contender |" in table and all(f"| {name} |" in table for name in CONTENDERS)
    assert "ours >= 70% of `limit` throughput" in table
    assert "security_token" not in completed.stdout + completed.stderr
