"""`sfbackup diff A B`: per object, the records added, changed and deleted between two snapshots,
by Id, and which fields changed; per metadata type, the configuration components added, changed
and removed (a component changed when any of its files' SHA-256 differs). Records are compared by
DuckDB over both snapshots' parts (one hash per record), so memory does not grow with the objects.

A record is *added* when it is live in B and not in A, *deleted* when it is live in A and not live
in B (gone, or in the Recycle Bin), *changed* when live in both with a different value in a field
both snapshots hold. Fields only one snapshot holds are reported as added or removed fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sfbackup.inspect.sql import add_views, connect, quote_name
from sfbackup.inspect.tables import readable_objects
from sfbackup.repository import Snapshot

#: Fields that change with every edit: a changed record is reported by its other fields.
_STAMPS = ("SystemModstamp", "LastModifiedDate", "LastModifiedById", "LastViewedDate", "LastReferencedDate")


@dataclass
class ObjectDiff:
    """One object's differences; the Id lists are capped at `limit` entries each."""

    object: str
    added: int = 0
    changed: int = 0
    deleted: int = 0
    added_ids: list[str] = field(default_factory=list)
    changed_ids: list[str] = field(default_factory=list)
    deleted_ids: list[str] = field(default_factory=list)
    changed_fields: dict[str, int] = field(default_factory=dict)  # field -> records where it changed
    fields_added: list[str] = field(default_factory=list)
    fields_removed: list[str] = field(default_factory=list)
    only_in: str | None = None  # "a" / "b": the object is in one snapshot only

    @property
    def any(self) -> bool:
        return bool(self.added or self.changed or self.deleted or self.fields_added or self.fields_removed
                    or self.only_in)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def diff_snapshots(a: Snapshot, b: Snapshot, *, limit: int = 20) -> list[ObjectDiff]:
    """Every object of either snapshot, with its differences from `a` to `b`."""
    out = []
    with connect() as (connection, spool):
        add_views(connection, a, spool, schema="a")
        add_views(connection, b, spool, schema="b")
        in_a, in_b = set(readable_objects(a)), set(readable_objects(b))
        for name in sorted(in_a | in_b):
            result = ObjectDiff(name)
            if name not in in_b or name not in in_a:
                result.only_in = "a" if name in in_a else "b"
                held = a if result.only_in == "a" else b
                count = held.manifest.objects[name].rows - held.manifest.objects[name].deleted_rows
                if result.only_in == "a":
                    result.deleted = count
                else:
                    result.added = count
                out.append(result)
                continue
            _diff_object(connection, name, a, b, result, limit)
            out.append(result)
    return out


def _diff_object(
    connection: Any, name: str, a: Snapshot, b: Snapshot, result: ObjectDiff, limit: int
) -> None:
    cols_a, cols_b = a.schema(name).names, b.schema(name).names
    result.fields_added = [c for c in cols_b if c not in cols_a]
    result.fields_removed = [c for c in cols_a if c not in cols_b]
    common = [c for c in cols_a if c in cols_b and c not in ("Id", "IsDeleted", *_STAMPS)]
    view_a, view_b = f"a.{quote_name(name)}", f"b.{quote_name(name)}"
    q = quote_name
    added = f"SELECT Id FROM {view_b} WHERE Id NOT IN (SELECT Id FROM {view_a})"
    deleted = f"SELECT Id FROM {view_a} WHERE Id NOT IN (SELECT Id FROM {view_b})"
    result.added, result.added_ids = _count_and_ids(connection, added, limit)
    result.deleted, result.deleted_ids = _count_and_ids(connection, deleted, limit)
    if not common:
        return
    differs = " OR ".join(f"x.{q(c)} IS DISTINCT FROM y.{q(c)}" for c in common)
    changed = f"SELECT x.Id FROM {view_a} x JOIN {view_b} y ON x.Id = y.Id WHERE {differs}"
    result.changed, result.changed_ids = _count_and_ids(connection, changed, limit)
    if result.changed:
        per_field = ", ".join(f"count(*) FILTER (WHERE x.{q(c)} IS DISTINCT FROM y.{q(c)})" for c in common)
        row = connection.execute(
            f"SELECT {per_field} FROM {view_a} x JOIN {view_b} y ON x.Id = y.Id"
        ).fetchone()
        result.changed_fields = {c: int(n) for c, n in zip(common, row or (), strict=True) if n}


def _count_and_ids(connection: Any, query: str, limit: int) -> tuple[int, list[str]]:
    row = connection.execute(f"SELECT count(*) FROM ({query})").fetchone()
    count = int(row[0]) if row else 0
    ids = (
        [r[0] for r in connection.execute(f"{query} ORDER BY 1 LIMIT {int(limit)}").fetchall()]
        if count
        else []
    )
    return count, ids


@dataclass
class ConfigurationDiff:
    """One metadata type's differences between two snapshots (component full names, sorted)."""

    type: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "added": self.added, "changed": self.changed, "removed": self.removed}


def diff_configuration(a: Snapshot, b: Snapshot) -> list[ConfigurationDiff] | None:
    """Per metadata type with a difference, the components added, changed and removed from `a`
    to `b`; None when either snapshot holds no metadata (nothing to compare)."""
    index_a, index_b = a.metadata_index(), b.metadata_index()
    if index_a is None or index_b is None:
        return None
    files_a, files_b = _component_files(index_a), _component_files(index_b)
    by_type: dict[str, ConfigurationDiff] = {}
    for key in sorted(files_a.keys() | files_b.keys()):
        kind, name = key
        if key not in files_a:
            by_type.setdefault(kind, ConfigurationDiff(kind)).added.append(name)
        elif key not in files_b:
            by_type.setdefault(kind, ConfigurationDiff(kind)).removed.append(name)
        elif files_a[key] != files_b[key]:
            by_type.setdefault(kind, ConfigurationDiff(kind)).changed.append(name)
    return [by_type[kind] for kind in sorted(by_type)]


def _component_files(index: Any) -> dict[tuple[str, str], frozenset[tuple[str, str]]]:
    """(type, full name) -> its retrieved files as (file name, sha256)."""
    files: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for row in index.select(["type", "full_name", "file_name", "sha256", "status"]).to_pylist():
        entry = files.setdefault((row["type"], row["full_name"]), set())
        if row["status"] == "retrieved" and row["file_name"]:
            entry.add((row["file_name"], row["sha256"] or ""))
    return {key: frozenset(value) for key, value in files.items()}
