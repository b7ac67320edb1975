"""Client-side SOQL: names that cannot inject, exact literals, IN lists that fit a URL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sfbackup.errors import ConfigError
from sfbackup.salesforce import soql


@pytest.mark.parametrize(
    "name",
    ["Account", "My_Object__c", "ns__Field__c", "ns__Obj__History", "Obj__x", "Big__b", "Event__e",
     "Article__kav", "Setting__mdt", "Contact__pc", "A", "Field2"],
)  # fmt: skip
def test_given_a_valid_api_name_when_validated_then_it_is_returned(name: str) -> None:
    assert soql.validate_identifier(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "Account FROM User", "Account;", "Name,Id", "1Account", "_Account", "Account_", "A___c",
     "a__b__c__d", "Acc'ount", "Account--", "Account)", "Ac count", "Account\n", "Ãccount", "x" * 200,
     "Owner.Name"],
)  # fmt: skip
def test_given_anything_else_when_validated_then_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match="not a Salesforce API name"):
        soql.validate_identifier(name, what="object")


@given(st.text(max_size=40))
def test_given_any_text_when_it_validates_then_it_holds_only_name_characters(text: str) -> None:
    try:
        soql.validate_identifier(text)
    except ConfigError:
        return
    assert text.replace("_", "").isascii() and text.replace("_", "").isalnum()


def test_given_a_relationship_path_when_validated_then_each_part_is_checked() -> None:
    assert soql.validate_field_path("Owner.Profile.Name") == "Owner.Profile.Name"
    with pytest.raises(ConfigError):
        soql.validate_field_path("Owner.Name FROM User")


def test_given_fields_and_a_where_when_building_a_select_then_the_soql_is_exact() -> None:
    text = soql.build_select("Account", ["Id", "Name", "Owner.Name"], where="IsDeleted = false", limit=10)
    assert text == "SELECT Id, Name, Owner.Name FROM Account WHERE IsDeleted = false LIMIT 10"
    assert soql.build_select("Lead", ["Id"], order_by="Id") == "SELECT Id FROM Lead ORDER BY Id"


def test_given_a_hostile_field_when_building_a_select_then_nothing_is_built() -> None:
    with pytest.raises(ConfigError):
        soql.build_select("Account", ["Id", "Name FROM User WHERE Id != null"])
    with pytest.raises(ConfigError):
        soql.build_select("Account WHERE Name = 'x'", ["Id"])
    with pytest.raises(ConfigError):
        soql.build_select("Account", [])


def test_given_an_object_when_building_a_count_then_it_is_count_star() -> None:
    assert soql.build_count("Contact") == "SELECT COUNT() FROM Contact"
    assert (
        soql.build_count("Contact", where="IsDeleted = true")
        == "SELECT COUNT() FROM Contact WHERE IsDeleted = true"
    )


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("plain", "'plain'"),
        ("O'Brien", "'O\\'Brien'"),
        ("back\\slash", "'back\\\\slash'"),
        ("line\nbreak\ttab", "'line\\nbreak\\ttab'"),
        ('say "hi"', "'say \\\"hi\\\"'"),
        ("' OR Name != '", "'\\' OR Name != \\''"),
    ],
)
def test_given_text_when_quoted_then_soql_escapes_apply(value: str, literal: str) -> None:
    assert soql.string_literal(value) == literal


@given(st.text())
def test_given_any_text_when_quoted_then_no_unescaped_quote_ends_the_literal_early(text: str) -> None:
    literal = soql.string_literal(text)
    inner = literal[1:-1]
    i = 0
    while i < len(inner):
        if inner[i] == "\\":
            i += 2
            continue
        assert inner[i] != "'"
        i += 1


def test_given_datetimes_when_formatted_then_they_are_utc_soql_literals() -> None:
    assert soql.datetime_literal(datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC)) == "2024-01-31T23:59:59Z"
    assert (
        soql.datetime_literal(datetime(2024, 1, 31, 23, 59, 59, 123456, tzinfo=UTC))
        == "2024-01-31T23:59:59.123Z"
    )
    paris = timezone(timedelta(hours=1))
    assert soql.datetime_literal(datetime(2024, 2, 1, 0, 30, tzinfo=paris)) == "2024-01-31T23:30:00Z"
    assert soql.datetime_literal(datetime(2024, 1, 1)) == "2024-01-01T00:00:00Z"


def test_given_dates_when_formatted_then_they_are_iso_days() -> None:
    assert soql.date_literal(date(2024, 2, 29)) == "2024-02-29"


def test_given_ids_when_quoted_then_only_record_ids_pass() -> None:
    assert soql.id_literal("001000000000001AAA") == "'001000000000001AAA'"
    assert soql.id_literal("001000000000001") == "'001000000000001'"
    for bad in ("001' OR Id != '", "00100000000000", "001000000000001AAAX"):
        with pytest.raises(ConfigError):
            soql.id_literal(bad)


def ids(n: int) -> list[str]:
    return [f"001{i:012d}AAA" for i in range(n)]


def test_given_ids_when_batched_then_every_id_appears_once_in_order() -> None:
    values = ids(1001)
    batches = list(soql.in_batches(values, 200))
    assert [len(b) for b in batches] == [200] * 5 + [1]
    assert [v for b in batches for v in b] == values


def test_given_a_byte_budget_when_batched_then_each_clause_fits_in_a_rest_url() -> None:
    clauses = list(soql.in_clauses("ParentId", ids(2000), batch_size=10_000))
    assert len(clauses) > 1
    for clause in clauses:
        query = f"SELECT Id, Name, Body FROM Attachment WHERE {clause}"
        assert len(urlencode({"q": query})) < soql.MAX_REST_QUERY_URL_BYTES
    joined = ",".join(clauses)
    assert all(v in joined for v in ids(2000))


def test_given_an_in_clause_when_built_then_it_quotes_every_id() -> None:
    assert (
        soql.in_clause("LinkedEntityId", ids(2))
        == "LinkedEntityId IN ('001000000000000AAA','001000000000001AAA')"
    )


def test_given_no_ids_when_batched_then_nothing_is_yielded() -> None:
    assert list(soql.in_clauses("ParentId", [])) == []
