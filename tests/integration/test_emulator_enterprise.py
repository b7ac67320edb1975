"""The enterprise org shape over real HTTP: each quirk's refusal with Salesforce's exact errorCode and
text, and the query Salesforce accepts answering with its rows (docs/emulator.md lists the sources).
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
import requests

from sfbackup.cli import main
from sfbackup.emulator.org.store import EmulatedOrg, OrgConfig
from sfbackup.errors import ExitCode
from sfbackup.testing import RunningEmulator, running_emulator

V = "v62.0"


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(
        records=30, org_shape="enterprise", operation_too_large=True, large_file_bytes=0, job_latency=0.1
    ) as running:
        yield running


@pytest.fixture(scope="module")
def http(emu: RunningEmulator) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {emu.access_token()}"
    return session


def get(emu: RunningEmulator, http: requests.Session, path: str, **params: str) -> requests.Response:
    return http.get(f"{emu.instance_url}/services/data/{V}/{path}", params=params)


def rows(
    emu: RunningEmulator, http: requests.Session, soql: str, kind: str = "query"
) -> list[dict[str, Any]]:
    response = get(emu, http, kind, q=soql)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["done"] is True
    return body["records"]  # type: ignore[no-any-return]


def refusal(
    emu: RunningEmulator, http: requests.Session, soql: str, kind: str = "query", **params: str
) -> tuple[str, str]:
    response = get(emu, http, kind, q=soql, **params)
    assert response.status_code == 400, response.text
    [error] = response.json()
    return error["errorCode"], error["message"]


def one_id(emu: RunningEmulator, http: requests.Session, soql: str, field: str = "Id") -> str:
    return str(rows(emu, http, soql)[0][field])


def bulk_job(emu: RunningEmulator, http: requests.Session, soql: str) -> requests.Response:
    return http.post(
        f"{emu.instance_url}/services/data/{V}/jobs/query", json={"operation": "query", "query": soql}
    )


def bulk_csv(emu: RunningEmulator, http: requests.Session, soql: str) -> bytes:
    created = bulk_job(emu, http, soql)
    assert created.status_code == 200, created.text
    job_url = f"{emu.instance_url}/services/data/{V}/jobs/query/{created.json()['id']}"
    deadline = time.time() + 30
    while http.get(job_url).json()["state"] != "JobComplete":
        assert time.time() < deadline
        time.sleep(0.05)
    return http.get(job_url + "/results").content


# -- describeGlobal ---------------------------------------------------------------------------------


def test_given_the_enterprise_shape_when_listing_objects_then_a_real_orgs_thousand_with_companions(
    emu: RunningEmulator, http: requests.Session
) -> None:
    started = time.perf_counter()
    listing = get(emu, http, "sobjects")
    elapsed = time.perf_counter() - started
    names = [s["name"] for s in listing.json()["sobjects"]]
    assert 950 <= len(names) <= 1100 and elapsed < 1.0
    for suffix in ("ChangeEvent", "__ChangeEvent", "Share", "__Share", "Feed", "History", "__kav", "__b"):
        assert any(n.endswith(suffix) for n in names), suffix
    assert {"EntityDefinition", "FieldHistoryArchive", "LoginHistory", "ApexClass", "Task"} <= set(names)
    described = get(emu, http, "sobjects/Wide_Survey__c/describe").json()
    assert len(described["fields"]) > 650
    assert rows(emu, http, "SELECT Id FROM ApexClass") == []  # most of a real org's objects are empty
    assert refusal(emu, http, "SELECT Id FROM FeedLike") == (
        "INVALID_TYPE_FOR_OPERATION",
        "entity type FeedLike does not support query",
    )


def test_given_the_default_shape_then_its_catalog_and_data_key_are_unchanged() -> None:
    config = OrgConfig(records=5, large_file_bytes=0)
    assert "org_shape" not in config.data_key()
    org = EmulatedOrg(config)
    try:
        assert len(org.describe_global()["sobjects"]) < 40
    finally:
        org.close()


# -- filter-required objects ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plain", "error_code", "text", "filtered", "expected"),
    [
        (
            "SELECT Id, Title FROM KnowledgeArticleVersion",
            "MALFORMED_QUERY",
            "Implementation restriction: When querying the KnowledgeArticleVersion object, you must filter "
            "using the following syntax: Id = [single ID], Id IN [list of ID's] or PublishStatus = ['Online' "
            "or 'Draft' or 'Archived'].",
            "SELECT Id, Title FROM KnowledgeArticleVersion WHERE PublishStatus = 'Online'",
            4,
        ),
        (
            "SELECT Id FROM FAQ__kav WHERE PublishStatus = 'Draft'",
            "MALFORMED_QUERY",
            "Implementation restriction: When querying the FAQ__kav object, you must filter using the "
            "following syntax: Id = [single ID], Id IN [list of ID's] or PublishStatus = ['Online' or "
            "'Draft' or 'Archived'] and Language = [a supported language].",
            "SELECT Id FROM FAQ__kav WHERE PublishStatus = 'Draft' AND Language = 'en_US'",
            2,
        ),
        (
            "SELECT Id FROM ContentFolderMember",
            "MALFORMED_QUERY",
            "Implementation restriction: ContentFolderMember requires a filter by a single Id, ChildRecordId "
            "or ParentContentFolderId using the equals operator",
            "SELECT Id FROM ContentFolderMember WHERE ParentContentFolderId = '{folder}'",
            3,
        ),
        (
            "SELECT Id FROM ContentFolderItem",
            "MALFORMED_QUERY",
            "Implementation restriction: ContentFolderItem requires a filter by Id or ParentContentFolderId "
            "using the equals or 'IN' operator",
            "SELECT Id, Title FROM ContentFolderItem WHERE ParentContentFolderId IN ('{folder}')",
            3,
        ),
        (
            "SELECT RecordId, HasReadAccess FROM UserRecordAccess WHERE RecordId = '{account}'",
            "MALFORMED_QUERY",
            "Implementation restriction: UserRecordAccess requires a filter by UserId and RecordId",
            "SELECT RecordId, MaxAccessLevel FROM UserRecordAccess WHERE UserId = '{user}' "
            "AND RecordId = '{account}'",
            1,
        ),
    ],
)
def test_given_a_filter_required_object_when_queried_without_then_refused_and_with_then_rows(
    emu: RunningEmulator,
    http: requests.Session,
    plain: str,
    error_code: str,
    text: str,
    filtered: str,
    expected: int,
) -> None:
    ids = {
        "folder": one_id(emu, http, "SELECT Id FROM ContentFolder ORDER BY Name LIMIT 1"),
        "account": one_id(emu, http, "SELECT Id FROM Account ORDER BY Id LIMIT 1"),
        "user": str(emu.credentials.user_id),
    }
    assert refusal(emu, http, plain.format(**ids)) == (error_code, text)
    assert len(rows(emu, http, filtered.format(**ids))) == expected


def test_given_vote_and_idea_comment_when_filtered_by_their_idea_then_rows(
    emu: RunningEmulator, http: requests.Session
) -> None:
    ideas = [r["Id"] for r in rows(emu, http, "SELECT Id FROM Idea")]
    vote_text = (
        "Implementation restriction: When querying the Vote object, you must filter using the following "
        "syntax: ParentId = [single ID], Parent.Type = [single Type], Id = [single ID], or Id IN [list of ID's]."
    )
    assert refusal(emu, http, "SELECT Id FROM Vote") == ("MALFORMED_QUERY", vote_text)
    quoted = ", ".join(f"'{i}'" for i in ideas)
    assert refusal(emu, http, f"SELECT Id FROM Vote WHERE ParentId IN ({quoted})") == (
        "MALFORMED_QUERY",
        vote_text,
    )
    votes = [
        r
        for idea_id in ideas
        for r in rows(emu, http, f"SELECT Id, ParentId FROM Vote WHERE ParentId = '{idea_id}'")
    ]
    assert len(votes) == 12 and {v["ParentId"] for v in votes} <= set(ideas)
    code, text = refusal(emu, http, "SELECT Id FROM IdeaComment")
    assert code == "MALFORMED_QUERY" and text.startswith(
        "Implementation restriction. When querying the Idea Comment"
    )
    assert len(rows(emu, http, f"SELECT Id, CommentBody FROM IdeaComment WHERE IdeaId IN ({quoted})")) == 9


def test_given_content_document_link_when_non_id_condition_beside_document_ids_then_refused(
    emu: RunningEmulator, http: requests.Session
) -> None:
    link = rows(
        emu,
        http,
        "SELECT Id, ContentDocumentId, LinkedEntityId FROM ContentDocumentLink "
        f"WHERE LinkedEntityId = '{emu.credentials.user_id}'",
    )[0]
    document = link["ContentDocumentId"]
    assert refusal(
        emu,
        http,
        f"SELECT Id FROM ContentDocumentLink WHERE ContentDocumentId IN ('{document}') "
        "AND SystemModstamp <= 2030-01-01T00:00:00Z",
    ) == (
        "MALFORMED_QUERY",
        "Implementation restriction: filtering on non-id fields is only permitted when filtering by "
        "ContentDocumentLink.LinkedEntityId using the equals operator.",
    )
    found = rows(
        emu, http, f"SELECT Id, ShareType FROM ContentDocumentLink WHERE ContentDocumentId IN ('{document}')"
    )
    assert link["Id"] in {r["Id"] for r in found}
    beside_entity = rows(
        emu,
        http,
        f"SELECT Id FROM ContentDocumentLink WHERE LinkedEntityId = '{link['LinkedEntityId']}' "
        "AND SystemModstamp <= 2030-01-01T00:00:00Z",
    )
    assert link["Id"] in {r["Id"] for r in beside_entity}


# -- big objects, huge tables, activities, setup objects --------------------------------------------


def test_given_a_big_object_when_filtered_off_its_index_then_refused_and_on_it_then_rows(
    emu: RunningEmulator, http: requests.Session
) -> None:
    code = "BIG_OBJECT_UNSUPPORTED_OPERATION"
    gap = "Filters may not have any gaps within the composite key"
    assert refusal(
        emu, http, "SELECT Id FROM FieldHistoryArchive WHERE CreatedDate >= 2020-01-01T00:00:00Z"
    ) == (code, gap)
    assert refusal(
        emu, http, "SELECT Field FROM FieldHistoryArchive WHERE ParentId = '001000000000000AAA'"
    ) == (code, gap)
    assert refusal(emu, http, "SELECT COUNT() FROM FieldHistoryArchive") == (
        code,
        "Aggregate functions not supported",
    )
    assert refusal(emu, http, "SELECT Id FROM FieldHistoryArchive", "queryAll")[0] == code
    assert (
        refusal(emu, http, "SELECT Id FROM FieldHistoryArchive WHERE FieldHistoryType != 'Account'")[0]
        == code
    )
    everything = rows(emu, http, "SELECT ParentId, CreatedDate FROM FieldHistoryArchive")
    assert len(everything) == 30
    parent = everything[0]["ParentId"]
    indexed = rows(
        emu,
        http,
        f"SELECT ParentId, Field FROM FieldHistoryArchive WHERE FieldHistoryType = 'Account' AND ParentId = '{parent}' "
        "AND CreatedDate >= 2000-01-01T00:00:00Z",
    )
    assert indexed and {r["ParentId"] for r in indexed} == {parent}
    assert bulk_job(emu, http, "SELECT Id FROM Shipment_Log__b").json()[0]["errorCode"] == "INVALIDENTITY"
    account = rows(emu, http, "SELECT Account__c FROM Shipment_Log__b")[0]["Account__c"]
    assert rows(emu, http, f"SELECT Status__c FROM Shipment_Log__b WHERE Account__c = '{account}'")


def test_given_huge_tables_when_counted_then_query_timeout_while_rows_are_served(
    emu: RunningEmulator, http: requests.Session
) -> None:
    for name in ("LoginHistory", "Telemetry_Event__c"):
        expected = ("QUERY_TIMEOUT", "Your query request was running for too long.")
        assert refusal(emu, http, f"SELECT COUNT() FROM {name}") == expected
        assert refusal(emu, http, f"SELECT COUNT(Id) FROM {name}") == expected
        assert len(rows(emu, http, f"SELECT Id FROM {name}")) == 60


def test_given_operation_too_large_when_task_queried_plainly_then_refused_and_by_record_then_rows(
    emu: RunningEmulator, http: requests.Session
) -> None:
    for name in ("Task", "Event"):
        assert refusal(emu, http, f"SELECT Id, Subject FROM {name}") == (
            "OPERATION_TOO_LARGE",
            "exceeded 100000 distinct who/what's",
        )
        assert bulk_job(emu, http, f"SELECT Id FROM {name}").json()[0]["errorCode"] == "OPERATION_TOO_LARGE"
    account = one_id(emu, http, "SELECT Id FROM Account ORDER BY Id LIMIT 1")
    tasks = rows(emu, http, f"SELECT Id, WhatId FROM Task WHERE WhatId IN ('{account}')")
    assert tasks and {t["WhatId"] for t in tasks} == {account}
    assert rows(emu, http, f"SELECT Id FROM Event WHERE AccountId = '{account}'")


def test_given_entity_definition_when_counted_or_paged_then_storage_type_and_exceeded_id_limit(
    emu: RunningEmulator, http: requests.Session
) -> None:
    assert refusal(emu, http, "SELECT COUNT() FROM EntityDefinition") == (
        "INVALID_OPERATION",
        "The requested operation is not yet supported by this SObject storage type, contact salesforce.com "
        "support for more information.",
    )
    assert refusal(
        emu, http, "SELECT Id FROM EntityDefinition WHERE KeyPrefix = '001' OR KeyPrefix = '003'"
    ) == ("MALFORMED_QUERY", "Disjunctions not supported")
    assert refusal(emu, http, "SELECT QualifiedApiName FROM EntityDefinition") == (
        "EXCEEDED_ID_LIMIT",
        "EntityDefinition does not support queryMore(), use LIMIT to restrict the results to a single batch",
    )
    limited = rows(emu, http, "SELECT QualifiedApiName FROM EntityDefinition LIMIT 2000")
    assert len(limited) == 2000 and "Account" in {r["QualifiedApiName"] for r in limited}
    [account] = rows(emu, http, "SELECT KeyPrefix FROM EntityDefinition WHERE QualifiedApiName = 'Account'")
    assert account["KeyPrefix"] == "001"


def test_given_an_unfilterable_system_modstamp_when_filtered_then_invalid_field_and_described_so(
    emu: RunningEmulator, http: requests.Session
) -> None:
    fields = {f["name"]: f for f in get(emu, http, "sobjects/ActivityFieldHistory/describe").json()["fields"]}
    assert fields["SystemModstamp"]["filterable"] is False and fields["CreatedDate"]["filterable"] is True
    code, text = refusal(
        emu, http, "SELECT Id FROM ActivityFieldHistory WHERE SystemModstamp >= 2020-01-01T00:00:00Z"
    )
    assert code == "INVALID_FIELD" and text.endswith(
        "field 'SystemModstamp' can not be filtered in a query call"
    )
    assert (
        len(rows(emu, http, "SELECT Id FROM ActivityFieldHistory WHERE CreatedDate >= 2000-01-01T00:00:00Z"))
        == 20
    )


# -- wide objects, files, rich text, Bulk number quirks ---------------------------------------------


def test_given_wide_objects_when_every_field_selected_then_rows_or_query_too_complicated(
    emu: RunningEmulator, http: requests.Session
) -> None:
    survey = [f["name"] for f in get(emu, http, "sobjects/Wide_Survey__c/describe").json()["fields"]]
    found = rows(emu, http, f"SELECT {', '.join(survey)} FROM Wide_Survey__c")
    assert len(found) == 4 and len(found[0]) == len(survey) + 1
    formula = [f["name"] for f in get(emu, http, "sobjects/Wide_Formula__c/describe").json()["fields"]]
    too_complicated = (
        "QUERY_TOO_COMPLICATED",
        "Query is either selecting too many fields or the filter conditions are too complicated.",
    )
    assert len(formula) > 700
    assert refusal(emu, http, f"SELECT {', '.join(formula)} FROM Wide_Formula__c") == too_complicated
    [error] = bulk_job(emu, http, f"SELECT {', '.join(formula[:600])} FROM Wide_Formula__c").json()
    assert (error["errorCode"], error["message"]) == too_complicated
    halves = [
        rows(emu, http, f"SELECT {', '.join(part)} FROM Wide_Formula__c")
        for part in (formula[:400], formula[400:])
    ]
    assert [len(h) for h in halves] == [4, 4]


@pytest.mark.parametrize(
    ("name", "field", "length_field"),
    [
        ("QuoteDocument", "Document", None),
        ("EventLogFile", "LogFile", "LogFileLength"),
        ("StaticResource", "Body", "BodyLength"),
    ],
)
def test_given_base64_fields_beyond_file_objects_when_fetched_then_bodies_at_their_blob_urls(
    emu: RunningEmulator, http: requests.Session, name: str, field: str, length_field: str | None
) -> None:
    select = ", ".join(["Id", field, *([length_field] if length_field else [])])
    records = rows(emu, http, f"SELECT {select} FROM {name}")
    assert records
    for record in records:
        size = int(record[length_field]) if length_field else None
        if record[field] is None:
            assert size in (None, 0)
            continue
        assert record[field] == f"/services/data/{V}/sobjects/{name}/{record['Id']}/{field}"
        body = http.get(emu.instance_url + record[field])
        assert body.status_code == 200 and len(body.content) == (
            size if size is not None else len(body.content)
        )
        assert size == 0 or body.content
    assert bulk_job(emu, http, f"SELECT Id, {field} FROM {name}").json()[0]["message"] == (
        "Binary field not supported in Bulk Query"
    )


def test_given_rich_text_with_images_when_fetched_then_png_bytes_at_the_rich_text_image_resource(
    emu: RunningEmulator, http: requests.Session
) -> None:
    fields = {f["name"]: f for f in get(emu, http, "sobjects/Field_Report__c/describe").json()["fields"]}
    assert (fields["Summary__c"]["extraTypeInfo"], fields["Summary__c"]["htmlFormatted"]) == (
        "richtextarea",
        True,
    )
    images = []
    for record in rows(emu, http, "SELECT Id, Summary__c FROM Field_Report__c"):
        for src in re.findall(r'<img [^>]*src="([^"]+)"', record["Summary__c"]):
            assert "/servlet/rtaImage?" in src and "&amp;refid=0EM" in src
            refid = re.search(r"refid=(0EM\w+)", unescape(src)).group(1)  # type: ignore[union-attr]
            image = get(
                emu, http, f"sobjects/Field_Report__c/{record['Id']}/richTextImageFields/Summary__c/{refid}"
            )
            assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
            assert image.content.startswith(b"\x89PNG\r\n\x1a\n")
            images.append(image.content)
    assert len(images) >= 5 and len(set(images)) == len(images)
    record_id = one_id(emu, http, "SELECT Id FROM Field_Report__c LIMIT 1")
    missing = get(
        emu, http, f"sobjects/Field_Report__c/{record_id}/richTextImageFields/Summary__c/0EM000000000000"
    )
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"


def test_given_legacy_numbers_and_nul_text_when_bulk_queried_then_salesforce_cell_texts(
    emu: RunningEmulator, http: requests.Session
) -> None:
    soql = "SELECT Name, Seats__c, Revenue__c, Raw_Text__c FROM Legacy_Import__c ORDER BY Name"
    cells = list(csv.reader(io.StringIO(bulk_csv(emu, http, soql).decode("utf-8"))))
    assert cells[0] == ["Name", "Seats__c", "Revenue__c", "Raw_Text__c"]
    assert cells[1:] == [
        ["Legacy 0", "0.0", "1.5E7", "NUL\x00inside"],
        ["Legacy 1", "42.0", "1.23456789E7", "two\x00\x00NULs"],
        ["Legacy 2", "7.0", "2.5E-5", "plain"],
        ["Legacy 3", "", "", ""],
        ["Legacy 4", "1000000.0", "1.0E21", "end\x00"],
        ["Legacy 5", "3.0", "1234.5", "ok"],
    ]
    rest = rows(emu, http, soql)
    assert (rest[0]["Seats__c"], rest[0]["Revenue__c"], rest[0]["Raw_Text__c"]) == (
        0,
        15000000.0,
        "NUL\x00inside",
    )


# -- the command line -------------------------------------------------------------------------------


def test_given_the_emulator_help_then_org_shape_is_documented(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["emulator", "--help"])
    out = capsys.readouterr().out
    assert "--org-shape {default,enterprise}" in out and "--operation-too-large" in out
    assert main(["emulator", "--operation-too-large"]) == ExitCode.USAGE
