"""What Salesforce documents about particular objects, which the export and the verifier share."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sfbackup.salesforce.cut import Cut
from sfbackup.salesforce.partitions import KeysetPaging, ParentFilter, ReadPlan

#: Objects with a base64 body exported as blobs (the files export).
FILE_OBJECTS: tuple[str, ...] = ("Attachment", "ContentVersion", "Document")

#: The base64 field of each file object, served at `sobjects/<Object>/<Id>/<Field>`.
FILE_BODY_FIELDS: dict[str, str] = {"Attachment": "Body", "ContentVersion": "VersionData", "Document": "Body"}

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

#: Objects whose query Salesforce refuses without a filter on one picklist field ("Where clauses
#: should contain StatType", "The WHERE clause must contain a JobType field expression.":
#: SALESFORCE-API.md 5): read with one query per value the describe lists for that field.
PICKLIST_FILTERS: dict[str, str] = {"DataStatistics": "StatType", "FlexQueueItem": "JobType"}

#: EntityDefinition refuses queryMore ("EntityDefinition does not support queryMore(), use LIMIT to
#: restrict the results to a single batch": SalesforceLabs/OrgCheck#429, SFDMU#220): read in LIMIT
#: 2000 queries ordered by QualifiedApiName, each after the last name read (Tooling API "SOQL
#: Operation Limitations" refuses OR, NOT and `!=`, not `>`).
KEYSET_PAGED: dict[str, KeysetPaging] = {"EntityDefinition": KeysetPaging("QualifiedApiName", 2000)}

#: Setup entities whose rows all carry the empty Id `000000000000000AAA`: told apart by DurableId.
DURABLE_ID_OBJECTS: frozenset[str] = frozenset(
    {"EntityDefinition", "FieldDefinition", "EntityParticle", "PicklistValueInfo"}
)

_ENTITY_READ = ReadPlan("EntityDefinition in LIMIT batches", keyset=KEYSET_PAGED["EntityDefinition"],
                        countable=False, query_all=False, identity="DurableId")  # fmt: skip

#: Setup entities refused without "a filter on a reified column" (the refusal names the columns:
#: [EntityDefinitionId,DurableId], [EntityParticleId,DurableId]): read in batches of their parent
#: entity's DurableIds, `IN (...)`, or one at a time when the org refuses the list.
ENTITY_FILTERS: dict[str, ParentFilter] = {
    name: ParentFilter("EntityDefinitionId", "EntityDefinition", batch_size=100, key="DurableId",
                       equals_fallback=True, parent_read=_ENTITY_READ)
    for name in ("FieldDefinition", "EntityParticle")
}  # fmt: skip
ENTITY_FILTERS["PicklistValueInfo"] = ParentFilter(
    "EntityParticleId", "EntityParticle", key="DurableId", equals_fallback=True, batch_size=100,
    parent_read=ReadPlan("EntityParticle by EntityDefinition", parents=ENTITY_FILTERS["EntityParticle"],
                         countable=False, query_all=False, identity="DurableId"),
)  # fmt: skip

#: Objects that store no data: Salesforce computes their rows when queried. UserRecordAccess answers
#: one user's access to up to 200 records (`UserId = X AND RecordId IN (...)`, Object Reference:
#: UserRecordAccess), computed from sharing: reading it all costs users x records / 200 calls and
#: adds nothing the sources do not hold. It is `derived` coverage, complete when its sources are.
DERIVED_OBJECTS: dict[str, str] = {
    "UserRecordAccess": "computed by Salesforce from sharing: record owners and the role hierarchy "
    "(User, UserRole), public groups and queues (Group, GroupMember), org-wide defaults "
    "(EntityDefinition's sharing models), View All / Modify All permissions (PermissionSet, "
    "PermissionSetAssignment, ObjectPermissions) and the sharing rows of every *Share object "
    "(owner, manual, sharing-rule and team shares)",
    "UserEntityAccess": "computed by Salesforce from each user's profile and permission sets: "
    "object permissions (User, Profile, PermissionSet, PermissionSetAssignment, ObjectPermissions)",
    "UserFieldAccess": "computed by Salesforce from each user's profile and permission sets: "
    "field-level security (User, Profile, PermissionSet, PermissionSetAssignment, ObjectPermissions, "
    "FieldPermissions)",
}

#: The objects sharing is computed from (besides every `*Share` object the org lists).
SHARING_SOURCES: tuple[str, ...] = (
    "User", "UserRole", "Group", "GroupMember", "EntityDefinition", "PermissionSet",
    "PermissionSetAssignment", "ObjectPermissions",
)  # fmt: skip

#: The objects each derived object is computed from; `*Share` objects are added for sharing only.
DERIVED_SOURCES: dict[str, tuple[str, ...]] = {
    "UserRecordAccess": SHARING_SOURCES,
    "UserEntityAccess": ("User", "Profile", "PermissionSet", "PermissionSetAssignment", "ObjectPermissions"),
    "UserFieldAccess": ("User", "Profile", "PermissionSet", "PermissionSetAssignment", "ObjectPermissions",
                        "FieldPermissions"),
}  # fmt: skip


def derived_sources(name: str, listed: Iterable[str]) -> list[str]:
    """The objects of `listed` (the org's list) that a derived object is computed from."""
    sources = DERIVED_SOURCES.get(name)
    if sources is None:
        return []
    listed = set(listed)
    sharing = sources is SHARING_SOURCES
    shares = sorted(n for n in listed if sharing and n.endswith("Share") and n != name)
    return [n for n in sources if n in listed] + shares


#: A reified column a refusal names, and how its values are read: any other setup entity refused
#: with "a filter on a reified column is required [EntityDefinitionId,...]" (SearchLayout,
#: OwnerChangeOptionInfo...) is read by batches of entity DurableIds, as FieldDefinition is.
REIFIED_PARENTS: dict[str, ParentFilter] = {
    "EntityDefinitionId": ENTITY_FILTERS["FieldDefinition"],
    "EntityParticleId": ENTITY_FILTERS["PicklistValueInfo"],
    # RelationshipDomain / RelationshipInfo: every relationship has one child entity (its DurableId)
    "ChildSobjectId": ENTITY_FILTERS["FieldDefinition"],
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
