"""`sfbackup demo`, the README's first command: emulator, backup, verification, report."""

from __future__ import annotations

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
