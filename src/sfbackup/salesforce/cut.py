"""A snapshot's cut: which of an object's records belong to it.

Records whose `field` (CreatedDate, else SystemModstamp) is at or before `t0`, the org's clock at
the start of the run, belong to the snapshot; later ones to the next. The export and the
verifier's COUNT() both build their WHERE from the same `Cut`, and the manifest keeps it as a
structure (`{"field": ..., "t0": ...}`), so nothing compares SOQL text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sfbackup.clock import format_time, parse_time
from sfbackup.salesforce.soql import datetime_literal, validate_identifier

#: Fields tried, in order, for the cut.
CUT_FIELDS: tuple[str, ...] = ("CreatedDate", "SystemModstamp")


@dataclass(frozen=True)
class Cut:
    """Records with `field <= t0` belong to the snapshot; `field` None: the object has neither
    field, so every record it holds belongs."""

    field: str | None
    t0: datetime

    def __post_init__(self) -> None:
        if self.t0.tzinfo is None:
            raise ValueError("a cut's t0 must be timezone-aware (the org's clock, in UTC)")
        if self.field is not None:
            validate_identifier(self.field, what="cut field")

    def condition(self) -> str | None:
        """The SOQL condition (`CreatedDate <= 2026-11-27T02:00:00Z`), or None without a field."""
        return None if self.field is None else f"{self.field} <= {datetime_literal(self.t0)}"

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "t0": format_time(self.t0)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cut:
        """Inverse of `to_dict`; ValueError (or KeyError/TypeError) on a bad shape."""
        field = data["field"]
        if field is not None and not isinstance(field, str):
            raise ValueError(f"cut field {field!r} is not a string")
        return cls(field, parse_time(str(data["t0"])))


def cut_for(field_names: set[str] | frozenset[str], t0: datetime) -> Cut:
    """The cut for an object with these fields (case-insensitive names): CreatedDate, else
    SystemModstamp, else none."""
    lowered = {name.lower(): name for name in field_names}
    for name in CUT_FIELDS:
        if name.lower() in lowered:
            return Cut(lowered[name.lower()], t0)
    return Cut(None, t0)

