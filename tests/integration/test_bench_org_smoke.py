"""scripts/bench_org.py at a tiny scale: ours runs at two latencies, its critical path is computed
from the emulator's request log, and the table says what was not measured (no speed thresholds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_ORG = REPO_ROOT / "scripts" / "bench_org.py"


def test_given_a_tiny_org_when_the_whole_org_benchmark_runs_then_ours_and_its_critical_path_are_reported(
    tmp_path: Path,
) -> None:
    report_path = tmp_path / "report.json"
    completed = subprocess.run(
        [
            sys.executable,
            str(BENCH_ORG),
            "--org-shape",
            "default",
            "--records",
            "12",
            "--latencies",
            "0,20",
            "--job-latency",
            "0.05",
            "--large-file-bytes",
            "50000",
            "--db-dir",
            str(tmp_path / "orgs"),
            "--peers-dir",
            str(tmp_path / "no-peers"),
            "--json",
            str(report_path),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = json.loads(report_path.read_text())["results"]
    assert [r["latency_ms"] for r in results] == [0.0, 20.0]
    for result in results:
        ours, path = result["ours"], result["critical_path"]
        assert ours["exit_code"] == 0 and ours["files"] > 0
        assert ours["wall"] > 0 and ours["cpu"] > 0 and ours["peak_rss_mb"] > 0
        assert sum(ours["calls_by_kind"].values()) == ours["api_calls"] > 0
        assert {"composite", "query", "blob"} <= set(ours["calls_by_kind"])
        assert ours["composite_subrequests"]["describe"] > 0  # planning: describes through Composite
        assert 0 < path["seconds"] < ours["wall"]
    # every call pays the round trip: the 20 ms path is longer by at least one per call on its chain
    assert results[1]["critical_path"]["seconds"] > results[0]["critical_path"]["seconds"] + 0.02
    table = completed.stdout
    assert "| 20 ms | ours (exit 0) |" in table and "critical path (bound:" in table
    assert "sf-cli | not installed" in table and "Data Export" in table
    assert "security_token" not in completed.stdout + completed.stderr
