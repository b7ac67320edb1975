"""Deciding what to export: which objects, which fields, through which API, under which predicate.

The plan is pure data derived from describeGlobal, each describe and the settings; it makes no
calls itself, so it is easy to test and its every decision lands in the manifest with a reason.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote_plus

from sfbackup.config import BackupSettings
from sfbackup.errors import UsageError
from sfbackup.repository.manifest import CoverageEntry, ErrorKind, ErrorRecord, ObjectEntry, ObjectState
from sfbackup.salesforce import soql
from sfbackup.salesforce.cut import CUT_FIELDS, Cut, cut_for
from sfbackup.salesforce.objects import (
    ACTIVITY_OBJECTS,
    ACTIVITY_OWNER_FILTER,
    CUT_REFUSED_BESIDE_FILTER,
    DERIVED_OBJECTS,
    DURABLE_ID_OBJECTS,
    ENTITY_FILTERS,
    FILE_OBJECTS,
    ID_FILTERED_OBJECTS,
    KEYSET_PAGED,
    KNOWLEDGE_PUBLISH_STATUSES,
    PARENT_FILTERS,
    PICKLIST_FILTERS,
    REIFIED_PARENTS,
    is_big_object,
    is_knowledge,
)
from sfbackup.salesforce.partitions import ReadPlan, conjunction
from sfbackup.salesforce.schema import ExcludedField, FieldSpec, ObjectSchema

__all__ = [
    "FILE_OBJECTS",
    "ID_FILTERED_OBJECTS",
    "ObjectPlan",
    "check_object_names",
    "derived_coverage",
    "plan_object",
    "read_plan_for",
    "selected_objects",
    "snapshot_cut",
]

Api = Literal["bulk2", "rest"]

#: A REST query is a GET: Salesforce answers 414 when the URI passes 16,384 bytes (SALESFORCE-API.md
#: 2.4); a SELECT whose encoded form passes this goes through Bulk API 2.0 (a POST body) instead.
MAX_GET_SOQL_BYTES = 15_000


@dataclass(frozen=True)
class ObjectPlan:
    """How one object is exported."""

    name: str
    schema: ObjectSchema
    fields: tuple[FieldSpec, ...]
    excluded: tuple[ExcludedField, ...]
    api: Api
    operation: Literal["query", "queryAll"]
    cut: Cut
    id_filter: tuple[str, str] | None = None
    expected_rows: int | None = None
    notes: tuple[str, ...] = field(default=())
    #: Salesforce's words when it refused the object's COUNT(): exported without an expected count.
    count_refused: str | None = None
    read: ReadPlan = field(default_factory=lambda: ReadPlan(""))
    hidden: tuple[str, ...] = ()  # fields FLS hides from the user (preflight): not exported
    masked: tuple[str, ...] = ()  # encrypted fields the user reads masked (preflight): stored null

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def include_deleted(self) -> bool:
        return self.operation == "queryAll"

    def soql(self, extra_where: str | None = None) -> str:
        """The SELECT for this object, with the snapshot's cut and an optional extra condition."""
        cut = self.cut.condition() if self.read.cut_in_soql else None
        return soql.build_select(self.name, self.field_names, where=soql.all_of(cut, extra_where))


def selected_objects(
    sobjects: Sequence[dict[str, Any]], settings: BackupSettings
) -> tuple[list[str], list[CoverageEntry]]:
    """Objects to export (in a stable order) and the coverage of every object describeGlobal lists.

    Objects named explicitly but absent from describeGlobal are returned too; the export records
    Salesforce's own error for them rather than guessing.
    """
    listed = {str(s["name"]): s for s in sobjects}
    selection = settings.object_selection
    wanted: list[str]
    if selection == "all":
        wanted = [name for name, s in listed.items() if s.get("queryable", False)]
        if settings.include:
            wanted = [n for n in wanted if _matches_any(n, settings.include)]
    else:
        wanted = list(selection)
    wanted = [n for n in wanted if not _matches_any(n, settings.exclude)]
    wanted = list(dict.fromkeys(wanted))
    for name in wanted:
        soql.validate_identifier(name, what="object name")

    chosen = set(wanted)
    coverage: list[CoverageEntry] = []
    for name, entry in listed.items():
        if name in chosen:
            continue
        if not entry.get("queryable", False):
            coverage.append(CoverageEntry(name, "not_queryable", "describeGlobal: queryable is false"))
        else:
            coverage.append(CoverageEntry(name, "excluded_by_config", _exclusion_reason(name, settings)))
    return wanted, coverage


def derived_coverage(name: str) -> tuple[ObjectEntry, CoverageEntry] | None:
    """An object that stores no data (UserRecordAccess): skipped without a call, `derived` coverage
    saying what it is computed from (verify judges whether the snapshot holds those sources);
    None for every other object."""
    source = DERIVED_OBJECTS.get(name)
    if source is None:
        return None
    reason = f"it stores no data: it is {source}; the snapshot holds those instead"
    entry = ObjectEntry(state=ObjectState.SKIPPED, error=ErrorRecord("DERIVED", reason, ErrorKind.DERIVED))
    return entry, CoverageEntry(name, "derived", reason)


def check_object_names(sobjects: Sequence[dict[str, Any]], names: Sequence[str], *, origin: str) -> None:
    """UsageError, before anything is exported, for names in `names` that describeGlobal does not
    list (a typo, or an object this user cannot see), each with the closest names it does list.

    `origin` says where the names came from (a config file, the command line) for the message.
    """
    listed = [str(s["name"]) for s in sobjects]
    by_lower = {name.lower(): name for name in listed}
    unknown = [name for name in names if name not in set(listed)]
    if not unknown:
        return
    described = []
    for name in unknown:
        exact_case = by_lower.get(name.lower())
        close = [exact_case] if exact_case else difflib.get_close_matches(name, listed, n=3, cutoff=0.75)
        described.append(f"{name} (did you mean {' or '.join(close)}?)" if close else name)
    plural = "s" if len(unknown) > 1 else ""
    raise UsageError(
        f"unknown object{plural} in backup.objects (from {origin}): {', '.join(described)}; "
        f"describeGlobal lists {len(listed)} objects and not {'these' if plural else 'this one'}",
        hint="fix the name (API names, e.g. Account, Invoice__c); an object this user cannot see is "
        "not listed either: grant its profile or permission set read access. Nothing was exported.",
    )


def snapshot_cut(schema: ObjectSchema, t0: datetime) -> Cut:
    """The object's cut at T0: CreatedDate, else SystemModstamp, whichever describe says is
    filterable; when neither is (ActivityFieldHistory's SystemModstamp), the first present, applied
    by us to the rows read (`cut_in_soql`); else none (every record)."""
    present = [name for name in CUT_FIELDS if schema.has_field(name)]
    filterable = [name for name in present if _filterable(schema, name)]
    return cut_for(set(filterable or present), t0)


def cut_in_soql(schema: ObjectSchema, cut: Cut) -> bool:
    """Whether Salesforce accepts the cut's condition in the object's queries."""
    if cut.field is None:
        return True
    return _filterable(schema, cut.field) and schema.name not in CUT_REFUSED_BESIDE_FILTER \
        and not is_big_object(schema.name)


def _filterable(schema: ObjectSchema, name: str) -> bool:
    for raw in schema.raw.get("fields", []):
        if isinstance(raw, dict) and str(raw.get("name", "")).lower() == name.lower():
            return bool(raw.get("filterable", True))
    return True


def read_plan_for(
    schema: ObjectSchema, cut: Cut, *, count_refusal: str | None = None, count_refused: str | None = None
) -> ReadPlan:
    """How the object's rows are read, from what Salesforce documents about it (objects.py) and
    the error code its COUNT() was refused with (`count_refusal`) and its words (`count_refused`)."""
    name, in_soql = schema.name, cut_in_soql(schema, cut)
    setup = _setup_entity_plan(schema, in_soql) or _reified_plan(schema, in_soql, count_refused)
    if setup is not None:
        return setup
    parents = PARENT_FILTERS.get(name)
    if parents is None and name in ACTIVITY_OBJECTS and count_refusal == "OPERATION_TOO_LARGE":
        parents = ACTIVITY_OWNER_FILTER
    if parents is not None:
        how = "one query per" if parents.equals_only else f"batches of {parents.batch_size}"
        reason = (f"Salesforce requires a filter on {parents.field}; read in {how} {parents.parent} "
                  f"Id{'' if parents.equals_only else 's'}")  # fmt: skip
        if count_refusal == "OPERATION_TOO_LARGE":
            reason = ("Salesforce answers OPERATION_TOO_LARGE unless the query filters on a record Id "
                      f"(a user without View All Data); read in batches of {parents.parent} Ids by "
                      f"{parents.field}")  # fmt: skip
        return ReadPlan(reason, parents=parents, cut_in_soql=in_soql, countable=in_soql)
    if is_knowledge(name) and schema.has_field("PublishStatus"):
        statuses = _picklist(schema, "PublishStatus") or KNOWLEDGE_PUBLISH_STATUSES
        languages = _picklist(schema, "Language") if name.endswith("__kav") else ()
        conditions = tuple(
            conjunction(f"PublishStatus = {soql.string_literal(status)}",
                        f"Language = {soql.string_literal(lang)}" if lang else None) or ""
            for status in statuses for lang in (languages or (None,))
        )  # fmt: skip
        return ReadPlan(
            "Salesforce requires a PublishStatus filter" + (" and a Language" if languages else "")
            + f"; read with one query per {'PublishStatus and Language' if languages else 'PublishStatus'}",
            conditions=conditions, cut_in_soql=in_soql, countable=in_soql,
        )  # fmt: skip
    if is_big_object(name):
        return ReadPlan(
            "big object: only index-order queries (read unfiltered, in index order), no COUNT(), no "
            "queryAll; the snapshot's cut is applied by sfbackup to the rows read",
            cut_in_soql=False, countable=False, query_all=False,
        )  # fmt: skip
    if not in_soql:
        return ReadPlan(
            f"{cut.field} is not filterable (describe): read unfiltered, the snapshot's cut applied by "
            "sfbackup to the rows read", cut_in_soql=False, countable=False,
        )  # fmt: skip
    return ReadPlan("")


def _setup_entity_plan(schema: ObjectSchema, in_soql: bool) -> ReadPlan | None:
    """Setup objects Salesforce reads only one documented way: EntityDefinition in LIMIT batches,
    FieldDefinition and kin by their entity's DurableId, DataStatistics and FlexQueueItem one query per
    value of the picklist their refusal names (values from the describe; none listed: no plan, the
    object stays refused with Salesforce's words). None for every other object."""
    name = schema.name
    identity = "DurableId" if name in DURABLE_ID_OBJECTS and schema.has_field("DurableId") else "Id"
    keyset = KEYSET_PAGED.get(name)
    if keyset is not None and schema.has_field(keyset.key):
        return ReadPlan(
            f"Salesforce refuses queryMore on {name}: read in queries of LIMIT {keyset.size} ordered by "
            f"{keyset.key}, each after the last {keyset.key} read",
            keyset=keyset, cut_in_soql=in_soql, countable=False, query_all=False, identity=identity,
        )  # fmt: skip
    entity = ENTITY_FILTERS.get(name)
    if entity is not None and schema.has_field(entity.field):
        return ReadPlan(
            f"Salesforce requires a filter on {entity.field}; read in batches of {entity.batch_size} "
            f"{entity.parent} {entity.key}s (IN, or one per query if the org refuses the list)",
            parents=entity, cut_in_soql=in_soql, countable=False, query_all=False, identity=identity,
        )  # fmt: skip
    picklist = PICKLIST_FILTERS.get(name)
    values = _picklist(schema, picklist) if picklist else ()
    if picklist and values:
        return ReadPlan(
            f"Salesforce requires a filter on {picklist}; read with one query per {picklist} value the "
            f"describe lists ({len(values)})",
            conditions=tuple(f"{picklist} = {soql.string_literal(v)}" for v in values),
            cut_in_soql=in_soql, countable=False, query_all=False,
        )  # fmt: skip
    return None


#: Salesforce's refusal of a setup entity queried without its key: "<X>: a filter on a reified column
#: is required [EntityDefinitionId,DurableId]" (SALESFORCE-API.md 5).
_REIFIED = re.compile(r"a filter on a reified column is required \[([\w,]+)\]")


def _reified_plan(schema: ObjectSchema, in_soql: bool, refusal: str | None) -> ReadPlan | None:
    """A setup entity sfbackup knows nothing about, read from what its COUNT() refusal names: the
    first reified column of the describe whose values sfbackup can list (an entity's DurableId)."""
    found = _REIFIED.search(refusal or "")
    for column in found.group(1).split(",") if found else ():
        parents = REIFIED_PARENTS.get(column)
        if parents is not None and schema.has_field(column):
            identity = "DurableId" if schema.has_field("DurableId") else "Id"
            return ReadPlan(
                f"Salesforce requires a filter on one of {found.group(1) if found else column}; read "
                f"in batches of {parents.batch_size} {parents.parent} {parents.key}s by {column} (IN, "
                "or one per query if the org refuses the list)",
                parents=replace(parents, field=column), cut_in_soql=in_soql, countable=False,
                query_all=False, identity=identity,
            )  # fmt: skip
    return None


def _picklist(schema: ObjectSchema, name: str) -> tuple[str, ...]:
    for raw in schema.raw.get("fields", []):
        if isinstance(raw, dict) and str(raw.get("name", "")).lower() == name.lower():
            values = raw.get("picklistValues") or []
            return tuple(str(v["value"]) for v in values if isinstance(v, dict) and v.get("value"))
    return ()


def needs_count(schema: ObjectSchema) -> bool:
    """Whether the plan wants the object's COUNT() (objects read with a required filter, big
    objects and objects cut by us are read, not counted)."""
    cut = snapshot_cut(schema, datetime(2000, 1, 1, tzinfo=UTC))
    return schema.name not in ID_FILTERED_OBJECTS and read_plan_for(schema, cut).plain


def plan_object(
    schema: ObjectSchema,
    *,
    cut: Cut,
    settings: BackupSettings,
    expected_rows: int | None,
    count_refused: str | None = None,
    count_refusal_code: str | None = None,
) -> ObjectPlan:
    """The export plan for one described object, cut at `cut`, with `expected_rows` from its
    COUNT() under that cut (None when not counted: the Bulk API is then chosen)."""
    fields, excluded = schema.exportable_fields(for_bulk=True)
    read = read_plan_for(schema, cut, count_refusal=count_refusal_code, count_refused=count_refused)
    parents = read.parents
    id_filter = (parents.field, parents.parent) if parents is not None else None
    notes: list[str] = []
    api: Api
    if count_refused is not None:
        notes.append(f"COUNT() refused ({count_refused}): exported without an expected count")
    if not read.plain:
        api = "rest"
        notes.append(read.reason)
    elif _encoded_length(schema.name, fields, cut) > MAX_GET_SOQL_BYTES:
        api = "bulk2"
        notes.append("the SELECT is too long for a REST GET; read through Bulk API 2.0")
    elif expected_rows is not None and expected_rows < settings.bulk_min_records:
        api = "rest"
    else:
        api = "bulk2"
    return ObjectPlan(
        name=schema.name,
        schema=schema,
        fields=tuple(fields),
        excluded=tuple(excluded),
        api=api,
        operation="queryAll" if settings.include_deleted and read.query_all else "query",
        cut=cut,
        id_filter=id_filter,
        expected_rows=expected_rows,
        notes=tuple(notes),
        count_refused=count_refused,
        read=read,
    )


def _encoded_length(name: str, fields: Sequence[FieldSpec], cut: Cut) -> int:
    query = soql.build_select(name, [f.name for f in fields], where=cut.condition())
    return len(quote_plus(query))


def _matches_any(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns)


def _exclusion_reason(name: str, settings: BackupSettings) -> str:
    if _matches_any(name, settings.exclude):
        return "matched an exclude pattern"
    if settings.object_selection == "all" and settings.include:
        return "did not match an include pattern"
    return "not in the selected objects (back up every object with `--preset everything`, the default)"
