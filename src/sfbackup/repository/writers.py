"""Part writers: typed Arrow batches -> one part file (Parquet or CSV), written atomically.

Each writer streams to a temporary file beside its target (`.part-00000.parquet.tmp-<hex>`),
hashing the bytes as they go, and renames it into place on `close()`, which returns the
PartInfo for the manifest. Batches are written as they come and never kept: memory stays flat
whatever the object's size. `abort()` removes the temporary file.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from sfbackup.errors import StorageError, storage_error
from sfbackup.repository.atomic import AtomicFile
from sfbackup.repository.manifest import PartInfo
from sfbackup.salesforce.arrow_types import (
    SF_TYPE_KEY,
    csv_column_type,
    csv_parse_options,
    csv_read_options,
    time_from_text,
)

PARQUET_COMPRESSION = "zstd"
CSV_LINE_END = "\r\n"  # RFC 4180
#: First characters a spreadsheet treats as the start of a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

Batch: TypeAlias = "pa.RecordBatch | pa.Table"

#: Salesforce types whose values repeat (picklists, lookups): only these are dictionary
#: encoded. Ids, names and free text are mostly unique, where building a dictionary only to fall
#: back to plain encoding cost about a third of the Parquet write time and made files larger.
DICTIONARY_SF_TYPES = frozenset({"picklist", "multipicklist", "combobox", "reference"})


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """The columns of `schema` worth dictionary encoding (by their Salesforce type)."""
    return [
        fld.name for fld in schema
        if (fld.metadata or {}).get(SF_TYPE_KEY, b"").decode() in DICTIONARY_SF_TYPES
    ]  # fmt: skip


class PartWriter(Protocol):
    """Writes batches of one schema to one part file."""

    def write(self, batch: Batch) -> None: ...

    def close(self) -> PartInfo: ...

    def abort(self) -> None: ...


class _HashingFile(io.RawIOBase):
    """A write-only file that hashes and counts everything written through it."""

    def __init__(self, target: BinaryIO) -> None:
        self._target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self._target.write(view)
        self.sha256.update(view)
        self.size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._target.flush()

    def close(self) -> None:
        # The AtomicFile owns the real handle (it fsyncs and renames it); only detach here.
        super().close()


class _AtomicPart:
    """Shared plumbing: temporary file, hashing, row count, commit/abort."""

    def __init__(
        self, path: str | os.PathLike[str], schema: pa.Schema, root: str | os.PathLike[str] | None
    ) -> None:
        self.path = Path(path)
        self.schema = schema
        self.relative_path = _relative(self.path, root)
        self.rows = 0
        self._file = AtomicFile(self.path)
        self._sink = _HashingFile(self._file.file)
        self._closed = False

    def _check(self, batch: Batch) -> None:
        if self._closed:
            raise StorageError(f"{self.path} is already closed")
        if not batch.schema.equals(self.schema, check_metadata=False):
            raise ValueError(f"batch schema does not match the schema of {self.path}")

    def _commit(self) -> PartInfo:
        self._closed = True
        self._file.commit()
        return PartInfo(self.relative_path, self.rows, self._sink.size, self._sink.sha256.hexdigest())

    def abort(self) -> None:
        """Drop the temporary file; the target path is left untouched."""
        self._closed = True
        self._file.abort()


class ParquetPartWriter(_AtomicPart):
    """Each `write()` becomes one Parquet row group (zstd); the schema's metadata is kept."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        schema: pa.Schema,
        *,
        root: str | os.PathLike[str] | None = None,
        compression: str = PARQUET_COMPRESSION,
    ) -> None:
        super().__init__(path, schema, root)
        try:
            self._writer = pq.ParquetWriter(
                pa.PythonFile(self._sink, mode="w"),
                schema,
                compression=compression,
                store_schema=True,
                write_statistics=True,
                use_dictionary=dictionary_columns(schema),
            )
        except BaseException:
            self._file.abort()
            raise

    def write(self, batch: Batch) -> None:
        self._check(batch)
        if batch.num_rows == 0:
            return
        try:
            if isinstance(batch, pa.Table):
                self._writer.write_table(batch, row_group_size=max(batch.num_rows, 1))
            else:
                self._writer.write_batch(batch, row_group_size=max(batch.num_rows, 1))
        except OSError as exc:
            self.abort()
            raise storage_error("write", self.path, exc) from exc
        self.rows += batch.num_rows

    def close(self) -> PartInfo:
        """Write the footer, fsync, rename into place; return the PartInfo."""
        try:
            self._writer.close()
        except OSError as exc:  # the footer did not fit (disk full): nothing is renamed into place
            self._closed = True
            self._file.abort()
            raise storage_error("write", self.path, exc) from exc
        return self._commit()

    def abort(self) -> None:
        if not self._closed:
            try:
                self._writer.close()
            except Exception:  # the file is being thrown away; its footer does not matter
                pass
        super().abort()


class CsvPartWriter(_AtomicPart):
    """RFC 4180 CSV (CRLF, `"` quoting): one header line, then rows. Datetimes as ISO 8601 UTC
    (`2024-11-07T07:00:00.000Z`), null as an empty unquoted cell, an empty string as `""`.

    With `neutralize_formulas`, text values starting with = + - @ TAB or CR get a leading `'` so a
    spreadsheet shows them instead of running them (the file then no longer round-trips exactly).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        schema: pa.Schema,
        *,
        root: str | os.PathLike[str] | None = None,
        neutralize_formulas: bool = False,
    ) -> None:
        super().__init__(path, schema, root)
        self.neutralize_formulas = neutralize_formulas
        self._text_schema = pa.schema([pa.field(f.name, _csv_output_type(f.type)) for f in schema])
        try:
            self._writer = pa_csv.CSVWriter(
                pa.PythonFile(self._sink, mode="w"),
                self._text_schema,
                write_options=pa_csv.WriteOptions(
                    include_header=True, eol=CSV_LINE_END, quoting_style="needed"
                ),
            )
        except BaseException:
            self._file.abort()
            raise

    def write(self, batch: Batch) -> None:
        self._check(batch)
        if batch.num_rows == 0:
            return
        columns = [self._render(batch.column(i), fld.type) for i, fld in enumerate(self.schema)]
        try:
            self._writer.write(pa.Table.from_arrays(columns, schema=self._text_schema))
        except OSError as exc:
            self.abort()
            raise storage_error("write", self.path, exc) from exc
        self.rows += batch.num_rows

    def _render(self, column: Any, data_type: pa.DataType) -> Any:
        if pa.types.is_timestamp(data_type):
            return pc.strftime(column, format="%Y-%m-%dT%H:%M:%SZ")  # %S carries the milliseconds
        if self.neutralize_formulas and pa.types.is_string(data_type):
            risky = pc.starts_with(column, FORMULA_PREFIXES[0])
            for prefix in FORMULA_PREFIXES[1:]:
                risky = pc.or_(risky, pc.starts_with(column, prefix))
            return pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
        return column

    def close(self) -> PartInfo:
        """Flush, fsync, rename into place; return the PartInfo."""
        try:
            self._writer.close()
        except OSError as exc:
            self._closed = True
            self._file.abort()
            raise storage_error("write", self.path, exc) from exc
        return self._commit()

    def abort(self) -> None:
        if not self._closed:
            try:
                self._writer.close()
            except Exception:  # the file is being thrown away
                pass
        super().abort()


def _csv_output_type(data_type: pa.DataType) -> pa.DataType:
    return pa.string() if pa.types.is_timestamp(data_type) else data_type


def open_part_writer(
    fmt: str,
    path: str | os.PathLike[str],
    schema: pa.Schema,
    *,
    root: str | os.PathLike[str] | None = None,
    neutralize_formulas: bool = False,
) -> ParquetPartWriter | CsvPartWriter:
    """A writer for `fmt` ("parquet" or "csv")."""
    if fmt == "parquet":
        return ParquetPartWriter(path, schema, root=root)
    if fmt == "csv":
        return CsvPartWriter(path, schema, root=root, neutralize_formulas=neutralize_formulas)
    raise ValueError(f"unknown part format {fmt!r}; expected 'parquet' or 'csv'")


def read_part(path: str | os.PathLike[str], schema: pa.Schema, fmt: str | None = None) -> pa.Table:
    """Read one part back as a table of `schema` (CSV typed through the schema)."""
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".")
    if fmt == "parquet":
        return pq.read_table(path, schema=schema)
    if fmt == "csv":
        return read_csv_part(path, schema)
    raise ValueError(f"unknown part format {fmt!r}")


def read_csv_part(path: str | os.PathLike[str], schema: pa.Schema) -> pa.Table:
    """Read a CsvPartWriter file: unquoted empty = null, `""` = empty string."""
    convert = pa_csv.ConvertOptions(
        column_types={f.name: csv_column_type(f.type) for f in schema},
        null_values=[""],
        true_values=["true"],
        false_values=["false"],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    table = pa_csv.read_csv(
        path, read_options=csv_read_options(), parse_options=csv_parse_options(), convert_options=convert
    )
    table = table.select(schema.names)
    columns = [
        time_from_text(table.column(f.name)) if pa.types.is_time(f.type) else table.column(f.name)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _relative(path: Path, root: str | os.PathLike[str] | None) -> str:
    """The manifest path of a part: relative to the snapshot folder (default: the path's
    grand-grandparent, as parts live in `<snapshot>/objects/<Object>/`)."""
    base = Path(root) if root is not None else path.parent.parent.parent
    try:
        return str(PurePosixPath(*path.resolve().relative_to(base.resolve()).parts))
    except ValueError:
        raise ValueError(f"{path} is not inside {base}") from None
