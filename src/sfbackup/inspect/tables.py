"""An object's rows as a person means them: live records by default (`IsDeleted` false), the
deleted ones too on request; one part in memory at a time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from sfbackup.errors import UsageError
from sfbackup.repository import Snapshot


def iter_rows(snapshot: Snapshot, object_name: str, *, include_deleted: bool = False) -> Iterator[pa.Table]:
    """Each part of `object_name` as a typed table, without deleted rows unless `include_deleted`."""
    for table in snapshot.iter_tables(object_name):
        if not include_deleted and "IsDeleted" in table.column_names:
            table = table.filter(pc.invert(pc.fill_null(table.column("IsDeleted"), False)))
        if table.num_rows:
            yield table


def select_objects(snapshot: Snapshot, names: Sequence[str] | None) -> list[str]:
    """`names` checked against the snapshot (None or ["all"]: every object it holds, sorted)."""
    held = snapshot.objects()
    if not names or list(names) == ["all"]:
        return held
    by_lower = {n.lower(): n for n in held}
    chosen = []
    for name in names:
        found = by_lower.get(name.strip().lower())
        if found is None:
            raise UsageError(
                f"snapshot {snapshot.id} has no object {name!r}",
                hint=f"objects in it: {', '.join(held) or 'none'} (`sfbackup ls` lists them)",
            )
        chosen.append(found)
    return chosen
