"""SQL over a snapshot (`sfbackup sql`): DuckDB views over the Parquet parts, one per object with
its live rows (`Account`), one with the deleted ones too (`Account_all`), and one per files index
(`files_ContentVersion`). The same views open from Python (`open_views`) or from DuckDB itself
(`view_statements`, printed by `sfbackup sql --print-views`).

A repository in S3 is read offline too: its parts are copied to a local folder first (DuckDB's
S3 reader is an extension it would download). CSV parts are typed through the saved schema and
registered from memory.
"""

from __future__ import annotations

import contextlib
import csv
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from sfbackup.errors import UsageError
from sfbackup.repository import Snapshot
from sfbackup.repository.store import LocalStore

OUTPUT_FORMATS = ("table", "csv", "json")
_LIVE = " WHERE NOT coalesce(IsDeleted, false)"


def quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _part_files(snapshot: Snapshot, relpaths: list[str], spool: Path | None) -> list[Path]:
    store = snapshot.repository.store
    if isinstance(store, LocalStore):
        return [store.path(snapshot.key(p)) for p in relpaths]
    if spool is None:
        raise UsageError(
            f"{snapshot.repository.location} is in S3: the views need the parts on this machine",
            hint="`sfbackup sql` copies them by itself; for --print-views, copy the snapshot to a folder",
        )
    files = []
    for relpath in relpaths:
        target = spool / snapshot.id / relpath
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            with store.open(snapshot.key(relpath)) as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
        files.append(target)
    return files


def view_statements(snapshot: Snapshot, spool: Path | None = None, *, schema: str | None = None) -> list[str]:
    """CREATE VIEW statements for every Parquet object and files index of the snapshot (in DuckDB
    schema `schema` when given, e.g. two snapshots side by side for a diff)."""
    statements = [f"CREATE SCHEMA IF NOT EXISTS {quote_name(schema)}"] if schema else []

    def named(name: str) -> str:
        return f"{quote_name(schema)}.{quote_name(name)}" if schema else quote_name(name)

    for name, entry in sorted(snapshot.manifest.objects.items()):
        if entry.format != "parquet" or not entry.schema_path:
            continue
        files = _part_files(snapshot, [p.path for p in entry.parts], spool)
        source = (
            "read_parquet([" + ", ".join(_quote_text(str(f)) for f in files) + "], union_by_name = true)"
            if files
            else _empty_select(snapshot, name)
        )
        statements.append(f"CREATE OR REPLACE VIEW {named(name + '_all')} AS SELECT * FROM {source}")
        live = _LIVE if _has_deleted(snapshot, name) else ""
        every = named(name + "_all")
        statements.append(f"CREATE OR REPLACE VIEW {named(name)} AS SELECT * FROM {every}{live}")
    for name, files_entry in sorted(snapshot.manifest.files.items()):
        if files_entry.index_path:
            (index,) = _part_files(snapshot, [files_entry.index_path], spool)
            statements.append(
                f"CREATE OR REPLACE VIEW {named('files_' + name)} AS SELECT * FROM "
                f"read_parquet({_quote_text(str(index))})"
            )
    return statements


def add_views(connection: Any, snapshot: Snapshot, spool: Path, *, schema: str | None = None) -> None:
    """Create the snapshot's views in `connection` (CSV parts typed by the saved schema, in memory)."""
    for statement in view_statements(snapshot, spool, schema=schema):
        connection.execute(statement)
    prefix = f"{quote_name(schema)}." if schema else ""
    for name, entry in sorted(snapshot.manifest.objects.items()):
        if entry.format == "csv" and entry.schema_path:
            table = snapshot.read(name)
            registered = f"_csv_{schema or ''}_{name}"
            connection.register(registered, table)
            every = f"{prefix}{quote_name(name + '_all')}"
            connection.execute(f"CREATE OR REPLACE VIEW {every} AS SELECT * FROM {quote_name(registered)}")
            live = _LIVE if "IsDeleted" in table.column_names else ""
            view = f"CREATE OR REPLACE VIEW {prefix}{quote_name(name)} AS SELECT * FROM {every}{live}"
            connection.execute(view)


@contextlib.contextmanager
def connect() -> Iterator[tuple[Any, Path]]:
    """An in-memory DuckDB connection and a temporary folder for spooled S3 parts, for the block."""
    import duckdb

    with tempfile.TemporaryDirectory(prefix="sfbackup-sql-") as folder:
        connection = duckdb.connect(":memory:")
        try:
            yield connection, Path(folder)
        finally:
            connection.close()


def _has_deleted(snapshot: Snapshot, name: str) -> bool:
    return "IsDeleted" in snapshot.schema(name).names


def _empty_select(snapshot: Snapshot, name: str) -> str:
    """A typed, empty relation for an object with no parts (DuckDB cannot read zero files)."""
    import pyarrow as pa

    columns = []
    for spec in snapshot.schema(name):
        sql_type = "BOOLEAN" if pa.types.is_boolean(spec.type) else "VARCHAR"
        columns.append(f"CAST(NULL AS {sql_type}) AS {quote_name(spec.name)}")
    return f"(SELECT {', '.join(columns)} WHERE false)"


@contextlib.contextmanager
def open_views(snapshot: Snapshot) -> Iterator[Any]:
    """`with open_views(snapshot) as con: con.sql("SELECT ...").df()`: an in-memory DuckDB
    connection holding the snapshot's views (parts of an S3 repository spooled for the block)."""
    with connect() as (connection, spool):
        add_views(connection, snapshot, spool)
        yield connection


def run_query(snapshot: Snapshot, query: str, *, output: str = "table", out: IO[str] | None = None,
              max_rows: int = 1000) -> int:  # fmt: skip
    """Run `query` over the snapshot's views and write its rows to `out` (default stdout) as a
    table (at most `max_rows`), CSV or JSON lines; the number of rows written."""
    import duckdb

    if output not in OUTPUT_FORMATS:
        raise UsageError(f"unknown output {output!r}", hint=f"use one of {', '.join(OUTPUT_FORMATS)}")
    out = out or sys.stdout
    with open_views(snapshot) as connection:
        try:
            cursor = connection.execute(query)
        except duckdb.Error as exc:
            raise UsageError(
                f"the query failed: {exc}".splitlines()[0],
                hint="views: one per object (live rows), <Object>_all (deleted too), files_<Object>; "
                "`sfbackup ls` lists the objects",
            ) from None
        names = [d[0] for d in cursor.description or []]
        return _write(cursor, names, output, out, max_rows)


def _write(cursor: Any, names: list[str], output: str, out: IO[str], max_rows: int) -> int:
    written = 0
    if output == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        while rows := cursor.fetchmany(10_000):
            writer.writerows(["" if v is None else v for v in row] for row in rows)
            written += len(rows)
        return written
    if output == "json":
        while rows := cursor.fetchmany(10_000):
            for row in rows:
                record = dict(zip(names, row, strict=True))
                out.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
            written += len(rows)
        return written
    rows = cursor.fetchmany(max_rows + 1)
    more = len(rows) > max_rows
    rows = rows[:max_rows]
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [min(60, max([len(n), *(len(r[i]) for r in cells)])) for i, n in enumerate(names)]
    out.write("  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)).rstrip() + "\n")
    for row in cells:
        out.write("  ".join(c[:w].ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
    out.write(f"({len(rows):,} rows{', more not shown: use --output csv' if more else ''})\n")
    return len(rows)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    return str(value).replace("\n", "\\n").replace("\r", "\\r")
