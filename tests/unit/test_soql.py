"""The emulator's SOQL subset: parsing, filters, ordering, limits, aggregates and Salesforce's errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from sfbackup.emulator.org.soql import BoolOp, Comparison, parse, parse_datetime
from sfbackup.emulator.org.store import EmulatedOrg, OrgConfig, OrgError


@pytest.fixture(scope="module")
def org() -> Iterator[EmulatedOrg]:
    emulated = EmulatedOrg(OrgConfig(records=40, seed=3, large_file_bytes=1000))
    yield emulated
    emulated.close()


def rows(org: EmulatedOrg, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
    cursor = org.query(soql, include_deleted=include_deleted, api="rest")
    return cursor.rest_records(0, 100_000)


def error_of(org: EmulatedOrg, soql: str, api: str = "rest") -> OrgError:
    with pytest.raises(OrgError) as caught:
        org.query(soql, include_deleted=False, api=api)  # type: ignore[arg-type]
    return caught.value


# -- parsing ---------------------------------------------------------------------------------------


def test_given_mixed_case_keywords_when_parsed_then_clauses_are_recognised() -> None:
    q = parse(
        "select Id, owner.name from account WhErE Name != null order by Name desc nulls last limit 5 offset 2"
    )
    assert [i.text for i in q.select] == ["Id", "owner.name"]
    assert q.object_name == "account"
    assert isinstance(q.where, Comparison) and q.where.op == "!="
    assert q.order_by[0][1:] == (True, "LAST")
    assert (q.limit, q.offset) == (5, 2)


def test_given_and_or_not_with_parentheses_when_parsed_then_precedence_is_and_over_or() -> None:
    q = parse("SELECT Id FROM Account WHERE A = 1 OR B = 2 AND NOT (C = 3 OR D = 4)")
    assert isinstance(q.where, BoolOp) and q.where.op == "OR"
    right = q.where.operands[1]
    assert isinstance(right, BoolOp) and right.op == "AND"
    assert isinstance(right.operands[1], BoolOp) and right.operands[1].op == "NOT"


def test_given_string_escapes_when_parsed_then_values_are_unescaped() -> None:
    q = parse(r"SELECT Id FROM Account WHERE Name = 'O\'Brien \"x\" \\ \n'")
    assert isinstance(q.where, Comparison)
    assert q.where.value.value == 'O\'Brien "x" \\ \n'  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "literal",
    ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.000+0000", "2024-01-01T01:00:00+01:00"],
)
def test_given_datetime_literal_forms_when_parsed_then_all_mean_the_same_instant(literal: str) -> None:
    q = parse(f"SELECT Id FROM Account WHERE CreatedDate >= {literal}")
    assert isinstance(q.where, Comparison)
    assert q.where.value.value == datetime(2024, 1, 1, tzinfo=UTC)  # type: ignore[union-attr]


def test_given_offset_datetime_when_parsed_then_it_is_converted_to_utc() -> None:
    assert parse_datetime("2024-11-07T07:00:00.000+0200") == datetime(2024, 11, 7, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("soql", "column", "token"),
    [
        ("SELECT Id FROM", 15, "<EOF>"),
        ("SELECT Id, FROM Account", 12, "FROM"),
        ("SELECT Id FROM Account WHERE Name = ", 37, "<EOF>"),
        ("SELECT Id FROM Account LIMIT x", 30, "x"),
    ],
)
def test_given_syntax_error_when_parsed_then_malformed_query_points_at_the_token(
    soql: str, column: int, token: str
) -> None:
    with pytest.raises(OrgError) as caught:
        parse(soql)
    assert caught.value.error_code == "MALFORMED_QUERY" and caught.value.status == 400
    assert f"ERROR at Row:1:Column:{column}\nunexpected token: '{token}'" in caught.value.message


# -- filters ---------------------------------------------------------------------------------------


def test_given_equality_on_text_when_queried_then_match_is_case_insensitive(org: EmulatedOrg) -> None:
    name = rows(org, "SELECT Name FROM Account LIMIT 1")[0]["Name"]
    found = rows(org, f"SELECT Id, Name FROM Account WHERE Name = '{name.upper()}'")
    assert [r["Name"] for r in found] == [name]


def test_given_comparisons_when_queried_then_rows_match_python_filtering(org: EmulatedOrg) -> None:
    every = rows(org, "SELECT Id, NumberOfEmployees, Industry, AnnualRevenue FROM Account")
    big = rows(org, "SELECT Id FROM Account WHERE NumberOfEmployees > 5000")
    assert {r["Id"] for r in big} == {r["Id"] for r in every if (r["NumberOfEmployees"] or 0) > 5000}
    not_banking = rows(org, "SELECT Id FROM Account WHERE Industry != 'Banking'")
    # SOQL's != keeps rows whose value is null
    assert {r["Id"] for r in not_banking} == {r["Id"] for r in every if r["Industry"] != "Banking"}
    some = rows(org, "SELECT Id FROM Account WHERE Industry IN ('Banking', 'Retail') OR AnnualRevenue = null")
    expected = {
        r["Id"] for r in every if r["Industry"] in ("Banking", "Retail") or r["AnnualRevenue"] is None
    }
    assert {r["Id"] for r in some} == expected
    others = rows(org, "SELECT Id FROM Account WHERE NOT (Industry IN ('Banking', 'Retail'))")
    assert {r["Id"] for r in others} == {r["Id"] for r in every if r["Industry"] not in ("Banking", "Retail")}


def test_given_like_when_queried_then_percent_and_underscore_are_wildcards(org: EmulatedOrg) -> None:
    found = rows(org, "SELECT Name FROM Invoice__c WHERE Name LIKE 'inv-00000_'")
    assert sorted(r["Name"] for r in found) == [f"INV-00000{i}" for i in range(1, 10)]


def test_given_boolean_and_date_filters_when_queried_then_types_are_respected(org: EmulatedOrg) -> None:
    every = rows(org, "SELECT Id, Paid__c, Invoice_Date__c, Sent_At__c FROM Invoice__c")
    paid = rows(org, "SELECT Id FROM Invoice__c WHERE Paid__c = true")
    assert {r["Id"] for r in paid} == {r["Id"] for r in every if r["Paid__c"] is True}
    recent = rows(org, "SELECT Id FROM Invoice__c WHERE Invoice_Date__c >= 2022-01-01")
    assert {r["Id"] for r in recent} == {
        r["Id"] for r in every if r["Invoice_Date__c"] and r["Invoice_Date__c"] >= "2022-01-01"
    }
    sent = rows(org, "SELECT Id FROM Invoice__c WHERE Sent_At__c < 2022-01-01T00:00:00.000+0000")
    assert {r["Id"] for r in sent} == {r["Id"] for r in every if r["Sent_At__c"] and r["Sent_At__c"] < "2022"}


def test_given_fifteen_char_id_when_filtering_then_it_matches_the_eighteen_char_id(org: EmulatedOrg) -> None:
    record_id = rows(org, "SELECT Id FROM Contact LIMIT 1")[0]["Id"]
    assert rows(org, f"SELECT Id FROM Contact WHERE Id = '{record_id[:15]}'")[0]["Id"] == record_id


def test_given_quoted_value_for_datetime_field_when_queried_then_invalid_field(org: EmulatedOrg) -> None:
    err = error_of(org, "SELECT Id FROM Account WHERE CreatedDate > '2020-01-01'")
    assert err.error_code == "INVALID_FIELD"
    assert "must be of type dateTime and should not be enclosed in quotes" in err.message


# -- order, limit, offset --------------------------------------------------------------------------


def test_given_order_by_desc_nulls_last_when_queried_then_rows_are_sorted(org: EmulatedOrg) -> None:
    found = rows(org, "SELECT AnnualRevenue FROM Account ORDER BY AnnualRevenue DESC NULLS LAST")
    values = [r["AnnualRevenue"] for r in found]
    present = [v for v in values if v is not None]
    assert present == sorted(present, reverse=True)
    assert values[len(present) :] == [None] * (len(values) - len(present))


def test_given_limit_and_offset_when_paging_then_windows_are_consistent(org: EmulatedOrg) -> None:
    every = [r["Id"] for r in rows(org, "SELECT Id FROM Contact ORDER BY Id")]
    cursor = org.query(
        "SELECT Id FROM Contact ORDER BY Id LIMIT 10 OFFSET 5", include_deleted=False, api="rest"
    )
    assert cursor.total_size == 10
    assert [r["Id"] for r in cursor.rest_records(0, 4) + cursor.rest_records(4, 100)] == every[5:15]


def test_given_no_order_by_when_paging_then_pages_partition_the_result(org: EmulatedOrg) -> None:
    cursor = org.query("SELECT Id FROM Contact", include_deleted=True, api="rest")
    pages = [cursor.rest_records(offset, 7) for offset in range(0, cursor.total_size, 7)]
    ids = [r["Id"] for page in pages for r in page]
    assert len(ids) == len(set(ids)) == cursor.total_size


# -- aggregates ------------------------------------------------------------------------------------


def test_given_count_when_queried_then_total_size_only(org: EmulatedOrg) -> None:
    cursor = org.query("SELECT COUNT() FROM Account", include_deleted=False, api="rest")
    assert cursor.is_count and cursor.rest_records(0, 10) == []
    assert cursor.total_size == len(rows(org, "SELECT Id FROM Account"))


def test_given_count_id_group_by_when_queried_then_aggregate_results(org: EmulatedOrg) -> None:
    cursor = org.query(
        "SELECT COUNT(Id), OwnerId FROM Account GROUP BY OwnerId", include_deleted=False, api="rest"
    )
    records = cursor.rest_records(0, 100)
    assert records[0]["attributes"] == {"type": "AggregateResult"}
    assert list(records[0]) == ["attributes", "expr0", "OwnerId"]
    assert sum(r["expr0"] for r in records) == len(rows(org, "SELECT Id FROM Account"))
    assert cursor.total_size == len(records)


def test_given_ungrouped_field_in_aggregate_when_queried_then_malformed(org: EmulatedOrg) -> None:
    err = error_of(org, "SELECT COUNT(Id), Name FROM Account GROUP BY OwnerId")
    assert err.error_code == "MALFORMED_QUERY"


# -- names, relationships, errors ------------------------------------------------------------------


def test_given_lower_case_names_when_queried_then_records_use_describe_spelling(org: EmulatedOrg) -> None:
    record = rows(org, "select id, name, billingcity from account limit 1")[0]
    assert list(record) == ["attributes", "Id", "Name", "BillingCity"]
    assert record["attributes"]["type"] == "Account"


def test_given_parent_fields_when_queried_then_nested_objects_with_attributes(org: EmulatedOrg) -> None:
    record = rows(org, "SELECT Id, Owner.Name, Account.Name FROM Contact WHERE AccountId != null LIMIT 1")[0]
    assert record["Owner"]["attributes"]["type"] == "User"
    assert re.fullmatch(
        r"/services/data/v62\.0/sobjects/User/005\w{15}", record["Owner"]["attributes"]["url"]
    )
    assert isinstance(record["Account"]["Name"], str)
    orphan = rows(org, "SELECT Id, Account.Name FROM Contact WHERE AccountId = null LIMIT 1")
    assert orphan and orphan[0]["Account"] is None


def test_given_child_subquery_when_queried_then_children_or_null(org: EmulatedOrg) -> None:
    found = rows(org, "SELECT Id, (SELECT Id, AccountId FROM Contacts) FROM Account")
    with_children = [r for r in found if r["Contacts"] is not None]
    assert with_children and any(r["Contacts"] is None for r in found)
    child = with_children[0]["Contacts"]
    assert child["done"] is True and child["totalSize"] == len(child["records"])
    assert all(c["AccountId"] == with_children[0]["Id"] for c in child["records"])


def test_given_unknown_object_when_queried_then_invalid_type_in_salesforce_format(org: EmulatedOrg) -> None:
    err = error_of(org, "select count() from XYZZY")
    assert (err.status, err.error_code) == (400, "INVALID_TYPE")
    assert err.message == (
        "\nselect count() from XYZZY\n                    ^\nERROR at Row:1:Column:21\nsObject type 'XYZZY' is "
        "not supported. If you are attempting to use a custom object, be sure to append the '__c' after the "
        "entity name. Please reference your WSDL or the describe call for the appropriate names."
    )


def test_given_unknown_field_when_queried_then_invalid_field_with_row_and_column(org: EmulatedOrg) -> None:
    err = error_of(org, "select Id, Company,Email,LastName,SF_date__c from Lead")
    assert err.error_code == "INVALID_FIELD"
    assert err.message.startswith(
        "\nselect Id, Company,Email,LastName,SF_date__c from Lead\n"
        + " " * 34
        + "^\nERROR at Row:1:Column:35\n"
    )
    assert err.message.endswith(
        "No such column 'SF_date__c' on entity 'Lead'. If you are attempting to use a custom field, be sure to "
        "append the '__c' after the custom field name. Please reference your WSDL or the describe call for the "
        "appropriate names."
    )


def test_given_unknown_relationship_when_queried_then_invalid_field(org: EmulatedOrg) -> None:
    err = error_of(org, "SELECT Id, Nope.Name FROM Contact")
    assert err.error_code == "INVALID_FIELD" and "Didn't understand relationship 'Nope'" in err.message


@pytest.mark.parametrize(
    ("soql", "selective"),
    [
        ("SELECT Id FROM Account", False),
        ("SELECT Id FROM Account WHERE Industry = 'Banking'", False),
        ("SELECT Id FROM Account WHERE SystemModstamp > 2025-03-01T00:00:00Z", True),
        ("SELECT Id FROM Account WHERE CreatedDate > 2025-01-01T00:00:00Z AND Industry = 'Banking'", True),
        # an indexed filter that matches most rows is not selective (Salesforce's ~30% threshold)
        ("SELECT Id FROM Account WHERE SystemModstamp <= 2025-06-01T00:00:00Z", False),
        ("SELECT Id FROM Account WHERE Id IN ('001000000000000AAA')", True),
        ("SELECT Id FROM Account WHERE Id = '001000000000000AAA' OR Industry = 'x'", False),
        ("SELECT Id FROM Contact WHERE AccountId = '001000000000000AAA'", True),
    ],
)
def test_given_where_clause_when_queried_then_selectivity_is_reported(
    org: EmulatedOrg, soql: str, selective: bool
) -> None:
    assert org.query(soql, include_deleted=False, api="rest").is_selective is selective


def test_given_select_list_when_queried_then_cursor_fields_are_as_written(org: EmulatedOrg) -> None:
    cursor = org.query("SELECT id, Owner.name FROM Account", include_deleted=False, api="rest")
    assert cursor.fields == ["id", "Owner.name"] and cursor.object_name == "Account"


def test_given_polymorphic_lookup_when_queried_then_name_entity_with_the_real_url(org: EmulatedOrg) -> None:
    found = rows(org, "SELECT Id, ParentId, Parent.Name FROM Attachment")
    kinds = set()
    for record in found:
        parent = record["Parent"]
        assert parent["attributes"]["type"] == "Name" and isinstance(parent["Name"], str)
        kind = parent["attributes"]["url"].split("/")[-2]
        assert parent["attributes"]["url"].endswith(record["ParentId"])
        kinds.add(kind)
    assert len(kinds) > 1
    named = rows(org, f"SELECT Id FROM Attachment WHERE Parent.Name = '{found[0]['Parent']['Name']}'")
    assert found[0]["Id"] in {r["Id"] for r in named}


def test_given_semi_join_when_queried_then_ids_come_from_the_inner_query(org: EmulatedOrg) -> None:
    with_contacts = rows(
        org, "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact WHERE AccountId != null)"
    )
    live = {r["Id"] for r in rows(org, "SELECT Id FROM Account")}
    expected = {
        r["AccountId"] for r in rows(org, "SELECT AccountId FROM Contact WHERE AccountId != null")
    } & live
    assert {r["Id"] for r in with_contacts} == expected
    without = rows(org, "SELECT Id FROM Account WHERE Id NOT IN (SELECT AccountId FROM Contact)")
    assert {r["Id"] for r in without}.isdisjoint(expected)
    links = rows(org, "SELECT Id FROM ContentDocumentLink WHERE LinkedEntityId IN (SELECT Id FROM User)")
    assert links


def test_given_fields_function_when_queried_then_expanded_with_limit_rule(org: EmulatedOrg) -> None:
    record = rows(org, "SELECT FIELDS(ALL) FROM Invoice__c LIMIT 1")[0]
    assert list(record)[1:] == [f["name"] for f in org.describe("Invoice__c")["fields"]]
    custom = rows(org, "SELECT FIELDS(CUSTOM) FROM Invoice__c LIMIT 1")[0]
    assert all(k.endswith(("__c", "__s")) for k in list(custom)[1:])
    assert "Name" in rows(org, "SELECT FIELDS(STANDARD) FROM Account")[0]
    err = error_of(org, "SELECT FIELDS(ALL) FROM Account")
    assert err.error_code == "MALFORMED_QUERY" and "LIMIT of at most 200" in err.message


def test_given_includes_and_excludes_when_filtering_multipicklist_then_values_are_matched(
    org: EmulatedOrg,
) -> None:
    every = rows(org, "SELECT Id, Tags__c FROM Invoice__c")
    urgent = rows(org, "SELECT Id FROM Invoice__c WHERE Tags__c INCLUDES ('Urgent', 'Export;Recurring')")
    expected = {
        r["Id"]
        for r in every
        if r["Tags__c"]
        and ("Urgent" in r["Tags__c"].split(";") or {"Export", "Recurring"} <= set(r["Tags__c"].split(";")))
    }
    assert {r["Id"] for r in urgent} == expected
    not_urgent = rows(org, "SELECT Id FROM Invoice__c WHERE Tags__c EXCLUDES ('Urgent')")
    assert {r["Id"] for r in not_urgent} == {
        r["Id"] for r in every if not r["Tags__c"] or "Urgent" not in r["Tags__c"].split(";")
    }


def test_given_relative_date_literals_when_filtering_then_ranges_follow_the_org_clock(
    org: EmulatedOrg,
) -> None:
    record_id = org.create(
        "Invoice__c", {"Name": "INV-TODAY", "Invoice_Date__c": org.now().date().isoformat()}
    )
    today = {r["Id"] for r in rows(org, "SELECT Id FROM Invoice__c WHERE Invoice_Date__c = TODAY")}
    recent = {r["Id"] for r in rows(org, "SELECT Id FROM Invoice__c WHERE CreatedDate = LAST_N_DAYS:1")}
    assert record_id in today and record_id in recent
    assert record_id not in {
        r["Id"] for r in rows(org, "SELECT Id FROM Invoice__c WHERE Invoice_Date__c < TODAY")
    }


def test_given_min_max_sum_and_count_distinct_when_aggregating_then_values_match(org: EmulatedOrg) -> None:
    every = rows(org, "SELECT Quantity__c, Status__c, Sent_At__c FROM Invoice__c")
    result = rows(
        org,
        "SELECT MIN(Quantity__c) lo, MAX(Quantity__c) hi, SUM(Quantity__c), "
        "COUNT_DISTINCT(Status__c), MAX(Sent_At__c) FROM Invoice__c",
    )[0]
    quantities = [r["Quantity__c"] for r in every if r["Quantity__c"] is not None]
    assert (result["lo"], result["hi"], result["expr0"]) == (
        min(quantities),
        max(quantities),
        sum(quantities),
    )
    assert result["expr1"] == len({r["Status__c"] for r in every if r["Status__c"]})
    assert result["expr2"] == max(r["Sent_At__c"] for r in every if r["Sent_At__c"])


def test_given_order_by_parent_field_when_queried_then_sorted_by_the_parent(org: EmulatedOrg) -> None:
    found = rows(
        org, "SELECT Id, Account.Name FROM Contact WHERE AccountId != null ORDER BY Account.Name, Id"
    )
    names = [r["Account"]["Name"].lower() for r in found if r["Account"]]
    assert names == sorted(names)


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Id FROM Account USING SCOPE everything WHERE Name != null",
        "SELECT Id FROM Account WHERE Name != null WITH SECURITY_ENFORCED ORDER BY Id",
        "SELECT Id FROM Account LIMIT 5 FOR VIEW",
    ],
)
def test_given_scope_security_and_for_clauses_when_parsed_then_accepted(org: EmulatedOrg, soql: str) -> None:
    assert rows(org, soql)
