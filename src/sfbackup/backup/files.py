"""File bodies: Attachment, ContentVersion and Document into the content-addressed blob store.

Three phases, in the repository's write order:

1. Metadata. For every file object a REST query selects the file's columns (never the base64
   body) under the snapshot predicate; ContentVersion owners come from ContentDocumentLink,
   queried with the ``ContentDocumentId IN (...)`` filter Salesforce insists on, in batches that
   keep the URL short. A budget stop here raises: nothing has been downloaded yet.
2. Bodies. Rows the repository already holds are not downloaded (same Id and Checksum for a
   ContentVersion, whose Id is immutable; same Id, SystemModstamp and size for Attachments and
   Documents, which can change). The rest are streamed through the blob endpoints by
   `download_concurrency` threads into the BlobStore, hashed (SHA-256 and MD5) on the way. A body
   whose size or MD5 disagrees with what Salesforce announced is retried, and never committed
   under its SHA-256. At the API reserve or on `stop_event` nothing new starts; the downloads in
   flight finish and the rest are recorded as `missing`, so `--resume` or the next night continues.
3. Indexes. ``files/<Object>.parquet`` is written atomically, one row per file (the columns of
   docs/repository-format.md), and the manifest entries are returned for the caller to save.

Statuses in the index: ``downloaded`` and ``deduplicated`` (the body is in the store),
``failed`` and ``missing`` (it is not; the snapshot cannot become complete), and two for bodies
that do not exist to be saved: ``no_body`` (a Document that is only a URL, an external
ContentVersion link: Salesforce reports no length) and ``unavailable`` (the record is in the
Recycle Bin and Salesforce no longer serves its body). File names are data, never paths.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from sfbackup.errors import (
    ApiReserveReached,
    OrgUnreachable,
    SalesforceError,
    SfbackupError,
)
from sfbackup.repository.blobs import BlobStore, BlobWrite
from sfbackup.repository.layout import files_index_relpath
from sfbackup.repository.manifest import FilesEntry, PartInfo
from sfbackup.repository.writers import ParquetPartWriter
from sfbackup.salesforce import describe, query_rest, soql
from sfbackup.salesforce.client import CallMeter, SalesforceClient
from sfbackup.salesforce.cut import Cut
from sfbackup.salesforce.objects import FILE_BODY_FIELDS, FileSelection
from sfbackup.ui.progress import NullProgress, Progress

__all__ = [
    "FILE_OBJECT_SPECS",
    "INDEX_SCHEMA",
    "FileBodyMismatch",
    "FileObjectSpec",
    "FilesExportResult",
    "dedup_key",
    "export_files",
]

#: How many times a body whose size or MD5 disagrees with Salesforce is downloaded in all.
MISMATCH_ATTEMPTS = 3
#: While bodies download, the files index is rewritten this often (seconds), so that a run killed
#: mid-way resumes with what it had downloaded instead of downloading everything again.
INDEX_CHECKPOINT_SECONDS = 5.0
#: Owners are looked up for this many ContentDocuments per ContentDocumentLink query.
LINK_BATCH = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RECORD_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")

INDEX_SCHEMA = pa.schema(
    [
        pa.field("Id", pa.string(), nullable=False),
        pa.field("ParentId", pa.string()),
        pa.field("LinkedEntityIds", pa.list_(pa.string())),
        pa.field("Name", pa.string()),
        pa.field("FileExtension", pa.string()),
        pa.field("ContentType", pa.string()),
        pa.field("Size", pa.int64()),
        pa.field("SalesforceChecksum", pa.string()),
        pa.field("SystemModstamp", pa.timestamp("ms", tz="UTC")),
        pa.field("IsDeleted", pa.bool_()),
        pa.field("sha256", pa.string()),
        pa.field("status", pa.string(), nullable=False),
    ]
)


@dataclass(frozen=True)
class FileObjectSpec:
    """Which fields of a file object fill which index columns (first present field wins)."""

    name: str
    parent: str
    names: tuple[str, ...]
    extension: tuple[str, ...]
    content_type: tuple[str, ...]
    size: str
    checksum: str | None = None
    location: str | None = None  # ContentLocation: only "S" versions have a body in Salesforce

    def wanted_fields(self) -> list[str]:
        fields = ["Id", self.parent, *self.names, *self.extension, *self.content_type, self.size]
        fields += [f for f in (self.checksum, self.location) if f]
        fields += ["SystemModstamp", "IsDeleted"]
        return list(dict.fromkeys(fields))

    @property
    def body_field(self) -> str:
        """The base64 field whose bytes are the file (`FILE_BODY_FIELDS`)."""
        return FILE_BODY_FIELDS[self.name]


FILE_OBJECT_SPECS: dict[str, FileObjectSpec] = {
    "Attachment": FileObjectSpec(
        "Attachment", "ParentId", ("Name",), (), ("ContentType",), "BodyLength"
    ),
    "ContentVersion": FileObjectSpec(
        "ContentVersion",
        "ContentDocumentId",
        ("Title", "PathOnClient"),
        ("FileExtension",),
        ("FileType",),
        "ContentSize",
        checksum="Checksum",
        location="ContentLocation",
    ),
    "Document": FileObjectSpec(
        "Document", "FolderId", ("Name",), ("Type",), ("ContentType",), "BodyLength"
    ),
}


class FileBodyMismatch(SfbackupError):
    """A downloaded body's size or MD5 differs from what Salesforce announced (it was not stored)."""


class FilesExportResult(dict[str, FilesEntry]):
    """The manifest entry of each file object, plus how the run ended.

    `stopped` is the ApiReserveReached (or the stop request) that ended downloads early, None when
    every body was attempted; `summary` counts files downloaded, deduplicated, failed, missing.
    """

    stopped: SfbackupError | None = None
    summary: dict[str, int]

    def __init__(self) -> None:
        super().__init__()
        self.summary = {}


@dataclass(slots=True)
class _FileRow:
    object_name: str
    id: str
    parent_id: str | None
    name: str | None
    extension: str | None
    content_type: str | None
    size: int | None
    checksum: str | None
    modstamp: datetime | None
    is_deleted: bool
    has_body: bool
    linked: list[str] = field(default_factory=list)
    sha256: str | None = None
    status: str = "missing"
    reason: str | None = None
    stored_bytes: int = 0


@dataclass(frozen=True)
class _MetadataQuery:
    name: str
    fields: list[str]
    clauses: list[str]
    include_deleted: bool
    splittable: bool  # has CreatedDate, so a timed-out query can be read in date ranges


@dataclass(frozen=True)
class _Previous:
    sha256: str | None
    status: str
    key: tuple[Any, ...]
    same_snapshot: bool


def dedup_key(
    object_name: str, size: int | None, checksum: str | None, modstamp: datetime | None
) -> tuple[Any, ...]:
    """What must be unchanged (beside the Id) for an earlier copy of a body to be reused.

    A ContentVersion never changes after it is created, so its Checksum (MD5) and size identify
    its body. Attachments and Documents can be edited in place: their SystemModstamp moves.
    """
    if object_name == "ContentVersion" and checksum:
        return ("md5", checksum.lower(), size)
    millis = None if modstamp is None else (modstamp - _EPOCH) // timedelta(milliseconds=1)
    return ("modstamp", millis, size)


def export_files(
    client: SalesforceClient,
    repository: Any,
    snapshot_dir: Path,
    *,
    objects: Sequence[str] = ("Attachment", "ContentVersion", "Document"),
    cuts: Mapping[str, Cut] | None = None,
    include_deleted: bool = True,
    content_versions: Literal["all", "latest"] = "all",
    download_concurrency: int = 8,
    parent_index: Mapping[str, Path] | None = None,
    progress: Progress | None = None,
    stop_event: threading.Event | None = None,
    mismatch_attempts: int = MISMATCH_ATTEMPTS,
    index_checkpoint_seconds: float = INDEX_CHECKPOINT_SECONDS,
    recheck_slice: tuple[int, int] | None = None,
) -> FilesExportResult:
    """Save the bodies of `objects` into the repository's blob store and write their indexes.

    `repository` is a `Repository` (its `blobs`) or a `BlobStore`. `cuts` gives each object's
    cut (the same `Cut` its records were exported under; an object without one is read whole).
    `parent_index` maps an object to an earlier snapshot's ``files/<Object>.parquet`` for
    deduplication (an index of this snapshot from an interrupted attempt is used too); a reused
    body is checked by size, and a ContentVersion's in `recheck_slice` (n, t: those whose SHA-256
    falls in share n of t) re-hashed against Salesforce's Checksum too. Returns
    the manifest entry per object; ApiReserveReached propagates only when the budget runs out
    before any metadata could be read.
    """
    blobs: BlobStore = repository if isinstance(repository, BlobStore) else repository.blobs
    exporter = _FilesExporter(
        client, blobs, Path(snapshot_dir), progress or NullProgress(), stop_event, max(1, mismatch_attempts)
    )
    rows_by_object: dict[str, list[_FileRow]] = {}
    refused: dict[str, FilesEntry] = {}
    selections: dict[str, FileSelection] = {}
    for name in objects:
        spec = FILE_OBJECT_SPECS.get(name)
        if spec is None:
            raise SfbackupError(
                f"{name} is not a file object; file bodies are exported for {sorted(FILE_OBJECT_SPECS)}"
            )
        selection = FileSelection(
            (cuts or {}).get(name), include_deleted=include_deleted, latest_only=content_versions == "latest"
        )
        selections[name] = selection
        try:
            with client.metered(exporter.meters[name]):
                rows_by_object[name] = exporter.read_metadata(spec, selection)
        except SalesforceError as exc:
            # This file object's metadata is refused: its bodies are not saved (the snapshot ends
            # incomplete, Salesforce's words in the entry); the other file objects still are.
            refused[name] = FilesEntry(
                failed=[{"id": None, "reason": f"the file metadata query was refused: {exc.message}"}],
                api_calls=exporter.meters[name].calls, cut=selection.cut,
                include_deleted=selection.include_deleted, latest_only=selection.latest_only,
            )  # fmt: skip
    for name, rows in rows_by_object.items():
        previous = exporter.previous_rows(name, (parent_index or {}).get(name))
        exporter.resolve_known(rows, previous, recheck_slice)
    exporter.checkpoint_seconds = index_checkpoint_seconds
    exporter.download_all(rows_by_object, max(1, download_concurrency))
    result = FilesExportResult()
    for name, rows in rows_by_object.items():
        result[name] = exporter.write_index(name, rows, selections[name])
    result.update(refused)
    result.stopped = exporter.stopped
    result.summary = exporter.summary(rows_by_object)
    return result


class _FilesExporter:
    def __init__(
        self,
        client: SalesforceClient,
        blobs: BlobStore,
        snapshot_dir: Path,
        progress: Progress,
        stop_event: threading.Event | None,
        mismatch_attempts: int,
    ) -> None:
        self.client = client
        self.blobs = blobs
        self.snapshot_dir = snapshot_dir
        self.progress = progress
        self.stop_event = stop_event
        self.mismatch_attempts = mismatch_attempts
        self.stopped: SfbackupError | None = None
        self._done: dict[str, int] = {}
        self._bytes: dict[str, int] = {}
        self._totals: dict[str, int] = {}
        self._halt = threading.Event()  # set by a worker that met the API limit
        self.meters: defaultdict[str, CallMeter] = defaultdict(CallMeter)
        self.rechecked = 0  # reused bodies re-hashed against Salesforce's checksum
        self.recheck_damaged = 0
        self.checkpoint_seconds = INDEX_CHECKPOINT_SECONDS
        self._last_checkpoint = time.monotonic()

    # -- phase 1: metadata --------------------------------------------------------------------

    def read_metadata(self, spec: FileObjectSpec, selection: FileSelection) -> list[_FileRow]:
        schema = describe.describe(self.client, spec.name)
        present = [schema.field(f).name for f in spec.wanted_fields() if schema.has_field(f)]
        include_deleted = selection.include_deleted
        conditions = selection.conditions(spec.name)
        splittable = schema.has_field("CreatedDate")
        query = _MetadataQuery(spec.name, present, conditions, include_deleted, splittable)
        rows: list[_FileRow] = []
        for page in self._pages(query):
            rows.extend(_row_from_record(spec, record) for record in page)
        rows.sort(key=lambda r: r.id)
        if spec.name == "ContentVersion" and rows:
            owners = self._owners(sorted({r.parent_id for r in rows if r.parent_id}), include_deleted)
            for row in rows:
                row.linked = owners.get(row.parent_id or "", [])
        return rows

    def _pages(self, query: _MetadataQuery) -> Iterator[list[dict[str, Any]]]:
        """REST pages of the metadata query (CreatedDate ranges after a QUERY_TIMEOUT)."""

        def build(extra_where: str | None) -> str:
            clauses = [*query.clauses, *([extra_where] if extra_where else [])]
            return soql.build_select(query.name, query.fields, where=soql.all_of(*clauses))

        if query.splittable:
            return query_rest.iter_query_pages_splitting(
                self.client, build, include_deleted=query.include_deleted
            )
        return query_rest.iter_query_pages(self.client, build(None), include_deleted=query.include_deleted)

    def _owners(self, document_ids: list[str], include_deleted: bool) -> dict[str, list[str]]:
        """LinkedEntityIds per ContentDocumentId (ContentDocumentLink refuses unfiltered queries)."""
        owners: dict[str, set[str]] = {}
        valid = [d for d in document_ids if _RECORD_ID.fullmatch(d)]
        batches = [valid[i : i + LINK_BATCH] for i in range(0, len(valid), LINK_BATCH)]
        while batches:
            batch = batches.pop()
            found: dict[str, set[str]] = {}
            try:
                for clause in soql.in_clauses("ContentDocumentId", batch, batch_size=LINK_BATCH):
                    query = soql.build_select(
                        "ContentDocumentLink", ["ContentDocumentId", "LinkedEntityId"], where=clause
                    )
                    pages = query_rest.iter_query_pages(self.client, query, include_deleted=include_deleted)
                    for page in pages:
                        for link in page:
                            document, entity = link.get("ContentDocumentId"), link.get("LinkedEntityId")
                            if document and entity:
                                found.setdefault(str(document), set()).add(str(entity))
            except SalesforceError as exc:
                # No date condition is allowed beside this filter: a timed-out batch is halved.
                if exc.error_code != "QUERY_TIMEOUT" or len(batch) < 2:
                    raise
                batches += [batch[: len(batch) // 2], batch[len(batch) // 2 :]]
                continue
            for document, entities in found.items():
                owners.setdefault(document, set()).update(entities)
        return {document: sorted(entities) for document, entities in owners.items()}

    # -- phase 2: deduplication and downloads -------------------------------------------------

    def previous_rows(self, name: str, parent_path: Path | None) -> dict[str, _Previous]:
        """Earlier copies by Id: this snapshot's own index (an interrupted attempt) over the parent's."""
        previous: dict[str, _Previous] = {}
        if parent_path is not None:
            previous.update(_read_previous(name, Path(parent_path), same_snapshot=False))
        own = self.snapshot_dir / files_index_relpath(name)
        if own.is_file() and (parent_path is None or own.resolve() != Path(parent_path).resolve()):
            previous.update(_read_previous(name, own, same_snapshot=True))
        return previous

    def resolve_known(
        self, rows: list[_FileRow], previous: Mapping[str, _Previous], recheck: tuple[int, int] | None = None
    ) -> None:
        """Settle every row that needs no download: no body, or an unchanged body already stored
        (whose bytes, for a ContentVersion in the `recheck` share, still have Salesforce's MD5)."""
        for row in rows:
            if not row.has_body:
                row.status = "no_body"
                continue
            earlier = previous.get(row.id)
            if earlier is None or earlier.key != dedup_key(
                row.object_name, row.size, row.checksum, row.modstamp
            ):
                continue
            if earlier.sha256 and self.blobs.has(earlier.sha256, size=row.size):
                if not self._still_intact(row, earlier.sha256, recheck):
                    continue  # downloaded again: the good copy replaces the damaged blob
                row.sha256 = earlier.sha256
                kept = earlier.same_snapshot and earlier.status == "downloaded"
                row.status = "downloaded" if kept else "deduplicated"
            elif earlier.status == "unavailable" and row.is_deleted:
                row.status = "unavailable"  # still in the Recycle Bin: asking again would fail again

    def _still_intact(self, row: _FileRow, sha256: str, recheck: tuple[int, int] | None) -> bool:
        """False when a ContentVersion body due for its re-check no longer has Salesforce's MD5."""
        if recheck is None or not row.checksum or int(sha256[:8], 16) % recheck[1] != recheck[0]:
            return True
        self.rechecked += 1
        if self.blobs.md5(sha256) == row.checksum.lower():
            return True
        self.recheck_damaged += 1
        self.progress.message(
            "warning",
            f"{row.object_name} {row.id}: the stored body {sha256[:12]}... no longer has Salesforce's "
            "checksum (damaged on disk); downloading it again",
        )
        return False

    def download_all(self, rows_by_object: Mapping[str, list[_FileRow]], concurrency: int) -> None:
        todo = [r for rows in rows_by_object.values() for r in rows if r.status == "missing"]
        for name, rows in rows_by_object.items():
            self._totals[name] = len(rows)
            self._done[name] = sum(1 for r in rows if r.status != "missing")
            self._bytes[name] = 0
            self._report(name)
        if not todo:
            return
        fatal: BaseException | None = None
        running: dict[Future[None], _FileRow] = {}
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sfbackup-files") as pool:
            for row in todo:
                if self.stopped is not None or fatal is not None:
                    break
                if self.stop_event is not None and self.stop_event.is_set():
                    break
                try:
                    self.client.check_reserve()
                except ApiReserveReached as exc:
                    self.stopped = exc
                    break
                while len(running) >= concurrency * 2:
                    # Always collect: `fatal or self._collect(...)` would stop collecting after
                    # the first fatal error and spin here forever.
                    found = self._collect(running)
                    fatal = fatal or found
                    self._checkpoint(rows_by_object)
                if fatal is not None:
                    break
                running[pool.submit(self._metered_download, row)] = row
            while running:
                found = self._collect(running)
                fatal = fatal or found
                self._checkpoint(rows_by_object)
        for name in rows_by_object:
            self._report(name)
        if self.stopped is None and any(r.status == "missing" for r in todo):
            self.stopped = SfbackupError(
                "file downloads were stopped on request; the rest are recorded as missing",
                hint="`sfbackup run --resume` continues",
            )
        if fatal is not None:
            self._checkpoint(rows_by_object, force=True)
            raise fatal

    def _checkpoint(self, rows_by_object: Mapping[str, list[_FileRow]], *, force: bool = False) -> None:
        """Rewrite every files index with the downloads settled so far (every `checkpoint_seconds`)."""
        now = time.monotonic()
        if not force and now - self._last_checkpoint < self.checkpoint_seconds:
            return
        self._last_checkpoint = now
        for name, rows in rows_by_object.items():
            self._write_index_file(name, rows)

    def _collect(self, running: dict[Future[None], _FileRow]) -> BaseException | None:
        """Settle the downloads that have finished; return the first error that ends the run."""
        finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
        first_fatal: BaseException | None = None
        for future in finished:
            row = running.pop(future)
            exc = future.exception()
            if isinstance(exc, ApiReserveReached):
                row.status, row.sha256 = "missing", None
                self.stopped = self.stopped or exc
            elif exc is not None:
                row.status, row.reason = "failed", f"{type(exc).__name__}: {exc}"
                first_fatal = first_fatal or exc
            elif row.status != "missing":
                self._done[row.object_name] += 1
                self._bytes[row.object_name] += row.stored_bytes
                self._report(row.object_name)
        return first_fatal

    def _metered_download(self, row: _FileRow) -> None:
        with self.client.metered(self.meters[row.object_name]):
            self._download(row)

    def _download(self, row: _FileRow) -> None:
        """Fetch one body into the store; settle the row as downloaded, failed or unavailable.

        ApiReserveReached and errors that will hit every file (disk full, login refused)
        propagate; a failure of this one file is recorded on the row.
        """
        if self._halt.is_set() or (self.stop_event is not None and self.stop_event.is_set()):
            return  # queued before the stop: it stays missing
        spec = FILE_OBJECT_SPECS[row.object_name]
        if not _RECORD_ID.fullmatch(row.id):
            row.status, row.reason = "failed", f"{row.id!r} is not a Salesforce record id"
            return
        path = self.client.data_path(f"sobjects/{spec.name}/{row.id}/{spec.body_field}")
        last: FileBodyMismatch | None = None
        for _ in range(self.mismatch_attempts):
            try:
                write: BlobWrite = self.client.download(path, lambda chunks: self._store(chunks, row))
            except FileBodyMismatch as exc:
                last = exc
                continue
            except ApiReserveReached:
                self._halt.set()
                raise
            except SalesforceError as exc:
                if exc.error_code == "ENTITY_IS_DELETED" or (row.is_deleted and exc.status == 404):
                    row.status, row.reason = "unavailable", exc.message
                else:
                    row.status, row.reason = "failed", exc.message
                return
            except OrgUnreachable as exc:
                row.status, row.reason = "failed", exc.message
                return
            row.sha256, row.status, row.stored_bytes = write.sha256, "downloaded", write.size
            return
        row.status = "failed"
        row.reason = f"{last.message if last else 'body mismatch'} (after {self.mismatch_attempts} attempts)"

    def _store(self, chunks: Iterator[bytes], row: _FileRow) -> BlobWrite:
        checked = _checked_body(chunks, row)
        return self.blobs.put_stream(checked, expected_size=row.size, extra_hashers=(), sync_dirs=False)

    def _report(self, name: str) -> None:
        self.progress.files_progress(name, self._done[name], self._totals[name], self._bytes[name])

    # -- phase 3: the index -------------------------------------------------------------------

    def _write_index_file(self, name: str, rows: list[_FileRow]) -> PartInfo:
        table = pa.Table.from_pylist([_index_row(r) for r in rows], schema=INDEX_SCHEMA)
        # After the rows are read (a body settling meanwhile is not named): the blobs the index
        # names are durable before the index is.
        self.blobs.sync()
        writer = ParquetPartWriter(
            self.snapshot_dir / files_index_relpath(name), INDEX_SCHEMA, root=self.snapshot_dir
        )
        try:
            writer.write(table)
        except BaseException:
            writer.abort()
            raise
        return writer.close()

    def write_index(self, name: str, rows: list[_FileRow], selection: FileSelection) -> FilesEntry:
        info = self._write_index_file(name, rows)
        deduplicated = sum(1 for r in rows if r.status == "deduplicated")
        return FilesEntry(
            index_path=info.path,
            index_bytes=info.bytes,
            index_sha256=info.sha256,
            count=len(rows),
            bytes=sum(r.size or 0 for r in rows),
            downloaded=sum(1 for r in rows if r.status == "downloaded"),
            deduplicated=deduplicated,
            failed=[{"id": r.id, "reason": r.reason or "failed"} for r in rows if r.status == "failed"],
            missing=[r.id for r in rows if r.status == "missing"],
            api_calls_saved=deduplicated,
            api_calls=self.meters[name].calls,
            cut=selection.cut,
            include_deleted=selection.include_deleted,
            latest_only=selection.latest_only,
        )

    def summary(self, rows_by_object: Mapping[str, list[_FileRow]]) -> dict[str, int]:
        counts = {s: 0 for s in ("downloaded", "deduplicated", "failed", "missing", "no_body", "unavailable")}
        for rows in rows_by_object.values():
            for row in rows:
                counts[row.status] = counts.get(row.status, 0) + 1
        counts["files"] = sum(len(rows) for rows in rows_by_object.values())
        counts["bytes_downloaded"] = sum(self._bytes.values())
        counts["rechecked"] = self.rechecked
        counts["recheck_damaged"] = self.recheck_damaged
        return counts


def _checked_body(chunks: Iterable[bytes], row: _FileRow) -> Iterator[bytes]:
    """Pass `chunks` through, raising FileBodyMismatch instead of ending when the body is not the
    one Salesforce announced, so the BlobStore drops it instead of committing it."""
    md5 = hashlib.md5(usedforsecurity=False) if row.checksum else None
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if row.size is not None and size > row.size:
            raise FileBodyMismatch(
                f"{row.object_name} {row.id}: the body is longer than the {row.size} bytes Salesforce "
                "announced; it was not stored",
                hint="the file may have changed during the backup; the next run fetches it again",
            )
        if md5 is not None:
            md5.update(chunk)
        yield chunk
    if row.size is not None and size != row.size:
        raise FileBodyMismatch(
            f"{row.object_name} {row.id}: received {size} of the {row.size} bytes Salesforce announced; "
            "it was not stored",
            hint="the download was cut short; the next run fetches it again",
        )
    if md5 is not None and row.checksum and md5.hexdigest() != row.checksum.lower():
        raise FileBodyMismatch(
            f"{row.object_name} {row.id}: the body's MD5 is {md5.hexdigest()}, Salesforce's Checksum is "
            f"{row.checksum}; it was not stored",
            hint="the body was damaged in transit or the version changed; the next run fetches it again",
        )


def _row_from_record(spec: FileObjectSpec, record: Mapping[str, Any]) -> _FileRow:
    def first(names: Sequence[str]) -> str | None:
        for key in names:
            value = record.get(key)
            if value not in (None, ""):
                return str(value)
        return None

    size = _int_or_none(record.get(spec.size))
    location = record.get(spec.location) if spec.location else None
    checksum = record.get(spec.checksum) if spec.checksum else None
    return _FileRow(
        object_name=spec.name,
        id=str(record.get("Id")),
        parent_id=first((spec.parent,)),
        name=first(spec.names),
        extension=first(spec.extension),
        content_type=first(spec.content_type),
        size=size,
        checksum=str(checksum) if checksum else None,
        modstamp=_parse_datetime(record.get("SystemModstamp")),
        is_deleted=bool(record.get("IsDeleted") or False),
        has_body=size is not None and location in (None, "S"),
    )


def _index_row(row: _FileRow) -> dict[str, Any]:
    return {
        "Id": row.id,
        "ParentId": row.parent_id,
        "LinkedEntityIds": list(row.linked),
        "Name": row.name,
        "FileExtension": row.extension,
        "ContentType": row.content_type,
        "Size": row.size,
        "SalesforceChecksum": row.checksum,
        "SystemModstamp": row.modstamp,
        "IsDeleted": row.is_deleted,
        "sha256": row.sha256 if row.status in ("downloaded", "deduplicated") else None,
        "status": row.status,
    }


def _read_previous(name: str, path: Path, *, same_snapshot: bool) -> dict[str, _Previous]:
    """Rows of an earlier files index by Id; an unreadable index just means nothing is reused."""
    wanted = ["Id", "Size", "SalesforceChecksum", "SystemModstamp", "sha256", "status"]
    try:
        table = pq.read_table(path, columns=wanted)
    except (OSError, pa.ArrowException):
        return {}
    return {
        str(item["Id"]): _Previous(
            item["sha256"],
            str(item["status"]),
            dedup_key(name, item["Size"], item["SalesforceChecksum"], item["SystemModstamp"]),
            same_snapshot,
        )
        for item in table.to_pylist()
    }


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def _parse_datetime(value: Any) -> datetime | None:
    """Salesforce's ``2024-01-31T23:59:59.000+0000`` (or any ISO 8601 form) as UTC; None if unreadable."""
    try:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value or ""))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
