"""The client's model of an sObject describe: which fields exist, their Salesforce types, and which
of them a Bulk query can return.

`ObjectSchema.from_describe()` takes the JSON of `GET /sobjects/<Name>/describe` as Salesforce sends
it. Exclusions carry their reason so the manifest and report can say why a field is not in a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Compound types: their component fields (compoundFieldName == the compound) hold the same data.
COMPOUND_TYPES: frozenset[str] = frozenset({"address", "location"})


@dataclass(frozen=True)
class FieldSpec:
    """One field of an sObject, as its describe states it."""

    name: str
    type: str
    soap_type: str = "xsd:string"
    label: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    digits: int = 0
    nillable: bool = True
    custom: bool = False
    calculated: bool = False
    compound_field_name: str | None = None
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None

    @classmethod
    def from_describe(cls, raw: dict[str, Any]) -> FieldSpec:
        """Build from one entry of a describe's `fields` list."""
        return cls(
            name=str(raw["name"]),
            type=str(raw["type"]),
            soap_type=str(raw.get("soapType") or "xsd:string"),
            label=str(raw.get("label") or ""),
            length=int(raw.get("length") or 0),
            precision=int(raw.get("precision") or 0),
            scale=int(raw.get("scale") or 0),
            digits=int(raw.get("digits") or 0),
            nillable=bool(raw.get("nillable", True)),
            custom=bool(raw.get("custom", False)),
            calculated=bool(raw.get("calculated", False)),
            compound_field_name=raw.get("compoundFieldName"),
            reference_to=tuple(raw.get("referenceTo") or ()),
            relationship_name=raw.get("relationshipName"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored in `schema/<Object>.json` beside the raw describe."""
        return {
            "name": self.name,
            "type": self.type,
            "soapType": self.soap_type,
            "label": self.label,
            "length": self.length,
            "precision": self.precision,
            "scale": self.scale,
            "digits": self.digits,
            "nillable": self.nillable,
            "custom": self.custom,
            "calculated": self.calculated,
            "compoundFieldName": self.compound_field_name,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
        }


@dataclass(frozen=True)
class ExcludedField:
    """A field left out of the export, and why."""

    name: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.name, "reason": self.reason}


@dataclass(frozen=True)
class ObjectSchema:
    """An sObject's describe, reduced to what the export needs."""

    name: str
    fields: tuple[FieldSpec, ...]
    queryable: bool = True
    retrieveable: bool = True
    custom: bool = False
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_describe(cls, raw: dict[str, Any]) -> ObjectSchema:
        """Build from the JSON body of `GET /sobjects/<Name>/describe`."""
        return cls(
            name=str(raw["name"]),
            fields=tuple(FieldSpec.from_describe(f) for f in raw.get("fields", [])),
            queryable=bool(raw.get("queryable", True)),
            retrieveable=bool(raw.get("retrieveable", True)),
            custom=bool(raw.get("custom", False)),
            raw=raw,
        )

    def field(self, name: str) -> FieldSpec:
        """The field called `name` (case-insensitive, as SOQL is); KeyError if absent."""
        lowered = name.lower()
        for spec in self.fields:
            if spec.name.lower() == lowered:
                return spec
        raise KeyError(f"{self.name} has no field {name!r}")

    def has_field(self, name: str) -> bool:
        lowered = name.lower()
        return any(spec.name.lower() == lowered for spec in self.fields)

    def exportable_fields(self, *, for_bulk: bool) -> tuple[list[FieldSpec], list[ExcludedField]]:
        """Fields to select and fields to leave out, with the reason for each exclusion.

        Compound address/location fields are always left out (their components carry the same
        values and are kept); base64 fields are left out of every query because their bodies are
        exported as blobs (REST would only return a URL, Bulk refuses them).
        """
        kept: list[FieldSpec] = []
        excluded: list[ExcludedField] = []
        for spec in self.fields:
            if spec.type in COMPOUND_TYPES:
                excluded.append(
                    ExcludedField(
                        spec.name,
                        f"compound {spec.type} field; its components are exported as separate columns",
                    )
                )
            elif spec.type == "base64":
                excluded.append(
                    ExcludedField(
                        spec.name,
                        "base64 body; exported as a blob (files/ index and blobs/ store) when the "
                        "object is a file object, otherwise not exportable through a query",
                    )
                )
            else:
                kept.append(spec)
        del for_bulk  # the same rule holds for both APIs, see the docstring
        return kept, excluded
