"""What Salesforce documents about particular objects, which the export and the verifier share."""

from __future__ import annotations

from dataclasses import dataclass

from sfbackup.salesforce.cut import Cut
from sfbackup.salesforce.partitions import ParentFilter

#: Objects with a base64 body exported as blobs (the files export).
FILE_OBJECTS: tuple[str, ...] = ("Attachment", "ContentVersion", "Document")

#: Objects whose query Salesforce refuses without a filter on a parent's Id (the objects'
#: reference pages and their refusal texts, docs/emulator.md): read in batches of parent Ids, or
#: one parent at a time where only `field = <single ID>` is accepted.
PARENT_FILTERS: dict[str, ParentFilter] = {
    "ContentDocumentLink": ParentFilter("ContentDocumentId", "ContentDocument"),
    "Vote": ParentFilter("ParentId", "Idea", equals_only=True),
    "IdeaComment": ParentFilter("IdeaId", "Idea"),
    "ContentFolderItem": ParentFilter("ParentContentFolderId", "ContentFolder"),
    "ContentFolderMember": ParentFilter("ParentContentFolderId", "ContentFolder", equals_only=True),
}

#: Objects whose query Salesforce refuses without an Id filter: (filter field, parent object).
ID_FILTERED_OBJECTS: dict[str, tuple[str, str]] = {
    name: (pf.field, pf.parent) for name, pf in PARENT_FILTERS.items()
}

#: ContentDocumentLink: "filtering on non-id fields is only permitted when filtering by
#: ContentDocumentLink.LinkedEntityId using the equals operator" (SALESFORCE-API.md 4.5), so the
#: snapshot's cut cannot go beside the ContentDocumentId filter: it is applied to the rows read.
CUT_REFUSED_BESIDE_FILTER: frozenset[str] = frozenset({"ContentDocumentLink"})

#: Task and Event answer OPERATION_TOO_LARGE ("exceeded 100000 distinct who/what's") to a user
#: without View All Data unless the query filters on a record Id; every activity has an owner.
ACTIVITY_OBJECTS: frozenset[str] = frozenset({"Task", "Event"})
ACTIVITY_OWNER_FILTER = ParentFilter("OwnerId", "User")

#: A knowledge article version is queried only with `PublishStatus = '...'` (and, for a
#: multilingual knowledge base, `Language = '...'`): KnowledgeArticleVersion reference.
KNOWLEDGE_PUBLISH_STATUSES: tuple[str, ...] = ("Online", "Draft", "Archived")

#: Big objects that are not named `__b` (SOQL and SOSL Reference, "SOQL with Big Objects").
STANDARD_BIG_OBJECTS: frozenset[str] = frozenset({"FieldHistoryArchive"})


def is_knowledge(name: str) -> bool:
    """KnowledgeArticleVersion and the article types (`*__kav`)."""
    return name == "KnowledgeArticleVersion" or name.endswith("__kav")


def is_big_object(name: str) -> bool:
    """Big objects: only index-order filters, no COUNT(), no queryAll."""
    return name.endswith("__b") or name in STANDARD_BIG_OBJECTS

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
