"""Deciding what to export: which objects, which fields, through which API, under which predicate.

The plan is pure data derived from describeGlobal, each describe and the settings; it makes no
calls itself, so it is easy to test and its every decision lands in the manifest with a reason.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sfbackup.config import BackupSettings
from sfbackup.errors import UsageError
from sfbackup.repository.manifest import CoverageEntry
from sfbackup.salesforce import soql
from sfbackup.salesforce.cut import Cut, cut_for
from sfbackup.salesforce.objects import FILE_OBJECTS, ID_FILTERED_OBJECTS
from sfbackup.salesforce.schema import ExcludedField, FieldSpec, ObjectSchema

__all__ = [
    "FILE_OBJECTS",
    "ID_FILTERED_OBJECTS",
    "ObjectPlan",
    "check_object_names",
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
    if settings.object_selection == "all" and settings.include:
        return "did not match an include pattern"
    return "not in the selected objects (back up every object with `--preset everything`, the default)"
