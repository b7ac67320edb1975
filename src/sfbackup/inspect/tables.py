"""An object's rows as a person means them: live records by default (`IsDeleted` false), the
deleted ones too on request; a few thousand rows in memory at a time (Parquet parts are read
batch by batch, not whole)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sfbackup.errors import RepositoryError, SnapshotNotFound, UsageError
from sfbackup.repository import Snapshot
from sfbackup.repository.store import local_copy

#: Rows read from a part at a time.
BATCH_ROWS = 10_000


def iter_rows(
    snapshot: Snapshot,
    object_name: str,
    *,
    include_deleted: bool = False,
    columns: Sequence[str] | None = None,
) -> Iterator[pa.Table]:
    """`object_name`'s rows in batches of at most BATCH_ROWS, typed, without deleted rows unless
    `include_deleted`; only `columns` when given."""
    entry = snapshot.manifest.objects.get(object_name)
    if entry is None:
        raise SnapshotNotFound(f"snapshot {snapshot.id} has no object {object_name}")
    wanted = list(columns) if columns is not None else None
    if wanted is not None and not include_deleted and "IsDeleted" not in wanted:
        wanted.append("IsDeleted")
    for table in _batches(snapshot, object_name, entry.format, [p.path for p in entry.parts], wanted):
        if not include_deleted and "IsDeleted" in table.column_names:
            table = table.filter(pc.invert(pc.fill_null(table.column("IsDeleted"), False)))
        if table.num_rows:
            yield table


def _batches(
    snapshot: Snapshot, object_name: str, fmt: str, parts: list[str], columns: list[str] | None
) -> Iterator[pa.Table]:
    if fmt != "parquet":  # CSV parts are typed by the saved schema, one part at a time
        for table in snapshot.iter_tables(object_name):
            if columns is not None:
                table = table.select([c for c in columns if c in table.column_names])
            yield from (pa.Table.from_batches([b]) for b in table.to_batches(max_chunksize=BATCH_ROWS))
        return
    store = snapshot.repository.store
    for relpath in parts:
        key = snapshot.key(relpath)
        try:
            with local_copy(store, key) as path:
                reader = pq.ParquetFile(path)
                present = reader.schema_arrow.names
                chosen = None if columns is None else [c for c in columns if c in present]
                for batch in reader.iter_batches(batch_size=BATCH_ROWS, columns=chosen):
                    yield pa.Table.from_batches([batch])
        except FileNotFoundError:
            raise RepositoryError(
                f"part {relpath} of {object_name} is missing from snapshot {snapshot.id}",
                hint=f"`sfbackup verify --repo {snapshot.repository.location}` lists every problem",
                path=store.describe(key),
            ) from None
        except (pa.ArrowInvalid, OSError) as exc:
            where = store.describe(key)
            raise RepositoryError(f"cannot read {where}: {exc}", path=where) from exc


def readable_objects(snapshot: Snapshot) -> list[str]:
    """The objects whose rows can be read: those with a saved schema (an object that failed before
    its first part has none), sorted."""
    return sorted(n for n, e in snapshot.manifest.objects.items() if e.schema_path)


def select_objects(snapshot: Snapshot, names: Sequence[str] | None) -> list[str]:
    """`names` checked against the snapshot (None or ["all"]: every readable object, sorted)."""
    held = readable_objects(snapshot)
    if not names or list(names) == ["all"]:
        return held
    by_lower = {n.lower(): n for n in held}
    chosen = []
    for name in names:
        found = by_lower.get(name.strip().lower())
        listed = {n.lower(): e for n, e in snapshot.manifest.objects.items()}
        entry = listed.get(name.strip().lower())
        if found is None and entry is not None:
            reason = entry.error.message if entry.error else f"state {entry.state}"
            raise UsageError(
                f"{name} in snapshot {snapshot.id} holds no rows to read ({reason})",
                hint="`sfbackup show` lists each object's state and error",
            )
        if found is None:
            raise UsageError(
                f"snapshot {snapshot.id} has no object {name!r}",
                hint=f"objects in it: {', '.join(held) or 'none'} (`sfbackup ls` lists them)",
            )
        chosen.append(found)
    return chosen
