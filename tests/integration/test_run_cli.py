"""`sfbackup run` end to end: the CLI against the emulator over HTTP, checked by a separate client.

Every exported value is compared, field by field, with what simple-salesforce's REST query reads
from the same org: the export must be exact for every field type, in Parquet and in CSV.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce

from sfbackup.cli import main
from sfbackup.repository import Repository
from sfbackup.salesforce.transport import rewriting_session

OBJECTS = "Account,Contact,Lead,Opportunity,Invoice__c,ContentDocumentLink,ContentDocument,Attachment"


def run_cli(*args: str) -> int:
    return main(["run", *args])


def independent_client(emulator: Any) -> Salesforce:
    """simple-salesforce, unchanged, logged in with the emulator's username and password."""
    credentials = emulator.credentials
    return Salesforce(
        username=credentials.username,
        password=credentials.password,
        security_token=credentials.security_token,
        session=rewriting_session(emulator.instance_url),
    )


def expected_value(field_type: str, value: Any) -> Any:
    """A REST JSON value as the Python value the typed export must hold (independent of our code)."""
    if value is None:
        return None
    if field_type == "datetime":
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)
    if field_type == "date":
        return date.fromisoformat(value)
    if field_type == "time":
        return time.fromisoformat(value.rstrip("Z"))
    if field_type in ("currency", "double", "percent"):
        return Decimal(str(value))
    if field_type in ("int", "long"):
        return int(value)
    return value


def normalise(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def assert_snapshot_matches_org(repo: Path, sf: Salesforce) -> int:
    snapshot = Repository.open(repo).snapshot("latest")
    checked = 0
    for name, entry in snapshot.manifest.objects.items():
        assert entry.state == "done", (name, entry.error)
        schema = snapshot.schema_document(name)
        types = {f["name"]: f["type"] for f in schema["fields"]}
        table = snapshot.read(name)
        ours = {row["Id"]: row for row in table.to_pylist()}
        assert len(ours) == entry.rows
        if name == "ContentDocumentLink":
            doc_ids = [r["ContentDocumentId"] for r in ours.values()]
            assert doc_ids, "the emulator has file links"
            ids = ",".join(f"'{i}'" for i in sorted(set(doc_ids)))
            soql = f"SELECT {', '.join(entry.fields)} FROM {name} WHERE ContentDocumentId IN ({ids})"
        else:
            soql = entry.soql
        assert soql is not None
        theirs = sf.query_all(soql, include_deleted=True)["records"]
        assert {r["Id"] for r in theirs} == set(ours), name
        for record in theirs:
            row = ours[record["Id"]]
            for field in entry.fields:
                want = expected_value(types[field], record[field])
                got = normalise(row[field])
                assert got == want, f"{name}.{field} of {record['Id']}: {got!r} != {want!r}"
                checked += 1
    return checked


@pytest.mark.parametrize("file_format", ["parquet", "csv"])
def test_given_emulator_org_when_run_then_every_value_matches_an_independent_client(
    emulator: Any, login_env: dict[str, str], repo_dir: Path, file_format: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = run_cli(
        "--repo", str(repo_dir), "--instance-url", emulator.instance_url, "--objects", OBJECTS,
        "--format", file_format, "--json", "--no-verify", "--no-files",
    )
    out = capsys.readouterr().out
    assert code == 0, out
    last = json.loads(out.strip().splitlines()[-1])
    assert last["state"] == "exported"
    checked = assert_snapshot_matches_org(repo_dir, independent_client(emulator))
    assert checked > 1000


def test_given_every_field_type_when_exported_then_parquet_types_follow_the_describe(
    emulator: Any, login_env: dict[str, str], repo_dir: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    code = run_cli("--repo", str(repo_dir), "--instance-url", emulator.instance_url,
                   "--objects", "Invoice__c", "--json", "--no-verify")
    assert code == 0, capsys.readouterr().out
    table = Repository.open(repo_dir).snapshot("latest").read("Invoice__c")
    types = {f.name: str(f.type) for f in table.schema}
    assert types["Id"] == "string"
    assert types["CreatedDate"] == "timestamp[ms, tz=UTC]"
    assert any(t.startswith("decimal128(18, 2)") for t in types.values())
    assert any(t == "date32[day]" for t in types.values())
    assert any(t == "bool" for t in types.values())
    assert any(t == "int64" for t in types.values())
    assert "Location__c" not in types  # compound: its components are exported instead


def test_given_default_settings_when_run_then_snapshot_is_verified_complete_with_a_report(
    emulator: Any, login_env: dict[str, str], repo_dir: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    code = run_cli("--repo", str(repo_dir), "--instance-url", emulator.instance_url, "--json",
                   "--no-files", "--objects", "Account,Contact,Lead,Opportunity")
    out = capsys.readouterr().out
    assert code == 0, out
    snapshot = Repository.open(repo_dir).snapshot("latest")
    assert snapshot.manifest.state == "complete"
    for name in ("report.json", "report.md", "report.html"):
        assert (snapshot.path / name).is_file()
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["state"] == "complete"
    assert summary["rows"] > 0 and summary["api_calls"] > 0


def test_given_objects_exported_in_parallel_when_run_then_their_api_calls_add_up_to_the_total(
    emulator: Any, login_env: dict[str, str], repo_dir: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    config = repo_dir.parent / "bulk.toml"
    config.write_text("[backup]\nbulk_min_records = 30\nbulk_page_records = 20\n")  # Bulk, several pages
    code = run_cli("--repo", str(repo_dir), "--instance-url", emulator.instance_url, "--json", "--config",
                   str(config), "--no-verify", "--concurrency", "4", "--objects", OBJECTS)
    assert code == 0, capsys.readouterr().out
    manifest = Repository.open(repo_dir).snapshot("latest").manifest
    assert sum(entry.api == "bulk2" for entry in manifest.objects.values()) >= 4
    per_object = {name: entry.api_calls for name, entry in manifest.objects.items()}
    per_files = {name: entry.api_calls for name, entry in manifest.files.items()}
    outside = manifest.api["calls_outside_objects"]

    metadata = manifest.metadata.api_calls if manifest.metadata else 0
    assert metadata > 0
    assert sum(per_object.values()) + sum(per_files.values()) + metadata + outside == manifest.api["calls"]
    assert all(calls > 0 for calls in [*per_object.values(), *per_files.values()]), (per_object, per_files)
    # Login, limits, describeGlobal and the Organization record; nothing an object spent. And the
    # preflight, as the admin (View All Data: no COUNT() needed): UserPermissionAccess, the
    # assigned permission sets, one FieldDefinition query (up to 25 objects), /limits/recordCount.
    preflight = manifest.api["preflight_calls"]
    assert preflight == 4, preflight
    # Planning through Composite: the 8 describes in one call, the 8 COUNT()s in two (5 a call):
    # 3 calls where one call per object made 16; they are the run's, no object's.
    planning = manifest.api["planning_calls"]
    assert planning == 3, planning
    assert 0 < outside - preflight - planning <= 5, (outside, preflight, planning)
    for name, entry in manifest.objects.items():
        if entry.api == "rest" and name != "ContentDocumentLink" and entry.rows <= 2000:
            # one page: no other object's calls counted in
            assert entry.api_calls == 1, (name, entry.api_calls)
        if entry.api == "bulk2":
            # submit, poll(s), one call per page of 20 rows, delete
            pages = -(-entry.rows // 20)
            assert 3 + pages <= entry.api_calls <= 6 + pages, (name, entry.rows, entry.api_calls)


def test_given_earlier_snapshots_when_run_then_each_earlier_manifest_is_read_once(
    emulator: Any, login_env: dict[str, str], repo_dir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Every earlier manifest of a thousand-object org is megabytes of JSON: the run reads each
    # once (settling dead runs, then the parent, file and binaries indexes from one listing).
    from collections import Counter

    from sfbackup.repository import manifest as manifest_io

    args = ("--repo", str(repo_dir), "--instance-url", emulator.instance_url, "--json", "--no-verify",
            "--no-metadata")  # fmt: skip
    assert run_cli(*args) == 0, capsys.readouterr().out
    first = Repository.open(repo_dir).snapshot("latest").id
    reads: Counter[str] = Counter()
    real_load = manifest_io.load

    def counting_load(store: Any, key: str) -> manifest_io.Manifest:
        reads[key] += 1
        return real_load(store, key)

    monkeypatch.setattr(manifest_io, "load", counting_load)
    assert run_cli(*args) == 0, capsys.readouterr().out
    assert reads[f"snapshots/{first}/manifest.json"] <= 2, reads
