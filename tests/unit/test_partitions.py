"""ReadPlan (salesforce/partitions.py) and refusal_coverage (salesforce/faults.py): the pure parts of
reading restricted objects; the reads themselves are tested over HTTP in test_enterprise_backup.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sfbackup.errors import SalesforceError
from sfbackup.salesforce.cut import Cut
from sfbackup.salesforce.faults import refusal_coverage
from sfbackup.salesforce.objects import ENTITY_FILTERS
from sfbackup.salesforce.partitions import KeysetPaging, ParentFilter, ReadPlan, conjunction, cut_admits

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def test_read_plan_round_trips_and_plain_means_nothing_changes() -> None:
    plan = ReadPlan("filter", parents=ParentFilter("ParentId", "Idea", equals_only=True), cut_in_soql=False,
                    countable=False, query_all=False)  # fmt: skip
    assert ReadPlan.from_dict(plan.to_dict()) == plan
    assert not plan.plain
    assert ReadPlan("").plain and not ReadPlan("", conditions=("A = 'x'",)).plain
    assert ReadPlan.from_dict({"reason": "old manifest"}).plain  # missing keys: the defaults


def test_setup_entity_plans_round_trip_with_their_parent_plans_keyset_and_identity() -> None:
    """The manifest keeps PicklistValueInfo's whole chain (EntityDefinition's LIMIT batches, then
    EntityParticle by entity), so verify reads the org exactly as the export did."""
    plan = ReadPlan("by particle", parents=ENTITY_FILTERS["PicklistValueInfo"], identity="DurableId")
    again = ReadPlan.from_dict(plan.to_dict())
    assert again == plan and again.parents is not None and again.parents.parent_read is not None
    entity = again.parents.parent_read.parents
    assert entity is not None and entity.parent_read is not None
    assert entity.parent_read.keyset == KeysetPaging("QualifiedApiName", 2000)
    assert not ReadPlan("", keyset=KeysetPaging("QualifiedApiName")).plain
    assert ReadPlan.from_dict({"reason": "old"}).identity == "Id"


def test_conjunction_is_flat_so_salesforce_sees_the_required_filter_at_top_level() -> None:
    assert conjunction("CreatedDate <= 2026-11-27T02:00:00Z", None, "PublishStatus = 'Online'") == (
        "CreatedDate <= 2026-11-27T02:00:00Z AND PublishStatus = 'Online'"
    )
    assert conjunction(None, "") is None


@pytest.mark.parametrize(
    ("value", "admitted"),
    [("2026-11-27T02:00:00.000+0000", True), ("2026-11-27T01:59:59Z", True),
     ("2026-11-27T02:00:00.001Z", False), (None, False), ("", False)],
)  # fmt: skip
def test_cut_applied_by_us_admits_what_soql_field_le_t0_would(value: str | None, admitted: bool) -> None:
    assert cut_admits(Cut("SystemModstamp", T0), value) is admitted


def test_cut_applied_by_us_refuses_an_unreadable_value() -> None:
    with pytest.raises(SalesforceError, match="SystemModstamp"):
        cut_admits(Cut("SystemModstamp", T0), "yesterday")


@pytest.mark.parametrize(
    ("code", "message", "coverage"),
    [
        ("INVALID_TYPE_FOR_OPERATION", "entity type AggregateResult does not support query", "not_exportable"),
        ("EXTERNAL_OBJECT_EXCEPTION", "the external data source is unreachable", "not_exportable"),
        ("EXTERNAL_OBJECT_UNSUPPORTED_EXCEPTION", "Where clauses should contain StatType", "blocked"),
        ("MALFORMED_QUERY", "Implementation restriction: ContentFolderItem requires a filter by Id", "blocked"),
        ("INVALID_FIELD", "Can select only RecordId, a Has*Access field, and MaxAccessLevel", "blocked"),
        ("OPERATION_TOO_LARGE", "exceeded 100000 distinct who/what's", "blocked"),
        ("EXCEEDED_ID_LIMIT", "EntityDefinition does not support queryMore(), use LIMIT", "blocked"),
        ("INVALID_FIELD", "No such column 'Foo__c' on entity 'Account'", None),
        ("UNKNOWN_EXCEPTION", "An unexpected error occurred", None),
    ],
)
def test_refusal_coverage_separates_no_api_from_another_query_or_permission(
    code: str, message: str, coverage: str | None
) -> None:
    assert refusal_coverage(code, message) == coverage
