"""export_files at its seam: a small in-memory stand-in for SalesforceClient, a real repository on disk.

The stand-in answers describes, REST queries (by the object after FROM, and the ids of an
``IN (...)`` list) and blob downloads, the way `SalesforceClient` does: `download` hands the body to
the sink as an iterator of chunks and returns what the sink returns.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sfbackup.backup.files import FILE_OBJECT_SPECS, FilesExportResult, dedup_key, export_files
from sfbackup.errors import ApiReserveReached, SalesforceError, SfbackupError
from sfbackup.repository import Repository
from sfbackup.salesforce.client import CallMeter
from sfbackup.salesforce.cut import Cut
from sfbackup.salesforce.objects import FILE_OBJECTS
from sfbackup.ui.progress import NullProgress

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
STAMP = "2026-11-01T10:00:00.000+0000"

_DESCRIBE_TYPES = {"BodyLength": "int", "ContentSize": "int", "IsDeleted": "boolean", "IsLatest": "boolean"}


def sf_id(prefix: str, n: int) -> str:
    return f"{prefix}Dx{n:010d}AAA"


def body(n: int, size: int) -> bytes:
    return (hashlib.sha256(str(n).encode()).digest() * (size // 32 + 1))[:size]


class FakeClient:
    """Records, bodies and budget of a pretend org; every call is counted."""

    instance_url = "https://fake.my.salesforce.com"

    def __init__(self) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {name: [] for name in FILE_OBJECT_SPECS}
        self.records["ContentDocumentLink"] = []
        self.bodies: dict[str, bytes] = {}
        self.bad_bodies: dict[str, list[bytes]] = {}  # served (once each) before the real body
        self.errors: dict[str, SfbackupError] = {}
        self.queries: list[str] = []
        self.downloads: list[str] = []
        self.reserve_after: int | None = None  # check_reserve raises after this many checks
        self.reserve_checks = 0
        self.download_delay = 0.0
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def metered(self, meter: CallMeter) -> contextlib.AbstractContextManager[CallMeter]:
        return contextlib.nullcontext(meter)

    # -- building the org ---------------------------------------------------------------------

    def attachment(self, n: int, data: bytes, **values: Any) -> str:
        record_id = sf_id("00P", n)
        self.records["Attachment"].append(
            {"Id": record_id, "ParentId": sf_id("001", n), "Name": f"file {n}.txt", "ContentType": "text/plain",
             "BodyLength": len(data), "SystemModstamp": STAMP, "IsDeleted": False, **values}
        )  # fmt: skip
        self.bodies[record_id] = data
        return record_id

    def version(self, n: int, data: bytes, *, owners: tuple[str, ...] = (), **values: Any) -> str:
        record_id, document = sf_id("068", n), sf_id("069", n)
        self.records["ContentVersion"].append(
            {"Id": record_id, "ContentDocumentId": document, "Title": f"doc {n}", "PathOnClient": f"doc {n}.pdf",
             "FileExtension": "pdf", "FileType": "PDF", "ContentSize": len(data),
             "Checksum": hashlib.md5(data).hexdigest(), "ContentLocation": "S", "IsLatest": True,
             "SystemModstamp": STAMP, "IsDeleted": False, **values}
        )  # fmt: skip
        for owner in owners:
            self.records["ContentDocumentLink"].append(
                {"ContentDocumentId": document, "LinkedEntityId": owner}
            )
        self.bodies[record_id] = data
        return record_id

    def document(self, n: int, data: bytes | None, **values: Any) -> str:
        record_id = sf_id("015", n)
        self.records["Document"].append(
            {"Id": record_id, "FolderId": sf_id("00l", 1), "Name": f"Document {n}", "Type": "png",
             "ContentType": "image/png", "BodyLength": None if data is None else len(data),
             "SystemModstamp": STAMP, "IsDeleted": False, **values}
        )  # fmt: skip
        if data is not None:
            self.bodies[record_id] = data
        return record_id

    # -- the SalesforceClient surface export_files uses ---------------------------------------

    def data_path(self, suffix: str) -> str:
        return "/services/data/v62.0/" + suffix.lstrip("/")

    def get_json(self, path: str, *, params: dict[str, str] | None = None, **_: Any) -> Any:
        described = re.search(r"sobjects/(\w+)/describe", path)
        if described:
            name = described.group(1)
            fields = (
                [*FILE_OBJECT_SPECS[name].wanted_fields(), "CreatedDate"] if name in FILE_OBJECT_SPECS else []
            )
            return {"name": name, "fields": [{"name": f, "type": _DESCRIBE_TYPES.get(f, "string")}
                                             for f in fields]}  # fmt: skip
        assert params is not None
        query = params["q"]
        self.queries.append(query)
        name = re.search(r" FROM (\w+)", query).group(1)  # type: ignore[union-attr]
        records = self.records[name]
        if name == "ContentDocumentLink":
            wanted = set(re.findall(r"'(\w+)'", query))
            records = [r for r in records if r["ContentDocumentId"] in wanted]
        if "IsLatest = true" in query:
            records = [r for r in records if r.get("IsLatest")]
        if "/query/" in path:
            records = [r for r in records if not r.get("IsDeleted")]
        for op, bound in re.findall(r"CreatedDate (>=|<) (\S+?)\)?(?: |$)", query):
            if op == ">=":
                records = [r for r in records if r.get("CreatedDate", STAMP)[:19] >= bound[:19]]
            else:
                records = [r for r in records if r.get("CreatedDate", STAMP)[:19] < bound[:19]]
        return {"totalSize": len(records), "done": True,
                "records": [{"attributes": {"type": name}, **r} for r in records]}  # fmt: skip

    def check_reserve(self) -> None:
        with self._lock:
            self.reserve_checks += 1
            if self.reserve_after is not None and self.reserve_checks > self.reserve_after:
                raise ApiReserveReached("the org has 10 of its 1000 daily API calls left")

    def download(self, path: str, sink: Callable[[Iterator[bytes]], Any], **_: Any) -> Any:
        record_id = path.split("/")[-2]
        with self._lock:
            self.downloads.append(record_id)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            bad = self.bad_bodies.get(record_id)
            data = bad.pop(0) if bad else self.bodies.get(record_id)
        try:
            if self.download_delay:
                time.sleep(self.download_delay)
            if record_id in self.errors:
                raise self.errors[record_id]
            assert data is not None
            return sink(iter([data[i : i + 1000] for i in range(0, len(data), 1000)]))
        finally:
            with self._lock:
                self.active -= 1


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    return Repository.init(tmp_path / "repo")


def snapshot(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir(exist_ok=True)
    return path


def run(client: FakeClient, repo: Repository, snap: Path, **kw: Any) -> FilesExportResult:
    kw.setdefault("cuts", {name: Cut("CreatedDate", T0) for name in FILE_OBJECTS})
    kw.setdefault("include_deleted", True)
    kw.setdefault("download_concurrency", 3)
    return export_files(client, repo, snap, **kw)


def index(snap: Path, name: str) -> dict[str, dict[str, Any]]:
    return {row["Id"]: row for row in pq.read_table(snap / "files" / f"{name}.parquet").to_pylist()}


def parents(result: FilesExportResult, snap: Path) -> dict[str, Path]:
    return {name: snap / str(entry.index_path) for name, entry in result.items()}


# -- dedup keys ---------------------------------------------------------------------------------


def test_given_a_content_version_then_its_key_is_checksum_and_size_whatever_its_modstamp() -> None:
    early, late = T0, T0 + timedelta(days=3)
    assert dedup_key("ContentVersion", 10, "ABC", early) == dedup_key("ContentVersion", 10, "abc", late)
    assert dedup_key("ContentVersion", 10, "abc", early) != dedup_key("ContentVersion", 11, "abc", early)


def test_given_an_attachment_then_its_key_is_modstamp_to_the_millisecond_and_size() -> None:
    stamp = datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    assert dedup_key("Attachment", 5, None, stamp) == ("modstamp", 1767225600123, 5)
    assert dedup_key("Attachment", 5, None, stamp) != dedup_key(
        "Attachment", 5, None, stamp + timedelta(milliseconds=1)
    )
    assert dedup_key("Document", 5, None, stamp) != dedup_key("Document", 6, None, stamp)


# -- a first run --------------------------------------------------------------------------------


def test_given_files_when_exported_then_each_body_is_a_blob_named_by_its_sha256_and_indexed(
    tmp_path: Path, repo: Repository
) -> None:
    client = FakeClient()
    att = client.attachment(1, body(1, 5000))
    empty = client.attachment(2, b"")
    ver = client.version(1, body(3, 2500), owners=(sf_id("001", 7), sf_id("005", 1)))
    doc = client.document(1, body(4, 300))
    url_only = client.document(2, None, Url="https://example.com/logo.png")
    snap = snapshot(tmp_path, "s1")

    result = run(client, repo, snap)

    assert sorted(client.downloads) == sorted([att, empty, ver, doc])
    for name, data_by_id in (("Attachment", {att: body(1, 5000), empty: b""}), ("ContentVersion", {ver: body(3, 2500)}),
                             ("Document", {doc: body(4, 300)})):  # fmt: skip
        rows = index(snap, name)
        for record_id, data in data_by_id.items():
            digest = hashlib.sha256(data).hexdigest()
            assert rows[record_id]["sha256"] == digest and rows[record_id]["status"] == "downloaded"
            assert repo.blobs.path(digest).read_bytes() == data
    versions = index(snap, "ContentVersion")
    assert versions[ver]["LinkedEntityIds"] == sorted([sf_id("001", 7), sf_id("005", 1)])
    assert versions[ver]["SalesforceChecksum"] == hashlib.md5(body(3, 2500)).hexdigest()
    assert versions[ver]["Name"] == "doc 1" and versions[ver]["ParentId"] == sf_id("069", 1)
    assert index(snap, "Attachment")[att]["LinkedEntityIds"] == []
    assert index(snap, "Document")[url_only]["status"] == "no_body"
    assert index(snap, "Document")[url_only]["sha256"] is None
    entry = result["Attachment"]
    assert (entry.count, entry.bytes, entry.downloaded, entry.deduplicated) == (2, 5000, 2, 0)
    assert entry.index_path == "files/Attachment.parquet"
    assert entry.index_sha256 == hashlib.sha256((snap / "files/Attachment.parquet").read_bytes()).hexdigest()
    assert result.stopped is None and result.summary["downloaded"] == 4 and result.summary["no_body"] == 1


def test_given_hostile_file_names_then_they_are_data_in_the_index_and_never_paths(
    tmp_path: Path, repo: Repository
) -> None:
    client = FakeClient()
    hostile = "../../etc/passwd"
    att = client.attachment(1, b"root:x:0:0", Name=hostile)
    ver = client.version(2, b"pdf", Title="/tmp/../../evil\x00name", PathOnClient=hostile)
    snap = snapshot(tmp_path, "s1")

    run(client, repo, snap)

    assert index(snap, "Attachment")[att]["Name"] == hostile
    assert index(snap, "ContentVersion")[ver]["Name"] == "/tmp/../../evil\x00name"
    written = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()}
    assert all(not str(p).endswith("passwd") and "evil" not in str(p) for p in written)
    assert not (tmp_path.parent / "etc").exists()


def test_given_the_latest_versions_only_then_the_query_asks_for_is_latest(
    tmp_path: Path, repo: Repository
) -> None:
    client = FakeClient()
    client.version(1, b"old", IsLatest=False)
    latest = client.version(2, b"new")
    run(client, repo, snapshot(tmp_path, "s1"), objects=("ContentVersion",), content_versions="latest")
    assert client.downloads == [latest]
    version_query = next(q for q in client.queries if " FROM ContentVersion" in q)
    assert "IsLatest = true" in version_query and "CreatedDate <= 2026-11-27T02:00:00Z" in version_query
    assert "VersionData" not in version_query


def test_given_many_documents_then_owner_links_are_read_in_filtered_batches(
    tmp_path: Path, repo: Repository
) -> None:
    client = FakeClient()
    for n in range(450):
        client.version(n, b"x", owners=(sf_id("001", n),))
    snap = snapshot(tmp_path, "s1")
    run(client, repo, snap, objects=("ContentVersion",))
    link_queries = [q for q in client.queries if "FROM ContentDocumentLink" in q]
    assert len(link_queries) == 3
    assert all(" WHERE ContentDocumentId IN (" in q for q in link_queries)
    rows = index(snap, "ContentVersion")
    assert all(rows[sf_id("068", n)]["LinkedEntityIds"] == [sf_id("001", n)] for n in range(450))


def test_given_parallel_downloads_then_several_run_at_once(tmp_path: Path, repo: Repository) -> None:
    client = FakeClient()
    client.download_delay = 0.05
    for n in range(12):
        client.attachment(n, body(n, 100))
    run(client, repo, snapshot(tmp_path, "s1"), download_concurrency=4)
    assert 2 <= client.max_active <= 4


# -- deduplication ------------------------------------------------------------------------------


def test_given_a_truncated_blob_when_run_again_then_it_is_downloaded_and_repaired_not_reused(
    tmp_path: Path, repo: Repository
) -> None:
    client = FakeClient()
    att = client.attachment(1, body(1, 300))
    first = snapshot(tmp_path, "s1")
    result = run(client, repo, first)
    sha = index(first, "Attachment")[att]["sha256"]
    path = repo.blobs.path(sha)
    path.chmod(0o600)
    path.write_bytes(path.read_bytes()[:100])  # the disk lost its tail
    client.downloads.clear()

    again = run(client, repo, snapshot(tmp_path, "s2"), parent_index=parents(result, first))

    assert client.downloads == [att] and again["Attachment"].downloaded == 1
    assert repo.blobs.intact(sha, 300)


def test_given_an_unchanged_org_when_run_again_then_nothing_is_downloaded(
    tmp_path: Path, repo: Repository
) -> None:
    client = FakeClient()
    for n in range(3):
        client.attachment(n, body(n, 100 + n))
        client.version(n, body(10 + n, 50))
    client.document(1, body(20, 10))
    first = snapshot(tmp_path, "s1")
    result = run(client, repo, first)
    client.downloads.clear()

    second = snapshot(tmp_path, "s2")
    again = run(client, repo, second, parent_index=parents(result, first))

    assert client.downloads == []
    assert again["Attachment"].deduplicated == 3 and again["Attachment"].api_calls_saved == 3
    assert again.summary["deduplicated"] == 7 and again.summary["downloaded"] == 0
    assert index(second, "ContentVersion") == index(first, "ContentVersion") | {
        k: v | {"status": "deduplicated"} for k, v in index(first, "ContentVersion").items()
    }


def test_given_a_changed_attachment_and_a_new_version_then_exactly_those_are_downloaded(
    tmp_path: Path, repo: Repository
) -> None:
    client = FakeClient()
    changed = client.attachment(1, body(1, 100))
    client.attachment(2, body(2, 100))
    client.version(1, body(3, 100))
    first = snapshot(tmp_path, "s1")
    result = run(client, repo, first)
    client.downloads.clear()
    client.records["Attachment"][0].update(SystemModstamp="2026-11-26T09:00:00.000+0000")
    client.bodies[changed] = body(99, 100)  # same size, new content: only the modstamp tells
    added = client.version(2, body(4, 70))

    second = snapshot(tmp_path, "s2")
    run(client, repo, second, parent_index=parents(result, first))

    assert sorted(client.downloads) == sorted([changed, added])
    assert index(second, "Attachment")[changed]["sha256"] == hashlib.sha256(body(99, 100)).hexdigest()


def test_given_a_parent_whose_blob_is_gone_then_the_body_is_downloaded_again(
    tmp_path: Path, repo: Repository
) -> None:
    client = FakeClient()
    ver = client.version(1, body(1, 64))
    first = snapshot(tmp_path, "s1")
    result = run(client, repo, first)
    repo.blobs.path(hashlib.sha256(body(1, 64)).hexdigest()).unlink()
    client.downloads.clear()

    run(client, repo, snapshot(tmp_path, "s2"), parent_index=parents(result, first))

    assert client.downloads == [ver]
    assert repo.blobs.has(hashlib.sha256(body(1, 64)).hexdigest())


def test_given_an_unreadable_parent_index_then_everything_is_downloaded(
    tmp_path: Path, repo: Repository
) -> None:
    client = FakeClient()
    att = client.attachment(1, b"abc")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    run(client, repo, snapshot(tmp_path, "s1"), parent_index={"Attachment": broken})
    assert client.downloads == [att]


# -- bodies that are not what Salesforce announced -------------------------------------------


def test_given_a_body_with_a_wrong_md5_once_then_it_is_retried_and_the_bad_body_is_never_stored(
    tmp_path: Path, repo: Repository
) -> None:
    client = FakeClient()
    good = body(1, 4000)
    bad = bytes(b ^ 0xFF for b in good)
    ver = client.version(1, good)
    client.bad_bodies[ver] = [bad]
    snap = snapshot(tmp_path, "s1")

    result = run(client, repo, snap)

    assert client.downloads == [ver, ver]
    assert index(snap, "ContentVersion")[ver]["status"] == "downloaded"
    assert not repo.blobs.has(hashlib.sha256(bad).hexdigest())
    assert list(repo.blobs.iter_all()) == [hashlib.sha256(good).hexdigest()]
    assert result["ContentVersion"].failed == []


def test_given_a_body_that_stays_short_then_the_file_is_failed_with_a_reason_and_nothing_is_stored(
    tmp_path: Path, repo: Repository
) -> None:
    client = FakeClient()
    att = client.attachment(1, body(1, 1000))
    ok = client.attachment(2, body(2, 10))
    client.bad_bodies[att] = [body(1, 1000)[:600]] * 5
    snap = snapshot(tmp_path, "s1")

    result = run(client, repo, snap, mismatch_attempts=3)

    assert client.downloads.count(att) == 3
    row = index(snap, "Attachment")[att]
    assert row["status"] == "failed" and row["sha256"] is None
    assert result["Attachment"].failed == [
        {"id": att, "reason": f"Attachment {att}: received 600 of the 1000 bytes Salesforce announced; "
         "it was not stored (after 3 attempts)"}
    ]  # fmt: skip
    assert list(repo.blobs.iter_all()) == [hashlib.sha256(body(2, 10)).hexdigest()]
    assert list(repo.blobs.iter_temporary()) == []
    assert index(snap, "Attachment")[ok]["status"] == "downloaded"


def test_given_a_longer_body_then_the_download_stops_early_and_is_failed(
    tmp_path: Path, repo: Repository
) -> None:
    client = FakeClient()
    ver = client.version(1, body(1, 10))
    client.bad_bodies[ver] = [body(1, 5000)] * 3
    result = run(client, repo, snapshot(tmp_path, "s1"))
    assert "longer than the 10 bytes" in result["ContentVersion"].failed[0]["reason"]
    assert list(repo.blobs.iter_all()) == []


def test_given_a_deleted_record_whose_body_is_gone_then_it_is_unavailable_not_failed(
    tmp_path: Path, repo: Repository
) -> None:
    client = FakeClient()
    gone = client.attachment(1, b"x", IsDeleted=True)
    live = client.attachment(2, b"y")
    client.errors[gone] = SalesforceError("entity is deleted", status=404, error_code="ENTITY_IS_DELETED")
    client.errors[live] = SalesforceError(
        "The requested resource does not exist", status=404, error_code="NOT_FOUND"
    )
    snap = snapshot(tmp_path, "s1")
    result = run(client, repo, snap)
    rows = index(snap, "Attachment")
    assert rows[gone]["status"] == "unavailable" and rows[live]["status"] == "failed"
    assert [f["id"] for f in result["Attachment"].failed] == [live]

    client.downloads.clear()
    run(client, repo, snapshot(tmp_path, "s2"), parent_index=parents(result, snap))
    assert client.downloads == [live]  # the Recycle Bin body is not asked for again


# -- budget and stop ----------------------------------------------------------------------------


def test_given_the_api_reserve_is_reached_then_the_rest_is_missing_and_the_stop_is_reported(
    tmp_path: Path, repo: Repository
) -> None:
    client = FakeClient()
    ids = [client.attachment(n, body(n, 50)) for n in range(10)]
    client.reserve_after = 4
    snap = snapshot(tmp_path, "s1")

    result = run(client, repo, snap, download_concurrency=1)

    assert isinstance(result.stopped, ApiReserveReached)
    entry = result["Attachment"]
    assert entry.downloaded == 4 and sorted(entry.missing) == sorted(ids[4:])
    rows = index(snap, "Attachment")
    assert sorted(i for i, r in rows.items() if r["status"] == "missing") == sorted(ids[4:])
    assert all(rows[i]["sha256"] is None for i in ids[4:])
    assert result.summary["missing"] == 6


def test_given_a_reserve_hit_inside_a_download_then_that_file_is_missing_too(
    tmp_path: Path, repo: Repository
) -> None:
    client = FakeClient()
    first = client.attachment(1, b"a")
    second = client.attachment(2, b"b")
    client.errors[first] = ApiReserveReached("REQUEST_LIMIT_EXCEEDED")
    result = run(client, repo, snapshot(tmp_path, "s1"), download_concurrency=1)
    assert isinstance(result.stopped, ApiReserveReached)
    assert first in result["Attachment"].missing and second in result["Attachment"].missing


def test_given_a_resumed_snapshot_then_its_own_downloads_are_kept_and_the_missing_ones_fetched(
    tmp_path: Path, repo: Repository
) -> None:
    client = FakeClient()
    ids = [client.attachment(n, body(n, 50)) for n in range(6)]
    client.reserve_after = 2
    snap = snapshot(tmp_path, "s1")
    run(client, repo, snap, download_concurrency=1)
    client.reserve_after = None
    client.downloads.clear()

    resumed = run(client, repo, snap, download_concurrency=1)

    assert sorted(client.downloads) == sorted(ids[2:])
    assert resumed["Attachment"].downloaded == 6 and resumed["Attachment"].missing == []


def test_given_a_stop_request_then_nothing_new_starts(tmp_path: Path, repo: Repository) -> None:
    client = FakeClient()
    ids = [client.attachment(n, b"z") for n in range(3)]
    stop = threading.Event()
    stop.set()
    result = run(client, repo, snapshot(tmp_path, "s1"), stop_event=stop)
    assert client.downloads == [] and sorted(result["Attachment"].missing) == sorted(ids)
    assert result.stopped is not None and not isinstance(result.stopped, ApiReserveReached)


def test_given_progress_then_files_and_bytes_are_reported_to_the_end(
    tmp_path: Path, repo: Repository
) -> None:
    events: list[tuple[str, int, int, int]] = []

    class Progress(NullProgress):
        def files_progress(self, name: str, done: int, total: int, bytes_done: int) -> None:
            events.append((name, done, total, bytes_done))

    client = FakeClient()
    client.attachment(1, body(1, 300))
    client.attachment(2, body(2, 200))
    run(client, repo, snapshot(tmp_path, "s1"), objects=("Attachment",), progress=Progress())
    assert events[0] == ("Attachment", 0, 2, 0) and events[-1] == ("Attachment", 2, 2, 500)


def test_given_a_query_timeout_then_the_created_date_range_is_halved_until_it_answers(
    tmp_path: Path, repo: Repository
) -> None:
    class TimingOut(FakeClient):
        def get_json(self, path: str, *, params: dict[str, str] | None = None, **kw: Any) -> Any:
            if params and "FROM Attachment" in params["q"] and params["q"].count("CreatedDate >=") == 0:
                self.queries.append(params["q"])
                raise SalesforceError("QUERY_TIMEOUT: Your query request was running for too long.",
                                      error_code="QUERY_TIMEOUT", status=400)  # fmt: skip
            return super().get_json(path, params=params, **kw)

    client = TimingOut()
    att = client.attachment(1, b"abc")
    snap = snapshot(tmp_path, "s1")
    run(client, repo, snap, objects=("Attachment",))
    ranged = [q for q in client.queries if "FROM Attachment" in q and "CreatedDate >=" in q]
    assert len(ranged) == 2 and all("CreatedDate <" in q for q in ranged)
    assert list(index(snap, "Attachment")) == [att]


def test_given_a_stop_request_midway_then_started_downloads_finish_and_the_rest_are_missing(
    tmp_path: Path, repo: Repository
) -> None:
    stop = threading.Event()

    class StopAfterFirst(FakeClient):
        def download(self, path: str, sink: Callable[[Iterator[bytes]], Any], **kw: Any) -> Any:
            try:
                return super().download(path, sink, **kw)
            finally:
                stop.set()

    client = StopAfterFirst()
    ids = [client.attachment(n, body(n, 20)) for n in range(20)]
    snap = snapshot(tmp_path, "s1")
    result = run(client, repo, snap, download_concurrency=1, stop_event=stop)
    entry = result["Attachment"]
    assert 1 <= entry.downloaded < 20 and entry.downloaded + len(entry.missing) == 20
    assert sorted(client.downloads) == sorted(i for i in ids if i not in entry.missing)
    assert result.stopped is not None and "stopped on request" in result.stopped.message
    assert all(repo.blobs.has(r["sha256"]) for r in index(snap, "Attachment").values() if r["sha256"])


def test_given_a_record_deleted_during_the_run_then_its_body_is_unavailable(
    tmp_path: Path, repo: Repository
) -> None:
    client = FakeClient()
    att = client.attachment(1, b"x")
    client.errors[att] = SalesforceError("entity is deleted", status=404, error_code="ENTITY_IS_DELETED")
    result = run(client, repo, snapshot(tmp_path, "s1"))
    assert result["Attachment"].failed == [] and result.summary["unavailable"] == 1


def test_given_downloads_under_way_then_the_files_index_on_disk_keeps_up_with_them(
    tmp_path: Path, repo: Repository
) -> None:
    snap = snapshot(tmp_path, "s1")
    seen_downloaded: list[int] = []

    class Watching(FakeClient):
        def download(self, path: str, sink: Callable[[Iterator[bytes]], Any], **kw: Any) -> Any:
            on_disk = snap / "files" / "Attachment.parquet"
            # read in one go: the index is replaced (atomically) while this runs
            data = on_disk.read_bytes() if on_disk.exists() else b""
            rows = pq.read_table(pa.BufferReader(data)).to_pylist() if data else []
            seen_downloaded.append(sum(r["status"] == "downloaded" for r in rows))
            return super().download(path, sink, **kw)

    client = Watching()
    for n in range(20):
        client.attachment(n, body(n, 50))
    run(client, repo, snap, download_concurrency=1, index_checkpoint_seconds=0.0)
    # while bodies still download, the index on disk already lists most of those done before
    # (downloads run up to two ahead of the checkpoints, which happen as finished ones are collected)
    assert seen_downloaded == sorted(seen_downloaded) and max(seen_downloaded) >= 10, seen_downloaded


def test_given_a_run_that_dies_midway_through_downloads_when_run_again_then_only_the_rest_download(
    tmp_path: Path, repo: Repository
) -> None:
    from sfbackup.errors import StorageError

    class DiskFails(FakeClient):
        def download(self, path: str, sink: Callable[[Iterator[bytes]], Any], **kw: Any) -> Any:
            if len(self.downloads) >= 12:
                raise StorageError("cannot write the blob: the disk is full")
            return super().download(path, sink, **kw)

    dying = DiskFails()
    ids = [dying.attachment(n, body(n, 50)) for n in range(30)]
    snap = snapshot(tmp_path, "s1")
    with pytest.raises(StorageError):
        run(dying, repo, snap, download_concurrency=1, index_checkpoint_seconds=0.0)
    saved = len(dying.downloads)

    healthy = FakeClient()
    for n in range(30):
        healthy.attachment(n, body(n, 50))
    result = run(healthy, repo, snap, download_concurrency=1)

    assert result["Attachment"].downloaded == 30 and not result["Attachment"].missing
    assert len(healthy.downloads) == 30 - saved, (saved, len(healthy.downloads))
    assert sorted(index(snap, "Attachment")) == sorted(ids)
