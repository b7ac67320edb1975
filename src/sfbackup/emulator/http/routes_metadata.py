"""The Metadata API over SOAP: ``POST /services/Soap/m/{version}`` (any path below it, as clients
such as simple-salesforce append ``deployRequest/<id>``).

Calls: ``describeMetadata``, ``listMetadata`` (at most 3 queries a call), ``retrieve`` (an
``unpackaged`` package.xml; answers an AsyncResult at once) and ``checkRetrieveStatus`` (``done``
false until `ServerConfig.retrieve_latency` has passed, then the RetrieveResult with its base64
zip when ``includeZip``). The session travels in the SOAP ``SessionHeader``; every fault is a SOAP
fault with HTTP 500, as Salesforce sends them. A retrieve over `ServerConfig.metadata_max_files`
files or `metadata_max_zip_bytes` compressed bytes ends ``Failed`` with ``LIMIT_EXCEEDED``.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from sfbackup.emulator.http import wire
from sfbackup.emulator.http.wire import Request, Response
from sfbackup.emulator.org.metadata import (
    NS,
    TYPES,
    Component,
    MetadataFault,
    RetrieveOutcome,
)

if TYPE_CHECKING:
    from sfbackup.emulator.http.server import EmulatorServer

_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
_MAX_LIST_QUERIES = 3
_MAX_JOBS = 200


@dataclass
class RetrieveJob:
    started: float
    outcome: RetrieveOutcome


class RetrieveJobs:
    """Retrieves in flight or finished, by AsyncResult id (``09S…``), oldest evicted first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, RetrieveJob] = OrderedDict()
        #: the next `lose` retrieves are forgotten at once (for tests: Salesforce no longer knows an
        #: async id, so checkRetrieveStatus answers INVALID_CROSS_REFERENCE_KEY)
        self.lose = 0

    def add(self, job: RetrieveJob) -> str:
        job_id = wire.new_id("09S")
        with self._lock:
            if self.lose > 0:
                self.lose -= 1
                return job_id
            self._jobs[job_id] = job
            while len(self._jobs) > _MAX_JOBS:
                self._jobs.popitem(last=False)
        return job_id

    def get(self, job_id: str) -> RetrieveJob | None:
        with self._lock:
            return self._jobs.get(job_id)


def soap(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """Dispatch one Metadata API call by the element inside the SOAP Body."""
    version = match.group("mdversion")
    major = int(float(version)) if re.fullmatch(r"\d+(\.0)?", version) else 0
    if not wire.MIN_API_VERSION <= major <= wire.MAX_API_VERSION:
        return fault("UNSUPPORTED_API_VERSION", f"Invalid Api version specified on URL: {version}")
    try:
        envelope = ET.fromstring(request.body)
    except ET.ParseError as exc:
        return fault("INVALID_XML", f"The request is not valid XML: {exc}", code="soapenv:Client")
    session = envelope.findtext(f"{{{_SOAP}}}Header/{{{NS}}}SessionHeader/{{{NS}}}sessionId")
    if not session or not server.sessions.valid(session.strip()):
        return fault("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session")
    if server.faults.fires("session_expiry", request.method, request.path):
        server.sessions.invalidate(session.strip())
        return fault("INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session")
    if not server.org.access(server.sessions.user_for(session.strip())).permissions.modify_all_data:
        # Salesforce's rule: the Metadata API needs Modify All Data or Modify Metadata.
        return fault("INSUFFICIENT_ACCESS", "use of the Metadata API requires a user with the "
                     "ModifyAllData or ModifyMetadata permissions")
    body = envelope.find(f"{{{_SOAP}}}Body")
    call = body[0] if body is not None and len(body) else None
    if call is None or not call.tag.startswith(f"{{{NS}}}"):
        return fault("INVALID_OPERATION", "No operation found in the SOAP Body", code="soapenv:Client")
    name = call.tag.split("}", 1)[1]
    request.kind = f"metadata_{name}"
    if name == "retrieve":
        request.work = server.config.retrieve_latency
    handler = _CALLS.get(name)
    if handler is None:
        return fault("INVALID_OPERATION", f"No operation available for request {{{NS}}}{name}",
                     code="soapenv:Client")
    try:
        return _envelope(f"<{name}Response>{handler(server, call)}</{name}Response>")
    except MetadataFault as exc:
        return fault(exc.code, exc.message)


# -- calls ---------------------------------------------------------------------------------------

def _describe(server: EmulatorServer, call: ET.Element) -> str:
    entries = []
    for t in TYPES:
        children = "".join(f"<childXmlNames>{c}</childXmlNames>" for c in t.children)
        suffix = f"<suffix>{t.suffix}</suffix>" if t.suffix else ""
        entries.append(f"<metadataObjects>{children}<directoryName>{t.directory}</directoryName>"
                       f"<inFolder>{_bool(t.in_folder)}</inFolder><metaFile>{_bool(t.meta_file)}</metaFile>"
                       f"{suffix}<xmlName>{t.xml_name}</xmlName></metadataObjects>")
    return (f"<result>{''.join(entries)}<organizationNamespace></organizationNamespace>"
            "<partialSaveAllowed>true</partialSaveAllowed><testRequired>false</testRequired></result>")


def _list(server: EmulatorServer, call: ET.Element) -> str:
    queries = call.findall(f"{{{NS}}}queries")
    if len(queries) > _MAX_LIST_QUERIES:
        raise MetadataFault("INVALID_QUERY_FILTER_OPERATOR", f"Too many queries: {len(queries)}, at most "
                            f"{_MAX_LIST_QUERIES} per listMetadata call")
    catalog = server.org.metadata()
    out: list[str] = []
    for query in queries:
        type_name = (query.findtext(f"{{{NS}}}type") or "").strip()
        folder = (query.findtext(f"{{{NS}}}folder") or "").strip() or None
        found = catalog.list_components(type_name, folder)
        out.extend(_file_properties(server, c, c.file_name) for c in found)
    return "".join(f"<result>{p}</result>" for p in out)


def _retrieve(server: EmulatorServer, call: ET.Element) -> str:
    req = call.find(f"{{{NS}}}retrieveRequest")
    if req is None:
        raise MetadataFault("INVALID_OPERATION", "retrieve needs a retrieveRequest")
    api_version = (req.findtext(f"{{{NS}}}apiVersion") or "").strip() or "62.0"
    package: dict[str, list[str]] = {}
    unpackaged = req.find(f"{{{NS}}}unpackaged")
    for types in _children(unpackaged, "types"):
        name = next(((n.text or "").strip() for n in _children(types, "name")), "")
        members = [(m.text or "").strip() for m in _children(types, "members")]
        package.setdefault(name, []).extend(members)
    if not package:
        raise MetadataFault("INVALID_OPERATION", "retrieve needs unpackaged types (a package.xml)")
    config = server.config
    outcome = server.org.metadata().retrieve(package, api_version, max_files=config.metadata_max_files,
                                             max_zip_bytes=config.metadata_max_zip_bytes)
    job_id = server.metadata_jobs.add(RetrieveJob(time.monotonic(), outcome))
    return (f"<result><done>false</done><id>{job_id}</id><state>Queued</state></result>")


def _check(server: EmulatorServer, call: ET.Element) -> str:
    job_id = (call.findtext(f"{{{NS}}}asyncProcessId") or "").strip()
    include_zip = (call.findtext(f"{{{NS}}}includeZip") or "true").strip().lower() != "false"
    job = server.metadata_jobs.get(job_id)
    if job is None:
        raise MetadataFault("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
    if time.monotonic() - job.started < server.config.retrieve_latency:
        return (f"<result><done>false</done><id>{job_id}</id><status>InProgress</status>"
                "<success>false</success></result>")
    outcome = job.outcome
    if outcome.zip_bytes is None:
        return (f"<result><done>true</done><errorMessage>{escape(outcome.error_message or '')}</errorMessage>"
                f"<errorStatusCode>{outcome.error_code}</errorStatusCode><id>{job_id}</id>"
                "<status>Failed</status><success>false</success></result>")
    props = "".join(
        f"<fileProperties>{_file_properties(server, c, 'unpackaged/' + c.file_name)}</fileProperties>"
        for c in outcome.properties)
    messages = "".join(f"<messages><fileName>{escape(f)}</fileName><problem>{escape(p)}</problem></messages>"
                       for f, p in outcome.messages)
    zipped = f"<zipFile>{base64.b64encode(outcome.zip_bytes).decode()}</zipFile>" if include_zip else ""
    return (f"<result><done>true</done>{props}<id>{job_id}</id>{messages}<status>Succeeded</status>"
            f"<success>true</success>{zipped}</result>")


_CALLS = {"describeMetadata": _describe, "listMetadata": _list, "retrieve": _retrieve,
          "checkRetrieveStatus": _check}


# -- rendering -----------------------------------------------------------------------------------

def _file_properties(server: EmulatorServer, c: Component, file_name: str) -> str:
    creds = server.credentials
    when = wire.sf_datetime(c.last_modified).replace("+0000", "Z")
    who = escape(creds.username)
    return (f"<createdById>{creds.user_id}</createdById><createdByName>{who}</createdByName>"
            f"<createdDate>{when}</createdDate><fileName>{escape(file_name)}</fileName>"
            f"<fullName>{escape(c.full_name)}</fullName><id>{c.id}</id>"
            f"<lastModifiedById>{creds.user_id}</lastModifiedById><lastModifiedByName>{who}</lastModifiedByName>"
            f"<lastModifiedDate>{when}</lastModifiedDate><manageableState>unmanaged</manageableState>"
            f"<type>{c.type}</type>")


def _children(parent: ET.Element | None, name: str) -> list[ET.Element]:
    """`parent`'s children called `name`, in the metadata namespace or in none: simple-salesforce
    sends package.xml's ``<types>`` unqualified inside a qualified ``<unpackaged>``, and Salesforce
    accepts it."""
    if parent is None:
        return []
    return [c for c in parent if c.tag in (name, f"{{{NS}}}{name}")]


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _envelope(body: str) -> Response:
    xml = (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{_SOAP}" xmlns="{NS}" '
           'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
           f"<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>")
    return Response(200, xml.encode(), content_type=wire.XML_TYPE, compressible=True)


def fault(exception_code: str, message: str, *, code: str | None = None) -> Response:
    """A Metadata API SOAP fault (HTTP 500): ``sf:<code>`` with the ApiFault detail."""
    faultcode = code or f"sf:{exception_code}"
    xml = (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{_SOAP}" '
           f'xmlns:sf="{NS}"><soapenv:Body><soapenv:Fault><faultcode>{faultcode}</faultcode>'
           f"<faultstring>{exception_code}: {escape(message)}</faultstring><detail>"
           f"<sf:UnexpectedErrorFault><sf:exceptionCode>{exception_code}</sf:exceptionCode>"
           f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage></sf:UnexpectedErrorFault>"
           "</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>")
    return Response(500, xml.encode(), content_type=wire.XML_TYPE)
