"""What a person reads instead of API names, from the snapshot's schema files (the describe saved
with each object): field labels, picklist labels, lookups (referenceTo) and each object's name
field, so a lookup Id can be shown as its parent's name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pyarrow.compute as pc

from sfbackup.errors import RepositoryError
from sfbackup.inspect.tables import iter_rows
from sfbackup.repository import Snapshot


@dataclass(frozen=True)
class FieldInfo:
    """One field as the describe tells it."""

    name: str
    label: str
    sf_type: str
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist: dict[str, str] = field(default_factory=dict)  # API value -> label
    html: bool = False

    @property
    def is_lookup(self) -> bool:
        return self.sf_type == "reference" and bool(self.reference_to)


@dataclass(frozen=True)
class ChildRelation:
    """Records of `child` point at this object through `field`."""

    child: str
    field: str
    name: str | None


@dataclass(frozen=True)
class ObjectInfo:
    """One object's labels, fields (in the parts' column order), name field and children."""

    name: str
    label: str
    label_plural: str
    key_prefix: str | None
    fields: dict[str, FieldInfo]
    name_field: str | None
    children: tuple[ChildRelation, ...]

    def label_of(self, field_name: str) -> str:
        info = self.fields.get(field_name)
        return info.label if info else field_name

    def lookup_name_label(self, info: FieldInfo) -> str:
        """The header of the resolved-name column beside a lookup (`Account Name` beside AccountId)."""
        base = info.label
        for suffix in (" ID", " Id"):
            if base.endswith(suffix):
                base = base[: -len(suffix)]
        return f"{base} Name"


def object_info(snapshot: Snapshot, object_name: str) -> ObjectInfo:
    """The labels of `object_name` from `schema/<Object>.json`; RepositoryError when it has no describe."""
    document = snapshot.schema_document(object_name)
    describe = document.get("describe")
    if not isinstance(describe, dict):
        raise RepositoryError(f"the schema of {object_name} in snapshot {snapshot.id} has no describe")
    saved = {f["name"] for f in document["arrow_schema"]}
    described = {f.get("name"): f for f in describe.get("fields") or [] if isinstance(f, dict)}
    fields: dict[str, FieldInfo] = {}
    name_field = None
    for column in document["arrow_schema"]:
        name = column["name"]
        raw: dict[str, Any] = described.get(name) or {}
        picklist = {
            str(p["value"]): str(p.get("label") or p["value"])
            for p in raw.get("picklistValues") or []
            if isinstance(p, dict) and p.get("value") is not None
        }
        fields[name] = FieldInfo(
            name=name,
            label=str(raw.get("label") or name),
            sf_type=str(raw.get("type") or column.get("sf_type") or "string"),
            reference_to=tuple(str(r) for r in raw.get("referenceTo") or []),
            relationship_name=raw.get("relationshipName"),
            picklist=picklist,
            html=bool(raw.get("htmlFormatted")) or raw.get("extraTypeInfo") == "richtextarea",
        )
        if raw.get("nameField") and name in saved:
            name_field = name
    if name_field is None and "Name" in fields:
        name_field = "Name"
    children = tuple(
        ChildRelation(str(c["childSObject"]), str(c["field"]), c.get("relationshipName"))
        for c in describe.get("childRelationships") or []
        if isinstance(c, dict) and c.get("childSObject") and c.get("field")
    )
    return ObjectInfo(
        name=object_name,
        label=str(describe.get("label") or object_name),
        label_plural=str(describe.get("labelPlural") or describe.get("label") or object_name),
        key_prefix=describe.get("keyPrefix"),
        fields=fields,
        name_field=name_field,
        children=children,
    )


class Labels:
    """Object infos and record names of one snapshot, each read once and on first use."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._infos: dict[str, ObjectInfo] = {}
        self._names: dict[str, dict[str, str]] = {}

    def info(self, object_name: str) -> ObjectInfo:
        if object_name not in self._infos:
            self._infos[object_name] = object_info(self.snapshot, object_name)
        return self._infos[object_name]

    @cached_property
    def by_prefix(self) -> dict[str, str]:
        """Key prefix (the Id's first 3 characters) -> object, for the objects in the snapshot."""
        found: dict[str, str] = {}
        for name in self.snapshot.objects():
            try:
                prefix = self.info(name).key_prefix
            except RepositoryError:
                continue
            if prefix:
                found.setdefault(prefix, name)
        return found

    def object_of(self, record_id: str) -> str | None:
        """The object an Id belongs to, by its key prefix (None when no object in the snapshot has it)."""
        return self.by_prefix.get(record_id[:3]) if record_id else None

    def names(self, object_name: str) -> dict[str, str]:
        """Id -> name of every record (live or deleted) of an object in the snapshot; empty for an
        object that is not in it or has no name field. Memory: one entry per record."""
        if object_name in self._names:
            return self._names[object_name]
        found: dict[str, str] = {}
        if object_name in self.snapshot.manifest.objects:
            name_field = self.info(object_name).name_field
            if name_field:
                for table in iter_rows(self.snapshot, object_name, include_deleted=True,
                                       columns=["Id", name_field]):  # fmt: skip
                    ids = table.column("Id").to_pylist()
                    names = pc.cast(table.column(name_field), "string").to_pylist()
                    found.update((i, n) for i, n in zip(ids, names, strict=True) if i and n is not None)
        self._names[object_name] = found
        return found

    def resolve(self, info: FieldInfo, ids: Iterable[str | None]) -> list[str | None]:
        """The parents' names of lookup `info` for `ids` (None where the parent is not in the snapshot)."""
        held = self.snapshot.manifest.objects
        maps = [self.names(target) for target in info.reference_to if target in held]
        out: list[str | None] = []
        for record_id in ids:
            name = None
            if record_id:
                for names in maps:
                    name = names.get(record_id)
                    if name is not None:
                        break
            out.append(name)
        return out

    def record_name(self, record_id: str) -> str | None:
        """The name of any record in the snapshot, found by its Id's key prefix."""
        object_name = self.object_of(record_id)
        return self.names(object_name).get(record_id) if object_name else None
