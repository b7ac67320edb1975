"""What the backup user can see, read as Salesforce exposes it.

- Its system permissions: `UserPermissionAccess` (one row, the running user's effective
  permissions), and where they come from: the permission sets assigned to it
  (`PermissionSet` with a `PermissionSetAssignment` semi-join; its profile's is the one with
  `IsOwnedByProfile`). An org that refuses `UserPermissionAccess` is answered from the sets alone.
- Field-level security: `FieldDefinition` lists every field of an object whatever the user may
  see, while the describe leaves out the fields it may not ("Factors that Affect Data Access").
  A field the first lists and the second lacks is hidden from this user.
- Classic encryption: `encryptedstring` values come back masked without View Encrypted Data.
- `/limits/recordCount`: org-wide record counts that ignore sharing, approximate (a cached
  snapshot Salesforce refreshes on its own schedule, REST API Developer Guide "Record Count").
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sfbackup.errors import SalesforceError
from sfbackup.salesforce import query_rest, soql
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.salesforce.schema import ObjectSchema

_T = TypeVar("_T")

__all__ = [
    "LABELS",
    "PERMISSIONS",
    "QUERY_ALL_FILES_OBJECTS",
    "RECORD_COUNT_STALENESS",
    "PermissionSource",
    "UserAccess",
    "changed_since",
    "encrypted_fields",
    "field_definitions",
    "hidden_fields",
    "read_user_access",
    "record_counts",
    "username_of",
]

#: (key, PermissionSet / UserPermissionAccess field, label in Setup) of the permissions that
#: change what a backup reads (and, for Modify All Data, what a restore can write).
PERMISSIONS: tuple[tuple[str, str, str], ...] = (
    ("view_all_data", "PermissionsViewAllData", "View All Data"),
    ("query_all_files", "PermissionsQueryAllFiles", "Query All Files"),
    ("view_encrypted_data", "PermissionsViewEncryptedData", "View Encrypted Data"),
    ("modify_all_data", "PermissionsModifyAllData", "Modify All Data"),
)
LABELS = {key: label for key, _, label in PERMISSIONS}
#: The objects Query All Files governs: without it, queries on them leave out files the user can
#: see only through a record ("Depending on how files are shared, queries on ContentDocument and
#: ContentVersion without specifying an ID don't return all files a user has access to",
#: ContentVersion, Object Reference); ContentDocumentLink rows follow their document.
QUERY_ALL_FILES_OBJECTS: tuple[str, ...] = ("ContentDocument", "ContentDocumentLink", "ContentVersion")

#: Objects per FieldDefinition query: its pages stay small (FieldDefinition pages like Tooling ones).
_FIELD_DEFINITION_OBJECTS = 25
#: Object names per /limits/recordCount call, so its URL stays short.
_RECORD_COUNT_OBJECTS = 100


@dataclass(frozen=True)
class PermissionSource:
    """A permission set assigned to the user (its profile's when `profile` is set)."""

    name: str
    label: str
    profile: str | None
    granted: tuple[str, ...]  # PERMISSIONS keys

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "profile": self.profile,
            "granted": list(self.granted),
        }


@dataclass(frozen=True)
class UserAccess:
    """The backup user's effective permissions and where they come from."""

    user_id: str
    permissions: dict[str, bool]  # PERMISSIONS key -> held
    sources: tuple[PermissionSource, ...]
    source: str  # "UserPermissionAccess" or "PermissionSet" (the fallback)

    def has(self, key: str) -> bool:
        return bool(self.permissions.get(key))

    @property
    def profile(self) -> str | None:
        return next((s.profile for s in self.sources if s.profile), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "permissions": dict(self.permissions),
            "profile": self.profile,
            "permission_sets": [s.to_dict() for s in self.sources],
            "read_from": self.source,
        }


def read_user_access(client: SalesforceClient) -> UserAccess:
    """The running user's permissions: UserPermissionAccess, and the assigned permission sets."""
    fields = [field for _, field, _ in PERMISSIONS]
    sources = _assigned_sets(client, fields)
    try:
        rows = _rows(client, soql.build_select("UserPermissionAccess", fields))
    except SalesforceError as exc:
        if exc.error_code not in ("INVALID_TYPE", "INVALID_FIELD"):
            raise
        rows = []
    if rows:
        held = {key: bool(rows[0].get(field)) for key, field, _ in PERMISSIONS}
        return UserAccess(client.user_id or "", held, sources, "UserPermissionAccess")
    held = {key: any(key in s.granted for s in sources) for key, _, _ in PERMISSIONS}
    return UserAccess(client.user_id or "", held, sources, "PermissionSet")


def username_of(client: SalesforceClient) -> str | None:
    """The running user's Username (its own User record), or None when it cannot be read."""
    if not client.user_id:
        return None
    query = soql.build_select("User", ["Username"], where=f"Id = {soql.id_literal(client.user_id)}")
    try:
        rows = _rows(client, query)
    except SalesforceError:
        return None
    return str(rows[0]["Username"]) if rows and rows[0].get("Username") else None


def _assigned_sets(client: SalesforceClient, fields: list[str]) -> tuple[PermissionSource, ...]:
    if not client.user_id:
        return ()
    assigned = (
        "Id IN (SELECT PermissionSetId FROM PermissionSetAssignment WHERE AssigneeId = "
        f"{soql.id_literal(client.user_id)})"
    )
    query = soql.build_select(
        "PermissionSet", ["Name", "Label", "IsOwnedByProfile", "Profile.Name", *fields], where=assigned
    )
    out = []
    for row in _rows(client, query):
        profile = row.get("Profile") if row.get("IsOwnedByProfile") else None
        profile_name = profile.get("Name") if isinstance(profile, dict) else None
        out.append(
            PermissionSource(
                name=str(row.get("Name") or ""),
                label=str(row.get("Label") or row.get("Name") or ""),
                profile=str(profile_name) if profile_name else None,
                granted=tuple(key for key, field, _ in PERMISSIONS if row.get(field)),
            )
        )
    return tuple(sorted(out, key=lambda s: (s.profile is None, s.name)))


def field_definitions(
    client: SalesforceClient, objects: Sequence[str], *, concurrency: int = 1
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """({object: {field: DataType}}, {object: why it could not be read}) from FieldDefinition,
    which lists fields whatever the user's field-level security. It needs a filter on the entity:
    a few objects per query, one at a time when a query of several is refused (QUERY_TIMEOUT...);
    `concurrency` queries at once (each a round trip: a thousand objects are dozens of them)."""
    out: dict[str, dict[str, str]] = {name: {} for name in objects}
    failed: dict[str, str] = {}
    batches = list(_chunks(list(objects), _FIELD_DEFINITION_OBJECTS))
    for found, refused in _map(lambda batch: _definitions_of(client, batch), batches, concurrency):
        out.update(found)
        failed.update(refused)
    for name in failed:
        out.pop(name, None)
    return out, failed


def _definitions_of(
    client: SalesforceClient, batch: list[str]
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """One batch's definitions, and the objects of it that could not be read (and why)."""
    out: dict[str, dict[str, str]] = {}
    failed: dict[str, str] = {}
    try:
        _read_definitions(client, batch, out)
    except SalesforceError as exc:
        if len(batch) == 1:
            failed[batch[0]] = f"{exc.error_code + ': ' if exc.error_code else ''}{exc.message}"
            return out, failed
        for name in batch:
            try:
                _read_definitions(client, [name], out)
            except SalesforceError as one:
                failed[name] = f"{one.error_code + ': ' if one.error_code else ''}{one.message}"
    return out, failed


def _map(function: Callable[[list[str]], _T], batches: list[list[str]], concurrency: int) -> list[_T]:
    """`function` of every batch, in order, `concurrency` at a time (one thread: no pool)."""
    if concurrency <= 1 or len(batches) <= 1:
        return [function(batch) for batch in batches]
    caller = contextvars.copy_context()  # the caller's CallMeter counts the calls of every thread
    with ThreadPoolExecutor(max_workers=min(concurrency, len(batches)),
                            thread_name_prefix="preflight") as pool:  # fmt: skip
        return list(pool.map(lambda batch: caller.copy().run(function, batch), batches))


def _read_definitions(client: SalesforceClient, batch: list[str], out: dict[str, dict[str, str]]) -> None:
    by_lower = {name.lower(): name for name in batch}
    names = ", ".join(soql.string_literal(soql.validate_identifier(n, what="object name")) for n in batch)
    query = soql.build_select(
        "FieldDefinition",
        ["QualifiedApiName", "EntityDefinition.QualifiedApiName", "DataType"],
        where=f"EntityDefinition.QualifiedApiName IN ({names})",
    )
    found: dict[str, dict[str, str]] = {name: {} for name in batch}
    for row in _rows(client, query):
        entity = row.get("EntityDefinition")
        entity_name = entity.get("QualifiedApiName") if isinstance(entity, dict) else None
        owner = by_lower.get(str(entity_name or "").lower())
        if owner is not None and row.get("QualifiedApiName"):
            found[owner][str(row["QualifiedApiName"])] = str(row.get("DataType") or "")
    out.update(found)  # only once the whole query was read


def hidden_fields(schema: ObjectSchema, definitions: Mapping[str, str]) -> list[str]:
    """Fields FieldDefinition lists for the object that its describe (this user's) leaves out."""
    if not definitions:
        return []  # the org told us nothing about this object: no evidence of a gap
    return sorted(name for name in definitions if not schema.has_field(name))


def encrypted_fields(schema: ObjectSchema) -> list[str]:
    """The object's classic encrypted (Text (Encrypted), `encryptedstring`) fields."""
    return [f.name for f in schema.fields if f.type == "encryptedstring"]


def record_counts(
    client: SalesforceClient, objects: Iterable[str], *, concurrency: int = 1
) -> dict[str, int]:
    """Org-wide record counts from /limits/recordCount (sharing does not apply; approximate),
    `concurrency` calls at once. Objects Salesforce does not count are absent."""
    out: dict[str, int] = {}
    batches = list(_chunks(sorted(set(objects)), _RECORD_COUNT_OBJECTS))
    for counted in _map(lambda batch: _record_counts_of(client, batch), batches, concurrency):
        out.update(counted)
    return out


def _record_counts_of(client: SalesforceClient, batch: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    body = client.get_json(client.data_path("limits/recordCount"), params={"sObjects": ",".join(batch)})
    entries = body.get("sObjects") if isinstance(body, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("count"), int) and entry.get("name"):
            out[str(entry["name"])] = int(entry["count"])
    return out


#: How long before a moment /limits/recordCount may lag on changes (it is refreshed about daily):
#: records changed in this window may be counted differently, and bound the staleness tolerated.
RECORD_COUNT_STALENESS = timedelta(hours=24)


def changed_since(client: SalesforceClient, name: str, since: datetime, *, fields: Iterable[str]) -> int:
    """Records of `name` the user can count (deleted ones too) with SystemModstamp at or after
    `since`: how far /limits/recordCount may be off for it. 0 without a SystemModstamp field."""
    present = set(fields)
    if "SystemModstamp" not in present:
        return 0
    where = f"SystemModstamp >= {soql.datetime_literal(since)}"
    if "CreatedDate" in present:  # a QUERY_TIMEOUT counts CreatedDate ranges, as the export reads
        return query_rest.count_splitting(client, name, where=where, include_deleted=True)
    return query_rest.count(client, name, where=where, include_deleted=True)


def _rows(client: SalesforceClient, query: str) -> list[dict[str, Any]]:
    return [row for page in query_rest.iter_query_pages(client, query, include_deleted=False) for row in page]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
