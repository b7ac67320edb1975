"""Every verification's report is kept, and the snapshot's report is its strongest evidence.

Through the CLI against the emulator: a run verifies against the org (SAFE), a later
`verify --read-data` without the org (it may be gone by then) keeps SAFE standing, a stronger check
replaces it, and damage found later is never hidden by an older proof.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sfbackup.cli import main
from sfbackup.repository import Repository
from tests.conftest import emulator_env


@pytest.fixture(scope="module")
def org() -> Iterator[Any]:
    from sfbackup.testing import running_emulator

    with running_emulator(records=20, seed=5, job_latency=0.02) as running:
        yield running


@pytest.fixture
def login(org: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in emulator_env(org).items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="module")
def repo(org: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot the run verified against the org (the default objects: SAFE TO CANCEL)."""
    folder = tmp_path_factory.mktemp("history") / "repo"
    saved = dict(os.environ)
    os.environ.update(emulator_env(org))
    try:
        code = main(["run", "--repo", str(folder), "--instance-url", org.instance_url, "--json",
                     "--require-safe"])  # fmt: skip
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert code == 0
    return folder


def _verdict_in(html: Path) -> str:
    text = html.read_text()
    start = text.index('id="verdict"')
    return text[start : text.index("</div>", start)]


def _show(repo: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["show", "latest", "--repo", str(repo)]) == 0
    return capsys.readouterr().out


def test_given_a_safe_check_against_the_org_when_a_weaker_check_follows_then_safe_stands_and_both_are_kept(
    repo: Path, org: Any, login: None, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = Repository.open(repo).snapshot("latest")
    top = snapshot.path / "report.html"
    assert "SAFE TO CANCEL" in _verdict_in(top) and "NOT SAFE" not in _verdict_in(top)

    # After cancellation the org is gone: only the data can be re-read.
    capsys.readouterr()
    code = main(["verify", "--repo", str(repo), "--read-data", "--require-safe"])
    out = capsys.readouterr().out
    assert code == 0, out  # the standing verdict is SAFE: --require-safe agrees
    assert "NOT SAFE TO CANCEL: the backup was not compared with the org" in out  # this check's own
    assert "strongest verification still stands (structure against the org" in out

    assert "NOT SAFE" not in _verdict_in(top)
    manifest = Repository.open(repo).snapshot("latest").manifest
    folders = [v.report for v in manifest.verifications]
    assert len(folders) == 2 and all(f.startswith("reports/") for f in folders)
    assert folders[0].endswith("-structure-against-org") and folders[1].endswith("-read-data")
    for folder in folders:
        assert {p.name for p in (snapshot.path / folder).iterdir()} == {
            "report.json",
            "report.md",
            "report.html",
        }
    weaker = json.loads((snapshot.path / folders[1] / "report.json").read_text())
    assert weaker["level"] == "read-data" and not weaker["verdict"]["safe"]
    shown = _show(repo, capsys)
    assert "verified   " in shown and "at level structure against the org, passed" in shown
    assert "verdict    SAFE TO CANCEL" in shown
    assert f"({folders[1]}/)" in shown


def test_given_a_stronger_check_when_it_passes_then_it_stands_and_show_prints_its_level(
    repo: Path, org: Any, login: None, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--read-data", "--against-org", "--ids", "--instance-url", org.instance_url]
    assert main(["verify", "--repo", str(repo), *flags, "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["standing"]["level"] == "read-data" and result["standing"]["ids"] is True

    snapshot = Repository.open(repo).snapshot("latest")
    top = json.loads((snapshot.path / "report.json").read_text())
    assert top["level"] == "read-data" and top["against_org"] and top["ids"] and top["verdict"]["safe"]
    newest = snapshot.manifest.verifications[-1].report
    assert (snapshot.path / "report.html").read_bytes() == (
        snapshot.path / newest / "report.html"
    ).read_bytes()
    assert "at level read-data against the org with Ids, passed" in _show(repo, capsys)
    listed = json.loads(_listing(repo, capsys))
    assert listed["snapshots"][-1]["verified_level"] == "read-data against the org with Ids"
    assert listed["snapshots"][-1]["safe"] is True


def _listing(repo: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["snapshots", "--repo", str(repo), "--json"]) == 0
    return capsys.readouterr().out


def test_given_damage_found_after_a_safe_check_when_verified_then_the_report_shows_the_damage(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = Repository.open(repo).snapshot("latest")
    part = snapshot.path / snapshot.manifest.objects["Contact"].parts[0].path
    part.unlink()

    assert main(["verify", "--repo", str(repo), "--require-safe"]) == 4
    assert "NOT SAFE TO CANCEL: verification failed" in _verdict_in(snapshot.path / "report.html")
    shown = _show(repo, capsys)
    assert "at level structure, FAILED (1 error) (the newest check found damage)" in shown
