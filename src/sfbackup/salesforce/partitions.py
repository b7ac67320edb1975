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
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.salesforce.cut import Cut

__all__ = ["KeysetPaging", "ParentFilter", "ReadPlan", "cut_admits", "iter_pages"]

#: Refusals of a filter's form (an `IN` list where the org wants `=`): the batch is read again one
#: parent at a time. Timeouts, limits and transient faults are not among them.
_FORM_REFUSALS = frozenset({"MALFORMED_QUERY", "INVALID_QUERY_FILTER_OPERATOR",
                            "EXTERNAL_OBJECT_UNSUPPORTED_EXCEPTION"})  # fmt: skip


@dataclass(frozen=True)
class ParentFilter:
    """Rows read in batches of parent keys: `field IN (...)`, or `field = '<key>'` per parent when
    Salesforce accepts only a single one (`equals_only`), or when it refuses the `IN` list
    (`equals_fallback`). The keys are the parents' `key` field (Id, or a setup entity's DurableId),
    read with the parent's own plan (`parent_read`, e.g. EntityDefinition's LIMIT batches)."""

    field: str
    parent: str
    equals_only: bool = False
    batch_size: int = 200
    key: str = "Id"
    equals_fallback: bool = False
    parent_read: ReadPlan | None = None

    def literal(self, value: str) -> str:
        return soql.id_literal(value) if self.key == "Id" else soql.string_literal(value)

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "parent": self.parent, "equals_only": self.equals_only,
                "batch_size": self.batch_size, "key": self.key, "equals_fallback": self.equals_fallback,
                "parent_read": self.parent_read.to_dict() if self.parent_read else None}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParentFilter:
        parent_read = data.get("parent_read")
        return cls(str(data["field"]), str(data["parent"]), bool(data.get("equals_only", False)),
                   int(data.get("batch_size", 200)), str(data.get("key") or "Id"),
                   bool(data.get("equals_fallback", False)),
                   ReadPlan.from_dict(parent_read) if isinstance(parent_read, dict) else None)  # fmt: skip


@dataclass(frozen=True)
class KeysetPaging:
    """An object without queryMore (EntityDefinition: "does not support queryMore(), use LIMIT to
    restrict the results to a single batch"): read in queries of `ORDER BY key LIMIT size`, each
    after the last key the previous one returned (`key > 'last'`)."""

    key: str
    size: int = 2000

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "size": self.size}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeysetPaging:
        return cls(str(data["key"]), int(data.get("size", 2000)))


@dataclass(frozen=True)
class ReadPlan:
    """The queries that read all of an object's rows.

    `conditions`: one query per condition (fixed values, e.g. `PublishStatus = 'Online'`);
    `parents`: one query per batch of parent Ids (read when the plan runs); neither: one query.
    `cut_in_soql` False: Salesforce refuses the cut's condition beside the required filter (or on
    that object at all), so the rows are read without it and the cut is applied by us.
    `countable` False: Salesforce refuses COUNT() (the rows are counted by reading them);
    `query_all` False: queryAll is refused (big objects have no recycle bin).
    `keyset`: no queryMore, each query one LIMIT batch after the last key read.
    `identity`: the field that tells rows apart (Id; DurableId for setup entities whose Id is the
    empty key `000000000000000AAA`).
    """

    reason: str
    conditions: tuple[str, ...] = ()
    parents: ParentFilter | None = None
    cut_in_soql: bool = True
    countable: bool = True
    query_all: bool = True
    only_fields: tuple[str, ...] = field(default=())
    keyset: KeysetPaging | None = None
    identity: str = "Id"

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "conditions": list(self.conditions),
            "parents": self.parents.to_dict() if self.parents else None,
            "cut_in_soql": self.cut_in_soql,
            "countable": self.countable,
            "query_all": self.query_all,
            "only_fields": list(self.only_fields),
            "keyset": self.keyset.to_dict() if self.keyset else None,
            "identity": self.identity,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReadPlan:
        parents, keyset = data.get("parents"), data.get("keyset")
        return cls(
            reason=str(data.get("reason") or ""),
            conditions=tuple(str(c) for c in data.get("conditions") or ()),
            parents=ParentFilter.from_dict(parents) if isinstance(parents, dict) else None,
            cut_in_soql=bool(data.get("cut_in_soql", True)),
            countable=bool(data.get("countable", True)),
            query_all=bool(data.get("query_all", True)),
            only_fields=tuple(str(f) for f in data.get("only_fields") or ()),
            keyset=KeysetPaging.from_dict(keyset) if isinstance(keyset, dict) else None,
            identity=str(data.get("identity") or "Id"),
        )

    @property
    def plain(self) -> bool:
        """One query under the cut: nothing this plan changes about how the rows are read."""
        return not self.conditions and self.parents is None and self.cut_in_soql and self.keyset is None


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
                yield f"{parents.field} = {parents.literal(parent_id)}", []
        else:
            for batch in soql.in_batches(ids, parents.batch_size, literal=parents.literal):
                yield soql.in_clause(parents.field, batch, parents.literal), list(batch)
        return
    if plan.conditions:
        for condition in plan.conditions:
            yield condition, []
        return
    yield None, []


def _parent_ids(client: SalesforceClient, parents: ParentFilter, *, include_deleted: bool) -> list[str]:
    ids: list[str] = []
    try:
        pages: Iterator[list[dict[str, Any]]]
        if parents.parent_read is not None:
            # A setup entity read its own way (EntityDefinition: LIMIT batches); no recycle bin.
            pages = iter_pages(client, parents.parent, [parents.key], parents.parent_read, None,
                               include_deleted=False)  # fmt: skip
        else:
            # Parents (Idea, ContentFolder, User...) have CreatedDate: a timed-out read goes by ranges.
            pages = query_rest.iter_query_pages_splitting(
                client, lambda window: soql.build_select(parents.parent, [parents.key], where=window),
                include_deleted=include_deleted,
            )
        for records in pages:
            ids.extend(str(r[parents.key]) for r in records if r.get(parents.key))
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
    literal: Callable[[str], str] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Pages of the query for `field IN (ids)`; a QUERY_TIMEOUT halves the batch (where no date
    range may go beside the filter, a smaller batch is the more selective query)."""
    query = build(soql.in_clause(field, ids, literal))
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
            yield from _halving_pages(client, build, field, half, include_deleted=include_deleted,
                                      literal=literal)  # fmt: skip
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
    """REST pages of every row the plan reads, each row once (by `plan.identity`), under the cut
    (applied in the SOQL, or by us to the rows read when `plan.cut_in_soql` is False). A timed-out
    query is read in date ranges of a field of `object_fields` (default: the selected ones)."""
    cut_where = cut.condition() if cut is not None and plan.cut_in_soql else None
    by_us = cut if cut is not None and cut.field is not None and not plan.cut_in_soql else None
    select = list(fields)
    needed = (str(by_us.field) if by_us else None, plan.identity, plan.keyset.key if plan.keyset else None)
    for name in needed:
        if name and not any(f.lower() == name.lower() for f in select):
            select.append(name)
    seen: set[str] = set()
    # A timed-out query is read in date ranges, where a condition beside the filter is allowed.
    split = query_rest.split_field(object_fields or select) if plan.cut_in_soql else None
    refused_in: list[bool] = []  # the org refused an IN list: later batches go one parent at a time

    def read(clause: str | None, batch: list[str]) -> Iterator[list[dict[str, Any]]]:
        def build(window: str | None) -> str:
            where = conjunction(cut_where, clause, extra_where, window)
            return soql.build_select(object_name, select, where=where)

        def build_batch(in_clause: str | None) -> str:
            where = conjunction(cut_where, in_clause, extra_where)
            return soql.build_select(object_name, select, where=where)

        if plan.keyset is not None:
            where = conjunction(cut_where, clause, extra_where)
            return _keyset_pages(client, object_name, select, plan.keyset, where,
                                 include_deleted=include_deleted)  # fmt: skip
        if split is not None:
            return query_rest.iter_query_pages_splitting(
                client, build, include_deleted=include_deleted, field=split
            )
        if batch and plan.parents is not None:
            return _halving_pages(client, build_batch, plan.parents.field, batch,
                                  include_deleted=include_deleted, literal=plan.parents.literal)  # fmt: skip
        return query_rest.iter_query_pages(client, build(None), include_deleted=include_deleted)

    for clause, batch in _clauses(client, plan, include_deleted=include_deleted):
        parents = plan.parents
        if batch and parents is not None and parents.equals_fallback:
            pages = _in_or_each(read, clause, batch, parents, refused_in)
        else:
            pages = read(clause, batch)
        for records in pages:
            kept = [r for r in records if by_us is None or cut_admits(by_us, r.get(str(by_us.field)))]
            kept = _once(kept, seen, plan.identity)
            if select != fields:
                kept = [{k: v for k, v in r.items() if k in fields} for r in kept]
            if kept:
                yield kept


def _in_or_each(
    read: Callable[[str | None, list[str]], Iterator[list[dict[str, Any]]]],
    clause: str | None,
    batch: list[str],
    parents: ParentFilter,
    refused_in: list[bool],
) -> Iterator[list[dict[str, Any]]]:
    """The batch's `IN` query; when the org refuses the `IN` form (here or in an earlier batch),
    one `=` query per parent instead."""
    if not refused_in:
        pages = read(clause, batch)
        try:
            first = next(pages)
        except StopIteration:
            return
        except SalesforceError as exc:
            if exc.error_code not in _FORM_REFUSALS:
                raise
            refused_in.append(True)
        else:
            yield first
            yield from pages
            return
    for key in batch:
        yield from read(f"{parents.field} = {parents.literal(key)}", [])


def _keyset_pages(
    client: SalesforceClient,
    object_name: str,
    select: list[str],
    keyset: KeysetPaging,
    where: str | None,
    *,
    include_deleted: bool,
) -> Iterator[list[dict[str, Any]]]:
    """`ORDER BY key LIMIT size` queries, each after the last key read, until one returns fewer
    rows than the LIMIT: no queryMore is ever needed. A query that times out is asked again with
    half the LIMIT (no date range can split an object read in key order)."""
    last: str | None = None
    size = keyset.size
    while True:
        after = f"{keyset.key} > {soql.string_literal(last)}" if last is not None else None
        query = soql.build_select(object_name, select, where=conjunction(where, after), order_by=keyset.key,
                                  limit=size)  # fmt: skip
        try:
            pages = query_rest.iter_query_pages(client, query, include_deleted=include_deleted)
            records = [r for page in pages for r in page]
        except SalesforceError as exc:
            if exc.error_code != "QUERY_TIMEOUT" or size < 2:
                raise
            size //= 2
            continue
        if records:
            yield records
        key = records[-1].get(keyset.key) if records else None
        if len(records) < size or key is None:
            return
        last = str(key)


def conjunction(*conditions: str | None) -> str | None:
    """Conditions joined by a flat AND: Salesforce looks for a required filter among the top-level
    conditions, and a parenthesised group hides it (every condition here is a comparison or an
    AND of comparisons, never an OR)."""
    present = [c for c in conditions if c]
    return " AND ".join(present) or None


def _once(records: Iterable[dict[str, Any]], seen: set[str], identity: str = "Id") -> list[dict[str, Any]]:
    """Records not yet seen (partitions by a parent can overlap when a row matches two batches)."""
    out = []
    for record in records:
        key = str(record.get(identity) or "")
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
