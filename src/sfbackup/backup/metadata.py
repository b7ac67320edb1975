"""The org's configuration in a snapshot: describeMetadata, listMetadata for every type (folders
for the foldered ones), retrieves of generated package.xml chunks under the Metadata API's limits,
polled, and every retrieved file stored as a content-addressed blob named in
`metadata/index.parquet` (docs/repository-format.md, "Metadata").

Chunks hold at most `MetadataOptions.max_files` files (10,000 is the documented limit per
retrieve); up to `concurrent_retrieves` are in flight, each polled when it is due. A chunk
Salesforce refuses as too large (``LIMIT_EXCEEDED``: the ~39 MB compressed limit, or more files
than estimated) is split in two and retrieved again. A retrieve id
Salesforce no longer knows (``INVALID_CROSS_REFERENCE_KEY``) is retrieved again from the start.
Components a retrieve does not return stay in the index with the problem Salesforce gave; types
listMetadata refuses are recorded with the reason.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from sfbackup.backup.records import ExportStopped
from sfbackup.errors import SalesforceError
from sfbackup.repository import BlobStore, BlobWrite, write_atomic
from sfbackup.repository.layout import metadata_index_relpath, metadata_package_relpath
from sfbackup.repository.manifest import MetadataEntry
from sfbackup.repository.writers import ParquetPartWriter
from sfbackup.salesforce import polling
from sfbackup.salesforce.client import CallMeter, SalesforceClient
from sfbackup.salesforce.metadata import (
    FileProperties,
    MetadataApi,
    RetrieveStatus,
    list_everything,
    package_xml,
)
from sfbackup.ui.progress import NullProgress, Progress

__all__ = ["INDEX_SCHEMA", "MetadataOptions", "export_metadata"]

#: One row per file of a retrieved component, or one row (no file) per listed component that was
#: not retrieved, with the problem.
INDEX_SCHEMA = pa.schema([
    pa.field("type", pa.string(), nullable=False),
    pa.field("full_name", pa.string(), nullable=False),
    pa.field("file_name", pa.string()),
    pa.field("sha256", pa.string()),
    pa.field("size", pa.int64()),
    pa.field("last_modified", pa.string()),
    pa.field("status", pa.string(), nullable=False),  # retrieved | failed
    pa.field("problem", pa.string()),
])

_NOT_FOUND = re.compile(r"Entity of type '([^']+)' named '([^']+)' cannot be found")
_ROOT = "unpackaged/"
_MAX_RESTARTS = 3
#: Threads storing one retrieve's new blobs (their fsyncs overlap), and how many files may wait.
STORE_THREADS = 8
STORE_WINDOW = 64


@dataclass(frozen=True)
class MetadataOptions:
    """Limits and pacing of the metadata export."""

    max_files: int = 10_000  # files per retrieve (the Metadata API's limit)
    poll_initial: float = polling.FIRST_WAIT  # seconds before the first checkRetrieveStatus
    poll_max: float = polling.LONGEST_WAIT  # the longest wait between two polls (`polling.next_wait`)
    timeout: float = 3600.0  # seconds one retrieve may take before it is given up
    concurrent_retrieves: int = 3  # retrieves Salesforce works on at once (each polled in turn)


@dataclass
class _Component:
    props: FileProperties
    package_type: str  # the type package.xml names it under (a ReportFolder under Report)
    files: int  # files a retrieve returns for it (estimate, for chunking)
    rows: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None


@dataclass
class _Job:
    """A retrieve in flight."""

    chunk: list[_Component]
    id: str
    due: float  # when to poll it next (time.monotonic)
    wait: float  # the current wait between polls
    deadline: float
    started: float  # when it was submitted (time.monotonic): polls grow with its age
    restarts: int = 0


def export_metadata(
    client: SalesforceClient,
    blobs: BlobStore,
    snapshot_dir: Path,
    *,
    options: MetadataOptions | None = None,
    progress: Progress | None = None,
    stop_event: threading.Event | None = None,
    sleep: Callable[[float], None] = time.sleep,
    meter: CallMeter | None = None,
) -> MetadataEntry:
    """Back up every metadata component the org lists; the manifest entry that describes them.
    `meter` counts its API calls (also when it raises)."""
    export = _Export(client, blobs, snapshot_dir, options or MetadataOptions(), progress or NullProgress(),
                     stop_event or threading.Event(), sleep)  # fmt: skip
    if meter is not None:
        export.meter = meter
    return export.run()


class _Export:
    def __init__(self, client: SalesforceClient, blobs: BlobStore, snapshot_dir: Path,
                 options: MetadataOptions, progress: Progress, stop_event: threading.Event,
                 sleep: Callable[[float], None]) -> None:  # fmt: skip
        self.client = client
        self.api = MetadataApi(client)
        self.blobs = blobs
        self.snapshot_dir = snapshot_dir
        self.options = options
        self.progress = progress
        self.stop_event = stop_event
        self.sleep = sleep
        self.meter = CallMeter()
        self.entry = MetadataEntry(api_version=self.api.api_version)
        self.components: dict[tuple[str, str], _Component] = {}
        self.by_file: dict[str, _Component] = {}

    def run(self) -> MetadataEntry:
        with self.client.metered(self.meter):
            self._list()
            queue = deque(self._chunks())
            self.progress.phase("metadata", f"retrieving {len(self.components)} metadata components "
                                            f"in {len(queue)} retrieve{'s' if len(queue) != 1 else ''}")
            in_flight: list[_Job] = []
            while queue or in_flight:
                self._check_stop()
                while queue and len(in_flight) < max(1, self.options.concurrent_retrieves):
                    in_flight.append(self._start(queue.popleft()))
                job = min(in_flight, key=lambda j: j.due)
                delay = job.due - time.monotonic()
                if delay > 0:
                    self.sleep(delay)
                status = self._poll(job)
                if status is not None:
                    in_flight.remove(job)
                    queue.extendleft(reversed(self._finish(job.chunk, status)))
        self._write()
        self.entry.api_calls = self.meter.calls
        return self.entry

    # -- listing ---------------------------------------------------------------------------------
    def _list(self) -> None:
        listing = list_everything(self.api, check_stop=self._check_stop)
        meta_files = {t.xml_name: t.meta_file for t in listing.types}
        for props in listing.components:
            package_type = listing.package_type(props)
            files = 2 if package_type == props.type and meta_files.get(props.type) else 1
            self._add(props, package_type, files)
        for type_name, reason in listing.refused:
            self.entry.not_retrievable.append({"type": type_name, "reason": _reason(reason)})
        refused = {t for t, _ in listing.refused}
        for t in listing.types:  # types with nothing listed still show in the counts
            if t.xml_name not in refused:
                self.entry.types.setdefault(t.xml_name, {"listed": 0, "retrieved": 0, "failed": 0})

    def _add(self, props: FileProperties, package_type: str, files: int) -> None:
        key = (props.type, props.full_name)
        if key in self.components:
            return
        component = _Component(props, package_type, files)
        self.components[key] = component
        self.by_file[props.file_name] = component
        counts = self.entry.types.setdefault(props.type, {"listed": 0, "retrieved": 0, "failed": 0})
        counts["listed"] += 1

    # -- retrieving ------------------------------------------------------------------------------
    def _chunks(self) -> list[list[_Component]]:
        budget = max(1, self.options.max_files - 1)  # package.xml is a file of the zip too
        chunks: list[list[_Component]] = []
        current: list[_Component] = []
        used = 0
        for component in self.components.values():
            if current and used + component.files > budget:
                chunks.append(current)
                current, used = [], 0
            current.append(component)
            used += component.files
        if current:
            chunks.append(current)
        return chunks

    def _start(self, chunk: list[_Component]) -> _Job:
        package: dict[str, list[str]] = {}
        for c in chunk:
            package.setdefault(c.package_type, []).append(c.props.full_name)
        job_id = self.api.retrieve(package)
        self.entry.retrieves += 1
        now = time.monotonic()
        wait = self.options.poll_initial
        return _Job(chunk, job_id, due=now + wait, wait=wait, deadline=now + self.options.timeout,
                    started=now)

    def _poll(self, job: _Job) -> RetrieveStatus | None:
        """One checkRetrieveStatus; the final status, or None when the job is to be polled again."""
        try:
            status = self.api.check_retrieve_status(job.id, include_zip=True)
        except SalesforceError as exc:
            if exc.error_code != "INVALID_CROSS_REFERENCE_KEY":
                raise
            if job.restarts + 1 >= _MAX_RESTARTS:
                return RetrieveStatus(True, "Failed", error_code=exc.error_code,
                                      error_message=f"Salesforce lost the retrieve {_MAX_RESTARTS} times")
            self.progress.message("warning", f"retrieve {job.id} is no longer known to Salesforce; "
                                             "retrieving again")
            restarted = self._start(job.chunk)
            restarted.restarts = job.restarts + 1
            vars(job).update(vars(restarted))  # the same job, under its new id and from a fresh clock
            return None
        if status.done:
            return status
        if time.monotonic() > job.deadline:
            return RetrieveStatus(True, "Failed", error_code="TIMEOUT",
                                  error_message=f"not done after {self.options.timeout:g} s")
        job.wait = polling.next_wait(job.wait, time.monotonic() - job.started, longest=self.options.poll_max)
        job.due = time.monotonic() + job.wait
        return None

    def _finish(self, chunk: list[_Component], status: RetrieveStatus) -> list[list[_Component]]:
        """Store a finished retrieve; the halves to retrieve instead when Salesforce found it too large."""
        if status.status != "Succeeded" or status.zip_bytes is None:
            if status.error_code == "LIMIT_EXCEEDED" and len(chunk) > 1:
                half = len(chunk) // 2
                self.progress.message("info", f"a retrieve of {len(chunk)} components was too large "
                                              f"({status.error_message}); splitting it in two")
                return [chunk[:half], chunk[half:]]
            why = status.error_message or "retrieve failed"
            self._fail(chunk, f"{status.error_code or status.status}: {why}")
            return []
        self._store(chunk, status)
        return []

    def _store(self, chunk: list[_Component], status: RetrieveStatus) -> None:
        problems: dict[tuple[str, str], str] = {}
        for file_name, problem in status.messages:
            match = _NOT_FOUND.search(problem)
            if match:
                problems[(match.group(1), match.group(2))] = problem
            else:
                self.entry.extra.setdefault("messages", []).append({"file": file_name, "problem": problem})
        # A file is matched to its component by the retrieve's own fileProperties first (its
        # fileName is the zip's), then by the file listMetadata named (and its -meta.xml).
        owners: dict[str, _Component] = {}
        for props in status.file_properties:
            owner = self.components.get((props.type, props.full_name))
            if owner is not None:
                owners[props.file_name.removeprefix(_ROOT)] = owner
        # Each new blob's bytes are fsynced before its rename; the fsyncs release the GIL and the
        # disk's journal serves several at once, so a few threads store one retrieve's thousands
        # of small files in a fraction of the time one did (folder syncs still wait for _write).
        storing: deque[tuple[_Component, str, int, Future[BlobWrite] | str]] = deque()
        with (zipfile.ZipFile(io.BytesIO(status.zip_bytes or b"")) as archive,
              ThreadPoolExecutor(max_workers=STORE_THREADS, thread_name_prefix="metadata-blobs") as pool):
            for info in archive.infolist():
                if info.is_dir():
                    continue
                name = info.filename.removeprefix(_ROOT)
                if name == "package.xml":
                    continue
                main = name.removesuffix("-meta.xml")
                component = next((c for c in (owners.get(name), owners.get(main), self.by_file.get(name),
                                              self.by_file.get(main)) if c is not None), None)
                if component is None:
                    continue  # a file no listed component owns: nothing was asked for it
                body = archive.read(info)
                digest = hashlib.sha256(body).hexdigest()
                # Most metadata is unchanged since the last run: a blob already stored (with its
                # size) is not written again, so a nightly run touches the disk only for changes.
                if self.blobs.has(digest, size=len(body)):
                    storing.append((component, name, len(body), digest))
                else:
                    # folder syncs wait for the index (_write): thousands of small files per run
                    storing.append((component, name, len(body), pool.submit(
                        self.blobs.put_stream, (body,), expected_size=len(body), sync_dirs=False)))
                while len(storing) > STORE_WINDOW:  # bodies in memory stay few
                    self._stored(*storing.popleft())
            while storing:
                self._stored(*storing.popleft())
        for c in chunk:
            if not c.rows:
                named = problems.get((c.package_type, c.props.full_name))
                c.problem = _reason(named or "the retrieve returned no file for it")

    def _stored(self, component: _Component, name: str, size: int, blob: Future[BlobWrite] | str) -> None:
        if isinstance(blob, str):
            digest = blob
        else:
            stored = blob.result()
            digest = stored.sha256
            self.entry.new_blobs += int(stored.created)
        component.rows.append({"file_name": name, "sha256": digest, "size": size})

    def _fail(self, chunk: list[_Component], problem: str) -> None:
        for c in chunk:
            c.problem = _reason(problem)

    def _check_stop(self) -> None:
        if self.stop_event.is_set():
            raise ExportStopped("stopped while retrieving metadata", hint="`sfbackup run --resume` continues")

    # -- the index -------------------------------------------------------------------------------
    def _write(self) -> None:
        rows: list[dict[str, Any]] = []
        retrieved: dict[str, list[str]] = {}
        for c in self.components.values():
            props = c.props
            counts = self.entry.types[props.type]
            base = {"type": props.type, "full_name": props.full_name, "last_modified": props.last_modified}
            if c.rows:
                counts["retrieved"] += 1
                retrieved.setdefault(c.package_type, []).append(props.full_name)
                for row in sorted(c.rows, key=lambda r: str(r["file_name"])):
                    rows.append({**base, **row, "status": "retrieved", "problem": None})
                    self.entry.files += 1
                    self.entry.bytes += int(row["size"])
            else:
                counts["failed"] += 1
                problem = c.problem or "not retrieved"
                rows.append({**base, "file_name": None, "sha256": None, "size": None, "status": "failed",
                             "problem": problem})
                self.entry.failed.append({"type": props.type, "full_name": props.full_name,
                                          "problem": problem})
        self.entry.components = len(self.components)
        rows.sort(key=lambda r: (r["type"], r["full_name"], r["file_name"] or ""))
        self.blobs.sync()  # every blob the index names is durable before the index is
        writer = ParquetPartWriter(self.snapshot_dir / metadata_index_relpath(), INDEX_SCHEMA,
                                   root=self.snapshot_dir)  # fmt: skip
        try:
            writer.write(pa.Table.from_pylist(rows, schema=INDEX_SCHEMA))
        except BaseException:
            writer.abort()
            raise
        info = writer.close()
        self.entry.index_path, self.entry.index_bytes = info.path, info.bytes
        self.entry.index_sha256 = info.sha256
        package = package_xml(retrieved, self.api.api_version)
        path = self.snapshot_dir / metadata_package_relpath()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, package)
        self.entry.package_path = metadata_package_relpath()
        self.entry.package_sha256 = hashlib.sha256(package).hexdigest()


def _reason(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 500 else text[:499] + "…"
