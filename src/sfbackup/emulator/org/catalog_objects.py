"""The emulated org's standard objects and their field tables.

The objects every emulated org has: the standard sales and setup objects (`standard_objects()`),
files and attachments (`file_objects()`), the custom `Invoice__c` object covering every field type
(`custom_objects()`) and a few objects the API restricts (`restricted_objects()`), plus the picklist
values data generation draws from and `CHILD_NAMES`, the relationship names of child lookups.
`catalog.build_catalog()` assembles them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sfbackup.emulator.org.catalog_model import (
    FieldDef,
    ObjectDef,
    QueryRule,
    f_address,
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

CHILD_NAMES: dict[tuple[str, str], str] = {
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


def standard_objects() -> list[ObjectDef]:
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


def file_objects() -> list[ObjectDef]:
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


def custom_objects() -> list[ObjectDef]:
    geo = "Location__c"
    invoice = ObjectDef(
        "Invoice__c", "a0X",
        [
            f_id(), f_ref("OwnerId", ("Group", "User"), "Owner", nillable=False, defaulted_on_create=True),
            f_bool("IsDeleted", label="Deleted", createable=False, updateable=False),
            f_text("Name", 80, name_field=True, label="Invoice Name"), *system_tail(None)[:5],
            f_ref("Account__c", "Account"), f_text("Description__c", 255), f_area("Notes__c", 32768),
            f_bool("Paid__c"), f_num("Quantity__c", "int", 9), f_num("Sequence__c", "long", 18),
            f_num("Rate__c", "double", 16, 4),
            replace(f_num("Amount__c", "currency", 18, 2), help_text="The invoice total, taxes included."),
            f_num("Discount__c", "percent", 5, 2), f_plain("Invoice_Date__c", "date"),
            f_plain("Sent_At__c", "datetime"), f_plain("Due_Time__c", "time"),
            replace(f_pick("Status__c", ("Draft", "Sent", "Paid", "Void")),
                    help_text="Draft until it is sent; Paid once the payment arrived; Void if cancelled."),
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


def restricted_objects() -> list[ObjectDef]:
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
# fmt: on
