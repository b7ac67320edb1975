"""The emulated org's object and field model and the describe JSON built from it.

`FieldDef`, `QueryRule` and `ObjectDef` with their describe/describeGlobal shapes, the type tables
(`SOAP_TYPES`, text/number/virtual types), `CASCADE_DELETE`, and the `f_*` field builders plus
`system_head()`/`system_tail()` that `catalog_objects` and `catalog_extra` build objects with.
Describes follow the real responses' conventions: every field entry carries the same keys (sorted,
as Salesforce sends them), type/soapType pairs as real orgs report them, byteLength = 3 x length for
text, compound fields (`address`, `location`) whose components name them in `compoundFieldName`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sfbackup.emulator.org.restrictions import Restriction

#: describe `type` -> `soapType`.
SOAP_TYPES: dict[str, str] = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "long": "xsd:long",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "time": "xsd:time",
    "base64": "xsd:base64Binary",
    "anyType": "xsd:anyType",
    "address": "urn:address",
    "location": "urn:location",
}
TEXT_TYPES = frozenset(
    {
        "string",
        "textarea",
        "picklist",
        "multipicklist",
        "combobox",
        "email",
        "phone",
        "url",
        "encryptedstring",
        "id",
        "reference",
    }
)
NUMBER_TYPES = frozenset({"int", "long", "double", "currency", "percent"})
#: Types without a column of their own: compounds are built from components, bodies live in blobs.
VIRTUAL_TYPES = frozenset({"address", "location", "base64"})
ADDRESS_PARTS = (
    "Street",
    "City",
    "State",
    "PostalCode",
    "Country",
    "Latitude",
    "Longitude",
    "GeocodeAccuracy",
)


@dataclass(frozen=True)
class FieldDef:
    """One field of an emulated object."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    digits: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    custom: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    compound_field_name: str | None = None
    picklist: tuple[str, ...] = ()
    extra_type_info: str | None = None
    defaulted_on_create: bool = False
    default_value: Any = None
    name_field: bool = False
    id_lookup: bool = False
    external_id: bool = False
    unique: bool = False
    calculated: bool = False
    not_filterable: bool = False  # describe filterable false (ActivityFieldHistory.SystemModstamp)
    csv_sql: str | None = None  # SQL for the Bulk CSV cell, `{col}` the column (Bulk's own number text)
    help_text: str | None = None  # describe inlineHelpText, and <inlineHelpText> in the Metadata API
    formula: str | None = None  # describe calculatedFormula of a formula field, <formula> in metadata

    @property
    def stored(self) -> bool:
        """True when the field has its own SQLite column."""
        return self.type not in VIRTUAL_TYPES

    @property
    def long_text(self) -> bool:
        return self.type == "textarea" and self.length > 255

    def describe(self) -> dict[str, Any]:
        """This field's entry in a describe's `fields` list (keys sorted, as Salesforce sends them)."""
        t = self.type
        text = t in TEXT_TYPES and t not in ("id", "reference")
        filterable = not (self.not_filterable or self.long_text or t in ("encryptedstring", "base64"))
        sortable = filterable and t not in ("multipicklist", "address", "location")
        groupable = sortable and t not in ("double", "currency", "percent", "datetime", "time", "long")
        return {
            "aggregatable": t
            not in ("address", "location", "base64", "multipicklist", "encryptedstring", "boolean")
            and not self.long_text,
            "aiPredictionField": False,
            "autoNumber": False,
            "byteLength": self.length * 3 if text else (18 if t in ("id", "reference") else 0),
            "calculated": self.calculated,
            "calculatedFormula": self.formula if self.calculated else None,
            "cascadeDelete": False,
            "caseSensitive": False,
            "compoundFieldName": self.compound_field_name,
            "controllerName": None,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": self.default_value,
            "defaultValueFormula": None,
            "defaultedOnCreate": self.defaulted_on_create,
            "dependentPicklist": False,
            "deprecatedAndHidden": False,
            "digits": self.digits,
            "displayLocationInDecimal": t == "location",
            "encrypted": t == "encryptedstring",
            "externalId": self.external_id,
            "extraTypeInfo": self.extra_type_info,
            "filterable": filterable,
            "filteredLookupInfo": None,
            "formulaTreatNullNumberAsZero": False,
            "groupable": groupable,
            "highScaleNumber": False,
            "htmlFormatted": self.extra_type_info == "richtextarea",
            "idLookup": self.id_lookup,
            "inlineHelpText": self.help_text,
            "label": self.label or _label(self.name),
            "length": self.length,
            "mask": "all" if t == "encryptedstring" else None,
            "maskType": "all" if t == "encryptedstring" else None,
            "name": self.name,
            "nameField": self.name_field,
            "namePointing": len(self.reference_to) > 1,
            "nillable": self.nillable,
            "permissionable": self.custom and self.nillable,
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
                for v in self.picklist
            ],
            "polymorphicForeignKey": len(self.reference_to) > 1,
            "precision": self.precision,
            "queryByDistance": t in ("address", "location"),
            "referenceTargetField": None,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "relationshipOrder": None,
            "restrictedDelete": False,
            "restrictedPicklist": t in ("picklist", "multipicklist") and self.custom,
            "scale": self.scale,
            "searchPrefilterable": t == "reference"
            and self.createable
            and self.name not in ("OwnerId", "RecordTypeId"),
            "soapType": SOAP_TYPES.get(t, "xsd:string"),
            "sortable": sortable,
            "type": t,
            "unique": self.unique,
            "updateable": self.updateable,
            "writeRequiresMasterRead": False,
        }


@dataclass(frozen=True)
class QueryRule:
    """A query Salesforce refuses unless its WHERE clause filters (at the top level, with one of
    `operators`; `=` alone for those in `equals_only`) on one of `fields`; an entry that is a tuple
    needs all of its fields filtered. `select_only` (fnmatch patterns) limits the fields selected."""

    fields: tuple[str | tuple[str, ...], ...]
    error_code: str
    message: str
    select_only: tuple[str, ...] = ()
    select_message: str = ""
    operators: tuple[str, ...] = ("=", "IN")
    equals_only: tuple[str, ...] = ()
    #: A virtual setup object Salesforce computes by that key (a flex queue, an entity's fields):
    #: a query on the key is a lookup that never times out, whatever share of the rows it selects.
    served_by_key: bool = False


@dataclass
class ObjectDef:
    """One emulated sObject: its fields and what the API allows on it."""

    name: str
    key_prefix: str | None
    fields: list[FieldDef]
    label: str = ""
    label_plural: str = ""
    custom: bool = False
    queryable: bool = True
    bulk_supported: bool = True
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    id_prefix: str = ""  # prefix of generated ids when key_prefix is None
    associate_entity_type: str | None = None
    associate_parent_entity: str | None = None
    child_relationships: list[tuple[str, str, str | None]] = field(default_factory=list)
    query_rule: QueryRule | None = None
    refuses_query: bool = False  # listed as queryable, but a query gets INVALID_TYPE_FOR_OPERATION
    restrictions: tuple[Restriction, ...] = ()  # further rules its queries must follow
    generated_rows: int | None = None  # rows the generic data generator makes (None: 3 to 5)
    by_lower: dict[str, FieldDef] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.label = self.label or _label(self.name)
        if not self.label_plural:
            self.label_plural = self.label[:-1] + "ies" if self.label.endswith("y") else self.label + "s"
        self.by_lower = {f.name.lower(): f for f in self.fields}

    def field(self, name: str) -> FieldDef | None:
        return self.by_lower.get(name.lower())

    @property
    def prefix(self) -> str:
        return self.key_prefix or self.id_prefix

    @property
    def has_is_deleted(self) -> bool:
        return "isdeleted" in self.by_lower

    @property
    def stored_fields(self) -> list[FieldDef]:
        return [f for f in self.fields if f.stored]

    def components(self, compound: str) -> list[FieldDef]:
        return [f for f in self.fields if f.compound_field_name == compound and f.stored]

    @property
    def layoutable(self) -> bool:
        return self.createable and self.key_prefix is not None and self.name not in _NOT_LAYOUTABLE

    def urls(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        if not self.queryable or self.associate_entity_type or self.key_prefix is None or not self.layoutable:
            urls = {"rowTemplate": base + "/{ID}", "describe": base + "/describe", "sobject": base}
            if self.name == "UserRole":
                urls = {"compactLayouts": base + "/describe/compactLayouts", **urls}
            return urls
        if self.name == "User":
            return {
                "compactLayouts": base + "/describe/compactLayouts",
                "rowTemplate": base + "/{ID}",
                "namedLayouts": base + "/describe/namedLayouts/{LayoutName}",
                "passwordUtilities": base + "/{ID}/password",
                "describe": base + "/describe",
                "quickActions": base + "/quickActions",
                "layouts": base + "/describe/layouts",
                "sobject": base,
            }
        return {
            "compactLayouts": base + "/describe/compactLayouts",
            "rowTemplate": base + "/{ID}",
            "approvalLayouts": base + "/describe/approvalLayouts",
            "listviews": base + "/listviews",
            "describe": base + "/describe",
            "quickActions": base + "/quickActions",
            "layouts": base + "/describe/layouts",
            "sobject": base,
        }

    def global_entry(self, version: str) -> dict[str, Any]:
        """This object's entry in describeGlobal's `sobjects`."""
        return {
            "activateable": False,
            "associateEntityType": self.associate_entity_type,
            "associateParentEntity": self.associate_parent_entity,
            "createable": self.createable,
            "custom": self.custom,
            "customSetting": False,
            "deepCloneable": False,
            "deletable": self.deletable,
            "deprecatedAndHidden": False,
            "feedEnabled": self.name in _FEED_ENABLED,
            "hasSubtypes": False,
            "isInterface": False,
            "isSubtype": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": self.layoutable,
            "mergeable": self.name in ("Account", "Contact", "Lead"),
            "mruEnabled": self.layoutable,
            "name": self.name,
            "queryable": self.queryable,
            "replicateable": self.queryable and self.associate_entity_type is None,
            "retrieveable": True,
            "searchable": self.createable and self.key_prefix is not None,
            "triggerable": self.layoutable or self.associate_entity_type == "ChangeEvent",
            "undeletable": self.has_is_deleted and self.deletable,
            "updateable": self.updateable,
            "urls": self.urls(version),
        }

    def describe(self, version: str) -> dict[str, Any]:
        """Body of `GET /sobjects/<name>/describe`."""
        entry = self.global_entry(version)
        del entry["associateEntityType"], entry["associateParentEntity"]
        body: dict[str, Any] = {
            **entry,
            "actionOverrides": [],
            "associateEntityType": self.associate_entity_type,
            "associateParentEntity": self.associate_parent_entity,
            "childRelationships": [
                {
                    "cascadeDelete": (child, fld) in CASCADE_DELETE,
                    "childSObject": child,
                    "deprecatedAndHidden": False,
                    "field": fld,
                    "junctionIdListNames": [],
                    "junctionReferenceTo": [],
                    "relationshipName": rel,
                    "restrictedDelete": False,
                }
                for child, fld, rel in self.child_relationships
            ],
            "compactLayoutable": entry["layoutable"],
            "defaultImplementation": None,
            "extendedBy": None,
            "extendsInterfaces": None,
            "fields": [f.describe() for f in self.fields],
            "implementedBy": None,
            "implementsInterfaces": None,
            "listviewable": None,
            "lookupLayoutable": None,
            "namedLayoutInfos": [],
            "networkScopeFieldName": None,
            "recordTypeInfos": [],
            "searchLayoutable": entry["searchable"],
            "sobjectDescribeOption": "FULL",
            "supportedScopes": [{"label": "All " + self.label_plural.lower(), "name": "everything"}]
            if self.key_prefix
            else [],
        }
        if self.name in _RECORD_TYPED:
            body["recordTypeInfos"] = [
                {
                    "active": True,
                    "available": True,
                    "defaultRecordTypeMapping": True,
                    "developerName": "Master",
                    "master": True,
                    "name": "Master",
                    "recordTypeId": "012000000000000AAA",
                    "urls": {
                        "layout": f"/services/data/v{version}/sobjects/{self.name}/describe/layouts/"
                        "012000000000000AAA"
                    },
                }
            ]
        return dict(sorted(body.items()))


#: (child object, lookup field) pairs whose rows are deleted (and undeleted) with their parent.
CASCADE_DELETE = frozenset(
    {
        ("Contact", "AccountId"),
        ("Opportunity", "AccountId"),
        ("Attachment", "ParentId"),
        ("ContentDocumentLink", "LinkedEntityId"),
        ("ContentDocumentLink", "ContentDocumentId"),
        ("ContentVersion", "ContentDocumentId"),
        ("Invoice__c", "Account__c"),
    }
)
_FEED_ENABLED = frozenset({"Account", "Contact", "Lead", "Opportunity", "User", "ContentDocument"})
_NOT_LAYOUTABLE = frozenset(
    {
        "UserRole",
        "Group",
        "PermissionSet",
        "PermissionSetAssignment",
        "RecordType",
        "Folder",
        "Organization",
        "ContentDocumentLink",
        "Profile",
    }
)
_RECORD_TYPED = frozenset({"Account", "Contact", "Lead", "Opportunity", "Invoice__c"})


def _label(name: str) -> str:
    base = name.removesuffix("__c").removesuffix("Id") if name not in ("Id",) else "Record ID"
    out = ""
    for i, ch in enumerate(base.replace("_", " ")):
        if ch.isupper() and i and base[i - 1].islower():
            out += " "
        out += ch
    return out.strip()


# -- field builders ------------------------------------------------------------------------------


def f_id() -> FieldDef:
    return FieldDef(
        "Id",
        "id",
        label="Record ID",
        length=18,
        nillable=False,
        createable=False,
        updateable=False,
        defaulted_on_create=True,
        id_lookup=True,
    )


def f_text(name: str, length: int = 255, *, t: str = "string", **kw: Any) -> FieldDef:
    return FieldDef(name, t, length=length, custom=name.endswith("__c"), **kw)


def f_area(name: str, length: int = 32000, **kw: Any) -> FieldDef:
    return FieldDef(
        name, "textarea", length=length, extra_type_info="plaintextarea", custom=name.endswith("__c"), **kw
    )


def f_pick(
    name: str, values: tuple[str, ...], length: int = 255, *, t: str = "picklist", **kw: Any
) -> FieldDef:
    return FieldDef(name, t, length=length, picklist=values, custom=name.endswith("__c"), **kw)


def f_bool(name: str, **kw: Any) -> FieldDef:
    kw.setdefault("default_value", False)
    return FieldDef(
        name, "boolean", nillable=False, defaulted_on_create=True, custom=name.endswith("__c"), **kw
    )


def f_num(name: str, t: str, precision: int = 18, scale: int = 0, **kw: Any) -> FieldDef:
    if t in ("int", "long"):
        return FieldDef(name, t, digits=precision, custom=name.endswith("__c"), **kw)
    return FieldDef(name, t, precision=precision, scale=scale, custom=name.endswith("__c"), **kw)


def f_ref(name: str, to: tuple[str, ...] | str, rel: str | None = None, **kw: Any) -> FieldDef:
    targets = (to,) if isinstance(to, str) else to
    if rel is None:
        rel = name[:-3] + "__r" if name.endswith("__c") else name.removesuffix("Id")
    return FieldDef(
        name,
        "reference",
        length=18,
        reference_to=targets,
        relationship_name=rel,
        custom=name.endswith("__c"),
        **kw,
    )


def f_plain(name: str, t: str, **kw: Any) -> FieldDef:
    return FieldDef(name, t, custom=name.endswith("__c"), **kw)


def f_address(prefix: str) -> list[FieldDef]:
    """Components + compound of a standard address (`Billing` -> BillingStreet ... BillingAddress)."""
    compound = prefix + "Address" if prefix else "Address"
    return [
        f_area(prefix + "Street", 255, compound_field_name=compound),
        f_text(prefix + "City", 40, compound_field_name=compound),
        f_text(prefix + "State", 80, compound_field_name=compound),
        f_text(prefix + "PostalCode", 20, compound_field_name=compound),
        f_text(prefix + "Country", 80, compound_field_name=compound),
        f_num(prefix + "Latitude", "double", 18, 15, compound_field_name=compound),
        f_num(prefix + "Longitude", "double", 18, 15, compound_field_name=compound),
        f_pick(
            prefix + "GeocodeAccuracy",
            ("Address", "NearAddress", "Block", "Street", "City"),
            40,
            compound_field_name=compound,
        ),
        FieldDef(compound, "address", createable=False, updateable=False),
    ]


def system_head(deleted: bool = True) -> list[FieldDef]:
    out = [f_id()]
    if deleted:
        out.append(f_bool("IsDeleted", label="Deleted", createable=False, updateable=False))
    return out


def system_tail(owner: tuple[str, ...] | None = ("User",)) -> list[FieldDef]:
    out: list[FieldDef] = []
    if owner:
        out.append(f_ref("OwnerId", owner, "Owner", nillable=False, defaulted_on_create=True))
    ro: dict[str, Any] = {
        "createable": False,
        "updateable": False,
        "nillable": False,
        "defaulted_on_create": True,
    }
    out += [
        f_plain("CreatedDate", "datetime", **ro),
        f_ref("CreatedById", "User", "CreatedBy", **ro),
        f_plain("LastModifiedDate", "datetime", **ro),
        f_ref("LastModifiedById", "User", "LastModifiedBy", **ro),
        f_plain("SystemModstamp", "datetime", **ro),
    ]
    return out
