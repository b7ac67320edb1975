"""The emulated org's objects and fields, and their describe JSON shaped like real Salesforce's.

Describes follow the real responses' conventions: every field entry carries the same keys (sorted,
as Salesforce sends them), type/soapType pairs as real orgs report them, byteLength = 3 x length for
text, compound fields (`address`, `location`) whose components name them in `compoundFieldName`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
        filterable = not (self.long_text or t in ("encryptedstring", "base64"))
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
            "calculatedFormula": None,
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
            "htmlFormatted": False,
            "idLookup": self.id_lookup,
            "inlineHelpText": None,
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
    """A query Salesforce refuses unless its WHERE clause filters (at the top level, with = or IN) on
    one of `fields`; `select_only` (fnmatch patterns) limits the fields a query may select."""

    fields: tuple[str, ...]
    error_code: str
    message: str
    select_only: tuple[str, ...] = ()
    select_message: str = ""


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
_BASE62_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
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


# fmt: off
# -- the org's objects ---------------------------------------------------------------------------

INDUSTRIES = (
    "Agriculture",
    "Banking",
    "Chemicals",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Finance",
    "Healthcare",
    "Media",
    "Retail",
    "Technology",
)
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
#: objects a ContentDocumentLink / Attachment may point at.
PARENTS = ("Account", "Contact", "Lead", "Opportunity", "Invoice__c")

_CHILD_NAMES: dict[tuple[str, str], str] = {
    ("Account", "ParentId"): "ChildAccounts",
    ("Contact", "AccountId"): "Contacts",
    ("Opportunity", "AccountId"): "Opportunities",
    ("Invoice__c", "Account__c"): "Invoices__r",
    ("Attachment", "ParentId"): "Attachments",
    ("ContentVersion", "ContentDocumentId"): "ContentVersions",
    ("ContentDocumentLink", "LinkedEntityId"): "ContentDocumentLinks",
    ("ContentDocumentLink", "ContentDocumentId"): "ContentDocumentLinks",
    ("Contact", "ReportsToId"): "ReportsTo",
    ("User", "ManagerId"): "ManagedUsers",
    ("PermissionSetAssignment", "AssigneeId"): "PermissionSetAssignments",
}


def _standard_objects() -> list[ObjectDef]:
    rating = ("Hot", "Warm", "Cold")
    account = ObjectDef(
        "Account", "001",
        [
            *system_head(),
            f_ref("MasterRecordId", "Account", "MasterRecord", createable=False, updateable=False),
            f_text("Name", 255, nillable=False, name_field=True, compound_field_name=None),
            f_pick("Type", ("Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"), 40),
            f_ref("RecordTypeId", "RecordType"), f_ref("ParentId", "Account", "Parent"),
            *f_address("Billing"), *f_address("Shipping"), f_text("Phone", 40, t="phone"),
            f_text("Fax", 40, t="phone"), f_text("AccountNumber", 40), f_text("Website", 255, t="url"),
            f_text("Sic", 20), f_pick("Industry", INDUSTRIES, 40), f_num("AnnualRevenue", "currency", 18, 0),
            f_num("NumberOfEmployees", "int", 8),
            f_pick("Ownership", ("Public", "Private", "Subsidiary", "Other"), 40), f_text("TickerSymbol", 20),
            f_area("Description"), f_pick("Rating", rating, 40), f_text("Site", 80), *system_tail(),
            f_plain("LastActivityDate", "date", createable=False, updateable=False),
            f_plain("LastViewedDate", "datetime", createable=False, updateable=False),
            f_pick("AccountSource", LEAD_SOURCES, 40),
        ],
    )
    contact = ObjectDef(
        "Contact", "003",
        [
            *system_head(),
            f_ref("MasterRecordId", "Contact", "MasterRecord", createable=False, updateable=False),
            f_ref("AccountId", "Account"),
            f_text("LastName", 80, nillable=False, compound_field_name="Name", extra_type_info="personname"),
            f_text("FirstName", 40, compound_field_name="Name", extra_type_info="personname"),
            f_pick(
                "Salutation", ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof."), 40, compound_field_name="Name",
                extra_type_info="personname",
            ),
            f_text(
                "Name", 121, createable=False, updateable=False, nillable=False, name_field=True,
                extra_type_info="personname",
            ),
            *f_address("Mailing"), f_text("Phone", 40, t="phone"), f_text("MobilePhone", 40, t="phone"),
            f_ref("ReportsToId", "Contact", "ReportsTo"), f_text("Email", 80, t="email", id_lookup=True),
            f_text("Title", 128), f_text("Department", 80), f_pick("LeadSource", LEAD_SOURCES),
            f_plain("Birthdate", "date"), f_area("Description"), *system_tail(),
            f_plain("LastActivityDate", "date", createable=False, updateable=False),
            f_plain("EmailBouncedDate", "datetime"),
            f_bool("IsEmailBounced", createable=False, updateable=False),
        ],
    )
    lead = ObjectDef(
        "Lead", "00Q",
        [
            *system_head(),
            f_text("LastName", 80, nillable=False, compound_field_name="Name", extra_type_info="personname"),
            f_text("FirstName", 40, compound_field_name="Name", extra_type_info="personname"),
            f_pick(
                "Salutation", ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof."), 40, compound_field_name="Name",
                extra_type_info="personname",
            ),
            f_text(
                "Name", 121, createable=False, updateable=False, nillable=False, name_field=True,
                extra_type_info="personname",
            ),
            f_text("Title", 128), f_text("Company", 255, nillable=False), *f_address(""),
            f_text("Phone", 40, t="phone"), f_text("Email", 80, t="email", id_lookup=True),
            f_text("Website", 255, t="url"), f_area("Description"), f_pick("LeadSource", LEAD_SOURCES),
            f_pick(
                "Status",
                (
                    "Open - Not Contacted", "Working - Contacted", "Closed - Converted",
                    "Closed - Not Converted",
                ),
                nillable=False, defaulted_on_create=True,
            ),
            f_pick("Industry", INDUSTRIES), f_pick("Rating", rating),
            f_num("AnnualRevenue", "currency", 18, 0), f_num("NumberOfEmployees", "int", 8),
            f_bool("IsConverted", createable=False, updateable=False),
            f_plain("ConvertedDate", "date", createable=False, updateable=False),
            f_ref("ConvertedAccountId", "Account", createable=False, updateable=False),
            f_ref("ConvertedContactId", "Contact", createable=False, updateable=False),
            f_ref("ConvertedOpportunityId", "Opportunity", createable=False, updateable=False),
            *system_tail(("Group", "User")),
        ],
    )
    opportunity = ObjectDef(
        "Opportunity", "006",
        [
            *system_head(), f_ref("AccountId", "Account"), f_bool("IsPrivate"),
            f_text("Name", 120, nillable=False, name_field=True), f_area("Description"),
            f_pick("StageName", STAGES, nillable=False), f_num("Amount", "currency", 18, 2),
            f_num("Probability", "percent", 3, 0), f_plain("CloseDate", "date", nillable=False),
            f_pick("Type", ("New Customer", "Existing Customer - Upgrade", "Existing Customer - Renewal")),
            f_text("NextStep", 255), f_pick("LeadSource", LEAD_SOURCES),
            f_bool("IsClosed", createable=False, updateable=False),
            f_bool("IsWon", createable=False, updateable=False),
            f_pick(
                "ForecastCategory", ("Omitted", "Pipeline", "BestCase", "Forecast", "Closed"), 40,
                createable=False, updateable=False, nillable=False,
            ),
            *system_tail(), f_plain("LastActivityDate", "date", createable=False, updateable=False),
        ],
    )
    user = ObjectDef(
        "User", "005",
        [
            f_id(), f_text("Username", 80, nillable=False, unique=True, id_lookup=True),
            f_text("LastName", 80, nillable=False, compound_field_name="Name"),
            f_text("FirstName", 40, compound_field_name="Name"),
            f_text("Name", 121, createable=False, updateable=False, nillable=False, name_field=True),
            f_text("CompanyName", 80), f_text("Email", 128, t="email", nillable=False),
            f_text("Alias", 8, nillable=False), f_bool("IsActive", default_value=True),
            f_ref("UserRoleId", "UserRole"), f_ref("ProfileId", "Profile", nillable=False),
            f_pick(
                "UserType", ("Standard", "AutomatedProcess", "CsnOnly", "Guest"), 40, createable=False,
                updateable=False,
            ),
            f_pick(
                "TimeZoneSidKey", ("America/Los_Angeles", "Europe/Paris", "Asia/Tokyo", "GMT"), 40,
                nillable=False,
            ),
            f_ref("ManagerId", "User", "Manager"),
            f_plain("LastLoginDate", "datetime", createable=False, updateable=False), *system_tail(None),
        ],
        deletable=False,
    )
    organization = ObjectDef(
        "Organization", "00D",
        [
            f_id(), f_text("Name", 80, nillable=False, name_field=True), f_text("Division", 80),
            *f_address(""), f_text("Phone", 40, t="phone"),
            f_text("InstanceName", 5, createable=False, updateable=False),
            f_bool("IsSandbox", createable=False, updateable=False),
            f_plain("TrialExpirationDate", "datetime", createable=False, updateable=False),
            f_text("NamespacePrefix", 15, createable=False, updateable=False),
            f_pick(
                "OrganizationType",
                ("Developer Edition", "Enterprise Edition", "Unlimited Edition", "Professional Edition"), 40,
                createable=False, updateable=False,
            ),
            *system_tail(None),
        ],
        createable=False, deletable=False,
    )
    profile = ObjectDef(
        "Profile", "00e",
        [
            f_id(), f_text("Name", 255, nillable=False, name_field=True),
            f_pick("UserType", ("Standard", "PowerPartner", "Guest"), 40, createable=False, updateable=False),
            f_text("Description", 255), *system_tail(None),
        ],
    )
    ro: dict[str, Any] = {
        "createable": False, "updateable": False, "nillable": False, "defaulted_on_create": True,
    }
    modified_only = [
        f_plain("LastModifiedDate", "datetime", **ro),
        f_ref("LastModifiedById", "User", "LastModifiedBy", **ro),
        f_plain("SystemModstamp", "datetime", **ro),
    ]
    role = ObjectDef(
        "UserRole", "00E",
        [
            f_id(), f_text("Name", 80, nillable=False, name_field=True),
            f_ref("ParentRoleId", "UserRole", None), f_text("DeveloperName", 80), *modified_only,
        ],
        label="Role", label_plural="Role",
    )
    group = ObjectDef(
        "Group", "00G",
        [
            f_id(), f_text("Name", 40, nillable=False, name_field=True), f_text("DeveloperName", 80),
            f_ref("RelatedId", ("User", "UserRole"), "Related", createable=False, updateable=False),
            f_pick("Type", ("Regular", "Role", "Organization", "Queue"), 40, nillable=False),
            f_text("Email", 255, t="email"), f_bool("DoesIncludeBosses"),
            *system_tail(("Organization", "User")),
        ],
    )
    permset = ObjectDef(
        "PermissionSet", "0PS",
        [
            f_id(), f_text("Name", 80, nillable=False), f_text("Label", 80, nillable=False, name_field=True),
            f_bool("IsOwnedByProfile", createable=False, updateable=False), f_ref("ProfileId", "Profile"),
            f_text("Description", 255), f_text("NamespacePrefix", 15, createable=False, updateable=False),
            *system_tail(None),
        ],
    )
    psa = ObjectDef(
        "PermissionSetAssignment", "0Pa",
        [
            f_id(), f_ref("PermissionSetId", "PermissionSet", nillable=False),
            f_ref("AssigneeId", "User", "Assignee", nillable=False),
            f_plain("SystemModstamp", "datetime", **ro),
            f_bool("IsActive", createable=False, updateable=False),
        ],
        updateable=False,
    )
    record_type = ObjectDef(
        "RecordType", "012",
        [
            f_id(), f_text("Name", 80, nillable=False, name_field=True), f_text("DeveloperName", 80),
            f_text("NamespacePrefix", 15, createable=False, updateable=False), f_text("Description", 255),
            f_pick(
                "SobjectType", ("Account", "Contact", "Lead", "Opportunity", "Invoice__c"), 40, nillable=False
            ),
            f_bool("IsActive"), *system_tail(None),
        ],
    )
    folder = ObjectDef(
        "Folder", "00l",
        [
            f_id(), f_text("Name", 40, nillable=False, name_field=True), f_text("DeveloperName", 80),
            f_pick("AccessType", ("Shared", "Public", "Hidden", "PublicInternal"), 40, nillable=False),
            f_bool("IsReadonly"),
            f_pick("Type", ("Document", "Email", "Report", "Dashboard"), 40, nillable=False),
            f_text("NamespacePrefix", 15, createable=False, updateable=False),
            f_ref("ParentId", "Folder", "Parent"), *system_tail(None),
        ],
    )
    return [
        account, contact, lead, opportunity, user, organization, profile, role, group, permset, psa,
        record_type, folder,
    ]


def _file_objects() -> list[ObjectDef]:
    ro: dict[str, Any] = {"createable": False, "updateable": False}
    attachment = ObjectDef(
        "Attachment", "00P",
        [
            *system_head(), f_ref("ParentId", PARENTS, "Parent", nillable=False),
            f_text("Name", 255, nillable=False, name_field=True), f_bool("IsPrivate"),
            f_text("ContentType", 120), f_num("BodyLength", "int", 9, **ro),
            f_plain("Body", "base64", nillable=False), *system_tail(), f_area("Description", 500),
        ],
        bulk_supported=False,
    )
    document = ObjectDef(
        "ContentDocument", "069",
        [
            *system_head(), *system_tail(), f_bool("IsArchived", **ro),
            f_ref("ArchivedById", "User", "ArchivedBy", **ro), f_plain("ArchivedDate", "date", **ro),
            f_text("Title", 255, nillable=False, name_field=True),
            f_pick("PublishStatus", ("U", "P", "R"), 40, **ro),
            f_ref("LatestPublishedVersionId", "ContentVersion", **ro), f_num("ContentSize", "int", 9, **ro),
            f_text("FileType", 20, **ro), f_text("FileExtension", 40, **ro), f_area("Description", 32000),
            f_plain("ContentModifiedDate", "datetime", **ro),
        ],
        createable=False, label="Content Document",
    )
    version = ObjectDef(
        "ContentVersion", "068",
        [
            *system_head(), f_ref("ContentDocumentId", "ContentDocument"), f_bool("IsLatest", **ro),
            f_text("ContentUrl", 1300, t="url"), f_text("VersionNumber", 20, **ro),
            f_text("Title", 255, nillable=False, name_field=True), f_area("Description", 1000),
            f_text("ReasonForChange", 1000), f_text("PathOnClient", 500),
            f_pick("PublishStatus", ("U", "P", "R"), 40, **ro), f_num("ContentSize", "int", 9, **ro),
            f_text("FileType", 20, **ro), f_text("FileExtension", 40, **ro),
            f_pick("ContentLocation", ("S", "E", "L"), 40),
            f_plain("VersionData", "base64", updateable=False), f_text("Checksum", 50, **ro),
            f_ref("FirstPublishLocationId", (*PARENTS, "User"), "FirstPublishLocation"),
            f_pick("Origin", ("C", "H"), 40), *system_tail(),
        ],
        deletable=False, label="Content Version",
    )
    link = ObjectDef(
        "ContentDocumentLink", "06A",
        [
            f_id(),
            f_ref("LinkedEntityId", (*PARENTS, "User"), "LinkedEntity", nillable=False, updateable=False),
            f_ref("ContentDocumentId", "ContentDocument", nillable=False, updateable=False),
            f_bool("IsDeleted", label="Deleted", **ro),
            f_plain("SystemModstamp", "datetime", nillable=False, **ro),
            f_pick("ShareType", ("V", "C", "I"), 40),
            f_pick("Visibility", ("AllUsers", "InternalUsers", "SharedUsers"), 40),
        ],
        label="Content Document Link",
        query_rule=QueryRule(
            ("ContentDocumentId", "LinkedEntityId", "Id"), "MALFORMED_QUERY",
            "Implementation restriction: ContentDocumentLink requires a filter by a single Id on "
            "ContentDocumentId or LinkedEntityId using the equals operator or multiple Id's using the IN "
            "operator.",
        ),
    )
    doc = ObjectDef(
        "Document", "015",
        [
            f_id(), f_ref("FolderId", ("Folder", "User"), "Folder", nillable=False),
            f_bool("IsDeleted", **ro), f_text("Name", 255, nillable=False, name_field=True),
            f_text("DeveloperName", 80), f_text("NamespacePrefix", 15, **ro), f_text("ContentType", 120),
            f_text("Type", 40), f_bool("IsPublic"), f_num("BodyLength", "int", 9, **ro),
            f_plain("Body", "base64"), f_text("Url", 255, t="url"), f_area("Description", 255),
            f_area("Keywords", 255), f_bool("IsInternalUseOnly"), f_ref("AuthorId", "User", "Author"),
            *system_tail(None),
        ],
    )
    return [attachment, document, version, link, doc]


def _custom_objects() -> list[ObjectDef]:
    geo = "Location__c"
    invoice = ObjectDef(
        "Invoice__c", "a0X",
        [
            f_id(), f_ref("OwnerId", ("Group", "User"), "Owner", nillable=False, defaulted_on_create=True),
            f_bool("IsDeleted", label="Deleted", createable=False, updateable=False),
            f_text("Name", 80, name_field=True, label="Invoice Name"), *system_tail(None)[:5],
            f_ref("Account__c", "Account"), f_text("Description__c", 255), f_area("Notes__c", 32768),
            f_bool("Paid__c"), f_num("Quantity__c", "int", 9), f_num("Sequence__c", "long", 18),
            f_num("Rate__c", "double", 16, 4), f_num("Amount__c", "currency", 18, 2),
            f_num("Discount__c", "percent", 5, 2), f_plain("Invoice_Date__c", "date"),
            f_plain("Sent_At__c", "datetime"), f_plain("Due_Time__c", "time"),
            f_pick("Status__c", ("Draft", "Sent", "Paid", "Void")),
            f_pick("Tags__c", ("Urgent", "Export", "Recurring", "Disputed"), 4099, t="multipicklist"),
            f_text("Contact_Email__c", 80, t="email"), f_text("Phone__c", 40, t="phone"),
            f_text("Website__c", 255, t="url"), f_pick("Channel__c", ("Web", "Email", "Post"), t="combobox"),
            f_text("Secret__c", 175, t="encryptedstring"),
            FieldDef(geo, "location", custom=True, label="Location"),
            f_num("Location__Latitude__s", "double", 9, 6, compound_field_name=geo),
            f_num("Location__Longitude__s", "double", 9, 6, compound_field_name=geo),
        ],
        custom=True, label="Invoice", label_plural="Invoices",
    )
    return [invoice]


def _restricted_objects() -> list[ObjectDef]:
    def status(name: str, prefix: str, label: str) -> ObjectDef:
        return ObjectDef(
            name, None,
            [
                f_id(), f_text("MasterLabel", 255, nillable=False), f_text("ApiName", 255),
                f_num("SortOrder", "int", 9), f_bool("IsDefault"), *system_tail(None),
            ],
            id_prefix=prefix, label=label, label_plural=label, bulk_supported=False, createable=False,
            updateable=False, deletable=False,
        )

    def unqueryable(name: str, entity: str | None, parent: str | None) -> ObjectDef:
        return ObjectDef(
            name, None, [f_id(), *system_tail(None)[:2]], id_prefix="000", queryable=False,
            bulk_supported=False, createable=False, updateable=False, deletable=False,
            associate_entity_type=entity, associate_parent_entity=parent,
        )

    return [
        status("CaseStatus", "01J", "Case Status Value"), status("TaskStatus", "01J", "Task Status Value"),
        unqueryable("AccountChangeEvent", "ChangeEvent", "Account"),
        unqueryable("ActivityHistory", None, None),
    ]


def build_catalog(extra_objects: int = 0, *, seed: int = 1) -> dict[str, ObjectDef]:
    """Every object of the emulated org, keyed by lower-case name; `extra_objects` adds that many
    generated objects plus the companions and query-restricted objects a real org lists."""
    objects = [*_standard_objects(), *_file_objects(), *_custom_objects(), *_restricted_objects()]
    if extra_objects:
        objects += _extra_objects(extra_objects, seed)
    by_name = {o.name: o for o in objects}
    for child in objects:
        for fd in child.fields:
            for target in fd.reference_to:
                if target in by_name and fd.name not in ("CreatedById", "LastModifiedById"):
                    by_name[target].child_relationships.append(
                        (child.name, fd.name, _CHILD_NAMES.get((child.name, fd.name)))
                    )
    return {o.name.lower(): o for o in sorted(objects, key=lambda o: o.name)}


# -- the optional larger catalog ----------------------------------------------------------------------

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


def _extra_objects(count: int, seed: int) -> list[ObjectDef]:
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
