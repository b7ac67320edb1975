"""Deciding what to export: which objects, which fields, through which API, under which predicate.

The plan is pure data derived from describeGlobal, each describe and the settings; it makes no
calls itself, so it is easy to test and its every decision lands in the manifest with a reason.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sfbackup.config import DEFAULT_OBJECTS, EVERYTHING_EXTRA_OBJECTS, BackupSettings
from sfbackup.repository.manifest import CoverageEntry
from sfbackup.salesforce import soql
from sfbackup.salesforce.cut import Cut, cut_for
from sfbackup.salesforce.objects import FILE_OBJECTS, ID_FILTERED_OBJECTS
from sfbackup.salesforce.schema import ExcludedField, FieldSpec, ObjectSchema

__all__ = [
    "FILE_OBJECTS",
    "ID_FILTERED_OBJECTS",
    "ObjectPlan",
    "plan_object",
    "selected_objects",
    "snapshot_cut",
]

Api = Literal["bulk2", "rest"]


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
        where = soql.all_of(self.cut.condition(), extra_where)
        return soql.build_select(self.name, self.field_names, where=where)


def selected_objects(
    sobjects: Sequence[dict[str, Any]], settings: BackupSettings
) -> tuple[list[str], list[CoverageEntry]]:
    """Objects to export (in a stable order) and the coverage of every object describeGlobal lists.

    Objects named explicitly but absent from describeGlobal are returned too; the export records
    Salesforce's own error for them rather than guessing.
    """
    listed = {str(s["name"]): s for s in sobjects}
    wanted: list[str]
    if settings.objects == "all" or settings.preset == "everything":
        wanted = [name for name, s in listed.items() if s.get("queryable", False)]
        if settings.include:
            wanted = [n for n in wanted if _matches_any(n, settings.include)]
        if settings.preset == "everything":
            wanted += [n for n in (*DEFAULT_OBJECTS, *EVERYTHING_EXTRA_OBJECTS) if n not in wanted]
    else:
        wanted = list(settings.objects) if settings.objects else list(DEFAULT_OBJECTS)
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


def snapshot_cut(schema: ObjectSchema, t0: datetime) -> Cut:
    """The object's cut at T0: CreatedDate, else SystemModstamp, else none (every record)."""
    return cut_for({f.name for f in schema.fields}, t0)


def needs_count(schema: ObjectSchema) -> bool:
    """Whether the plan wants the object's COUNT() (objects read in Id batches refuse it)."""
    return schema.name not in ID_FILTERED_OBJECTS


def plan_object(
    schema: ObjectSchema,
    *,
    cut: Cut,
    settings: BackupSettings,
    expected_rows: int | None,
) -> ObjectPlan:
    """The export plan for one described object, cut at `cut`, with `expected_rows` from its
    COUNT() under that cut (None when not counted: the Bulk API is then chosen)."""
    fields, excluded = schema.exportable_fields(for_bulk=True)
    id_filter = ID_FILTERED_OBJECTS.get(schema.name)
    notes: list[str] = []
    api: Api
    if id_filter is not None:
        api = "rest"
        notes.append(
            f"Salesforce requires a filter on {id_filter[0]}; read in batches of {id_filter[1]} Ids"
        )
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
        operation="queryAll" if settings.include_deleted else "query",
        cut=cut,
        id_filter=id_filter,
        expected_rows=expected_rows,
        notes=tuple(notes),
    )


def _matches_any(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns)


def _exclusion_reason(name: str, settings: BackupSettings) -> str:
    if _matches_any(name, settings.exclude):
        return "matched an exclude pattern"
    if settings.objects == "all" and settings.include:
        return "did not match an include pattern"
    return "not in the selected objects (use --objects all or --preset everything to include it)"
