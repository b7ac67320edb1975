"""The emulated org store: wire forms of every field type, restrictions, deleted rows, determinism,
database reuse, streamed file bodies and writes."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sfbackup.emulator.org.datagen import id_suffix, normalize_id
from sfbackup.emulator.org.store import EmulatedOrg, OrgConfig, OrgError

LARGE = 3 * 2**20 + 17
REST_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


@pytest.fixture(scope="module")
def org() -> Iterator[EmulatedOrg]:
    emulated = EmulatedOrg(OrgConfig(records=30, seed=5, large_file_bytes=LARGE))
    yield emulated
    emulated.close()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[EmulatedOrg]:
    emulated = EmulatedOrg(OrgConfig(records=10, seed=2, large_file_bytes=1000), str(tmp_path / "org.sqlite"))
    yield emulated
    emulated.close()


def rest(org: EmulatedOrg, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
    return org.query(soql, include_deleted=include_deleted, api="rest").rest_records(0, 100_000)


def bulk_csv(org: EmulatedOrg, soql: str, **kw: Any) -> tuple[bytes, int]:
    out = io.BytesIO()
    count = org.query(soql, include_deleted=False, api="bulk").write_csv(out, **kw)
    return out.getvalue(), count


def refused(org: EmulatedOrg, soql: str, api: str = "rest") -> OrgError:
    with pytest.raises(OrgError) as caught:
        org.query(soql, include_deleted=False, api=api)  # type: ignore[arg-type]
    return caught.value


# -- wire forms of every field type ----------------------------------------------------------------

INVOICE_VALUES: dict[str, Any] = {
    "Name": "INV-TYPES",
    "Description__c": 'a, "b"',
    "Notes__c": 'line1\nline2 "q", é 🎉',
    "Paid__c": True,
    "Quantity__c": 42,
    "Sequence__c": 9007199254740993,
    "Rate__c": 1.2345,
    "Amount__c": 1234.5,
    "Discount__c": 12.5,
    "Invoice_Date__c": "2020-11-16",
    "Sent_At__c": "2024-11-07T07:00:00.000+0000",
    "Due_Time__c": "13:30:00.000Z",
    "Status__c": "Sent",
    "Tags__c": "Urgent;Export",
    "Contact_Email__c": "billing@example.org",
    "Phone__c": "+44 20 7946 0018",
    "Website__c": "https://example.com/?a=1&b=2",
    "Channel__c": "Carrier pigeon",
    "Secret__c": "s3cr3t",
    "Location__Latitude__s": 48.8566,
    "Location__Longitude__s": 2.3522,
}
SELECT_ALL = ", ".join(["Id", "Account__c", *INVOICE_VALUES, "Location__c", "CreatedDate"])


@pytest.fixture(scope="module")
def invoice(org: EmulatedOrg) -> str:
    account = rest(org, "SELECT Id FROM Account LIMIT 1")[0]["Id"]
    return org.create("Invoice__c", {**INVOICE_VALUES, "Account__c": account})


def test_given_every_field_type_when_queried_over_rest_then_values_are_salesforce_json(
    org: EmulatedOrg, invoice: str
) -> None:
    record = rest(org, f"SELECT {SELECT_ALL} FROM Invoice__c WHERE Id = '{invoice}'")[0]
    assert record["attributes"] == {
        "type": "Invoice__c",
        "url": f"/services/data/v62.0/sobjects/Invoice__c/{invoice}",
    }
    assert list(record)[1:] == SELECT_ALL.split(", ")
    for name, value in INVOICE_VALUES.items():
        assert record[name] == value, name
    assert type(record["Quantity__c"]) is int and type(record["Rate__c"]) is float
    assert record["Location__c"] == {"latitude": 48.8566, "longitude": 2.3522}
    assert REST_DATETIME.match(record["CreatedDate"])
    assert record["Account__c"].startswith("001") and len(record["Account__c"]) == 18


def test_given_api_version_when_queried_then_urls_use_it(org: EmulatedOrg) -> None:
    cursor = org.query(
        "SELECT Id, Body FROM Attachment LIMIT 1", include_deleted=False, api="rest", api_version="59.0"
    )
    record = cursor.rest_records(0, 1)[0]
    assert record["attributes"]["url"] == f"/services/data/v59.0/sobjects/Attachment/{record['Id']}"
    assert record["Body"] == f"/services/data/v59.0/sobjects/Attachment/{record['Id']}/Body"


def test_given_every_field_type_when_exported_as_bulk_csv_then_cells_are_quoted_strings(
    org: EmulatedOrg, invoice: str
) -> None:
    select = SELECT_ALL.replace(", Location__c", "")
    data, count = bulk_csv(org, f"SELECT {select} FROM Invoice__c WHERE Id = '{invoice}'")
    assert count == 1
    header, row = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert header == select.split(", ")
    cells = dict(zip(header, row, strict=True))
    assert cells["Paid__c"] == "true" and cells["Quantity__c"] == "42"
    assert cells["Sent_At__c"] == "2024-11-07T07:00:00.000Z"
    assert cells["Invoice_Date__c"] == "2020-11-16" and cells["Due_Time__c"] == "13:30:00.000Z"
    assert cells["Notes__c"] == INVOICE_VALUES["Notes__c"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", cells["CreatedDate"])
    assert data.startswith(b'"Id","Account__c","Name",') and b'"a, ""b"""' in data


def test_given_nulls_when_exported_then_rest_null_and_csv_empty(org: EmulatedOrg) -> None:
    record_id = org.create("Invoice__c", {"Name": "INV-NULLS"})
    record = rest(
        org, f"SELECT Id, Quantity__c, Sent_At__c, Location__c FROM Invoice__c WHERE Id = '{record_id}'"
    )[0]
    assert record["Quantity__c"] is None and record["Sent_At__c"] is None and record["Location__c"] is None
    data, _ = bulk_csv(org, f"SELECT Id, Quantity__c, Sent_At__c FROM Invoice__c WHERE Id = '{record_id}'")
    assert data.decode().splitlines()[1] == f'"{record_id}","",""'


def test_given_delimiter_and_crlf_when_writing_csv_then_both_are_used(org: EmulatedOrg) -> None:
    data, count = bulk_csv(org, "SELECT Id, Name FROM Account LIMIT 3", delimiter="|", line_ending="\r\n")
    assert count == 3 and data.count(b"\r\n") == 4 and data.startswith(b'"Id"|"Name"\r\n')


def test_given_compound_address_when_queried_over_rest_then_object_or_null(org: EmulatedOrg) -> None:
    found = rest(org, "SELECT BillingAddress, BillingCity, ShippingAddress, ShippingCity FROM Account")
    with_city = next(r for r in found if r["BillingCity"])
    assert list(with_city["BillingAddress"]) == [
        "city",
        "country",
        "geocodeAccuracy",
        "latitude",
        "longitude",
        "postalCode",
        "state",
        "street",
    ]
    assert with_city["BillingAddress"]["city"] == with_city["BillingCity"]
    assert any(r["ShippingAddress"] is None for r in found)


# -- restrictions ----------------------------------------------------------------------------------

CDL_MESSAGE = (
    "Implementation restriction: ContentDocumentLink requires a filter by a single Id on ContentDocumentId or "
    "LinkedEntityId using the equals operator or multiple Id's using the IN operator."
)


@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_given_content_document_link_without_id_filter_when_queried_then_implementation_restriction(
    org: EmulatedOrg, api: str
) -> None:
    for soql in (
        "SELECT Id FROM ContentDocumentLink",
        "SELECT Id FROM ContentDocumentLink WHERE ShareType = 'V'",
    ):
        err = refused(org, soql, api)
        assert (err.status, err.error_code, err.message) == (400, "MALFORMED_QUERY", CDL_MESSAGE)


def test_given_content_document_link_filtered_by_document_when_queried_then_links(org: EmulatedOrg) -> None:
    docs = [r["Id"] for r in rest(org, "SELECT Id FROM ContentDocument LIMIT 2")]
    one = rest(
        org, f"SELECT Id, LinkedEntityId FROM ContentDocumentLink WHERE ContentDocumentId = '{docs[0]}'"
    )
    both = rest(
        org, "SELECT Id FROM ContentDocumentLink WHERE ContentDocumentId IN ('" + "','".join(docs) + "')"
    )
    assert one and len(both) > len(one)


@pytest.mark.parametrize(
    ("soql", "message"),
    [
        ("SELECT Id, BillingAddress FROM Account", "Selecting compound data not supported in Bulk Query"),
        ("SELECT Id, Location__c FROM Invoice__c", "Selecting compound data not supported in Bulk Query"),
        ("SELECT Id, VersionData FROM ContentVersion", "Binary field not supported in Bulk Query"),
        ("SELECT COUNT() FROM Account", "Aggregate queries are not supported in Bulk Query"),
        (
            "SELECT COUNT(Id), OwnerId FROM Account GROUP BY OwnerId",
            "Aggregate queries are not supported in Bulk Query",
        ),
        ("SELECT Id FROM Account LIMIT 5 OFFSET 2", "OFFSET is not supported in Bulk Query"),
        (
            "SELECT Id, (SELECT Id FROM Contacts) FROM Account",
            "Aggregate Relationships not supported in Bulk Query",
        ),
    ],
)
def test_given_bulk_unsupported_soql_when_queried_in_bulk_then_400(
    org: EmulatedOrg, soql: str, message: str
) -> None:
    err = refused(org, soql, "bulk")
    assert (err.status, err.error_code, err.message) == (400, "API_ERROR", message)
    org.query(soql, include_deleted=False, api="rest")  # REST takes the same query


@pytest.mark.parametrize("name", ["Attachment", "CaseStatus", "TaskStatus"])
def test_given_bulk_unsupported_object_when_queried_in_bulk_then_invalidentity(
    org: EmulatedOrg, name: str
) -> None:
    err = refused(org, f"SELECT Id FROM {name}", "bulk")
    assert (err.status, err.error_code, err.message) == (
        400,
        "INVALIDENTITY",
        f"Entity '{name}' is not supported by the Bulk API.",  # a real org's words (airbytehq/airbyte#13088)
    )
    assert rest(org, f"SELECT Id FROM {name}")


@pytest.mark.parametrize("name", ["AccountChangeEvent", "ActivityHistory"])
def test_given_unqueryable_object_when_queried_then_invalid_type_for_operation(
    org: EmulatedOrg, name: str
) -> None:
    entry = next(s for s in org.describe_global()["sobjects"] if s["name"] == name)
    assert entry["queryable"] is False
    for api in ("rest", "bulk"):
        err = refused(org, f"SELECT Id FROM {name}", api)
        assert (err.error_code, err.message) == (
            "INVALID_TYPE_FOR_OPERATION",
            f"entity type {name} does not support query",
        )


def test_given_unknown_object_when_described_then_not_found(org: EmulatedOrg) -> None:
    with pytest.raises(OrgError) as caught:
        org.describe("Nope__c")
    assert (caught.value.status, caught.value.error_code) == (404, "NOT_FOUND")
    assert caught.value.body() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]


# -- deleted rows, determinism, reuse --------------------------------------------------------------


@pytest.mark.parametrize("name", ["Account", "Contact", "Opportunity", "Lead", "Invoice__c", "Attachment"])
def test_given_deleted_rows_when_querying_then_only_include_deleted_shows_them(
    org: EmulatedOrg, name: str
) -> None:
    live = rest(org, f"SELECT Id, IsDeleted FROM {name}")
    every = rest(org, f"SELECT Id, IsDeleted FROM {name}", include_deleted=True)
    assert not any(r["IsDeleted"] for r in live)
    assert {r["Id"] for r in every if not r["IsDeleted"]} == {r["Id"] for r in live}


def test_given_generated_org_then_deleted_rows_exist_and_dates_spread_over_years() -> None:
    big = EmulatedOrg(OrgConfig(records=300, seed=9, large_file_bytes=0))
    try:
        every = rest(big, "SELECT IsDeleted, CreatedDate, SystemModstamp FROM Account", include_deleted=True)
        assert any(r["IsDeleted"] for r in every)
        years = {r["CreatedDate"][:4] for r in every}
        assert len(years) >= 5 and all(r["SystemModstamp"] >= r["CreatedDate"] for r in every)
    finally:
        big.close()


def snapshot(org: EmulatedOrg) -> list[Any]:
    return [
        rest(
            org,
            "SELECT Id, Name, AnnualRevenue, CreatedDate, OwnerId, IsDeleted FROM Account",
            include_deleted=True,
        ),
        rest(
            org, "SELECT Id, Checksum, ContentSize, VersionNumber FROM ContentVersion", include_deleted=True
        ),
        rest(org, "SELECT Id, Notes__c, Sent_At__c, Location__c FROM Invoice__c", include_deleted=True),
    ]


def test_given_same_seed_when_generated_twice_then_data_is_identical() -> None:
    first, second, other = (
        EmulatedOrg(OrgConfig(records=20, seed=s, large_file_bytes=100)) for s in (4, 4, 8)
    )
    try:
        assert snapshot(first) == snapshot(second)
        assert snapshot(first) != snapshot(other)
    finally:
        for o in (first, second, other):
            o.close()


def test_given_existing_database_with_same_config_when_opened_then_it_is_reused(tmp_path: Path) -> None:
    path = str(tmp_path / "org.sqlite")
    first = EmulatedOrg(OrgConfig(records=10, seed=1, large_file_bytes=0), path)
    marker = first.create("Account", {"Name": "Marker"})
    first.close()
    again = EmulatedOrg(OrgConfig(records=10, seed=1, large_file_bytes=0, daily_api_limit=5), path)
    assert again.get_record("Account", marker, ["Name"])["Name"] == "Marker"
    again.close()
    changed = EmulatedOrg(OrgConfig(records=10, seed=2, large_file_bytes=0), path)
    with pytest.raises(OrgError):
        changed.get_record("Account", marker, ["Name"])
    changed.close()


# -- ids and files ---------------------------------------------------------------------------------


def test_given_fifteen_char_ids_then_checksum_suffix_matches_salesforce() -> None:
    assert id_suffix("001Da00000xnAk6") == "IAE"
    assert id_suffix("0054W00000BZkk0") == "QAD"
    assert normalize_id("001Da00000xnAk6") == "001Da00000xnAk6IAE"
    assert normalize_id("not an id") is None


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        ("Account", "001"),
        ("Contact", "003"),
        ("Lead", "00Q"),
        ("Opportunity", "006"),
        ("User", "005"),
        ("Organization", "00D"),
        ("Attachment", "00P"),
        ("ContentDocument", "069"),
        ("ContentVersion", "068"),
        ("Document", "015"),
        ("Folder", "00l"),
        ("Profile", "00e"),
        ("Invoice__c", "a0X"),
    ],
)
def test_given_generated_records_then_ids_have_key_prefix_and_valid_suffix(
    org: EmulatedOrg, name: str, prefix: str
) -> None:
    for record in rest(org, f"SELECT Id FROM {name}", include_deleted=True):
        assert record["Id"].startswith(prefix) and normalize_id(record["Id"][:15]) == record["Id"]


def test_given_content_versions_when_streamed_then_size_and_md5_match_the_record(org: EmulatedOrg) -> None:
    versions = rest(org, "SELECT Id, Checksum, ContentSize FROM ContentVersion")
    sizes = {v["ContentSize"] for v in versions}
    assert 0 in sizes and LARGE in sizes
    for version in versions:
        blob = org.blob("ContentVersion", version["Id"], "VersionData")
        digest, total = hashlib.md5(), 0
        for chunk in blob.chunks(1 << 20):
            digest.update(chunk)
            total += len(chunk)
        assert (total, blob.size, digest.hexdigest()) == (version["ContentSize"],) * 2 + (
            version["Checksum"],
        )


def test_given_chunk_size_when_streaming_then_chunks_are_bounded_and_lazy(org: EmulatedOrg) -> None:
    version = rest(org, f"SELECT Id FROM ContentVersion WHERE ContentSize = {LARGE}")[0]
    chunks = org.blob("ContentVersion", version["Id"], "versiondata").chunks(100_000)
    assert isinstance(chunks, types.GeneratorType)
    sizes = [len(c) for c in chunks]
    assert sum(sizes) == LARGE and max(sizes) == 100_000 and all(s == 100_000 for s in sizes[:-1])
    again = b"".join(org.blob("ContentVersion", version["Id"], "VersionData").chunks(7777))
    assert (
        hashlib.md5(again).hexdigest()
        == rest(org, f"SELECT Checksum FROM ContentVersion WHERE Id = '{version['Id']}'")[0]["Checksum"]
    )


def test_given_attachments_and_documents_then_body_length_matches_blob(org: EmulatedOrg) -> None:
    for name in ("Attachment", "Document"):
        for record in rest(org, f"SELECT Id, BodyLength, Body FROM {name}"):
            if record["BodyLength"] is None:
                assert record["Body"] is None
                continue
            assert org.blob(name, record["Id"], "Body").size == record["BodyLength"]


def test_given_missing_blob_when_requested_then_not_found(org: EmulatedOrg) -> None:
    account = rest(org, "SELECT Id FROM Account LIMIT 1")[0]["Id"]
    with pytest.raises(OrgError) as caught:
        org.blob("Account", account, "Body")
    assert caught.value.error_code == "NOT_FOUND" and caught.value.status == 404


# -- writes ----------------------------------------------------------------------------------------


def test_given_create_update_delete_then_soft_delete_is_visible_only_to_query_all(fresh: EmulatedOrg) -> None:
    record_id = fresh.create("Account", {"Name": "Created", "CreatedDate": "2019-03-04T05:06:07.000Z"})
    created = fresh.get_record("Account", record_id, ["CreatedDate", "SystemModstamp", "Name"])
    assert created["CreatedDate"] == "2019-03-04T05:06:07.000+0000"
    fresh.update("Account", record_id, {"Name": "Renamed", "Phone": ""})
    updated = fresh.get_record("Account", record_id, ["Name", "Phone", "SystemModstamp"])
    assert updated["Name"] == "Renamed" and updated["Phone"] is None
    assert updated["SystemModstamp"] > created["SystemModstamp"]
    fresh.delete("Account", record_id)
    assert not rest(fresh, f"SELECT Id FROM Account WHERE Id = '{record_id}'")
    deleted = rest(
        fresh, f"SELECT IsDeleted, SystemModstamp FROM Account WHERE Id = '{record_id}'", include_deleted=True
    )
    assert deleted[0]["IsDeleted"] is True and deleted[0]["SystemModstamp"] >= updated["SystemModstamp"]
    with pytest.raises(OrgError) as caught:
        fresh.get_record("Account", record_id, None)
    assert caught.value.error_code == "ENTITY_IS_DELETED"
    fresh.undelete("Account", record_id)
    assert rest(fresh, f"SELECT Id FROM Account WHERE Id = '{record_id}'")
    fresh.purge("Account", record_id)
    assert not rest(fresh, f"SELECT Id FROM Account WHERE Id = '{record_id}'", include_deleted=True)


def test_given_bad_values_when_creating_then_salesforce_errors(fresh: EmulatedOrg) -> None:
    with pytest.raises(OrgError) as caught:
        fresh.create("Account", {"Name": "x", "Bogus__c": 1})
    assert caught.value.error_code == "INVALID_FIELD"
    with pytest.raises(OrgError) as caught:
        fresh.create("Account", {"Phone": "1"})
    assert caught.value.error_code == "REQUIRED_FIELD_MISSING" and "Name" in caught.value.message


def test_given_attachment_body_update_then_length_and_body_change(fresh: EmulatedOrg) -> None:
    parent = rest(fresh, "SELECT Id FROM Account LIMIT 1")[0]["Id"]
    attachment = fresh.create(
        "Attachment", {"ParentId": parent, "Name": "a.txt", "Body": base64.b64encode(b"abc").decode()}
    )
    fresh.update("Attachment", attachment, {"Body": base64.b64encode(b"x" * 5000).decode()})
    assert fresh.get_record("Attachment", attachment, ["BodyLength"])["BodyLength"] == 5000
    assert b"".join(fresh.blob("Attachment", attachment, "Body").chunks(1024)) == b"x" * 5000


def test_given_content_versions_when_created_then_document_and_latest_flag_follow(fresh: EmulatedOrg) -> None:
    first = fresh.create(
        "ContentVersion",
        {"PathOnClient": "notes.txt", "Title": "Notes", "VersionData": base64.b64encode(b"v1").decode()},
    )
    doc = fresh.get_record("ContentVersion", first, ["ContentDocumentId"])["ContentDocumentId"]
    second = fresh.create(
        "ContentVersion",
        {
            "PathOnClient": "notes.txt",
            "ContentDocumentId": doc,
            "VersionData": base64.b64encode(b"version 2").decode(),
        },
    )
    versions = rest(
        fresh,
        f"SELECT Id, VersionNumber, IsLatest, Checksum, ContentSize, FileExtension FROM "
        f"ContentVersion WHERE ContentDocumentId = '{doc}' ORDER BY VersionNumber",
    )
    assert [(v["Id"], v["VersionNumber"], v["IsLatest"]) for v in versions] == [
        (first, "1", False),
        (second, "2", True),
    ]
    assert (
        versions[1]["Checksum"] == hashlib.md5(b"version 2").hexdigest() and versions[1]["ContentSize"] == 9
    )
    document = fresh.get_record("ContentDocument", doc, ["LatestPublishedVersionId", "ContentSize"])
    assert (document["LatestPublishedVersionId"], document["ContentSize"]) == (second, 9)
    assert rest(fresh, f"SELECT Id FROM ContentDocumentLink WHERE ContentDocumentId = '{doc}'")


# -- org facts -------------------------------------------------------------------------------------


def test_given_org_then_users_organization_and_credentials_are_realistic(org: EmulatedOrg) -> None:
    users = rest(org, "SELECT Id, IsActive, Username FROM User")
    assert len(users) >= 5 and any(not u["IsActive"] for u in users)
    organization = rest(
        org,
        "SELECT Id, Name, InstanceName, IsSandbox, TrialExpirationDate, NamespacePrefix, "
        "OrganizationType FROM Organization",
    )
    assert len(organization) == 1 and organization[0]["IsSandbox"] is False
    assert organization[0]["TrialExpirationDate"] is None and organization[0]["NamespacePrefix"] is None
    creds = org.credentials
    assert creds.org_id == organization[0]["Id"] and creds.username in {u["Username"] for u in users}
    assert creds.password not in repr(creds) and "PRIVATE KEY" in creds.jwt_private_key_pem


def test_given_limits_and_counts_then_shapes_match_the_limits_resources(org: EmulatedOrg) -> None:
    storage = org.limits_storage()
    assert set(storage) == {"DataStorageMB", "FileStorageMB"} and set(storage["FileStorageMB"]) == {
        "Max",
        "Remaining",
    }
    counts = org.record_counts(["account", "Contact", "Unknown"])
    assert [c["name"] for c in counts] == ["Account", "Contact"]
    assert counts[0]["count"] == len(rest(org, "SELECT Id FROM Account"))


def test_given_other_thread_when_querying_then_it_uses_its_own_connection(org: EmulatedOrg) -> None:
    results: list[int] = []
    thread = threading.Thread(
        target=lambda: results.append(
            org.query("SELECT COUNT() FROM Contact", include_deleted=True, api="rest").total_size
        )
    )
    thread.start()
    thread.join()
    assert results == [org.query("SELECT COUNT() FROM Contact", include_deleted=True, api="rest").total_size]


# -- the optional larger catalog -------------------------------------------------------------------


@pytest.fixture(scope="module")
def large_catalog() -> Iterator[EmulatedOrg]:
    emulated = EmulatedOrg(OrgConfig(records=10, seed=3, large_file_bytes=0, extra_objects=24))
    yield emulated
    emulated.close()


def test_given_extra_objects_when_listed_then_each_is_described_and_plain_queries_behave(
    large_catalog: EmulatedOrg, org: EmulatedOrg
) -> None:
    entries = large_catalog.describe_global()["sobjects"]
    assert len(entries) >= len(org.describe_global()["sobjects"]) + 24
    outcomes: dict[str, str] = {}
    for entry in entries:
        described = large_catalog.describe(entry["name"])
        assert described["name"] == entry["name"] and described["fields"][0]["name"] == "Id"
        try:
            cursor = large_catalog.query(f"SELECT Id FROM {entry['name']}", include_deleted=False, api="rest")
            outcomes[entry["name"]] = "rows" if cursor.total_size else "empty"
        except OrgError as err:
            outcomes[entry["name"]] = err.error_code
    assert outcomes["Case"] == outcomes["Extra100__c"] == outcomes["CaseHistory"] == "rows"
    assert outcomes["CaseChangeEvent"] == outcomes["Extra100__ChangeEvent"] == "INVALID_TYPE_FOR_OPERATION"
    assert outcomes["OpenActivity"] == "INVALID_TYPE_FOR_OPERATION"
    assert next(e for e in entries if e["name"] == "OpenActivity")["queryable"] is True
    assert outcomes["FieldDefinition"] == outcomes["ContentFolderItem"] == "MALFORMED_QUERY"
    assert outcomes["DataStatistics"] == "EXTERNAL_OBJECT_UNSUPPORTED_EXCEPTION"
    assert outcomes["UserRecordAccess"] == "INVALID_FIELD"


def test_given_restricted_setup_objects_when_filtered_as_required_then_they_answer(
    large_catalog: EmulatedOrg,
) -> None:
    err = refused(large_catalog, "SELECT QualifiedApiName FROM FieldDefinition")
    assert (
        err.message
        == "FieldDefinition: a filter on a reified column is required [EntityDefinitionId,DurableId]"
    )
    rest(large_catalog, "SELECT QualifiedApiName FROM FieldDefinition WHERE EntityDefinitionId = 'Account'")
    rest(
        large_catalog,
        "SELECT RecordId, HasReadAccess FROM UserRecordAccess WHERE RecordId = '001000000000000AAA'",
    )
    assert refused(large_catalog, "SELECT Id FROM CaseFeed", "bulk").error_code == "INVALIDENTITY"
    history = large_catalog.describe("CaseHistory")
    assert {f["type"] for f in history["fields"]} >= {"anyType"}
    assert history["associateEntityType"] == "History" and history["associateParentEntity"] == "Case"


def test_given_account_with_children_when_deleted_and_undeleted_then_children_follow(
    fresh: EmulatedOrg,
) -> None:
    account = fresh.create("Account", {"Name": "Parent"})
    contact = fresh.create("Contact", {"LastName": "Child", "AccountId": account})
    attachment = fresh.create(
        "Attachment", {"ParentId": contact, "Name": "c.txt", "Body": base64.b64encode(b"c").decode()}
    )
    other = rest(fresh, "SELECT Id FROM Contact WHERE AccountId != null LIMIT 1")[0]["Id"]
    fresh.delete("Account", account)
    deleted = {
        r["Id"] for r in rest(fresh, "SELECT Id FROM Contact WHERE IsDeleted = true", include_deleted=True)
    }
    assert contact in deleted and other not in deleted
    assert rest(fresh, f"SELECT IsDeleted FROM Attachment WHERE Id = '{attachment}'", include_deleted=True)[
        0
    ]["IsDeleted"]
    describe = {
        (c["childSObject"], c["field"]): c["cascadeDelete"]
        for c in fresh.describe("Account")["childRelationships"]
    }
    assert describe[("Contact", "AccountId")] is True and describe[("Account", "ParentId")] is False
    fresh.undelete("Account", account)
    assert fresh.get_record("Contact", contact, ["Id"])["Id"] == contact
    assert fresh.get_record("Attachment", attachment, ["Id"])["Id"] == attachment


def test_given_many_short_lived_threads_when_reading_and_writing_then_connections_are_pooled(
    fresh: EmulatedOrg,
) -> None:
    def work() -> None:
        fresh.query("SELECT COUNT() FROM Account", include_deleted=False, api="rest")
        fresh.create("Account", {"Name": "from a thread"})

    for _ in range(30):
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    assert len(fresh._connections) <= 3
    assert len(rest(fresh, "SELECT Id FROM Account WHERE Name = 'from a thread'")) == 30


def test_given_read_only_fields_when_writing_then_invalid_field_for_insert_update(fresh: EmulatedOrg) -> None:
    record_id = fresh.create("Account", {"Name": "Audit", "CreatedDate": "2020-01-01T00:00:00Z"})
    for values in ({"SystemModstamp": "2020-01-01T00:00:00Z"}, {"IsDeleted": True}):
        with pytest.raises(OrgError) as caught:
            fresh.update("Account", record_id, values)
        assert caught.value.error_code == "INVALID_FIELD_FOR_INSERT_UPDATE"
        assert caught.value.message.startswith(f"Unable to create/update fields: {next(iter(values))}.")
    with pytest.raises(OrgError) as caught:
        fresh.create("Contact", {"LastName": "x", "Name": "computed"})
    assert caught.value.error_code == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_given_large_body_when_streamed_then_memory_stays_near_one_chunk(org: EmulatedOrg) -> None:
    import tracemalloc

    version = rest(org, f"SELECT Id FROM ContentVersion WHERE ContentSize = {LARGE}")[0]["Id"]
    tracemalloc.start()
    try:
        total = sum(len(c) for c in org.blob("ContentVersion", version, "VersionData").chunks(64 * 1024))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == LARGE and peak < LARGE // 4
