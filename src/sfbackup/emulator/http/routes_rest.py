"""REST API routes: versions, resources, describes, records, query/queryAll paging, blobs, limits.

Paging follows Salesforce: ``nextRecordsUrl`` is ``/services/data/vXX.X/query/01g…-<offset>`` (under
``/query/`` for queryAll too), ``totalSize`` is the whole query's size on every page, and the batch
size comes from ``Sforce-Query-Options: batchSize=N`` (200..2000, default 2000).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sfbackup.emulator.http import wire
from sfbackup.emulator.http.wire import Request, Response

if TYPE_CHECKING:
    from sfbackup.emulator.http.server import EmulatorServer

DEFAULT_BATCH = 2000
MIN_BATCH = 200
MAX_OPEN_CURSORS = 5000
_BATCH_OPTION = re.compile(r"batchSize\s*=\s*(\d+)", re.I)
_FROM = re.compile(r"\bfrom\s+(\w+)", re.I)
_BLOB_FIELDS = {"attachment": "Body", "document": "Body", "contentversion": "VersionData", "note": "Body",
                "contentnote": "Content"}


@dataclass
class OpenCursor:
    cursor: Any
    batch_size: int
    api_version: str
    last_used: float


class QueryCursors:
    """Open REST query locators (``01g…``), oldest evicted first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: OrderedDict[str, OpenCursor] = OrderedDict()

    def add(self, entry: OpenCursor) -> str:
        locator = wire.new_id("01g")
        with self._lock:
            self._open[locator] = entry
            while len(self._open) > MAX_OPEN_CURSORS:
                self._open.popitem(last=False)
        return locator

    def get(self, locator: str) -> OpenCursor | None:
        with self._lock:
            entry = self._open.get(locator)
            if entry is not None:
                entry.last_used = time.time()
                self._open.move_to_end(locator)
            return entry

    def object_of(self, locator: str) -> str:
        """The object an open locator reads ('' when it is unknown or evicted)."""
        with self._lock:
            entry = self._open.get(locator)
        return str(entry.cursor.object_name) if entry is not None else ""

    def close(self, locator: str) -> None:
        with self._lock:
            self._open.pop(locator, None)


def _version(match: re.Match[str]) -> str:
    return match.group("version")[1:]


def versions(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``GET /services/data``: no session needed, not counted."""
    return wire.json_response(request, 200, wire.api_versions())


def resources(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    base = f"/services/data/{match.group('version')}"
    names = ["tooling", "metadata", "folders", "tabs", "appMenu", "quickActions", "queryAll", "search",
             "identity", "composite", "theme", "recent", "connect", "limits", "process", "query", "jobs",
             "compactLayouts", "sobjects", "actions", "support"]
    body: dict[str, str] = {name: f"{base}/{name}" for name in names}
    body["identity"] = f"{server.instance_url}/id/{server.credentials.org_id}/{server.credentials.user_id}"
    return wire.json_response(request, 200, body)


def describe_global(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    return wire.json_response(request, 200, server.org.describe_global(api_version=_version(match)))


def describe(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    body = server.org.describe(match.group("object"), api_version=_version(match),
                               access=server.access(request))
    return wire.json_response(request, 200, body)


def sobject_info(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``GET sobjects/{Object}``: the describeGlobal entry plus recent items."""
    name = match.group("object").lower()
    for entry in server.org.describe_global(api_version=_version(match)).get("sobjects", []):
        if str(entry.get("name", "")).lower() == name:
            return wire.json_response(request, 200, {"objectDescribe": entry, "recentItems": []})
    return wire.error_response(request, 404, "NOT_FOUND", "The requested resource does not exist")


def get_record(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    fields_param = request.param("fields")
    fields = [f.strip() for f in fields_param.split(",") if f.strip()] if fields_param else None
    record = server.org.get_record(match.group("object"), match.group("id"), fields,
                                   api_version=_version(match), access=server.access(request))
    return wire.json_response(request, 200, record)


def create(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    values = _json_object(request)
    if isinstance(values, Response):
        return values
    record_id = server.org.create(match.group("object"), values)
    return wire.json_response(request, 201, {"id": record_id, "success": True, "errors": []})


def update(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    values = _json_object(request)
    if isinstance(values, Response):
        return values
    server.org.update(match.group("object"), match.group("id"), values)
    return wire.no_content()


def delete(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    server.org.delete(match.group("object"), match.group("id"))
    return wire.no_content()


def _json_object(request: Request) -> dict[str, Any] | Response:
    try:
        values = request.json()
    except ValueError:
        values = None
    if not isinstance(values, dict):
        return wire.error_response(request, 400, "JSON_PARSER_ERROR",
                                   "The request body must be a JSON object")
    return values


def blob(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``GET sobjects/{Object}/{id}/{blobField}``: the raw bytes, streamed with Content-Length."""
    name, field_name = match.group("object"), match.group("field")
    canonical = _BLOB_FIELDS.get(name.lower())
    if canonical is not None and canonical.lower() != field_name.lower():
        return wire.error_response(request, 404, "NOT_FOUND", "The requested resource does not exist")
    # other objects' base64 fields (QuoteDocument.Document, EventLogFile.LogFile...): the org checks
    found = server.org.blob(name, match.group("id"), canonical or field_name, access=server.access(request))
    return Response(200, found.chunks(), content_type=wire.OCTET_TYPE,
                    content_length=int(found.size), truncatable=True)


def rich_text_image(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``GET sobjects/{Object}/{id}/richTextImageFields/{field}/{refid}``: an image of a rich text
    area field (REST API "sObject Rich Text Image Get"), streamed with its content type."""
    found = server.org.rich_text_image(match.group("object"), match.group("id"), match.group("field"),
                                       match.group("refid"), access=server.access(request))
    return Response(200, found.chunks(), content_type=found.content_type,
                    content_length=int(found.size), truncatable=True)


# -- query ----------------------------------------------------------------------------------------

def query(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``GET query?q=`` and ``queryAll?q=`` (with or without a trailing slash)."""
    soql = request.param("q")
    if not soql:
        return wire.error_response(request, 400, "MALFORMED_QUERY", "A query string has to be specified")
    version = match.group("version")[1:]
    cursor = server.query(soql, include_deleted=match.group("kind") == "queryAll", api="rest",
                          api_version=version, request=request)
    if _query_times_out(server, request, cursor):
        return wire.error_response(request, 400, "QUERY_TIMEOUT",
                                   "Your query request was running for too long.")
    if (request.param("columns") or "").lower() == "true":
        return wire.json_response(request, 200, _column_metadata(server, cursor, request))
    total = int(cursor.total_size)
    if cursor.is_count:
        return _page(request, {"totalSize": total, "done": True, "records": []})
    entry = OpenCursor(cursor, _batch_size(request), version, time.time())
    refusal = getattr(cursor, "paging_refusal", None)
    if refusal is not None and total > entry.batch_size:  # an object without queryMore
        raise refusal
    return _serve_page(server, request, entry, None, 0)


def query_more(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``GET query/01g…-<offset>``: the next page; an extra ``q=`` is ignored, as Salesforce does."""
    locator = match.group("locator")
    entry = server.cursors.get(locator)
    if entry is None:
        return wire.error_response(request, 400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    return _serve_page(server, request, entry, locator, int(match.group("offset")))


def _serve_page(server: EmulatorServer, request: Request, entry: OpenCursor, locator: str | None,
                offset: int) -> Response:
    total = int(entry.cursor.total_size)
    records = entry.cursor.rest_records(offset, entry.batch_size)
    next_offset = offset + len(records)
    body: dict[str, Any] = {"totalSize": total, "done": True}
    if records and next_offset < total:
        if locator is None:
            locator = server.cursors.add(entry)
        body["done"] = False
        body["nextRecordsUrl"] = f"/services/data/v{entry.api_version}/query/{locator}-{next_offset}"
    elif locator is not None:
        server.cursors.close(locator)
    body["records"] = records
    return _page(request, body)


def _page(request: Request, body: dict[str, Any]) -> Response:
    response = wire.json_response(request, 200, body)
    response.truncatable = True
    return response


def _batch_size(request: Request) -> int:
    found = _BATCH_OPTION.search(request.header("Sforce-Query-Options") or "")
    if found is None:
        return DEFAULT_BATCH
    return max(MIN_BATCH, min(DEFAULT_BATCH, int(found.group(1))))


def _query_times_out(server: EmulatorServer, request: Request, cursor: Any) -> bool:
    faults = server.faults
    if not faults.armed("query_timeout") or getattr(cursor, "is_selective", True):
        return False
    if getattr(cursor, "is_count", False):
        return False  # COUNT() reads the index only; the timeouts worth modelling are row queries
    if int(cursor.total_size) < faults.config.query_timeout_min_rows:
        return False
    return faults.fires("query_timeout", request.method, request.path)


def _column_metadata(server: EmulatorServer, cursor: Any, request: Request) -> dict[str, Any]:
    """``columns=true`` (the sf CLI's table header): columns from the first row and the describe."""
    rows = [] if cursor.is_count else cursor.rest_records(0, 1)
    name = str(cursor.object_name)
    try:
        describe = server.org.describe(name, access=server.access(request))
        described = {f["name"]: f for f in describe.get("fields", [])}
        key_prefix = describe.get("keyPrefix")
    except Exception:
        described, key_prefix = {}, None
    columns = _columns(rows[0], described) if rows else []
    return {"columnMetadata": columns, "entityName": name, "groupBy": False,
            "idSelected": any(c["columnName"] == "Id" for c in columns), "keyPrefix": key_prefix}


def _columns(record: dict[str, Any], described: dict[str, Any]) -> list[dict[str, Any]]:
    columns = []
    for key, value in record.items():
        if key == "attributes":
            continue
        field = described.get(key, {})
        joins = _columns(value, {}) if isinstance(value, dict) and "attributes" in value else []
        columns.append({
            "aggregate": False, "apexType": field.get("soapType", "").split(":")[-1] or None,
            "booleanType": field.get("type") == "boolean", "columnName": key,
            "custom": bool(field.get("custom")),
            "displayName": key, "foreignKeyName": None, "insertable": bool(field.get("createable")),
            "joinColumns": joins, "numberType": field.get("type") in ("int", "double", "currency", "percent"),
            "textType": field.get("soapType") == "xsd:string", "updatable": bool(field.get("updateable")),
        })
    return columns


#: objects the Tooling API answers from the org's schema; other Tooling objects have no records here.
TOOLING_OBJECTS = frozenset({"entitydefinition", "fielddefinition"})


def tooling_query(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``GET tooling/query``: EntityDefinition and FieldDefinition from the org's schema (every field,
    whatever field-level security hides from the user), in one page; other objects have no records
    (the emulated org is a production org without Tooling metadata records)."""
    soql = request.param("q") or ""
    found = _FROM.search(soql)
    if found is None:
        return wire.error_response(request, 400, "MALFORMED_QUERY", "A query string has to be specified")
    records: list[dict[str, Any]] = []
    if found.group(1).lower() in TOOLING_OBJECTS:
        version = _version(match)
        cursor = server.query(soql, include_deleted=False, api="rest", api_version=version, request=request)
        records = cursor.rest_records(0, int(cursor.total_size))
        data = f"/services/data/v{version}/sobjects/"
        for record in records:
            url = record["attributes"]["url"]
            record["attributes"]["url"] = url.replace(data, f"/services/data/v{version}/tooling/sobjects/", 1)
    body: dict[str, Any] = {"size": len(records), "totalSize": len(records), "done": True,
                            "queryLocator": None, "entityTypeName": found.group(1), "records": records}
    return wire.json_response(request, 200, body)


# -- limits ---------------------------------------------------------------------------------------

def limits(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``GET limits``: DailyApiRequests from the real request counter, Bulk figures from real jobs."""
    usage = server.api_usage
    jobs = server.jobs
    storage: dict[str, Any] = server.org.limits_storage()

    def pair(maximum: int, remaining: int) -> dict[str, int]:
        return {"Max": maximum, "Remaining": max(0, remaining)}

    body: dict[str, Any] = {
        "ActiveScratchOrgs": pair(0, 0),
        "AnalyticsExternalDataSizeMB": pair(40960, 40960),
        "ConcurrentAsyncGetReportInstances": pair(200, 200),
        "ConcurrentSyncReportRuns": pair(20, 20),
        "DailyApiRequests": pair(usage.limit, usage.limit - usage.used),
        "DailyAsyncApexExecutions": pair(250000, 250000),
        "DailyBulkApiBatches": pair(15000, 15000 - jobs.created_today()),
        "DailyBulkV2QueryFileStorageMB": pair(976562, 976562 - jobs.result_megabytes()),
        "DailyBulkV2QueryJobs": pair(10000, 10000 - jobs.created_today()),
        "DailyScratchOrgs": pair(0, 0),
        "DailyStreamingApiEvents": pair(1000000, 1000000),
        "DailyWorkflowEmails": pair(2000000, 2000000),
        "DataStorageMB": storage.get("DataStorageMB", pair(5120, 5120)),
        "FileStorageMB": storage.get("FileStorageMB", pair(20480, 20480)),
        "HourlyODataCallout": pair(20000, 20000),
        "HourlyTimeBasedWorkflow": pair(1000, 1000),
        "MassEmail": pair(5000, 5000),
        "SingleEmail": pair(5000, 5000),
    }
    for key, value in storage.items():
        body.setdefault(key, value)
    return wire.json_response(request, 200, body)


def record_count(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    param = request.param("sObjects")
    names = [n.strip() for n in param.split(",") if n.strip()] if param else None
    return wire.json_response(request, 200, {"sObjects": server.org.record_counts(names)})
