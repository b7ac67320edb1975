"""`sfbackup verify --against-org [--ids]` against the emulator over HTTP.

A backup taken from the emulator verifies; a record the org holds under the snapshot's predicate
(created before T0) but the backup lacks fails verification by name; records deleted or purged
in the org since the export are explained, and verification passes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from sfbackup.cli import main
from sfbackup.config import load_settings
from sfbackup.repository import Repository
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.verify import verify_snapshot
from tests.conftest import emulator_env

OBJECTS = "Account,Contact,Invoice__c,ContentDocument,ContentDocumentLink"


@pytest.fixture(scope="module")
def org() -> Iterator[Any]:
    """An emulator of our own: these tests change the org's data."""
    from sfbackup.testing import running_emulator

    with running_emulator(records=20, seed=11, job_latency=0.02) as running:
        yield running


@pytest.fixture(scope="module")
def backed_up(org: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository holding one exported (not yet verified) snapshot of the emulator's org."""
    repo = tmp_path_factory.mktemp("against-org") / "repo"
    saved = dict(os.environ)
    os.environ.update(emulator_env(org))
    try:
        code = main(
            [
                "run",
                "--repo",
                str(repo),
                "--instance-url",
                org.instance_url,
                "--objects",
                OBJECTS,
                "--no-files",
                "--no-verify",
                "--json",
            ]
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert code == 0
    assert Repository.open(repo).snapshot("latest").manifest.state == "exported"
    return repo


@pytest.fixture
def login(org: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in emulator_env(org).items():
        monkeypatch.setenv(key, value)


def _verify(
    repo: Path, org: Any, capsys: pytest.CaptureFixture[str], *flags: str
) -> tuple[int, dict[str, Any]]:
    code = main(["verify", "--repo", str(repo), "--instance-url", org.instance_url, "--json", *flags])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _backup_ids(repo: Path, name: str) -> list[str]:
    snapshot = Repository.open(repo).snapshot("latest")
    ids: list[str] = []
    for part in snapshot.manifest.objects[name].parts:
        ids += pq.read_table(snapshot.resolve(part.path), columns=["Id"]).column("Id").to_pylist()
    return ids


def test_given_backup_of_the_org_when_verify_against_org_with_ids_then_passes_and_is_complete(
    backed_up: Path, org: Any, login: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = _verify(backed_up, org, capsys, "--against-org", "--ids", "--read-data")

    assert code == 0, result["findings"]
    assert result["state"] == "complete" and result["promoted"] is True
    report = json.loads((Path(result["reports"]["report.json"])).read_text())
    counts = {row["object"]: (row["org_count"], row["backup_rows"]) for row in report["objects"]}
    assert counts["Account"][0] == counts["Account"][1] > 0
    assert all(row["ids_compared"] for row in report["objects"])
    # Verified and complete, but a subset of objects: the verdict names what the config left out.
    verdict = report["verdict"]
    assert verdict["line"].startswith("NOT SAFE TO CANCEL"), verdict
    assert len(verdict["reasons"]) == 1 and "--preset everything" in verdict["reasons"][0]
    html = Path(result["reports"]["report.html"]).read_text()
    assert "NOT SAFE TO CANCEL" in html and "--preset everything" in html


def test_given_record_created_before_t0_missing_from_backup_when_verify_then_fails_naming_the_id(
    backed_up: Path, org: Any, login: None, capsys: pytest.CaptureFixture[str]
) -> None:
    t0 = Repository.open(backed_up).snapshot("latest").manifest.t0
    late_id = org.org.create("Account", {"Name": "Backdated Ltd", "CreatedDate": "2020-01-02T03:04:05.000Z"})
    after_t0 = org.org.create("Account", {"Name": "Created after the cut"})  # belongs to the next snapshot
    try:
        assert org.org.now() > t0
        code, counted = _verify(backed_up, org, capsys, "--against-org")
        assert code == 4
        mismatch = next(f for f in counted["findings"] if f["kind"] == "org_count_mismatch")
        assert mismatch["object"] == "Account" and mismatch["expected"] == mismatch["actual"] + 1

        code, listed = _verify(backed_up, org, capsys, "--against-org", "--ids")
        assert code == 4
        missing = [f for f in listed["findings"] if f["kind"] == "missing_ids"]
        assert len(missing) == 1 and missing[0]["object"] == "Account"
        assert late_id in missing[0]["explanation"] and missing[0]["actual"] == [late_id]
        assert after_t0 not in json.dumps(listed["findings"])
        assert listed["verdict"]["line"].startswith("NOT SAFE TO CANCEL")
    finally:
        org.org.purge("Account", late_id)
        org.org.purge("Account", after_t0)


def test_given_records_deleted_or_purged_since_export_when_verify_then_passes_and_explains(
    backed_up: Path, org: Any, login: None, capsys: pytest.CaptureFixture[str]
) -> None:
    contact_ids = _backup_ids(backed_up, "Contact")
    deleted, purged = contact_ids[0], contact_ids[1]
    org.org.delete("Contact", deleted)
    org.org.purge("Contact", purged)

    code, result = _verify(backed_up, org, capsys, "--against-org", "--ids")

    assert code == 0, result["findings"]
    explained = [f for f in result["findings"] if f["kind"] == "deleted_since_export"]
    assert {f["severity"] for f in explained} == {"info"}
    text = " ".join(f["explanation"] for f in explained)
    assert deleted in text and purged in text
    assert not [f for f in result["findings"] if f["severity"] == "error"]

    code, counted = _verify(backed_up, org, capsys, "--against-org")
    assert code == 0
    assert any(f["kind"] == "deleted_since_export" for f in counted["findings"])


def test_given_large_object_when_ids_compared_then_bulk_id_list_agrees(
    backed_up: Path, org: Any, login: None
) -> None:
    settings = load_settings(
        None, env=dict(os.environ), overrides={"connection.instance_url": org.instance_url}
    )

    result = verify_snapshot(
        backed_up,
        "latest",
        against_org=True,
        ids=True,
        bulk_id_threshold=1,
        client_factory=lambda: SalesforceClient(settings.connection),
    )

    assert not result.failures, result.failures
    assert all(row["ids_compared"] for row in result.report["objects"])


def edited_copy(backed_up: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the backed-up repository whose snapshot manifest `edit` changed in place."""
    import shutil

    copy = tmp_path / "repo"
    shutil.copytree(backed_up, copy)
    manifest_path = next((copy / "snapshots").glob("*/manifest.json"))
    data = json.loads(manifest_path.read_text())
    edit(data)
    manifest_path.write_text(json.dumps(data))
    return copy


def test_given_snapshot_of_another_org_when_verify_against_org_then_org_mismatch(
    backed_up: Path, org: Any, login: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["org"]["org_id"] = "00D99999999999XAAA"

    copy = edited_copy(backed_up, tmp_path, edit)

    code, result = _verify(copy, org, capsys, "--against-org")

    assert code == 4
    assert [f["kind"] for f in result["findings"] if f["severity"] == "error"] == ["org_mismatch"]


def test_given_predicate_edited_to_another_cut_when_verify_against_org_then_refused(
    backed_up: Path, org: Any, login: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def edit(data: dict[str, Any]) -> None:
        data["objects"]["Account"]["cut"]["t0"] = "2001-01-01T00:00:00.000Z"

    copy = edited_copy(backed_up, tmp_path, edit)

    code, result = _verify(copy, org, capsys, "--against-org")

    assert code == 4
    errors = [(f["kind"], f["object"]) for f in result["findings"] if f["severity"] == "error"]
    assert errors == [("predicate_mismatch", "Account")]


def test_given_org_refuses_a_query_when_verify_against_org_then_that_object_fails_and_others_compare(
    backed_up: Path, org: Any, login: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def edit(data: dict[str, Any]) -> None:
        # Account read with a condition the org refuses (a field deleted since the export, say)
        data["objects"]["Account"]["read"] = {"reason": "a required filter", "conditions": ["Gone__c = 'x'"]}

    copy = edited_copy(backed_up, tmp_path, edit)

    code, result = _verify(copy, org, capsys, "--against-org")

    assert code == 4
    errors = [f for f in result["findings"] if f["severity"] == "error"]
    assert [(f["kind"], f["object"]) for f in errors] == [("org_query_failed", "Account")]
    assert "INVALID_FIELD" in errors[0]["explanation"]
    report = json.loads(Path(result["reports"]["report.json"]).read_text())
    counted = {row["object"]: row["org_count"] for row in report["objects"]}
    assert counted.pop("Account") is None
    assert counted and all(count is not None for count in counted.values())


def test_given_org_times_out_a_query_when_verify_against_org_then_it_is_read_in_date_ranges(
    backed_up: Path, org: Any, login: None, capsys: pytest.CaptureFixture[str]
) -> None:
    before = org.faults.injected["query_timeout"]
    org.faults.add_rule("query_timeout", r"/queryAll", times=1)  # the first query the emulator times out
    try:
        code, result = _verify(backed_up, org, capsys, "--against-org")
    finally:
        org.faults.clear()

    assert org.faults.injected["query_timeout"] == before + 1
    assert code == 0, [f for f in result["findings"] if f["severity"] == "error"]


def test_given_contract_end_when_verified_against_org_then_owners_and_org_storage_are_reported(
    backed_up: Path, org: Any, login: None
) -> None:
    from datetime import date

    settings = load_settings(
        None, env=dict(os.environ), overrides={"connection.instance_url": org.instance_url}
    )

    result = verify_snapshot(
        backed_up,
        "latest",
        against_org=True,
        client_factory=lambda: SalesforceClient(settings.connection),
        contract_end=date(2000, 1, 31),
    )

    readiness = result.report["readiness"]
    assert readiness["notice"]["status"] == "passed"
    owners = readiness["owners"]
    assert owners and owners[0]["total"] >= owners[-1]["total"] > 0
    assert "Account" in {name for owner in owners for name in owner["counts"]}
    assert readiness["storage"]["backup_bytes"] > 0 and "DataStorageMB" in readiness["storage"]
    html = result.report_paths["report.html"].read_text()
    assert "Before you cancel" in html and "reassign them" in html


def test_given_a_record_created_in_the_second_the_run_starts_when_run_then_it_is_in_the_snapshot(
    org: Any, login: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The org's Date header names T0's second; Salesforce stamps CreatedDate to the millisecond. A
    # record created earlier in that second than the run began was left out (the cut was
    # `CreatedDate <= <second>.000`); it belongs to the snapshot, and one created later is not.
    import time

    now = org.org.now()
    if now.microsecond > 300_000:  # start early in a second, so the run's /limits falls in it
        time.sleep(1.02 - now.microsecond / 1e6)
    just_before = org.org.create("Account", {"Name": "Created just before the run"})
    created = org.org.get_record("Account", just_before, ["CreatedDate"])
    repo = tmp_path / "repo"
    try:
        code = main(["run", "--repo", str(repo), "--instance-url", org.instance_url, "--objects", "Account",
                     "--no-files", "--no-metadata", "--json"])  # fmt: skip
        assert code in (0, 4), capsys.readouterr().out[-2000:]
        after = org.org.create("Account", {"Name": "Created after the run began"})
        manifest = Repository.open(repo).snapshot("latest").manifest
        assert str(created["CreatedDate"])[:19] == manifest.t0.strftime("%Y-%m-%dT%H:%M:%S")  # same second
        assert just_before in _backup_ids(repo, "Account")
        assert manifest.t0.microsecond == 999_000  # the last millisecond of the Date header's second
        assert after not in _backup_ids(repo, "Account")
        code, result = _verify(repo, org, capsys, "--against-org", "--ids")
        assert code == 0, result["findings"]  # the org agrees under the same cut
    finally:
        org.org.purge("Account", just_before)
        with suppress(Exception):
            org.org.purge("Account", after)


def test_given_a_file_created_after_t0_when_verify_against_org_then_its_links_are_not_taken_for_hidden_records(
    org: Any, login: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A File created after T0 adds ContentDocumentLinks (the owner's, the record's) the snapshot's
    # cut leaves to the next one. /limits/recordCount counts them at once; the staleness allowance
    # counted nothing for ContentDocumentLink (its COUNT() needs a ContentDocumentId filter), so
    # verify took them for records the user's sharing hides: NOT SAFE, and the next run held them.
    repo = tmp_path / "repo"
    objects = "Account,ContentDocument,ContentDocumentLink,ContentVersion"
    assert main(["run", "--repo", str(repo), "--instance-url", org.instance_url, "--objects", objects,
                 "--no-files", "--no-metadata", "--no-verify", "--json"]) == 0  # fmt: skip
    account = _backup_ids(repo, "Account")[0]
    version = org.org.create("ContentVersion", {"Title": "after T0", "PathOnClient": "after.txt",
                                                 "VersionData": "aGk=", "FirstPublishLocationId": account})  # fmt: skip
    try:
        code, result = _verify(repo, org, capsys, "--against-org")
        hidden = [f for f in result["findings"] if f["kind"] == "records_not_visible"]
        assert not hidden, hidden
        assert code == 0, result["findings"]
    finally:
        document = org.org.get_record("ContentVersion", version, ["ContentDocumentId"])["ContentDocumentId"]
        org.org.purge("ContentDocument", document)
