"""Every binary beyond the three file objects: base64 fields and rich-text images, into the blob store.

Attachment, ContentVersion and Document have their own pipeline (`files.py`). Other objects hold
bodies too: QuoteDocument.Document, EventLogFile.LogFile, StaticResource.Body... (any base64
field; a query returns only the blob URL), and rich text area fields whose HTML points at images
with `servlet/rtaImage?...refid=0EM...`. For every exported record, each base64 field's body is
streamed from `sobjects/<Object>/<Id>/<Field>` and each image from the documented
`sobjects/<Object>/<Id>/richTextImageFields/<Field>/<refid>` into the BlobStore (hashed as it is
written), and `files/<Object>.binaries.parquet` indexes them by record, field and refid, so the
HTML can be rebuilt offline. The Ids and the HTML come from the parts the export just wrote: no
query is spent on them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from sfbackup.clock import format_time
from sfbackup.errors import ApiReserveReached, OrgUnreachable, SalesforceError
from sfbackup.repository.blobs import BlobStore
from sfbackup.repository.layout import FILES_DIR, validate_object_name
from sfbackup.repository.manifest import ObjectEntry, ObjectState
from sfbackup.repository.writers import ParquetPartWriter
from sfbackup.salesforce.client import CallMeter, SalesforceClient
from sfbackup.salesforce.schema import ObjectSchema

__all__ = [
    "BINARIES_INDEX_SCHEMA",
    "BinaryFields",
    "binaries_index_relpath",
    "binary_fields",
    "export_binaries",
    "rich_text_refids",
    "wants_binaries",
]

BINARIES_INDEX_SCHEMA = pa.schema(
    [
        pa.field("Id", pa.string(), nullable=False),
        pa.field("Field", pa.string(), nullable=False),
        pa.field("RefId", pa.string()),  # the image's refid in a rich text field; null for base64
        pa.field("Size", pa.int64()),
        pa.field("sha256", pa.string()),
        # downloaded | deduplicated (an earlier snapshot's copy, unchanged) | no_body | unavailable | failed
        pa.field("status", pa.string(), nullable=False),
        pa.field("reason", pa.string()),
        # the record's SystemModstamp when its base64 body was read: unchanged, the body is too
        pa.field("SystemModstamp", pa.string()),
    ]
)

#: `refid=0EM...` inside an `<img src=".../servlet/rtaImage?...">` (the `&` may be written `&amp;`).
_IMG_SRC = re.compile(r"<img\b[^>]*\bsrc\s*=\s*[\"']([^\"']*rtaImage[^\"']*)[\"']", re.IGNORECASE)
_REFID = re.compile(r"[?&;]refid=([A-Za-z0-9]+)")
_RECORD_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def binaries_index_relpath(object_name: str) -> str:
    """`files/<Object>.binaries.parquet`."""
    return f"{FILES_DIR}/{validate_object_name(object_name)}.binaries.parquet"


@dataclass(frozen=True)
class BinaryFields:
    """An object's base64 fields and rich text area fields."""

    base64: tuple[str, ...] = ()
    rich_text: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.base64 or self.rich_text)


def binary_fields(schema: ObjectSchema) -> BinaryFields:
    """Which fields of the object hold binaries, from its describe."""
    base64 = tuple(f.name for f in schema.fields if f.type == "base64")
    rich = tuple(
        str(raw["name"])
        for raw in schema.raw.get("fields", [])
        if isinstance(raw, dict) and raw.get("extraTypeInfo") == "richtextarea"
    )
    return BinaryFields(base64, rich)


@dataclass
class _Body:
    record_id: str
    field: str
    refid: str | None
    modstamp: str | None = None
    size: int | None = None
    sha256: str | None = None
    status: str = "pending"
    reason: str | None = None

    @property
    def key(self) -> tuple[str, str, str, str] | None:
        """What must be unchanged for an earlier copy to be this body: a rich-text image's refid
        names one image for good; a base64 body changes with its record (SystemModstamp)."""
        if self.refid:
            return (self.record_id[:15], self.field, self.refid, "")
        if self.modstamp:
            return (self.record_id[:15], self.field, "", self.modstamp)
        return None


@dataclass
class BinariesResult:
    """What one object's binaries export recorded (kept as `binaries` in its manifest entry)."""

    index_path: str
    index_bytes: int
    index_sha256: str
    count: int = 0
    bytes: int = 0
    deduplicated: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"index_path": self.index_path, "index_bytes": self.index_bytes,
                "index_sha256": self.index_sha256, "count": self.count, "bytes": self.bytes,
                "deduplicated": self.deduplicated, "failed": list(self.failed)}  # fmt: skip


def export_binaries(
    client: SalesforceClient,
    blobs: BlobStore,
    snapshot_dir: Path,
    name: str,
    entry: ObjectEntry,
    fields: BinaryFields,
    *,
    concurrency: int = 4,
    meter: CallMeter | None = None,
    stop_event: threading.Event | None = None,
    previous_index: Path | None = None,
) -> BinariesResult:
    """Download every binary of the exported object `name` into `blobs`; write its index. A body
    an earlier snapshot's index (`previous_index`) holds unchanged, whose blob is still stored, is
    not downloaded again (`deduplicated`)."""
    bodies = list(_bodies(snapshot_dir, entry, fields))
    meter = meter or CallMeter()
    earlier = _previous(previous_index)
    for body in bodies:
        known = earlier.get(body.key) if body.key else None
        if known is not None and blobs.has(known[0], size=known[1]):
            body.sha256, body.size, body.status = known[0], known[1], "deduplicated"

    def fetch(body: _Body) -> None:
        if stop_event is not None and stop_event.is_set():
            body.status, body.reason = "failed", "stopped before it was downloaded"
            return
        with client.metered(meter):
            _download(client, blobs, name, body)

    todo = [b for b in bodies if b.status == "pending"]
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="sfbackup-binaries") as pool:
        list(pool.map(fetch, todo))
    relpath = binaries_index_relpath(name)
    writer = ParquetPartWriter(snapshot_dir / relpath, BINARIES_INDEX_SCHEMA, root=snapshot_dir)
    try:
        writer.write(pa.Table.from_pylist(
            [{"Id": b.record_id, "Field": b.field, "RefId": b.refid, "Size": b.size, "sha256": b.sha256,
              "status": b.status, "reason": b.reason, "SystemModstamp": b.modstamp} for b in bodies],
            schema=BINARIES_INDEX_SCHEMA,
        ))  # fmt: skip
        info = writer.close()
    except BaseException:
        writer.abort()
        raise
    result = BinariesResult(relpath, info.bytes, info.sha256)
    for body in bodies:
        if body.status in ("downloaded", "deduplicated"):
            result.count += 1
            result.bytes += body.size or 0
            result.deduplicated += body.status == "deduplicated"
        elif body.status in ("failed", "pending"):
            result.failed.append({"Id": body.record_id, "Field": body.field, "RefId": body.refid,
                                  "reason": body.reason})  # fmt: skip
    return result


def _download(client: SalesforceClient, blobs: BlobStore, name: str, body: _Body) -> None:
    body.status = "failed"  # until the body is stored
    if not _RECORD_ID.fullmatch(body.record_id) or (body.refid and not _RECORD_ID.fullmatch(body.refid)):
        body.reason = "not a Salesforce record id"
        return
    suffix = body.field if body.refid is None else f"richTextImageFields/{body.field}/{body.refid}"
    path = client.data_path(f"sobjects/{name}/{body.record_id}/{suffix}")
    try:
        write = client.download(path, lambda chunks: blobs.put_stream(chunks, extra_hashers=()))
    except ApiReserveReached:
        raise
    except SalesforceError as exc:
        if exc.status == 404 and body.refid is None:
            body.status, body.reason = "no_body", exc.message  # the field is empty on this record
        elif exc.error_code == "ENTITY_IS_DELETED":
            body.status, body.reason = "unavailable", exc.message
        else:
            body.reason = exc.message
        return
    except OrgUnreachable as exc:
        body.reason = exc.message
        return
    body.sha256, body.size, body.status, body.reason = write.sha256, write.size, "downloaded", None


def _bodies(snapshot_dir: Path, entry: ObjectEntry, fields: BinaryFields) -> Iterator[_Body]:
    """One body per record and base64 field, one per image a rich text field points at."""
    for row in _rows(snapshot_dir, entry, ["Id", "SystemModstamp", *fields.rich_text]):
        record_id = str(row.get("Id") or "")
        if not record_id:
            continue
        stamp = row.get("SystemModstamp")
        modstamp = format_time(stamp) if isinstance(stamp, datetime) else (str(stamp) if stamp else None)
        for name in fields.base64:
            yield _Body(record_id, name, None, modstamp)
        for name in fields.rich_text:
            for refid in rich_text_refids(row.get(name)):
                yield _Body(record_id, name, refid)


def _previous(index: Path | None) -> dict[tuple[str, str, str, str], tuple[str, int | None]]:
    """{body key: (sha256, size)} of the bodies an earlier binaries index holds."""
    if index is None or not index.is_file():
        return {}
    table = pq.read_table(index)
    stamps = table.column("SystemModstamp").to_pylist() if "SystemModstamp" in table.column_names else None
    found: dict[tuple[str, str, str, str], tuple[str, int | None]] = {}
    for i, row in enumerate(table.select(["Id", "Field", "RefId", "Size", "sha256", "status"]).to_pylist()):
        if row["status"] not in ("downloaded", "deduplicated") or not row["sha256"]:
            continue
        body = _Body(str(row["Id"]), str(row["Field"]), row["RefId"], stamps[i] if stamps else None)
        if body.key is not None:
            found[body.key] = (str(row["sha256"]), row["Size"])
    return found


def rich_text_refids(html: Any) -> list[str]:
    """The refids of the rtaImage images in a rich text value, in order, each once."""
    if not isinstance(html, str) or "rtaImage" not in html:
        return []
    found: list[str] = []
    for src in _IMG_SRC.findall(html):
        match = _REFID.search(src.replace("&amp;", "&"))
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return found


def _rows(snapshot_dir: Path, entry: ObjectEntry, columns: Sequence[str]) -> Iterator[dict[str, Any]]:
    present = [c for c in columns if c in entry.fields]
    for part in entry.parts:
        path = snapshot_dir / part.path
        if entry.format == "parquet":
            table = pq.read_table(path, columns=present)
        else:
            table = pa_csv.read_csv(
                path,
                parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                convert_options=pa_csv.ConvertOptions(
                    include_columns=present, column_types={c: pa.string() for c in present}
                ),
            )
        yield from table.to_pylist()


def wants_binaries(entry: ObjectEntry | None) -> bool:
    """Whether an exported object's binaries still need downloading (none saved, or some failed)."""
    if entry is None or entry.state != ObjectState.DONE:
        return False
    saved = entry.extra.get("binaries")
    return not isinstance(saved, dict) or bool(saved.get("failed"))
