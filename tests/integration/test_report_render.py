"""report.html as a manager sees it: rendered from a verified repository, read as text and, when
Debian's chromium is installed, loaded in a real headless browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sfbackup.verify import verify_snapshot
from tests.integration.test_verify_damaged import ACCOUNT_IDS, ORG_ID, build_repository

CHROMIUM = Path("/usr/bin/chromium")


class _Text(HTMLParser):
    """The visible text of a page (style contents dropped)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if not self._in_style:
            self.parts.append(data)


def visible_text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


@pytest.fixture
def verified_html(tmp_path: Path) -> Path:
    built = build_repository(tmp_path / "repo")
    result = verify_snapshot(built.root, built.snapshot_id, read_data=True)
    assert result.passed
    return result.report_paths["report.html"]


@pytest.fixture
def damaged_html(tmp_path: Path) -> Path:
    built = build_repository(tmp_path / "repo")
    (built.snapshot_dir / "objects" / "Contact" / "part-00000.parquet").unlink()
    result = verify_snapshot(built.root, built.snapshot_id)
    assert not result.passed
    return result.report_paths["report.html"]


def test_given_verified_snapshot_when_rendered_then_a_manager_reads_org_t0_counts_and_verdict(
    verified_html: Path,
) -> None:
    text = visible_text(verified_html.read_text())

    assert "Acme Corp" in text and ORG_ID in text and "https://acme.my.salesforce.com" in text
    assert "2026-11-27T02:00:00.000Z" in text  # T0
    assert "Account" in text and "Contact" in text and "ContentVersion" in text
    assert "all re-hashed, all match" in text
    assert "Lead" in text and "left out by the backup's settings" in text  # not covered, and why
    assert "excluded_by_config" not in text and "describeGlobal" not in text
    # Verified from the data alone: the verdict waits for a comparison with the org.
    assert "NOT SAFE TO CANCEL" in text and "against-org" in text
    assert text.count("SAFE TO CANCEL") >= 1


def test_given_damaged_snapshot_when_rendered_then_verdict_and_finding_name_the_part(
    damaged_html: Path,
) -> None:
    text = visible_text(damaged_html.read_text())

    assert "NOT SAFE TO CANCEL: verification failed" in text
    assert "objects/Contact/part-00000.parquet" in text
    assert "Part of the backed-up records is missing" in text and "missing_part" not in text
    assert ACCOUNT_IDS[0] not in text  # record data never lands in the report


def test_given_report_when_inspected_then_it_is_one_self_contained_file(verified_html: Path) -> None:
    page = verified_html.read_text()

    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(link|script|img|iframe)\b", page)
    assert "@import" not in page and "url(" not in page


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium (/usr/bin/chromium) is not installed")
@pytest.mark.parametrize(
    ("fixture", "expected"),
    [("verified_html", "NOT SAFE TO CANCEL"), ("damaged_html", "NOT SAFE TO CANCEL: verification failed")],
)
def test_given_chromium_when_report_loaded_headless_then_the_verdict_is_in_the_dom(
    fixture: str, expected: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    page: Path = request.getfixturevalue(fixture)
    profile = tmp_path / "chromium-profile"
    completed = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    dom = completed.stdout
    verdict = re.search(r'<div id="verdict"[^>]*>(.*?)</div>', dom, re.S)
    assert verdict is not None
    assert verdict.group(1).strip().startswith(expected)
    shutil.rmtree(profile, ignore_errors=True)


def test_given_contract_end_when_verified_then_report_shows_notice_deadline_and_record_owners(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sfbackup.cli import main

    built = build_repository(tmp_path / "repo")

    code = main(["verify", "--repo", str(built.root), "--contract-end", "2099-06-30", "--notice-days", "45"])

    assert code == 0
    assert "notice:" in capsys.readouterr().out
    text = visible_text((built.snapshot_dir / "report.html").read_text())
    assert "Before you cancel" in text and "2099-05-16" in text  # 45 days before the contract ends
    report = json.loads((built.snapshot_dir / "report.json").read_text())
    assert report["readiness"]["notice"]["deadline"] == "2099-05-16"
    assert report["readiness"]["notice"]["status"] == "ok"


def test_given_a_subset_backed_up_through_the_cli_when_reported_then_owners_and_left_out_objects_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--preset core` leaves User out: owners are still named (from the org), and the objects left
    out are listed by their labels, in a NOT SAFE report."""
    from sfbackup.cli import main
    from sfbackup.testing import running_emulator
    from tests.conftest import emulator_env

    repo = tmp_path / "repo"
    with running_emulator(records=30, seed=3, job_latency=0.02) as org:
        for key, value in emulator_env(org).items():
            monkeypatch.setenv(key, value)
        code = main(["run", "--repo", str(repo), "--instance-url", org.instance_url, "--preset", "core",
                     "--contract-end", "2099-01-31", "--json"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    snapshot_dir = next((repo / "snapshots").iterdir())
    report = json.loads((snapshot_dir / "report.json").read_text())
    assert not report["verdict"]["safe"]
    owners = report["readiness"]["owners"]
    assert owners and all(o["name"] and o["username"] for o in owners)
    text = visible_text((snapshot_dir / "report.html").read_text())
    assert "Invoices (Invoice__c)" in text and "Users (User)" in text
    assert not re.search(r"unknown user|\b005\w{12,15}\b", text)  # no raw owner Ids
