"""The data dictionary of a snapshot: every backed-up object and field as a person choosing the next
system needs them, from the describes the snapshot stored and its metadata. Written as a
self-contained `dictionary.html` (inline CSS) and a `dictionary.xlsx` (openpyxl) beside the report.

Per object: label, API name, custom or standard, the records the snapshot holds (and how many of
them are deleted), its validation rules and record types (from the CustomObject metadata). Per
field: label, API name, type with length or precision/scale, required, unique / external id,
help text, picklist values, formula, relationship (the objects a lookup points to and its name),
default value. Help text and formulas the describe leaves empty come from the metadata.
"""

from __future__ import annotations

import html
import io
import json
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

import pyarrow.parquet as pq

from sfbackup.clock import format_time
from sfbackup.errors import RepositoryError
from sfbackup.repository import Snapshot
from sfbackup.verify.checker import blob_relpath

__all__ = ["DICTIONARY_FILES", "Dictionary", "FieldRow", "ObjectRow", "build_dictionary", "write_dictionary"]

DICTIONARY_FILES = ("dictionary.html", "dictionary.xlsx")
_MD = "{http://soap.sforce.com/2006/04/metadata}"
#: Describe types as Setup names them.
_TYPE_NAMES = {
    "string": "Text", "textarea": "Text Area", "picklist": "Picklist",
    "multipicklist": "Picklist (Multi-Select)", "combobox": "Combobox", "email": "Email", "phone": "Phone",
    "url": "URL", "boolean": "Checkbox",
    "int": "Number", "long": "Number", "double": "Number", "currency": "Currency", "percent": "Percent",
    "date": "Date", "datetime": "Date/Time", "time": "Time", "reference": "Lookup", "id": "Id",
    "encryptedstring": "Text (Encrypted)", "address": "Address", "location": "Geolocation",
    "base64": "File body", "anyType": "Any",
}  # fmt: skip
_NUMBERS = ("double", "currency", "percent", "int", "long")


@dataclass
class FieldRow:
    """One field as the dictionary shows it."""

    label: str
    api_name: str
    type: str  # Salesforce's describe type (`currency`)
    display_type: str  # as Setup shows it (`Currency(16, 2)`)
    length: int | None
    precision: int | None
    scale: int | None
    required: bool
    unique: bool
    external_id: bool
    custom: bool
    help_text: str
    picklist_values: list[str]
    formula: str
    relationship: str  # `Account (Account__r)`
    default_value: str


@dataclass
class ObjectRow:
    """One object as the dictionary shows it."""

    api_name: str
    label: str
    custom: bool
    records: int
    deleted_records: int
    fields: list[FieldRow] = field(default_factory=list)
    validation_rules: list[dict[str, str]] = field(default_factory=list)  # name, formula, message
    record_types: list[dict[str, str]] = field(default_factory=list)  # name, label


@dataclass
class Dictionary:
    snapshot_id: str
    t0: str
    org: dict[str, Any]
    objects: list[ObjectRow]
    metadata_included: bool

    def to_json(self) -> dict[str, Any]:
        return {"snapshot_id": self.snapshot_id, "t0": self.t0, "org": self.org,
                "metadata_included": self.metadata_included,
                "objects": [_object_dict(o) for o in self.objects]}  # fmt: skip


def build_dictionary(snapshot: Snapshot) -> Dictionary:
    """The dictionary of `snapshot` (RepositoryError when a stored describe cannot be read)."""
    manifest = snapshot.manifest
    files = snapshot.repository.files
    base = f"snapshots/{manifest.snapshot_id}/"
    definitions = _object_definitions(snapshot)
    objects: list[ObjectRow] = []
    for name, entry in sorted(manifest.objects.items()):
        if not entry.schema_path:
            continue
        try:
            with files.open(base + entry.schema_path) as handle:
                describe = json.load(handle).get("describe") or {}
        except (OSError, ValueError) as exc:
            raise RepositoryError(f"the describe of {name} ({entry.schema_path}) cannot be read: {exc}",
                                  hint="run `sfbackup verify --read-data` to see what is damaged") from None
        definition = definitions.get(name)
        row = ObjectRow(api_name=name, label=str(describe.get("label") or name),
                        custom=bool(describe.get("custom")), records=entry.rows,
                        deleted_records=entry.deleted_rows)  # fmt: skip
        meta_fields = _metadata_fields(definition)
        row.fields = [_field_row(f, meta_fields.get(str(f.get("name")), {}))
                      for f in describe.get("fields") or []]
        if definition is not None:
            row.validation_rules = [
                {"name": _text(v, "fullName"), "active": _text(v, "active"),
                 "formula": _text(v, "errorConditionFormula"), "message": _text(v, "errorMessage")}
                for v in definition.findall(f"{_MD}validationRules")
            ]  # fmt: skip
            row.record_types = [{"name": _text(r, "fullName"), "label": _text(r, "label")}
                                for r in definition.findall(f"{_MD}recordTypes")]  # fmt: skip
        objects.append(row)
    return Dictionary(manifest.snapshot_id, format_time(manifest.t0), dict(manifest.org), objects,
                      metadata_included=manifest.metadata is not None)  # fmt: skip


def write_dictionary(snapshot: Snapshot, dictionary: Dictionary | None = None) -> list[str]:
    """Store dictionary.html and dictionary.xlsx beside the manifest; their keys."""
    dictionary = dictionary or build_dictionary(snapshot)
    store = snapshot.repository.store
    keys = []
    documents = (("dictionary.html", render_html(dictionary)), ("dictionary.xlsx", render_xlsx(dictionary)))
    for name, body in documents:
        key = snapshot.key(name)
        store.put_stream(key, [body])
        keys.append(key)
    return keys


# -- reading ---------------------------------------------------------------------------------------

def _object_definitions(snapshot: Snapshot) -> dict[str, ET.Element]:
    """CustomObject metadata by object name (nothing when the snapshot has no metadata)."""
    entry = snapshot.manifest.metadata
    if entry is None or not entry.index_path:
        return {}
    files = snapshot.repository.files
    with files.local_copy(f"snapshots/{snapshot.id}/{entry.index_path}") as local:
        rows = pq.read_table(local, columns=["type", "full_name", "sha256", "status"]).to_pylist()
    found: dict[str, ET.Element] = {}
    for row in rows:
        if row["type"] != "CustomObject" or row["status"] != "retrieved" or not row["sha256"]:
            continue
        try:
            with files.open(blob_relpath(row["sha256"])) as handle:
                found[str(row["full_name"])] = ET.fromstring(handle.read())
        except (OSError, ET.ParseError):
            continue  # a missing or damaged file is verify's finding; the describe still serves
    return found


def _metadata_fields(definition: ET.Element | None) -> dict[str, dict[str, str]]:
    if definition is None:
        return {}
    return {_text(f, "fullName"): {"help": _text(f, "inlineHelpText"), "formula": _text(f, "formula"),
                                   "description": _text(f, "description")}
            for f in definition.findall(f"{_MD}fields")}  # fmt: skip


def _text(node: ET.Element, name: str) -> str:
    return (node.findtext(f"{_MD}{name}") or "").strip()


def _field_row(f: dict[str, Any], meta: dict[str, str]) -> FieldRow:
    t = str(f.get("type") or "")
    length = int(f.get("length") or 0) or None
    precision = int(f.get("precision") or 0) or None
    if t in ("int", "long") and not precision:  # integers describe their size in digits
        precision = int(f.get("digits") or 0) or None
    scale = int(f.get("scale") or 0) if precision else None
    shown = _TYPE_NAMES.get(t, t)
    if f.get("calculated"):
        shown = f"Formula ({shown})"
    if t in ("string", "textarea", "encryptedstring", "email", "phone", "url") and length:
        shown += f"({length})"
    elif t in _NUMBERS and precision:
        shown += f"({precision - (scale or 0)}, {scale or 0})"
    references = [str(r) for r in f.get("referenceTo") or []]
    if t == "reference" and f.get("relationshipName"):
        shown = f"Lookup({', '.join(references)})"
    relationship = ""
    if references:
        named = f" ({f['relationshipName']})" if f.get("relationshipName") else ""
        relationship = ", ".join(references) + named
    nillable = bool(f.get("nillable", True))
    # What a user must fill in: not nillable, set on create, no default (a checkbox is never empty).
    required = not nillable and bool(f.get("createable")) and not f.get("defaultedOnCreate")
    required = required and t != "boolean"
    values = [str(p.get("value")) for p in f.get("picklistValues") or [] if p.get("active", True)]
    default = f.get("defaultValue")
    return FieldRow(
        label=str(f.get("label") or f.get("name") or ""), api_name=str(f.get("name") or ""), type=t,
        display_type=shown, length=length if t not in _NUMBERS else None,
        precision=precision, scale=scale, required=required, unique=bool(f.get("unique")),
        external_id=bool(f.get("externalId")), custom=bool(f.get("custom")),
        help_text=str(f.get("inlineHelpText") or meta.get("help") or meta.get("description") or ""),
        picklist_values=values,
        formula=str(f.get("calculatedFormula") or meta.get("formula") or ""),
        relationship=relationship, default_value="" if default is None else str(default),
    )  # fmt: skip


def _object_dict(o: ObjectRow) -> dict[str, Any]:
    return {"api_name": o.api_name, "label": o.label, "custom": o.custom, "records": o.records,
            "deleted_records": o.deleted_records, "validation_rules": o.validation_rules,
            "record_types": o.record_types, "fields": [vars(f) for f in o.fields]}  # fmt: skip


# -- rendering ---------------------------------------------------------------------------------------

FIELD_COLUMNS = ("Object", "Field label", "API name", "Type", "Length", "Precision", "Scale", "Required",
                 "Unique", "External id", "Help text", "Picklist values", "Formula", "Relationship",
                 "Default")  # fmt: skip


def field_cells(o: ObjectRow, f: FieldRow) -> list[Any]:
    """One Fields-sheet row (the HTML shows the same values)."""
    flags = ["yes" if flag else "" for flag in (f.required, f.unique, f.external_id)]
    return [o.api_name, f.label, f.api_name, f.display_type, f.length, f.precision, f.scale, *flags,
            f.help_text, "; ".join(f.picklist_values), f.formula, f.relationship, f.default_value]


def render_xlsx(d: Dictionary) -> bytes:
    """The workbook: Objects, Fields, Validation rules and Record types sheets, headers frozen and
    filterable."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheets: list[tuple[str, tuple[str, ...], list[list[Any]]]] = [
        ("Objects", ("API name", "Label", "Custom", "Records", "Deleted records", "Fields",
                     "Validation rules", "Record types"),
         [[o.api_name, o.label, "yes" if o.custom else "", o.records, o.deleted_records, len(o.fields),
           len(o.validation_rules), len(o.record_types)] for o in d.objects]),
        ("Fields", FIELD_COLUMNS, [field_cells(o, f) for o in d.objects for f in o.fields]),
        ("Validation rules", ("Object", "Rule", "Active", "Error condition formula", "Error message"),
         [[o.api_name, v["name"], v["active"], v["formula"], v["message"]] for o in d.objects
          for v in o.validation_rules]),
        ("Record types", ("Object", "Record type", "Label"),
         [[o.api_name, r["name"], r["label"]] for o in d.objects for r in o.record_types]),
    ]  # fmt: skip
    first = True
    for title, header, rows in sheets:
        sheet = book.active if first else book.create_sheet()
        first = False
        sheet.title = title
        sheet.append(list(header))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append([_cell(v) for v in row])
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = sheet.dimensions
        for index, name in enumerate(header, start=1):
            width = max([len(name)] + [len(str(r[index - 1] or "")) for r in rows[:500]])
            sheet.column_dimensions[sheet.cell(1, index).column_letter].width = min(max(width + 2, 8), 60)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: Any) -> Any:
    # Excel reads a cell starting with = + - @ as a formula: org text (help, formulas) must stay text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1b1b1b}h1{font-size:1.5em}
h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ddd;padding:3px 6px;vertical-align:top;text-align:left}th{background:#f3f3f3}
td.n{text-align:right}code{font-size:.95em}.muted{color:#666}nav{columns:3}"""


def render_html(d: Dictionary) -> bytes:
    h = html.escape
    org = d.org
    org_name = h(str(org.get("org_name") or org.get("org_id") or ""))
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Data dictionary "
             f"{h(d.snapshot_id)}</title><style>{_CSS}</style></head><body><h1>Data dictionary</h1>",
             f"<p>{org_name}, snapshot <code>{h(d.snapshot_id)}</code>"
             f", T0 {h(d.t0)}: {len(d.objects)} objects, {sum(len(o.fields) for o in d.objects):,} fields."
             + ("" if d.metadata_included else " <span class=muted>(the snapshot has no metadata: validation "
                "rules and record types are not shown)</span>") + "</p>",
             "<nav>" + "".join(f'<div><a href="#{h(o.api_name)}">{h(o.label)}</a> <span class=muted>'
                               f"{o.records:,}</span></div>" for o in d.objects) + "</nav>"]  # fmt: skip
    for o in d.objects:
        parts.append(f'<h2 id="{h(o.api_name)}">{h(o.label)} <code>{h(o.api_name)}</code></h2>')
        parts.append(f"<p>{'Custom' if o.custom else 'Standard'} object, {o.records:,} records in the backup"
                     + (f" ({o.deleted_records:,} deleted)" if o.deleted_records else "") + ".</p>")
        header = "".join(f"<th>{h(c)}</th>" for c in FIELD_COLUMNS[1:])
        rows = "".join(
            "<tr>" + "".join(_td(v) for v in field_cells(o, f)[1:]) + "</tr>" for f in o.fields
        )
        parts.append(f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>")
        if o.validation_rules:
            rules = "".join(f"<tr>{_td(v['name'])}{_td(v['active'])}<td><code>{h(v['formula'])}</code></td>"
                            f"{_td(v['message'])}</tr>" for v in o.validation_rules)  # fmt: skip
            parts.append("<p><b>Validation rules</b></p><table><tr><th>Rule</th><th>Active</th>"
                         f"<th>Error condition</th><th>Message</th></tr>{rules}</table>")
        if o.record_types:
            parts.append("<p><b>Record types:</b> " + ", ".join(
                f"{h(r['label'])} (<code>{h(r['name'])}</code>)" for r in o.record_types) + "</p>")
    parts.append("</body></html>")
    return "".join(parts).encode()


def _td(value: Any) -> str:
    if isinstance(value, int):
        return f"<td class=n>{value}</td>"
    return f"<td>{html.escape('' if value is None else str(value))}</td>"
