"""The emulated org's configuration as the Metadata API serves it: types, components and their files.

`MetadataCatalog` is built from the org's own catalog and rows, so the metadata agrees with the
describes and the data: a CustomObject per object the org can customise (its custom fields, the
picklist values, a validation rule, its record types from the RecordType rows, list views), a
Layout per object, Profiles from the Profile rows, PermissionSets from the PermissionSet rows that
no profile owns, Documents in the Document folders of the Folder rows, and Reports, Dashboards,
EmailTemplates (in folders), Flows, ApexClasses and CustomLabels generated from the seed.

Shapes follow the Metadata API Developer Guide (docs/emulator.md lists the pages): the
``describeMetadata`` type entries (xmlName, directoryName, suffix, inFolder, metaFile,
childXmlNames), ``FileProperties`` of ``listMetadata``, and a retrieve's zip: ``package.xml`` plus
``<directoryName>/<fullName>.<suffix>`` files (and ``-meta.xml`` companions where ``metaFile``).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from sfbackup.emulator.org.catalog_model import ObjectDef
from sfbackup.emulator.org.restrictions import BigObjectIndex

NS = "http://soap.sforce.com/2006/04/metadata"
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


@dataclass(frozen=True)
class MetadataType:
    """One entry of describeMetadata's ``metadataObjects``."""

    xml_name: str
    directory: str
    suffix: str | None
    in_folder: bool = False
    meta_file: bool = False
    children: tuple[str, ...] = ()
    #: listMetadata answers INVALID_TYPE with this message (a feature the org does not have)
    refusal: str | None = None

    @property
    def folder_type(self) -> str | None:
        """The type listMetadata takes to list this type's folders (Report -> ReportFolder)."""
        if not self.in_folder:
            return None
        return "EmailFolder" if self.xml_name == "EmailTemplate" else f"{self.xml_name}Folder"


#: The types this org serves, in describeMetadata's order.
TYPES: tuple[MetadataType, ...] = (
    MetadataType("ApexClass", "classes", "cls", meta_file=True),
    MetadataType("CustomLabels", "labels", "labels", children=("CustomLabel",)),
    MetadataType("CustomObject", "objects", "object",
                 children=("CustomField", "ValidationRule", "RecordType", "ListView", "WebLink",
                           "FieldSet", "CompactLayout", "BusinessProcess", "SharingReason", "Index")),
    MetadataType("Dashboard", "dashboards", "dashboard", in_folder=True),
    MetadataType("Document", "documents", None, in_folder=True, meta_file=True),
    MetadataType("EmailTemplate", "email", "email", in_folder=True, meta_file=True),
    MetadataType("Flow", "flows", "flow"),
    MetadataType("Layout", "layouts", "layout"),
    MetadataType("PermissionSet", "permissionsets", "permissionset"),
    MetadataType("Profile", "profiles", "profile"),
    MetadataType("Report", "reports", "report", in_folder=True),
    MetadataType("WaveTemplateBundle", "waveTemplates", None,
                 refusal="This type of metadata is not available for this organization"),
)
TYPES_BY_NAME = {t.xml_name: t for t in TYPES}
FOLDER_TYPES = {t.folder_type: t for t in TYPES if t.folder_type}

#: Profile names in metadata for the standard profiles' labels (custom profiles keep their name).
_PROFILE_NAMES = {"System Administrator": "Admin", "Standard User": "Standard", "Read Only": "ReadOnly"}


@dataclass(frozen=True)
class Scale:
    """How many generated components of each kind (the rest comes from the org's catalog and rows)."""

    apex_classes: int = 6
    flows: int = 3
    report_folders: int = 2
    reports_per_folder: int = 3
    dashboards_per_folder: int = 1
    email_folders: int = 2
    emails_per_folder: int = 2
    labels: int = 8
    document_bytes: int = 2048

    @classmethod
    def for_shape(cls, shape: str) -> Scale:
        if shape == "enterprise":  # a real enterprise org's order of magnitude: a retrieve must be chunked
            return cls(apex_classes=3000, flows=320, report_folders=40, reports_per_folder=60,
                       dashboards_per_folder=4, email_folders=12, emails_per_folder=50, labels=900,
                       document_bytes=64 * 1024)  # fmt: skip
        return cls()


#: One file of a component: its path, the function that builds its body and that function's arguments.
FileSpec = tuple[str, Callable[..., bytes], tuple[Any, ...]]


@dataclass
class Component:
    """One metadata component and the files a retrieve returns for it."""

    type: str
    full_name: str
    id: str
    specs: tuple[FileSpec, ...]  # (path, builder, its arguments): bodies are built when retrieved
    folder: str | None = None  # for a component in a folder: its folder's name
    last_modified: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))

    def files(self) -> list[tuple[str, bytes]]:
        """(path under the package root, body) of every file a retrieve returns for it."""
        return [(path, build(*args)) for path, build, args in self.specs]

    @property
    def file_name(self) -> str:
        """The file listMetadata names (the component's main file)."""
        t = TYPES_BY_NAME.get(self.type)
        if t is None:  # a folder
            owner = FOLDER_TYPES[self.type]
            return f"{owner.directory}/{self.full_name}"
        if t.suffix is None:
            return f"{t.directory}/{self.full_name}"
        return f"{t.directory}/{self.full_name}.{t.suffix}"


@dataclass
class RetrieveOutcome:
    """What a finished retrieve holds: the zip (or the error that failed it) and its messages."""

    zip_bytes: bytes | None
    properties: list[Component]
    messages: list[tuple[str, str]]  # (fileName, problem)
    error_code: str | None = None
    error_message: str | None = None


class MetadataFault(Exception):
    """A Metadata API fault (``sf:<code>``), e.g. INVALID_TYPE."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class MetadataCatalog:
    """Every component of the org, by type; built once, deterministic for a seed."""

    def __init__(self, objects: Iterable[ObjectDef], fetchall: Callable[[str, list[Any]], list[Any]],
                 *, shape: str = "default", seed: int = 1) -> None:
        self.scale = Scale.for_shape(shape)
        self.seed = seed
        #: components deleted after they were listed: a retrieve names them in its messages
        self.vanished: set[tuple[str, str]] = set()
        self.components: dict[str, list[Component]] = {t.xml_name: [] for t in TYPES}
        self.folders: dict[str, list[Component]] = {ft: [] for ft in FOLDER_TYPES}
        self._ids = 0
        record_types: dict[str, list[tuple[str, str]]] = {}
        for sobject, developer_name, label in fetchall(
                'SELECT "SobjectType", "DeveloperName", "Name" FROM "RecordType" ORDER BY rowid', []):
            record_types.setdefault(str(sobject), []).append((str(developer_name), str(label)))
        customizable = [o for o in objects if _customizable(o)]
        names = [o.name for o in customizable]
        for obj in customizable:
            rts = record_types.get(obj.name, [])
            self._add("CustomObject", obj.name, "01I",
                      (f"objects/{obj.name}.object", _custom_object, (obj, rts)))
            layout = f"{obj.name}-{obj.label} Layout"
            self._add("Layout", layout, "00h", (f"layouts/{layout}.layout", _layout, (obj,)))
        for (profile,) in fetchall('SELECT "Name" FROM "Profile" ORDER BY rowid', []):
            name = _PROFILE_NAMES.get(str(profile), str(profile))
            self._add("Profile", name, "00e", (f"profiles/{name}.profile", _profile, (name, names)))
        for (perm,) in fetchall('SELECT "Name" FROM "PermissionSet" WHERE "IsOwnedByProfile" = 0 '
                                'ORDER BY rowid', []):
            name = str(perm)
            self._add("PermissionSet", name, "0PS",
                      (f"permissionsets/{name}.permissionset", _permission_set, (name, names)))
        self._documents(fetchall)
        self._generated(names)

    # -- building ------------------------------------------------------------------------------
    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}Dx{self._ids:010d}AAA"[:18]

    def _add(self, type_name: str, full_name: str, prefix: str, *files: FileSpec,
             folder: str | None = None) -> Component:
        component = Component(type_name, full_name, self._next_id(prefix), files, folder)
        (self.folders if type_name in FOLDER_TYPES else self.components)[type_name].append(component)
        return component

    def _folder(self, folder_type: str, name: str) -> None:
        owner = FOLDER_TYPES[folder_type]
        meta = f"{owner.directory}/{name}-meta.xml"
        self._add(folder_type, name, "00l", (meta, _folder_meta, (folder_type, name)))

    def _documents(self, fetchall: Callable[[str, list[Any]], list[Any]]) -> None:
        folders = {str(i): str(d) for i, d in fetchall(
            'SELECT "Id", "DeveloperName" FROM "Folder" WHERE "Type" = \'Document\' ORDER BY rowid', [])}
        for name in folders.values():
            self._folder("DocumentFolder", name)
        size = self.scale.document_bytes
        for developer_name, folder_id in fetchall(
                'SELECT "DeveloperName", "FolderId" FROM "Document" ORDER BY rowid', []):
            folder = folders.get(str(folder_id))
            if folder is None:  # a document in a user's private folder: not in any listable folder
                continue
            full = f"{folder}/{developer_name}.txt"
            self._add("Document", full, "015", (f"documents/{full}", _filler, (full, size)),
                      (f"documents/{full}-meta.xml", _document_meta, (full,)), folder=folder)

    def _generated(self, objects: list[str]) -> None:
        s = self.scale
        for i in range(s.apex_classes):
            name = f"Service{i:04d}" if i else "AccountService"
            self._add("ApexClass", name, "01p", (f"classes/{name}.cls", _apex, (name, objects)),
                      (f"classes/{name}.cls-meta.xml", _apex_meta, ()))
        for i in range(s.flows):
            name = f"Auto_Assign_{i:03d}"
            self._add("Flow", name, "301", (f"flows/{name}.flow", _flow, (name, objects)))
        for f in range(s.report_folders):
            folder = f"Sales_Reports_{f:02d}"
            self._folder("ReportFolder", folder)
            for r in range(s.reports_per_folder):
                full = f"{folder}/Pipeline_{r:03d}"
                self._add("Report", full, "00O", (f"reports/{full}.report", _report, (full,)), folder=folder)
            dash_folder = f"Sales_Dashboards_{f:02d}"
            self._folder("DashboardFolder", dash_folder)
            for d in range(s.dashboards_per_folder):
                full = f"{dash_folder}/Overview_{d:02d}"
                self._add("Dashboard", full, "01Z",
                          (f"dashboards/{full}.dashboard", _dashboard, (full, folder)), folder=dash_folder)
        for f in range(s.email_folders):
            folder = f"Customer_Emails_{f:02d}"
            self._folder("EmailFolder", folder)
            for e in range(s.emails_per_folder):
                full = f"{folder}/Welcome_{e:03d}"
                self._add("EmailTemplate", full, "00X", (f"email/{full}.email", _email_body, (full,)),
                          (f"email/{full}.email-meta.xml", _email_meta, (full,)), folder=folder)
        self._add("CustomLabels", "CustomLabels", "101", ("labels/CustomLabels.labels", _labels, (s.labels,)))

    def create_apex_class(self, name: str) -> Component:
        """A new Apex class, as a developer deploys one (for tests: the org changed since a snapshot)."""
        objects = [c.full_name for c in self.components["CustomObject"]]
        return self._add("ApexClass", name, "01p", (f"classes/{name}.cls", _apex, (name, objects)),
                         (f"classes/{name}.cls-meta.xml", _apex_meta, ()))

    # -- the API -------------------------------------------------------------------------------
    def list_components(self, type_name: str, folder: str | None) -> list[Component]:
        """listMetadata for one query: a type's components (in `folder` for a foldered type), or a
        folder type's folders. MetadataFault INVALID_TYPE for a type the org does not serve."""
        if type_name in FOLDER_TYPES:
            return list(self.folders[type_name])
        t = TYPES_BY_NAME.get(type_name)
        if t is None or t.refusal is not None:
            raise MetadataFault("INVALID_TYPE", t.refusal if t and t.refusal else
                                f"Unknown type name '{type_name}' specified in listMetadata")
        components = self.components[type_name]
        if t.in_folder:
            if folder is None:  # listMetadata of a foldered type without a folder returns nothing
                return []
            return [c for c in components if c.folder == folder]
        return list(components)

    def find(self, type_name: str, member: str) -> list[Component]:
        """The components a package.xml ``<members>`` entry names (``*`` for every unfoldered one; a
        folder's name under a foldered type names the folder itself)."""
        t = TYPES_BY_NAME.get(type_name)
        if t is None or t.refusal is not None:
            return []
        if member == "*":
            return [] if t.in_folder else list(self.components[type_name])
        found = [c for c in self.components[type_name] if c.full_name == member]
        if not found and t.folder_type is not None:
            found = [c for c in self.folders[t.folder_type] if c.full_name == member]
        return found

    def retrieve(self, package: dict[str, list[str]], api_version: str, *, max_files: int,
                 max_zip_bytes: int) -> RetrieveOutcome:
        """Build a retrieve's outcome for the `package` (type -> members), under the limits."""
        chosen: list[Component] = []
        messages: list[tuple[str, str]] = []
        seen: set[tuple[str, str]] = set()
        for type_name, members in package.items():
            t = TYPES_BY_NAME.get(type_name)
            if t is None or t.refusal is not None:
                messages.append(("package.xml", f"Entity type: '{type_name}' is unknown"))
                continue
            for member in members:
                found = [c for c in self.find(type_name, member)
                         if (c.type, c.full_name) not in self.vanished]
                if not found and member != "*":
                    messages.append(("unpackaged/package.xml",
                                     f"Entity of type '{type_name}' named '{member}' cannot be found"))
                for c in found:
                    if (c.type, c.full_name) not in seen:
                        seen.add((c.type, c.full_name))
                        chosen.append(c)
        files = [(name, body) for c in chosen for name, body in c.files()]
        if len(files) + 1 > max_files:
            return RetrieveOutcome(None, [], [], "LIMIT_EXCEEDED",
                                   f"Too many files in retrieve call, limit is: {max_files}")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, body in files:
                archive.writestr(f"unpackaged/{name}", body)
            archive.writestr("unpackaged/package.xml", package_xml(package, api_version))
        data = buffer.getvalue()
        if len(data) > max_zip_bytes:
            return RetrieveOutcome(None, [], [], "LIMIT_EXCEEDED",
                                   f"The retrieved zip file exceeded the limit of {max_zip_bytes} bytes. "
                                   f"Total bytes retrieved: {len(data)}")
        return RetrieveOutcome(data, chosen, messages)


def _customizable(obj: ObjectDef) -> bool:
    """Objects Setup lets an admin customise: custom ones and the createable standard ones that are
    not a companion (history, share, feed, change event)."""
    if obj.associate_entity_type is not None:
        return False
    return obj.custom or (obj.createable and obj.queryable and obj.key_prefix is not None)


def package_xml(package: dict[str, list[str]], api_version: str) -> bytes:
    """A package.xml manifest naming `package`'s members, types sorted as the CLI writes them."""
    types = "".join(
        "    <types>\n" + "".join(f"        <members>{escape(m)}</members>\n" for m in sorted(members))
        + f"        <name>{escape(name)}</name>\n    </types>\n"
        for name, members in sorted(package.items())
    )
    return (f'{_XML_HEAD}<Package xmlns="{NS}">\n{types}    <version>{escape(api_version)}</version>\n'
            f"</Package>\n").encode()


def _doc(root: str, body: str) -> bytes:
    return f'{_XML_HEAD}<{root} xmlns="{NS}">\n{body}</{root}>\n'.encode()


def _el(name: str, value: object, indent: int = 4) -> str:
    text = str(value).lower() if isinstance(value, bool) else escape(str(value))
    return f"{' ' * indent}<{name}>{text}</{name}>\n"


_FIELD_TYPES = {"string": "Text", "textarea": "LongTextArea", "picklist": "Picklist",
                "multipicklist": "MultiselectPicklist", "email": "Email", "phone": "Phone", "url": "Url",
                "boolean": "Checkbox",
                "int": "Number", "double": "Number", "currency": "Currency", "percent": "Percent",
                "date": "Date", "datetime": "DateTime", "time": "Time", "reference": "Lookup",
                "encryptedstring": "EncryptedText", "location": "Location"}


def _custom_object(obj: ObjectDef, record_types: list[tuple[str, str]]) -> bytes:
    parts: list[str] = []
    for f in obj.fields:
        if not f.custom:
            continue
        body = _el("fullName", f.name, 8) + _el("label", f.label or f.name, 8)
        kind = _FIELD_TYPES.get(f.type, "Text")
        if f.help_text:
            body += _el("inlineHelpText", f.help_text, 8)
        if f.calculated and f.formula:
            body += _el("formula", f.formula, 8)
        if f.type in ("string", "encryptedstring"):
            body += _el("length", f.length, 8)
        if f.type == "textarea":
            body += _el("length", f.length, 8) + _el("visibleLines", 3, 8)
        if f.type in ("double", "currency", "percent", "int"):
            body += _el("precision", f.precision or 18, 8) + _el("scale", f.scale, 8)
        if f.type == "reference" and f.reference_to:
            body += _el("referenceTo", f.reference_to[0], 8)
            body += _el("relationshipName", f.relationship_name or f.name.removesuffix("__c"), 8)
        body += _el("required", not f.nillable and f.type != "boolean", 8)
        if f.picklist:
            values = "".join(
                f"                <value>\n{_el('fullName', v, 20)}{_el('default', False, 20)}"
                f"{_el('label', v, 20)}                </value>\n" for v in f.picklist)
            body += (f"        <valueSet>\n            <valueSetDefinition>\n{values}"
                     f"            </valueSetDefinition>\n        </valueSet>\n")
        body += _el("type", kind, 8)
        parts.append(f"    <fields>\n{body}    </fields>\n")
    parts.extend(_indexes(obj))
    parts.append(f"    <label>{escape(obj.label)}</label>\n")
    parts.append("    <listViews>\n" + _el("fullName", "All", 8) + _el("filterScope", "Everything", 8)
                 + _el("label", f"All {obj.label_plural}", 8) + "    </listViews>\n")
    for developer_name, label in record_types:
        parts.append("    <recordTypes>\n" + _el("fullName", developer_name, 8) + _el("active", True, 8)
                     + _el("label", label, 8) + "    </recordTypes>\n")
    if obj.custom:
        parts.append(_el("pluralLabel", obj.label_plural) + _el("sharingModel", "ReadWrite"))
    parts.append("    <validationRules>\n" + _el("fullName", "Name_Required", 8) + _el("active", True, 8)
                 + _el("errorConditionFormula", "ISBLANK(Name)", 8)
                 + _el("errorMessage", f"A {obj.label} needs a name.", 8) + "    </validationRules>\n")
    return _doc("CustomObject", "".join(parts))


def _indexes(obj: ObjectDef) -> list[str]:
    """A custom big object's index (Metadata API "Index": its fields in order, each with its sort
    direction), the only place Salesforce tells which filters its queries may use."""
    out = []
    for restriction in obj.restrictions:
        if isinstance(restriction, BigObjectIndex):
            fields = "".join(f"        <fields>\n{_el('name', name, 12)}{_el('sortDirection', 'ASC', 12)}"
                             "        </fields>\n" for name in restriction.index)
            label = f"{obj.label} Index"
            out.append(f"    <indexes>\n{_el('fullName', label.replace(' ', ''), 8)}{fields}"
                       f"{_el('label', label, 8)}    </indexes>\n")
    return out


def _layout(obj: ObjectDef) -> bytes:
    items = "".join(
        "            <layoutItems>\n" + _el("behavior", "Edit" if f.updateable else "Readonly", 16)
        + _el("field", f.name, 16) + "            </layoutItems>\n"
        for f in obj.fields[:40] if f.type not in ("id", "address", "location")
    )
    return _doc("Layout", "    <layoutSections>\n        <layoutColumns>\n" + items
                + "        </layoutColumns>\n" + _el("label", "Information", 8)
                + _el("style", "TwoColumnsTopToBottom", 8)
                + "    </layoutSections>\n")


def _object_permissions(objects: list[str], edit: bool) -> str:
    return "".join(
        "    <objectPermissions>\n" + _el("allowCreate", edit, 8) + _el("allowDelete", edit, 8)
        + _el("allowEdit", edit, 8) + _el("allowRead", True, 8) + _el("object", name, 8)
        + "    </objectPermissions>\n" for name in objects)


def _profile(name: str, objects: list[str]) -> bytes:
    return _doc("Profile", _el("custom", name not in _PROFILE_NAMES.values())
                + _object_permissions(objects, name == "Admin")
                + "    <userPermissions>\n" + _el("enabled", True, 8) + _el("name", "ApiEnabled", 8)
                + "    </userPermissions>\n" + _el("userLicense", "Salesforce"))


def _permission_set(name: str, objects: list[str]) -> bytes:
    return _doc("PermissionSet", _el("label", name.replace("_", " "))
                + _object_permissions(objects[:5], True) + _el("hasActivationRequired", False))


def _apex(name: str, objects: list[str]) -> bytes:
    target = objects[hash_index(name, len(objects))] if objects else "Account"
    return (f"public with sharing class {name} {{\n"
            f"    public static List<{target}> recent(Integer n) {{\n"
            f"        return [SELECT Id FROM {target} ORDER BY CreatedDate DESC LIMIT :n];\n"
            f"    }}\n}}\n").encode()


def _apex_meta() -> bytes:
    return _doc("ApexClass", _el("apiVersion", "62.0") + _el("status", "Active"))


def _flow(name: str, objects: list[str]) -> bytes:
    target = objects[hash_index(name, len(objects))] if objects else "Account"
    return _doc("Flow", _el("apiVersion", "62.0") + _el("label", name.replace("_", " "))
                + _el("processType", "AutoLaunchedFlow")
                + "    <start>\n" + _el("object", target, 8) + _el("recordTriggerType", "Create", 8)
                + _el("triggerType", "RecordAfterSave", 8) + "    </start>\n" + _el("status", "Active"))


def _report(full_name: str) -> bytes:
    name = full_name.rsplit("/", 1)[-1]
    return _doc("Report", "    <columns>\n" + _el("field", "ACCOUNT.NAME", 8) + "    </columns>\n"
                + _el("format", "Tabular") + _el("name", name.replace("_", " "))
                + _el("reportType", "Opportunity") + _el("scope", "organization"))


def _dashboard(full_name: str, report_folder: str) -> bytes:
    return _doc("Dashboard", _el("backgroundEndColor", "#FFFFFF") + _el("dashboardType", "SpecifiedUser")
                + "    <leftSection>\n        <components>\n"
                + _el("report", f"{report_folder}/Pipeline_000", 12) + _el("componentType", "Bar", 12)
                + "        </components>\n" + _el("columnSize", "Medium", 8) + "    </leftSection>\n"
                + _el("title", full_name.rsplit("/", 1)[-1].replace("_", " ")))


def _email_body(full_name: str) -> bytes:
    return f"Dear {{!Contact.FirstName}},\n\nWelcome aboard ({full_name}).\n".encode()


def _email_meta(full_name: str) -> bytes:
    return _doc("EmailTemplate", _el("available", True) + _el("encodingKey", "UTF-8")
                + _el("name", full_name.rsplit("/", 1)[-1]) + _el("style", "none")
                + _el("subject", "Welcome") + _el("type", "text"))


def _labels(count: int) -> bytes:
    return _doc("CustomLabels", "".join(
        "    <labels>\n" + _el("fullName", f"Label_{i:04d}", 8) + _el("language", "en_US", 8)
        + _el("protected", False, 8) + _el("shortDescription", f"Label {i}", 8)
        + _el("value", f"Text of label {i}", 8) + "    </labels>\n" for i in range(count)))


def _folder_meta(folder_type: str, name: str) -> bytes:
    return _doc(folder_type, _el("name", name.replace("_", " ")) + _el("accessType", "Public")
                + _el("publicFolderAccess", "ReadWrite"))


def _document_meta(full_name: str) -> bytes:
    return _doc("Document", _el("internalUseOnly", False) + _el("name", full_name.rsplit("/", 1)[-1])
                + _el("public", False))


def _filler(seed_text: str, size: int) -> bytes:
    """`size` bytes that compress poorly (document bodies), deterministic for `seed_text`."""
    out = bytearray()
    block = seed_text.encode()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


def hash_index(text: str, n: int) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % max(n, 1)

