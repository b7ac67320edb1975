"""REST query and queryAll: pages of records following nextRecordsUrl, and COUNT() queries."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sfbackup.errors import SalesforceError, UnsupportedQuery
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.salesforce.soql import (
    MAX_REST_QUERY_URL_BYTES,
    all_of,
    build_count,
    datetime_literal,
    encoded_length,
    validate_field_path,
)

__all__ = [
    "count", "count_by", "count_splitting", "iter_query_pages", "iter_query_pages_splitting", "total_size",
]

#: Bounds of the first CreatedDate window and of the halving done on QUERY_TIMEOUT.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)
MAX_SPLIT_DEPTH = 24
MIN_SPLIT_WINDOW = timedelta(seconds=1)


def iter_query_pages(
    client: SalesforceClient, soql: str, *, include_deleted: bool, batch_size: int | None = None
) -> Iterator[list[dict[str, Any]]]:
    """Yield the records of `soql` page by page (``queryAll`` when `include_deleted`).

    Records lose their ``attributes`` (nested parent records too); compound address/location
    values stay as the objects Salesforce sends. Numbers with a fraction come back as `Decimal`
    so currency keeps every digit. Empty pages are not yielded. `batch_size` (200-2000) asks for
    smaller pages through ``Sforce-Query-Options`` (Salesforce treats it as a hint).
    """
    path = client.data_path("queryAll/" if include_deleted else "query/")
    url_bytes = len(client.instance_url) + len(path) + 3 + encoded_length(soql)
    if url_bytes > MAX_REST_QUERY_URL_BYTES:
        raise UnsupportedQuery(
            f"the query is {url_bytes} bytes as a REST URL, over Salesforce's 16,384-byte URI limit",
            hint="use the Bulk API (the query goes in a POST body) or select fewer fields",
            error_code="QUERY_TOO_LONG_FOR_REST",
        )
    headers = {"Sforce-Query-Options": f"batchSize={batch_size}"} if batch_size else {}
    body = client.get_json(path, params={"q": soql}, parse_float=Decimal, headers=headers)
    while True:
        records = _records(body)
        if records:
            yield [_without_attributes(r) for r in records]
        next_url = body.get("nextRecordsUrl")
        if body.get("done", True) or not next_url:
            return
        body = client.get_json(str(next_url), parse_float=Decimal, headers=headers)


def count(
    client: SalesforceClient,
    object_or_soql: str,
    *,
    where: str | None = None,
    include_deleted: bool,
) -> int:
    """Rows matching ``SELECT COUNT() FROM <object> [WHERE where]`` (or a full COUNT() query given)."""
    if object_or_soql.lstrip().upper().startswith("SELECT "):
        soql = object_or_soql
    else:
        soql = build_count(object_or_soql, where=where)
    path = client.data_path("queryAll/" if include_deleted else "query/")
    return total_size(client.get_json(path, params={"q": soql}), soql)


def total_size(body: Any, soql: str) -> int:
    """The ``totalSize`` of a COUNT() query's answer (`soql`, or its object, names it in the error)."""
    total = body.get("totalSize") if isinstance(body, dict) else None
    if not isinstance(total, int):
        raise SalesforceError(f"COUNT() query answered without a totalSize: {soql[:200]}")
    return total


def count_by(
    client: SalesforceClient,
    object_name: str,
    group_field: str,
    *,
    where: str | None = None,
    include_deleted: bool,
) -> dict[str | None, int]:
    """Row counts per value of `group_field` (``GROUP BY`` with ``COUNT(Id)``); None for nulls."""
    validate_field_path(group_field)
    soql = build_count(object_name, where=where).replace(
        "SELECT COUNT() FROM", f"SELECT {group_field}, COUNT(Id) FROM", 1
    )
    soql += f" GROUP BY {group_field}"
    counts: dict[str | None, int] = {}
    for records in iter_query_pages(client, soql, include_deleted=include_deleted):
        for record in records:
            key = record.get(group_field.split(".")[-1])
            number = record.get("expr0", 0)
            counts[None if key is None else str(key)] = int(number)
    return counts


def _records(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise SalesforceError("a query page came back without a 'records' list")
    records: list[dict[str, Any]] = body["records"]
    return records


def _without_attributes(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, dict) and "attributes" in value:
            value = _without_attributes(value)
        out[key] = value
    return out


#: Datetime fields a timed-out query is split on, in order of preference (CreatedDate is indexed).
SPLIT_FIELDS: tuple[str, ...] = ("CreatedDate", "SystemModstamp", "LastModifiedDate")


def split_field(field_names: Iterable[str]) -> str | None:
    """The field a QUERY_TIMEOUT of an object with these fields is split on (None: cannot split)."""
    present = {name.lower(): name for name in field_names}
    return next((present[f.lower()] for f in SPLIT_FIELDS if f.lower() in present), None)


def iter_query_pages_splitting(
    client: SalesforceClient,
    build_soql: Callable[[str | None], str],
    *,
    include_deleted: bool,
    on_split: Callable[[datetime, datetime], None] | None = None,
    field: str = "CreatedDate",
) -> Iterator[list[dict[str, Any]]]:
    """Pages of ``build_soql(None)``; a QUERY_TIMEOUT reads CreatedDate (or `field`) ranges instead.

    Salesforce times out queries that are not selective on large objects. CreatedDate is indexed,
    so a range matching few enough rows is selective: on a timeout the range is halved until each
    half answers. `build_soql(extra_where)` must add `extra_where` to the query's own conditions.
    The object must have CreatedDate; otherwise the timeout propagates.
    """
    yield from _split_pages(client, build_soql, include_deleted, on_split, _EPOCH, _FAR_FUTURE, 0, field)


def _split_pages(
    client: SalesforceClient,
    build_soql: Callable[[str | None], str],
    include_deleted: bool,
    on_split: Callable[[datetime, datetime], None] | None,
    low: datetime,
    high: datetime,
    depth: int,
    field: str = "CreatedDate",
) -> Iterator[list[dict[str, Any]]]:
    window = _window(low, high, depth, field)
    pages = iter_query_pages(client, build_soql(window), include_deleted=include_deleted)
    try:
        first = next(pages)
    except StopIteration:
        return
    except SalesforceError as exc:
        for start, end in _halves(exc, low, high, depth, on_split):
            yield from _split_pages(
                client, build_soql, include_deleted, on_split, start, end, depth + 1, field
            )
        return
    yield first
    yield from pages


def _window(low: datetime, high: datetime, depth: int, field: str = "CreatedDate") -> str | None:
    """The `field` (CreatedDate) range of a split query (None for the unsplit one)."""
    if depth == 0:
        return None
    validate_field_path(field)
    return f"{field} >= {datetime_literal(low)} AND {field} < {datetime_literal(high)}"


def _halves(
    exc: SalesforceError,
    low: datetime,
    high: datetime,
    depth: int,
    on_split: Callable[[datetime, datetime], None] | None,
) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
    """The two halves to read after `exc`, a QUERY_TIMEOUT of the range low..high; `exc` itself
    when it is another error or the range cannot be halved further."""
    if exc.error_code != "QUERY_TIMEOUT" or depth >= MAX_SPLIT_DEPTH or high - low < MIN_SPLIT_WINDOW:
        raise exc
    if on_split is not None:
        on_split(low, high)
    middle = low + (high - low) / 2
    return (low, middle), (middle, high)


def count_splitting(
    client: SalesforceClient,
    object_name: str,
    *,
    where: str | None,
    include_deleted: bool,
    on_split: Callable[[datetime, datetime], None] | None = None,
    field: str = "CreatedDate",
) -> int:
    """`count()`, but a QUERY_TIMEOUT counts CreatedDate (or `field`) ranges instead and adds them
    up (the same halving as `iter_query_pages_splitting`). The object must have that field."""
    return _split_count(client, object_name, where, include_deleted, on_split, _EPOCH, _FAR_FUTURE, 0, field)


def _split_count(
    client: SalesforceClient,
    object_name: str,
    where: str | None,
    include_deleted: bool,
    on_split: Callable[[datetime, datetime], None] | None,
    low: datetime,
    high: datetime,
    depth: int,
    field: str = "CreatedDate",
) -> int:
    window = all_of(where, _window(low, high, depth, field))
    try:
        return count(client, object_name, where=window, include_deleted=include_deleted)
    except SalesforceError as exc:
        halves = _halves(exc, low, high, depth, on_split)
    return sum(
        _split_count(client, object_name, where, include_deleted, on_split, start, end, depth + 1, field)
        for start, end in halves
    )
