"""Names a person recognises for what the report mentions, read from the snapshot itself: object
labels beside API names ("Invoices (Invoice__c)"), a file's name and the record it belongs to
instead of its Id, a record's name, a user's name instead of a raw `005...` Id.

Nothing here calls Salesforce: the describes, file indexes and records are the snapshot's. What
the snapshot cannot name (a damaged part, an object not backed up) keeps its Id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sfbackup.errors import SfbackupError
from sfbackup.repository import Snapshot
from sfbackup.repository.manifest import ObjectState

#: Ids named per finding: the report lists this many by name and counts the rest.
NAMED_PER_FINDING = 20
#: Salesforce Ids are 15 or 18 characters; the first 3 are the object's key prefix.
_ID_LENGTHS = (15, 18)


@dataclass
class Labels:
    """`objects`: API name -> label; `records`: Id -> what a person recognises it by."""

    objects: dict[str, str] = field(default_factory=dict)
    records: dict[str, str] = field(default_factory=dict)

    def object(self, name: str | None) -> str:
        """`Invoices (Invoice__c)`, or the API name alone when the label adds nothing."""
        if not name:
            return ""
        label = self.objects.get(name)
        return f"{label} ({name})" if label and label.replace(" ", "") != name else name

    def record(self, record_id: str) -> str:
        """`"Q3 contract.pdf" on Contact "Jane Doe" (00P...)`, or the Id when nothing names it."""
        label = self.records.get(record_id)
        return f"{label} ({record_id})" if label else record_id

    def to_dict(self) -> dict[str, Any]:
        return {"objects": dict(sorted(self.objects.items())), "records": dict(sorted(self.records.items()))}

    @classmethod
    def from_dict(cls, data: Any) -> Labels:
        if not isinstance(data, dict):
            return cls()
        return cls(dict(data.get("objects") or {}), dict(data.get("records") or {}))


def snapshot_labels(snapshot: Snapshot, ids: Iterable[str]) -> Labels:
    """Object labels for every object of the snapshot, and names for `ids` (files, records, users)."""
    labels = Labels()
    prefixes: dict[str, str] = {}
    name_fields: dict[str, str] = {}
    for name, entry in snapshot.manifest.objects.items():
        if entry.state != ObjectState.DONE:
            continue
        try:
            describe = snapshot.schema_document(name).get("describe") or {}
        except SfbackupError:
            continue  # a damaged schema is a finding already
        label = describe.get("labelPlural") or describe.get("label")
        if isinstance(label, str) and label:
            labels.objects[name] = label
        prefix = describe.get("keyPrefix")
        if isinstance(prefix, str) and len(prefix) == 3:
            prefixes[prefix] = name
        name_field = next(
            (
                f.get("name")
                for f in describe.get("fields") or []
                if isinstance(f, dict) and f.get("nameField")
            ),
            None,
        )
        if isinstance(name_field, str) and name_field in entry.fields:
            name_fields[name] = name_field
    wanted = {i for i in ids if isinstance(i, str) and len(i) in _ID_LENGTHS}
    files = _file_rows(snapshot, wanted)
    parents = {row["ParentId"] for row in files.values() if row.get("ParentId")}
    names = _record_names(snapshot, (wanted - set(files)) | parents, prefixes, name_fields)
    for record_id, name in names.items():
        labels.records[record_id] = name
    for file_id, row in files.items():
        text = f'"{row["Name"]}"' if row.get("Name") else "a file"
        parent = row.get("ParentId")
        if parent:
            text += f" on {names.get(parent) or 'record ' + parent}"
        labels.records[file_id] = text
    return labels


def _file_rows(snapshot: Snapshot, wanted: set[str]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    if not wanted:
        return rows
    for name in snapshot.manifest.files:
        try:
            table = snapshot.files(name)
        except SfbackupError:
            continue
        columns = [c for c in ("Id", "Name", "ParentId") if c in table.column_names]
        if "Id" not in columns:
            continue
        for row in table.select(columns).to_pylist():
            if row["Id"] in wanted:
                rows[str(row["Id"])] = row
    return rows


def _record_names(
    snapshot: Snapshot, ids: set[str], prefixes: dict[str, str], name_fields: dict[str, str]
) -> dict[str, str]:
    """`Contact "Jane Doe"` for each Id whose object is in the snapshot with a name field."""
    by_object: dict[str, set[str]] = {}
    for record_id in ids:
        name = prefixes.get(record_id[:3])
        if name is not None and name in name_fields:
            by_object.setdefault(name, set()).add(record_id)
    found: dict[str, str] = {}
    for name, wanted in sorted(by_object.items()):
        column = name_fields[name]
        try:
            for table in snapshot.iter_tables(name):
                for row in table.select(["Id", column]).to_pylist():
                    if row["Id"] in wanted and row[column]:
                        found[str(row["Id"])] = f'{name} "{row[column]}"'
        except SfbackupError:
            continue  # a damaged part is a finding already
    return found
