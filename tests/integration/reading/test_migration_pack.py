"""`sfbackup export --to migration-pack` offline: Salesforce Data Export's layout, values equal to the
Parquet, bodies equal to the blobs under Attachments/, Documents/ and ContentVersion/."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Any

from sfbackup.clock import format_time
from tests.integration.reading.conftest import Offline


def read_csv(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and raw.decode("utf-8")
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_given_snapshot_offline_when_packed_then_each_object_is_a_csv_of_api_names_equal_to_the_parquet(
    offline: Offline, cli: Any, tmp_path: Path
) -> None:
    code, out, err = cli("export", offline.first, "--repo", str(offline.repo), "--to", "migration-pack",
                         "--out", str(tmp_path))  # fmt: skip
    assert code == 0, err
    snapshot = offline.snapshot()
    assert {p.name for p in tmp_path.glob("*.csv")} == {f"{n}.csv" for n in snapshot.manifest.objects}
    rows = read_csv(tmp_path / "Opportunity.csv")
    assert list(rows[0]) == snapshot.schema("Opportunity").names
    parquet = {r["Id"]: r for r in snapshot.read("Opportunity").to_pylist() if not r["IsDeleted"]}
    assert len(rows) == len(parquet)
    for row in rows:
        record = parquet[row["Id"]]
        assert row["Name"] == record["Name"]
        assert row["CreatedDate"] == format_time(record["CreatedDate"])
        assert row["Amount"] == ("" if record["Amount"] is None else format(record["Amount"], "f"))
        assert row["IsWon"] == ("true" if record["IsWon"] else "false")
    accounts = {r["Name"] for r in read_csv(tmp_path / "Account.csv")}
    assert '=HYPERLINK("http://evil")' in accounts, "kept exactly: the pack is for machines"
    assert (tmp_path / "Opportunity.csv").read_bytes().startswith(b'"Id","IsDeleted"')
    assert "migration pack in" in out


def test_given_files_when_packed_then_bodies_are_named_by_id_in_the_data_export_folders(
    offline: Offline, cli: Any, tmp_path: Path
) -> None:
    code, _, err = cli("export", offline.first, "--repo", str(offline.repo), "--to", "migration-pack",
                       "--objects", "Attachment,ContentVersion,Document", "--out", str(tmp_path))  # fmt: skip
    assert code == 0, err
    snapshot = offline.snapshot()
    folders = {"Attachment": "Attachments", "Document": "Documents", "ContentVersion": "ContentVersion"}
    for file_object, folder in folders.items():
        stored = [r for r in snapshot.files(file_object).to_pylist()
                  if r["status"] in ("downloaded", "deduplicated") and not r["IsDeleted"]]  # fmt: skip
        assert sorted(p.name for p in (tmp_path / folder).iterdir()) == sorted(r["Id"] for r in stored)
        for row in stored:
            assert hashlib.sha256((tmp_path / folder / row["Id"]).read_bytes()).hexdigest() == row["sha256"]
    versions = {r["Id"]: r for r in read_csv(tmp_path / "ContentVersion.csv")}
    assert versions[offline.pdf_version]["PathOnClient"] == "Contract 2020.pdf"
    assert (tmp_path / "ContentVersion" / offline.pdf_version).read_bytes() == offline.pdf_body
    attachments = read_csv(tmp_path / "Attachment.csv")
    assert {r["ParentId"] for r in attachments if r["Id"] in offline.hostile_ids} == {offline.account_id}
