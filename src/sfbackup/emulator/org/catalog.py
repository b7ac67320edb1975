"""The emulated org's objects and fields, and their describe JSON shaped like real Salesforce's.

`build_catalog()` assembles the org: the objects of `catalog_objects` (standard, file, custom and
restricted objects) plus, when asked, `catalog_extra`'s larger generated catalog, and links each
lookup to its parent's child relationships; `shape="enterprise"` adds `shape_enterprise`'s objects
(replacing generated ones of the same name) and `shape_rows()` names what generates their rows.
The model and describe builders live in `catalog_model`; this module re-exports their public
names, so import from here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sfbackup.emulator.org.catalog_extra import generated_objects
from sfbackup.emulator.org.catalog_model import (
    ADDRESS_PARTS,
    CASCADE_DELETE,
    NUMBER_TYPES,
    SOAP_TYPES,
    TEXT_TYPES,
    VIRTUAL_TYPES,
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
from sfbackup.emulator.org.catalog_objects import (
    CHILD_NAMES,
    INDUSTRIES,
    LEAD_SOURCES,
    PARENTS,
    STAGES,
    custom_objects,
    file_objects,
    restricted_objects,
    standard_objects,
)

__all__ = [
    "ADDRESS_PARTS",
    "CASCADE_DELETE",
    "INDUSTRIES",
    "LEAD_SOURCES",
    "NUMBER_TYPES",
    "PARENTS",
    "SOAP_TYPES",
    "STAGES",
    "TEXT_TYPES",
    "VIRTUAL_TYPES",
    "FieldDef",
    "ObjectDef",
    "QueryRule",
    "build_catalog",
    "f_address",
    "f_area",
    "f_bool",
    "f_id",
    "f_num",
    "f_pick",
    "f_plain",
    "f_ref",
    "f_text",
    "shape_rows",
    "system_head",
    "system_tail",
]


def build_catalog(
    extra_objects: int = 0, *, seed: int = 1, shape: str = "default", operation_too_large: bool = False
) -> dict[str, ObjectDef]:
    """Every object of the emulated org, keyed by lower-case name; `extra_objects` adds that many
    generated objects plus the companions and query-restricted objects a real org lists, `shape`
    "enterprise" a real enterprise org's (`operation_too_large`: Task/Event refuse plain queries)."""
    objects = [*standard_objects(), *file_objects(), *custom_objects(), *restricted_objects()]
    if extra_objects:
        objects += generated_objects(extra_objects, seed)
    if shape == "enterprise":
        from sfbackup.emulator.org import shape_enterprise

        objects = shape_enterprise.objects(objects, seed=seed, operation_too_large=operation_too_large)
    elif shape != "default":
        raise ValueError(f"unknown org shape {shape!r}; use default or enterprise")
    by_name = {o.name: o for o in objects}
    for child in objects:
        for fd in child.fields:
            for target in fd.reference_to:
                if target in by_name and fd.name not in ("CreatedById", "LastModifiedById"):
                    by_name[target].child_relationships.append(
                        (child.name, fd.name, CHILD_NAMES.get((child.name, fd.name)))
                    )
    return {o.name.lower(): o for o in sorted(objects, key=lambda o: o.name)}


def internal_entities(shape: str) -> int:
    """How many undescribed internal entities the shape's EntityDefinition lists."""
    if shape != "enterprise":
        return 0
    from sfbackup.emulator.org import shape_enterprise

    return shape_enterprise.INTERNAL_ENTITIES


def shape_rows(shape: str) -> Callable[[Any], None] | None:
    """What fills a shape's own objects once the generic data is generated (None: nothing)."""
    if shape != "enterprise":
        return None
    from sfbackup.emulator.org import shape_enterprise

    return shape_enterprise.populate
