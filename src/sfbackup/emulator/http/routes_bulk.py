"""Bulk API 2.0 query jobs: create, poll, abort, delete, list, and result pages by locator.

A job waits in ``UploadComplete`` for one of ``bulk_job_slots`` (the jobs the org processes at once;
0: no limit), then moves to ``InProgress`` (half the job latency after its start) -> ``JobComplete``
| ``Failed`` (the job latency plus the rows it selects at ``bulk_rows_per_second`` after its start,
the same for every client); a finished or aborted job frees its slot for the oldest waiting one. On
completion the result CSV is rendered once to a file with `Cursor.write_csv`, the byte offset of
every row boundary is indexed (vectorised, quote-aware), and each results page is sent from that
file with ``sendfile``: the header row, then the page's byte range. ``Sforce-Locator`` is base64 of
the next row number (like Salesforce's ``MTAwMDA``) or the string ``null`` on the last page.

For ``Accept-Encoding: gzip`` the result is also compressed once, in blocks of
``bulk_gzip_block_records`` rows, each an independent gzip member in ``<job>.csv.gz``. A page is
then a gzip stream of concatenated members (RFC 1952 allows it; Python, Node and Java decoders read
them all): the header member, the page's whole blocks straight from the file, and at most two
partial blocks compressed on the fly.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import shutil
import tempfile
import threading
import time
import zlib
from collections import deque
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from sfbackup.emulator.http import wire
from sfbackup.emulator.http.wire import FileSlice, Request, Response

if TYPE_CHECKING:
    from sfbackup.emulator.http.server import EmulatorServer

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
_INDEX_CHUNK = 16 << 20
_GZIP_THREADS = 2
_TERMINAL = ("JobComplete", "Failed", "Aborted")


@dataclass
class GzipBlocks:
    """The result CSV as gzip members of ``block`` rows each, plus the header as its own member."""

    path: str
    block: int
    header: bytes
    offsets: npt.NDArray[np.int64]  # byte offset of member k in `path`; one extra entry = file size


@dataclass
class QueryJob:
    """One Bulk 2.0 query job and, once complete, its rendered result file."""

    id: str
    operation: str
    object: str
    query: str
    cursor: Any
    api_version: str
    column_delimiter: str
    line_ending: str
    created: datetime
    created_at: float
    started_at: float = 0.0  # when the job got a processing slot (time.time())
    state: str = "UploadComplete"
    modified: datetime | None = None
    error_message: str | None = None
    records: int = 0
    processing_ms: int = 0
    result_path: str | None = None
    bounds: npt.NDArray[np.int64] | None = None  # [header end, end of row 1, ..., end of row n]
    gzip: GzipBlocks | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def info(self, user_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id, "operation": self.operation, "object": self.object, "createdById": user_id,
            "createdDate": wire.sf_datetime(self.created),
            "systemModstamp": wire.sf_datetime(self.modified or self.created), "state": self.state,
            "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(self.api_version),
            "jobType": "V2Query", "lineEnding": self.line_ending, "columnDelimiter": self.column_delimiter,
            "numberRecordsProcessed": self.records, "retries": 0, "totalProcessingTime": self.processing_ms,
            "isPkChunkingSupported": True,
        }
        if self.error_message is not None:
            body["errorMessage"] = self.error_message
        return body


class BulkJobs:
    """Every Bulk query job of the org, rendered by a small worker pool."""

    def __init__(self, server: EmulatorServer) -> None:
        self._server = server
        self._lock = threading.Lock()
        self._jobs: dict[str, QueryJob] = {}
        self._created = 0
        self._result_bytes = 0
        self._dir = tempfile.mkdtemp(prefix="sfbackup-emulator-bulk-")
        self._pool = ThreadPoolExecutor(max_workers=server.config.job_workers, thread_name_prefix="bulk-job")
        self._closed = threading.Event()
        self._busy = 0  # jobs holding one of the `bulk_job_slots`
        self._waiting: deque[QueryJob] = deque()

    def created_today(self) -> int:
        return self._created

    def result_megabytes(self) -> int:
        return self._result_bytes // (1 << 20)

    def add(self, job: QueryJob, *, listed: bool = True) -> None:
        """Queue `job`; unlisted jobs (Bulk 1.0 batches) stay out of `GET jobs/query`."""
        with self._lock:
            if listed:
                self._jobs[job.id] = job
            self._created += 1
            limit = self._server.config.bulk_job_slots
            start = limit <= 0 or self._busy < limit
            if start:
                self._busy += 1
            else:
                self._waiting.append(job)  # UploadComplete until a slot frees
        if start:
            self._start(job)

    def duration(self, job: QueryJob) -> float:
        """Seconds from a job's start (a free slot) to JobComplete: the fixed latency, plus the rows it
        selects at the configured rate."""
        config = self._server.config
        rows = int(getattr(job.cursor, "total_size", 0) or 0)
        per_row = 1.0 / config.bulk_rows_per_second if config.bulk_rows_per_second > 0 else 0.0
        return config.job_latency + rows * per_row

    def _start(self, job: QueryJob) -> None:
        job.started_at = time.time()
        threading.Thread(target=self._run, args=(job,), name="bulk-job-timer", daemon=True).start()

    def _release(self) -> None:
        """A job left its slot: start the oldest waiting job that is still wanted."""
        while True:
            with self._lock:
                if not self._waiting:
                    self._busy -= 1
                    return
                job = self._waiting.popleft()
            if job.state == "UploadComplete":
                self._start(job)  # it takes over the slot
                return

    def get(self, job_id: str) -> QueryJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[QueryJob]:
        with self._lock:
            return list(self._jobs.values())

    def remove(self, job_id: str) -> QueryJob | None:
        with self._lock:
            job = self._jobs.pop(job_id, None)
        if job is not None:
            with job.lock:
                job.state = "Aborted" if job.state not in _TERMINAL else job.state
                _remove_files(job)
        return job

    def close(self) -> None:
        self._closed.set()
        # no wait: a worker still rendering fails fast once the org and the directory are gone
        self._pool.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- the job's life ----------------------------------------------------------------------
    def _run(self, job: QueryJob) -> None:
        try:
            self._process(job)
        finally:
            self._release()

    def _process(self, job: QueryJob) -> None:
        latency = self._server.config.job_latency
        if not self._wait_until(job, job.started_at + latency / 2):
            return
        started = time.time()
        self._set_state(job, "InProgress")
        path = f"/services/data/v{job.api_version}/jobs/query/{job.id}"
        failure = self._failure(job, path)
        if failure is None:
            try:
                self._pool.submit(self._render, job).result()  # rendering is bounded by job_workers
            except (Exception, CancelledError) as exc:  # a store bug (or a server stopping) must show
                failure = f"InternalServerError: {type(exc).__name__}: {exc}"  # as a failed job, not hang
        if not self._wait_until(job, job.started_at + self.duration(job)):
            return
        with job.lock:
            if job.state != "InProgress":
                return
            job.processing_ms = int((time.time() - started) * 1000)
            job.error_message = failure
            job.state = "Failed" if failure else "JobComplete"
            job.modified = self._now()

    def _failure(self, job: QueryJob, path: str) -> str | None:
        faults = self._server.faults
        if faults.fires("bulk_failed", "POST", path):
            return "InternalServerError: the query job failed; retry it (emulated fault)"
        cursor = job.cursor
        if (faults.armed("query_timeout") and not getattr(cursor, "is_selective", True)
                and int(cursor.total_size) >= faults.config.query_timeout_min_rows
                and faults.fires("query_timeout", "POST", path)):
            return "QUERY_TIMEOUT: Your query request was running for too long."
        return None

    def _render(self, job: QueryJob) -> None:
        result_path = os.path.join(self._dir, f"{job.id}.csv")
        compressor = BlockCompressor(f"{result_path}.gz", self._server.config.bulk_gzip_block_records)
        try:
            with open(result_path, "wb") as out:
                bounds = job.cursor.render_csv(out, delimiter=DELIMITERS[job.column_delimiter],
                                               line_ending=LINE_ENDINGS[job.line_ending],
                                               on_rows=compressor.feed)
            with open(result_path, "rb") as source:
                header = source.read(int(bounds[0]))
        except BaseException:
            compressor.abandon()
            raise
        blocks = compressor.finish(header)
        rows = len(bounds) - 1
        with job.lock:
            job.result_path, job.bounds, job.records, job.gzip = result_path, bounds, rows, blocks
        with self._lock:
            self._result_bytes += os.path.getsize(result_path)

    def _wait_until(self, job: QueryJob, deadline: float) -> bool:
        while True:
            if self._closed.is_set() or job.state not in ("UploadComplete", "InProgress"):
                return False
            remaining = deadline - time.time()
            if remaining <= 0:
                return True
            self._closed.wait(min(remaining, 0.05))

    def _set_state(self, job: QueryJob, state: str) -> None:
        with job.lock:
            if job.state in _TERMINAL:
                return
            job.state = state
            job.modified = self._now()

    def _now(self) -> datetime:
        return self._server.org.now()


def gzip_member(data: bytes | bytearray) -> bytes:
    """One complete gzip member (level 1: fast, as a busy server would choose)."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


class BlockCompressor:
    """Gzip members of `block` rows each, compressed on two threads while the rows are still being
    written (zlib and SQLite both run without the GIL), stored in order in `path`."""

    def __init__(self, path: str, block: int) -> None:
        self.path, self.block = path, block
        self._out = open(path, "wb")  # noqa: SIM115 - closed by finish()
        self._pool = ThreadPoolExecutor(max_workers=_GZIP_THREADS, thread_name_prefix="bulk-gzip")
        self._pending: deque[Future[bytes]] = deque()
        self._offsets = [0]
        self._buffer = bytearray()
        self._rows = 0  # rows in `_buffer`

    def feed(self, data: bytes, ends: npt.NDArray[np.int64]) -> None:
        """The next rows: their bytes and the file offset where each ends."""
        base = int(ends[-1]) - len(data)  # file offset of data[0]
        used_bytes = used_rows = 0
        while len(ends) - used_rows >= self.block - self._rows:
            used_rows += self.block - self._rows
            cut = int(ends[used_rows - 1]) - base
            self._buffer += data[used_bytes:cut]
            used_bytes = cut
            self._submit()
        self._buffer += data[used_bytes:]
        self._rows += len(ends) - used_rows

    def _submit(self) -> None:
        self._pending.append(self._pool.submit(gzip_member, self._buffer))
        self._buffer, self._rows = bytearray(), 0
        while len(self._pending) > 2 * _GZIP_THREADS:
            self._write_oldest()

    def _write_oldest(self) -> None:
        self._offsets.append(self._offsets[-1] + self._out.write(self._pending.popleft().result()))

    def abandon(self) -> None:
        """Stop without finishing (the rendering failed)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._out.close()

    def finish(self, header: bytes) -> GzipBlocks:
        """Compress what is left; the file is complete and closed."""
        try:
            if self._rows:
                self._submit()
            while self._pending:
                self._write_oldest()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._out.close()
        return GzipBlocks(self.path, self.block, gzip_member(header), np.array(self._offsets, dtype=np.int64))


def compress_blocks(path: str, bounds: npt.NDArray[np.int64], block: int) -> GzipBlocks:
    """Compress the rows of a finished result file `path` in blocks of `block` rows into `path`.gz."""
    compressor = BlockCompressor(f"{path}.gz", block)
    with open(path, "rb") as source:
        header = source.read(int(bounds[0]))
        for first in range(1, len(bounds), block):
            ends = bounds[first : first + block]
            compressor.feed(source.read(int(ends[-1]) - source.tell()), ends)
    return compressor.finish(header)


def _gzip_page(job_path: str, bounds: npt.NDArray[np.int64], blocks: GzipBlocks, start: int,
               end: int) -> list[FileSlice | bytes]:
    """Rows [start, end) as concatenated gzip members: whole blocks from the file, edges on the fly."""
    rows, size = len(bounds) - 1, blocks.block

    def fresh(first: int, last: int) -> list[FileSlice | bytes]:
        if last <= first:
            return []
        with open(job_path, "rb") as source:
            source.seek(int(bounds[first]))
            return [gzip_member(source.read(int(bounds[last]) - int(bounds[first])))]

    first_block = -(-start // size)
    last_block = len(blocks.offsets) - 1 if end == rows else end // size
    if first_block >= last_block:
        return [blocks.header, *fresh(start, end)]
    middle = FileSlice(blocks.path, int(blocks.offsets[first_block]),
                       int(blocks.offsets[last_block]) - int(blocks.offsets[first_block]))
    return [blocks.header, *fresh(start, first_block * size), middle,
            *fresh(min(last_block * size, rows), end)]


def index_rows(path: str) -> npt.NDArray[np.int64]:
    """Byte offsets just after each record-ending newline (quote-aware), header first."""
    ends: list[npt.NDArray[np.int64]] = []
    quotes_before = 0
    base = 0
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(_INDEX_CHUNK)
            if not chunk:
                break
            data = np.frombuffer(chunk, dtype=np.uint8)
            newlines = np.flatnonzero(data == 10)
            quotes = np.flatnonzero(data == 34)
            parity = (np.searchsorted(quotes, newlines) + quotes_before) % 2
            ends.append((newlines[parity == 0] + 1 + base).astype(np.int64))
            quotes_before += len(quotes)
            base += len(chunk)
    size = base
    bounds = np.concatenate(ends) if ends else np.zeros(0, dtype=np.int64)
    if len(bounds) == 0 or bounds[-1] != size:
        bounds = np.append(bounds, np.int64(size))  # last row without a line ending (or no header)
    return bounds.astype(np.int64)


# -- routes ---------------------------------------------------------------------------------------

def create_job(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``POST jobs/query``."""
    try:
        body = request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return wire.error_response(request, 400, "INVALIDJOB", "The request body must be a JSON object")
    operation = body.get("operation")
    if operation not in ("query", "queryAll"):
        return wire.error_response(request, 400, "INVALIDJOB",
                                   f"Invalid operation: {operation!r}; use query or queryAll")
    soql = body.get("query")
    if not isinstance(soql, str) or not soql.strip():
        return wire.error_response(request, 400, "INVALIDJOB", "The query is required")
    delimiter = body.get("columnDelimiter") or "COMMA"
    line_ending = body.get("lineEnding") or "LF"
    content_type = body.get("contentType", "CSV")
    if content_type != "CSV" or delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
        return wire.error_response(request, 400, "INVALIDJOB",
                                   "contentType must be CSV, columnDelimiter one of "
                                   f"{', '.join(DELIMITERS)} and lineEnding LF or CRLF")
    version = match.group("version")[1:]
    cursor = server.query(soql, include_deleted=operation == "queryAll", api="bulk", api_version=version,
                          request=request)
    now = server.jobs._now()
    job = QueryJob(id=wire.new_id("750"), operation=operation, object=str(cursor.object_name), query=soql,
                   cursor=cursor, api_version=version, column_delimiter=delimiter, line_ending=line_ending,
                   created=now, created_at=time.time())
    server.jobs.add(job)
    request.work = server.jobs.duration(job)
    return wire.json_response(request, 200, _info_for_create(job, server))


def _info_for_create(job: QueryJob, server: EmulatorServer) -> dict[str, Any]:
    info = job.info(str(server.credentials.user_id))
    for key in ("jobType", "numberRecordsProcessed", "retries", "totalProcessingTime",
                "isPkChunkingSupported"):
        info.pop(key)
    return info


def get_job(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    job = server.jobs.get(match.group("job"))
    if job is None:
        return _not_found(request)
    with job.lock:
        info = job.info(str(server.credentials.user_id))
    return wire.json_response(request, 200, info)


def list_jobs(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    user = str(server.credentials.user_id)
    records = [job.info(user) for job in server.jobs.all()]
    return wire.json_response(request, 200, {"done": True, "records": records, "nextRecordsUrl": None})


def abort_job(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    job = server.jobs.get(match.group("job"))
    if job is None:
        return _not_found(request)
    try:
        body = request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("state") != "Aborted":
        return wire.error_response(request, 400, "INVALIDJOBSTATE", "A query job can only be set to Aborted")
    with job.lock:
        if job.state in _TERMINAL:
            return wire.error_response(request, 400, "INVALIDJOBSTATE",
                                       f"Job {job.id} is {job.state} and can no longer be aborted")
        job.state = "Aborted"
        job.modified = server.jobs._now()
        info = job.info(str(server.credentials.user_id))
    return wire.json_response(request, 200, info)


def delete_job(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    if server.jobs.remove(match.group("job")) is None:
        return _not_found(request)
    return wire.no_content()


def results(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``GET jobs/query/{id}/results?locator=&maxRecords=``: one page, header row first."""
    job = server.jobs.get(match.group("job"))
    if job is None:
        return _not_found(request)
    if match.group("version")[1:] != job.api_version:
        return wire.error_response(request, 409, "INVALIDJOB",
                                   f"Use the same API version to get query results that you used to create "
                                   f"the query (v{job.api_version})")
    with job.lock:
        state, path, bounds, blocks = job.state, job.result_path, job.bounds, job.gzip
    if state != "JobComplete" or path is None or bounds is None or blocks is None:
        status = {"UploadComplete": "UPLOAD_COMPLETE", "InProgress": "IN_PROGRESS"}.get(state, state.upper())
        return wire.error_response(request, 400, "JOB_NOT_COMPLETE",
                                   "can only download query results of successfully completed bulk job with "
                                   f"status: JOB_COMPLETE. Current status: {status}")
    rows = len(bounds) - 1
    start = _decode_locator(request.param("locator"))
    max_records = _max_records(request.param("maxRecords"), server.config.bulk_default_page_records)
    if start is None or start > rows or max_records is None:
        return wire.error_response(request, 400, "INVALIDLOCATOR" if start is None or start > rows
                                   else "INVALIDJOB", "Invalid locator or maxRecords value")
    end = min(rows, start + max_records)
    headers = {"Sforce-NumberOfRecords": str(end - start),
               "Sforce-Locator": _encode_locator(end) if end < rows else "null"}
    header_end = int(bounds[0])
    body: list[FileSlice | bytes] = [
        FileSlice(path, 0, header_end),
        FileSlice(path, int(bounds[start]), int(bounds[end]) - int(bounds[start])),
    ]
    if "gzip" in (request.header("Accept-Encoding") or ""):
        body = _gzip_page(path, bounds, blocks, start, end)
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"
    return Response(200, body, content_type=wire.CSV_TYPE, headers=headers, truncatable=True)


def _encode_locator(row: int) -> str:
    return base64.b64encode(str(row).encode()).decode().rstrip("=")


def _decode_locator(locator: str | None) -> int | None:
    if not locator or locator == "null":
        return 0
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True).decode()
        return int(text) if text.isdigit() else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _max_records(text: str | None, default: int) -> int | None:
    if text is None or text == "":
        return default
    return int(text) if text.isdigit() and int(text) > 0 else None


def _remove_files(job: QueryJob) -> None:
    for path in (job.result_path, job.gzip.path if job.gzip else None):
        if path:
            try:
                os.remove(path)
            except OSError:
                pass
    job.result_path, job.bounds, job.gzip = None, None, None


def _not_found(request: Request) -> Response:
    return wire.error_response(request, 404, "NOT_FOUND", "The requested resource does not exist")
