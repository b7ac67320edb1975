"""The optional larger catalog: generated objects and the objects real orgs list but restrict.

`generated_objects(count, seed)` makes `count` standard-like then custom objects with a few random
fields each, their change-event, history and feed companions, and the objects real orgs list as
queryable but refuse or restrict queries on (setup objects needing a filter, objects that refuse
plain queries). `catalog.build_catalog(extra_objects=n)` adds them.
"""

from __future__ import annotations

from typing import Any

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

# fmt: off
_BASE62_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

#: standard-like objects for `extra_objects` (name, key prefix).
_STANDARD_EXTRAS = (
    ("Asset", "02i"),
    ("Campaign", "701"),
    ("Case", "500"),
    ("Contract", "800"),
    ("Order", "801"),
    ("Product2", "01t"),
    ("Pricebook2", "01s"),
    ("Task", "00T"),
    ("Event", "00U"),
    ("Note", "002"),
    ("Solution", "501"),
    ("Quote", "0Q0"),
    ("Entitlement", "550"),
    ("WorkOrder", "0WO"),
    ("ServiceContract", "810"),
    ("Idea", "087"),
)
_EXTRA_TYPES = (
    "string",
    "textarea",
    "boolean",
    "int",
    "double",
    "currency",
    "percent",
    "date",
    "datetime",
    "picklist",
    "email",
    "phone",
    "url",
    "reference",
    "long",
    "time",
    "multipicklist",
)


def _generic_field(name: str, t: str) -> FieldDef:
    if t in ("int", "long"):
        return f_num(name, t, 18 if t == "long" else 9)
    if t in ("double", "currency", "percent"):
        return f_num(name, t, 18, 2)
    if t in ("picklist", "multipicklist"):
        return f_pick(name, ("Alpha", "Beta", "Gamma"), 4099 if t == "multipicklist" else 255, t=t)
    if t == "reference":
        return f_ref(name, "Account")
    if t == "boolean":
        return f_bool(name)
    if t in ("date", "datetime", "time"):
        return f_plain(name, t)
    return FieldDef(
        name, t, length={"textarea": 32000, "email": 80, "phone": 40}.get(t, 255),
        custom=name.endswith("__c"), extra_type_info="plaintextarea" if t == "textarea" else None,
    )


def generated_objects(count: int, seed: int) -> list[ObjectDef]:
    """`count` generated objects (standard-like first, then custom) with a few fields each, and the
    objects real orgs list but refuse to query plainly: change events, feeds, history and share
    objects, filter-restricted setup objects, and objects listed as queryable that refuse queries."""
    import random

    rng = random.Random(seed * 7919 + count)
    objects: list[ObjectDef] = []
    for i in range(count):
        if i < len(_STANDARD_EXTRAS):
            name, prefix = _STANDARD_EXTRAS[i]
            custom = False
        else:
            n = i - len(_STANDARD_EXTRAS) + 100
            name, prefix, custom = (
                f"Extra{n:03d}__c", "a" + _BASE62_DIGITS[n // 62 % 62] + _BASE62_DIGITS[n % 62], True,
            )
        suffix = "__c" if custom else ""
        extra_fields = [
            _generic_field(f"Field{j}_{t.capitalize()}{suffix or '__c'}", t)
            for j, t in enumerate(rng.sample(_EXTRA_TYPES, rng.randrange(3, 9)))
        ]
        owner = system_tail() if name not in ("Product2", "Pricebook2", "Idea") else system_tail(None)
        objects.append(
            ObjectDef(
                name, prefix, [*system_head(), f_text("Name", 80, name_field=True), *owner, *extra_fields],
                custom=custom,
            )
        )
    companions: list[ObjectDef] = []
    for parent in objects[::2]:
        base = parent.name[:-3] + "__" if parent.custom else parent.name
        companions.append(
            ObjectDef(
                base + "ChangeEvent", None, [f_id(), *system_tail(None)[:2]], id_prefix="1CE",
                queryable=False, bulk_supported=False, createable=False, updateable=False, deletable=False,
                associate_entity_type="ChangeEvent", associate_parent_entity=parent.name,
            )
        )
        companions.append(
            ObjectDef(
                base + "History", None,
                [
                    f_id(), f_bool("IsDeleted", createable=False, updateable=False),
                    f_ref("ParentId", parent.name, "Parent", createable=False, updateable=False),
                    *system_tail(None)[:2],
                    f_pick("Field", ("created", "Name"), createable=False, updateable=False),
                    f_plain("DataType", "string", length=40, createable=False, updateable=False),
                    f_plain("OldValue", "anyType", createable=False, updateable=False),
                    f_plain("NewValue", "anyType", createable=False, updateable=False),
                ],
                id_prefix="017", createable=False, updateable=False, deletable=False,
                associate_entity_type="History", associate_parent_entity=parent.name,
            )
        )
        if not parent.custom:
            companions.append(
                ObjectDef(
                    parent.name + "Feed", None,
                    [
                        f_id(), f_ref("ParentId", parent.name, "Parent", createable=False, updateable=False),
                        f_pick("Type", ("TextPost", "TrackedChange"), 40, createable=False, updateable=False),
                        *system_tail(None), f_bool("IsDeleted", createable=False, updateable=False),
                        f_area("Body", 10000, createable=False, updateable=False),
                    ],
                    id_prefix="0D5", createable=False, updateable=False, bulk_supported=False,
                    associate_entity_type="Feed", associate_parent_entity=parent.name,
                )
            )
    return [*objects, *companions, *_query_refusing_objects()]


def _query_refusing_objects() -> list[ObjectDef]:
    ro: dict[str, Any] = {"createable": False, "updateable": False, "deletable": False}

    def setup_object(
        name: str, prefix: str, fields: list[FieldDef], rule: QueryRule | None = None, **kw: Any
    ) -> ObjectDef:
        return ObjectDef(name, None, [f_id(), *fields], id_prefix=prefix, query_rule=rule, **ro, **kw)

    def reified(name: str) -> QueryRule:
        return QueryRule(
            ("EntityDefinitionId", "DurableId"), "MALFORMED_QUERY",
            f"{name}: a filter on a reified column is required [EntityDefinitionId,DurableId]",
        )

    described = [
        f_text("DurableId", 255), f_text("EntityDefinitionId", 255), f_text("QualifiedApiName", 255),
        f_text("Label", 255),
    ]
    refusing = [
        setup_object(name, "000", [f_text("Title", 255)], refuses_query=True)
        for name in (
            "OpenActivity", "NoteAndAttachment", "CombinedAttachment", "AttachedContentDocument",
            "LookedUpFromActivity",
        )
    ]
    return [
        *refusing, setup_object("FieldDefinition", "000", list(described), reified("FieldDefinition")),
        setup_object("EntityParticle", "000", list(described), reified("EntityParticle")),
        setup_object("PicklistValueInfo", "000", list(described), reified("PicklistValueInfo")),
        setup_object(
            "ContentFolderItem", "07H",
            [f_ref("ParentContentFolderId", "ContentDocument"), f_text("Title", 255)],
            QueryRule(
                ("Id", "ParentContentFolderId"), "MALFORMED_QUERY",
                "Implementation restriction: ContentFolderItem requires a filter by Id or "
                "ParentContentFolderId using the equals or 'IN' operator",
            ),
        ),
        setup_object(
            "DataStatistics", "000", [f_text("StatType", 40), f_num("StatValue", "long", 18)],
            QueryRule(
                ("StatType",), "EXTERNAL_OBJECT_UNSUPPORTED_EXCEPTION",
                "Where clauses should contain StatType",
            ),
        ),
        setup_object(
            "FlexQueueItem", "000", [f_text("JobType", 40), f_ref("AsyncApexJobId", "User")],
            QueryRule(
                ("JobType",), "EXTERNAL_OBJECT_UNSUPPORTED_EXCEPTION",
                "The WHERE clause must contain a JobType field expression.",
            ),
        ),
        setup_object(
            "UserRecordAccess", "000",
            [
                f_ref("UserId", "User"), f_text("RecordId", 18), f_bool("HasReadAccess"),
                f_bool("HasEditAccess"), f_pick("MaxAccessLevel", ("None", "Read", "Edit", "All"), 40),
            ],
            QueryRule(
                ("RecordId",), "MALFORMED_QUERY",
                "Implementation restriction: UserRecordAccess requires a filter by UserId and RecordId",
                select_only=("recordid", "has*access", "maxaccesslevel"),
                select_message="Can select only RecordId, a Has*Access field, and MaxAccessLevel",
            ),
            bulk_supported=False,
        ),
        # computed access, texts verbatim (sf-real-samples/errors, mannharleen): never given rows
        setup_object(
            "UserEntityAccess", "000",
            [
                f_text("DurableId", 255), f_ref("UserId", "User"), f_text("EntityDefinitionId", 255),
                f_bool("IsReadable"), f_bool("IsEditable"), f_bool("IsCreatable"), f_bool("IsDeletable"),
            ],
            QueryRule(
                ("UserId", "DurableId"), "MALFORMED_QUERY",
                "UserEntityAccess: a filter on a reified column is required [UserId,DurableId]",
            ),
            bulk_supported=False,
        ),
        setup_object(
            "UserFieldAccess", "000",
            [
                f_text("DurableId", 255), f_ref("UserId", "User"), f_text("EntityDefinitionId", 255),
                f_text("FieldDefinitionId", 255), f_bool("IsAccessible"), f_bool("IsUpdatable"),
                f_bool("IsCreatable"),
            ],
            QueryRule(
                ("DurableId",), "MALFORMED_QUERY",
                "UserFieldAccess: a filter on a reified column is required [DurableId]",
            ),
            bulk_supported=False,
        ),
        setup_object(
            "KnowledgeArticleVersion", "ka0",
            [
                f_text("Title", 255), f_pick("PublishStatus", ("Online", "Draft", "Archived"), 40),
                f_pick("Language", ("en_US",), 40),
            ],
            QueryRule(
                ("Id", "PublishStatus"), "MALFORMED_QUERY",
                "Implementation restriction: When querying the KnowledgeArticleVersion object, you must "
                "filter using the following syntax: Id = [single ID], Id IN [list of ID's] or "
                "PublishStatus = ['Online' or 'Draft' or 'Archived'].",
            ),
            bulk_supported=False,
        ),
        setup_object(
            "RecentlyViewed", "000", [f_text("Name", 255), f_plain("LastViewedDate", "datetime")],
            bulk_supported=False,
        ),
    ]
# fmt: on
