"""restic-like inspection of one snapshot: `ls` (objects, an object's records, the files),
`find` (text or an Id across objects) and `stats` (sizes before and after deduplication)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sfbackup.inspect.labels import Labels
from sfbackup.inspect.tables import iter_rows, select_objects
from sfbackup.repository import Snapshot

_ID = re.compile(r"[A-Za-z0-9]{15}([A-Za-z0-9]{3})?")


def object_rows(snapshot: Snapshot) -> list[dict[str, Any]]:
    """One row per object: label, live and deleted rows, parts, bytes, state."""
    labels = Labels(snapshot)
    rows = []
    for name, entry in sorted(snapshot.manifest.objects.items()):
        try:
            label = labels.info(name).label_plural
        except Exception:  # a damaged schema file still lists the object
            label = name
        rows.append({
            "object": name, "label": label, "rows": entry.rows - entry.deleted_rows,
            "deleted": entry.deleted_rows, "parts": len(entry.parts),
            "bytes": sum(p.bytes for p in entry.parts), "state": entry.state,
        })  # fmt: skip
    return rows


def file_rows(snapshot: Snapshot) -> Iterator[dict[str, Any]]:
    """Every file of the snapshot's indexes: object, Id, name, size, status, linked records."""
    for name in sorted(snapshot.manifest.files):
        for row in snapshot.files(name).to_pylist():
            owners = list(row["LinkedEntityIds"] or []) or ([row["ParentId"]] if row["ParentId"] else [])
            yield {"object": name, "id": row["Id"], "name": row["Name"], "size": row["Size"],
                   "status": row["status"], "deleted": row["IsDeleted"], "linked": owners,
                   "sha256": row["sha256"]}  # fmt: skip


def record_rows(
    snapshot: Snapshot, object_name: str, *, include_deleted: bool = False
) -> Iterator[dict[str, Any]]:
    """Id and name of each (live) record of one object."""
    name_field = Labels(snapshot).info(object_name).name_field
    for table in iter_rows(snapshot, object_name, include_deleted=include_deleted):
        ids = table.column("Id").to_pylist()
        names = table.column(name_field).to_pylist() if name_field else [None] * len(ids)
        has_flag = "IsDeleted" in table.column_names
        deleted = table.column("IsDeleted").to_pylist() if has_flag else [False] * len(ids)
        for record_id, name, gone in zip(ids, names, deleted, strict=True):
            yield {"id": record_id, "name": name, "deleted": bool(gone)}


@dataclass(frozen=True)
class Hit:
    """A record where `find` matched: its object, Id, name, and the field and value that matched."""

    object: str
    id: str
    name: str | None
    field: str
    value: str


def find(
    snapshot: Snapshot,
    text: str,
    *,
    objects: Sequence[str] | None = None,
    include_deleted: bool = False,
    limit: int = 100,
) -> Iterator[Hit]:
    """Records whose text fields contain `text` (case-insensitive); for an Id, the record itself and
    every record pointing at it (the 15-character form matches too). At most `limit` hits."""
    labels = Labels(snapshot)
    is_id = bool(_ID.fullmatch(text))
    found = 0
    seen: set[tuple[str, str]] = set()  # one hit per record: its first matching field
    for name in select_objects(snapshot, objects):
        info = labels.info(name)
        for table in iter_rows(snapshot, name, include_deleted=include_deleted):
            for column_name in table.column_names:
                column = table.column(column_name)
                if not pa.types.is_string(column.type):
                    continue
                spec = info.fields.get(column_name)
                if is_id and spec is not None and spec.sf_type in ("id", "reference"):
                    mask = pc.starts_with(column, text[:15])  # the 15-character Id is the case-safe key
                else:
                    mask = pc.match_substring(column, text, ignore_case=True)
                mask = pc.fill_null(mask, False)
                if not pc.any(mask).as_py():
                    continue
                matched = table.filter(mask)
                ids = matched.column("Id").to_pylist()
                names = matched.column(info.name_field).to_pylist() if info.name_field else [None] * len(ids)
                values = matched.column(column_name).to_pylist()
                for record_id, record_name, value in zip(ids, names, values, strict=True):
                    if (name, record_id) in seen:
                        continue
                    seen.add((name, record_id))
                    yield Hit(name, record_id, record_name, column_name, _snippet(str(value), text))
                    found += 1
                    if found >= limit:
                        return


def _snippet(value: str, text: str, width: int = 60) -> str:
    at = value.lower().find(text.lower())
    start = max(0, at - width // 3) if at >= 0 else 0
    piece = value[start : start + width].replace("\n", " ").replace("\r", " ")
    return ("..." if start else "") + piece + ("..." if start + width < len(value) else "")


def stats(snapshot: Snapshot) -> dict[str, Any]:
    """Totals of a snapshot, restic-style: rows, the parts' bytes, files and their size as restored
    (every file) and as stored (each distinct body once), the largest objects."""
    objects = object_rows(snapshot)
    files = list(file_rows(snapshot))
    stored = [f for f in files if f["sha256"]]
    unique: dict[str, int] = {f["sha256"]: int(f["size"] or 0) for f in stored}
    return {
        "snapshot": snapshot.id,
        "objects": len(objects),
        "rows": sum(o["rows"] for o in objects),
        "deleted_rows": sum(o["deleted"] for o in objects),
        "parts": sum(o["parts"] for o in objects),
        "parts_bytes": sum(o["bytes"] for o in objects),
        "files": len(files),
        "files_stored": len(stored),
        "files_restore_size": sum(int(f["size"] or 0) for f in stored),
        "blobs": len(unique),
        "blobs_bytes": sum(unique.values()),
        "largest": sorted(objects, key=lambda o: o["rows"] + o["deleted"], reverse=True)[:10],
    }
