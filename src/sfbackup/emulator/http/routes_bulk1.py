"""Bulk API 1.0 query jobs (``/services/async/{version}/job…``), as tap-salesforce's BULK mode uses them.

A job is created (JSON or XML, answered in the same format), batches carry the SOQL as the request
body, and each batch is a Bulk 2.0 `QueryJob` rendered by the same workers and latency (so the
CSV, faults and timings are identical). Batch info, batch lists and result lists are XML for CSV
jobs, as on Salesforce. Only ``contentType: CSV`` query jobs are emulated; errors use Bulk 1.0's
``exceptionCode``/``exceptionMessage`` shape, and JSON is sent as exactly ``application/json``.
"""

from __future__ import annotations

import json
import re
import threading
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from sfbackup.emulator.http import wire
from sfbackup.emulator.http.routes_bulk import QueryJob, _gzip_page
from sfbackup.emulator.http.wire import FileSlice, Request, Response
from sfbackup.emulator.org.store import OrgError

if TYPE_CHECKING:
    from sfbackup.emulator.http.server import EmulatorServer

NS = "http://www.force.com/2009/06/asyncapi/dataload"
BULK1_JSON = "application/json"
BULK1_XML = "application/xml"
_BATCH_STATES = {"UploadComplete": "Queued", "InProgress": "InProgress", "JobComplete": "Completed",
                 "Failed": "Failed", "Aborted": "Not Processed"}


@dataclass
class Bulk1Job:
    id: str
    operation: str
    object: str
    api_version: str
    created: datetime
    state: str = "Open"
    batches: list[QueryJob] = field(default_factory=list)
    failed_batches: dict[str, str] = field(default_factory=dict)  # batch id -> stateMessage


class Bulk1Jobs:
    """Bulk 1.0 jobs by id (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Bulk1Job] = {}

    def add(self, job: Bulk1Job) -> None:
        with self._lock:
            self._jobs[job.id] = job

    def get(self, job_id: str) -> Bulk1Job | None:
        with self._lock:
            return self._jobs.get(job_id)


def session_error(request: Request) -> Response:
    """Bulk 1.0 answers a bad session with 400 InvalidSessionId, not REST's 401."""
    return _error(request, 400, "InvalidSessionId", "Invalid session id")


def create_job(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``POST /services/async/{v}/job`` with a JSON or XML jobInfo."""
    version = match.group("bulk1_version")
    if wire.parse_version(f"v{version}") is None:
        return _error(request, 400, "InvalidVersion", f"Invalid API version: {version}")
    values = _job_values(request)
    operation, name = values.get("operation"), values.get("object")
    if operation not in ("query", "queryAll") or not name:
        return _error(request, 400, "InvalidJob", "Only query and queryAll jobs with an object are emulated")
    if values.get("contentType", "CSV") != "CSV":
        return _error(request, 400, "InvalidJob", "Only contentType CSV is emulated for query jobs")
    job = Bulk1Job(wire.new_id("750"), operation, name, version, server.org.now())
    server.bulk1.add(job)
    return _job_response(server, request, job, 201)


def get_job(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    job = server.bulk1.get(match.group("job"))
    if job is None:
        return _error(request, 400, "InvalidJob", f"Invalid job id: {match.group('job')}")
    return _job_response(server, request, job, 200)


def update_job(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``POST …/job/{id}`` with ``state`` Closed or Aborted."""
    job = server.bulk1.get(match.group("job"))
    if job is None:
        return _error(request, 400, "InvalidJob", f"Invalid job id: {match.group('job')}")
    state = _job_values(request).get("state")
    if state not in ("Closed", "Aborted"):
        return _error(request, 400, "InvalidJob", "A job can only be Closed or Aborted")
    job.state = state
    if state == "Aborted":
        for batch in job.batches:
            with batch.lock:
                if batch.state in ("UploadComplete", "InProgress"):
                    batch.state = "Aborted"
    return _job_response(server, request, job, 200)


def add_batch(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``POST …/job/{id}/batch`` with the SOQL as the body."""
    job = server.bulk1.get(match.group("job"))
    if job is None:
        return _error(request, 400, "InvalidJob", f"Invalid job id: {match.group('job')}")
    if job.state != "Open":
        return _error(request, 400, "InvalidJobState", f"Job {job.id} is not open")
    soql = request.body.decode("utf-8", "replace").strip()
    now = server.org.now()
    try:
        cursor: Any = server.query(soql, include_deleted=job.operation == "queryAll", api="bulk",
                                   api_version=job.api_version, request=request)
    except OrgError as exc:
        cursor = None
        failure = f"InvalidBatch : Failed to process query: {exc.error_code}: {exc.message}"
    batch = QueryJob(id=wire.new_id("751"), operation=job.operation, object=job.object, query=soql,
                     cursor=cursor, api_version=job.api_version, column_delimiter="COMMA", line_ending="LF",
                     created=now, created_at=time.time())
    job.batches.append(batch)
    if cursor is None:
        batch.state, batch.error_message = "Failed", failure
    else:
        server.jobs.add(batch, listed=False)
        request.work = server.jobs.duration(batch)
    return _xml(201, _batch_xml(batch, job.id))


def list_batches(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    job = server.bulk1.get(match.group("job"))
    if job is None:
        return _error(request, 400, "InvalidJob", f"Invalid job id: {match.group('job')}")
    inner = "".join(_batch_xml(batch, job.id, root=False) for batch in job.batches)
    return _xml(200, f'<batchInfoList xmlns="{NS}">{inner}</batchInfoList>')


def get_batch(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    found = _batch(server, match)
    if isinstance(found, Response):
        return found
    return _xml(200, _batch_xml(found, match.group("job")))


def result_list(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    found = _batch(server, match)
    if isinstance(found, Response):
        return found
    if found.state != "JobComplete":
        return _error(request, 400, "InvalidBatch", f"Batch not completed: {found.id}")
    return _xml(200, f'<result-list xmlns="{NS}"><result>{_result_id(found)}</result></result-list>')


def result(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    found = _batch(server, match)
    if isinstance(found, Response):
        return found
    with found.lock:
        path, bounds, blocks = found.result_path, found.bounds, found.gzip
    if match.group("result") != _result_id(found) or path is None or bounds is None or blocks is None:
        return _error(request, 400, "InvalidBatch", f"Invalid result id: {match.group('result')}")
    rows = len(bounds) - 1
    body: list[FileSlice | bytes] = [FileSlice(path, 0, int(bounds[rows]))]
    headers: dict[str, str] = {}
    if "gzip" in (request.header("Accept-Encoding") or ""):
        body = _gzip_page(path, bounds, blocks, 0, rows)
        headers = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
    return Response(200, body, content_type=wire.CSV_TYPE, headers=headers, truncatable=True)


# -- helpers --------------------------------------------------------------------------------------

def _batch(server: EmulatorServer, match: re.Match[str]) -> QueryJob | Response:
    job = server.bulk1.get(match.group("job"))
    batch = next((b for b in job.batches if b.id == match.group("batch")), None) if job else None
    if batch is None:
        return _xml(400, _error_xml("InvalidBatch", f"Invalid batch id: {match.group('batch')}"))
    return batch


def _result_id(batch: QueryJob) -> str:
    return "752" + batch.id[3:]


def _job_values(request: Request) -> dict[str, str]:
    if request.body.lstrip().startswith(b"<"):
        try:
            root = ElementTree.fromstring(request.body)
        except ElementTree.ParseError:
            return {}
        return {element.tag.rsplit("}", 1)[-1]: (element.text or "").strip() for element in root}
    try:
        values = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}


def _wants_json(request: Request) -> bool:
    return (request.header("Content-Type") or "").lower().startswith("application/json")


def _job_response(server: EmulatorServer, request: Request, job: Bulk1Job, status: int) -> Response:
    states = [_BATCH_STATES[b.state] for b in job.batches]
    processed = sum(b.records for b in job.batches if b.state == "JobComplete")
    info: dict[str, Any] = {
        "id": job.id, "operation": job.operation, "object": job.object,
        "createdById": server.credentials.user_id, "createdDate": job.created, "systemModstamp": job.created,
        "state": job.state, "concurrencyMode": "Parallel", "contentType": "CSV",
        "numberBatchesQueued": states.count("Queued"), "numberBatchesInProgress": states.count("InProgress"),
        "numberBatchesCompleted": states.count("Completed"), "numberBatchesFailed": states.count("Failed"),
        "numberBatchesTotal": len(states), "numberRecordsProcessed": processed, "numberRetries": 0,
        "apiVersion": float(job.api_version), "numberRecordsFailed": 0, "totalProcessingTime": 0,
        "apiActiveProcessingTime": 0, "apexProcessingTime": 0,
    }
    if _wants_json(request):
        body = {k: wire.sf_datetime(v) if isinstance(v, datetime) else v for k, v in sorted(info.items())}
        return Response(status, json.dumps(body).encode(), content_type=BULK1_JSON)
    inner = "".join(f"<{k}>{_xml_value(v)}</{k}>" for k, v in info.items())
    return _xml(status, f'<jobInfo xmlns="{NS}">{inner}</jobInfo>')


def _batch_xml(batch: QueryJob, job_id: str, *, root: bool = True) -> str:
    with batch.lock:
        state, message, records = _BATCH_STATES[batch.state], batch.error_message, batch.records
        created, modified, millis = batch.created, batch.modified or batch.created, batch.processing_ms
    xmlns = f' xmlns="{NS}"' if root else ""
    message_xml = f"<stateMessage>{escape(message)}</stateMessage>" if message else ""
    return (f"<batchInfo{xmlns}><id>{batch.id}</id><jobId>{job_id}</jobId><state>{state}</state>{message_xml}"
            f"<createdDate>{_xml_value(created)}</createdDate>"
            f"<systemModstamp>{_xml_value(modified)}</systemModstamp>"
            f"<numberRecordsProcessed>{records}</numberRecordsProcessed><numberRecordsFailed>0"
            f"</numberRecordsFailed><totalProcessingTime>{millis}</totalProcessingTime>"
            "<apiActiveProcessingTime>0</apiActiveProcessingTime><apexProcessingTime>0</apexProcessingTime>"
            "</batchInfo>")


def _xml_value(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if isinstance(value, bool):
        return str(value).lower()
    return escape(str(value))


def _xml(status: int, body: str) -> Response:
    return Response(status, f'<?xml version="1.0" encoding="UTF-8"?>{body}'.encode(), content_type=BULK1_XML)


def _error_xml(code: str, message: str) -> str:
    return (f'<error xmlns="{NS}"><exceptionCode>{code}</exceptionCode>'
            f"<exceptionMessage>{escape(message)}</exceptionMessage></error>")


def _error(request: Request, status: int, code: str, message: str) -> Response:
    if _wants_json(request):
        body = json.dumps({"exceptionCode": code, "exceptionMessage": message}).encode()
        return Response(status, body, content_type=BULK1_JSON)
    return _xml(status, _error_xml(code, message))
