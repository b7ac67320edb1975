"""Query restrictions real enterprise orgs apply beyond an object's required filter (`QueryRule`).

Each restriction is attached to an `ObjectDef` (`restrictions=`) and checked by the SOQL compiler
once the query is compiled; a refused query raises `OrgError` with Salesforce's code and text. The
source of each text is cited beside it and in docs/emulator.md; texts marked UNCONFIRMED there were
not found verbatim in a public recording and follow the nearest documented wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sfbackup.emulator.org.soql_parser import BoolOp, Comparison, Condition, OrgError, Query

if TYPE_CHECKING:
    from sfbackup.emulator.org.soql_compiler import Compiler, Plan

__all__ = [
    "BigObjectIndex",
    "CountTimesOut",
    "FieldsOnlyBesideLinkedEntity",
    "Restriction",
    "SelectsTooManyFields",
    "SingleBatchSetupObject",
    "TooManyActivities",
]


class Restriction:
    """One rule an object's queries must follow."""

    def check(self, compiler: Compiler, plan: Plan) -> None:
        raise NotImplementedError


def comparisons(cond: Condition | None) -> list[Comparison]:
    """Every comparison anywhere in a WHERE clause."""
    if cond is None:
        return []
    if isinstance(cond, Comparison):
        return [cond]
    return [c for operand in cond.operands for c in comparisons(operand)]


def has_bool_op(cond: Condition | None, op: str) -> bool:
    if not isinstance(cond, BoolOp):
        return False
    return cond.op == op or any(has_bool_op(operand, op) for operand in cond.operands)


def filtered_by(compiler: Compiler, names: tuple[str, ...], operators: tuple[str, ...] = ("=", "IN")) -> bool:
    """True when a top-level conjunct filters on one of `names` with one of `operators`."""
    wanted = {n.lower() for n in names}
    return any(
        len(c.field.parts) == 1 and c.field.parts[0].lower() in wanted and c.op in operators
        for c in compiler.top_conjuncts()
    )


#: The Bulk 1.0 failure text quoted in singer-io/tap-salesforce PR #98 (and jsforce#412): a user
#: without View All Data whose Task/Event query must evaluate sharing on too many related records.
OPERATION_TOO_LARGE_TEXT = "exceeded 100000 distinct who/what's"


@dataclass(frozen=True)
class TooManyActivities(Restriction):
    """Task/Event for a user without View All Data: refused unless filtered by a record id."""

    id_fields: tuple[str, ...] = ("Id", "WhatId", "WhoId", "AccountId", "OwnerId")

    def check(self, compiler: Compiler, plan: Plan) -> None:
        if not filtered_by(compiler, self.id_fields):
            raise OrgError(400, "OPERATION_TOO_LARGE", OPERATION_TOO_LARGE_TEXT)


#: The QUERY_TIMEOUT text Salesforce sends (restforce#790, airbyte#17503); the same the row-query
#: fault of `http/faults.py` uses. COUNT() timing out on a huge table: data-integrations/salesforce
#: PR #354 (REAL-FAILURE-MODES.md #12).
QUERY_TIMEOUT_TEXT = "Your query request was running for too long."


@dataclass(frozen=True)
class CountTimesOut(Restriction):
    """A huge table: COUNT() and other aggregates time out; row queries are served."""

    def check(self, compiler: Compiler, plan: Plan) -> None:
        if compiler.q.is_count or compiler.q.is_aggregate:
            raise OrgError(400, "QUERY_TIMEOUT", QUERY_TIMEOUT_TEXT)


#: Salesforce's text for a too-wide select list: capeterson/Grey-Tab#23.
QUERY_TOO_COMPLICATED_TEXT = (
    "Query is either selecting too many fields or the filter conditions are too complicated."
)


@dataclass(frozen=True)
class SelectsTooManyFields(Restriction):
    """An object whose formula-heavy fields make a select of more than `max_fields` too complicated."""

    max_fields: int

    def check(self, compiler: Compiler, plan: Plan) -> None:
        if len(compiler.expanded_select()) > self.max_fields:
            raise OrgError(400, "QUERY_TOO_COMPLICATED", QUERY_TOO_COMPLICATED_TEXT)


#: ContentDocumentLink's documented restriction (SALESFORCE-API.md 4.5; Data Loader log in the code
#: index; REAL-FAILURE-MODES.md #5).
NON_ID_FILTER_TEXT = (
    "Implementation restriction: filtering on non-id fields is only permitted when filtering by "
    "ContentDocumentLink.LinkedEntityId using the equals operator."
)


@dataclass(frozen=True)
class FieldsOnlyBesideLinkedEntity(Restriction):
    """ContentDocumentLink: conditions on non-Id fields only beside `LinkedEntityId = <id>`."""

    def check(self, compiler: Compiler, plan: Plan) -> None:
        if filtered_by(compiler, ("LinkedEntityId",), ("=",)):
            return
        for c in comparisons(compiler.q.where):
            fd = compiler.obj.field(c.field.parts[-1]) if len(c.field.parts) == 1 else None
            if fd is None or fd.type not in ("id", "reference"):
                raise OrgError(400, "MALFORMED_QUERY", NON_ID_FILTER_TEXT)


#: Tooling API "SOQL Operation Limitations" (EntityDefinition, FieldDefinition, ...): texts quoted in
#: the Salesforce doc; EXCEEDED_ID_LIMIT text from SalesforceLabs/OrgCheck#429 and #173.
STORAGE_TYPE_TEXT = (
    "The requested operation is not yet supported by this SObject storage type, contact "
    "salesforce.com support for more information."
)


@dataclass(frozen=True)
class SingleBatchSetupObject(Restriction):
    """EntityDefinition and kin: no COUNT()/GROUP BY, no OR, only equals comparisons, and no
    queryMore (a result larger than one batch is refused: the REST route checks `paging_refusal`)."""

    def check(self, compiler: Compiler, plan: Plan) -> None:
        q, name = compiler.q, compiler.obj.name
        if q.is_count or q.is_aggregate:
            raise OrgError(400, "INVALID_OPERATION", STORAGE_TYPE_TEXT)
        if has_bool_op(q.where, "OR"):
            raise OrgError(400, "MALFORMED_QUERY", "Disjunctions not supported")
        if has_bool_op(q.where, "NOT") or any(c.op in ("!=", "NOT IN") for c in comparisons(q.where)):
            raise OrgError(400, "MALFORMED_QUERY", "Only equals comparisons permitted")
        if q.limit is None:
            plan.paging_refusal = OrgError(
                400,
                "EXCEEDED_ID_LIMIT",
                f"{name} does not support queryMore(), use LIMIT to restrict the results to a single batch",
            )


#: BIG_OBJECT_UNSUPPORTED_OPERATION with the gap text of singer-io/tap-salesforce PR #101
#: (FieldHistoryArchive); the rules are SOQL and SOSL Reference "SOQL with Big Objects".
BIG_OBJECT_GAP_TEXT = "Filters may not have any gaps within the composite key"
#: "you can use IN only one time" (an IN of one value is an `=`) and "Subqueries aren't supported"
#: (same reference, API 238.0+); the texts are UNCONFIRMED (the rules' own words).
BIG_OBJECT_IN_TEXT = "IN can be used only one time in a big object query"
BIG_OBJECT_SUBQUERY_TEXT = "Subqueries aren't supported on big objects"


@dataclass(frozen=True)
class BigObjectIndex(Restriction):
    """A big object: filters only on its index fields, from the first, without gaps; `=` or one IN
    before the last, a range only on the last; no !=, LIKE, NOT IN, INCLUDES, EXCLUDES, OR or NOT;
    no aggregates; no queryAll."""

    index: tuple[str, ...]

    def check(self, compiler: Compiler, plan: Plan) -> None:
        q = compiler.q
        code = "BIG_OBJECT_UNSUPPORTED_OPERATION"
        if q.is_count or q.is_aggregate:
            raise OrgError(400, code, "Aggregate functions not supported")
        if plan.include_deleted:
            raise OrgError(400, code, "queryAll is not supported on big objects")
        plan.reads_index = True
        if q.where is None:
            return
        if isinstance(q.where, BoolOp) and (q.where.op != "AND" or has_bool_op(q.where, "OR")):
            raise OrgError(400, code, BIG_OBJECT_GAP_TEXT)
        conjuncts = comparisons(q.where)
        if any(c.op in ("!=", "LIKE", "NOT IN", "INCLUDES", "EXCLUDES") for c in conjuncts):
            raise OrgError(
                400,
                code,
                "The !=, LIKE, NOT IN, EXCLUDES, and INCLUDES operators are not valid in any query.",
            )
        if any(isinstance(c.value, Query) for c in conjuncts):
            raise OrgError(400, code, BIG_OBJECT_SUBQUERY_TEXT)
        if sum(1 for c in conjuncts if c.op == "IN" and isinstance(c.value, tuple) and len(c.value) > 1) > 1:
            raise OrgError(400, code, BIG_OBJECT_IN_TEXT)
        position = {name.lower(): i for i, name in enumerate(self.index)}
        used = sorted({position.get(c.field.text.lower(), len(self.index)) for c in conjuncts})
        if used != list(range(len(used))):
            raise OrgError(400, code, BIG_OBJECT_GAP_TEXT)
        last = len(used) - 1
        for c in conjuncts:
            if c.op not in ("=", "IN") and position[c.field.text.lower()] != last:
                raise OrgError(400, code, BIG_OBJECT_GAP_TEXT)
