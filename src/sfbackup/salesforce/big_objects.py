"""Big objects: their index, and reads split by index prefix when a read times out.

Salesforce lets a big object's queries filter only on its index (the composite key), from the
first index field without gaps: `=` on every filtered field but the last, a range on the last
(SOQL and SOSL Reference, "SOQL with Big Objects"). The REST describe does not say which fields
the index holds; the Metadata API's CustomObject does (`<indexes>`), and FieldHistoryArchive's is
documented. A read that answers QUERY_TIMEOUT is split into ranges of the first index field, and a
value of that field too heavy to read alone into ranges of the next field under `first = value`,
and so on: every query Salesforce accepts, and together they read every row once.
"""

from __future__ import annotations

import io
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sfbackup.clock import format_time, parse_time
from sfbackup.errors import SalesforceError
from sfbackup.salesforce import query_rest, soql
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.salesforce.faults import TruncatedBody
from sfbackup.salesforce.metadata import NS, MetadataApi

__all__ = ["DOCUMENTED_INDEXES", "IndexField", "index_key", "index_pages", "read_indexes"]

#: Standard big objects' indexes, as documented (Object Reference, FieldHistoryArchive).
DOCUMENTED_INDEXES: dict[str, tuple[str, ...]] = {
    "FieldHistoryArchive": ("FieldHistoryType", "ParentId", "CreatedDate"),
}

#: How deep a timed-out read is split before the timeout is given up to (each level is one query).
MAX_SPLIT_DEPTH = 40
_RETRIEVE_WAIT = 120.0  # seconds a CustomObject retrieve may take before the index is given up
_ASCII_TOP = 0x7E  # the widest range of text values first splits within printable ASCII


@dataclass(frozen=True)
class IndexField:
    """One field of a big object's index and how its values compare: `string` (text, picklists:
    without case), `id` (Ids and lookups: a range bound must be an Id), `datetime`, `date` or
    `number`."""

    name: str
    kind: str = "string"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexField:
        return cls(str(data["name"]), str(data.get("kind") or "string"))


def kind_of(describe_type: str) -> str:
    """The comparison kind of a describe field type."""
    if describe_type == "datetime":
        return "datetime"
    if describe_type == "date":
        return "date"
    if describe_type in ("id", "reference"):
        return "id"
    if describe_type in ("int", "double", "currency", "percent", "long"):
        return "number"
    return "string"


def read_indexes(
    client: SalesforceClient, names: Iterable[str], *, sleep: Callable[[float], None] = time.sleep
) -> tuple[dict[str, tuple[str, ...]], str | None]:
    """The index fields of each big object in `names` (documented ones, and the custom `__b`
    ones from one Metadata API retrieve of their CustomObject), and why the custom ones could not
    be read (None when they were)."""
    wanted = sorted(set(names))
    found = {name: DOCUMENTED_INDEXES[name] for name in wanted if name in DOCUMENTED_INDEXES}
    custom = [name for name in wanted if name.endswith("__b")]
    if not custom:
        return found, None
    api = MetadataApi(client)
    try:
        job = api.retrieve({"CustomObject": custom})
        wait, deadline = 0.25, time.monotonic() + _RETRIEVE_WAIT
        status = api.check_retrieve_status(job)
        while not status.done:
            if time.monotonic() > deadline:
                return found, (f"the Metadata API retrieve of CustomObject did not finish in "
                               f"{_RETRIEVE_WAIT:.0f} s")
            sleep(wait)
            wait = min(wait * 2, 5.0)
            status = api.check_retrieve_status(job)
    except (SalesforceError, TruncatedBody) as exc:  # no Metadata API for this user, a refusal...
        return found, f"the Metadata API retrieve of CustomObject failed: {getattr(exc, 'message', exc)}"
    if status.zip_bytes is None:
        why = status.error_message or status.status
        return found, f"the Metadata API retrieve of CustomObject answered no files ({why})"
    try:
        with zipfile.ZipFile(io.BytesIO(status.zip_bytes)) as archive:
            for info in archive.infolist():
                stem = info.filename.rsplit("/", 1)[-1]
                if stem.endswith(".object") and stem[: -len(".object")] in custom:
                    index = _index_of(archive.read(info))
                    if index:
                        found[stem[: -len(".object")]] = index
    except (zipfile.BadZipFile, OSError) as exc:
        return found, f"the Metadata API retrieve of CustomObject answered a damaged zip: {exc}"
    missing = [name for name in custom if name not in found]
    return found, (f"no index in the retrieved CustomObject of {', '.join(missing)}" if missing else None)


def _index_of(xml: bytes) -> tuple[str, ...]:
    """The index fields, in order, of a CustomObject file (`<indexes><fields><name>`)."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return ()
    m = f"{{{NS}}}"
    for index in root.findall(f"{m}indexes"):
        return tuple((f.findtext(f"{m}name") or "").strip() for f in index.findall(f"{m}fields"))
    return ()


# -- reading by index prefix ------------------------------------------------------------------


@dataclass(frozen=True)
class _Range:
    """Values of one index field above every bound of `lows` (value, exclusive?) and below every
    value of `highs` (exclusive); none: unbounded. A split keeps every bound it was given: a middle
    we compute may not sort where we think in the org's collation (text compares without case), so
    each piece stays inside its parent range whatever the collation, and none is read twice."""

    lows: tuple[tuple[Any, bool], ...] = ()
    highs: tuple[Any, ...] = ()

    @property
    def low(self) -> Any:
        return self.lows[-1][0] if self.lows else None

    @property
    def high(self) -> Any:
        return self.highs[-1] if self.highs else None

    def below(self, value: Any) -> _Range:
        return _Range(self.lows, (*self.highs, value))

    def from_(self, value: Any, *, exclusive: bool) -> _Range:
        return _Range((*self.lows, (value, exclusive)), self.highs)

    def conditions(self, field: IndexField) -> list[str]:
        out = [f"{field.name} {'>' if exclusive else '>='} {_literal(field, value)}"
               for value, exclusive in self.lows]  # fmt: skip
        out += [f"{field.name} < {_literal(field, value)}" for value in self.highs]
        return list(dict.fromkeys(out))


def index_pages(
    client: SalesforceClient,
    object_name: str,
    build: Callable[[str | None], str],
    index: tuple[IndexField, ...],
    *,
    include_deleted: bool = False,
) -> Iterator[list[dict[str, Any]]]:
    """Pages of `build(None)` (the object's read); on QUERY_TIMEOUT, pages of the index-prefix
    pieces that together hold the same rows, each piece `build(where)`. Big objects have no
    recycle bin (`include_deleted` False); any object's Id listing can be read this way by `Id`."""
    reader = _IndexReader(client, object_name, build, index, include_deleted)
    yield from reader.read((), 0, _Range(), pivot=True, depth=0)


class _IndexReader:
    def __init__(self, client: SalesforceClient, object_name: str, build: Callable[[str | None], str],
                 index: tuple[IndexField, ...], include_deleted: bool) -> None:  # fmt: skip
        self.client, self.object_name, self.build, self.index = client, object_name, build, index
        self.include_deleted = include_deleted

    def read(self, prefix: tuple[str, ...], level: int, rng: _Range, *, pivot: bool,
             depth: int) -> Iterator[list[dict[str, Any]]]:  # fmt: skip
        """The rows under `prefix` (equalities on the first `level` index fields) whose next index
        field is in `rng`; a timeout splits them (by a value read from them when `pivot`, else at
        the middle of the range)."""
        where = self._where(prefix, level, rng)
        pages = query_rest.iter_query_pages(self.client, self.build(where),
                                            include_deleted=self.include_deleted)  # fmt: skip
        try:
            first = next(pages)
        except StopIteration:
            return
        except SalesforceError as exc:
            if exc.error_code != "QUERY_TIMEOUT" or depth >= MAX_SPLIT_DEPTH or level >= len(self.index):
                raise
            yield from self._split(prefix, level, rng, exc, pivot=pivot, depth=depth)
            return
        yield first
        yield from pages

    def _split(self, prefix: tuple[str, ...], level: int, rng: _Range, exc: SalesforceError, *,
               pivot: bool, depth: int) -> Iterator[list[dict[str, Any]]]:  # fmt: skip
        """The rows of a timed-out piece, read in smaller pieces: by the lowest and highest values
        of the field among them (each read under `field = value`, narrowed by the next index field
        if that too times out) and the range between them halved (`pivot`), or the range halved."""
        field = self.index[level]
        middle = None if pivot else _between(field, rng.low, rng.high)
        if middle is not None:
            for half in (rng.below(middle), rng.from_(middle, exclusive=False)):
                yield from self.read(prefix, level, half, pivot=True, depth=depth + 1)
            return
        lowest = self._edge(prefix, level, rng, descending=False)
        if lowest is None:
            return  # the range holds no row
        highest = self._edge(prefix, level, rng, descending=True)
        yield from self._equal(prefix, level, lowest, exc, depth)
        if highest is None or _same(field, lowest, highest):
            return
        yield from self._equal(prefix, level, highest, exc, depth)
        inner = rng.from_(lowest, exclusive=True).below(highest)
        yield from self.read(prefix, level, inner, pivot=False, depth=depth + 1)

    def _equal(self, prefix: tuple[str, ...], level: int, value: Any, exc: SalesforceError,
               depth: int) -> Iterator[list[dict[str, Any]]]:  # fmt: skip
        """The rows whose field at `level` is `value` (read by the next index field's ranges when
        that times out; the whole key fixed, the timeout is Salesforce's last word)."""
        field = self.index[level]
        equal = (*prefix, f"{field.name} = {_literal(field, value)}")
        if level + 1 < len(self.index):
            yield from self.read(equal, level + 1, _Range(), pivot=True, depth=depth + 1)
        else:
            yield from query_rest.iter_query_pages(
                self.client, self.build(" AND ".join(equal)), include_deleted=self.include_deleted
            )

    def _edge(self, prefix: tuple[str, ...], level: int, rng: _Range, *, descending: bool) -> Any:
        """The lowest (highest) value of the field at `level` among the piece's rows, in the org's
        own order (an ordered LIMIT 1 read of the index stops at its first entry); None: no row."""
        field = self.index[level]
        where = self._where(prefix, level, rng)
        query = soql.build_select(self.object_name, [field.name], where=where)
        # in index order (or its reverse), the earlier index fields first (fixed by `prefix`)
        direction = "DESC" if descending else "ASC"
        order = ", ".join(f"{f.name} {direction}" for f in self.index[: level + 1])
        query += f" ORDER BY {order} LIMIT 1"
        for records in query_rest.iter_query_pages(self.client, query,
                                                   include_deleted=self.include_deleted):  # fmt: skip
            for record in records:
                value = record.get(field.name)
                if value is not None:
                    return _parse(field, value)
        return None

    def _where(self, prefix: tuple[str, ...], level: int, rng: _Range) -> str | None:
        field = self.index[level] if level < len(self.index) else None
        parts = [*prefix, *(rng.conditions(field) if field is not None else [])]
        return " AND ".join(parts) or None


def index_key(record: dict[str, Any], index: tuple[IndexField, ...]) -> str:
    """A big object row's key, its index values (the index is its composite primary key;
    Salesforce answers the empty Id 000000000000000AAA for every row), written the same way
    whether they come from a query (REST text) or from a backup part (typed values)."""
    return "|".join(_key_text(field, record.get(field.name)) for field in index)


def _key_text(field: IndexField, value: Any) -> str:
    if value is None or value == "":
        return ""
    if field.kind == "datetime":
        return format_time(value if isinstance(value, datetime) else parse_time(str(value)))
    if field.kind == "date":
        return str(value)[:10]
    if field.kind == "number":
        return str(Decimal(str(value)).normalize())
    if field.kind == "id":
        return str(value)[:15]
    return str(value)


def _same(field: IndexField, one: Any, other: Any) -> bool:
    """Whether Salesforce takes the two values as equal (text compares without case)."""
    if field.kind == "string":
        return str(one).lower() == str(other).lower()
    return bool(one == other)


def _parse(field: IndexField, value: Any) -> Any:
    if field.kind == "datetime":
        return parse_time(str(value))
    if field.kind == "date":
        return date.fromisoformat(str(value)[:10])
    if field.kind == "number":
        return Decimal(str(value))
    return str(value)


def _literal(field: IndexField, value: Any) -> str:
    if field.kind == "datetime":
        return soql.datetime_literal(value)
    if field.kind == "date":
        return soql.date_literal(value)
    if field.kind == "number":
        return str(value)
    return soql.string_literal(str(value))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)


def _between(field: IndexField, low: Any, high: Any) -> Any:
    """A value strictly between `low` and `high` (None: unbounded) that halves the range, or None
    when there is no useful one (the range is then split by a value read from it)."""
    if field.kind == "datetime":
        lo, hi = low or _EPOCH, high or _FAR_FUTURE
        if hi - lo < timedelta(milliseconds=2):
            return None
        middle = lo + (hi - lo) / 2
        return middle.replace(microsecond=middle.microsecond // 1000 * 1000)
    if field.kind == "date":
        lo_d, hi_d = low or _EPOCH.date(), high or _FAR_FUTURE.date()
        return lo_d + (hi_d - lo_d) / 2 if (hi_d - lo_d).days >= 2 else None
    if field.kind == "id":
        return _id_between(low, high)
    if field.kind == "number":
        if low is None or high is None or high - low <= 1:
            return None  # no bound to halve from: a value read from the rows bounds it
        return (low + high) // 2
    # Salesforce compares text without case: the middle is computed between the lowercased bounds
    return _string_between("" if low is None else str(low).lower(),
                           None if high is None else str(high).lower())


_ID_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # in code-point order


def _id_between(low: Any, high: Any) -> str | None:
    """A 15-character Id halfway between two Ids (their first 15 characters as base-62 numbers),
    or None when they are next to each other."""

    def number(value: Any, default: str) -> int:
        text = default if value is None else str(value)[:15]
        if len(text) != 15 or any(c not in _ID_DIGITS for c in text):
            text = default
        out = 0
        for c in text:
            out = out * 62 + _ID_DIGITS.index(c)
        return out

    lo, hi = number(low, "0" * 15), number(high, "z" * 15)
    middle = (lo + hi) // 2
    if middle <= lo:
        return None
    digits = []
    for _ in range(15):
        middle, digit = divmod(middle, 62)
        digits.append(_ID_DIGITS[digit])
    return "".join(reversed(digits))


def _string_between(low: str, high: str | None) -> str | None:
    """A short string strictly between `low` and `high` in code-point order (None: unbounded
    above), or None when none is found within a few characters of `low`."""
    top = _ASCII_TOP if high is None and all(ord(c) < _ASCII_TOP for c in low) else 0xD7FF
    prefix: list[str] = []
    open_above = high is None
    for i in range(len(low) + 8):
        a = ord(low[i]) if i < len(low) else 0x1F  # low ended: below any printable character
        b = top + 1 if open_above or high is None or i >= len(high) else ord(high[i])
        if b - a > 1:
            for code in ((a + b) // 2, 0x5B, 0x40):  # no capital: it would sort as its lowercase
                if a < code < b and not chr(code).isupper():
                    return "".join(prefix) + chr(code)
            return None
        if a == 0x1F:
            return None  # `low` ended and `high` goes on with a space or less: nothing printable fits
        prefix.append(chr(a))
        if b > a:
            open_above = True
    return None
