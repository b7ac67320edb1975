"""The enterprise org shape: a real enterprise org's object list and the quirks a backup meets in it.

`objects()` turns the default org's objects into an enterprise org's: about a thousand objects in
describeGlobal (generated standard-like and custom objects, most of them empty, with their
`*ChangeEvent`, `*History`, `*Feed` and `*Share` companions, setup objects, objects that answer
INVALID_TYPE_FOR_OPERATION) and the objects each quirk lives on: filter-required objects, big
objects, huge tables whose COUNT() times out, Task/Event, EntityDefinition, an unfilterable
SystemModstamp, wide objects, base64 fields beyond the file objects, rich text images and Bulk CSV
number and NUL quirks. `populate()` generates their rows after the generic data. docs/emulator.md
lists every quirk with its error text and source.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib
from typing import TYPE_CHECKING, Any

from sfbackup.emulator.org.catalog_extra import generated_objects
from sfbackup.emulator.org.catalog_model import (
    FieldDef,
    ObjectDef,
    QueryRule,
    f_area,
    f_bool,
    f_id,
    f_num,
    f_pick,
    f_plain,
    f_ref,
    f_text,
    system_head,
    system_tail,
)
from sfbackup.emulator.org.restrictions import (
    BigObjectIndex,
    CountTimesOut,
    FieldsOnlyBesideLinkedEntity,
    SelectsTooManyFields,
    TooManyActivities,
)

if TYPE_CHECKING:
    from sfbackup.emulator.org.datagen import Generator

__all__ = ["GENERATED_OBJECTS", "objects", "populate"]

#: Generated standard-like and custom objects; with their companions and the objects below the org
#: lists about a thousand objects, as large enterprise orgs do.
GENERATED_OBJECTS = 345
#: One generated object in this many holds rows; the others are empty, as most of a real org's are.
_ROWS_EVERY = 5
_WIDE_FIELDS = 660
_WIDE_FORMULA_FIELDS = 720
_MAX_FORMULA_SELECT = 500
#: EntityDefinition rows for entities the API does not describe: with the ~1,000 described ones,
#: more than one REST batch (2,000), so a plain query needs the queryMore EntityDefinition refuses.
INTERNAL_ENTITIES = 1100
_RO: dict[str, Any] = {"createable": False, "updateable": False, "deletable": False}
_READ_ONLY_FIELD: dict[str, Any] = {"createable": False, "updateable": False}

#: Objects real orgs list whose query answers INVALID_TYPE_FOR_OPERATION "entity type X does not
#: support query" (shared/sf-real-samples/errors/rest_query_errors_per_object_mannharleen.json).
_REFUSING = (
    "AggregateResult", "ContentBody", "EmailStatus", "FeedLike", "FeedSignal", "FeedTrackedChange",
    "FolderedContentDocument", "Name", "OwnedContentDocument", "ProcessInstanceHistory",
    "QuoteTemplateRichTextData", "LogoutEventStream", "DatasetExportEvent", "AssetTokenEvent",
    "OrgLifecycleNotification", "ListEmailChangeEvent", "EventRelationChangeEvent",
)  # fmt: skip
#: Setup and platform objects that are queryable and, in this org, empty.
_EMPTY_SETUP = (
    "ApexClass", "ApexComponent", "ApexLog", "ApexPage", "ApexTestResult", "ApexTrigger",
    "AppMenuItem", "AssignmentRule", "AsyncApexJob", "AuraDefinition", "AuraDefinitionBundle",
    "AuthConfig", "AuthProvider", "BrandTemplate", "BusinessHours", "BusinessProcess", "CallCenter",
    "CronJobDetail", "CronTrigger", "CustomPermission", "Dashboard", "DashboardComponent", "Domain",
    "EmailServicesAddress", "EmailServicesFunction", "EmailTemplate", "ExternalDataSource",
    "FieldPermissions", "FiscalYearSettings", "FlowInterview", "Holiday", "InstalledMobileApp",
    "LightningComponentBundle", "ListView", "LoginIp", "MailmergeTemplate", "NamedCredential",
    "ObjectPermissions", "OrgWideEmailAddress", "Period", "PermissionSetGroup", "PermissionSetLicense",
    "ProcessDefinition", "ProcessInstance", "ProcessInstanceStep", "ProcessInstanceWorkitem",
    "Publisher", "QueueSobject", "Report", "SamlSsoConfig", "Scontrol", "SetupAuditTrail",
    "SetupEntityAccess", "Site", "StaticResourceVersion", "TenantUsageEntitlement", "UserLicense",
    "UserPackageLicense", "UserPreference", "WebLink",
)  # fmt: skip
#: Standard objects whose sharing rows a real org lists as `<Object>Share`.
_STANDARD_SHARES = ("Account", "Contact", "Lead", "Opportunity", "Case", "Campaign")


def objects(base: list[ObjectDef], *, seed: int, operation_too_large: bool) -> list[ObjectDef]:
    """The enterprise org's objects: `base` (the default org's) plus everything above. An object
    defined here replaces a generated one of the same name."""
    generated = generated_objects(GENERATED_OBJECTS, seed)
    for i, obj in enumerate(generated):
        if obj.generated_rows is None and i % _ROWS_EVERY:
            obj.generated_rows = 0
    shares = [_share(o) for o in generated if o.custom and o.associate_entity_type is None][::2]
    shares += [_share_of(name) for name in _STANDARD_SHARES]
    refusing = [
        ObjectDef(name, None, [f_id(), *system_tail(None)[:2]], id_prefix="000", refuses_query=True, **_RO)
        for name in _REFUSING
    ]
    empty_setup = [
        ObjectDef(
            name,
            None,
            [f_id(), f_text("Name", 255), *system_tail(None)],
            id_prefix="000",
            generated_rows=0,
            **_RO,
        )
        for name in _EMPTY_SETUP
    ]
    special = [
        *_activities(operation_too_large),
        *_filter_required(),
        *_setup_filtered(),
        *_big_objects(),
        *_huge_tables(),
        _activity_field_history(),
        _entity_definition(),
        *_wide_objects(),
        *_file_like(),
        _field_report(),
        _legacy_import(),
    ]
    by_name: dict[str, ObjectDef] = {}
    for obj in [*base, *generated, *shares, *refusing, *empty_setup, *special]:
        by_name[obj.name] = obj
    link = by_name["ContentDocumentLink"]
    by_name[link.name] = dataclasses.replace(link, restrictions=(FieldsOnlyBesideLinkedEntity(),))
    return list(by_name.values())


# -- objects -------------------------------------------------------------------------------------


def _share_fields(parent: str) -> list[FieldDef]:
    return [
        f_id(),
        f_ref("ParentId", parent, "Parent", nillable=False, updateable=False),
        f_ref("UserOrGroupId", ("User", "Group"), "UserOrGroup", nillable=False),
        f_pick("AccessLevel", ("Read", "Edit", "All"), 40),
        f_pick("RowCause", ("Owner", "Manual", "Rule"), 40),
        f_plain("LastModifiedDate", "datetime", nillable=False, **_READ_ONLY_FIELD),
        f_ref("LastModifiedById", "User", "LastModifiedBy", nillable=False, **_READ_ONLY_FIELD),
        f_bool("IsDeleted", **_READ_ONLY_FIELD),
    ]


def _share(parent: ObjectDef) -> ObjectDef:
    return ObjectDef(
        parent.name[:-3] + "__Share",
        None,
        _share_fields(parent.name),
        id_prefix="02c",
        generated_rows=0,
        bulk_supported=False,
    )


def _share_of(parent: str) -> ObjectDef:
    return ObjectDef(
        parent + "Share", None, _share_fields(parent), id_prefix="00r", generated_rows=0, bulk_supported=False
    )


def _activities(operation_too_large: bool) -> list[ObjectDef]:
    restrictions = (TooManyActivities(),) if operation_too_large else ()

    def activity(name: str, prefix: str, extra: list[FieldDef]) -> ObjectDef:
        return ObjectDef(
            name,
            prefix,
            [
                *system_head(),
                f_text("Subject", 255),
                f_ref("WhatId", ("Account", "Opportunity"), "What"),
                f_ref("WhoId", ("Contact", "Lead"), "Who"),
                f_ref("AccountId", "Account", **_READ_ONLY_FIELD),
                *extra,
                *system_tail(),
            ],
            restrictions=restrictions,
            generated_rows=0,
        )

    return [
        activity(
            "Task",
            "00T",
            [f_plain("ActivityDate", "date"), f_pick("Status", ("Not Started", "Completed"), 40)],
        ),
        activity(
            "Event", "00U", [f_plain("ActivityDateTime", "datetime"), f_num("DurationInMinutes", "int", 8)]
        ),
    ]


def _filter_required() -> list[ObjectDef]:
    """Objects Salesforce refuses to query without a filter on particular fields; texts verbatim
    from shared/sf-real-samples/errors/rest_query_errors_per_object_mannharleen.json except where
    docs/emulator.md marks them UNCONFIRMED."""

    def obj(name: str, prefix: str, fields: list[FieldDef], rule: QueryRule, **kw: Any) -> ObjectDef:
        return ObjectDef(
            name,
            prefix,
            [*system_head(), *fields, *system_tail(None)],
            query_rule=rule,
            generated_rows=0,
            **kw,
        )

    article = [
        f_text("Title", 255),
        f_text("UrlName", 255),
        f_pick("PublishStatus", ("Online", "Draft", "Archived"), 40),
        f_pick("Language", ("en_US", "fr"), 40),
    ]
    return [
        obj(
            "KnowledgeArticleVersion",
            "ka0",
            list(article),
            QueryRule(
                ("Id", "PublishStatus"),
                "MALFORMED_QUERY",
                "Implementation restriction: When querying the KnowledgeArticleVersion object, you must "
                "filter using the following syntax: Id = [single ID], Id IN [list of ID's] or PublishStatus "
                "= ['Online' or 'Draft' or 'Archived'].",
            ),
            bulk_supported=False,
            **_RO,
        ),
        obj(
            "FAQ__kav",
            "ka1",
            [*article, f_area("Answer__c", 32768)],
            QueryRule(
                ("Id", ("PublishStatus", "Language")),
                "MALFORMED_QUERY",
                "Implementation restriction: When querying the FAQ__kav object, you must filter using the "
                "following syntax: Id = [single ID], Id IN [list of ID's] or PublishStatus = ['Online' or "
                "'Draft' or 'Archived'] and Language = [a supported language].",
            ),
            custom=True,
            bulk_supported=False,
        ),
        obj(
            "Vote",
            "00W",
            [f_ref("ParentId", "Idea", "Parent", nillable=False), f_pick("Type", ("Up", "Down"), 40)],
            QueryRule(
                ("ParentId", "Id"),
                "MALFORMED_QUERY",
                "Implementation restriction: When querying the Vote object, you must filter using the "
                "following syntax: ParentId = [single ID], Parent.Type = [single Type], Id = [single ID], "
                "or Id IN [list of ID's].",
                equals_only=("ParentId",),
            ),
        ),
        obj(
            "IdeaComment",
            "00a",
            [f_ref("IdeaId", "Idea", nillable=False), f_area("CommentBody", 4000), f_text("CommunityId", 18)],
            QueryRule(
                ("CommunityId", "Id", "IdeaId"),
                "MALFORMED_QUERY",
                "Implementation restriction. When querying the Idea Comment object, you must filter using "
                "the following syntax: CommunityId = [single ID], Id = [single ID], IdeaId = [single ID], "
                "Id IN [list of IDs], or IdeaId IN [list of IDs].",
                equals_only=("CommunityId",),
            ),
        ),
        ObjectDef(
            "ContentFolder",
            "07H",
            [
                *system_head(),
                f_text("Name", 255),
                f_ref("ParentContentFolderId", "ContentFolder"),
                *system_tail(None),
            ],
            generated_rows=0,
        ),
        obj(
            "ContentFolderItem",
            "07I",
            [f_ref("ParentContentFolderId", "ContentFolder"), f_text("Title", 255), f_bool("IsFolder")],
            QueryRule(
                ("Id", "ParentContentFolderId"),
                "MALFORMED_QUERY",
                "Implementation restriction: ContentFolderItem requires a filter by Id or "
                "ParentContentFolderId using the equals or 'IN' operator",
            ),
            **_RO,
        ),
        obj(
            "ContentFolderMember",
            "07v",
            [
                f_ref("ParentContentFolderId", "ContentFolder"),
                f_ref("ChildRecordId", "ContentDocument", "ChildRecord"),
            ],
            QueryRule(
                ("Id", "ChildRecordId", "ParentContentFolderId"),
                "MALFORMED_QUERY",
                "Implementation restriction: ContentFolderMember requires a filter by a single Id, "
                "ChildRecordId or ParentContentFolderId using the equals operator",
                operators=("=",),
            ),
            **_RO,
        ),
        ObjectDef(
            "UserRecordAccess",
            None,
            [
                f_id(),
                f_ref("UserId", "User"),
                f_text("RecordId", 18),
                f_bool("HasReadAccess"),
                f_bool("HasEditAccess"),
                f_bool("HasDeleteAccess"),
                f_pick("MaxAccessLevel", ("None", "Read", "Edit", "Delete", "All"), 40),
            ],
            id_prefix="000",
            generated_rows=0,
            bulk_supported=False,
            query_rule=QueryRule(
                (("UserId", "RecordId"),),
                "MALFORMED_QUERY",
                "Implementation restriction: UserRecordAccess requires a filter by UserId and RecordId",
                select_only=("recordid", "has*access", "maxaccesslevel"),
                select_message="Can select only RecordId, a Has*Access field, and MaxAccessLevel",
            ),
            **_RO,
        ),
    ]


#: DataStatistics is undocumented: its StatType values here are UNCONFIRMED (docs/emulator.md).
STAT_TYPES = ("DataStorage", "FileStorage", "RecordCount")
#: FlexQueueItem.JobType (Object Reference, FlexQueueItem: a restricted picklist; "Currently, queries
#: are supported only on BatchApex jobs", so the flex queue's rows are BatchApex ones).
JOB_TYPES = ("ApexToken", "BatchApex", "BatchApexWorker", "Future", "Queueable", "ScheduledApex",
             "SharingRecalculation", "TestRequest", "TestWorker")  # fmt: skip


def _setup_filtered() -> list[ObjectDef]:
    """Setup objects queried only with a filter on a picklist (DataStatistics, FlexQueueItem) or on
    an entity's key (EntityParticle, PicklistValueInfo; FieldDefinition is `org.access`'s). Texts
    verbatim from shared/sf-real-samples/errors/rest_query_errors_per_object_mannharleen.json."""
    ro: dict[str, Any] = {"createable": False, "updateable": False}

    def setup(name: str, fields: list[FieldDef], rule: QueryRule, **kw: Any) -> ObjectDef:
        return ObjectDef(name, None, [f_id(), *fields], id_prefix="000", query_rule=rule, generated_rows=0,
                         bulk_supported=False, **_RO, **kw)  # fmt: skip

    def reified(name: str, columns: tuple[str, ...]) -> QueryRule:
        text = f"{name}: a filter on a reified column is required [{','.join(columns)}]"
        return QueryRule(columns, "MALFORMED_QUERY", text, served_by_key=True)

    unsupported = "EXTERNAL_OBJECT_UNSUPPORTED_EXCEPTION"
    # fmt: off
    return [
        setup("DataStatistics",
              [f_pick("StatType", STAT_TYPES, 40, **ro), f_num("StatValue", "long", 18, **ro),
               f_text("ExternalId", 255, **ro)],
              QueryRule(("StatType",), unsupported, "Where clauses should contain StatType",
                        served_by_key=True)),
        setup("FlexQueueItem",
              [f_ref("AsyncApexJobId", "AsyncApexJob", "AsyncApexJob", **ro),
               f_text("FlexQueueItemId", 255, **ro), f_num("JobPosition", "int", 9, **ro),
               f_pick("JobType", JOB_TYPES, 255, **ro)],
              QueryRule(("JobType",), unsupported,
                        "The WHERE clause must contain a JobType field expression.", served_by_key=True)),
        setup("EntityParticle",
              [f_text("DurableId", 255, **ro), f_text("EntityDefinitionId", 255, **ro),
               f_text("FieldDefinitionId", 255, **ro), f_text("QualifiedApiName", 255, **ro),
               f_text("Label", 255, **ro), f_text("DataType", 255, **ro)],
              reified("EntityParticle", ("EntityDefinitionId", "FieldDefinitionId", "DurableId"))),
        setup("PicklistValueInfo",
              [f_text("DurableId", 255, **ro), f_text("EntityParticleId", 255, **ro),
               f_text("Label", 255, **ro), f_text("Value", 255, **ro), f_bool("IsActive", **ro),
               f_bool("IsDefaultValue", **ro)],
              reified("PicklistValueInfo", ("EntityParticleId", "DurableId"))),
        # no strategy of their own in sfbackup: read from what their refusal names
        setup("SearchLayout",
              [f_text("DurableId", 255, **ro), f_text("EntityDefinitionId", 255, **ro),
               f_text("Label", 255, **ro), f_text("LayoutType", 40, **ro)],
              reified("SearchLayout", ("EntityDefinitionId", "DurableId"))),
        setup("OwnerChangeOptionInfo",
              [f_text("DurableId", 255, **ro), f_text("EntityDefinitionId", 255, **ro),
               f_text("Name", 255, **ro), f_text("Label", 255, **ro), f_bool("IsEditable", **ro),
               f_bool("DefaultValue", **ro)],
              reified("OwnerChangeOptionInfo", ("EntityDefinitionId", "DurableId"))),
        # ChildSobjectId / ParentSobjectId hold the entity's DurableId (Object Reference, RelationshipDomain)
        setup("RelationshipDomain",
              [f_text("DurableId", 255, **ro), f_text("ChildSobjectId", 255, **ro),
               f_text("ParentSobjectId", 255, **ro), f_text("FieldId", 255, **ro),
               f_text("RelationshipInfoId", 255, **ro), f_text("RelationshipName", 255, **ro),
               f_bool("IsCascadeDelete", **ro), f_bool("IsRestrictedDelete", **ro)],
              reified("RelationshipDomain",
                      ("FieldId", "ChildSobjectId", "ParentSobjectId", "RelationshipInfoId", "DurableId"))),
        setup("RelationshipInfo",
              [f_text("DurableId", 255, **ro), f_text("ChildSobjectId", 255, **ro),
               f_text("FieldId", 255, **ro), f_bool("IsCascadeDelete", **ro),
               f_bool("IsRestrictedDelete", **ro)],
              reified("RelationshipInfo", ("ChildSobjectId", "FieldId", "DurableId"))),
    ]
    # fmt: on


def _big_objects() -> list[ObjectDef]:
    stamps = [
        f_ref("CreatedById", "User", "CreatedBy", **_READ_ONLY_FIELD),
        f_plain("CreatedDate", "datetime", **_READ_ONLY_FIELD),
        f_plain("SystemModstamp", "datetime", **_READ_ONLY_FIELD),
    ]
    archive = ObjectDef(
        "FieldHistoryArchive",
        None,
        [
            f_id(),
            f_text("FieldHistoryType", 40),
            f_text("ParentId", 18),
            *stamps,
            f_text("Field", 255),
            f_text("OldValue", 255),
            f_text("NewValue", 255),
            f_text("HistoryId", 18),
        ],
        id_prefix="0Ax",
        restrictions=(BigObjectIndex(("FieldHistoryType", "ParentId", "CreatedDate")),),
        bulk_supported=False,
        generated_rows=0,
        **_RO,
    )
    log = ObjectDef(
        "Shipment_Log__b",
        None,
        [
            f_id(),
            f_ref("Account__c", "Account"),
            f_plain("Logged_At__c", "datetime"),
            *stamps,
            f_text("Status__c", 40),
            f_text("Carrier__c", 80),
        ],
        id_prefix="0Ay",
        custom=True,
        restrictions=(BigObjectIndex(("Account__c", "Logged_At__c")),),
        bulk_supported=False,
        generated_rows=0,
        updateable=False,
        deletable=False,
    )
    return [archive, log]


def _huge_tables() -> list[ObjectDef]:
    login = ObjectDef(
        "LoginHistory",
        "0Ya",
        [
            f_id(),
            f_ref("UserId", "User", **_READ_ONLY_FIELD),
            f_plain("LoginTime", "datetime"),
            f_pick("LoginType", ("Application", "Remote Access 2.0"), 40),
            f_text("SourceIp", 39),
            f_text("Status", 128),
            f_text("Browser", 64),
        ],
        restrictions=(CountTimesOut(),),
        generated_rows=0,
        **_RO,
    )
    telemetry = ObjectDef(
        "Telemetry_Event__c",
        "a9T",
        [
            *system_head(),
            f_text("Name", 80, name_field=True),
            *system_tail(),
            f_text("Device__c", 80),
            f_num("Reading__c", "double", 16, 4),
        ],
        custom=True,
        restrictions=(CountTimesOut(),),
        generated_rows=0,
    )
    return [login, telemetry]


def _entity_definition() -> ObjectDef:
    """Listed in describeGlobal as real orgs list it; `org.access` supplies its fields, rows (every
    described object, plus `INTERNAL_ENTITIES` undescribed ones) and its Tooling restrictions."""
    return ObjectDef("EntityDefinition", None, [f_id()], id_prefix="000", generated_rows=0, **_RO)


def _activity_field_history() -> ObjectDef:
    # SystemModstamp is listed with filterable false: airbytehq/airbyte#62877, PR #68166.
    return ObjectDef(
        "ActivityFieldHistory",
        "0lH",
        [
            f_id(),
            f_ref("ActivityId", "Task", "Activity", **_READ_ONLY_FIELD),
            f_plain("ChangedDate", "datetime", **_READ_ONLY_FIELD),
            f_ref("ChangedById", "User", "ChangedBy", **_READ_ONLY_FIELD),
            f_text("FieldName", 255),
            f_text("OldValueText", 255),
            f_text("NewValueText", 255),
            f_pick("Operation", ("Insert", "Update", "Delete"), 40),
            *[dataclasses.replace(f, not_filterable=f.name == "SystemModstamp") for f in system_tail(None)],
        ],
        generated_rows=0,
        bulk_supported=False,
        **_RO,
    )


#: The formula of a wide object's formula field, by its type (describe calculatedFormula).
_FORMULAS = {
    "string": "UPPER(Name)",
    "int": "LEN(Name)",
    "double": "LEN(Name) / 2",
    "boolean": "ISPICKVAL(F005__c, 'Red')",
    "date": "DATEVALUE(CreatedDate) + 30",
    "picklist": "TEXT(F005__c)",
}


def _wide_objects() -> list[ObjectDef]:
    kinds = ("string", "int", "double", "boolean", "date", "picklist")

    def field(i: int, formula: bool) -> FieldDef:
        kind, name = kinds[i % len(kinds)], f"F{i:03d}__c"
        base = {
            "string": lambda: f_text(name, 80),
            "int": lambda: f_num(name, "int", 9),
            "double": lambda: f_num(name, "double", 16, 2),
            "boolean": lambda: f_bool(name),
            "date": lambda: f_plain(name, "date"),
            "picklist": lambda: f_pick(name, ("Red", "Green", "Blue")),
        }[kind]()
        return (
            dataclasses.replace(base, calculated=True, createable=False, updateable=False,
                                formula=_FORMULAS[kind])
            if formula
            else base
        )

    def wide(name: str, prefix: str, count: int, formula: bool, **kw: Any) -> ObjectDef:
        return ObjectDef(
            name,
            prefix,
            [
                *system_head(),
                f_text("Name", 80, name_field=True),
                *system_tail(),
                *(field(i, formula and i % 2 == 0) for i in range(1, count + 1)),
            ],
            custom=True,
            generated_rows=4,
            **kw,
        )

    return [
        wide("Wide_Survey__c", "a9W", _WIDE_FIELDS, False),
        wide(
            "Wide_Formula__c",
            "a9X",
            _WIDE_FORMULA_FIELDS,
            True,
            restrictions=(SelectsTooManyFields(_MAX_FORMULA_SELECT),),
        ),
    ]


def _file_like() -> list[ObjectDef]:
    """Objects with a base64 field beyond Attachment, ContentVersion and Document (CumulusCI#1662)."""
    return [
        ObjectDef(
            "QuoteDocument",
            "0QD",
            [
                f_id(),
                f_ref("QuoteId", "Quote", nillable=False, updateable=False),
                f_text("Name", 255),
                f_plain("Document", "base64", updateable=False),
                f_ref("ContentVersionDocumentId", "ContentVersion", "ContentVersionDocument"),
                f_bool("IsDeleted", **_READ_ONLY_FIELD),
                *system_tail(None),
            ],
            generated_rows=0,
            updateable=False,
        ),
        ObjectDef(
            "EventLogFile",
            "0AT",
            [
                f_id(),
                f_bool("IsDeleted", **_READ_ONLY_FIELD),
                f_text("EventType", 40),
                f_plain("LogDate", "datetime"),
                f_num("LogFileLength", "double", 18, 0),
                f_text("LogFileContentType", 40),
                f_plain("LogFile", "base64"),
                f_pick("Interval", ("Daily", "Hourly"), 40),
                *system_tail(None),
            ],
            generated_rows=0,
            **_RO,
        ),
        ObjectDef(
            "StaticResource",
            "081",
            [
                f_id(),
                f_text("Name", 255, name_field=True),
                f_text("ContentType", 120),
                f_num("BodyLength", "int", 9, **_READ_ONLY_FIELD),
                f_plain("Body", "base64"),
                f_area("Description", 255),
                f_pick("CacheControl", ("Private", "Public"), 40),
                *system_tail(None),
            ],
            generated_rows=0,
        ),
    ]


def _field_report() -> ObjectDef:
    summary = FieldDef("Summary__c", "textarea", length=32768, extra_type_info="richtextarea", custom=True)
    return ObjectDef(
        "Field_Report__c",
        "a9F",
        [*system_head(), f_text("Name", 80, name_field=True), *system_tail(), summary],
        custom=True,
        generated_rows=0,
    )


def _legacy_import() -> ObjectDef:
    return ObjectDef(
        "Legacy_Import__c",
        "a9L",
        [
            *system_head(),
            f_text("Name", 80, name_field=True),
            *system_tail(),
            # Bulk CSV writes these integers as "0.0", "42.0" (tap-salesforce sync.py comment)
            dataclasses.replace(
                f_num("Seats__c", "int", 9),
                csv_sql="CASE WHEN {col} IS NULL THEN NULL ELSE printf('%d.0', {col}) END",
            ),
            # and doubles as Java prints them: "1.5E7" (forcedotcom/cli#3103, #3367)
            dataclasses.replace(f_num("Revenue__c", "double", 18, 2), csv_sql="sfb_java_double({col})"),
            # text holding NUL bytes, which reach the Bulk CSV as they are (airbytehq/airbyte#8300)
            dataclasses.replace(f_text("Raw_Text__c", 255), csv_sql="sfb_nul_marked({col})"),
        ],
        custom=True,
        generated_rows=0,
    )


# -- rows ----------------------------------------------------------------------------------------


def png(red: int, green: int, blue: int) -> bytes:
    """A 1x1 PNG of one colour (the images of the rich text fields)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes([0, red, green, blue])))
        + chunk(b"IEND", b"")
    )


def populate(gen: Generator) -> None:
    """Rows of the enterprise objects, after the generic data (so parents exist)."""
    cat, rnd = gen.catalog, gen.rng.random
    accounts, users = gen.ids["Account"], gen.users

    def rows(name: str, count: int, values: Any) -> list[dict[str, Any]]:
        out = []
        for i in range(count):
            row = gen.system(cat[name.lower()])
            row.update(values(i, row))
            out.append(row)
        gen.insert(name, out)
        return out

    contacts = gen.ids["Contact"]
    rows(
        "Task",
        40,
        lambda i, r: {
            "Subject": f"Call {i}",
            "WhatId": accounts[i % len(accounts)],
            "AccountId": accounts[i % len(accounts)],
            "WhoId": contacts[i % len(contacts)],
            "ActivityDate": r["CreatedDate"][:10],
            "Status": "Completed",
        },
    )
    rows(
        "Event",
        20,
        lambda i, r: {
            "Subject": f"Meeting {i}",
            "WhatId": accounts[i % len(accounts)],
            "AccountId": accounts[i % len(accounts)],
            "ActivityDateTime": r["CreatedDate"],
            "DurationInMinutes": 30,
        },
    )
    statuses, languages = ("Online", "Draft", "Archived"), ("en_US", "fr")
    for name in ("KnowledgeArticleVersion", "FAQ__kav"):
        answer = name == "FAQ__kav"
        rows(
            name,
            12,
            lambda i, r, answer=answer: {
                "Title": f"Article {i}",
                "UrlName": f"article-{i}",
                "PublishStatus": statuses[i % 3],
                "Language": languages[i // 6],
                **({"Answer__c": f"Answer {i}"} if answer else {}),
            },
        )
    ideas = gen.ids.get("Idea") or [r["Id"] for r in rows("Idea", 3, lambda i, r: {"Name": f"Idea {i}"})]
    rows("Vote", 12, lambda i, r: {"ParentId": ideas[i % len(ideas)], "Type": ("Up", "Down")[i % 2]})
    rows("IdeaComment", 9, lambda i, r: {"IdeaId": ideas[i % len(ideas)], "CommentBody": f"Comment {i}"})
    folders = rows("ContentFolder", 2, lambda i, r: {"Name": f"Folder {i}"})
    documents = gen.ids["ContentDocument"]
    rows(
        "ContentFolderItem",
        6,
        lambda i, r: {"ParentContentFolderId": folders[i % 2]["Id"], "Title": f"Item {i}", "IsFolder": 0},
    )
    rows(
        "ContentFolderMember",
        6,
        lambda i, r: {
            "ParentContentFolderId": folders[i % 2]["Id"],
            "ChildRecordId": documents[i % len(documents)],
        },
    )
    rows(
        "UserRecordAccess",
        10,
        lambda i, r: {
            "UserId": users[0],
            "RecordId": accounts[i % len(accounts)],
            "HasReadAccess": 1,
            "HasEditAccess": 1,
            "HasDeleteAccess": 1,
            "MaxAccessLevel": "All",
        },
    )
    rows(
        "FieldHistoryArchive",
        30,
        lambda i, r: {
            "FieldHistoryType": ("Account", "Contact")[i % 2],
            "ParentId": accounts[i % len(accounts)],
            "Field": "Name",
            "OldValue": f"Old {i}",
            "NewValue": f"New {i}",
            "HistoryId": gen.new_id("017"),
        },
    )
    rows(
        "Shipment_Log__b",
        25,
        lambda i, r: {
            "Account__c": accounts[i % 5 % len(accounts)],
            "Logged_At__c": r["CreatedDate"],
            "Status__c": "Delivered",
            "Carrier__c": ("DHL", "UPS")[i % 2],
        },
    )
    rows(
        "LoginHistory",
        60,
        lambda i, r: {
            "UserId": users[i % len(users)],
            "LoginTime": r["CreatedDate"],
            "LoginType": "Application",
            "SourceIp": f"10.0.0.{i}",
            "Status": "Success",
            "Browser": "Chrome",
        },
    )
    rows(
        "Telemetry_Event__c",
        60,
        lambda i, r: {
            "Name": f"TE-{i:05d}",
            "Device__c": f"sensor-{i % 7}",
            "Reading__c": round(rnd() * 100, 4),
        },
    )
    tasks = gen.ids["Task"]
    rows(
        "ActivityFieldHistory",
        20,
        lambda i, r: {
            "ActivityId": tasks[i % len(tasks)],
            "ChangedDate": r["CreatedDate"],
            "ChangedById": users[0],
            "FieldName": "Status",
            "OldValueText": "Not Started",
            "NewValueText": "Completed",
            "Operation": "Update",
        },
    )
    _setup_rows(gen, rows)
    _file_rows(gen, rows)
    _rich_text_rows(gen, rows)
    quirky = ((0, 15_000_000.0, "NUL\x00inside"), (42, 12_345_678.9, "two\x00\x00NULs"), (7, 2.5e-5, "plain"),
              (None, None, None), (1_000_000, 1e21, "end\x00"), (3, 1234.5, "ok"))  # fmt: skip
    rows(
        "Legacy_Import__c",
        len(quirky),
        lambda i, r: {
            "Name": f"Legacy {i}",
            "Seats__c": quirky[i][0],
            "Revenue__c": quirky[i][1],
            "Raw_Text__c": quirky[i][2],
        },
    )


def _setup_rows(gen: Generator, rows: Any) -> None:
    """DataStatistics by StatType, the flex queue's BatchApex jobs, and EntityParticle,
    PicklistValueInfo, SearchLayout and OwnerChangeOptionInfo rows for every 25th described object
    (in name order, so their entities fall in every LIMIT batch of EntityDefinition): each row names
    its entity's DurableId (its API name)."""
    rows("DataStatistics", 6, lambda i, r: {
        "StatType": STAT_TYPES[i % 3], "StatValue": 1000 * (i + 1), "ExternalId": f"stat-{i}"})  # fmt: skip
    rows("FlexQueueItem", 4, lambda i, r: {
        "AsyncApexJobId": gen.new_id("707"), "FlexQueueItemId": f"flex-{i}", "JobPosition": i,
        "JobType": "BatchApex"})  # fmt: skip
    entities = sorted((o for o in gen.catalog.values() if o.queryable), key=lambda o: o.name)[::25]
    particles: list[tuple[str, str, str, str, str]] = []
    values: list[tuple[str, str, str, bool]] = []
    for obj in entities:
        chosen = {f.name: f for f in [*obj.fields[:2], *[f for f in obj.fields if f.picklist][:1]]}
        for fd in chosen.values():
            durable = f"{obj.name}.{fd.name}"
            particles.append((durable, obj.name, fd.name, fd.label or fd.name, fd.type))
            values.extend((f"{durable}.{v}", durable, v, k == 0) for k, v in enumerate(fd.picklist))
    rows("EntityParticle", len(particles), lambda i, r: {
        "DurableId": particles[i][0], "EntityDefinitionId": particles[i][1],
        "FieldDefinitionId": particles[i][0], "QualifiedApiName": particles[i][2], "Label": particles[i][3],
        "DataType": particles[i][4]})  # fmt: skip
    layouts = [(f"{obj.name}.{kind}", obj.name, kind) for obj in entities for kind in ("Search", "Lookup")]
    rows("SearchLayout", len(layouts), lambda i, r: {
        "DurableId": layouts[i][0], "EntityDefinitionId": layouts[i][1], "Label": layouts[i][2],
        "LayoutType": layouts[i][2]})  # fmt: skip
    owned = [obj.name for obj in entities if obj.field("OwnerId") is not None]
    rows("OwnerChangeOptionInfo", len(owned), lambda i, r: {
        "DurableId": f"{owned[i]}.TransferOpenActivities", "EntityDefinitionId": owned[i],
        "Name": "TransferOpenActivities", "Label": "Transfer open activities", "IsEditable": 1,
        "DefaultValue": 1})  # fmt: skip
    # one RelationshipInfo per lookup of those entities, one RelationshipDomain per (lookup, parent)
    lookups = [(f"{obj.name}.{fd.name}", obj.name, fd)
               for obj in entities for fd in obj.fields if fd.reference_to]  # fmt: skip
    rows("RelationshipInfo", len(lookups), lambda i, r: {
        "DurableId": lookups[i][0], "ChildSobjectId": lookups[i][1], "FieldId": lookups[i][0],
        "IsCascadeDelete": 0, "IsRestrictedDelete": 0})  # fmt: skip
    domains = [(f"{info}.{parent}", child, parent, info, fd.relationship_name or "")
               for info, child, fd in lookups for parent in fd.reference_to]  # fmt: skip
    rows("RelationshipDomain", len(domains), lambda i, r: {
        "DurableId": domains[i][0], "ChildSobjectId": domains[i][1], "ParentSobjectId": domains[i][2],
        "FieldId": domains[i][3], "RelationshipInfoId": domains[i][3], "RelationshipName": domains[i][4],
        "IsCascadeDelete": 0, "IsRestrictedDelete": 0})  # fmt: skip
    rows("PicklistValueInfo", len(values), lambda i, r: {
        "DurableId": values[i][0], "EntityParticleId": values[i][1], "Label": values[i][2],
        "Value": values[i][2], "IsActive": 1, "IsDefaultValue": int(values[i][3])})  # fmt: skip


def _file_rows(gen: Generator, rows: Any) -> None:
    blobs: list[tuple[Any, ...]] = []

    def body(record_id: str, field: str, size: int, mime: str) -> None:
        blobs.append((record_id, field, size, mime, f"{gen.seed}:{record_id}:{field}", None))

    quotes = gen.ids.get("Quote") or [r["Id"] for r in rows("Quote", 2, lambda i, r: {"Name": f"Quote {i}"})]
    for row in rows(
        "QuoteDocument",
        3,
        lambda i, r: {"QuoteId": quotes[i % len(quotes)], "Name": f"Quote {i}.pdf", "IsDeleted": 0},
    ):
        body(row["Id"], "Document", 2000 + len(blobs) * 100, "application/pdf")
    sizes = (1500, 0, 40_000)
    for i, row in enumerate(
        rows(
            "EventLogFile",
            3,
            lambda i, r: {
                "IsDeleted": 0,
                "EventType": ("API", "Login", "Report")[i],
                "LogDate": r["CreatedDate"],
                "LogFileLength": float(sizes[i]),
                "LogFileContentType": "CSV",
                "Interval": "Daily",
            },
        )
    ):
        body(row["Id"], "LogFile", sizes[i], "text/csv")
    for i, row in enumerate(
        rows(
            "StaticResource",
            2,
            lambda i, r: {
                "Name": f"resource_{i}",
                "ContentType": "application/zip",
                "BodyLength": 700 + i,
                "CacheControl": "Public",
            },
        )
    ):
        body(row["Id"], "Body", 700 + i, "application/zip")
    gen.conn.executemany("INSERT INTO _blob VALUES (?, ?, ?, ?, ?, ?)", blobs)


def _rich_text_rows(gen: Generator, rows: Any) -> None:
    """Rich text with `<img>` tags as Salesforce stores them; the images are kept in `_blob` under
    (record id, "<field>/<refid>") and served by the sObject Rich Text Image Get resource."""
    images: list[tuple[Any, ...]] = []

    def html(i: int, row: dict[str, Any]) -> dict[str, Any]:
        tags = []
        for k in range(1 + i % 2):
            refid = gen.new_id("0EM")[:15]
            data = png(40 * i % 256, 80 * k % 256, 200)
            images.append((row["Id"], f"Summary__c/{refid}", len(data), "image/png", None, data))
            tags.append(
                f'<img alt="photo {k}" src="https://emulated-org.file.force.com/servlet/rtaImage?'
                f'eid={row["Id"][:15]}&amp;feoid=00N5e00000RtaSum&amp;refid={refid}"></img>'
            )
        return {"Name": f"Report {i}", "Summary__c": f"<p>Site visit {i}</p><p>{''.join(tags)}</p>"}

    rows("Field_Report__c", 5, html)
    gen.conn.executemany("INSERT INTO _blob VALUES (?, ?, ?, ?, ?, ?)", images)
