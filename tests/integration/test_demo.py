"""`sfbackup demo`, the README's first command: emulator, backup, verification, report."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest

from sfbackup.cli import main
from sfbackup.repository import Repository


def test_given_no_account_when_demo_runs_then_a_verified_snapshot_and_its_report_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "demo-backup"
    code = main(["demo", "--repo", str(repo), "--records", "60", "--json"])
    err = capsys.readouterr().err
    assert code == 0, err
    snapshot = Repository.open(repo).snapshot("latest")
    assert snapshot.manifest.state == "complete"
    assert "readiness report:" in err and str(snapshot.path / "report.html") in err


def test_given_the_default_demo_org_when_demo_runs_then_it_is_safe_to_cancel_and_lists_what_salesforce_no_longer_serves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The defaults reach SAFE on a healthy org: every object (custom ones too) is backed up, and a
    Recycle Bin file whose body Salesforce refuses is listed with what to do, not blocking."""
    repo = tmp_path / "demo-backup"
    code = main(["demo", "--repo", str(repo), "--records", "200", "--json"])
    err = capsys.readouterr().err
    assert code == 0, err
    verdict_line = next(line for line in err.splitlines() if "SAFE TO CANCEL" in line)
    assert verdict_line.startswith("SAFE TO CANCEL"), err
    snapshot = Repository.open(repo).snapshot("latest")
    assert "Invoice__c" in snapshot.manifest.objects
    report = json.loads((snapshot.path / "report.json").read_text())
    assert report["verdict"]["safe"] is True
    notes = report["verdict"]["notes"]
    assert any("Recycle Bin" in note and "undelete" in note for note in notes), notes
    assert "undelete them from Salesforce's Recycle Bin before cancelling" in err
    # The file is named, with the record it belongs to, for a person (not only its Id).
    gone = next(f for f in report["findings"] if f["kind"] == "file_body_unavailable")
    file_id = gone["actual"][0]
    named = report["labels"]["records"][file_id]
    assert named.startswith('"') and ' on Contact "' in named, named
    assert named in err
    page = html.unescape((snapshot.path / "report.html").read_text())
    assert f"{named} ({file_id})" in page
    assert "Invoices (Invoice__c)" in page
