"""How an object's rows are read when one plain query cannot read them: a `ReadPlan`.

Salesforce refuses some objects' queries without a particular filter (knowledge articles need a
PublishStatus, Vote a ParentId...), refuses COUNT() on others (big objects, huge tables), and
refuses any condition beside a required one on ContentDocumentLink. A `ReadPlan` says which
conditions read every row (one query each), whether the snapshot's cut can go into the SOQL or is
applied by us to the rows read, and whether COUNT() and queryAll are allowed. The export and the
verifier read through the same plan (the manifest keeps it), so both see the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sfbackup.clock import parse_time
from sfbackup.errors import SalesforceError, UnsupportedQuery
from sfbackup.salesforce import query_rest, soql
from sfbackup.salesforce.big_objects import IndexField, index_pages
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.salesforce.cut import Cut

__all__ = ["ParentFilter", "ReadPlan", "cut_admits", "iter_pages"]


@dataclass(frozen=True)
class ParentFilter:
    """Rows read in batches of parent Ids: `field IN (...)`, or `field = '<id>'` per parent when
    Salesforce accepts only a single Id (`equals_only`)."""

    field: str
    parent: str
    equals_only: bool = False
    batch_size: int = 200

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "parent": self.parent, "equals_only": self.equals_only,
                "batch_size": self.batch_size}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParentFilter:
        return cls(str(data["field"]), str(data["parent"]), bool(data.get("equals_only", False)),
                   int(data.get("batch_size", 200)))  # fmt: skip


@dataclass(frozen=True)
class ReadPlan:
    """The queries that read all of an object's rows.

    `conditions`: one query per condition (fixed values, e.g. `PublishStatus = 'Online'`);
    `parents`: one query per batch of parent Ids (read when the plan runs); neither: one query.
    `cut_in_soql` False: Salesforce refuses the cut's condition beside the required filter (or on
    that object at all), so the rows are read without it and the cut is applied by us.
    `countable` False: Salesforce refuses COUNT() (the rows are counted by reading them);
    `query_all` False: queryAll is refused (big objects have no recycle bin).
    `index`: a big object's index fields, in order; a timed-out read is split by index prefix.
    """

    reason: str
    conditions: tuple[str, ...] = ()
    parents: ParentFilter | None = None
    cut_in_soql: bool = True
    countable: bool = True
    query_all: bool = True
    only_fields: tuple[str, ...] = field(default=())
    index: tuple[IndexField, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "conditions": list(self.conditions),
            "parents": self.parents.to_dict() if self.parents else None,
            "cut_in_soql": self.cut_in_soql,
            "countable": self.countable,
            "query_all": self.query_all,
            "only_fields": list(self.only_fields),
            **({"index": [f.to_dict() for f in self.index]} if self.index else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReadPlan:
        parents = data.get("parents")
        return cls(
            reason=str(data.get("reason") or ""),
            conditions=tuple(str(c) for c in data.get("conditions") or ()),
            parents=ParentFilter.from_dict(parents) if isinstance(parents, dict) else None,
            cut_in_soql=bool(data.get("cut_in_soql", True)),
            countable=bool(data.get("countable", True)),
            query_all=bool(data.get("query_all", True)),
            only_fields=tuple(str(f) for f in data.get("only_fields") or ()),
            index=tuple(IndexField.from_dict(f) for f in data.get("index") or () if isinstance(f, dict)),
        )

    @property
    def plain(self) -> bool:
        """One query under the cut: nothing this plan changes about how the rows are read."""
        return not self.conditions and self.parents is None and self.cut_in_soql


def where_clauses(
    client: SalesforceClient, plan: ReadPlan, *, include_deleted: bool
) -> Iterator[str | None]:
    """The extra condition of each query the plan reads (None: no extra condition)."""
    for clause, _ids in _clauses(client, plan, include_deleted=include_deleted):
        yield clause


def _clauses(
    client: SalesforceClient, plan: ReadPlan, *, include_deleted: bool
) -> Iterator[tuple[str | None, list[str]]]:
    """Each query's extra condition, with the parent Ids of an `IN` batch (empty otherwise)."""
    if plan.parents is not None:
        parents = plan.parents
        ids = _parent_ids(client, parents, include_deleted=include_deleted)
        if parents.equals_only:
            for parent_id in ids:
                yield f"{parents.field} = {soql.id_literal(parent_id)}", []
        else:
            for batch in soql.in_batches(ids, parents.batch_size):
                yield soql.in_clause(parents.field, batch), list(batch)
        return
    if plan.conditions:
        for condition in plan.conditions:
            yield condition, []
        return
    yield None, []


def _parent_ids(client: SalesforceClient, parents: ParentFilter, *, include_deleted: bool) -> list[str]:
    ids: list[str] = []
    try:
        # Parents (Idea, ContentFolder, User...) have CreatedDate: a timed-out read goes by ranges.
        for records in query_rest.iter_query_pages_splitting(
            client, lambda window: soql.build_select(parents.parent, ["Id"], where=window),
            include_deleted=include_deleted,
        ):
            ids.extend(str(r["Id"]) for r in records)
    except UnsupportedQuery as exc:
        # No parent to drive the batches (the org lacks it, or refuses it to this user): the
        # object stays as Salesforce left it, refused without the filter.
        raise UnsupportedQuery(
            f"Salesforce requires a filter on {parents.field}, and the {parents.parent} Ids it "
            f"needs could not be read: {exc.message}",
            error_code=exc.error_code, status=exc.status,
        ) from exc
    return ids


def _halving_pages(
    client: SalesforceClient,
    build: Callable[[str | None], str],
    field: str,
    ids: list[str],
    *,
    include_deleted: bool,
) -> Iterator[list[dict[str, Any]]]:
    """Pages of the query for `field IN (ids)`; a QUERY_TIMEOUT halves the batch (where no date
    range may go beside the filter, a smaller batch is the more selective query)."""
    query = build(soql.in_clause(field, ids))
    pages = query_rest.iter_query_pages(client, query, include_deleted=include_deleted)
    try:
        first = next(pages)
    except StopIteration:
        return
    except SalesforceError as exc:
        if exc.error_code != "QUERY_TIMEOUT" or len(ids) < 2:
            raise
        middle = len(ids) // 2
        for half in (ids[:middle], ids[middle:]):
            yield from _halving_pages(client, build, field, half, include_deleted=include_deleted)
        return
    yield first
    yield from pages


def iter_pages(
    client: SalesforceClient,
    object_name: str,
    fields: list[str],
    plan: ReadPlan,
    cut: Cut | None,
    *,
    include_deleted: bool,
    extra_where: str | None = None,
    object_fields: Iterable[str] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """REST pages of every row the plan reads, each row once, under the cut (applied in the SOQL,
    or by us to the rows read when `plan.cut_in_soql` is False). A timed-out query is read in
    date ranges of a field of `object_fields` (default: the selected ones)."""
    cut_where = cut.condition() if cut is not None and plan.cut_in_soql else None
    by_us = cut if cut is not None and cut.field is not None and not plan.cut_in_soql else None
    select = list(fields)
    if by_us is not None and not any(f.lower() == str(by_us.field).lower() for f in select):
        select.append(str(by_us.field))
    seen: set[str] = set()
    # A timed-out query is read in date ranges, where a condition beside the filter is allowed.
    split = query_rest.split_field(object_fields or select) if plan.cut_in_soql else None
    for clause, batch in _clauses(client, plan, include_deleted=include_deleted):

        def build(window: str | None, clause: str | None = clause) -> str:
            where = conjunction(cut_where, clause, extra_where, window)
            return soql.build_select(object_name, select, where=where)

        def build_batch(in_clause: str | None) -> str:
            where = conjunction(cut_where, in_clause, extra_where)
            return soql.build_select(object_name, select, where=where)

        pages: Iterator[list[dict[str, Any]]]
        if plan.index and clause is None:
            pages = index_pages(client, object_name, build, plan.index)
        elif split is not None:
            pages = query_rest.iter_query_pages_splitting(
                client, build, include_deleted=include_deleted, field=split
            )
        elif batch and plan.parents is not None:
            pages = _halving_pages(client, build_batch, plan.parents.field, batch,
                                   include_deleted=include_deleted)  # fmt: skip
        else:
            pages = query_rest.iter_query_pages(client, build(None), include_deleted=include_deleted)
        for records in pages:
            kept = [r for r in records if by_us is None or cut_admits(by_us, r.get(str(by_us.field)))]
            if plan.parents is not None:  # other pieces are disjoint, and a big object's rows
                kept = _once(kept, seen)  # all answer the empty Id 000000000000000AAA
            if select != fields:
                kept = [{k: v for k, v in r.items() if k in fields} for r in kept]
            if kept:
                yield kept


def conjunction(*conditions: str | None) -> str | None:
    """Conditions joined by a flat AND: Salesforce looks for a required filter among the top-level
    conditions, and a parenthesised group hides it (every condition here is a comparison or an
    AND of comparisons, never an OR)."""
    present = [c for c in conditions if c]
    return " AND ".join(present) or None


def _once(records: Iterable[dict[str, Any]], seen: set[str]) -> list[dict[str, Any]]:
    """Records not yet seen (partitions by a parent can overlap when a row matches two batches)."""
    out = []
    for record in records:
        key = str(record.get("Id") or "")
        if key and key in seen:
            continue
        if key:
            seen.add(key)
        out.append(record)
    return out


def cut_admits(cut: Cut, value: Any) -> bool:
    """Whether a row whose cut field holds `value` belongs to the snapshot (`field <= t0`; a null
    never does, as SOQL's comparison says)."""
    if value is None or value == "":
        return False
    try:
        return parse_time(str(value)) <= cut.t0
    except ValueError as exc:
        raise SalesforceError(f"cannot read {cut.field} value {value!r} to apply the cut: {exc}") from exc
