"""What Salesforce documents about particular objects, which the export and the verifier share."""

from __future__ import annotations

from dataclasses import dataclass

from sfbackup.salesforce.cut import Cut

#: Objects with a base64 body exported as blobs (the files export).
FILE_OBJECTS: tuple[str, ...] = ("Attachment", "ContentVersion", "Document")

#: Objects whose query Salesforce refuses without an Id filter; read in batches of parent Ids.
#: Value: (filter field, parent object whose Ids drive the batches).
ID_FILTERED_OBJECTS: dict[str, tuple[str, str]] = {
    "ContentDocumentLink": ("ContentDocumentId", "ContentDocument"),
}

#: The condition that keeps only the latest version of each ContentDocument.
LATEST_CONTENT_VERSION = "IsLatest = true"


@dataclass(frozen=True)
class FileSelection:
    """Which files of a file object a snapshot holds: those under its cut (None: every one), the
    deleted ones too with `include_deleted`, only each ContentDocument's latest version with
    `latest_only`. The export reads them and the verifier counts them with the same conditions."""

    cut: Cut | None
    include_deleted: bool = True
    latest_only: bool = False

    def conditions(self, object_name: str) -> list[str]:
        """The WHERE conditions (to be joined with AND) that select these files of `object_name`."""
        found = [c for c in (self.cut.condition() if self.cut else None,) if c]
        if self.latest_only and object_name == "ContentVersion":
            found.append(LATEST_CONTENT_VERSION)
        return found
