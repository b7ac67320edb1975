"""Setup objects of the enterprise-shaped org that Salesforce serves only one way (docs/coverage.md):
DataStatistics and FlexQueueItem (a picklist filter), EntityDefinition (no queryMore: LIMIT batches),
FieldDefinition, EntityParticle and PicklistValueInfo (a filter on their entity's key), RelationshipDomain
and RelationshipInfo (by their child entity's key, the column their refusal names), and
UserRecordAccess (computed from sharing: derived coverage). Each is exported through the CLI and its
rows (keys and every value) equal a separate simple-salesforce reading with the right filters; the
module's snapshot then passes `verify --read-data --against-org --ids`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce

from sfbackup.cli import main
from sfbackup.emulator.http.faults import FaultConfig
from sfbackup.errors import ExitCode
from sfbackup.repository import Repository
from sfbackup.testing import RunningEmulator, running_emulator
from tests.conftest import emulator_env
from tests.integration.test_enterprise_backup import independent, run, theirs
from tests.integration.test_run_cli import expected_value, normalise

SETUP_OBJECTS = ("DataStatistics", "FlexQueueItem", "EntityDefinition", "FieldDefinition", "EntityParticle",
                 "PicklistValueInfo", "SearchLayout", "OwnerChangeOptionInfo", "RelationshipDomain",
                 "RelationshipInfo")  # fmt: skip


@pytest.fixture(scope="module")
def enterprise() -> Iterator[RunningEmulator]:
    with running_emulator(records=30, org_shape="enterprise", large_file_bytes=0) as running:
        yield running


def verify_ids(emu: RunningEmulator, repo: Path, capsys: pytest.CaptureFixture[str] | None = None) -> dict[str, Any]:
    code = main(["verify", "--repo", str(repo), "--instance-url", emu.instance_url, "--read-data",
                 "--against-org", "--ids", "--json"])  # fmt: skip
    result: dict[str, Any] = {"exit": code}
    if capsys is not None:
        lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        result.update(json.loads(lines[-1]))
    return result


@pytest.fixture(scope="module")
def setup_repo(enterprise: RunningEmulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run over the setup objects (records only), then `verify --read-data --against-org --ids`."""
    repo = tmp_path_factory.mktemp("setup") / "repo"
    with pytest.MonkeyPatch.context() as mp:
        for key, value in emulator_env(enterprise).items():
            mp.setenv(key, value)
        assert run(enterprise, repo, "--objects", ",".join(SETUP_OBJECTS), "--no-files", "--no-verify") == 0
        assert verify_ids(enterprise, repo)["exit"] == ExitCode.OK
    return repo


def assert_rows_equal_by(repo: Path, name: str, expected: dict[str, Any], key: str) -> None:
    """The snapshot's rows of `name`, told apart by `key`, equal `expected` (keys and every value)."""
    snapshot = Repository.open(repo).snapshot("latest")
    entry = snapshot.manifest.objects[name]
    assert entry.state == "done", (name, entry.error)
    types = {f["name"]: f["type"] for f in snapshot.schema_document(name)["fields"]}
    ours = {row[key]: row for row in snapshot.read(name).to_pylist()}
    assert expected, f"the emulator holds {name} rows"
    assert set(ours) == set(expected), name
    assert entry.rows == len(expected)
    for k, record in expected.items():
        for field in entry.fields:
            want, got = expected_value(types[field], record[field]), normalise(ours[k][field])
            assert got == want, f"{name}.{field} of {k}: {got!r} != {want!r}"


def fields_of(repo: Path, name: str) -> list[str]:
    return list(Repository.open(repo).snapshot("latest").manifest.objects[name].fields)


def entry_of(repo: Path, name: str) -> Any:
    return Repository.open(repo).snapshot("latest").manifest.objects[name]


def entities(sf: Salesforce, fields: list[str]) -> dict[str, Any]:
    """Every EntityDefinition row, read without LIMIT batches: each IsQueryable half of the org's
    entities fits in one REST batch, so neither query needs the queryMore EntityDefinition refuses."""
    out: dict[str, Any] = {}
    for flag in ("true", "false"):
        result = sf.query(f"SELECT {', '.join(fields)} FROM EntityDefinition WHERE IsQueryable = {flag}")
        assert result["done"] and len(result["records"]) <= 2000
        for record in result["records"]:
            record.pop("attributes", None)
            out[record["DurableId"]] = record
    return out


def by_key(sf: Salesforce, name: str, fields: list[str], field: str, keys: list[str], key: str) -> dict[str, Any]:
    """simple-salesforce's reading of `name` with `field IN (...)` over `keys`, 100 at a time."""
    out: dict[str, Any] = {}
    for start in range(0, len(keys), 100):
        listed = ",".join("'" + k.replace("'", "\\'") + "'" for k in keys[start : start + 100])
        soql = f"SELECT {', '.join(fields)} FROM {name} WHERE {field} IN ({listed})"
        for record in sf.query_all(soql)["records"]:
            record.pop("attributes", None)
            out[record[key]] = record
    return out


@pytest.mark.parametrize(("name", "field"), [("DataStatistics", "StatType"), ("FlexQueueItem", "JobType")])
def test_given_picklist_filtered_setup_object_when_run_then_one_query_per_picklist_value_reads_every_row(
    enterprise: RunningEmulator, setup_repo: Path, name: str, field: str
) -> None:
    sf = independent(enterprise)
    described = {f["name"]: f for f in getattr(sf, name).describe()["fields"]}
    values = [v["value"] for v in described[field]["picklistValues"]]
    expected = theirs(sf, name, fields_of(setup_repo, name), [f"{field} = '{v}'" for v in values], deleted=False)
    assert_rows_equal_by(setup_repo, name, expected, "Id")
    entry = entry_of(setup_repo, name)
    assert len(entry.extra["read"]["conditions"]) == len(values)
    assert entry.api_calls == len(values)  # one query per value (described in planning; no COUNT(), refused)


def test_given_entity_definition_without_query_more_when_run_then_limit_batches_after_the_last_name_read_all(
    enterprise: RunningEmulator, setup_repo: Path
) -> None:
    name = "EntityDefinition"
    expected = entities(independent(enterprise), fields_of(setup_repo, name))
    assert len(expected) > 2000  # more than one batch: a plain query is refused
    assert_rows_equal_by(setup_repo, name, expected, "DurableId")
    entry = entry_of(setup_repo, name)
    assert entry.extra["read"]["keyset"] == {"key": "QualifiedApiName", "size": 2000}
    assert entry.api_calls == -(-len(expected) // 2000)  # one query per LIMIT batch (described in planning)


@pytest.mark.parametrize(
    ("name", "field", "parent"),
    [
        ("FieldDefinition", "EntityDefinitionId", "EntityDefinition"),
        ("EntityParticle", "EntityDefinitionId", "EntityDefinition"),
        ("PicklistValueInfo", "EntityParticleId", "EntityParticle"),
        # no strategy of their own: read by the reified column their COUNT() refusal names
        ("SearchLayout", "EntityDefinitionId", "EntityDefinition"),
        ("OwnerChangeOptionInfo", "EntityDefinitionId", "EntityDefinition"),
        # the first reified column of their refusal sfbackup can list: every relationship's child entity
        ("RelationshipDomain", "ChildSobjectId", "EntityDefinition"),
        ("RelationshipInfo", "ChildSobjectId", "EntityDefinition"),
    ],
)
def test_given_entity_keyed_setup_object_when_run_then_batches_of_parent_durable_ids_read_every_row(
    enterprise: RunningEmulator, setup_repo: Path, name: str, field: str, parent: str
) -> None:
    sf = independent(enterprise)
    entity_ids = sorted(entities(sf, ["DurableId"]))
    keys = entity_ids
    if parent == "EntityParticle":
        keys = sorted(by_key(sf, parent, ["DurableId"], "EntityDefinitionId", entity_ids, "DurableId"))
    expected = by_key(sf, name, fields_of(setup_repo, name), field, keys, "DurableId")
    # their Ids are all the empty key: only DurableId tells the rows apart
    assert len({record["Id"] for record in expected.values()}) < len(expected) or name != "FieldDefinition"
    assert_rows_equal_by(setup_repo, name, expected, "DurableId")
    entry = entry_of(setup_repo, name)
    read = entry.extra["read"]
    assert (read["parents"]["field"], read["parents"]["key"], read["identity"]) == (field, "DurableId", "DurableId")
    if name in ("SearchLayout", "OwnerChangeOptionInfo"):
        assert "a filter on a reified column is required [EntityDefinitionId" in entry.extra["count_refused"]
    if name.startswith("Relationship"):
        assert f"{name}: a filter on a reified column is required [" in entry.extra["count_refused"]


@pytest.mark.slow  # ~13 s: one query per entity (2,103) in the run and again in verify
def test_given_an_org_refusing_the_in_list_when_run_then_one_entity_per_query_and_verify_reads_it_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_emulator(records=30, org_shape="enterprise", large_file_bytes=0) as emu:
        sf = independent(emu)
        entity_ids = sorted(entities(sf, ["DurableId"]))
        fields = [f["name"] for f in sf.EntityParticle.describe()["fields"]]
        expected = by_key(sf, "EntityParticle", fields, "EntityDefinitionId", entity_ids, "DurableId")
        # Then the org accepts only `EntityDefinitionId = '<entity>'` (whether real orgs take IN on
        # these objects is UNCONFIRMED): an IN batch is refused with the object's own refusal.
        particle = emu.org._catalog["entityparticle"]
        assert particle.query_rule is not None
        particle.query_rule = dataclasses.replace(particle.query_rule, operators=("=",))
        with pytest.raises(Exception, match="a filter on a reified column is required"):
            sf.query("SELECT Id FROM EntityParticle WHERE EntityDefinitionId IN ('Account')")
        for key, value in emulator_env(emu).items():
            monkeypatch.setenv(key, value)
        repo = tmp_path / "repo"
        assert run(emu, repo, "--objects", "EntityParticle", "--no-files", "--no-verify") == ExitCode.OK
        assert_rows_equal_by(repo, "EntityParticle", expected, "DurableId")
        # describe, 2 EntityDefinition batches, the refused IN batch, then one query per entity
        assert entry_of(repo, "EntityParticle").api_calls == 2 + 1 + len(entity_ids)  # describe in planning
        verified = verify_ids(emu, repo, capsys)
        assert verified["exit"] == ExitCode.OK


def share_objects(sf: Salesforce) -> list[str]:
    return sorted(s["name"] for s in sf.describe()["sobjects"] if s["name"].endswith("Share"))


SHARING_SOURCES = ["User", "UserRole", "Group", "EntityDefinition", "PermissionSet", "PermissionSetAssignment",
                   "ObjectPermissions"]  # fmt: skip


@pytest.mark.parametrize("with_sources", [True, False], ids=["sources_backed_up", "sources_missing"])
def test_given_user_record_access_when_run_and_verified_then_derived_from_sharing_and_safe_only_with_its_sources(
    enterprise: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], with_sources: bool,
) -> None:  # fmt: skip
    for key, value in emulator_env(enterprise).items():
        monkeypatch.setenv(key, value)
    sf = independent(enterprise)
    sources = [*SHARING_SOURCES, *share_objects(sf)] if with_sources else ["User", "AccountShare"]
    repo = tmp_path / "repo"
    code = run(enterprise, repo, "--objects", ",".join(["UserRecordAccess", *sources]), "--no-files",
               "--no-verify")  # fmt: skip
    assert code == ExitCode.OK
    entry = entry_of(repo, "UserRecordAccess")
    assert (entry.state, entry.error.kind, entry.api_calls) == ("skipped", "derived", 0)  # never queried
    capsys.readouterr()
    verified = verify_ids(enterprise, repo, capsys)
    findings = {f["kind"]: f for f in verified["findings"] if f.get("object") == "UserRecordAccess"}
    report = json.loads(Path(verified["reports"]["report.json"]).read_text())
    coverage = {row["object"]: row["status"] for row in report["coverage"]}
    assert coverage["UserRecordAccess"] == "derived"
    if with_sources:
        assert set(findings) == {"object_derived"} and findings["object_derived"]["severity"] == "info"
    else:
        missing = findings["derived_sources_missing"]
        assert missing["severity"] == "warning"  # blocks SAFE TO CANCEL
        assert "UserRole" in missing["actual"] and "User" not in missing["actual"]
        assert not verified["verdict"]["safe"]


ACCESS_SOURCES = {
    "UserEntityAccess": ["User", "Profile", "PermissionSet", "PermissionSetAssignment", "ObjectPermissions"],
    "UserFieldAccess": ["User", "Profile", "PermissionSet", "PermissionSetAssignment", "ObjectPermissions",
                        "FieldPermissions"],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ACCESS_SOURCES))
@pytest.mark.parametrize("with_sources", [True, False], ids=["sources_backed_up", "sources_missing"])
def test_given_computed_user_access_when_run_and_verified_then_derived_from_permissions_and_safe_only_with_them(
    enterprise: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], name: str, with_sources: bool,
) -> None:  # fmt: skip
    for key, value in emulator_env(enterprise).items():
        monkeypatch.setenv(key, value)
    sf = independent(enterprise)
    listed = {s["name"] for s in sf.describe()["sobjects"]}
    assert name in listed
    with pytest.raises(Exception, match="a filter on a reified column is required"):  # the org refuses a plain query
        sf.query(f"SELECT Id FROM {name}")
    sources = [s for s in ACCESS_SOURCES[name] if s in listed]
    assert {"User", "PermissionSet", "PermissionSetAssignment"} <= set(sources)
    chosen = sources if with_sources else ["User"]
    repo = tmp_path / "repo"
    code = run(enterprise, repo, "--objects", ",".join([name, *chosen]), "--no-files", "--no-verify")
    assert code == ExitCode.OK
    entry = entry_of(repo, name)
    assert (entry.state, entry.error.kind, entry.api_calls) == ("skipped", "derived", 0)  # never queried
    capsys.readouterr()
    verified = verify_ids(enterprise, repo, capsys)
    findings = {f["kind"]: f for f in verified["findings"] if f.get("object") == name}
    report = json.loads(Path(verified["reports"]["report.json"]).read_text())
    coverage = {row["object"]: row["status"] for row in report["coverage"]}
    assert coverage[name] == "derived"
    if with_sources:
        assert set(findings) == {"object_derived"} and findings["object_derived"]["severity"] == "info"
        assert findings["object_derived"]["actual"] == len(sources)
        assert verified["exit"] == ExitCode.OK
    else:
        missing = findings["derived_sources_missing"]
        assert missing["severity"] == "warning"  # blocks SAFE TO CANCEL
        assert missing["actual"] == [s for s in sources if s != "User"]
        assert not verified["verdict"]["safe"]


def test_given_a_limit_batch_of_entity_definition_timing_out_when_run_then_asked_again_with_half_the_limit(
    enterprise: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in emulator_env(enterprise).items():
        monkeypatch.setenv(key, value)
    # every query selecting 2,000 rows or more times out (the first LIMIT 2000 one); smaller ones answer
    enterprise.faults.configure(FaultConfig(rates={"query_timeout": 1.0}, query_timeout_min_rows=2000))
    try:
        code = run(enterprise, tmp_path / "repo", "--objects", "EntityDefinition", "--no-files", "--no-verify")
    finally:
        enterprise.faults.clear()
    assert code == ExitCode.OK
    expected = entities(independent(enterprise), fields_of(tmp_path / "repo", "EntityDefinition"))
    assert_rows_equal_by(tmp_path / "repo", "EntityDefinition", expected, "DurableId")
    assert enterprise.faults.injected["query_timeout"] >= 1
    # the timed-out LIMIT 2000 query, then LIMIT 1000 batches (the describe is a planning call)
    assert entry_of(tmp_path / "repo", "EntityDefinition").api_calls == 1 + -(-len(expected) // 1000)


def test_given_the_setup_snapshot_when_verified_by_ids_then_each_object_is_compared_by_its_own_key(
    setup_repo: Path,
) -> None:
    """verify --ids counts every row of the org by the plan's identity: FieldDefinition's rows all
    share the empty Id, and comparing Ids would have counted one."""
    snapshot = Repository.open(setup_repo).snapshot("latest")
    report = json.loads((setup_repo / "snapshots" / snapshot.manifest.snapshot_id / "report.json").read_text())
    rows = {row["object"]: row for row in report["objects"]}
    for name in SETUP_OBJECTS:
        row = rows[name]
        assert row["ids_compared"] and row["org_count"] == row["backup_rows"] > 1, (name, row)
