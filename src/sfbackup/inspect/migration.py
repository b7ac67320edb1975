"""A migration pack (`sfbackup export --to migration-pack`): a snapshot in the layout of
Salesforce's own Data Export (Setup > Data Export), the shape other CRMs' import wizards read.

- `<Object>.csv` for each object: one header line of Salesforce API field names, every value
  quoted, UTF-8, CRLF; datetimes `2024-01-31T09:30:00.000Z`, dates `2024-01-31`, booleans
  `true`/`false`, null as an empty cell; no formula neutralisation (machines read it).
- the bodies, named by their record's Id as the Data Export names them: `Attachments/<00P...>`,
  `Documents/<015...>`, `ContentVersion/<068...>`; the rows of Attachment.csv, Document.csv and
  ContentVersion.csv say which record each belongs to and its name. Each body is checked against
  its SHA-256 as it is written.

Which importers document accepting this layout: docs/reading-a-backup.md.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sfbackup.clock import format_time
from sfbackup.inspect.restore_files import FileCopy, write_checked
from sfbackup.inspect.tables import iter_rows
from sfbackup.repository import Snapshot

#: The Data Export's folder for each file object's bodies.
FILE_FOLDERS = {"Attachment": "Attachments", "Document": "Documents", "ContentVersion": "ContentVersion"}


@dataclass
class MigrationPack:
    """What was written: rows per object CSV, bodies per folder, and bodies not written."""

    out: Path
    objects: dict[str, int] = field(default_factory=dict)
    bodies: dict[str, int] = field(default_factory=dict)
    damaged: list[tuple[str, str]] = field(default_factory=list)  # (file Id, reason)

    def lines(self) -> list[str]:
        out = [f"{name}.csv: {rows:,} rows" for name, rows in sorted(self.objects.items())]
        out += [f"{folder}/: {count:,} files" for folder, count in sorted(self.bodies.items())]
        out += [f"NOT WRITTEN: {file_id}: {reason}" for file_id, reason in self.damaged]
        files = sum(self.bodies.values())
        out.append(f"migration pack in {self.out}: {len(self.objects)} objects, {files:,} files")
        return out


def cell(value: Any) -> str:
    """A value as Salesforce's Data Export writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, time):
        return value.strftime("%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def write_migration_pack(
    snapshot: Snapshot, out: Path, objects: list[str], *, include_deleted: bool = False
) -> MigrationPack:
    """Write `objects` of the snapshot and every stored file body as a Data Export layout in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    pack = MigrationPack(out)
    for name in objects:
        header = snapshot.schema(name).names
        rows = 0
        with (out / f"{name}.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
            writer.writerow(header)
            for table in iter_rows(snapshot, name, include_deleted=include_deleted):
                for batch in table.to_batches(max_chunksize=5_000):  # Python values for few rows at once
                    for record in batch.to_pylist():
                        writer.writerow([cell(record.get(column)) for column in header])
                        rows += 1
        pack.objects[name] = rows
    for file_object, folder in FILE_FOLDERS.items():
        if file_object not in snapshot.manifest.files:
            continue
        target_dir = out / folder
        for row in snapshot.files(file_object).to_pylist():
            stored = row["status"] in ("downloaded", "deduplicated")
            if not stored or (row["IsDeleted"] and not include_deleted):
                continue
            target_dir.mkdir(exist_ok=True)
            copy = FileCopy(file_object, row["Id"], row["sha256"], int(row["Size"] or 0), row["Id"], "", "")
            problem = write_checked(snapshot, copy, target_dir / row["Id"])
            if problem:
                pack.damaged.append((row["Id"], problem))
            else:
                pack.bodies[folder] = pack.bodies.get(folder, 0) + 1
    return pack
