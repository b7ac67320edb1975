"""The emulator's Metadata API over HTTP, driven by a third-party client: simple-salesforce 1.12.10's
`SfdcMetadataApi` (zeep for describeMetadata/listMetadata, its own SOAP messages for retrieve).

`SfdcMetadataApi` takes the metadata URL as a constructor argument; it is given the emulator's
plain-http one (zeep builds its own transport, which the rewriting session cannot reach).
"""

from __future__ import annotations

import base64
import io
import time
import zipfile
from collections.abc import Iterator
from xml.etree import ElementTree as ET

import pytest
import requests
import zeep.exceptions
from simple_salesforce import Salesforce
from simple_salesforce.metadata import SfdcMetadataApi

from sfbackup.testing import RunningEmulator, running_emulator

NS = {"mt": "http://soap.sforce.com/2006/04/metadata"}


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(records=60, retrieve_latency=0.2) as running:
        yield running


@pytest.fixture(scope="module")
def sf(emu: RunningEmulator) -> Salesforce:
    creds = emu.credentials
    return Salesforce(username=creds.username, password=creds.password, security_token=creds.security_token,
                      session=emu.session())  # fmt: skip


@pytest.fixture(scope="module")
def md(emu: RunningEmulator, sf: Salesforce) -> SfdcMetadataApi:
    url = f"{emu.instance_url}/services/Soap/m/{sf.sf_version}/"
    return SfdcMetadataApi(sf.session, sf.session_id, sf.sf_instance, url, sf.headers, sf.sf_version)


def _query(md: SfdcMetadataApi, **kw: str) -> object:
    return md._client.get_type("ns0:ListMetadataQuery")(**kw)


def _wait_zip(md: SfdcMetadataApi, job: str) -> tuple[str | None, ET.Element, zipfile.ZipFile | None]:
    for _ in range(50):
        result = md.retrieve_retrieve_result(job, "true")
        if result.findtext("mt:done", None, NS) == "true":
            data = result.findtext("mt:zipFile", None, NS)
            archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(data))) if data else None
            return result.findtext("mt:status", None, NS), result, archive
        time.sleep(0.05)
    raise AssertionError("retrieve never finished")


def test_describe_metadata_lists_the_types_with_folders_and_children(md: SfdcMetadataApi) -> None:
    described = {o.xmlName: o for o in md.describe_metadata().metadataObjects}
    assert {"CustomObject", "Layout", "Flow", "Profile", "PermissionSet", "Report", "Dashboard",
            "EmailTemplate", "ApexClass", "CustomLabels", "Document"} <= set(described)  # fmt: skip
    assert described["Report"].inFolder and not described["Flow"].inFolder
    assert described["ApexClass"].metaFile and described["ApexClass"].suffix == "cls"
    assert "CustomField" in described["CustomObject"].childXmlNames


def test_list_metadata_agrees_with_the_describes_and_the_rows(sf: Salesforce, md: SfdcMetadataApi) -> None:
    objects = {p.fullName for p in md.list_metadata([_query(md, type="CustomObject")])}
    custom = {o["name"] for o in sf.describe()["sobjects"] if o["custom"]}
    assert custom and custom <= objects
    assert "Account" in objects
    profiles = {p.fullName for p in md.list_metadata([_query(md, type="Profile")])}
    assert len(profiles) == sf.query("SELECT COUNT() FROM Profile")["totalSize"]
    assert "Admin" in profiles


def test_foldered_types_are_listed_per_folder(md: SfdcMetadataApi) -> None:
    folders = md.list_metadata([_query(md, type="ReportFolder")])
    assert folders and all(f.type == "ReportFolder" for f in folders)
    reports = md.list_metadata([_query(md, type="Report", folder=folders[0].fullName)])
    assert reports and all(r.fullName.startswith(folders[0].fullName + "/") for r in reports)
    assert md.list_metadata([_query(md, type="Report")]) == []  # no folder: nothing


def test_a_type_the_org_does_not_have_is_refused_with_invalid_type(md: SfdcMetadataApi) -> None:
    with pytest.raises(zeep.exceptions.Fault, match="INVALID_TYPE"):
        md.list_metadata([_query(md, type="WaveTemplateBundle")])


def test_retrieve_is_asynchronous_and_returns_the_files_of_the_package(sf: Salesforce, md: SfdcMetadataApi) -> None:
    job, state = md.retrieve("unused", unpackaged={
        "CustomObject": ["Account", "Invoice__c"], "ApexClass": ["*"], "Report": ["Sales_Reports_00/Pipeline_000"],
        "Flow": ["No_Such_Flow"]})  # fmt: skip
    assert job and job.startswith("09S") and state == "Queued"
    assert md.check_retrieve_status(job)[0] == "InProgress"
    status, result, archive = _wait_zip(md, job)
    assert status == "Succeeded" and archive is not None
    names = set(archive.namelist())
    assert {"unpackaged/package.xml", "unpackaged/objects/Account.object",
            "unpackaged/classes/AccountService.cls", "unpackaged/classes/AccountService.cls-meta.xml",
            "unpackaged/reports/Sales_Reports_00/Pipeline_000.report"} <= names  # fmt: skip
    problems = [m.findtext("mt:problem", None, NS) for m in result.findall("mt:messages", NS)]
    assert problems == ["Entity of type 'Flow' named 'No_Such_Flow' cannot be found"]
    account = archive.read("unpackaged/objects/Account.object").decode()
    for row in sf.query("SELECT DeveloperName FROM RecordType WHERE SobjectType = 'Account'")["records"]:
        assert f"<fullName>{row['DeveloperName']}</fullName>" in account  # record types from the rows


def test_check_retrieve_status_of_an_unknown_id_is_invalid_cross_reference_key(md: SfdcMetadataApi) -> None:
    with pytest.raises(Exception, match="INVALID_CROSS_REFERENCE_KEY"):
        md.check_retrieve_status("09S000000000000AAA")


def test_a_retrieve_over_the_file_limit_fails_with_limit_exceeded(emu: RunningEmulator, md: SfdcMetadataApi) -> None:
    emu.server.config.metadata_max_files = 5
    try:
        job, _ = md.retrieve("unused", unpackaged={"ApexClass": ["*"]})
        assert job is not None
        status, result, archive = _wait_zip(md, job)
    finally:
        emu.server.config.metadata_max_files = 10_000
    assert status == "Failed" and archive is None
    assert result.findtext("mt:errorStatusCode", None, NS) == "LIMIT_EXCEEDED"


def _describe_as(emu: RunningEmulator, session: str) -> requests.Response:
    body = ('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:met="http://soap.sforce.com/2006/04/metadata"><soapenv:Header><met:SessionHeader>'
            f"<met:sessionId>{session}</met:sessionId></met:SessionHeader></soapenv:Header><soapenv:Body>"
            "<met:describeMetadata><met:asOfVersion>62.0</met:asOfVersion></met:describeMetadata>"
            "</soapenv:Body></soapenv:Envelope>")  # fmt: skip
    return requests.post(f"{emu.instance_url}/services/Soap/m/62.0", data=body,
                         headers={"Content-Type": "text/xml", "SOAPAction": "describeMetadata"}, timeout=10)


def test_a_bad_session_header_is_a_soap_fault(emu: RunningEmulator) -> None:
    response = _describe_as(emu, "nope")
    assert response.status_code == 500
    assert "<faultcode>sf:INVALID_SESSION_ID</faultcode>" in response.text


def test_a_user_without_modify_all_data_is_refused_the_metadata_api(emu: RunningEmulator) -> None:
    assert _describe_as(emu, emu.server.sessions.issue("admin")).status_code == 200
    response = _describe_as(emu, emu.server.sessions.issue("restricted"))
    assert response.status_code == 500
    assert "<faultcode>sf:INSUFFICIENT_ACCESS</faultcode>" in response.text
    assert "requires a user with the ModifyAllData or ModifyMetadata permissions" in response.text
