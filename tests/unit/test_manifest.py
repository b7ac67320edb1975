"""manifest.json: round trip, strict shape checks, unknown versions refused, unknown keys kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sfbackup.errors import ExitCode, RepositoryError
from sfbackup.repository import manifest as manifest_io
from sfbackup.repository.manifest import (
    AccessRecord,
    CoverageEntry,
    Cut,
    ErrorKind,
    ErrorRecord,
    FilesEntry,
    Manifest,
    MetadataEntry,
    ObjectEntry,
    ObjectState,
    PartInfo,
    ResumePoint,
    SnapshotState,
)
from sfbackup.repository.store import LocalStore

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
SNAPSHOT_ID = "20261127T020000Z-3f9a1c2e"
SHA = "ab" * 32


def _full_manifest() -> Manifest:
    return Manifest(
        snapshot_id=SNAPSHOT_ID,
        t0=T0,
        created_at=datetime(2026, 11, 27, 2, 0, 3, 120000, tzinfo=UTC),
        org={"org_id": "00D000000000001", "instance_url": "https://acme.my.salesforce.com"},
        settings={"objects": ["Account"], "format": "parquet"},
        objects={
            "Account": ObjectEntry(
                state="done",
                api="bulk2",
                operation="queryAll",
                soql="SELECT Id FROM Account WHERE CreatedDate <= 2026-11-27T02:00:00.000Z",
                cut=Cut("CreatedDate", T0),
                fields=["Id"],
                excluded_fields=[{"field": "BillingAddress", "reason": "compound"}],
                rows=3,
                deleted_rows=1,
                parts=[PartInfo("objects/Account/part-00000.parquet", 3, 100, SHA)],
                schema_path="schema/Account.json",
                started_at=T0,
                finished_at=T0,
                seconds=1.5,
                api_calls=4,
                resume=ResumePoint("750x", None, "62.0"),
            )
        },
        files={
            "ContentVersion": FilesEntry(index_path="files/ContentVersion.parquet", index_sha256=SHA, count=2)
        },
        coverage=[
            CoverageEntry("Account", "backed_up"),
            CoverageEntry("X", "not_exportable", "INVALID_TYPE"),
        ],
        api={"calls": 5, "usage_at_start": [1, 100]},
        summary={"objects": 1, "rows": 3},
        metadata=MetadataEntry(
            index_path="metadata/index.parquet", index_bytes=10, index_sha256=SHA,
            package_path="metadata/package.xml", package_sha256=SHA, api_version="62.0",
            types={"ApexClass": {"listed": 2, "retrieved": 1, "failed": 1}},
            not_retrievable=[{"type": "WaveTemplateBundle", "reason": "INVALID_TYPE: not available"}],
            failed=[{"type": "ApexClass", "full_name": "Old", "problem": "cannot be found"}],
            components=2, files=2, bytes=100, new_blobs=2, retrieves=1, api_calls=9,
        ),
    )


def _load(path: Path) -> Manifest:
    return manifest_io.load(LocalStore(path.parent), path.name)


def _saved(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data))
    return path


def test_given_a_manifest_when_saved_and_loaded_then_it_is_equal(tmp_path: Path) -> None:
    original = _full_manifest()
    manifest_io.save(original, LocalStore(tmp_path), "manifest.json")
    assert _load(tmp_path / "manifest.json") == original


def test_given_a_manifest_then_its_json_has_the_documented_keys_and_time_format() -> None:
    data = _full_manifest().to_dict()
    assert data["format"] == "sfbackup-manifest" and data["format_version"] == 1
    assert data["created_at"] == "2026-11-27T02:00:03.120Z"
    assert data["t0"] == "2026-11-27T02:00:00.000Z"
    assert data["state"] == "running" and data["verification"] is None
    assert data["objects"]["Account"]["parts"][0] == {
        "path": "objects/Account/part-00000.parquet",
        "rows": 3,
        "bytes": 100,
        "sha256": SHA,
    }


def test_given_keys_this_version_does_not_know_then_they_survive_a_rewrite(tmp_path: Path) -> None:
    data = _full_manifest().to_dict()
    data["tags"] = ["nightly"]
    data["objects"]["Account"]["future_field"] = {"x": 1}
    loaded = _load(_saved(tmp_path, data))
    assert loaded.extra == {"tags": ["nightly"]}
    assert loaded.to_dict()["objects"]["Account"]["future_field"] == {"x": 1}


def test_given_an_unknown_format_version_then_it_is_refused_with_exit_10(tmp_path: Path) -> None:
    data = _full_manifest().to_dict()
    data["format_version"] = 2
    with pytest.raises(RepositoryError, match="format_version 2") as caught:
        _load(_saved(tmp_path, data))
    assert caught.value.exit_code == ExitCode.NO_REPOSITORY


def _edit(data: dict[str, Any], edit: str) -> None:
    account = data["objects"]["Account"]
    if edit == "state":
        data["state"] = "finished"
    elif edit == "rows":
        account["rows"] = "three"
    elif edit == "negative":
        account["rows"] = -1
    elif edit == "escape":
        account["parts"][0]["path"] = "../../etc/passwd"
    elif edit == "absolute":
        account["parts"][0]["path"] = "/etc/passwd"
    elif edit == "sha":
        account["parts"][0]["sha256"] = "xyz"
    elif edit == "t0":
        data["t0"] = "yesterday"
    elif edit == "objects":
        data["objects"] = ["Account"]
    elif edit == "missing":
        del data["snapshot_id"]
    elif edit == "object_state":
        account["state"] = "halfway"
    elif edit == "api":
        account["api"] = "soap"


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        ("state", "state"),
        ("rows", "objects.Account.rows"),
        ("negative", "objects.Account.rows"),
        ("escape", "objects.Account.parts[0].path"),
        ("absolute", "objects.Account.parts[0].path"),
        ("sha", "objects.Account.parts[0].sha256"),
        ("t0", "t0"),
        ("objects", "objects"),
        ("missing", "snapshot_id"),
        ("object_state", "objects.Account.state"),
        ("api", "objects.Account.api"),
    ],
)
def test_given_a_manifest_edited_into_an_invalid_shape_then_repository_error_names_file_and_key(
    tmp_path: Path, edit: str, where: str
) -> None:
    data = _full_manifest().to_dict()
    _edit(data, edit)
    path = _saved(tmp_path, data)
    with pytest.raises(RepositoryError) as caught:
        _load(path)
    assert str(path) in caught.value.message
    assert where in caught.value.message


def test_given_a_file_that_is_not_json_then_repository_error(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text("{ not json")
    with pytest.raises(RepositoryError, match="not valid JSON"):
        _load(path)


def test_given_no_file_then_repository_error_says_it_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match="does not exist"):
        _load(tmp_path / "manifest.json")


def test_given_a_manifest_then_part_paths_lists_every_file_it_names() -> None:
    assert sorted(_full_manifest().part_paths()) == [
        "files/ContentVersion.parquet",
        "metadata/index.parquet",
        "metadata/package.xml",
        "objects/Account/part-00000.parquet",
        "schema/Account.json",
    ]


def test_given_naive_times_then_format_time_refuses_them() -> None:
    with pytest.raises(ValueError):
        manifest_io.format_time(datetime(2026, 1, 1))


def test_given_states_then_only_an_exported_snapshot_becomes_complete_and_complete_is_final() -> None:
    manifest = _full_manifest()
    with pytest.raises(RepositoryError, match="only an exported snapshot"):
        manifest.transition("complete")
    manifest.transition("exported")
    manifest.transition("complete")
    with pytest.raises(RepositoryError, match="never changed"):
        manifest.transition("running")
    with pytest.raises(ValueError):
        manifest.transition("finished")


def test_given_a_manifest_then_states_errors_resume_points_and_cuts_are_typed_values() -> None:
    manifest = Manifest.from_dict(_full_manifest().to_dict())
    entry = manifest.objects["Account"]
    assert manifest.state is SnapshotState.RUNNING and entry.state is ObjectState.DONE
    assert entry.cut == Cut("CreatedDate", T0) and entry.resume == ResumePoint("750x", None, "62.0")
    data = entry.to_dict()
    assert data["cut"] == {"field": "CreatedDate", "t0": "2026-11-27T02:00:00.000Z"}
    assert data["predicate"] == "CreatedDate <= 2026-11-27T02:00:00Z"  # derived, for people and tools


def test_given_an_object_error_when_saved_and_loaded_then_it_is_an_error_record() -> None:
    original = _full_manifest()
    original.objects["Account"].error = ErrorRecord("INVALID_TYPE", "no such object", ErrorKind.UNSUPPORTED)
    original.errors.append(ErrorRecord("OrgUnreachable", "the org did not answer"))
    loaded = Manifest.from_dict(original.to_dict())
    assert loaded.objects["Account"].error == ErrorRecord(
        "INVALID_TYPE", "no such object", ErrorKind.UNSUPPORTED
    )
    assert loaded.errors == [ErrorRecord("OrgUnreachable", "the org did not answer")]


def test_given_a_manifest_with_only_the_legacy_predicate_when_loaded_then_its_cut_is_read() -> None:
    data = _full_manifest().to_dict()
    del data["objects"]["Account"]["cut"]
    data["objects"]["Account"]["predicate"] = "SystemModstamp <= 2026-11-27T02:00:00Z"
    entry = Manifest.from_dict(data).objects["Account"]
    assert entry.cut == Cut("SystemModstamp", T0)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("cut", {"field": "CreatedDate"}),
        ("cut", {"field": 3, "t0": "2026-11-27T02:00:00Z"}),
        ("predicate", "CreatedDate < yesterday"),
    ],
)
def test_given_a_damaged_cut_when_loaded_then_refused_naming_the_key(key: str, value: Any) -> None:
    data = _full_manifest().to_dict()
    if key == "predicate":
        del data["objects"]["Account"]["cut"]
    data["objects"]["Account"][key] = value
    with pytest.raises(RepositoryError, match=f"objects.Account.{key}"):
        Manifest.from_dict(data)


def _with_blind_spots() -> Manifest:
    manifest = _full_manifest()
    manifest.objects["Account"].hidden_fields = ["AnnualRevenue"]
    manifest.objects["Account"].masked_fields = ["Secret__c"]
    manifest.access = AccessRecord(
        user_id="005000000000002AAA",
        username="integration.user@example.com",
        permissions={"view_all_data": False, "query_all_files": False},
        gaps=[
            {"kind": "hidden_field", "object": "Account", "fields": ["AnnualRevenue"], "blocks_safe": True}
        ],
        checked_at=T0,
    )
    return manifest


def test_given_hidden_and_masked_fields_and_the_backup_user_then_typed_and_kept_on_round_trip(
    tmp_path: Path,
) -> None:
    original = _with_blind_spots()
    manifest_io.save(original, LocalStore(tmp_path), "manifest.json")
    loaded = _load(tmp_path / "manifest.json")
    assert loaded == original
    assert loaded.objects["Account"].hidden_fields == ["AnnualRevenue"]
    assert loaded.objects["Account"].masked_fields == ["Secret__c"]
    assert isinstance(loaded.access, AccessRecord) and loaded.access.blocking == original.access.gaps  # type: ignore[union-attr]
    data = loaded.to_dict()
    assert data["access"]["checked_at"] == "2026-11-27T02:00:00.000Z"
    assert "access" not in loaded.extra and "hidden_fields" not in loaded.objects["Account"].extra
    assert _full_manifest().to_dict()["access"] is None  # a manifest without a preflight


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("objects", "Account", "hidden_fields"), "AnnualRevenue"),
        (("objects", "Account", "masked_fields"), [1]),
        (("access", "permissions"), {"view_all_data": "no"}),
        (("access", "gaps"), [{"kind": "hidden_field", "blocks_safe": "yes", "fields": []}]),
        (("access", "user_id"), None),
    ],
)
def test_given_damaged_blind_spot_values_when_loaded_then_refused_naming_the_key(
    tmp_path: Path, path: tuple[str, ...], value: Any
) -> None:
    data = _with_blind_spots().to_dict()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(RepositoryError) as refused:
        _load(_saved(tmp_path, data))
    assert path[-1] in refused.value.message


def _check(minute: int, level: str, passed: bool, *, org: bool = False, ids: bool = False) -> Any:
    from sfbackup.repository.manifest import VerificationRecord

    verdict = "SAFE TO CANCEL: ..." if passed and org else "NOT SAFE TO CANCEL: ..."
    return VerificationRecord(datetime(2026, 12, 4, 19, minute, tzinfo=UTC), level, passed,
                              0 if passed else 1, 0, org, ids, verdict, f"reports/{minute}")  # fmt: skip


@pytest.mark.parametrize(
    ("history", "stands"),
    [
        ([], None),
        ([_check(1, "structure", True, org=True), _check(2, "read-data", True)], 1),  # weaker: SAFE stays
        ([_check(1, "structure", True), _check(2, "structure", True, org=True, ids=True)], 2),  # stronger
        (
            [_check(1, "read-data", True, org=True), _check(2, "read-data", True, org=True)],
            2,
        ),  # newest of equals
        ([_check(1, "read-data", True, org=True), _check(2, "structure", False)], 2),  # damage always shows
        (
            [_check(1, "structure", False, org=True), _check(2, "structure", True)],
            1,
        ),  # not cleared by a weaker
        ([_check(1, "structure", False, org=True), _check(2, "structure", True, org=True)], 2),  # cleared
        (
            [_check(1, "read-data-subset 1/2", True), _check(2, "structure", True)],
            1,
        ),  # a subset re-reads data
    ],
)
def test_given_verifications_when_the_standing_one_is_chosen_then_weaker_never_replaces_stronger(
    history: list[Any], stands: int | None
) -> None:
    from sfbackup.repository.manifest import standing_verification

    chosen = standing_verification(history)

    assert (chosen.verified_at.minute if chosen else None) == stands
