"""Who is asking: the org's users, their permissions, record sharing, field-level security, masking.

Two users can log in. The admin (System Administrator profile: View All Data, Query All Files, View
Encrypted Data, Modify All Data) sees the whole org, exactly as before users existed. The restricted
integration user ("Minimum Access - API Only Integrations" profile, API Enabled only) sees what a
real backup user without those permissions sees, following Salesforce's "Factors that Affect Data
Access" (object reference): fields hidden by field-level security are absent from describes and
unknown to SOQL (`INVALID_FIELD` "No such column ..."), records outside its sharing are not returned
by query, queryAll, Bulk or COUNT(), files are limited as the ContentVersion/ContentDocument
reference describes for users without Query All Files, and classic encrypted (`encryptedstring`)
values come back masked without View Encrypted Data. Record counts of `/limits/recordCount` ignore
sharing. `docs/emulator-users.md` describes the model and its sources.

The store asks an `Access` for three things only: the catalog it may see (`catalog`), a row filter
per object (`restrict`, appended to a compiled plan's WHERE) and which values to mask. The admin's
`Access` has no filter but the one that keeps `UserPermissionAccess` to its own row, so the admin's
queries compile to the SQL they always did.
"""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sfbackup.emulator.org.catalog_model import FieldDef, ObjectDef, QueryRule, f_bool, f_num, f_plain, f_text
from sfbackup.emulator.org.restrictions import SingleBatchSetupObject

__all__ = [
    "ADMIN",
    "RESTRICTED",
    "USER_KINDS",
    "Access",
    "Permissions",
    "build_access",
    "install",
    "org_catalog",
]

ADMIN = "admin"
RESTRICTED = "restricted"
USER_KINDS = (ADMIN, RESTRICTED)

INTEGRATION_USERNAME = "integration.user@emulated.example"
INTEGRATION_PROFILE = "Minimum Access - API Only Integrations"
#: the role the integration user holds: it sees records owned by users in the roles below it.
INTEGRATION_ROLE = "VP Sales"

#: (PermissionSet / Profile / UserPermissionAccess field, label) of the system permissions modelled.
PERMISSION_FIELDS = (
    ("PermissionsApiEnabled", "API Enabled"),
    ("PermissionsViewAllData", "View All Data"),
    ("PermissionsModifyAllData", "Modify All Data"),
    ("PermissionsQueryAllFiles", "Query All Files"),
    ("PermissionsViewEncryptedData", "View Encrypted Data"),
)
_ALL = frozenset(name for name, _ in PERMISSION_FIELDS)
_API_ONLY = frozenset({"PermissionsApiEnabled"})
#: the system permissions granted by each permission set (by Name) and each profile (by Name).
_PERMISSION_SET_GRANTS = {
    "X00ex000000AdminProfile": _ALL,
    "Backup_Operator": frozenset(
        {"PermissionsApiEnabled", "PermissionsViewAllData", "PermissionsQueryAllFiles"}
    ),
    "X00ex000000IntegrationProfile": _API_ONLY,
}
_PROFILE_GRANTS = {
    "System Administrator": _ALL,
    "Standard User": _API_ONLY,
    "Read Only": _API_ONLY,
    INTEGRATION_PROFILE: _API_ONLY,
}

#: Organization-wide defaults (EntityDefinition.InternalSharingModel) of the objects sharing limits.
SHARING_MODELS = {
    "Account": "Private",
    "Opportunity": "Private",
    "Contact": "ControlledByParent",
    "Attachment": "ControlledByParent",
    "ContentVersion": "ControlledByParent",
    "ContentDocumentLink": "ControlledByParent",
    "Lead": "Read",
    "Invoice__c": "Read",
    "User": "Read",
}
#: Records of private objects shared with the integration user's role by a sharing rule: those
#: whose rowid is a multiple of this (deterministic, and about a fifth of the others).
SHARE_MODULUS = 5
#: Files in a library the integration user belongs to: ContentDocuments whose rowid is a multiple.
LIBRARY_MODULUS = 3

#: Fields field-level security hides from the restricted user (object -> fields).
HIDDEN_FIELDS = {
    "Account": ("AnnualRevenue",),
    "Contact": ("Birthdate", "MobilePhone"),
    "Invoice__c": ("Rate__c",),
}
#: Classic encryption "Mask All Characters" with mask character `*`: one `*` per character.
MASK_CHARACTER = "*"
_MAX_ENCRYPTED_LENGTH = 175  # Salesforce's limit for Text (Encrypted)


@dataclass(frozen=True)
class Permissions:
    """The system permissions that change what a backup user reads."""

    api_enabled: bool
    view_all_data: bool
    modify_all_data: bool
    query_all_files: bool
    view_encrypted_data: bool

    @classmethod
    def from_fields(cls, granted: frozenset[str] | set[str]) -> Permissions:
        return cls(*(name in granted for name, _ in PERMISSION_FIELDS))


@dataclass(frozen=True)
class Access:
    """What one user may read: its catalog view, row filters per object and the masked fields."""

    kind: str
    user_id: str
    permissions: Permissions
    catalog: dict[str, ObjectDef] = dataclasses.field(repr=False)
    filters: dict[str, str] = dataclasses.field(repr=False)  # object name -> SQL on alias t0
    masked: frozenset[str] = frozenset()  # encrypted field names shown masked

    def row_filter(self, obj: ObjectDef) -> str | None:
        """SQL condition (on the query's root alias `t0`) a row of `obj` must meet, or None."""
        return self.filters.get(obj.name)

    def restrict(self, plan: Any) -> None:
        """Limit a compiled `Plan` to this user's rows and mask encrypted values it may not read."""
        condition = self.filters.get(plan.obj.name)
        if condition is not None:
            plan.where_sql = (
                f"{plan.where_sql} AND ({condition})" if plan.where_sql else f" WHERE ({condition})"
            )
        if self.masked:
            pattern = re.compile(r'(\w+\."(?:' + "|".join(map(re.escape, sorted(self.masked))) + r')")')
            for columns in (plan.rest_cols, plan.csv_cols):
                columns[:] = [pattern.sub(_mask_sql, column) for column in columns]


def _mask_sql(found: re.Match[str]) -> str:
    column = found.group(1)
    stars = MASK_CHARACTER * _MAX_ENCRYPTED_LENGTH
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE substr('{stars}', 1, length({column})) END"


# -- catalog -------------------------------------------------------------------------------------


def _permission_fields() -> list[FieldDef]:
    return [f_bool(name, label=label) for name, label in PERMISSION_FIELDS]


def _read_only(obj: ObjectDef) -> ObjectDef:
    return dataclasses.replace(obj, createable=False, updateable=False, deletable=False)


def schema_objects() -> list[ObjectDef]:
    """EntityDefinition, FieldDefinition and UserPermissionAccess, with their real field names
    (Tooling API object reference: EntityDefinition, FieldDefinition; field reference:
    UserPermissionAccess). Ids of EntityDefinition are its DurableId (the object's API name)."""
    ro: dict[str, Any] = {"createable": False, "updateable": False}

    def text(name: str, length: int = 255) -> FieldDef:
        return f_text(name, length, **ro)

    def flag(name: str) -> FieldDef:
        return f_bool(name, **ro)

    entity = ObjectDef(
        "EntityDefinition",
        None,
        [
            FieldDef("Id", "id", length=18, nillable=False, **ro),
            text("DurableId"),
            text("QualifiedApiName"),
            text("DeveloperName"),
            text("MasterLabel"),
            text("Label"),
            text("PluralLabel"),
            text("KeyPrefix", 3),
            text("NamespacePrefix", 15),
            flag("IsCustomizable"),
            flag("IsQueryable"),
            flag("IsLayoutable"),
            flag("IsEverCreatable"),
            flag("IsEverUpdatable"),
            flag("IsEverDeletable"),
            flag("IsRetrieveable"),
            flag("IsSearchable"),
            flag("IsCustomSetting"),
            flag("IsDeprecatedAndHidden"),
            text("InternalSharingModel", 40),
            text("ExternalSharingModel", 40),
        ],
        id_prefix="000",
        bulk_supported=False,
        # Tooling API "SOQL Operation Limitations": no COUNT(), OR, != or queryMore
        restrictions=(SingleBatchSetupObject(),),
    )
    field_definition = ObjectDef(
        "FieldDefinition",
        None,
        [
            FieldDef("Id", "id", length=18, nillable=False, **ro),
            text("DurableId"),
            text("QualifiedApiName"),
            # a string holding the object's DurableId, and the relationship SOQL filters through
            FieldDef(
                "EntityDefinitionId",
                "string",
                length=255,
                reference_to=("EntityDefinition",),
                relationship_name="EntityDefinition",
                **ro,
            ),
            text("DeveloperName"),
            text("MasterLabel"),
            text("Label"),
            text("DataType"),
            text("ValueTypeId"),
            f_num("Length", "int", 9, **ro),
            f_num("Precision", "int", 9, **ro),
            f_num("Scale", "int", 9, **ro),
            flag("IsNillable"),
            flag("IsCompound"),
            flag("IsCalculated"),
            flag("IsIndexed"),
            flag("IsApiFilterable"),
            flag("IsApiSortable"),
            flag("IsApiGroupable"),
            flag("IsNameField"),
            flag("IsPolymorphicForeignKey"),
            text("RelationshipName"),
            text("ExtraTypeInfo", 40),
            text("NamespacePrefix", 15),
            flag("IsFieldHistoryTracked"),
        ],
        id_prefix="000",
        bulk_supported=False,
        query_rule=QueryRule(
            (
                "EntityDefinitionId",
                "DurableId",
                "EntityDefinition.QualifiedApiName",
                "EntityDefinition.DurableId",
            ),
            "MALFORMED_QUERY",
            "FieldDefinition: a filter on a reified column is required [EntityDefinitionId,DurableId]",
        ),
    )
    permission_access = ObjectDef(
        "UserPermissionAccess",
        None,
        [
            FieldDef("Id", "id", length=18, nillable=False, **ro),
            f_plain("LastCacheUpdate", "datetime", **ro),
            *(f_bool(name, label=label, **ro) for name, label in PERMISSION_FIELDS),
        ],
        id_prefix="000",
        bulk_supported=False,
    )
    return [_read_only(entity), _read_only(field_definition), _read_only(permission_access)]


def org_catalog(base: dict[str, ObjectDef]) -> dict[str, ObjectDef]:
    """The generated catalog plus what users add: Permission* fields on PermissionSet and Profile,
    and the schema objects (which replace the large catalog's stand-in FieldDefinition)."""
    out = dict(base)
    for key in ("permissionset", "profile"):
        obj = out[key]
        out[key] = dataclasses.replace(obj, fields=[*obj.fields, *_permission_fields()])
    for obj in schema_objects():
        out[obj.name.lower()] = obj
    return dict(sorted(out.items()))


def unlisted(base: dict[str, ObjectDef]) -> frozenset[str]:
    """Schema objects describeGlobal leaves out (those the generated catalog does not list)."""
    return frozenset(o.name.lower() for o in schema_objects() if o.name.lower() not in base)


def _without_hidden(catalog: dict[str, ObjectDef]) -> dict[str, ObjectDef]:
    out = dict(catalog)
    for name, hidden in HIDDEN_FIELDS.items():
        obj = out[name.lower()]
        out[name.lower()] = dataclasses.replace(obj, fields=[f for f in obj.fields if f.name not in hidden])
    return out


# -- generation ----------------------------------------------------------------------------------

_INSTALL_STAMP = "2025-06-01T00:00:00.000Z"  # datagen.ANCHOR: when the users were set up


def install(conn: sqlite3.Connection, catalog: dict[str, ObjectDef], *, internal_entities: int = 0) -> None:
    """Add users' data to a freshly generated org (inside its generation transaction): the
    permission columns and values, the integration user with its profile and permission set, and
    the rows of EntityDefinition, FieldDefinition and UserPermissionAccess. `catalog` is `org_catalog`'s;
    `internal_entities` more EntityDefinition rows stand for entities the API does not describe."""
    from sfbackup.emulator.org.datagen import make_id

    def next_id(prefix: str) -> str:
        row = conn.execute("SELECT n FROM _counter WHERE prefix = ?", (prefix,)).fetchone()
        n = (row[0] if row else 0) + 1
        conn.execute("INSERT OR REPLACE INTO _counter VALUES (?, ?)", (prefix, n))
        return make_id(prefix, n)

    def insert(table: str, row: dict[str, Any]) -> None:
        columns = ", ".join(f'"{c}"' for c in row)
        conn.execute(
            f'INSERT INTO "{table}" ({columns}) VALUES ({", ".join("?" * len(row))})', list(row.values())
        )

    admin_id = conn.execute('SELECT "Id" FROM "User" ORDER BY rowid LIMIT 1').fetchone()[0]
    audit = {
        "CreatedDate": _INSTALL_STAMP,
        "CreatedById": admin_id,
        "LastModifiedDate": _INSTALL_STAMP,
        "LastModifiedById": admin_id,
        "SystemModstamp": _INSTALL_STAMP,
    }
    for table in ("PermissionSet", "Profile"):
        for name, _ in PERMISSION_FIELDS:
            conn.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" INTEGER NOT NULL DEFAULT 0')
    profile_id = next_id("00e")
    insert("Profile", {"Id": profile_id, "Name": INTEGRATION_PROFILE, "UserType": "Standard", **audit})
    set_id = next_id("0PS")
    insert(
        "PermissionSet",
        {
            "Id": set_id,
            "Name": "X00ex000000IntegrationProfile",
            "Label": INTEGRATION_PROFILE,
            "IsOwnedByProfile": 1,
            "ProfileId": profile_id,
            **audit,
        },
    )
    role_id = conn.execute('SELECT "Id" FROM "UserRole" WHERE "Name" = ?', (INTEGRATION_ROLE,)).fetchone()[0]
    user_id = next_id("005")
    insert(
        "User",
        {
            "Id": user_id,
            "Username": INTEGRATION_USERNAME,
            "FirstName": "Integration",
            "LastName": "User",
            "Name": "Integration User",
            "CompanyName": "Emulated Org",
            "Email": "integration.user@example.com",
            "Alias": "integ",
            "IsActive": 1,
            "UserRoleId": role_id,
            "ProfileId": profile_id,
            "UserType": "Standard",
            "TimeZoneSidKey": "GMT",
            **audit,
        },
    )
    insert(
        "PermissionSetAssignment",
        {
            "Id": next_id("0Pa"),
            "PermissionSetId": set_id,
            "AssigneeId": user_id,
            "IsActive": 1,
            "SystemModstamp": _INSTALL_STAMP,
        },
    )
    for table, column, grants in (
        ("PermissionSet", "Name", _PERMISSION_SET_GRANTS),
        ("Profile", "Name", _PROFILE_GRANTS),
    ):
        for owner, granted in grants.items():
            sets = ", ".join(f'"{name}" = 1' for name in sorted(granted))
            conn.execute(f'UPDATE "{table}" SET {sets} WHERE "{column}" = ?', (owner,))
    _install_schema_rows(conn, catalog, internal_entities)
    conn.execute(
        'CREATE TABLE "UserPermissionAccess" ("Id" TEXT, "UserId" TEXT, "LastCacheUpdate" TEXT, '
        + ", ".join(f'"{name}" INTEGER' for name, _ in PERMISSION_FIELDS)
        + ")"
    )
    for uid in (admin_id, user_id):
        granted = user_permissions(lambda sql, params: conn.execute(sql, params).fetchall(), uid)
        insert(
            "UserPermissionAccess",
            {
                "Id": "000000000000000AAA",
                "UserId": uid,
                "LastCacheUpdate": _INSTALL_STAMP,
                **{name: int(name in granted) for name, _ in PERMISSION_FIELDS},
            },
        )


def user_permissions(fetchall: Callable[[str, list[Any]], list[Any]], user_id: str) -> frozenset[str]:
    """The system permissions `user_id` holds: its profile's and those of its assigned permission sets."""
    granted: set[str] = set()
    columns = ", ".join(f'x."{name}"' for name, _ in PERMISSION_FIELDS)
    rows = [
        *fetchall(
            f'SELECT {columns} FROM "Profile" AS x JOIN "User" AS u ON u."ProfileId" = x."Id" '
            'WHERE u."Id" = ?',
            [user_id],
        ),
        *fetchall(
            f'SELECT {columns} FROM "PermissionSet" AS x JOIN "PermissionSetAssignment" AS a '
            'ON a."PermissionSetId" = x."Id" WHERE a."AssigneeId" = ?',
            [user_id],
        ),
    ]
    for row in rows:
        granted |= {name for (name, _), value in zip(PERMISSION_FIELDS, row, strict=True) if value}
    return frozenset(granted)


_UI_TYPES = {
    "id": "Lookup()",
    "boolean": "Checkbox",
    "date": "Date",
    "datetime": "Date/Time",
    "time": "Time",
    "email": "Email",
    "phone": "Phone",
    "picklist": "Picklist",
    "multipicklist": "Picklist (Multi-Select)",
    "combobox": "Picklist",
    "address": "Address",
    "location": "Geolocation",
    "base64": "File",
    "anyType": "Any Type",
}
_VALUE_TYPES = {
    "id": "id",
    "reference": "id",
    "int": "int",
    "long": "long",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
    "time": "time",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "base64": "base64",
    "address": "address",
    "location": "location",
}
_INDEXED = frozenset(
    {"Id", "Name", "OwnerId", "CreatedDate", "SystemModstamp", "LastModifiedDate", "RecordTypeId"}
)


def _data_type(fd: FieldDef) -> str:
    """FieldDefinition.DataType: the type as Setup shows it, e.g. `Text(80)`, `Currency(18, 0)`."""
    t = fd.type
    if t == "reference":
        return f"Lookup({','.join(fd.reference_to)})"
    if t in ("string", "url"):
        return f"{'URL' if t == 'url' else 'Text'}({fd.length})"
    if t == "encryptedstring":
        return f"Text (Encrypted)({fd.length})"
    if t == "textarea":
        return f"Long Text Area({fd.length})" if fd.long_text else "Text Area(255)"
    if t in ("int", "long"):
        return f"Number({fd.digits}, 0)"
    if t in ("double", "currency", "percent"):
        return f"{'Number' if t == 'double' else t.capitalize()}({fd.precision}, {fd.scale})"
    return _UI_TYPES.get(t, t)


def _install_schema_rows(
    conn: sqlite3.Connection, catalog: dict[str, ObjectDef], internal_entities: int
) -> None:
    entity = catalog["entitydefinition"]
    field_def = catalog["fielddefinition"]
    for obj in (entity, field_def):
        conn.execute(f'DROP TABLE IF EXISTS "{obj.name}"')  # the large catalog's stand-in
        conn.execute(
            f'CREATE TABLE "{obj.name}" ({", ".join(chr(34) + f.name + chr(34) for f in obj.stored_fields)})'
        )
    entities, fields = [], []
    for obj in catalog.values():
        entry = obj.global_entry("62.0")
        entities.append(
            (
                obj.name,
                obj.name,
                obj.name,
                obj.name.removesuffix("__c"),
                obj.label,
                obj.label,
                obj.label_plural,
                obj.key_prefix,
                None,
                int(obj.custom),
                int(obj.queryable),
                int(entry["layoutable"]),
                int(obj.createable),
                int(obj.updateable),
                int(obj.deletable),
                1,
                int(entry["searchable"]),
                0,
                0,
                SHARING_MODELS.get(obj.name, "ReadWrite" if obj.field("OwnerId") is not None else "None"),
                "Private" if obj.name in SHARING_MODELS else "None",
            )
        )
        for fd in obj.fields:
            described = fd.describe()
            fields.append(
                (
                    "000000000000000AAA",
                    f"{obj.name}.{fd.name}",
                    fd.name,
                    obj.name,
                    fd.name.removesuffix("__c"),
                    described["label"],
                    described["label"],
                    _data_type(fd),
                    _VALUE_TYPES.get(fd.type, "string"),
                    fd.length,
                    fd.precision,
                    fd.scale,
                    int(fd.nillable),
                    int(fd.type in ("address", "location")),
                    int(fd.calculated),
                    int(fd.name in _INDEXED),
                    int(described["filterable"]),
                    int(described["sortable"]),
                    int(described["groupable"]),
                    int(fd.name_field),
                    int(len(fd.reference_to) > 1),
                    fd.relationship_name,
                    fd.extra_type_info,
                    None,
                    0,
                )
            )
    for i in range(internal_entities):  # real orgs list internal entities the API does not describe
        name = f"Internal{i:05d}"
        flags = (0,) * 10
        entities.append((name, name, name, name, name, name, name, None, None, *flags, "None", "None"))
    for obj, rows in ((entity, entities), (field_def, fields)):
        marks = ", ".join("?" * len(obj.stored_fields))
        conn.executemany(f'INSERT INTO "{obj.name}" VALUES ({marks})', rows)


# -- users at run time ---------------------------------------------------------------------------


def _quoted(value: str) -> str:
    if not re.fullmatch(r"\w+", value):
        raise ValueError(f"not an id: {value!r}")
    return f"'{value}'"


def build_access(
    kind: str, user_id: str, catalog: dict[str, ObjectDef], fetchall: Callable[[str, list[Any]], list[Any]]
) -> Access:
    """The `Access` of user `user_id` (`kind` admin or restricted), read from the org's data."""
    permissions = Permissions.from_fields(user_permissions(fetchall, user_id))
    me = _quoted(user_id)
    filters = {"UserPermissionAccess": f't0."UserId" = {me}'}
    if kind == ADMIN:
        return Access(kind, user_id, permissions, catalog, filters)
    role = fetchall('SELECT "UserRoleId" FROM "User" WHERE "Id" = ?', [user_id])[0][0]
    below: set[str] = set()
    frontier = {role}
    while frontier:
        marks = ", ".join("?" * len(frontier))
        frontier = {
            r[0]
            for r in fetchall(
                f'SELECT "Id" FROM "UserRole" WHERE "ParentRoleId" IN ({marks})', sorted(frontier)
            )
        } - below
        below |= frontier
    owners = [user_id]
    if below:
        marks = ", ".join("?" * len(below))
        owners += [
            r[0]
            for r in fetchall(
                f'SELECT "Id" FROM "User" WHERE "UserRoleId" IN ({marks}) ORDER BY "Id"', sorted(below)
            )
        ]
    owner_list = ", ".join(map(_quoted, owners))

    def visible(name: str, alias: str, depth: int = 0) -> str:
        """SQL true for the rows of `name` (as `alias`) the user can see through sharing."""
        owned = f'{alias}."OwnerId" IN ({owner_list})'
        if name in ("Account", "Opportunity"):
            return f"({owned} OR {alias}.rowid % {SHARE_MODULUS} = 0)"

        def visible_ids(parent: str) -> str:
            inner = f"_s{depth}"
            return f'SELECT {inner}."Id" FROM "{parent}" AS {inner} WHERE {visible(parent, inner, depth + 1)}'

        if name == "Contact":
            parent = f'{alias}."AccountId"'
            return f"(({parent} IS NULL AND {owned}) OR {parent} IN ({visible_ids('Account')}))"
        parent = f'{alias}."ParentId"'
        cases = " ".join(
            f"WHEN '{catalog[p.lower()].key_prefix}' THEN {parent} IN ({visible_ids(p)})"
            for p in ("Account", "Contact", "Opportunity")
        )
        return f"CASE substr({parent}, 1, 3) {cases} ELSE 1 END"

    def document(alias: str) -> str:
        links = (
            f'SELECT _l."ContentDocumentId" FROM "ContentDocumentLink" AS _l WHERE _l."LinkedEntityId" = {me}'
        )
        in_library = f"{alias}.rowid % {LIBRARY_MODULUS} = 0"
        return f'({alias}."OwnerId" = {me} OR {in_library} OR {alias}."Id" IN ({links}))'

    if not permissions.view_all_data:
        for name in ("Account", "Opportunity", "Contact", "Attachment"):
            filters[name] = visible(name, "t0")
    if not permissions.query_all_files:
        filters["ContentDocument"] = document("t0")
        linked = f'SELECT _d."Id" FROM "ContentDocument" AS _d WHERE {document("_d")}'
        filters["ContentVersion"] = f't0."ContentDocumentId" IN ({linked})'
        filters["ContentDocumentLink"] = f't0."ContentDocumentId" IN ({linked})'
    view = _without_hidden(catalog)
    masked = (
        frozenset()
        if permissions.view_encrypted_data
        else frozenset(f.name for o in view.values() for f in o.fields if f.type == "encryptedstring")
    )
    return Access(kind, user_id, permissions, view, filters, masked)
