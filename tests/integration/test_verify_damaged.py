"""`sfbackup verify` on a small valid repository, and on damaged copies of it (cf. restic's
checker testdata): each kind of damage yields its own finding and exit code 4.

The repository is generated with the repository API (no binary fixtures): two objects in
Parquet parts, a ContentVersion files index and its blobs, manifest state `exported`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sfbackup.cli import main
from sfbackup.repository import CoverageEntry, FilesEntry, ObjectEntry, Repository
from sfbackup.repository.manifest import Cut, PartInfo
from sfbackup.salesforce.arrow_types import arrow_schema
from sfbackup.salesforce.schema import ObjectSchema
from sfbackup.verify import verify_snapshot

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
PREDICATE = "CreatedDate <= 2026-11-27T02:00:00Z"
ORG_ID = "00D000000000001AAA"
ACCOUNT_IDS = [f"001000000000{n:03d}AAA" for n in range(1, 8)]
CONTACT_IDS = [f"003000000000{n:03d}AAA" for n in range(1, 4)]
FILE_BODIES = {"068000000000001AAA": b"first file body\n", "068000000000002AAA": b"%PDF-1.7 second body" * 50}


def _describe(name: str, extra: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "queryable": True,
        "fields": [
            {"name": "Id", "type": "id", "nillable": False},
            {"name": "IsDeleted", "type": "boolean", "nillable": False},
            {"name": "CreatedDate", "type": "datetime"},
            *extra,
        ],
    }


SCHEMAS = {
    "Account": _describe(
        "Account",
        [
            {"name": "Name", "type": "string"},
            {"name": "AnnualRevenue", "type": "currency", "precision": 18, "scale": 2},
        ],
    ),
    "Contact": _describe("Contact", [{"name": "LastName", "type": "string"}]),
}


def _rows(name: str, ids: list[str]) -> dict[str, list[Any]]:
    created = [T0 - timedelta(days=i + 1) for i in range(len(ids))]
    columns: dict[str, list[Any]] = {
        "Id": ids,
        "IsDeleted": [i == 0 for i in range(len(ids))],
        "CreatedDate": created,
    }
    if name == "Account":
        columns["Name"] = [f"Account {i}" for i in range(len(ids))]
        columns["AnnualRevenue"] = [Decimal(f"{i}000.50") for i in range(len(ids))]
    else:
        columns["LastName"] = [f"Smith {i}" for i in range(len(ids))]
    return columns


@dataclass
class Built:
    root: Path
    snapshot_id: str

    @property
    def snapshot_dir(self) -> Path:
        return self.root / "snapshots" / self.snapshot_id

    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.snapshot_dir / "manifest.json").read_text())
        return data

    def write_manifest(self, data: dict[str, Any]) -> None:
        (self.snapshot_dir / "manifest.json").write_text(json.dumps(data))

    def blob(self, body: bytes) -> Path:
        digest = hashlib.sha256(body).hexdigest()
        return self.root / "blobs" / "sha256" / digest[:2] / digest


def build_repository(
    root: Path, *, state: str = "exported", part_rows: int = 4, bodiless: tuple[str, ...] = ()
) -> Built:
    """A small valid repository: Account (2 parts), Contact (1 part), ContentVersion files."""
    repo = Repository.init(root)
    org = {
        "org_id": ORG_ID,
        "instance_url": "https://acme.my.salesforce.com",
        "api_version": "62.0",
        "org_name": "Acme Corp",
        "username": "admin@acme.example",
        "is_sandbox": False,
    }
    writer = repo.new_snapshot(
        T0,
        org=org,
        settings={"objects": ["Account", "Contact"], "format": "parquet", "include_deleted": True},
    )
    for name, ids in (("Account", ACCOUNT_IDS), ("Contact", CONTACT_IDS)):
        schema = ObjectSchema.from_describe(SCHEMAS[name])
        fields, _excluded = schema.exportable_fields(for_bulk=True)
        arrow = arrow_schema(fields, object_name=name)
        schema_file = writer.write_schema(schema, fields, arrow)
        table = pa.Table.from_pydict(_rows(name, ids), schema=arrow)
        entry = ObjectEntry(
            state="done",
            api="rest",
            operation="queryAll",
            cut=Cut("CreatedDate", T0),
            soql=f"SELECT {', '.join(f.name for f in fields)} FROM {name} WHERE {PREDICATE}",
            fields=[f.name for f in fields],
            schema_path=schema_file.path,
            schema_sha256=schema_file.sha256,
            format="parquet",
        )
        for index, start in enumerate(range(0, table.num_rows, part_rows)):
            part = writer.open_part(name, index, "parquet", arrow)
            part.write(table.slice(start, part_rows))
            info = part.close()
            entry.parts.append(info)
            entry.rows += info.rows
        entry.deleted_rows = 1
        writer.manifest.objects[name] = entry
    rows = []
    for file_id, body in FILE_BODIES.items():
        stored = repo.blobs.put_bytes(body)
        rows.append(
            {
                "Id": file_id,
                "ParentId": "069000000000001AAA",
                "LinkedEntityIds": [ACCOUNT_IDS[1]],
                "Name": f"file {file_id}",
                "FileExtension": "txt",
                "ContentType": "text/plain",
                "Size": len(body),
                "SalesforceChecksum": hashlib.md5(body).hexdigest(),
                "SystemModstamp": T0 - timedelta(hours=1),
                "IsDeleted": False,
                "sha256": stored.sha256,
                "status": "downloaded",
            }
        )
    for n, status in enumerate(bodiless, start=1):
        rows.append({"Id": f"068000000000{n + 100:03d}AAA", "ParentId": "069000000000001AAA", "LinkedEntityIds": [],
                     "Name": "link only", "Size": None, "IsDeleted": status == "unavailable", "sha256": None,
                     "status": status})  # fmt: skip
    index_schema = pa.schema(
        [
            ("Id", pa.string()),
            ("ParentId", pa.string()),
            ("LinkedEntityIds", pa.list_(pa.string())),
            ("Name", pa.string()),
            ("FileExtension", pa.string()),
            ("ContentType", pa.string()),
            ("Size", pa.int64()),
            ("SalesforceChecksum", pa.string()),
            ("SystemModstamp", pa.timestamp("ms", tz="UTC")),
            ("IsDeleted", pa.bool_()),
            ("sha256", pa.string()),
            ("status", pa.string()),
        ]
    )
    index: PartInfo = writer.write_files_index(
        "ContentVersion", pa.Table.from_pylist(rows, schema=index_schema)
    )
    writer.manifest.files["ContentVersion"] = FilesEntry(
        index_path=index.path,
        index_bytes=index.bytes,
        index_sha256=index.sha256,
        count=len(rows),
        bytes=sum(len(b) for b in FILE_BODIES.values()),
        downloaded=len(rows),
    )
    writer.manifest.coverage = [
        CoverageEntry("Account", "backed_up"),
        CoverageEntry("Contact", "backed_up"),
        CoverageEntry("Lead", "excluded_by_config", "not in the selected objects"),
    ]
    writer.manifest.state = state
    writer.manifest.finished_at = T0 + timedelta(minutes=3)
    writer.save()
    return Built(root, writer.id)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_repository(tmp_path_factory.mktemp("pristine") / "repo")


@pytest.fixture
def copy(pristine: Built, tmp_path: Path) -> Built:
    """A fresh copy of the valid repository, to damage."""
    target = tmp_path / "repo"
    shutil.copytree(pristine.root, target)
    return Built(target, pristine.snapshot_id)


def _verify_cli(built: Built, *flags: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["verify", built.snapshot_id, "--repo", str(built.root), "--json", *flags])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1])


def _kinds(result: dict[str, Any], severity: str = "error") -> set[str]:
    return {f["kind"] for f in result["findings"] if f["severity"] == severity}


# --- the valid repository ----------------------------------------------------------------------


def test_given_valid_repository_when_verify_read_data_then_passes_and_promotes_to_complete(
    copy: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = _verify_cli(copy, "--read-data", capsys=capsys)

    assert code == 0, result["findings"]
    assert result["passed"] is True
    assert result["state"] == "complete" and result["previous_state"] == "exported"
    manifest = copy.manifest()
    assert manifest["state"] == "complete"
    assert manifest["verification"]["passed"] is True
    assert manifest["verification"]["level"] == "read-data"
    for name in ("report.json", "report.md", "report.html"):
        assert (copy.snapshot_dir / name).is_file()
    # Not compared with the org: the data is fine, the cancellation verdict is not given.
    assert result["verdict"]["safe"] is False
    assert "against-org" in result["verdict"]["line"]


def test_given_verify_read_data_with_json_then_progress_lines_show_the_level_and_bytes_reread(
    copy: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["verify", copy.snapshot_id, "--repo", str(copy.root), "--json", "--read-data"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0 and lines[-1]["type"] == "result"
    assert [e["phase"] for e in lines if e.get("event") == "phase"] == ["read-data"]
    bodies = [e for e in lines if e.get("event") == "transfer" and e["done"] == e["total"]]
    sizes = {name: entry["bytes"] for name, entry in copy.manifest()["files"].items()}
    assert bodies and {e["name"]: e["bytes"] for e in bodies} == {f"{n} bodies": b for n, b in sizes.items()}


def test_given_complete_snapshot_when_verified_again_then_only_the_check_is_added_to_its_manifest(
    copy: Built,
) -> None:
    verify_snapshot(copy.root, copy.snapshot_id)
    before = json.loads((copy.snapshot_dir / "manifest.json").read_bytes())

    result = verify_snapshot(copy.root, "latest", read_data=True)

    assert result.passed and not result.promoted and result.state == "complete"
    after = json.loads((copy.snapshot_dir / "manifest.json").read_bytes())
    checks = after.pop("verifications")
    assert [(c["level"], c["passed"]) for c in checks] == [("structure", True), ("read-data", True)]
    before.pop("verifications")
    assert after == before


def test_given_incomplete_snapshot_when_verify_then_fails_and_says_resume(tmp_path: Path) -> None:
    built = build_repository(tmp_path / "repo", state="incomplete")

    result = verify_snapshot(built.root, built.snapshot_id)

    assert not result.passed
    kinds = {f.kind for f in result.failures}
    assert kinds == {"snapshot_not_finished"}
    assert "run --resume" in result.failures[0].what_to_do
    assert built.manifest()["state"] == "incomplete"


# --- damaged copies ----------------------------------------------------------------------------


def _part(built: Built, name: str = "Account", index: int = 0) -> Path:
    return built.snapshot_dir / "objects" / name / f"part-{index:05d}.parquet"


def test_given_missing_part_when_verify_then_missing_part_and_exit_4(
    copy: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    _part(copy, index=1).unlink()

    code, result = _verify_cli(copy, capsys=capsys)

    assert code == 4
    missing = [f for f in result["findings"] if f["kind"] == "missing_part"]
    assert [f["path"] for f in missing] == ["objects/Account/part-00001.parquet"]
    assert missing[0]["object"] == "Account" and missing[0]["snapshot_id"] == copy.snapshot_id
    assert copy.manifest()["state"] == "exported"  # never promoted, never touched
    assert "NOT SAFE TO CANCEL" in (copy.snapshot_dir / "report.html").read_text()


def test_given_truncated_part_when_verify_then_size_mismatch_and_undecodable(
    copy: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _part(copy)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    code, result = _verify_cli(copy, capsys=capsys)

    assert code == 4
    assert {"part_size_mismatch", "part_undecodable"} <= _kinds(result)


def test_given_junk_appended_to_a_schema_when_verify_read_data_then_schema_damaged(
    copy: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = copy.snapshot_dir / "schema" / "Account.json"
    schema.chmod(0o600)
    schema.write_bytes(schema.read_bytes() + b"junk")

    code, result = _verify_cli(copy, "--read-data", capsys=capsys)

    assert code == 4
    damaged = [f for f in result["findings"] if f["kind"] == "schema_damaged"]
    assert [(f["object"], f["path"]) for f in damaged] == [("Account", "schema/Account.json")]
    assert copy.manifest()["state"] == "exported"


def test_given_one_flipped_byte_in_a_blob_when_verify_then_only_read_data_catches_it(
    copy: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    blob = copy.blob(FILE_BODIES["068000000000002AAA"])
    data = bytearray(blob.read_bytes())
    data[100] ^= 0x01
    blob.chmod(0o600)
    blob.write_bytes(bytes(data))

    code, result = _verify_cli(copy, capsys=capsys)
    assert code == 0, "same size: the structural check cannot see it"
    # (the structural pass promoted the snapshot; read-data still reports the damage)

    code, result = _verify_cli(copy, "--read-data", capsys=capsys)
    assert code == 4
    assert _kinds(result) == {"blob_checksum_mismatch", "salesforce_checksum_mismatch"}
    finding = next(f for f in result["findings"] if f["kind"] == "blob_checksum_mismatch")
    assert "068000000000002AAA" in finding["explanation"]


def test_given_missing_blob_when_verify_then_missing_blob_names_the_file(
    copy: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    copy.blob(FILE_BODIES["068000000000001AAA"]).unlink()

    code, result = _verify_cli(copy, capsys=capsys)

    assert code == 4
    assert _kinds(result) == {"missing_blob"}
    assert "068000000000001AAA" in result["findings"][0]["explanation"]


def test_given_manifest_counts_disagreeing_with_parts_when_verify_then_row_count_mismatch(
    copy: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    data = copy.manifest()
    data["objects"]["Contact"]["rows"] = 5
    data["objects"]["Account"]["parts"][1]["rows"] = 2
    copy.write_manifest(data)

    code, result = _verify_cli(copy, capsys=capsys)

    assert code == 4
    mismatches = [f for f in result["findings"] if f["kind"] == "row_count_mismatch"]
    assert {(f["object"], f["expected"], f["actual"]) for f in mismatches} >= {
        ("Contact", 5, 3),
        ("Account", 2, 3),  # part 1: the manifest says 2, the footer holds 3
    }


def test_given_record_deleted_from_a_part_when_verify_then_row_count_and_size_mismatch(
    copy: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _part(copy, "Contact")
    table = pq.read_table(path)
    pq.write_table(table.slice(1), path, compression="zstd")

    code, result = _verify_cli(copy, capsys=capsys)

    assert code == 4
    kinds = _kinds(result)
    assert "row_count_mismatch" in kinds and "part_size_mismatch" in kinds
    code, result = _verify_cli(copy, "--read-data", capsys=capsys)
    assert "part_checksum_mismatch" in _kinds(result)


def test_given_files_index_edited_when_verify_then_index_mismatch(
    copy: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    data = copy.manifest()
    data["files"]["ContentVersion"]["count"] = 3
    copy.write_manifest(data)

    code, result = _verify_cli(copy, capsys=capsys)

    assert code == 4
    assert _kinds(result) == {"index_mismatch"}


def test_given_failed_object_and_missing_files_when_verify_then_object_failed_and_files_missing(
    copy: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    data = copy.manifest()
    data["objects"]["Contact"]["state"] = "failed"
    data["objects"]["Contact"]["error"] = {
        "code": "INVALID_TYPE",
        "message": "sObject type 'Contact' is not supported",
    }
    data["files"]["ContentVersion"]["missing"] = ["068000000000003AAA"]
    copy.write_manifest(data)

    code, result = _verify_cli(copy, capsys=capsys)

    assert code == 4
    assert {"object_failed", "files_missing"} <= _kinds(result)
    files_missing = next(f for f in result["findings"] if f["kind"] == "files_missing")
    assert "068000000000003AAA" in files_missing["explanation"]


def test_given_read_data_subset_when_verify_then_only_that_subset_is_rehashed(copy: Built) -> None:
    digests = [hashlib.sha256(b).hexdigest() for b in FILE_BODIES.values()]
    read_counts = []
    for n in (1, 2):
        result = verify_snapshot(copy.root, copy.snapshot_id, read_data_subset=f"{n}/2")
        files_row = result.report["files"][0]
        read_counts.append(files_row["blobs_read"])
    assert sum(read_counts) == len(digests)
    assert result.level == "read-data-subset 2/2"


def test_given_bad_subset_when_verify_then_usage_error(
    copy: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["verify", "--repo", str(copy.root), "--read-data-subset", "3/2"])
    assert code == 2


def test_given_files_salesforce_holds_no_body_for_when_verify_then_explained_not_failed(
    tmp_path: Path,
) -> None:
    built = build_repository(tmp_path / "repo", bodiless=("no_body", "unavailable"))

    result = verify_snapshot(built.root, built.snapshot_id, read_data=True)

    assert result.passed and result.state == "complete"
    severities = {f.kind: f.severity for f in result.findings}
    assert severities["files_without_body"] == "info"
    # Recycle Bin files whose bodies Salesforce refuses: no backup can hold them, so they do not
    # block the verdict, which lists them with what to do.
    assert severities["file_body_unavailable"] == "info"
    assert result.verdict is not None and any("undelete" in note for note in result.verdict.notes)


# --- snapshots and show ------------------------------------------------------------------------


def test_given_repository_when_snapshots_listed_then_counts_and_damaged_manifests_are_shown(
    copy: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = copy.root / "snapshots" / "20261128T020000Z-0badf00d"
    damaged.mkdir()
    (damaged / "manifest.json").write_text("{not json")

    assert main(["snapshots", "--repo", str(copy.root), "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)["snapshots"]

    assert [row["id"] for row in listing] == [copy.snapshot_id, damaged.name]
    first = listing[0]
    assert (first["state"], first["objects"], first["rows"], first["files"]) == ("exported", 2, 10, 2)
    assert first["bytes"] > sum(len(b) for b in FILE_BODIES.values())
    assert listing[1]["state"] == "damaged" and "not valid JSON" in listing[1]["error"]
    assert main(["snapshots", "--repo", str(copy.root)]) == 0
    text = capsys.readouterr().out
    assert copy.snapshot_id in text and "damaged" in text


def test_given_snapshot_when_shown_then_objects_files_and_coverage_are_listed(
    copy: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", copy.snapshot_id, "--repo", str(copy.root)]) == 0
    text = capsys.readouterr().out
    assert "Acme Corp" in text and "Account" in text and "ContentVersion" in text
    assert "excluded_by_config (1): Lead" in text

    verify_snapshot(copy.root, copy.snapshot_id)
    assert main(["show", "latest", "--repo", str(copy.root), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["snapshot"]["state"] == "complete" and document["snapshot"]["verified"] is True
    assert document["manifest"]["objects"]["Contact"]["rows"] == 3
    assert any(path.endswith("report.html") for path in document["reports"])


# --- a repository in S3 (moto's server over HTTP) ----------------------------------------------


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    from tests.s3_server import running_s3

    with running_s3(set_env=False) as running:
        yield running


def _upload(built: Built, s3: Any, bucket: str) -> Any:
    s3.create_bucket(bucket)
    store = s3.store(bucket, "acme/prod")
    for path in sorted(p for p in built.root.rglob("*") if p.is_file() and "locks" not in p.parts):
        store.put_file(path.relative_to(built.root).as_posix(), path)
    return store


def test_given_repository_in_s3_when_verified_then_promoted_there_and_reports_uploaded(
    copy: Built, s3: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.s3_server import set_test_credentials

    store = _upload(copy, s3, "verify-ok")
    set_test_credentials(monkeypatch)
    config = tmp_path / "sfbackup.toml"
    config.write_text(f'[s3]\nendpoint_url = "{s3.endpoint_url}"\nregion = "us-east-1"\n')

    code = main(
        ["verify", "--repo", "s3://verify-ok/acme/prod", "--config", str(config), "--read-data", "--json"]
    )

    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, result["findings"]
    assert result["promoted"] is True
    with store.open(f"snapshots/{copy.snapshot_id}/manifest.json") as handle:
        assert json.loads(handle.read())["state"] == "complete"
    assert store.exists(f"snapshots/{copy.snapshot_id}/report.html")
    assert copy.manifest()["state"] == "exported"  # the local folder was not the one verified


def test_given_blob_missing_from_s3_when_verified_then_missing_blob(copy: Built, s3: Any) -> None:
    store = _upload(copy, s3, "verify-damaged")
    digest = hashlib.sha256(FILE_BODIES["068000000000001AAA"]).hexdigest()
    store.delete(f"blobs/sha256/{digest[:2]}/{digest}")

    result = verify_snapshot(store, "latest")

    assert not result.passed
    assert {f.kind for f in result.failures} == {"missing_blob"}
    with store.open(f"snapshots/{copy.snapshot_id}/manifest.json") as handle:
        assert json.loads(handle.read())["state"] == "exported"


def test_given_file_records_without_files_index_when_files_were_on_then_files_missing(
    copy: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    data = copy.manifest()
    data["objects"]["Attachment"] = data["objects"]["Contact"]  # 3 records, parts that exist
    data["settings"]["files"] = True
    copy.write_manifest(data)

    code, result = _verify_cli(copy, capsys=capsys)

    assert code == 4
    assert [(f["kind"], f["object"]) for f in result["findings"] if f["severity"] == "error"] == [
        ("files_missing", "Attachment")
    ]


def test_given_manifest_changed_during_verification_when_promoting_then_refused(copy: Built) -> None:
    from sfbackup.errors import RepositoryError
    from sfbackup.ui.progress import NullProgress

    class ResumeMidway(NullProgress):
        """Another process rewrites the manifest while the parts are being checked."""

        def phase(self, name: str, text: str) -> None:
            if text.startswith("verifying"):
                data = copy.manifest()
                data["objects"]["Contact"]["rows"] = 3
                data["summary"] = {"touched": True}
                copy.write_manifest(data)

    with pytest.raises(RepositoryError, match="changed while it was verified"):
        verify_snapshot(copy.root, copy.snapshot_id, progress=ResumeMidway())
    assert copy.manifest()["state"] == "exported"


def test_given_a_failed_read_data_check_then_the_snapshot_is_not_complete_for_listing_forget_or_verdict(
    copy: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _verify_cli(copy, capsys=capsys)[0] == 0  # complete
    newer_id = "20261128T020000Z-aaaaaaaa"
    newer = Built(copy.root, newer_id)
    shutil.copytree(copy.snapshot_dir, newer.snapshot_dir)
    data = json.loads((newer.snapshot_dir / "manifest.json").read_text())
    data["snapshot_id"], data["t0"] = newer_id, "2026-11-28T02:00:00.000Z"
    (newer.snapshot_dir / "manifest.json").write_text(json.dumps(data))
    blob = copy.blob(FILE_BODIES["068000000000002AAA"])  # same size: only --read-data sees it
    damaged = bytearray(blob.read_bytes())
    damaged[100] ^= 0x01
    blob.chmod(0o600)
    blob.write_bytes(bytes(damaged))

    code, result = _verify_cli(newer, "--read-data", capsys=capsys)
    assert code == 4 and "blob_checksum_mismatch" in _kinds(result)

    assert main(["snapshots", "--repo", str(copy.root), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows = listed["snapshots"] if isinstance(listed, dict) else listed
    states = {row["id"]: row["state"] for row in rows}
    assert states == {copy.snapshot_id: "complete", newer_id: "check_failed"}

    assert main(["show", newer_id, "--repo", str(copy.root)]) == 0
    shown = capsys.readouterr().out
    assert "check_failed" in shown and "read-data: FAILED" in shown

    code, result = _verify_cli(newer, capsys=capsys)  # a weaker check cannot make it safe again
    assert code == 0, [f for f in result["findings"] if f["severity"] == "error"]
    assert "NOT SAFE TO CANCEL" in result["verdict"]["line"]
    assert "last full check" in result["verdict"]["line"]

    assert main(["forget", "--repo", str(copy.root), "--keep-last", "1"]) == 0
    capsys.readouterr()
    assert copy.snapshot_dir.is_dir(), "the newest snapshot whose data is intact is kept"


def test_given_require_safe_when_the_verdict_is_not_safe_then_exit_5_and_the_text_ends_with_verdict_and_report(
    copy: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["verify", copy.snapshot_id, "--repo", str(copy.root), "--require-safe"])
    out = capsys.readouterr().out.strip().splitlines()

    assert code == 5  # verified (structure), but never compared with the org: not safe
    report_line = out[-1]
    assert report_line.startswith("report: ") and report_line.endswith("(also report.md, report.json)")
    verdict_at = next(i for i, line in enumerate(out) if line.startswith("NOT SAFE TO CANCEL: "))
    assert all(line.startswith("  - ") for line in out[verdict_at + 1 : -1])

    assert main(["verify", copy.snapshot_id, "--repo", str(copy.root)]) == 0  # without the flag
