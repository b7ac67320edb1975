"""Salesforce describe types -> Arrow types, and record pages -> typed Arrow batches, without loss.

The mapping is the data table `ARROW_KIND_BY_SF_TYPE` (documented in docs/types.md). Pages are
converted column by column with Arrow kernels: Bulk CSV through `pyarrow.csv` with explicit column
types, REST JSON through `pa.array` plus casts. A value that does not parse under its type is never
rounded, truncated or dropped: ConversionError names the object, field, row and record Id. Only on
that error path does the code look at single values (to find the culprit).
"""

from __future__ import annotations

import csv
import io
import json
import operator
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from sfbackup.errors import SfbackupError
from sfbackup.salesforce.schema import FieldSpec

#: Arrow "kind" for each describe `type` (see docs/types.md). Unknown types are kept as text.
ARROW_KIND_BY_SF_TYPE: dict[str, str] = {
    **dict.fromkeys(
        (
            "id", "reference", "string", "textarea", "picklist", "multipicklist", "email", "phone",
            "url", "combobox", "encryptedstring", "anyType", "datacategorygroupreference",
            "complexvalue", "json",
        ),
        "string",
    ),
    "boolean": "bool",
    "int": "int64",
    "long": "int64",
    "double": "number",
    "percent": "number",
    "currency": "number",
    "date": "date",
    "datetime": "timestamp",
    "time": "time",
}  # fmt: skip

#: Types that never become a column: compound fields (their components are columns) and base64
#: bodies (stored as blobs). `ObjectSchema.exportable_fields()` leaves them out with a reason.
NOT_EXPORTED_TYPES: frozenset[str] = frozenset({"address", "location", "base64"})

TIMESTAMP_TYPE = pa.timestamp("ms", tz="UTC")
TIME_TYPE = pa.time32("ms")
SF_TYPE_KEY = b"sf_type"
OBJECT_KEY = b"sfbackup.object"
_UTF8_BOM = b"\xef\xbb\xbf"
_TRUE_VALUES = ["true", "True", "TRUE"]
_FALSE_VALUES = ["false", "False", "FALSE"]
_MAX_DECIMAL128_PRECISION = 38


class ConversionError(SfbackupError):
    """A value from Salesforce does not fit the type its describe declares (nothing was changed)."""


def arrow_type(spec: FieldSpec) -> pa.DataType:
    """The Arrow type of one exported field (see docs/types.md for the table)."""
    if spec.type in NOT_EXPORTED_TYPES:
        raise SfbackupError(
            f"field {spec.name} of type {spec.type} has no column type: it is not exported",
            hint="build the field list with ObjectSchema.exportable_fields(), which leaves it out",
        )
    kind = ARROW_KIND_BY_SF_TYPE.get(spec.type, "string")
    if kind == "number":
        if spec.precision > 0:
            precision = max(spec.precision, spec.scale)
            if precision > _MAX_DECIMAL128_PRECISION:
                return pa.decimal256(precision, spec.scale)
            return pa.decimal128(precision, spec.scale)
        return pa.float64()
    return _KIND_TYPES[kind]


_KIND_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "bool": pa.bool_(),
    "int64": pa.int64(),
    "date": pa.date32(),
    "timestamp": TIMESTAMP_TYPE,
    "time": TIME_TYPE,
}


def arrow_field(spec: FieldSpec) -> pa.Field:
    """An Arrow field carrying the Salesforce type in its metadata (`sf_type`)."""
    return pa.field(spec.name, arrow_type(spec), nullable=True, metadata={SF_TYPE_KEY: spec.type.encode()})


def arrow_schema(fields: Sequence[FieldSpec], *, object_name: str | None = None) -> pa.Schema:
    """The Arrow schema of an export, columns in `fields` order; `object_name` goes in the metadata
    (and into every ConversionError message)."""
    metadata = {OBJECT_KEY: object_name.encode()} if object_name else None
    return pa.schema([arrow_field(spec) for spec in fields], metadata=metadata)


# --- schema <-> JSON (schema/<Object>.json "arrow_schema") --------------------------------------


def type_to_json(data_type: pa.DataType) -> dict[str, Any]:
    """A JSON description of an Arrow type that `type_from_json` turns back into the same type."""
    if pa.types.is_decimal(data_type):
        name = "decimal256" if pa.types.is_decimal256(data_type) else "decimal128"
        return {"type": name, "precision": data_type.precision, "scale": data_type.scale}
    if pa.types.is_timestamp(data_type):
        return {"type": "timestamp", "unit": data_type.unit, "tz": data_type.tz}
    if pa.types.is_time32(data_type) or pa.types.is_time64(data_type):
        return {"type": str(data_type).split("[")[0], "unit": data_type.unit}
    if pa.types.is_list(data_type):
        return {"type": "list", "item": type_to_json(data_type.value_type)}
    simple = _SIMPLE_TYPE_NAMES.get(data_type)
    if simple is None:
        raise ValueError(f"no JSON form for Arrow type {data_type}")
    return {"type": simple}


_SIMPLE_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "large_string": pa.large_string(),
    "bool": pa.bool_(),
    "int64": pa.int64(),
    "int32": pa.int32(),
    "float64": pa.float64(),
    "date32": pa.date32(),
    "binary": pa.binary(),
}
_SIMPLE_TYPE_NAMES: dict[pa.DataType, str] = {v: k for k, v in _SIMPLE_TYPES.items()}


def type_from_json(data: dict[str, Any]) -> pa.DataType:
    """Inverse of `type_to_json`; ValueError on anything else."""
    name = data.get("type")
    if name == "decimal128":
        return pa.decimal128(int(data["precision"]), int(data["scale"]))
    if name == "decimal256":
        return pa.decimal256(int(data["precision"]), int(data["scale"]))
    if name == "timestamp":
        return pa.timestamp(str(data["unit"]), tz=data.get("tz"))
    if name == "time32":
        return pa.time32(str(data["unit"]))
    if name == "time64":
        return pa.time64(str(data["unit"]))
    if name == "list":
        return pa.list_(type_from_json(data["item"]))
    if isinstance(name, str) and name in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[name]
    raise ValueError(f"unknown Arrow type description {data!r}")


def schema_to_json(schema: pa.Schema) -> list[dict[str, Any]]:
    """`[{"name", "type": {...}, "sf_type"}]`, the `arrow_schema` list of `schema/<Object>.json`."""
    out = []
    for fld in schema:
        meta = fld.metadata or {}
        sf_type = meta.get(SF_TYPE_KEY)
        out.append(
            {
                "name": fld.name,
                "type": type_to_json(fld.type),
                "sf_type": sf_type.decode() if sf_type else None,
            }
        )
    return out


def schema_from_json(data: list[dict[str, Any]], *, object_name: str | None = None) -> pa.Schema:
    """Inverse of `schema_to_json`."""
    fields = []
    for item in data:
        meta = {SF_TYPE_KEY: str(item["sf_type"]).encode()} if item.get("sf_type") else None
        fields.append(pa.field(str(item["name"]), type_from_json(item["type"]), metadata=meta))
    metadata = {OBJECT_KEY: object_name.encode()} if object_name else None
    return pa.schema(fields, metadata=metadata)


# --- Bulk API 2.0 CSV pages ----------------------------------------------------------------------


#: Bytes of CSV parsed at a time: each block of a Bulk page becomes one batch (one Parquet row
#: group, about 4,500 rows of a 40-field Account), which bounds memory whatever the page size.
#: 2 MiB blocks peak about 20 MB lower than 4 MiB ones for the same CPU and file size.
CSV_BLOCK_BYTES = 2 << 20


def csv_read_options(*, use_threads: bool = True) -> pa_csv.ReadOptions:
    return pa_csv.ReadOptions(use_threads=use_threads, block_size=CSV_BLOCK_BYTES)


def csv_parse_options() -> pa_csv.ParseOptions:
    # Bulk CSV quotes every value and text fields may hold newlines (RFC 4180).
    return pa_csv.ParseOptions(delimiter=",", quote_char='"', double_quote=True, newlines_in_values=True)


def csv_column_type(data_type: pa.DataType) -> pa.DataType:
    """The type `pyarrow.csv` reads a column as (converted to the schema's type after).

    Times are read as text. Decimals are read at full precision with the target scale, then
    cast safely: Salesforce writes `100.0` for a percent(3, 0), which Arrow's CSV reader would
    refuse for decimal128(3, 0) although the value fits exactly.
    """
    if pa.types.is_time(data_type):
        return pa.string()
    if pa.types.is_decimal(data_type):
        return pa.decimal128(38, data_type.scale)
    return data_type


def batches_from_bulk_csv(page: bytes | IO[bytes], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """One Bulk API 2.0 result page (header + rows) -> RecordBatches with exactly `schema`, streamed.

    `page` is the CSV in memory or a seekable binary file at its start; it is parsed in blocks of
    `CSV_BLOCK_BYTES`, one batch per block, so a page never has to be in memory whole. Columns are
    matched by header name (case-insensitively, as SOQL is) and reordered into schema order. Every
    empty cell, quoted or not, is null: Bulk CSV writes null as empty and Salesforce stores no empty
    strings. NUL bytes are kept. A value that does not convert raises ConversionError naming its
    row in the page (the error path re-reads the page).
    """
    source = io.BytesIO(page) if isinstance(page, bytes) else page
    first_line = source.readline()
    offset = len(_UTF8_BOM) if first_line.startswith(_UTF8_BOM) else 0
    header = _csv_header(first_line, offset, schema)
    if header is None:
        return
    source.seek(offset)  # a BOM must not become part of the header
    targets = _match_header(header, schema)
    positions = {target: index for index, target in enumerate(targets)}
    convert = pa_csv.ConvertOptions(
        column_types={
            name: csv_column_type(schema.field(target).type)
            for name, target in zip(header, targets, strict=True)
        },
        null_values=[""],
        true_values=_TRUE_VALUES,
        false_values=_FALSE_VALUES,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        check_utf8=True,
    )
    try:
        reader = pa_csv.open_csv(
            pa.PythonFile(source, mode="r"),
            read_options=csv_read_options(),
            parse_options=csv_parse_options(),
            convert_options=convert,
        )
        for block in reader:
            columns = []
            for fld in schema:
                column = block.column(positions[fld.name])
                if pa.types.is_time(fld.type):
                    column = time_from_text(column)
                elif column.type != fld.type:
                    column = column.cast(fld.type, safe=True)
                columns.append(column)
            yield pa.RecordBatch.from_arrays(columns, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        source.seek(offset)
        raise _locate_csv_error(pa.py_buffer(source.read()), header, targets, schema, exc) from None


def batch_from_bulk_csv(page: bytes, schema: pa.Schema) -> pa.RecordBatch:
    """`batches_from_bulk_csv` of a page in memory, as one batch (for small pages and tests)."""
    return _to_batch(pa.Table.from_batches(list(batches_from_bulk_csv(page, schema)), schema=schema))


def _csv_header(first_line: bytes, offset: int, schema: pa.Schema) -> list[str] | None:
    first = first_line[offset:].rstrip(b"\n")
    if not first.strip():
        return None
    try:
        text = first.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        raise _error(schema, None, None, None, "the CSV header is not UTF-8 text") from None
    return next(csv.reader(io.StringIO(text)))


def _match_header(header: list[str], schema: pa.Schema) -> list[str]:
    by_lower = {name.lower(): name for name in schema.names}
    targets = [by_lower.get(name.lower(), "") for name in header]
    unknown = [name for name, target in zip(header, targets, strict=True) if not target]
    missing = sorted(set(schema.names) - set(targets))
    if unknown or missing or len(set(targets)) != len(targets):
        raise _error(
            schema,
            None,
            None,
            None,
            f"the CSV header does not match the selected fields (unexpected: {unknown}, "
            f"missing: {missing}, header: {len(header)} columns)",
        )
    return targets


def _locate_csv_error(
    body: pa.Buffer, header: list[str], targets: list[str], schema: pa.Schema, cause: pa.ArrowInvalid
) -> ConversionError:
    """Re-read the page as raw bytes and find the first value that does not convert."""
    try:
        raw = pa_csv.read_csv(
            body,
            read_options=csv_read_options(),
            parse_options=csv_parse_options(),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.binary()),
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        ).rename_columns(targets)
    except pa.ArrowInvalid as exc:  # the CSV itself is malformed (unbalanced quotes, ragged rows)
        return _error(schema, None, None, None, f"the CSV page cannot be parsed: {exc}")
    for fld in schema:
        column = raw.column(fld.name)

        def convert(values: pa.ChunkedArray | pa.Array, data_type: pa.DataType = fld.type) -> Any:
            return _text_to(values.cast(pa.string()), data_type)

        found = _first_failure(column, convert)
        if found is not None:
            row, message = found
            return _row_error(schema, fld, raw, row, column[row].as_py(), message)
    return _error(schema, None, None, None, f"the CSV page cannot be converted: {cause}")


def _text_to(values: pa.ChunkedArray | pa.Array, data_type: pa.DataType) -> Any:
    """Convert text values the way `pyarrow.csv` does for `data_type` (for the error path)."""
    if pa.types.is_string(data_type):
        return values
    if pa.types.is_boolean(data_type):
        valid = pc.is_in(values, pa.array(_TRUE_VALUES + _FALSE_VALUES))
        if not pc.all(pc.or_kleene(valid, pc.is_null(values))).as_py():
            raise pa.ArrowInvalid("not one of true/false")
        return pc.is_in(values, pa.array(_TRUE_VALUES))
    if pa.types.is_time(data_type):
        return time_from_text(values)
    return values.cast(data_type)


def time_from_text(values: pa.ChunkedArray | pa.Array) -> Any:
    """`13:30:00.000Z` (REST, Bulk) or `13:30:00.000` -> time32[ms]. Salesforce times carry no
    date and no real zone; the trailing `Z` is dropped."""
    # One regex, no Python scalars (converting those makes pyarrow import pandas, ~30 MB).
    stamped = pc.replace_substring_regex(values, pattern=r"^(.*?)Z?$", replacement=r"1970-01-01T\1")
    return pc.cast(pc.cast(stamped, pa.timestamp("ms")), TIME_TYPE)


# --- REST JSON records -----------------------------------------------------------------------------


def batch_from_rest_records(
    records: list[dict[str, Any]], fields: Sequence[FieldSpec], schema: pa.Schema
) -> pa.RecordBatch:
    """REST query records (JSON already parsed) -> a RecordBatch with exactly `schema`.

    Datetimes `2024-11-07T07:00:00.000+0000` (or epoch milliseconds), dates, times `13:30:00.000Z`,
    numbers as JSON numbers (decimals built from their shortest text form, or from `Decimal`
    when the JSON was parsed with `parse_float=Decimal`), booleans and nulls. Text fields keep
    their value as sent, including an empty string.
    """
    del fields
    if not records:
        return _empty_batch(schema)
    keys = _record_keys(records[0], schema)
    pick = operator.itemgetter(*keys)
    try:
        rows = [pick(record) for record in records]
    except KeyError:
        row = next(i for i, r in enumerate(records) if any(k not in r for k in keys))
        name = next(f.name for f, k in zip(schema, keys, strict=True) if k not in records[row])
        raise _error(schema, name, row, _record_id(records[row]), "the field is absent") from None
    columns = zip(*rows, strict=True) if len(keys) > 1 else [rows]  # one key: itemgetter gives values
    arrays = [
        _rest_column(list(values), fld, schema, records) for fld, values in zip(schema, columns, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _record_keys(first: dict[str, Any], schema: pa.Schema) -> list[str]:
    by_lower = {key.lower(): key for key in first}
    keys = []
    for name in schema.names:
        key = name if name in first else by_lower.get(name.lower())
        if key is None:
            raise _error(schema, name, 0, _record_id(first), "the REST record has no such field")
        keys.append(key)
    return keys


def _rest_column(
    values: list[Any], fld: pa.Field, schema: pa.Schema, records: list[dict[str, Any]]
) -> pa.Array:
    data_type = fld.type
    kinds = set(map(type, values))
    kinds.discard(type(None))
    try:
        if pa.types.is_string(data_type):
            if kinds <= {str}:
                return pa.array(values, pa.string())
            return pa.array([_json_text(v) for v in values], pa.string())
        if pa.types.is_boolean(data_type):
            if kinds <= {bool}:
                return pa.array(values, pa.bool_())
            return _check_each(values, _bool_value, data_type, fld, schema, records)
        if pa.types.is_integer(data_type):
            if kinds <= {int}:
                return pa.array(values, data_type)
            return _check_each(values, _int_value, data_type, fld, schema, records)
        if pa.types.is_floating(data_type):
            if kinds <= {int, float}:
                return pa.array(values, data_type)
            return _check_each(values, _float_value, data_type, fld, schema, records)
        if pa.types.is_decimal(data_type):
            if kinds <= {float, int} and (int not in kinds or _small_ints(values)):
                # Arrow prints a float64 as its shortest round-trip text, the same digits as
                # repr(), i.e. the JSON number as sent; the decimal is parsed from that text.
                text = pa.array(values, pa.float64()).cast(pa.string())
                return _convert_or_locate(text, lambda a: a.cast(data_type), fld, schema, records, values)
            return _check_each(values, _decimal_value, data_type, fld, schema, records)
        if pa.types.is_timestamp(data_type) and kinds <= {int}:
            return pa.array(values, pa.int64()).cast(data_type)  # Bulk 1.0 style epoch milliseconds
        if kinds <= {str}:
            text = pa.array(values, pa.string())
            return _convert_or_locate(text, lambda a: _text_to(a, data_type), fld, schema, records, values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        row, message = _first_failure_py(values, data_type, exc)
        raise _row_error(schema, fld, records, row, values[row], message) from None
    row = next(i for i, v in enumerate(values) if v is not None and not isinstance(v, str))
    raise _row_error(
        schema, fld, records, row, values[row], f"a JSON {type(values[row]).__name__} is not text"
    )


def _convert_or_locate(
    text: pa.Array,
    convert: Callable[[Any], Any],
    fld: pa.Field,
    schema: pa.Schema,
    records: list[dict[str, Any]],
    values: list[Any],
) -> pa.Array:
    """`convert(text)`; on failure, a ConversionError naming the first value that fails."""
    try:
        return _as_array(convert(text))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        row, message = _first_failure(text, convert) or (0, str(exc))
        raise _row_error(schema, fld, records, row, values[row], message) from None


def _check_each(
    values: list[Any],
    convert: Callable[[Any], Any],
    data_type: pa.DataType,
    fld: pa.Field,
    schema: pa.Schema,
    records: list[dict[str, Any]],
) -> pa.Array:
    converted = []
    for row, value in enumerate(values):
        try:
            converted.append(None if value is None else convert(value))
        except (ValueError, TypeError, InvalidOperation, OverflowError) as exc:
            raise _row_error(schema, fld, records, row, value, str(exc) or type(exc).__name__) from None
    try:
        return pa.array(converted, data_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        row, message = _first_failure_py(converted, data_type, exc)
        raise _row_error(schema, fld, records, row, values[row], message) from None


def _small_ints(values: list[Any]) -> bool:
    """True when every int is exactly representable as a float64 (|n| <= 2**53)."""
    return all(-(2**53) <= v <= 2**53 for v in values if type(v) is int)


def _json_text(value: Any) -> str | None:
    """Text for a string column: anyType/json values may arrive as other JSON types."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _bool_value(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _TRUE_VALUES + _FALSE_VALUES:
        return value in _TRUE_VALUES
    raise ValueError("not true or false")


def _int_value(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal) and value == int(value):
        return int(value)
    if isinstance(value, str):
        return int(value)
    raise ValueError("not a whole number")


def _float_value(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int | float | Decimal | str):
        return float(value)
    raise TypeError("not a number")


def _decimal_value(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, float):
        return Decimal(repr(value))  # the shortest text that round-trips: the JSON number as sent
    if isinstance(value, int | Decimal | str):
        result = Decimal(value)
        if not result.is_finite():
            raise ValueError("not a finite number")
        return result
    raise TypeError("not a number")


# --- helpers -----------------------------------------------------------------------------------------


def _first_failure(
    values: pa.ChunkedArray | pa.Array, convert: Callable[[Any], Any]
) -> tuple[int, str] | None:
    """Index and message of the first value `convert` rejects (bisection: log n kernel calls)."""
    try:
        convert(values)
        return None
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        message = str(exc)
    lo, hi = 0, len(values)  # the first failure is in [lo, hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            convert(values.slice(lo, mid - lo))
            lo = mid
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            hi, message = mid, str(exc)
    try:
        convert(values.slice(lo, 1))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        message = str(exc)
    return lo, message


def _first_failure_py(values: list[Any], data_type: pa.DataType, cause: Exception) -> tuple[int, str]:
    for row, value in enumerate(values):
        try:
            pa.array([value], data_type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            return row, str(exc)
    return 0, str(cause)


def _as_array(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    return values


def _to_batch(table: pa.Table) -> pa.RecordBatch:
    batches = table.combine_chunks().to_batches()
    if not batches:
        return _empty_batch(table.schema)
    return batches[0]


def _empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.nulls(0, f.type) for f in schema], schema=schema)


def count_deleted(rows: pa.RecordBatch | pa.Table) -> int:
    """Rows whose ``IsDeleted`` is true (0 without a boolean IsDeleted column).

    Counted without Python scalars: `pa.scalar`/`pa.array` of Python values import pandas, about
    30 MB of memory that a Bulk export otherwise never needs.
    """
    index = rows.schema.get_field_index("IsDeleted")
    if index < 0 or not pa.types.is_boolean(rows.schema.field(index).type):
        return 0
    column = rows.column(index)
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    return sum(chunk.true_count for chunk in chunks)


def _record_id(record: Any) -> str | None:
    value = record.get("Id") if isinstance(record, dict) else None
    return value if isinstance(value, str) else None


def _row_error(
    schema: pa.Schema,
    fld: pa.Field,
    rows: pa.Table | list[dict[str, Any]],
    row: int,
    value: Any,
    message: str,
) -> ConversionError:
    if isinstance(rows, list):
        record_id = _record_id(rows[row])
    elif "Id" in rows.column_names:
        raw_id = rows.column("Id")[row].as_py()
        record_id = raw_id.decode("utf-8", "replace") if isinstance(raw_id, bytes) else raw_id
    else:
        record_id = None
    sf_type = (fld.metadata or {}).get(SF_TYPE_KEY, b"?").decode()
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            message = "the value is not UTF-8 text"
    shown = repr(value) if not isinstance(value, str) or len(value) <= 40 else repr(value[:40] + "...")
    detail = f"value {shown} does not fit {sf_type} as {fld.type}: {message}"
    return _error(schema, fld.name, row, record_id, detail)


def _error(
    schema: pa.Schema, field: str | None, row: int | None, record_id: str | None, problem: str
) -> ConversionError:
    object_name = (schema.metadata or {}).get(OBJECT_KEY, b"").decode() or "the object"
    where = f"{object_name}.{field}" if field else object_name
    if row is not None:
        where += f", row {row + 1} of the page"
    if record_id:
        where += f" (Id {record_id})"
    return ConversionError(
        f"cannot convert {where}: {problem}; nothing was changed or dropped",
        hint="report this with the object's schema/<Object>.json; meanwhile leave the object out "
        "of the backup with --exclude",
        object=object_name,
        field=field,
        row=None if row is None else row + 1,
        record_id=record_id,
    )


def null_columns(batch: pa.RecordBatch, names: tuple[str, ...] | list[str]) -> pa.RecordBatch:
    """`batch` with the columns `names` (those it has) replaced by nulls of their type."""
    columns = list(batch.columns)
    for name in names:
        index = batch.schema.get_field_index(name)
        if index >= 0:
            columns[index] = pa.nulls(batch.num_rows, type=batch.schema.field(index).type)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)
