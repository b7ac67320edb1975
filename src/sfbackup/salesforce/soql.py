"""Building SOQL on the client side, safely.

Object and field names come from config files and describes; they are checked against Salesforce's
API-name rules before they reach a query, so a name can never smuggle SOQL in. Values are written
as literals with SOQL's escapes (strings), or in the exact forms SOQL accepts (dates, datetimes,
ids). `in_clauses` splits long ``IN (...)`` lists so each query stays under the REST URI limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from urllib.parse import quote

from sfbackup.errors import ConfigError

__all__ = [
    "MAX_REST_QUERY_URL_BYTES",
    "all_of",
    "build_count",
    "build_select",
    "date_literal",
    "datetime_literal",
    "encoded_length",
    "id_literal",
    "in_batches",
    "in_clause",
    "in_clauses",
    "string_literal",
    "validate_field_path",
    "validate_identifier",
]

#: Salesforce refuses a URI over 16,384 bytes (414); keep a margin for the path and headers.
MAX_REST_QUERY_URL_BYTES = 16_000
#: What one ``IN (...)`` clause may take of a REST query's URL-encoded length by default.
DEFAULT_IN_CLAUSE_BYTES = 8_000

# An API name: letters, digits and single underscores, starting with a letter, not ending with
# "_"; "__" only between a namespace prefix, the name and a suffix (ns__Name__c, Obj__History).
_SEGMENT = r"[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*"
_API_NAME = re.compile(rf"^(?=[A-Za-z]){_SEGMENT}(?:__{_SEGMENT}){{0,2}}$")
_MAX_NAME_LENGTH = 120
_RECORD_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_SOQL_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def validate_identifier(name: str, *, what: str = "name") -> str:
    """Return `name` if it is a valid sObject or field API name; ConfigError otherwise."""
    if not isinstance(name, str) or len(name) > _MAX_NAME_LENGTH or not _API_NAME.fullmatch(name):
        raise ConfigError(
            f"{what} {name!r} is not a Salesforce API name",
            hint="API names have letters, digits and underscores only, start with a letter and use "
            "'__' only before a suffix or after a namespace (e.g. Account, My_Object__c, ns__Field__c)",
        )
    return name


def validate_field_path(path: str) -> str:
    """Return a field or relationship path (``Owner.Name``) whose every part is an API name."""
    parts = path.split(".") if isinstance(path, str) else [path]
    if len(parts) > 5:
        raise ConfigError(f"field path {path!r} is deeper than SOQL allows (5 levels)")
    for part in parts:
        validate_identifier(part, what="field")
    return path


def build_select(
    object_name: str,
    fields: Sequence[str],
    *,
    where: str | None = None,
    order_by: str | None = None,
    limit: int | None = None,
) -> str:
    """``SELECT f1, f2 FROM Obj [WHERE ...] [ORDER BY ...] [LIMIT n]`` with checked names.

    `where` is a condition built from this module's literal helpers; it is used as given.
    """
    validate_identifier(object_name, what="object")
    if not fields:
        raise ConfigError(f"no fields to select from {object_name}")
    soql = f"SELECT {', '.join(validate_field_path(f) for f in fields)} FROM {object_name}"
    if where:
        soql += f" WHERE {where}"
    if order_by:
        soql += f" ORDER BY {validate_field_path(order_by)}"
    if limit is not None:
        if not isinstance(limit, int) or limit < 0:
            raise ConfigError(f"LIMIT must be a non-negative integer, not {limit!r}")
        soql += f" LIMIT {limit}"
    return soql


def build_count(object_name: str, *, where: str | None = None) -> str:
    """``SELECT COUNT() FROM Obj [WHERE ...]``: the count comes back as the query's totalSize."""
    validate_identifier(object_name, what="object")
    return f"SELECT COUNT() FROM {object_name}" + (f" WHERE {where}" if where else "")


def string_literal(value: str) -> str:
    """A quoted SOQL string literal with backslash escapes."""
    return "'" + "".join(_SOQL_ESCAPES.get(ch, ch) for ch in value) + "'"


def id_literal(record_id: str) -> str:
    """A quoted 15- or 18-character record id; ConfigError for anything else."""
    if not isinstance(record_id, str) or not _RECORD_ID.fullmatch(record_id):
        raise ConfigError(f"{record_id!r} is not a Salesforce record id (15 or 18 letters and digits)")
    return f"'{record_id}'"


def date_literal(value: date) -> str:
    """A SOQL date literal: ``2024-01-31`` (unquoted)."""
    if isinstance(value, datetime):
        value = value.astimezone(UTC).date() if value.tzinfo else value.date()
    return value.isoformat()


def datetime_literal(value: datetime) -> str:
    """A SOQL dateTime literal in UTC: ``2024-01-31T23:59:59Z`` (``.123Z`` when it has milliseconds).

    A naive datetime is taken as UTC. Sub-millisecond digits are dropped: Salesforce stores
    datetimes to the millisecond.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    millis = value.microsecond // 1000
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


def encoded_length(soql: str) -> int:
    """Bytes `soql` takes in a URL query string (``q=...``), as requests encodes it."""
    return len(quote(soql, safe=""))


def in_clause(field: str, values: Iterable[str], literal: Callable[[str], str] | None = None) -> str:
    """``Field IN ('a','b')`` for record ids (or other values, written by `literal`)."""
    validate_field_path(field)
    write = literal or id_literal
    return f"{field} IN ({','.join(write(v) for v in values)})"


def in_batches(
    values: Sequence[str],
    size: int = 200,
    *,
    max_encoded_bytes: int = DEFAULT_IN_CLAUSE_BYTES,
    literal: Callable[[str], str] | None = None,
) -> Iterator[list[str]]:
    """Consecutive slices of `values`, each at most `size` long and short enough, URL-encoded, to fit
    in `max_encoded_bytes` as an ``IN ('…','…')`` list."""
    if size < 1:
        raise ValueError("size must be at least 1")
    batch: list[str] = []
    used = 0
    for value in values:
        cost = encoded_length((literal or id_literal)(value)) + 3  # the literal and an encoded comma
        if batch and (len(batch) >= size or used + cost > max_encoded_bytes):
            yield batch
            batch, used = [], 0
        batch.append(value)
        used += cost
    if batch:
        yield batch


def in_clauses(
    field: str,
    values: Sequence[str],
    *,
    batch_size: int = 200,
    max_encoded_bytes: int = DEFAULT_IN_CLAUSE_BYTES,
) -> Iterator[str]:
    """``Field IN (...)`` conditions covering `values` in order, each within the size limits."""
    validate_field_path(field)
    for batch in in_batches(values, batch_size, max_encoded_bytes=max_encoded_bytes):
        yield in_clause(field, batch)


def all_of(*conditions: str | None) -> str | None:
    """Join SOQL conditions with AND (each parenthesised when there are several); None if none."""
    present = [c for c in conditions if c]
    if len(present) <= 1:
        return present[0] if present else None
    return " AND ".join(f"({c})" for c in present)
