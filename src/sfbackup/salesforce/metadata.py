"""The Metadata API over SOAP (``/services/Soap/m/<version>``): describeMetadata, listMetadata,
retrieve and checkRetrieveStatus, sent through `SalesforceClient.fetch` (its retries, re-login and
API reserve, as for data). The session goes in the SOAP ``SessionHeader``, built on every attempt
from the client's current token, so a call made again after a re-login carries the new session.

simple-salesforce's `SfdcMetadataApi` is not used here: its describe and list calls go through
zeep with a transport of its own (outside our session, retries and counters), and its retrieve
parser reads ``messages`` where deploy results keep them (``details/messages``), so a partial
retrieve failure would go unseen.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

import requests

from sfbackup.errors import UnsupportedQuery
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.salesforce.faults import TruncatedBody

__all__ = [
    "MAX_LIST_QUERIES",
    "FileProperties",
    "Listing",
    "MetadataApi",
    "MetadataType",
    "RetrieveStatus",
    "folder_type_of",
    "list_everything",
    "package_xml",
]

NS = "http://soap.sforce.com/2006/04/metadata"
_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
_M = f"{{{NS}}}"
#: listMetadata takes at most 3 queries per call (Metadata API Developer Guide, "listMetadata()").
MAX_LIST_QUERIES = 3


@dataclass(frozen=True)
class MetadataType:
    """One type describeMetadata lists."""

    xml_name: str
    directory: str = ""
    suffix: str | None = None
    in_folder: bool = False
    meta_file: bool = False
    children: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileProperties:
    """One component as listMetadata (or a retrieve's fileProperties) names it."""

    type: str
    full_name: str
    file_name: str
    id: str | None = None
    last_modified: str | None = None


@dataclass
class RetrieveStatus:
    """checkRetrieveStatus's answer."""

    done: bool
    status: str
    zip_bytes: bytes | None = None
    file_properties: list[FileProperties] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)  # (fileName, problem)
    error_code: str | None = None
    error_message: str | None = None


def folder_type_of(xml_name: str) -> str:
    """The type listMetadata takes to list a foldered type's folders (EmailTemplate -> EmailFolder)."""
    return "EmailFolder" if xml_name == "EmailTemplate" else f"{xml_name}Folder"


def package_xml(package: Mapping[str, Iterable[str]], api_version: str) -> bytes:
    """A package.xml naming `package`'s members by type (types and members sorted)."""
    body = "".join(
        "    <types>\n" + "".join(f"        <members>{escape(m)}</members>\n" for m in sorted(members))
        + f"        <name>{escape(name)}</name>\n    </types>\n"
        for name, members in sorted(package.items())
    )
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Package xmlns="{NS}">\n{body}'
            f"    <version>{escape(api_version)}</version>\n</Package>\n").encode()


class MetadataApi:
    """Metadata API calls for one client (`api_version` defaults to the client's)."""

    def __init__(self, client: SalesforceClient, api_version: str | None = None) -> None:
        self.client = client
        self.api_version = api_version or client.api_version
        self.path = f"/services/Soap/m/{self.api_version}"

    def describe(self) -> list[MetadataType]:
        result = self._call("describeMetadata", f"<m:asOfVersion>{escape(self.api_version)}</m:asOfVersion>")
        types = []
        for node in result.findall(f"{_M}result/{_M}metadataObjects"):
            types.append(MetadataType(
                xml_name=_text(node, "xmlName"),
                directory=_text(node, "directoryName"),
                suffix=_text(node, "suffix") or None,
                in_folder=_text(node, "inFolder") == "true",
                meta_file=_text(node, "metaFile") == "true",
                children=tuple((c.text or "").strip() for c in node.findall(f"{_M}childXmlNames")),
            ))
        return types

    def list(self, queries: list[tuple[str, str | None]]) -> list[FileProperties]:
        """listMetadata for up to `MAX_LIST_QUERIES` (type, folder) queries."""
        if not 0 < len(queries) <= MAX_LIST_QUERIES:
            raise ValueError(f"listMetadata takes 1 to {MAX_LIST_QUERIES} queries, not {len(queries)}")
        body = "".join(
            "<m:queries>" + (f"<m:folder>{escape(folder)}</m:folder>" if folder else "")
            + f"<m:type>{escape(type_name)}</m:type></m:queries>"
            for type_name, folder in queries
        ) + f"<m:asOfVersion>{escape(self.api_version)}</m:asOfVersion>"
        result = self._call("listMetadata", body)
        return [_file_properties(node) for node in result.findall(f"{_M}result")]

    def retrieve(self, package: Mapping[str, Iterable[str]]) -> str:
        """Start a retrieve of `package` (type -> members); its AsyncResult id."""
        types = "".join(
            "<m:types>" + "".join(f"<m:members>{escape(m)}</m:members>" for m in sorted(members))
            + f"<m:name>{escape(name)}</m:name></m:types>"
            for name, members in sorted(package.items())
        )
        body = (f"<m:retrieveRequest><m:apiVersion>{escape(self.api_version)}</m:apiVersion>"
                f"<m:singlePackage>true</m:singlePackage><m:unpackaged>{types}"
                f"<m:version>{escape(self.api_version)}</m:version></m:unpackaged></m:retrieveRequest>")
        result = self._call("retrieve", body)
        job_id = result.findtext(f"{_M}result/{_M}id")
        if not job_id:
            raise TruncatedBody("retrieve answered without an id")
        return job_id.strip()

    def check_retrieve_status(self, job_id: str, *, include_zip: bool = True) -> RetrieveStatus:
        body = (f"<m:asyncProcessId>{escape(job_id)}</m:asyncProcessId>"
                f"<m:includeZip>{'true' if include_zip else 'false'}</m:includeZip>")
        node = self._call("checkRetrieveStatus", body).find(f"{_M}result")
        if node is None:
            raise TruncatedBody("checkRetrieveStatus answered without a result")
        zipped = node.findtext(f"{_M}zipFile")
        try:
            data = base64.b64decode(zipped, validate=False) if zipped else None
        except (binascii.Error, ValueError):
            raise TruncatedBody("the retrieve's zipFile is not valid base64") from None
        return RetrieveStatus(
            done=_text(node, "done") == "true",
            status=_text(node, "status") or "InProgress",
            zip_bytes=data,
            file_properties=[_file_properties(p) for p in node.findall(f"{_M}fileProperties")],
            messages=[(_text(m, "fileName"), _text(m, "problem")) for m in node.findall(f"{_M}messages")],
            error_code=_text(node, "errorStatusCode") or None,
            error_message=_text(node, "errorMessage") or None,
        )

    # -- the wire --------------------------------------------------------------------------------
    def _call(self, operation: str, inner: str) -> ET.Element:
        """POST one SOAP call; the Body's ``<operation>Response`` element."""

        def envelope(token: str) -> bytes:
            return (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{_SOAP}" '
                    f'xmlns:m="{NS}"><soapenv:Header><m:SessionHeader><m:sessionId>{escape(token)}'
                    f"</m:sessionId></m:SessionHeader></soapenv:Header><soapenv:Body><m:{operation}>"
                    f"{inner}</m:{operation}></soapenv:Body></soapenv:Envelope>").encode()

        def parse(response: requests.Response) -> ET.Element:
            try:
                root = ET.fromstring(response.content)
            except ET.ParseError:
                raise TruncatedBody(f"{operation} answered with incomplete XML") from None
            found = root.find(f"{{{_SOAP}}}Body/{_M}{operation}Response")
            if found is None:
                raise TruncatedBody(f"{operation} answered without its response element")
            return found

        headers = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": f'"{operation}"'}
        return self.client.fetch("POST", self.path, headers=headers, data=envelope, consume=parse)


def _text(node: ET.Element, name: str) -> str:
    return (node.findtext(f"{_M}{name}") or "").strip()


def _file_properties(node: ET.Element) -> FileProperties:
    return FileProperties(type=_text(node, "type"), full_name=_text(node, "fullName"),
                          file_name=_text(node, "fileName"), id=_text(node, "id") or None,
                          last_modified=_text(node, "lastModifiedDate") or None)  # fmt: skip


@dataclass
class Listing:
    """Everything listMetadata lists: the described types, every component (a foldered type's
    folders too, under their folder type), and the types it refused with Salesforce's reason."""

    types: list[MetadataType]
    components: list[FileProperties]
    refused: list[tuple[str, str]]  # (type, reason)
    owners: dict[str, str] = field(default_factory=dict)  # folder type -> its type (ReportFolder -> Report)

    def package_type(self, props: FileProperties) -> str:
        """The type package.xml names the component under (a report folder under Report)."""
        return self.owners.get(props.type, props.type)


def list_everything(api: MetadataApi, *, check_stop: Callable[[], None] | None = None) -> Listing:
    """describeMetadata, then listMetadata for every type (3 queries a call; a foldered type's
    folders first, then each folder), each component once."""
    types = api.describe()
    owners = {folder_type_of(t.xml_name): t.xml_name for t in types if t.in_folder}
    listing = Listing(types, [], [], owners)
    seen: set[tuple[str, str]] = set()

    def run(queries: list[tuple[str, str | None]]) -> list[FileProperties]:
        found: list[FileProperties] = []
        for start in range(0, len(queries), MAX_LIST_QUERIES):
            if check_stop is not None:
                check_stop()
            batch = queries[start:start + MAX_LIST_QUERIES]
            try:
                found += api.list(batch)
            except UnsupportedQuery:
                for query in batch:  # one refused type fails the whole call: ask for each alone
                    try:
                        found += api.list([query])
                    except UnsupportedQuery as exc:  # its message: "POST <path>: CODE: Salesforce's words"
                        listing.refused.append((query[0], exc.message.removeprefix(f"POST {api.path}: ")))
        for props in found:
            if (props.type, props.full_name) not in seen:
                seen.add((props.type, props.full_name))
                listing.components.append(props)
        return found

    first: list[tuple[str, str | None]] = [(t.xml_name, None) for t in types if not t.in_folder]
    first += [(folder, None) for folder in owners]
    folders = [p for p in run(first) if p.type in owners]
    run([(owners[f.type], f.full_name) for f in folders])
    return listing
