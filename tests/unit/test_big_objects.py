"""The pure parts of reading big objects by index prefix (salesforce/big_objects.py): the middle
of a range, the bounds a piece keeps, the index read from a CustomObject file; the reads over HTTP
are in test_enterprise_backup.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfbackup.salesforce.big_objects import (
    IndexField,
    _between,
    _id_between,
    _index_of,
    _Range,
    _same,
    _string_between,
    index_key,
    kind_of,
)
from sfbackup.salesforce.partitions import ReadPlan


@pytest.mark.parametrize(("low", "high"), [("", None), ("account", "contact"), ("abc", "abd"), ("a", "b"),
                                           ("x", None), ("0", "a"), ("abc", "abc ")])  # fmt: skip
def test_a_string_middle_lies_strictly_between_and_has_no_capital(low: str, high: str | None) -> None:
    middle = _string_between(low, high)
    if middle is None:
        return  # nothing short enough: the range is then split by a value read from it
    assert low < middle and (high is None or middle < high), (low, middle, high)
    assert not any(c.isupper() for c in middle)  # Salesforce compares text without case


def test_an_id_middle_is_a_15_character_id_between_its_bounds() -> None:
    low, high = "001Dx0000000001IAA", "001Dx0000000005IAA"
    middle = _id_between(low, high)
    assert middle is not None and len(middle) == 15 and middle.isalnum()
    assert low[:15] < middle < high[:15]
    assert _id_between("001Dx0000000001", "001Dx0000000002") is None  # next to each other
    assert _id_between(None, None) is not None  # the whole Id space halves too


def test_datetime_and_number_middles_and_their_limits() -> None:
    at = IndexField("Logged_At__c", "datetime")
    low, high = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC)
    assert _between(at, low, high) == datetime(2026, 1, 2, tzinfo=UTC)
    assert _between(at, low, low.replace(microsecond=1000)) is None  # a millisecond cannot be halved
    assert _between(IndexField("N", "number"), None, 10) is None  # no bound: read a value instead


def test_a_piece_keeps_every_bound_it_inherited_so_it_stays_inside_its_parent_range() -> None:
    field = IndexField("FieldHistoryType")
    piece = _Range().from_("Account", exclusive=True).below("p").below("Contact")
    assert piece.conditions(field) == [
        "FieldHistoryType > 'Account'", "FieldHistoryType < 'p'", "FieldHistoryType < 'Contact'",
    ]
    assert _same(field, "Account", "ACCOUNT") and not _same(IndexField("ParentId", "id"), "a", "A")


def test_the_index_is_read_from_a_custom_object_file_in_order() -> None:
    xml = (b'<?xml version="1.0" encoding="UTF-8"?><CustomObject xmlns="http://soap.sforce.com/2006/04/metadata">'
           b"<fields><fullName>Account__c</fullName></fields><indexes><fullName>LogIndex</fullName>"
           b"<fields><name>Account__c</name><sortDirection>DESC</sortDirection></fields>"
           b"<fields><name>Logged_At__c</name><sortDirection>ASC</sortDirection></fields>"
           b"<label>Log Index</label></indexes></CustomObject>")  # fmt: skip
    assert _index_of(xml) == ("Account__c", "Logged_At__c")
    assert _index_of(b"<CustomObject/>") == () and _index_of(b"not xml") == ()
    assert [kind_of(t) for t in ("reference", "datetime", "string", "double")] == ["id", "datetime", "string", "number"]


def test_a_read_plan_keeps_the_index_in_the_manifest() -> None:
    plan = ReadPlan("big object", cut_in_soql=False, countable=False, query_all=False,
                    index=(IndexField("Account__c", "id"), IndexField("Logged_At__c", "datetime")))  # fmt: skip
    assert ReadPlan.from_dict(plan.to_dict()) == plan
    assert "index" not in ReadPlan("").to_dict()  # older readers see the same keys as before


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FF), max_size=12),
       st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FF), max_size=12))  # fmt: skip
@settings(max_examples=300, deadline=None)
def test_any_string_middle_found_is_strictly_between(one: str, other: str) -> None:
    low, high = sorted((one, other))
    if low == high:
        return
    middle = _string_between(low, high)
    assert middle is None or low < middle < high
    assert _string_between(low, None) is None or low < str(_string_between(low, None))


def test_an_index_key_is_the_same_from_a_query_and_from_a_backup_part() -> None:
    index = (IndexField("Account__c", "id"), IndexField("Logged_At__c", "datetime"), IndexField("N", "number"))
    from_rest = {"Account__c": "001Dx0000000001IAA", "Logged_At__c": "2024-04-01T03:56:17.000+0000", "N": "1.50"}
    from_part = {"Account__c": "001Dx0000000001IAA", "Logged_At__c": datetime(2024, 4, 1, 3, 56, 17, tzinfo=UTC),
                 "N": 1.5}  # fmt: skip
    assert index_key(from_rest, index) == index_key(from_part, index) == "001Dx0000000001|2024-04-01T03:56:17.000Z|1.5"
