"""The emulator's SOQL back end: compiles a parsed `Query` to parameterised SQLite.

`compile_query()` resolves names against the catalog (field paths, parent joins, polymorphic
lookups), enforces Salesforce's restrictions (unknown columns and relationships, per-object query
rules, aggregate rules) with Salesforce's error codes and texts, judges selectivity, and produces a
`Plan`: SQL fragments whose values are always bound as parameters, and how to render each row as a
REST record or a CSV row.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sfbackup.emulator.org.catalog_model import TEXT_TYPES
from sfbackup.emulator.org.soql_parser import (
    BoolOp,
    Comparison,
    Condition,
    FieldPath,
    Literal,
    OrgError,
    Query,
    SelectItem,
    date_literal_range,
    located,
    malformed,
)

_NO_SUCH_COLUMN = (
    "No such column '{f}' on entity '{o}'. If you are attempting to use a custom field, be "
    "sure to append the '__c' after the custom field name. Please reference your WSDL or "
    "the describe call for the appropriate names."
)
_BAD_RELATIONSHIP = (
    "Didn't understand relationship '{r}' in field path. If you are attempting to use a "
    "custom relationship, be sure to append the '__r' after the custom relationship name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)
#: base64 field -> the field holding its size (null size = no body).
BLOB_LENGTH_FIELDS = {"Body": "BodyLength", "VersionData": "ContentSize", "LogFile": "LogFileLength"}
#: Text types compared case-insensitively, as SOQL does (Ids are matched as written).
_STRINGY = TEXT_TYPES - {"id", "reference"}
_INDEXED = frozenset(
    {"id", "name", "ownerid", "createddate", "systemmodstamp", "lastmodifieddate", "recordtypeid"}
)


def sql_datetime(value: datetime) -> str:
    """The stored (and Bulk CSV) form of a datetime: `2024-11-07T07:00:00.000Z`, UTC."""
    v = value.astimezone(UTC)
    return f"{v:%Y-%m-%dT%H:%M:%S}.{v.microsecond // 1000:03d}Z"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Resolved:
    """A field path resolved to a table alias and field definition."""

    alias: str
    fd: Any  # catalog.FieldDef
    obj: Any  # catalog.ObjectDef that owns fd
    rel_path: tuple[str, ...]  # relationship names (describe spelling) leading to obj
    options: list[tuple[str, Any]] | None = None  # polymorphic lookup: (alias, ObjectDef) per target


@dataclass
class Node:
    """How to build one level of a REST record from a SQL row."""

    type_name: str
    id_index: int | None
    items: list[tuple[str, str, Any]] = field(default_factory=list)  # key, kind, arg
    type_index: int | None = None  # polymorphic lookups: the column holding the record's type


class Compiler:
    """Turns a parsed `Query` into SQLite SQL with parameters and a rendering plan."""

    def __init__(
        self, query: Query, catalog: dict[str, Any], *, today: date, api: str, alias: str = "t"
    ) -> None:
        self.q = query
        self.alias = alias  # table aliases are alias + n (semi-join subqueries use their own)
        self.catalog = catalog
        self.today = today
        self.api = api
        self.joins: dict[tuple[str, ...], list[tuple[str, Any]]] = {}  # rel path -> [(alias, ObjectDef)]
        self.join_sql: list[str] = []
        self.params: list[Any] = []
        obj = catalog.get(query.object_name.lower())
        if obj is None:
            raise OrgError(
                400,
                "INVALID_TYPE",
                located(
                    query.soql,
                    query.object_pos,
                    f"sObject type '{query.object_name}' is not supported. If you are attempting to use a "
                    "custom object, be sure to append the '__c' after the entity name. Please reference your "
                    "WSDL or the describe call for the appropriate names.",
                ),
            )
        self.obj = obj

    # paths ---------------------------------------------------------------------------------------
    def resolve(self, path: FieldPath) -> Resolved:
        obj, alias = self.obj, self.alias + "0"
        rels: list[str] = []
        bad = OrgError(400, "INVALID_FIELD", located(self.q.soql, path.pos, ""))
        for hop, rel in enumerate(path.parts[:-1]):
            ref = next(
                (f for f in obj.fields if f.relationship_name and f.relationship_name.lower() == rel.lower()),
                None,
            )
            targets = [t for t in (self.catalog.get(n.lower()) for n in ref.reference_to) if t] if ref else []
            polymorphic = len(targets) > 1
            if ref is None or not targets or (polymorphic and hop != len(path.parts) - 2):
                bad.message = located(self.q.soql, path.pos, _BAD_RELATIONSHIP.format(r=rel))
                raise bad
            rels.append(ref.relationship_name)
            key = tuple(rels)
            if key not in self.joins:
                aliases = []
                for target in targets:
                    new_alias = f"{self.alias}{len(self.join_sql) + 1}"
                    aliases.append((new_alias, target))
                    self.join_sql.append(
                        f"LEFT JOIN {quote_ident(target.name)} AS {new_alias} ON "
                        f'{new_alias}."Id" = {alias}.{quote_ident(ref.name)}'
                    )
                self.joins[key] = aliases
            if polymorphic:
                # A polymorphic lookup (Owner, Parent, LinkedEntity): one join per possible target.
                options = self.joins[key]
                fd = next((o.field(path.parts[-1]) for _, o in options if o.field(path.parts[-1])), None)
                if fd is None:
                    bad.message = located(
                        self.q.soql, path.pos, _NO_SUCH_COLUMN.format(f=path.parts[-1], o="Name")
                    )
                    raise bad
                return Resolved("", fd, options[0][1], key, options)
            alias, obj = self.joins[key][0]
        fd = obj.field(path.parts[-1])
        if fd is None:
            raise OrgError(
                400,
                "INVALID_FIELD",
                located(self.q.soql, path.pos, _NO_SUCH_COLUMN.format(f=path.parts[-1], o=obj.name)),
            )
        return Resolved(alias, fd, obj, tuple(rels))

    def column(self, r: Resolved, name: str | None = None) -> str:
        name = name or r.fd.name
        if r.options:
            cols = [f"{a}.{quote_ident(name)}" for a, o in r.options if o.field(name) is not None]
            return f"COALESCE({', '.join(cols)})" if len(cols) > 1 else cols[0]
        return f"{r.alias}.{quote_ident(name)}"

    # WHERE ----------------------------------------------------------------------------------------
    def condition(self, cond: Condition, negated: bool = False) -> str:
        """SQL for a WHERE condition. Under NOT, comparisons are made null-safe (SOQL treats null as a
        value: NOT (Industry = 'x') keeps rows whose Industry is null)."""
        if isinstance(cond, BoolOp):
            if cond.op == "NOT":
                return f"NOT ({self.condition(cond.operands[0], True)})"
            return "(" + f" {cond.op} ".join(self.condition(c, negated) for c in cond.operands) + ")"
        sql = self.comparison(cond)
        return f"IFNULL({sql}, 0)" if negated else sql

    def comparison(self, cond: Comparison) -> str:
        r = self.resolve(cond.field)
        fd = r.fd
        unfilterable = fd.type in ("address", "location", "base64", "encryptedstring")
        if unfilterable or fd.long_text or fd.not_filterable:
            raise OrgError(
                400,
                "INVALID_FIELD",
                located(
                    self.q.soql, cond.field.pos, f"field '{fd.name}' can not be filtered in a query call"
                ),
            )
        col = self.column(r)
        text = fd.type in _STRINGY
        nocase = " COLLATE NOCASE" if text else ""
        op = cond.op
        if isinstance(cond.value, Query):
            return self.semi_join(col, op, cond.value, fd)
        if op in ("IN", "NOT IN", "INCLUDES", "EXCLUDES"):
            assert isinstance(cond.value, tuple)
            values = [self.bind_value(fd, v) for v in cond.value]
            if op in ("INCLUDES", "EXCLUDES"):
                parts = []
                for v in values:
                    terms = [f"(';' || {col} || ';') LIKE ?" for _ in str(v).split(";")]
                    self.params.extend(f"%;{p.strip()};%" for p in str(v).split(";"))
                    parts.append("(" + " AND ".join(terms) + ")")
                any_sql = "(" + " OR ".join(parts) + ")"
                return any_sql if op == "INCLUDES" else f"({col} IS NULL OR NOT {any_sql})"
            non_null = [v for v in values if v is not None]
            has_null = len(non_null) != len(values)
            self.params.extend(non_null)
            marks = ", ".join("?" * len(non_null))
            if op == "IN":
                sql = f"{col}{nocase} IN ({marks})" if non_null else "0"
                return f"({sql} OR {col} IS NULL)" if has_null else sql
            sql = f"{col}{nocase} NOT IN ({marks})" if non_null else "1"
            return f"({col} IS NOT NULL AND {sql})" if has_null else f"({col} IS NULL OR {sql})"
        assert isinstance(cond.value, Literal)
        lit = cond.value
        if lit.kind == "dateliteral":
            return self.date_range(col, fd, op, lit)
        if op == "LIKE":
            if not text:
                raise OrgError(
                    400,
                    "INVALID_FIELD",
                    located(self.q.soql, cond.pos, f"invalid operator on {fd.type} field: LIKE"),
                )
            self.params.append(self.bind_value(fd, lit))
            return f"{col} LIKE ? ESCAPE '\\'"
        value = self.bind_value(fd, lit)
        if value is None:
            if op == "=":
                return f"{col} IS NULL"
            if op == "!=":
                return f"{col} IS NOT NULL"
            return "0"
        self.params.append(value)
        if op == "!=":
            return f"{col} IS NOT ?{nocase}"
        return f"{col} {op} ?{nocase}"

    def semi_join(self, col: str, op: str, sub: Query, fd: Any) -> str:
        """`Id IN (SELECT AccountId FROM Contact ...)`: one id or reference field, no nesting."""
        inner = Compiler(sub, self.catalog, today=self.today, api="rest", alias=self.alias + "s")
        item = sub.select[0]
        if (
            len(sub.select) != 1
            or item.path is None
            or item.kind != "field"
            or fd.type not in ("id", "reference")
        ):
            raise malformed(self.q.soql, sub.object_pos, "unexpected token: 'SELECT'")
        target = inner.resolve(item.path)
        if target.fd.type not in ("id", "reference"):
            raise malformed(self.q.soql, item.pos, f"unexpected token: '{item.text}'")
        where = [inner.condition(sub.where)] if sub.where is not None else []
        if inner.obj.has_is_deleted:
            where.append(f'{inner.alias}0."IsDeleted" = 0')
        sql = (
            f"SELECT {inner.column(target)} FROM {quote_ident(inner.obj.name)} AS {inner.alias}0"
            + "".join(" " + j for j in inner.join_sql)
            + (" WHERE " + " AND ".join(where) if where else "")
        )
        self.params.extend(inner.params)
        if op == "IN":
            return f"{col} IN ({sql})"
        if op == "NOT IN":
            return f"({col} IS NULL OR {col} NOT IN ({sql}))"
        raise malformed(self.q.soql, sub.object_pos, "unexpected token: 'SELECT'")

    def date_range(self, col: str, fd: Any, op: str, lit: Literal) -> str:
        if fd.type not in ("date", "datetime"):
            raise self.type_error(fd, lit)
        start, end = date_literal_range(str(lit.value), self.today)
        if fd.type == "date":
            lo, hi = start.isoformat(), end.isoformat()
        else:
            lo = sql_datetime(datetime(start.year, start.month, start.day, tzinfo=UTC))
            hi = sql_datetime(datetime(end.year, end.month, end.day, tzinfo=UTC))
        sql = {
            "=": f"({col} >= ? AND {col} < ?)",
            "!=": f"({col} IS NULL OR {col} < ? OR {col} >= ?)",
            ">": f"{col} >= ?",
            ">=": f"{col} >= ?",
            "<": f"{col} < ?",
            "<=": f"{col} < ?",
        }[op]
        self.params.extend({"=": [lo, hi], "!=": [lo, hi], ">": [hi], ">=": [lo], "<": [lo], "<=": [hi]}[op])
        return sql

    def type_error(self, fd: Any, lit: Literal) -> OrgError:
        expected = {
            "date": "date",
            "datetime": "dateTime",
            "boolean": "boolean",
            "int": "int",
            "long": "long",
        }.get(fd.type, "double" if fd.type in ("double", "currency", "percent") else "string")
        quoting = "be enclosed in quotes" if expected == "string" else "not be enclosed in quotes"
        return OrgError(
            400,
            "INVALID_FIELD",
            located(
                self.q.soql,
                lit.pos,
                f"value of filter criterion for field '{fd.name}' must be of type {expected} "
                f"and should {quoting}",
            ),
        )

    def bind_value(self, fd: Any, lit: Literal) -> Any:
        if lit.kind == "null":
            return None
        t = fd.type
        if t in ("id", "reference"):
            if lit.kind != "string":
                raise self.type_error(fd, lit)
            from sfbackup.emulator.org.datagen import normalize_id

            value = normalize_id(str(lit.value))
            if value is None:
                raise OrgError(
                    400,
                    "INVALID_QUERY_FILTER_OPERATOR",
                    located(self.q.soql, lit.pos, f"invalid ID field: {lit.value}"),
                )
            return value
        if t in _STRINGY or t == "time":
            if lit.kind != "string":
                raise self.type_error(fd, lit)
            return lit.value
        if t == "boolean":
            if lit.kind != "boolean":
                raise self.type_error(fd, lit)
            return 1 if lit.value else 0
        if t in ("int", "long", "double", "currency", "percent"):
            if lit.kind != "number":
                raise self.type_error(fd, lit)
            return lit.value
        if t == "date":
            if lit.kind != "date":
                raise self.type_error(fd, lit)
            return lit.value.isoformat()
        if t == "datetime":
            if lit.kind != "datetime":
                raise self.type_error(fd, lit)
            return sql_datetime(lit.value)
        raise self.type_error(fd, lit)

    # selectivity & restrictions -------------------------------------------------------------------
    def top_conjuncts(self) -> list[Comparison]:
        w = self.q.where
        if w is None:
            return []
        if isinstance(w, Comparison):
            return [w]
        if w.op == "AND":
            return [c for c in w.operands if isinstance(c, Comparison)]
        return []

    def is_key_lookup(self) -> bool:
        """Whether the query filters (`=`/`IN`) on the key a virtual setup object is served by
        (`QueryRule.served_by_key`: a flex queue's JobType, an entity's DurableId), so it never times
        out whatever share of the rows it selects."""
        rule = self.obj.query_rule
        if rule is None or not rule.served_by_key:
            return False
        required = {name.lower() for wanted in rule.fields
                    for name in ((wanted,) if isinstance(wanted, str) else wanted)}  # fmt: skip
        return any(
            len(c.field.parts) == 1 and c.field.parts[0].lower() in required and c.op in ("=", "IN")
            for c in self.top_conjuncts()
        )

    def is_selective(self) -> bool:
        for c in self.top_conjuncts():
            if len(c.field.parts) != 1 or c.op not in ("=", "IN", "<", "<=", ">", ">="):
                continue
            fd = self.obj.field(c.field.parts[0])
            indexed = fd is not None and (
                fd.name.lower() in _INDEXED or fd.type == "reference" or fd.external_id or fd.unique
            )
            if indexed and not (isinstance(c.value, Literal) and c.value.kind == "null"):
                return True
        return False

    def check_query_rule(self) -> None:
        """Salesforce's per-object restrictions: required filters and limited select lists."""
        rule = self.obj.query_rule
        if rule is None:
            return
        if rule.select_only:
            for item in self.q.select:
                name = item.path.text.lower() if item.path is not None else ""
                if not any(fnmatch.fnmatchcase(name, pattern) for pattern in rule.select_only):
                    raise OrgError(400, "INVALID_FIELD", rule.select_message)
        equals_only = {f.lower() for f in rule.equals_only}
        filtered = {
            ".".join(c.field.parts).lower()
            for c in self.top_conjuncts()
            if c.op in rule.operators
            and (c.op == "=" or ".".join(c.field.parts).lower() not in equals_only)
        }
        for wanted in rule.fields:
            if all(name.lower() in filtered for name in ((wanted,) if isinstance(wanted, str) else wanted)):
                return
        raise OrgError(400, rule.error_code, rule.message)

    # SELECT ---------------------------------------------------------------------------------------
    def build(self, *, include_deleted: bool) -> Plan:
        q, obj = self.q, self.obj
        if not obj.queryable or obj.refuses_query:
            raise OrgError(
                400, "INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support query"
            )
        plan = Plan(
            obj=obj,
            fields=[i.text for i in q.select],
            is_count=q.is_count,
            is_aggregate=q.is_aggregate and not q.is_count,
        )
        if plan.is_aggregate:
            self.aggregate_select(plan)
        elif not q.is_count:
            self.record_select(plan)
        for item in q.select:
            if item.kind == "count_all" and len(q.select) > 1:
                raise malformed(q.soql, item.pos, "unexpected token: 'COUNT'")
        where = [self.condition(q.where)] if q.where is not None else []
        if obj.has_is_deleted and not include_deleted:
            where.append(f'{self.alias}0."IsDeleted" = 0')
        plan.where_sql = (" WHERE " + " AND ".join(where)) if where else ""
        order = []
        for path, desc, nulls in q.order_by:
            r = self.resolve(path)
            if (
                r.fd.type in ("address", "location", "base64", "multipicklist", "encryptedstring")
                or r.fd.long_text
                or r.fd.not_filterable
            ):
                raise OrgError(
                    400,
                    "INVALID_FIELD",
                    located(q.soql, path.pos, f"field '{r.fd.name}' can not be sorted in a query call"),
                )
            text = " COLLATE NOCASE" if r.fd.type in _STRINGY else ""
            order.append(
                f"{self.column(r)}{text}{' DESC' if desc else ''}{' NULLS ' + nulls if nulls else ''}"
            )
            plan.order_terms.append((f"{self.column(r)}{text}", desc, nulls))
        if not plan.is_aggregate and not q.is_count:
            order.append(f"{self.alias}0.rowid")
            plan.order_terms.append((f"{self.alias}0.rowid", False, None))
        plan.order_sql = (" ORDER BY " + ", ".join(order)) if order else ""
        plan.from_sql = f" FROM {quote_ident(obj.name)} AS {self.alias}0" + "".join(
            " " + j for j in self.join_sql
        )
        plan.params = self.params
        plan.limit, plan.offset = q.limit, q.offset or 0
        plan.include_deleted = include_deleted
        plan.key_lookup = self.is_key_lookup()
        plan.is_selective = plan.key_lookup or self.is_selective()
        self.check_query_rule()
        for restriction in obj.restrictions:
            restriction.check(self, plan)
        if self.api == "bulk":
            self.check_bulk(plan)
        return plan

    def check_bulk(self, plan: Plan) -> None:
        q, obj = self.q, self.obj
        if not obj.bulk_supported:
            # Salesforce's text, verbatim (a real org's job creation, airbytehq/airbyte#13088)
            raise OrgError(400, "INVALIDENTITY", f"Entity '{obj.name}' is not supported by the Bulk API.")
        if q.is_count or plan.is_aggregate:
            raise OrgError(400, "API_ERROR", "Aggregate queries are not supported in Bulk Query")
        if q.offset is not None:
            raise OrgError(400, "API_ERROR", "OFFSET is not supported in Bulk Query")
        if plan.subqueries:
            raise OrgError(400, "API_ERROR", "Aggregate Relationships not supported in Bulk Query")
        if any(item.kind == "fields" for item in q.select):
            raise OrgError(400, "API_ERROR", "FIELDS() is not supported in Bulk Query")
        for item in q.select:
            if item.path is None:
                continue
            fd = self.resolve(item.path).fd
            if fd.type in ("address", "location"):
                raise OrgError(400, "API_ERROR", "Selecting compound data not supported in Bulk Query")
            if fd.type == "base64":
                raise OrgError(400, "API_ERROR", "Binary field not supported in Bulk Query")

    def add(self, plan: Plan, rest_expr: str, csv_expr: str | None = None) -> int:
        plan.rest_cols.append(rest_expr)
        return len(plan.rest_cols) - 1

    def node_for(self, plan: Plan, rel_path: tuple[str, ...]) -> Node:
        if rel_path in plan.nodes:
            return plan.nodes[rel_path]
        parent = self.node_for(plan, rel_path[:-1])
        options = self.joins[rel_path]
        if len(options) == 1:
            node = Node(options[0][1].name, self.add(plan, f'{options[0][0]}."Id"'))
        else:
            ids = ", ".join(f'{a}."Id"' for a, _ in options)
            kinds = " ".join(f"WHEN {a}.\"Id\" IS NOT NULL THEN '{o.name}'" for a, o in options)
            node = Node(options[0][1].name, self.add(plan, f"COALESCE({ids})"))
            node.type_index = self.add(plan, f"CASE {kinds} END")
        parent.items.append((rel_path[-1], "parent", node))
        plan.nodes[rel_path] = node
        return node

    def expanded_select(self) -> list[SelectItem]:
        """The select list with FIELDS(ALL|STANDARD|CUSTOM) replaced by the fields it stands for."""
        items: list[SelectItem] = []
        for item in self.q.select:
            if item.kind != "fields":
                items.append(item)
                continue
            if item.func != "STANDARD" and (self.q.limit is None or self.q.limit > 200):
                raise malformed(
                    self.q.soql, item.pos, "The SOQL FIELDS function must have a LIMIT of at most 200"
                )
            for fd in self.obj.fields:
                if item.func == "ALL" or fd.custom == (item.func == "CUSTOM"):
                    items.append(
                        SelectItem("field", FieldPath((fd.name,), item.pos), pos=item.pos, text=fd.name)
                    )
        return items

    def record_select(self, plan: Plan) -> None:
        plan.nodes[()] = plan.root = Node(self.obj.name, None)
        plan.root.id_index = self.add(plan, f'{self.alias}0."Id"')
        for item in self.expanded_select():
            if item.kind == "subquery":
                assert item.subquery is not None
                sub = item.subquery
                match = next(
                    (
                        c
                        for c in self.obj.child_relationships
                        if c[2] and c[2].lower() == sub.object_name.lower()
                    ),
                    None,
                )
                if match is None:
                    raise OrgError(
                        400,
                        "INVALID_TYPE",
                        located(
                            self.q.soql,
                            sub.object_pos,
                            _BAD_RELATIONSHIP.format(r=sub.object_name).replace(
                                "in field path", "in FROM clause"
                            ),
                        ),
                    )
                plan.subqueries.append(match[2] or "")
                plan.root.items.append((match[2] or "", "subquery", (sub, match[0], match[1])))
                plan.csv_cols.append("NULL")
                plan.csv_header.append(match[2] or "")
                continue
            if item.kind != "field" or item.path is None:
                raise malformed(self.q.soql, item.pos, f"unexpected token: '{item.func}'")
            r = self.resolve(item.path)
            node = self.node_for(plan, r.rel_path)
            fd, col = r.fd, self.column(r)
            plan.csv_header.append(".".join((*r.rel_path, fd.name)))
            if fd.type == "address":
                parts = {
                    p: self.add(plan, self.column(r, fd.name.removesuffix("Address") + p))
                    for p in (
                        "City",
                        "Country",
                        "GeocodeAccuracy",
                        "Latitude",
                        "Longitude",
                        "PostalCode",
                        "State",
                        "Street",
                    )
                }
                node.items.append((fd.name, "address", parts))
                plan.csv_cols.append("NULL")
            elif fd.type == "location":
                base = fd.name.removesuffix("__c")
                lat = self.add(plan, self.column(r, base + "__Latitude__s"))
                lon = self.add(plan, self.column(r, base + "__Longitude__s"))
                node.items.append((fd.name, "location", (lat, lon)))
                plan.csv_cols.append("NULL")
            elif fd.type == "base64":
                length = self.add(plan, self.column(r, BLOB_LENGTH_FIELDS.get(fd.name, "Id")))
                node.items.append((fd.name, "blob", (node.id_index, r.obj.name, fd.name, length)))
                plan.csv_cols.append("NULL")
            elif fd.type == "boolean":
                node.items.append((fd.name, "bool", self.add(plan, col)))
                plan.csv_cols.append(f"CASE {col} WHEN 1 THEN 'true' WHEN 0 THEN 'false' END")
            elif fd.type == "datetime":
                node.items.append((fd.name, "value", self.add(plan, f"substr({col}, 1, 23) || '+0000'")))
                plan.csv_cols.append(col)
            else:
                node.items.append((fd.name, "value", self.add(plan, col)))
                if fd.csv_sql is not None:
                    plan.csv_cols.append(fd.csv_sql.format(col=col))
                    continue
                if fd.type in ("double", "currency", "percent"):
                    plan.csv_real_cols.add(len(plan.csv_cols))
                plan.csv_cols.append(col)

    def aggregate_select(self, plan: Plan) -> None:
        q = self.q
        grouped = {p.text.lower() for p in q.group_by}
        group_cols = [self.column(self.resolve(p)) for p in q.group_by]
        expr_n = 0
        for item in q.select:
            if item.kind == "aggregate":
                assert item.path is not None
                r = self.resolve(item.path)
                col = self.column(r)
                func = item.func or "COUNT"
                sql = f"COUNT(DISTINCT {col})" if func == "COUNT_DISTINCT" else f"{func}({col})"
                if func in ("MIN", "MAX") and r.fd.type == "datetime":
                    sql = f"substr({sql}, 1, 23) || '+0000'"
                key = item.alias or f"expr{expr_n}"
                if not item.alias:
                    expr_n += 1
                kind = "bool" if func in ("MIN", "MAX") and r.fd.type == "boolean" else "value"
                plan.agg_items.append((key, kind, self.add(plan, sql)))
            elif item.kind == "field" and item.path is not None:
                if item.path.text.lower() not in grouped:
                    raise malformed(
                        q.soql, item.pos, f"Field must be grouped or aggregated: {item.path.text}"
                    )
                r = self.resolve(item.path)
                kind = "bool" if r.fd.type == "boolean" else "value"
                col = self.column(r)
                if r.fd.type == "datetime":
                    col = f"substr({col}, 1, 23) || '+0000'"
                plan.agg_items.append((item.alias or r.fd.name, kind, self.add(plan, col)))
            else:
                raise malformed(q.soql, item.pos, "unexpected token: '('")
        plan.group_sql = (" GROUP BY " + ", ".join(group_cols)) if group_cols else ""


@dataclass
class Plan:
    """A compiled query: SQL pieces, parameters and how to render each row."""

    obj: Any
    fields: list[str]
    is_count: bool = False
    is_aggregate: bool = False
    is_selective: bool = False
    key_lookup: bool = False  # filtered on the key the object's query rule requires: always selective
    rest_cols: list[str] = field(default_factory=list)
    csv_cols: list[str] = field(default_factory=list)
    csv_header: list[str] = field(default_factory=list)
    csv_real_cols: set[int] = field(default_factory=set)  # indexes of csv_cols holding REAL values
    nodes: dict[tuple[str, ...], Node] = field(default_factory=dict)
    root: Node | None = None
    agg_items: list[tuple[str, str, int]] = field(default_factory=list)
    subqueries: list[str] = field(default_factory=list)
    from_sql: str = ""
    where_sql: str = ""
    group_sql: str = ""
    order_sql: str = ""
    order_terms: list[tuple[str, bool, str | None]] = field(default_factory=list)  # (sql, desc, nulls)
    params: list[Any] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    include_deleted: bool = False
    paging_refusal: OrgError | None = None  # raised when the result needs more than one REST batch


def compile_query(
    query: Query, catalog: dict[str, Any], *, include_deleted: bool, api: str, today: date
) -> Plan:
    """Compile a parsed query against the catalog (raises OrgError with Salesforce's codes)."""
    return Compiler(query, catalog, today=today, api=api).build(include_deleted=include_deleted)
