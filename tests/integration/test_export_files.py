"""export_files against the emulator over real HTTP: every body saved and checked, nothing saved twice,
the owners of every file kept, large bodies in flat memory, cut-off bodies never stored.

Checksums and owner links are compared with what simple-salesforce (a separate client, through the
product's rewriting session) reads from the same org.
"""

from __future__ import annotations

import base64
import hashlib
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from simple_salesforce import Salesforce

from sfbackup.backup.files import FilesExportResult, export_files
from sfbackup.config import load_settings
from sfbackup.errors import ApiReserveReached
from sfbackup.repository import Repository
from sfbackup.salesforce import soql
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.salesforce.cut import Cut
from sfbackup.salesforce.objects import FILE_OBJECTS

testing = pytest.importorskip("sfbackup.testing", reason="sfbackup.testing.running_emulator is not available")

LARGE = 2 * 2**20  # the shared org's two large bodies
HUGE = 48 * 2**20  # the body of the flat-memory test


def sleep_not(_: float) -> None:
    """Retries in these tests need no back-off."""


def client_for(emu: Any, **overrides: Any) -> SalesforceClient:
    creds = emu.credentials
    env = {
        "SF_USERNAME": creds.username,
        "SF_PASSWORD": creds.password,
        "SF_SECURITY_TOKEN": creds.security_token,
    }
    flags = {"connection.instance_url": emu.instance_url, "connection.max_retries": 3, **overrides}
    return SalesforceClient(load_settings(None, env=env, overrides=flags).connection, sleep=sleep_not)


def simple_salesforce(emu: Any) -> Salesforce:
    creds = emu.credentials
    return Salesforce(
        username=creds.username,
        password=creds.password,
        security_token=creds.security_token,
        session=emu.session(),
    )


def export(emu: Any, client: SalesforceClient, repo: Repository, snap: Path, **kw: Any) -> FilesExportResult:
    snap.mkdir(parents=True, exist_ok=True)
    kw.setdefault("cuts", {name: Cut("CreatedDate", emu.org.now()) for name in FILE_OBJECTS})
    kw.setdefault("include_deleted", True)
    kw.setdefault("content_versions", "all")
    kw.setdefault("download_concurrency", 4)
    return export_files(client, repo, snap, **kw)


def rows(snap: Path, name: str) -> list[dict[str, Any]]:
    return pq.read_table(snap / "files" / f"{name}.parquet").to_pylist()


def parents(result: FilesExportResult, snap: Path) -> dict[str, Path]:
    return {name: snap / str(entry.index_path) for name, entry in result.items()}


def sha256_of(path: Path) -> tuple[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


def fired(emu: Any, kind: str) -> int:
    return sum(rule.fired for rule in emu.faults.config.rules if rule.kind == kind)


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    """An org that is only read: files of every kind, two large ones, deleted ones, a URL-only Document."""
    with testing.running_emulator(records=60, seed=11, large_file_bytes=LARGE, job_latency=0.05) as running:
        yield running


@pytest.fixture
def fresh_emu() -> Iterator[Any]:
    """An org a test may change."""
    with testing.running_emulator(
        records=30, seed=4, large_file_bytes=64 * 1024, job_latency=0.05
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def no_faults_left(emu: Any) -> Iterator[None]:
    yield
    emu.faults.clear()


@pytest.fixture(scope="module")
def first_run(
    emu: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Repository, Path, FilesExportResult]:
    root = tmp_path_factory.mktemp("files")
    repo = Repository.init(root / "repo")
    snap = root / "snap1"
    return repo, snap, export(emu, client_for(emu), repo, snap)


def test_given_an_org_when_files_are_exported_then_every_body_is_a_blob_whose_sha256_is_its_name(
    emu: Any, first_run: tuple[Repository, Path, FilesExportResult]
) -> None:
    repo, snap, result = first_run
    sf = simple_salesforce(emu)
    assert result.stopped is None
    for name in ("Attachment", "ContentVersion", "Document"):
        org_ids = {r["Id"] for r in sf.query_all(f"SELECT Id FROM {name}", include_deleted=True)["records"]}
        index = rows(snap, name)
        assert {r["Id"] for r in index} == org_ids and result[name].count == len(org_ids)
        assert result[name].failed == [] and result[name].missing == []
        for row in index:
            if row["status"] in ("no_body", "unavailable"):
                assert row["sha256"] is None
                continue
            assert row["status"] == "downloaded"
            sha, _ = sha256_of(repo.blobs.path(row["sha256"]))
            assert sha == row["sha256"] and repo.blobs.size(row["sha256"]) == row["Size"]
    documents = {r["Id"]: r for r in rows(snap, "Document")}
    assert [r["status"] for r in documents.values()].count("no_body") == 1  # the Document that is a URL
    assert any(r["Size"] == LARGE for r in rows(snap, "ContentVersion"))
    assert any(r["Size"] == 0 and r["status"] == "downloaded" for r in rows(snap, "ContentVersion"))


def test_given_exported_versions_then_each_md5_matches_the_checksum_simple_salesforce_reads(
    emu: Any, first_run: tuple[Repository, Path, FilesExportResult]
) -> None:
    repo, snap, _ = first_run
    sf = simple_salesforce(emu)
    checksums = {
        r["Id"]: r["Checksum"]
        for r in sf.query_all("SELECT Id, Checksum FROM ContentVersion", include_deleted=True)["records"]
    }
    index = rows(snap, "ContentVersion")
    assert checksums and {r["Id"] for r in index} == set(checksums)
    for row in index:
        if row["sha256"] is None:
            assert row["IsDeleted"] and row["status"] == "unavailable"
            continue
        _, md5 = sha256_of(repo.blobs.path(row["sha256"]))
        assert md5 == checksums[row["Id"]] == row["SalesforceChecksum"]


def test_given_exported_versions_then_each_is_linked_to_its_owner_records(
    emu: Any, first_run: tuple[Repository, Path, FilesExportResult]
) -> None:
    _, snap, _ = first_run
    sf = simple_salesforce(emu)
    index = rows(snap, "ContentVersion")
    documents = sorted({r["ParentId"] for r in index})
    links: dict[str, set[str]] = {}
    for clause in soql.in_clauses("ContentDocumentId", documents):
        found = sf.query_all(f"SELECT ContentDocumentId, LinkedEntityId FROM ContentDocumentLink WHERE {clause}",
                             include_deleted=True)  # fmt: skip
        for link in found["records"]:
            links.setdefault(link["ContentDocumentId"], set()).add(link["LinkedEntityId"])
    for row in index:
        assert row["LinkedEntityIds"] and set(row["LinkedEntityIds"]) == links[row["ParentId"]]
    assert all(r["LinkedEntityIds"] == [] for r in rows(snap, "Attachment"))


def test_given_an_unchanged_org_when_run_again_then_no_body_is_downloaded(
    emu: Any, first_run: tuple[Repository, Path, FilesExportResult], tmp_path: Path
) -> None:
    repo, snap, result = first_run
    client = client_for(emu)
    before = client.calls_made
    again = export(emu, client, repo, tmp_path / "snap2", parent_index=parents(result, snap))
    assert again.summary["downloaded"] == 0 and again.summary["bytes_downloaded"] == 0
    stored = sum(e.downloaded for e in result.values())
    assert again.summary["deduplicated"] == stored == sum(e.api_calls_saved for e in again.values())
    assert client.calls_made - before <= 8  # describes and metadata queries only, no blob GETs


def test_given_a_changed_attachment_and_a_new_version_then_exactly_those_two_are_downloaded(
    fresh_emu: Any, tmp_path: Path
) -> None:
    emu, client = fresh_emu, client_for(fresh_emu)
    repo = Repository.init(tmp_path / "repo")
    first = export(emu, client, repo, tmp_path / "snap1")
    attachment = next(r for r in rows(tmp_path / "snap1", "Attachment") if r["status"] == "downloaded")
    new_body = b"a new scan of the contract\n" * 100
    emu.org.update("Attachment", attachment["Id"], {"Body": base64.b64encode(new_body).decode()})
    account = emu.org.query("SELECT Id FROM Account LIMIT 1", include_deleted=False, api="rest")
    account_id = account.rest_records(0, 1)[0]["Id"]
    version_body = b"%PDF-1.7 new version" * 50
    new_version = emu.org.create(
        "ContentVersion",
        {"Title": "Renewal", "PathOnClient": "Renewal.pdf", "FirstPublishLocationId": account_id,
         "VersionData": base64.b64encode(version_body).decode()},
    )  # fmt: skip

    second = export(emu, client, repo, tmp_path / "snap2", parent_index=parents(first, tmp_path / "snap1"))

    downloaded = {
        r["Id"]: r for name in second for r in rows(tmp_path / "snap2", name) if r["status"] == "downloaded"
    }
    assert set(downloaded) == {attachment["Id"], new_version}
    assert downloaded[attachment["Id"]]["sha256"] == hashlib.sha256(new_body).hexdigest()
    assert downloaded[new_version]["sha256"] == hashlib.sha256(version_body).hexdigest()
    assert account_id in downloaded[new_version]["LinkedEntityIds"]
    assert second.summary["downloaded"] == 2


def test_given_a_hostile_file_name_then_it_is_shown_faithfully_and_never_becomes_a_path(
    fresh_emu: Any, tmp_path: Path
) -> None:
    emu = fresh_emu
    hostile = "../../etc/passwd"
    data = b"not really a password file"
    version = emu.org.create(
        "ContentVersion",
        {"Title": hostile, "PathOnClient": hostile, "VersionData": base64.b64encode(data).decode()},
    )
    attachment_parent = emu.org.query("SELECT Id FROM Account LIMIT 1", include_deleted=False, api="rest")
    attachment = emu.org.create(
        "Attachment",
        {"Name": hostile, "ParentId": attachment_parent.rest_records(0, 1)[0]["Id"],
         "Body": base64.b64encode(data).decode()},
    )  # fmt: skip
    repo = Repository.init(tmp_path / "repo")
    export(emu, client_for(emu), repo, tmp_path / "snap", objects=("Attachment", "ContentVersion"))

    by_id = {r["Id"]: r for n in ("Attachment", "ContentVersion") for r in rows(tmp_path / "snap", n)}
    for record_id in (version, attachment):
        assert by_id[record_id]["Name"] == hostile
        assert repo.blobs.path(by_id[record_id]["sha256"]).read_bytes() == data
    assert not any(p.name == "passwd" for p in tmp_path.rglob("*"))
    assert not (tmp_path / "etc").exists() and not (tmp_path.parent / "etc").exists()


def test_given_a_large_body_then_it_downloads_with_flat_memory(tmp_path: Path) -> None:
    with testing.running_emulator(records=20, seed=2, large_file_bytes=HUGE, job_latency=0.05) as big:
        client = client_for(big)
        warm = Repository.init(tmp_path / "warm")  # imports and caches load outside the measurement
        export(big, client, warm, tmp_path / "warm-snap", objects=("Document",))
        repo = Repository.init(tmp_path / "repo")
        tracemalloc.start()
        try:
            result = export(
                big, client, repo, tmp_path / "snap", objects=("ContentVersion",), download_concurrency=1
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    huge = [r for r in rows(tmp_path / "snap", "ContentVersion") if r["Size"] == HUGE]
    assert huge and all(repo.blobs.size(r["sha256"]) == HUGE for r in huge)
    assert all(sha256_of(repo.blobs.path(r["sha256"]))[1] == r["SalesforceChecksum"] for r in huge)
    assert result["ContentVersion"].failed == []
    # emulator and client together hold a few 1 MiB chunks at a time, whatever the body's size
    assert peak < HUGE / 4, f"peak traced memory {peak} bytes for {HUGE}-byte bodies"


def test_given_a_body_cut_off_mid_stream_then_it_is_fetched_again_and_never_stored_cut(
    emu: Any, tmp_path: Path
) -> None:
    emu.faults.add_rule("truncate", r"/sobjects/Attachment/\w+/Body", times=2)
    repo = Repository.init(tmp_path / "repo")
    result = export(
        emu, client_for(emu), repo, tmp_path / "snap", objects=("Attachment",), download_concurrency=1
    )
    assert fired(emu, "truncate") == 2
    assert result["Attachment"].failed == [] and result["Attachment"].missing == []
    for row in rows(tmp_path / "snap", "Attachment"):
        if row["sha256"]:
            assert sha256_of(repo.blobs.path(row["sha256"]))[0] == row["sha256"]
            assert repo.blobs.size(row["sha256"]) == row["Size"]
    assert list(repo.blobs.iter_temporary()) == []


def test_given_a_body_that_is_always_cut_off_then_the_file_is_failed_and_nothing_of_it_is_stored(
    emu: Any, tmp_path: Path
) -> None:
    sf = simple_salesforce(emu)
    victim = sf.query("SELECT Id, BodyLength FROM Attachment WHERE BodyLength > 1000 LIMIT 1")["records"][0]
    emu.faults.add_rule("truncate", rf"/sobjects/Attachment/{victim['Id']}/Body", times=100)
    repo = Repository.init(tmp_path / "repo")
    result = export(emu, client_for(emu), repo, tmp_path / "snap", objects=("Attachment",))
    assert [f["id"] for f in result["Attachment"].failed] == [victim["Id"]]
    row = next(r for r in rows(tmp_path / "snap", "Attachment") if r["Id"] == victim["Id"])
    assert row["status"] == "failed" and row["sha256"] is None
    assert all(repo.blobs.size(d) != victim["BodyLength"] // 2 for d in repo.blobs.iter_all())
    assert list(repo.blobs.iter_temporary()) == []


def test_given_a_metadata_query_that_times_out_then_it_is_read_in_date_ranges(
    emu: Any, first_run: tuple[Repository, Path, FilesExportResult], tmp_path: Path
) -> None:
    _, snap, _ = first_run
    emu.faults.add_rule("query_timeout", r"/queryAll", times=2)
    repo = Repository.init(tmp_path / "repo")
    export(emu, client_for(emu), repo, tmp_path / "snap", objects=("Attachment",))
    assert fired(emu, "query_timeout") == 2
    assert rows(tmp_path / "snap", "Attachment") == rows(snap, "Attachment")


def test_given_the_api_reserve_is_reached_midway_then_the_rest_is_missing_and_a_resume_fetches_exactly_it(
    emu: Any, tmp_path: Path
) -> None:
    client = client_for(emu)
    client.get_json(client.data_path("limits/"))
    assert client.api_usage is not None
    used, maximum = client.api_usage
    metadata_calls = 8  # describes, the three file queries, owner links, with a margin
    client.reserve_percent = 100.0 * (maximum - used - metadata_calls - 5) / maximum  # ~5 downloads
    repo = Repository.init(tmp_path / "repo")
    snap = tmp_path / "snap"

    stopped = export(emu, client, repo, snap, download_concurrency=2)

    assert isinstance(stopped.stopped, ApiReserveReached)
    missing = {i for e in stopped.values() for i in e.missing}
    done = {r["Id"] for n in stopped for r in rows(snap, n) if r["status"] == "downloaded"}
    assert missing and done and not (missing & done)
    assert all(r["sha256"] is None for n in stopped for r in rows(snap, n) if r["Id"] in missing)

    client.reserve_percent = None
    before = set(repo.blobs.iter_all())
    resumed = export(emu, client, repo, snap, download_concurrency=2)  # the same snapshot, as `--resume` does
    assert resumed.stopped is None and all(not e.missing for e in resumed.values())
    assert {r["Id"] for n in resumed for r in rows(snap, n) if r["status"] == "downloaded"} == done | missing
    assert resumed.summary["bytes_downloaded"] > 0 and before < set(repo.blobs.iter_all())


def test_given_downloads_when_each_index_is_written_then_every_blob_it_names_was_synced_before(
    emu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The power-loss model of batched syncs: at every moment an index becomes durable, each blob
    it names has its bytes and its folder entry durable (a crash can lose only unnamed blobs); and
    folders are synced once per batch, not once per body."""
    import sfbackup.backup.files as files_module
    import sfbackup.repository.atomic as atomic
    import sfbackup.repository.blobs as blobs_module

    synced: set[Path] = set()
    dir_syncs: list[Path] = []

    def record(path: Path) -> None:
        synced.add(Path(path))
        dir_syncs.append(Path(path))

    monkeypatch.setattr(atomic, "fsync_dir", record)
    monkeypatch.setattr(blobs_module, "fsync_dir", record)
    repo = Repository.init(tmp_path / "repo")
    checked: list[int] = []
    original = files_module._FilesExporter._write_index_file

    def checking(self: Any, name: str, rows: list[Any]) -> Any:
        info = original(self, name, rows)
        written = pq.read_table(tmp_path / "snap" / info.path).to_pylist()  # what the index names
        named = [r["sha256"] for r in written if r["status"] == "downloaded" and r["sha256"]]
        for sha256 in named:
            assert repo.blobs.path(sha256).parent in synced and repo.blobs.dir in synced, (name, sha256)
        checked.append(len(named))
        return info

    monkeypatch.setattr(files_module._FilesExporter, "_write_index_file", checking)
    result = export(emu, client_for(emu), repo, tmp_path / "snap", index_checkpoint_seconds=0.02)
    downloaded = sum(entry.downloaded for entry in result.values())
    assert downloaded >= 20 and checked
    # blobs/sha256/ is synced once per batch (at most once per index write), not once per body
    top_syncs = dir_syncs.count(repo.blobs.dir)
    assert top_syncs <= len(checked) and top_syncs < downloaded, (top_syncs, len(checked), downloaded)


def test_given_a_reused_content_version_body_rotten_on_disk_when_its_recheck_is_due_then_downloaded_again(
    emu: Any, tmp_path: Path
) -> None:
    # Bit rot keeps a blob's size: the nightly size check reuses it, the checksum re-check does not.
    repo = Repository.init(tmp_path / "repo")
    first = export(emu, client_for(emu), repo, tmp_path / "snap1")
    versions = [r for r in rows(tmp_path / "snap1", "ContentVersion") if r["status"] == "downloaded"]
    victim = versions[0]["sha256"]
    path = repo.blobs.path(victim)
    body = bytearray(path.read_bytes())
    body[len(body) // 2] ^= 0xFF
    path.write_bytes(bytes(body))

    size_only = export(emu, client_for(emu), repo, tmp_path / "snap2", parent_index=parents(first, tmp_path / "snap1"))
    assert size_only.summary["downloaded"] == 0 and size_only.summary["rechecked"] == 0
    assert not repo.blobs.intact(victim), "the size check alone cannot see it"

    every_night = export(emu, client_for(emu), repo, tmp_path / "snap3",
                         parent_index=parents(first, tmp_path / "snap1"), recheck_slice=(0, 1))  # fmt: skip
    assert every_night.summary["recheck_damaged"] == 1
    assert every_night.summary["rechecked"] == len(versions)  # every reused ContentVersion, once
    assert every_night.summary["downloaded"] == 1
    assert repo.blobs.intact(victim), "the good copy replaced the damaged blob"
