"""How many file bodies the org holds, against the bodies the snapshot's indexes hold.

`verify --against-org` counts, for each file object (Attachment, ContentVersion, Document) and
each base64 field of every other exported object (QuoteDocument.Document, EventLogFile.LogFile,
StaticResource.Body...), the live records under the snapshot's selection that hold a body: the
field's length companion above zero (BodyLength, ContentSize, LogFileLength; base64 fields
themselves are not filterable), or every record when the object has none. The snapshot's side is
the index's rows for that field whose body is stored (`downloaded`, `deduplicated`) and not empty
(an empty body has nothing to lose); without a length companion, every stored row and every
`no_body` one (Salesforce's own word that the record has none). A shortfall
names the object and field (`org_bodies_mismatch`, an error: the verdict is NOT SAFE).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sfbackup.salesforce import query_rest
from sfbackup.salesforce.objects import FILE_BODY_FIELDS
from sfbackup.salesforce.soql import all_of

__all__ = [
    "FILE_BODY_FIELDS",
    "FILE_LENGTH_FIELDS",
    "BodyCount",
    "base64_fields",
    "count_org_bodies",
    "field_names",
    "length_field",
    "stored_bodies",
]

#: Length companions not named `<Field>Length`.
_LENGTH_FIELDS: dict[tuple[str, str], str] = {("ContentVersion", "VersionData"): "ContentSize"}
#: Their length fields (Object Reference): a body is held when it is above zero.
FILE_LENGTH_FIELDS: dict[str, str] = {"Attachment": "BodyLength", "ContentVersion": "ContentSize",
                                      "Document": "BodyLength"}  # fmt: skip
STORED = frozenset({"downloaded", "deduplicated"})


@dataclass(frozen=True)
class BodyCount:
    """Bodies of one object's base64 field: in the org (live, under the selection) and stored."""

    object: str
    field: str
    org: int
    backup: int

    @property
    def shortfall(self) -> int:
        return max(0, self.org - self.backup)


def length_field(object_name: str, field: str, field_names: Iterable[str]) -> str | None:
    """The numeric field that says how long the body of `field` is (None: the object has none)."""
    wanted = _LENGTH_FIELDS.get((object_name, field), f"{field}Length")
    present = {name.lower(): name for name in field_names}
    return present.get(wanted.lower())


def base64_fields(schema_document: dict[str, Any]) -> list[str]:
    """The base64 fields of a saved schema (`schema/<Object>.json`, its describe)."""
    describe = schema_document.get("describe") or {}
    return [str(f["name"]) for f in describe.get("fields", [])
            if isinstance(f, dict) and f.get("type") == "base64" and f.get("name")]  # fmt: skip


def field_names(schema_document: dict[str, Any]) -> list[str]:
    describe = schema_document.get("describe") or {}
    return [str(f["name"]) for f in describe.get("fields", []) if isinstance(f, dict) and f.get("name")]


def stored_bodies(rows: Iterable[dict[str, Any]], field: str, *, by_length: bool) -> int:
    """Index rows of `field` (base64 bodies only, not rich-text images) whose body is stored: the
    non-empty ones when the org is counted by a length field (`by_length`), else every stored one
    and every one Salesforce said has none (`no_body`)."""
    kept = STORED if by_length else STORED | {"no_body"}
    return sum(1 for r in rows if str(r.get("Field") or field) == field and not r.get("RefId")
               and r.get("status") in kept and (not by_length or int(r.get("Size") or 0) > 0))  # fmt: skip


def count_org_bodies(client: Any, object_name: str, field: str, predicate: str | None,
                     names: Iterable[str]) -> tuple[int, str | None]:  # fmt: skip
    """Live records of `object_name` under `predicate` holding a body in `field`, and the length
    field that said so (None: every record was counted)."""
    length = length_field(object_name, field, names)
    where = all_of(predicate, f"{length} > 0" if length else None)
    return query_rest.count(client, object_name, where=where, include_deleted=False), length
