"""The all-types case: one describe with every field type, one row per type as REST JSON and as Bulk
API 2.0 CSV, and the Arrow values both must become (cf. dlt's tests/cases.py).

Shapes follow real Salesforce: REST datetimes `2024-11-07T07:00:00.000+0000`, Bulk CSV datetimes
`2024-11-07T07:00:00.000Z`, every CSV cell quoted, null as an empty cell, times `13:30:00.000Z`.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sfbackup.salesforce.schema import FieldSpec, ObjectSchema

OBJECT_NAME = "AllTypes__c"
RECORD_ID = "a01000000000001AAA"
NULL_RECORD_ID = "a01000000000002AAA"


def _field(name: str, sf_type: str, soap: str = "xsd:string", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": sf_type,
        "soapType": soap,
        "label": name,
        "length": extra.pop("length", 0),
        "precision": extra.pop("precision", 0),
        "scale": extra.pop("scale", 0),
        "digits": extra.pop("digits", 0),
        "nillable": extra.pop("nillable", True),
        "custom": name.endswith("__c"),
        "calculated": False,
        "compoundFieldName": extra.pop("compoundFieldName", None),
        "referenceTo": extra.pop("referenceTo", []),
        "relationshipName": extra.pop("relationshipName", None),
        **extra,
    }


#: Every describe `type`, each in one field (compound and base64 ones are not exported).
ALL_TYPES_DESCRIBE: dict[str, Any] = {
    "name": OBJECT_NAME,
    "label": "All Types",
    "custom": True,
    "queryable": True,
    "retrieveable": True,
    "fields": [
        _field("Id", "id", "tns:ID", length=18, nillable=False),
        _field("Name", "string", length=80),
        _field("Notes__c", "textarea", length=32000),
        _field("Stage__c", "picklist", length=40),
        _field("Tags__c", "multipicklist", length=4099),
        _field("Email__c", "email", length=80),
        _field("Phone__c", "phone", length=40),
        _field("Website__c", "url", length=255),
        _field("Combo__c", "combobox", length=40),
        _field("Secret__c", "encryptedstring", length=175),
        _field("Any__c", "anyType", "xsd:anyType"),
        _field("DataCategory__c", "datacategorygroupreference", length=40),
        _field("Complex__c", "complexvalue", "xsd:anyType"),
        _field("Json__c", "json", "tns:json"),
        _field("OwnerId", "reference", "tns:ID", length=18, referenceTo=["User"], relationshipName="Owner"),
        _field("IsActive__c", "boolean", "xsd:boolean", nillable=False),
        _field("Count__c", "int", "xsd:int", digits=9),
        _field("BigCount__c", "long", "xsd:long", digits=18),
        _field("Ratio__c", "double", "xsd:double"),
        _field("Latitude__c", "double", "xsd:double", precision=18, scale=15),
        _field("Share__c", "percent", "xsd:double", precision=5, scale=2),
        _field("Amount__c", "currency", "xsd:double", precision=18, scale=2),
        _field("Day__c", "date", "xsd:date"),
        _field("When__c", "datetime", "xsd:dateTime"),
        _field("At__c", "time", "xsd:time"),
        _field("Place__c", "location", "urn:location"),
        _field("Mailing__c", "address", "urn:address"),
        _field("Body__c", "base64", "xsd:base64Binary"),
    ],
}

ALL_TYPES = ObjectSchema.from_describe(ALL_TYPES_DESCRIBE)
EXPORTED_FIELDS: list[FieldSpec]
EXCLUDED_FIELD_NAMES: list[str]
EXPORTED_FIELDS, _excluded = ALL_TYPES.exportable_fields(for_bulk=True)
EXCLUDED_FIELD_NAMES = [e.name for e in _excluded]

#: describe type -> the Arrow type string each field must get.
EXPECTED_ARROW_TYPES: dict[str, str] = {
    "Id": "string",
    "Name": "string",
    "Notes__c": "string",
    "Stage__c": "string",
    "Tags__c": "string",
    "Email__c": "string",
    "Phone__c": "string",
    "Website__c": "string",
    "Combo__c": "string",
    "Secret__c": "string",
    "Any__c": "string",
    "DataCategory__c": "string",
    "Complex__c": "string",
    "Json__c": "string",
    "OwnerId": "string",
    "IsActive__c": "bool",
    "Count__c": "int64",
    "BigCount__c": "int64",
    "Ratio__c": "double",
    "Latitude__c": "decimal128(18, 15)",
    "Share__c": "decimal128(5, 2)",
    "Amount__c": "decimal128(18, 2)",
    "Day__c": "date32[day]",
    "When__c": "timestamp[ms, tz=UTC]",
    "At__c": "time32[ms]",
}

#: One row with a value of every type, as REST JSON sends it (before `attributes` is added).
REST_VALUES: dict[str, Any] = {
    "Id": RECORD_ID,
    "Name": 'Acme, "Quoted" & Co',
    "Notes__c": "line one\nline two\r\nline three, with a comma",
    "Stage__c": "Closed Won",
    "Tags__c": "Red;Green;Blue",
    "Email__c": "ops@example.com",
    "Phone__c": "+1 (555) 010-0000",
    "Website__c": "https://example.com/a?b=c",
    "Combo__c": "Other",
    "Secret__c": "****1234",
    "Any__c": "42",
    "DataCategory__c": "Products",
    "Complex__c": '{"k":"v"}',
    "Json__c": {"a": 1, "b": [True, None]},
    "OwnerId": "005000000000001AAA",
    "IsActive__c": True,
    "Count__c": 2147483647,
    "BigCount__c": 9007199254740993,
    "Ratio__c": 0.1,
    "Latitude__c": 37.774929,
    "Share__c": 12.5,
    "Amount__c": 1234567.89,
    "Day__c": "2024-02-29",
    "When__c": "2024-11-07T07:00:00.000+0000",
    "At__c": "13:30:00.000Z",
}

#: The same row as its Bulk API 2.0 CSV cells.
CSV_VALUES: dict[str, str] = {
    **{k: v for k, v in REST_VALUES.items() if isinstance(v, str)},
    "Json__c": '{"a":1,"b":[true,null]}',
    "IsActive__c": "true",
    "Count__c": "2147483647",
    "BigCount__c": "9007199254740993",
    "Ratio__c": "0.1",
    "Latitude__c": "37.774929",
    "Share__c": "12.5",
    "Amount__c": "1234567.89",
    "When__c": "2024-11-07T07:00:00.000Z",
}

#: What both must become in Arrow (`.to_pylist()` values).
EXPECTED_VALUES: dict[str, Any] = {
    **{k: v for k, v in REST_VALUES.items() if isinstance(v, str)},
    "Json__c": '{"a":1,"b":[true,null]}',
    "IsActive__c": True,
    "Count__c": 2147483647,
    "BigCount__c": 9007199254740993,
    "Ratio__c": 0.1,
    "Latitude__c": Decimal("37.774929000000000"),
    "Share__c": Decimal("12.50"),
    "Amount__c": Decimal("1234567.89"),
    "Day__c": date(2024, 2, 29),
    "When__c": datetime(2024, 11, 7, 7, 0, tzinfo=UTC),
    "At__c": time(13, 30),
}

#: A second row: every nillable field null (IsActive__c is not nillable in Salesforce).
NULL_REST_VALUES: dict[str, Any] = {
    **{spec.name: None for spec in EXPORTED_FIELDS},
    "Id": NULL_RECORD_ID,
    "IsActive__c": False,
}
NULL_EXPECTED_VALUES: dict[str, Any] = dict(NULL_REST_VALUES)


def rest_record(values: dict[str, Any]) -> dict[str, Any]:
    """A REST query record: `attributes` first, then the fields in SELECT order."""
    return {
        "attributes": {
            "type": OBJECT_NAME,
            "url": f"/services/data/v62.0/sobjects/{OBJECT_NAME}/{values['Id']}",
        },
        **{spec.name: values.get(spec.name) for spec in EXPORTED_FIELDS},
    }


def bulk_csv(
    rows: list[dict[str, Any]], *, fields: list[FieldSpec] | None = None, line_ending: str = "\n"
) -> bytes:
    """A Bulk API 2.0 result page: header, then every value quoted; None becomes an empty cell."""
    names = [spec.name for spec in (fields or EXPORTED_FIELDS)]
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator=line_ending)
    writer.writerow(names)
    for row in rows:
        writer.writerow(["" if row.get(name) is None else row[name] for name in names])
    return out.getvalue().encode("utf-8")


def null_csv_values() -> dict[str, str | None]:
    def cell(value: Any) -> str | None:
        if isinstance(value, bool):
            return "true" if value else "false"
        return None if value is None else str(value)

    return {name: cell(value) for name, value in NULL_REST_VALUES.items()}
