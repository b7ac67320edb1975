"""The Salesforce CLI (`sf`, npm @salesforce/cli), unchanged, against the emulator: the login and
the Bulk export it really sends, and `scripts/bench.py`'s `sf-cli` contender next to ours.

Skipped when no `sf` is installed (`--sf`'s resolution in scripts/bench.py: $SFBACKUP_SF_CLI, then
$PEERS_DIR or /tmp/sfbackup-peers, then PATH); scripts/peers_check.sh installs it outside the repo.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sfbackup.testing import running_emulator

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH = REPO_ROOT / "scripts" / "bench.py"
sys.path.insert(0, str(REPO_ROOT / "scripts"))
from bench import find_sf  # noqa: E402  (scripts/ is not a package)

SF = find_sf(None, os.environ.get("PEERS_DIR", "/tmp/sfbackup-peers"))
needs_sf = pytest.mark.skipif(SF is None, reason="the Salesforce CLI (sf) is not installed")


def _sf_env(home: Path) -> dict[str, str]:
    """A throwaway HOME and no telemetry, update checks or OS keychain (the CLI's own switches)."""
    assert SF is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFDX_"))}
    env.update(HOME=str(home), PATH=f"{Path(SF).parent}{os.pathsep}{env.get('PATH', '')}",
               SF_DISABLE_TELEMETRY="true", SF_AUTOUPDATE_DISABLE="true", SF_DISABLE_AUTOUPDATE="true",
               SF_SKIP_NEW_VERSION_CHECK="true", SF_HIDE_RELEASE_NOTES="true",
               SF_USE_GENERIC_UNIX_KEYCHAIN="true", SF_DISABLE_LOG_FILE="true")
    return env


@needs_sf
def test_given_the_sf_cli_when_it_logs_in_and_exports_in_bulk_then_every_row_arrives_over_several_pages(
    tmp_path: Path,
) -> None:
    assert SF is not None
    with running_emulator(records=250, job_latency=0.2, bulk_default_page_records=100,
                          bulk_rows_per_second=5000.0) as emu:
        env = _sf_env(tmp_path)
        login = subprocess.run(
            [SF, "org", "login", "access-token", "--instance-url", emu.instance_url, "--no-prompt",
             "--alias", "emu", "--json"],
            env={**env, "SF_ACCESS_TOKEN": emu.access_token()}, capture_output=True, text=True,
            timeout=120, check=False,
        )
        assert login.returncode == 0, login.stdout + login.stderr
        assert json.loads(login.stdout)["result"]["username"] == emu.credentials.username
        emu.server.requests.clear()
        out = tmp_path / "accounts.csv"
        export = subprocess.run(
            [SF, "data", "export", "bulk", "--query", "SELECT Id, Name, CreatedDate FROM Account",
             "--output-file", str(out), "--result-format", "csv", "--all-rows", "--wait", "2",
             "--target-org", "emu", "--json"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False,
        )
        assert export.returncode == 0, export.stdout + export.stderr
        kinds = [e.kind for e in emu.server.requests.entries()]
        expected = {r["Id"] for r in emu.session().get(
            f"{emu.instance_url}/services/data/v62.0/queryAll",
            params={"q": "SELECT Id FROM Account"},
            headers={"Authorization": f"Bearer {emu.access_token()}"},
        ).json()["records"]}

    assert json.loads(export.stdout)["result"]["totalSize"] == len(expected)
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [*rows[0]] == ["Id", "Name", "CreatedDate"]
    assert {r["Id"] for r in rows} == expected and len(rows) == len(expected)
    # one job, polled until JobComplete, then three pages by locator (the last one says "null")
    assert kinds.count("create_job") == 1 and kinds.count("get_job") >= 1
    assert kinds.count("results") == 3


@needs_sf
def test_given_the_sf_cli_when_the_benchmark_runs_its_contender_then_it_and_ours_read_the_same_rows(
    tmp_path: Path,
) -> None:
    report_path = tmp_path / "report.json"
    completed = subprocess.run(
        [sys.executable, str(BENCH), "--records", "300", "--rounds", "1", "--job-latency", "0.05",
         "--bulk-rows-per-second", "10000", "--bulk-job-slots", "2", "--latency-ms", "5",
         "--flat-ref-records", "0", "--contenders", "ours,sf-cli", "--sf", str(SF),
         "--db-dir", str(tmp_path / "orgs"), "--json", str(report_path)],
        capture_output=True, text=True, timeout=240, check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(report_path.read_text())
    measured = {m["contender"]: m for m in report["measurements"]}
    assert sorted(measured) == ["ours", "sf-cli"]
    assert measured["ours"]["rows"] == measured["sf-cli"]["rows"] > 0
    assert measured["sf-cli"]["csv_bytes"] > 0 and measured["sf-cli"]["peak_rss_mb"] > 0
    assert report["settings"]["bulk_rows_per_second"] == 10000
    assert "ours ahead of the Salesforce CLI's bulk export in wall time" in completed.stdout
    assert "emulator model: latency_ms 5" in completed.stdout
    assert "security_token" not in completed.stdout + completed.stderr
