"""`sfbackup run` on the enterprise-shaped org (docs/emulator.md): every object exported or explained,
one object's refusal never stops the others, each restricted object read with the strategy its
refusal calls for; rows checked against a separate simple-salesforce reading of the same org.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from simple_salesforce import Salesforce

from sfbackup.backup.run import run_backup
from sfbackup.cli import main
from sfbackup.config import load_settings
from sfbackup.emulator.http.faults import FaultConfig
from sfbackup.errors import ExitCode, SalesforceError
from sfbackup.maintain.upload import upload_snapshot
from sfbackup.repository import Repository
from sfbackup.salesforce import query_rest
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.salesforce.transport import rewriting_session
from sfbackup.testing import RunningEmulator, running_emulator
from sfbackup.verify import verify_snapshot
from tests.conftest import emulator_env
from tests.integration.test_run_cli import expected_value, normalise
from tests.integration.test_verify_org_bodies import drop_one_body
from tests.s3_server import running_s3, set_test_credentials


@pytest.fixture(scope="module")
def enterprise() -> Iterator[RunningEmulator]:
    with running_emulator(
        records=30, org_shape="enterprise", operation_too_large=True, large_file_bytes=0, job_latency=0.05
    ) as running:
        yield running


@pytest.fixture
def env(enterprise: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in emulator_env(enterprise).items():
        monkeypatch.setenv(key, value)


def independent(emu: RunningEmulator) -> Salesforce:
    c = emu.credentials
    return Salesforce(username=c.username, password=c.password, security_token=c.security_token,
                      session=rewriting_session(emu.instance_url))  # fmt: skip


def run(emu: RunningEmulator, repo: Path, *args: str) -> int:
    # Records and files are what these tests are about; the org's metadata has its own tests.
    return main(["run", "--repo", str(repo), "--instance-url", emu.instance_url, "--json", "--no-metadata",
                 *args])  # fmt: skip


def not_exported(output: str) -> list[str]:
    """The objects the run's exit-3 message names as not exported."""
    [line] = [line for line in output.splitlines() if "objects not exported: " in line]
    named = line.split("objects not exported: ", 1)[1].split(";")[0].split('"')[0]
    return [name.strip() for name in named.split(",")]


def test_given_count_timeout_and_unknown_refusal_when_run_then_others_export_and_exit_3_names_failed(
    enterprise: RunningEmulator, env: None, repo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = "Account,LoginHistory,AggregateResult,Contact,ApexClass"
    enterprise.server.requests.clear()
    code = run(enterprise, repo_dir, "--objects", objects, "--no-files", "--no-verify")
    # LoginHistory's COUNT() was refused inside a composite call (and the object exported without it)
    counted = [subject for e in enterprise.server.requests.entries() if e.kind == "composite"
               for kind, subject in e.parts if kind == "query"]  # fmt: skip
    assert "LoginHistory" in counted
    captured = capsys.readouterr()
    assert code == ExitCode.INCOMPLETE, captured.err[-2000:]
    assert not_exported(captured.out + captured.err) == ["AggregateResult"]

    manifest = Repository.open(repo_dir).snapshot("latest").manifest
    failed = manifest.objects["AggregateResult"]  # named explicitly: its refusal fails it
    assert failed.state == "failed" and failed.error is not None
    assert failed.error.code == "INVALID_TYPE_FOR_OPERATION"
    assert "does not support query" in failed.error.message  # Salesforce's own words
    login = manifest.objects["LoginHistory"]
    assert login.state == "done"
    assert login.extra["expected_rows"] is None
    assert "QUERY_TIMEOUT" in login.extra["count_refused"]
    sf = independent(enterprise)
    assert login.rows == len(sf.query_all("SELECT Id FROM LoginHistory")["records"]) > 0
    for name in ("Account", "Contact"):
        assert manifest.objects[name].state == "done"
        assert manifest.objects[name].extra["expected_rows"] == manifest.objects[name].rows
    # COUNT() said 0: no rows query; its describe and COUNT() rode in the run's composite calls
    empty = manifest.objects["ApexClass"]
    assert (empty.state, empty.rows, empty.api_calls, len(empty.parts)) == ("done", 0, 0, 1)
    assert manifest.api["planning_calls"] == 2  # 5 describes in one call, 5 COUNT()s in another

    # --resume retries only what did not finish, and ends the same way (nothing fixed it)
    code = run(enterprise, repo_dir, "--resume", "--no-verify")
    assert code == ExitCode.INCOMPLETE
    again = Repository.open(repo_dir).snapshot("latest").manifest
    assert again.snapshot_id == manifest.snapshot_id
    assert again.objects["Account"].parts == manifest.objects["Account"].parts
    assert again.objects["AggregateResult"].state == "failed"


QUIRK_OBJECTS = (
    "KnowledgeArticleVersion", "FAQ__kav", "Idea", "Vote", "IdeaComment", "ContentFolder",
    "ContentFolderItem", "ContentFolderMember", "ContentDocument", "ContentDocumentLink", "User", "Task",
    "Event", "FieldHistoryArchive", "Shipment_Log__b", "LoginHistory", "Telemetry_Event__c",
    "ActivityFieldHistory", "Wide_Survey__c", "Wide_Formula__c", "Legacy_Import__c",
)  # fmt: skip


@pytest.fixture(scope="module")
def quirks_repo(enterprise: RunningEmulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run over every quirk object (records only), then `verify --read-data --against-org --ids`."""
    repo = tmp_path_factory.mktemp("quirks") / "repo"
    with pytest.MonkeyPatch.context() as mp:
        for key, value in emulator_env(enterprise).items():
            mp.setenv(key, value)
        code = run(enterprise, repo, "--objects", ",".join(QUIRK_OBJECTS), "--no-files", "--no-verify")
        assert code == ExitCode.OK
        verified = main(["verify", "--repo", str(repo), "--instance-url", enterprise.instance_url,
                         "--read-data", "--against-org", "--ids", "--json"])  # fmt: skip
        assert verified == ExitCode.OK
    return repo


def ids_of(sf: Salesforce, name: str) -> list[str]:
    return [r["Id"] for r in sf.query_all(f"SELECT Id FROM {name}")["records"]]


def theirs(sf: Salesforce, name: str, fields: list[str], wheres: list[str], *, deleted: bool = True) -> dict[str, Any]:
    """simple-salesforce's reading of `fields` under each WHERE (one query each), by Id."""
    out: dict[str, Any] = {}
    for where in wheres:
        soql = f"SELECT {', '.join(fields)} FROM {name}" + (f" WHERE {where}" if where else "")
        for record in sf.query_all(soql, include_deleted=deleted)["records"]:
            record.pop("attributes", None)
            out[record["Id"]] = record
    return out


def quoted(ids: list[str]) -> str:
    return ",".join(f"'{i}'" for i in ids)


def assert_rows_equal(repo: Path, name: str, expected: dict[str, Any]) -> None:
    """The snapshot's rows of `name` equal `expected` (Ids and every value)."""
    snapshot = Repository.open(repo).snapshot("latest")
    entry = snapshot.manifest.objects[name]
    assert entry.state == "done", (name, entry.error)
    types = {f["name"]: f["type"] for f in snapshot.schema_document(name)["fields"]}
    ours = {row["Id"]: row for row in snapshot.read(name).to_pylist()}
    assert expected, f"the emulator holds {name} rows"
    assert set(ours) == set(expected), name
    assert entry.rows == len(expected)
    for record_id, record in expected.items():
        for field in entry.fields:
            want = expected_value(types[field], record[field])
            got = normalise(ours[record_id][field])
            if types[field] == "string" and isinstance(record[field], int | float):
                want, got = Decimal(str(record[field])), Decimal(str(got))  # a number kept as text
            assert got == want, f"{name}.{field} of {record_id}: {got!r} != {want!r}"


def assert_big_rows_equal(repo: Path, sf: Salesforce, name: str) -> None:
    """A big object's rows equal simple-salesforce's plain read of it: every row answers the empty
    Id, as on a real org, so the rows are compared as a multiset of their values."""
    snapshot = Repository.open(repo).snapshot("latest")
    entry = snapshot.manifest.objects[name]
    assert entry.state == "done", (name, entry.error)
    types = {f["name"]: f["type"] for f in snapshot.schema_document(name)["fields"]}
    records = sf.query_all(f"SELECT {', '.join(entry.fields)} FROM {name}")["records"]
    want = sorted(repr(tuple(expected_value(types[f], r[f]) for f in entry.fields)) for r in records)
    got = sorted(repr(tuple(normalise(r[f]) for f in entry.fields)) for r in snapshot.read(name).to_pylist())
    assert records and entry.rows == len(records) and got == want, name
    assert {r["Id"] for r in records} == {"000000000000000AAA"}


def fields_of(repo: Path, name: str) -> list[str]:
    return list(Repository.open(repo).snapshot("latest").manifest.objects[name].fields)


@pytest.mark.parametrize("name", ["KnowledgeArticleVersion", "FAQ__kav"])
def test_given_knowledge_when_run_then_one_query_per_publish_status_and_language_reads_every_version(
    enterprise: RunningEmulator, quirks_repo: Path, name: str
) -> None:
    sf = independent(enterprise)
    languages = ["en_US", "fr"] if name.endswith("__kav") else [None]
    wheres = [f"PublishStatus = '{s}'" + (f" AND Language = '{lang}'" if lang else "")
              for s in ("Online", "Draft", "Archived") for lang in languages]  # fmt: skip
    assert_rows_equal(quirks_repo, name, theirs(sf, name, fields_of(quirks_repo, name), wheres))


@pytest.mark.parametrize(
    ("name", "field", "parent", "equals_only"),
    [
        ("Vote", "ParentId", "Idea", True),
        ("IdeaComment", "IdeaId", "Idea", False),
        ("ContentFolderItem", "ParentContentFolderId", "ContentFolder", False),
        ("ContentFolderMember", "ParentContentFolderId", "ContentFolder", True),
        ("ContentDocumentLink", "ContentDocumentId", "ContentDocument", False),
        ("Task", "OwnerId", "User", False),  # OPERATION_TOO_LARGE without a record-Id filter
        ("Event", "OwnerId", "User", False),
    ],
)
def test_given_parent_filtered_object_when_run_then_parent_id_batches_read_every_row(
    enterprise: RunningEmulator, quirks_repo: Path, name: str, field: str, parent: str, equals_only: bool
) -> None:
    sf = independent(enterprise)
    parents = ids_of(sf, parent)
    wheres = [f"{field} = '{p}'" for p in parents] if equals_only else [f"{field} IN ({quoted(parents)})"]
    assert_rows_equal(quirks_repo, name, theirs(sf, name, fields_of(quirks_repo, name), wheres))


@pytest.mark.parametrize("name", ["FieldHistoryArchive", "Shipment_Log__b"])
def test_given_big_object_when_run_then_read_unfiltered_without_count_or_query_all(
    enterprise: RunningEmulator, quirks_repo: Path, name: str
) -> None:
    entry = Repository.open(quirks_repo).snapshot("latest").manifest.objects[name]
    assert entry.operation == "query" and entry.extra["read"]["cut_in_soql"] is False
    assert_big_rows_equal(quirks_repo, independent(enterprise), name)


@pytest.mark.parametrize("name", ["LoginHistory", "Telemetry_Event__c", "ActivityFieldHistory", "Wide_Survey__c"])
def test_given_count_timeout_or_unfilterable_or_wide_object_when_run_then_rows_equal_a_plain_read(
    enterprise: RunningEmulator, quirks_repo: Path, name: str
) -> None:
    sf = independent(enterprise)
    assert_rows_equal(quirks_repo, name, theirs(sf, name, fields_of(quirks_repo, name), [""]))


def test_given_object_too_complicated_to_select_whole_when_run_then_field_chunks_merge_by_id(
    enterprise: RunningEmulator, quirks_repo: Path
) -> None:
    name = "Wide_Formula__c"
    fields = fields_of(quirks_repo, name)
    sf = independent(enterprise)
    halves = [fields[: len(fields) // 2], ["Id", *fields[len(fields) // 2 :]]]
    merged: dict[str, Any] = {}
    for half in halves:
        for record_id, record in theirs(sf, name, half, [""]).items():
            merged.setdefault(record_id, {}).update(record)
    assert len(fields) > 500
    assert_rows_equal(quirks_repo, name, merged)


def test_given_numbers_beyond_their_describe_when_run_then_kept_as_text_exactly(
    enterprise: RunningEmulator, quirks_repo: Path
) -> None:
    name = "Legacy_Import__c"
    entry = Repository.open(quirks_repo).snapshot("latest").manifest.objects[name]
    assert entry.extra["text_fields"] == ["Revenue__c"]
    sf = independent(enterprise)
    assert_rows_equal(quirks_repo, name, theirs(sf, name, entry.fields, [""]))


BINARY_OBJECTS = {"QuoteDocument": "Document", "EventLogFile": "LogFile", "StaticResource": "Body"}


@pytest.fixture(scope="module")
def binaries_repo(enterprise: RunningEmulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("binaries") / "repo"
    with pytest.MonkeyPatch.context() as mp:
        for key, value in emulator_env(enterprise).items():
            mp.setenv(key, value)
        objects = ",".join([*BINARY_OBJECTS, "Field_Report__c"])
        assert run(enterprise, repo, "--objects", objects, "--no-verify") == ExitCode.OK
    return repo


def body_sha256(sf: Salesforce, path: str) -> str:
    response = sf.session.get(f"https://{sf.sf_instance}{path}", headers=sf.headers)
    assert response.status_code == 200, response.text
    return hashlib.sha256(response.content).hexdigest()


def binaries_index(repo: Path, name: str) -> list[dict[str, Any]]:
    snapshot = Repository.open(repo).snapshot("latest")
    saved = snapshot.manifest.objects[name].extra["binaries"]
    assert saved["failed"] == []
    return pq.read_table(snapshot.resolve(saved["index_path"])).to_pylist()  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", sorted(BINARY_OBJECTS))
def test_given_base64_fields_beyond_file_objects_when_run_then_every_body_is_in_the_blob_store(
    enterprise: RunningEmulator, binaries_repo: Path, name: str
) -> None:
    field = BINARY_OBJECTS[name]
    sf = independent(enterprise)
    records = sf.query_all(f"SELECT Id, {field} FROM {name}", include_deleted=True)["records"]
    want = {r["Id"]: body_sha256(sf, r[field]) for r in records if r[field]}
    index = binaries_index(binaries_repo, name)
    got = {r["Id"]: r["sha256"] for r in index if r["Field"] == field and r["status"] == "downloaded"}
    assert want and got == want
    blobs = Repository.open(binaries_repo).blobs
    for digest in got.values():
        assert hashlib.sha256(blobs.path(digest).read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("name", ["QuoteDocument", "StaticResource"])  # without / with a length field
def test_given_a_base64_body_missing_from_the_binaries_index_when_verify_against_org_then_it_fails_naming_it(
    enterprise: RunningEmulator, binaries_repo: Path, env: None, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], name: str,
) -> None:
    field = BINARY_OBJECTS[name]
    args = ["verify", "--instance-url", enterprise.instance_url, "--against-org", "--json"]
    capsys.readouterr()
    assert main([*args, "--repo", str(binaries_repo)]) == ExitCode.OK  # every body: nothing to say
    assert "org_bodies_mismatch" not in capsys.readouterr().out
    drop_one_body(binaries_repo, tmp_path / "copy", name, field)
    assert main([*args, "--repo", str(tmp_path / "copy")]) == ExitCode.VERIFICATION_FAILED
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    [found] = [f for f in result["findings"] if f["kind"] == "org_bodies_mismatch"]
    assert found["object"] == name and f"{name}.{field}" in found["explanation"], found
    assert found["expected"] == found["actual"] + 1 and not result["verdict"]["safe"]
    assert [f["kind"] for f in result["findings"] if f["severity"] == "error"] == ["org_bodies_mismatch"]


def test_given_rich_text_images_when_run_then_each_is_indexed_by_record_field_and_refid(
    enterprise: RunningEmulator, binaries_repo: Path
) -> None:
    sf = independent(enterprise)
    want: dict[tuple[str, str], str] = {}
    for record in sf.query_all("SELECT Id, Summary__c FROM Field_Report__c")["records"]:
        for refid in re.findall(r"refid=(0EM[A-Za-z0-9]+)", record["Summary__c"] or ""):
            path = f"/services/data/v{sf.sf_version}/sobjects/Field_Report__c/{record['Id']}/richTextImageFields/Summary__c/{refid}"
            want[(record["Id"], refid)] = body_sha256(sf, path)
    index = binaries_index(binaries_repo, "Field_Report__c")
    got = {(r["Id"], r["RefId"]): r["sha256"] for r in index if r["Field"] == "Summary__c"}
    assert len(want) > 5 and got == want
    blobs = Repository.open(binaries_repo).blobs
    assert all(blobs.path(d).read_bytes().startswith(b"\x89PNG") for d in got.values())


def test_given_a_damaged_binary_when_verify_read_data_then_it_fails_naming_it(
    enterprise: RunningEmulator, binaries_repo: Path, env: None, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = tmp_path / "copy"
    shutil.copytree(binaries_repo, repo)
    [first, *_] = binaries_index(repo, "StaticResource")
    path = Repository.open(repo).blobs.path(first["sha256"])
    path.chmod(0o644)
    path.write_bytes(b"x" * first["Size"])
    code = main(["verify", "--repo", str(repo), "--read-data", "--json"])
    out = capsys.readouterr().out
    assert code == ExitCode.VERIFICATION_FAILED
    assert "blob_checksum_mismatch" in out and "StaticResource" in out


def test_given_a_binaries_index_edited_so_its_count_still_matches_when_verify_then_index_mismatch(
    enterprise: RunningEmulator, binaries_repo: Path, env: None, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = tmp_path / "copy"
    shutil.copytree(binaries_repo, repo)
    snapshot = Repository.open(repo).snapshot("latest")
    path = snapshot.resolve(snapshot.manifest.objects["Field_Report__c"].extra["binaries"]["index_path"])
    rows = pq.read_table(path).to_pylist()
    assert len({r["sha256"] for r in rows}) > 1
    rows[0]["sha256"], rows[-1]["sha256"] = rows[-1]["sha256"], rows[0]["sha256"]  # both blobs still stored
    path.chmod(0o644)
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(path)), path)
    code = main(["verify", "--repo", str(repo), "--json"])
    out = capsys.readouterr().out
    assert code == ExitCode.VERIFICATION_FAILED
    assert "index_mismatch" in out and "the binaries index of Field_Report__c has SHA-256" in out


def test_given_bulk_refusing_or_failing_past_the_bulk_threshold_when_verify_ids_then_rest_fallback_as_export(
    enterprise: RunningEmulator, env: None, repo_dir: Path
) -> None:
    # Attachment: Bulk answers INVALIDENTITY; Shipment_Log__b and Vote: read with a strategy.
    objects = "Attachment,Account,Shipment_Log__b,Vote,Idea,LoginHistory"
    assert run(enterprise, repo_dir, "--objects", objects, "--no-verify") == ExitCode.OK
    settings = load_settings(None, env=dict(os.environ),
                             overrides={"connection.instance_url": enterprise.instance_url})  # fmt: skip
    # and every Bulk job ends Failed (as INVALIDENTITY does on a real org, in the job, not at its creation)
    enterprise.faults.add_rule("bulk_failed", path_pattern="/jobs/query", times=1000)
    try:
        result = verify_snapshot(
            repo_dir, "latest", against_org=True, ids=True, bulk_id_threshold=1,
            client_factory=lambda: SalesforceClient(settings.connection),
        )  # fmt: skip
    finally:
        enterprise.faults.clear()
    assert not result.failures, [f.explanation for f in result.failures]
    compared = {row["object"]: row["ids_compared"] for row in result.report["objects"]}
    assert all(compared[name] for name in objects.split(",")), compared


def test_given_query_timeout_on_an_object_without_created_date_when_verify_ids_then_read_in_date_ranges(
    enterprise: RunningEmulator, env: None, repo_dir: Path
) -> None:
    # AccountShare has LastModifiedDate but neither CreatedDate nor SystemModstamp: the Id listing
    # that times out is read in LastModifiedDate ranges (it was split on CreatedDate: INVALID_FIELD).
    assert run(enterprise, repo_dir, "--objects", "AccountShare", "--no-verify") == ExitCode.OK
    settings = load_settings(None, env=dict(os.environ),
                             overrides={"connection.instance_url": enterprise.instance_url})  # fmt: skip
    before = enterprise.faults.injected["query_timeout"]
    enterprise.faults.add_rule("query_timeout", path_pattern="/query", times=1)
    try:
        result = verify_snapshot(repo_dir, "latest", against_org=True, ids=True,
                                 client_factory=lambda: SalesforceClient(settings.connection))  # fmt: skip
    finally:
        enterprise.faults.clear()
    assert enterprise.faults.injected["query_timeout"] - before == 1
    assert not result.failures, [f.explanation for f in result.failures]


#: Setup objects that used to end blocked, each now read the one way Salesforce serves it.
SETUP_READ = ("DataStatistics", "FlexQueueItem", "FieldDefinition", "EntityParticle", "PicklistValueInfo",
              "EntityDefinition", "SearchLayout", "OwnerChangeOptionInfo", "RelationshipDomain",
              "RelationshipInfo")  # fmt: skip

ENTERPRISE_FAULTS = {"http_500": 0.01, "http_503": 0.01, "drop": 0.005, "truncate": 0.005,
                     "bulk_failed": 0.2, "query_timeout": 0.05, "session_expiry": 0.005}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("faults", "seed"), [(None, 0), *((ENTERPRISE_FAULTS, seed) for seed in (5, 6, 7, 8))],
                         ids=["clean", "faults-5", "faults-6", "faults-7", "faults-8"])  # fmt: skip
def test_given_enterprise_org_when_run_objects_all_then_every_object_exported_or_explained_and_verify_passes(
    tmp_path: Path, faults: dict[str, float] | None, seed: int
) -> None:
    with running_emulator(records=30, org_shape="enterprise", operation_too_large=True, large_file_bytes=0,
                          job_latency=0.02) as emu:  # fmt: skip
        c = emu.credentials
        env = {"SF_USERNAME": c.username, "SF_PASSWORD": c.password, "SF_SECURITY_TOKEN": c.security_token}
        settings = load_settings(None, env=env, overrides={
            "connection.instance_url": emu.instance_url, "backup.objects": "all",
            "backup.verify_after_run": False,
        })  # fmt: skip
        client = SalesforceClient(settings.connection, sleep=lambda seconds: None)
        if faults:
            # seed 6 failed Shipment_Log__b (its every read timed out) before big objects were split
            # by index prefix
            emu.faults.configure(FaultConfig(rates=dict(faults), seed=seed))
        result = run_backup(settings, tmp_path / "repo", client=client)
        resumed = 0
        while faults and result.exit_code == ExitCode.INCOMPLETE and resumed < 2:
            # an object whose every read timed out (a big object cannot be read in date ranges)
            # failed alone; `run --resume` retries only what did not finish
            resumed += 1
            result = run_backup(settings, tmp_path / "repo", client=client, resume=True)
        assert result.exit_code == ExitCode.OK, result.problem
        verified = verify_snapshot(tmp_path / "repo", "latest", read_data=True, against_org=True, ids=True,
                                   client=client)  # fmt: skip
        emu.faults.clear()
        assert verified.passed, [f.explanation for f in verified.failures]
        manifest = Repository.open(tmp_path / "repo").snapshot("latest").manifest
        listed = {s["name"] for s in emu.org.describe_global()["sobjects"]}
        assert {c.object for c in manifest.coverage} == listed  # every object accounted for
        for name, entry in manifest.objects.items():
            assert entry.state in ("done", "skipped"), (name, entry.error)
            if entry.state == "skipped":
                assert entry.error is not None and entry.error.kind in ("unsupported", "blocked", "derived"), name
        blocked = sorted(n for n, e in manifest.objects.items() if e.error and e.error.kind == "blocked")
        # every setup object Salesforce serves one documented way is read that way; none is blocked
        assert not set(blocked) & set(SETUP_READ), blocked
        assert all(manifest.objects[name].state == "done" and manifest.objects[name].rows for name in SETUP_READ)
        statuses = {row["object"]: row["status"] for row in verified.report["coverage"]}
        assert all(statuses[name] == "blocked" for name in blocked), statuses
        # UserRecordAccess stores no data: derived from the sharing objects, all in the snapshot
        # UserEntityAccess / UserFieldAccess: from the profiles and permission sets, all in it too
        for name in ("UserRecordAccess", "UserEntityAccess", "UserFieldAccess"):
            assert statuses[name] == "derived"
            derived = [f for f in verified.findings if f.object == name]
            assert [(f.kind, f.severity) for f in derived] == [("object_derived", "info")], name
        assert statuses["AggregateResult"] == "not_exportable"  # "does not support query": no API reads it
        if faults:
            assert sum(emu.faults.injected.values()) > 20


def test_given_a_record_vanishing_between_two_field_chunks_when_run_then_it_is_kept_not_dropped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with running_emulator(records=30, org_shape="enterprise", large_file_bytes=0) as emu:
        for key, value in emulator_env(emu).items():
            monkeypatch.setenv(key, value)
        victim = emu.org.query("SELECT Id FROM Wide_Formula__c", include_deleted=False, api="rest")
        victim_id = victim.rest_records(0, 1)[0]["Id"]
        real_get_json = SalesforceClient.get_json
        chunks_read: list[str] = []

        def get_json(self: SalesforceClient, path: str, **kw: Any) -> Any:
            body = real_get_json(self, path, **kw)
            query = str((kw.get("params") or {}).get("q", ""))
            if "FROM Wide_Formula__c" in query and "COUNT()" not in query:
                chunks_read.append(query)
                if len(chunks_read) == 1:  # the first chunk was read: the record is purged
                    emu.org.purge("Wide_Formula__c", victim_id)
            return body

        monkeypatch.setattr(SalesforceClient, "get_json", get_json)
        code = run(emu, tmp_path / "repo", "--objects", "Wide_Formula__c", "--no-files", "--no-verify")
    assert code == ExitCode.OK
    assert len(chunks_read) >= 3  # chunk 1, chunk 2, then the victim read again by Id
    snapshot = Repository.open(tmp_path / "repo").snapshot("latest")
    entry = snapshot.manifest.objects["Wide_Formula__c"]
    rows = {r["Id"]: r for r in snapshot.read("Wide_Formula__c").to_pylist()}
    assert victim_id in rows and entry.rows == 4
    assert any("left the org between two chunk reads" in note for note in entry.extra["notes"])
    second_half = entry.fields[len(entry.fields) // 2 + 1]
    assert rows[victim_id]["Name"] is not None and rows[victim_id][second_half] is None


def test_given_binaries_when_snapshot_uploaded_or_pruned_then_their_blobs_reach_the_bucket_and_stay(
    enterprise: RunningEmulator, binaries_repo: Path, env: None, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = tmp_path / "copy"
    shutil.copytree(binaries_repo, repo)
    assert main(["verify", "--repo", str(repo), "--instance-url", enterprise.instance_url,
                 "--read-data", "--against-org", "--json"]) == ExitCode.OK  # fmt: skip
    with running_s3(set_env=False) as s3:
        set_test_credentials(monkeypatch)
        s3.create_bucket("binaries")
        upload_snapshot(repo, "latest", s3.settings("binaries", "p"))
        keys = set(s3.keys("binaries", "p/"))
    digests = [r["sha256"] for name in [*BINARY_OBJECTS, "Field_Report__c"] for r in binaries_index(repo, name)]
    assert digests and all(f"p/blobs/sha256/{d[:2]}/{d}" in keys for d in digests)
    assert main(["prune", "--repo", str(repo)]) == ExitCode.OK  # the binaries index keeps them
    blobs = Repository.open(repo).blobs
    assert all(blobs.has(d) for d in digests)


def test_given_one_file_objects_metadata_refused_when_run_then_it_alone_fails_and_exit_3_names_it(
    enterprise: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = enterprise.credentials
    env = {"SF_USERNAME": c.username, "SF_PASSWORD": c.password, "SF_SECURITY_TOKEN": c.security_token}
    settings = load_settings(None, env=env, overrides={
        "connection.instance_url": enterprise.instance_url, "backup.objects": "ContentVersion,Attachment",
        "backup.verify_after_run": False, "backup.metadata": False,
    })  # fmt: skip
    real_get_json = SalesforceClient.get_json

    def get_json(self: SalesforceClient, path: str, **kw: Any) -> Any:
        if "FROM ContentDocumentLink" in str((kw.get("params") or {}).get("q", "")):
            # Salesforce times out every ContentVersion owners query, however small the batch (the
            # emulator's own timeouts spare selective and small queries, so the refusal is made here)
            raise SalesforceError(f"GET {path}: QUERY_TIMEOUT: Your query request was running for too long.",
                                  error_code="QUERY_TIMEOUT", status=400)  # fmt: skip
        return real_get_json(self, path, **kw)

    monkeypatch.setattr(SalesforceClient, "get_json", get_json)
    try:
        result = run_backup(settings, tmp_path / "repo",
                            client=SalesforceClient(settings.connection, sleep=lambda s: None))  # fmt: skip
    finally:
        enterprise.faults.clear()
    assert result.exit_code == ExitCode.INCOMPLETE, result.problem
    assert result.problem is not None
    assert result.problem.message.endswith("files missing or failed: ContentVersion"), manifest_files(tmp_path)
    manifest = Repository.open(tmp_path / "repo").snapshot("latest").manifest
    assert manifest.state == "incomplete" and manifest.objects["ContentVersion"].state == "done"
    [failed] = manifest.files["ContentVersion"].failed
    assert "QUERY_TIMEOUT" in failed["reason"]
    attachments = manifest.files["Attachment"]  # the other file object still saved its bodies
    assert attachments.count == attachments.downloaded > 0 and not attachments.failed


def manifest_files(tmp_path: Path) -> Any:
    return {n: e.to_dict() for n, e in Repository.open(tmp_path / "repo").snapshot("latest").manifest.files.items()}


def test_given_an_earlier_snapshot_when_run_again_then_unchanged_binaries_are_not_downloaded_again(
    enterprise: RunningEmulator, binaries_repo: Path, env: None, tmp_path: Path
) -> None:
    repo = tmp_path / "copy"
    shutil.copytree(binaries_repo, repo)
    first = Repository.open(repo).snapshot("latest")
    sf = independent(enterprise)
    record = sf.query("SELECT Id FROM StaticResource ORDER BY Id LIMIT 1")["records"][0]
    sf.StaticResource.update(record["Id"], {"CacheControl": "Private"})  # its SystemModstamp moves
    objects = ",".join([*BINARY_OBJECTS, "Field_Report__c"])
    assert run(enterprise, repo, "--objects", objects) == ExitCode.OK  # and verified against the org
    second = Repository.open(repo).snapshot("latest")
    assert second.id != first.id and second.manifest.state == "complete"
    for name in [*BINARY_OBJECTS, "Field_Report__c"]:
        before = {(r["Id"], r["Field"], r["RefId"]): r["sha256"] for r in binaries_index(binaries_repo, name)}
        after = binaries_index(repo, name)
        assert {(r["Id"], r["Field"], r["RefId"]): r["sha256"] for r in after} == before, name
        changed = {r["Id"] for r in after if r["status"] == "downloaded"}
        assert changed == ({record["Id"]} if name == "StaticResource" else set()), name
        # one page of rows and a call per body that changed (describe and COUNT() rode in the
        # run's composite planning calls)
        assert second.manifest.objects[name].api_calls == 1 + len(changed), name


def test_given_a_session_expiring_again_on_the_retried_call_when_querying_then_logged_in_again_twice(
    enterprise: RunningEmulator,
) -> None:
    c = enterprise.credentials
    env = {"SF_USERNAME": c.username, "SF_PASSWORD": c.password, "SF_SECURITY_TOKEN": c.security_token}
    settings = load_settings(None, env=env, overrides={"connection.instance_url": enterprise.instance_url})
    client = SalesforceClient(settings.connection, sleep=lambda s: None)
    first = client.access_token
    before = enterprise.faults.injected["session_expiry"]
    # the call's session expires, and the fresh one expires too before the retried call is served
    enterprise.faults.add_rule("session_expiry", r"/query", times=2)
    try:
        pages = list(query_rest.iter_query_pages(client, "SELECT Id FROM Account", include_deleted=False))
    finally:
        enterprise.faults.clear()
    assert enterprise.faults.injected["session_expiry"] == before + 2
    assert sum(map(len, pages)) == len(ids_of(independent(enterprise), "Account")) > 0
    assert client.access_token != first


def test_given_a_parent_batch_query_timing_out_where_no_date_range_is_allowed_when_verify_ids_then_halved(
    enterprise: RunningEmulator, env: None, repo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ContentDocumentLink refuses a date condition beside ContentDocumentId IN (...): a batch that
    # times out is read in two halves instead.
    assert run(enterprise, repo_dir, "--objects", "ContentDocumentLink", "--no-files", "--no-verify") == ExitCode.OK
    settings = load_settings(None, env=dict(os.environ),
                             overrides={"connection.instance_url": enterprise.instance_url})  # fmt: skip
    before = enterprise.faults.injected["query_timeout"]
    real_get_json = SalesforceClient.get_json
    batches: list[str] = []

    def get_json(self: SalesforceClient, path: str, **kw: Any) -> Any:
        query = str((kw.get("params") or {}).get("q", ""))
        if "FROM ContentDocumentLink WHERE ContentDocumentId IN" in query:
            batches.append(query)
            if len(batches) == 1:  # the emulator times out the first, whole batch
                enterprise.faults.add_rule("query_timeout", path_pattern="/query", times=1)
        return real_get_json(self, path, **kw)

    monkeypatch.setattr(SalesforceClient, "get_json", get_json)
    try:
        result = verify_snapshot(repo_dir, "latest", against_org=True, ids=True,
                                 client_factory=lambda: SalesforceClient(settings.connection))  # fmt: skip
    finally:
        enterprise.faults.clear()
    assert enterprise.faults.injected["query_timeout"] == before + 1
    assert len(batches) == 3  # the whole batch, then its two halves
    assert not result.failures, [f.explanation for f in result.failures]


@pytest.mark.parametrize("name", ["FieldHistoryArchive", "Shipment_Log__b"])
def test_given_big_object_reads_timing_out_when_run_and_verify_ids_then_split_by_index_prefix(
    enterprise: RunningEmulator, env: None, repo_dir: Path, name: str
) -> None:
    # Every read the emulator does not find selective times out (a big object's read is selective
    # when it reads under 30% of its rows off the index): the export and verify --ids split the read
    # by index prefix (ranges on the first index field, then `first = value` and ranges on the next);
    # before, the object failed (exit 3) and verify reported org_query_failed.
    before = enterprise.faults.injected["query_timeout"]
    enterprise.faults.add_rule("query_timeout", path_pattern="/query", times=10_000)
    try:
        code = run(enterprise, repo_dir, "--objects", name, "--no-files", "--no-verify")
        settings = load_settings(None, env=dict(os.environ),
                                 overrides={"connection.instance_url": enterprise.instance_url})  # fmt: skip
        result = verify_snapshot(repo_dir, "latest", against_org=True, ids=True,
                                 client_factory=lambda: SalesforceClient(settings.connection))  # fmt: skip
    finally:
        enterprise.faults.clear()
    assert code == ExitCode.OK
    assert enterprise.faults.injected["query_timeout"] - before >= 2  # the export's and verify's reads
    assert not result.failures, [f.explanation for f in result.failures]
    entry = Repository.open(repo_dir).snapshot("latest").manifest.objects[name]
    index = {"FieldHistoryArchive": ["FieldHistoryType", "ParentId", "CreatedDate"],
             "Shipment_Log__b": ["Account__c", "Logged_At__c"]}[name]  # fmt: skip
    assert [f["name"] for f in entry.extra["read"]["index"]] == index  # documented / from the metadata
    assert_big_rows_equal(repo_dir, independent(enterprise), name)


def test_given_big_object_filters_off_the_index_order_when_queried_then_the_emulator_refuses_them(
    enterprise: RunningEmulator,
) -> None:
    sf = independent(enterprise)
    some_id = "001000000000000"
    accepted = [f"Account__c > '{some_id}'", f"Account__c > '{some_id}' AND Account__c < 'zzzzzzzzzzzzzzz'",
                f"Account__c = '{some_id}' AND Logged_At__c >= 2020-01-01T00:00:00Z"]  # fmt: skip
    refused = ["Logged_At__c >= 2020-01-01T00:00:00Z", f"Account__c > '{some_id}' AND Logged_At__c >= 2020-01-01T00:00:00Z",
               f"Account__c != '{some_id}'", "CreatedDate < 2030-01-01T00:00:00Z",
               f"Account__c IN ('{some_id}', '001000000000001') AND Logged_At__c IN (2020-01-01T00:00:00Z, "
               "2021-01-01T00:00:00Z)",  # IN only once
               "Account__c IN (SELECT Id FROM Account)"]  # fmt: skip
    accepted.append(f"Account__c IN ('{some_id}') AND Logged_At__c IN (2020-01-01T00:00:00Z, 2021-01-01T00:00:00Z)")
    for where in accepted:
        sf.query(f"SELECT Status__c FROM Shipment_Log__b WHERE {where}")
    for where in refused:
        with pytest.raises(Exception, match="BIG_OBJECT_UNSUPPORTED_OPERATION"):
            sf.query(f"SELECT Status__c FROM Shipment_Log__b WHERE {where}")


def test_given_a_big_object_answering_empty_ids_when_read_then_no_row_is_dropped_as_a_duplicate(
    enterprise: RunningEmulator, env: None
) -> None:
    # Salesforce answers Id 000000000000000AAA for every big object row (SOQL and SOSL Reference,
    # "SOQL with Big Objects"), and so does the emulator. Rows were de-duplicated by Id after every
    # read: all but one were dropped.
    from sfbackup.salesforce.partitions import ReadPlan, iter_pages

    settings = load_settings(None, env=dict(os.environ),
                             overrides={"connection.instance_url": enterprise.instance_url})  # fmt: skip
    plan = ReadPlan("big object", cut_in_soql=False, countable=False, query_all=False)
    rows = [r for page in iter_pages(SalesforceClient(settings.connection), "Shipment_Log__b",
                                     ["Id", "Account__c", "Logged_At__c"], plan, None, include_deleted=False)
            for r in page]  # fmt: skip
    assert len(rows) == 25 and {r["Id"] for r in rows} == {"000000000000000AAA"}


def test_given_a_big_object_answering_empty_ids_when_verify_ids_then_rows_are_compared_by_their_index(
    enterprise: RunningEmulator, env: None, repo_dir: Path
) -> None:
    # With every row answering Id 000000000000000AAA, the Id sets of the org and the backup were one
    # Id each: a row the backup lacks passed verify --ids. The index is the big object's key.
    assert run(enterprise, repo_dir, "--objects", "Shipment_Log__b", "--no-files", "--no-verify") == ExitCode.OK
    assert Repository.open(repo_dir).snapshot("latest").manifest.objects["Shipment_Log__b"].rows == 25
    settings = load_settings(None, env=dict(os.environ),
                             overrides={"connection.instance_url": enterprise.instance_url})  # fmt: skip

    def verify() -> Any:
        return verify_snapshot(repo_dir, "latest", against_org=True, ids=True,
                               client_factory=lambda: SalesforceClient(settings.connection))  # fmt: skip

    assert not verify().failures
    account = independent(enterprise).query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    late = enterprise.org.create("Shipment_Log__b", {"Account__c": account, "Logged_At__c": "2021-06-01T00:00:00.000Z",
                                                     "Status__c": "Lost", "CreatedDate": "2021-06-01T00:00:00.000Z"})  # fmt: skip
    try:
        [missing] = [f for f in verify().failures if f.kind == "missing_ids"]
        assert missing.object == "Shipment_Log__b" and "2021-06-01T00:00:00.000Z" in missing.explanation
    finally:
        enterprise.org.purge("Shipment_Log__b", late)


def test_given_a_user_without_the_metadata_api_when_a_big_object_is_run_then_read_whole_and_the_index_gap_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The restricted user is refused the Metadata API (INSUFFICIENT_ACCESS): the custom big object's
    # index is unknown, its read is not split, and the manifest says why (the run goes on).
    with running_emulator(records=12, org_shape="enterprise", large_file_bytes=0, job_latency=0.02,
                          user="restricted") as emu:  # fmt: skip
        for key, value in emulator_env(emu).items():
            monkeypatch.setenv(key, value)
        assert run(emu, tmp_path / "repo", "--objects", "Shipment_Log__b", "--no-files", "--no-verify") == ExitCode.OK
        entry = Repository.open(tmp_path / "repo").snapshot("latest").manifest.objects["Shipment_Log__b"]
        assert entry.state == "done" and entry.rows > 0 and "index" not in entry.extra["read"]
        assert "its index is unknown" in entry.extra["read"]["reason"]
        assert "INSUFFICIENT_ACCESS" in entry.extra["read"]["reason"]
        # verify cannot tell its rows apart (every one answers the empty Id): it counts them
        settings = load_settings(None, env=dict(os.environ), overrides={"connection.instance_url": emu.instance_url})
        account = emu.org.query("SELECT Id FROM Account", include_deleted=False, api="rest").rest_records(0, 1)[0]["Id"]
        emu.org.create("Shipment_Log__b", {"Account__c": account, "Logged_At__c": "2021-06-01T00:00:00.000Z",
                                           "CreatedDate": "2021-06-01T00:00:00.000Z"})  # fmt: skip
        result = verify_snapshot(tmp_path / "repo", "latest", against_org=True, ids=True,
                                 client_factory=lambda: SalesforceClient(settings.connection))  # fmt: skip
    mine = {f.kind: f for f in result.findings if f.object == "Shipment_Log__b"}
    assert "index is unknown" in mine["count_unavailable"].explanation
    assert mine["org_count_mismatch"].expected == entry.rows + 1  # the row the backup lacks


@pytest.mark.parametrize("name", ["LoginHistory", "RecentlyViewed"])  # 60 rows / none
def test_given_an_object_without_dates_timing_out_when_run_and_verify_ids_then_read_in_id_ranges(
    enterprise: RunningEmulator, env: None, repo_dir: Path, name: str
) -> None:
    # Neither has CreatedDate, SystemModstamp or LastModifiedDate to read in ranges: a read that
    # timed out failed the object (until `--resume`), and verify's Id listing was org_query_failed
    # (faults seed 6 of the end-to-end run, on RecentlyViewed). Both read in Id ranges now (the lowest
    # and highest Id, the range between them halved). Bulk fails, so the export reads through REST.
    enterprise.faults.add_rule("bulk_failed", path_pattern="/jobs/query", times=10_000)
    enterprise.faults.add_rule("query_timeout", path_pattern="/query", times=10_000)
    before = enterprise.faults.injected["query_timeout"]
    try:
        code = run(enterprise, repo_dir, "--objects", name, "--no-files", "--no-verify")
        settings = load_settings(None, env=dict(os.environ),
                                 overrides={"connection.instance_url": enterprise.instance_url})  # fmt: skip
        result = verify_snapshot(repo_dir, "latest", against_org=True, ids=True,
                                 client_factory=lambda: SalesforceClient(settings.connection))  # fmt: skip
    finally:
        enterprise.faults.clear()
    assert code == ExitCode.OK
    assert enterprise.faults.injected["query_timeout"] - before >= 2
    assert not result.failures, [f.explanation for f in result.failures]
    assert result.report["objects"][0]["ids_compared"]
    entry = Repository.open(repo_dir).snapshot("latest").manifest.objects[name]
    if name == "LoginHistory":
        sf = independent(enterprise)
        assert_rows_equal(repo_dir, name, theirs(sf, name, list(entry.fields), [""], deleted=False))
