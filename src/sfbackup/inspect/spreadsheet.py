"""Spreadsheets and CSV for people (`sfbackup export --to xlsx|csv`): a header of field labels
beside API names, each lookup followed by its parent's name, picklist labels, datetimes in one
chosen time zone (naive in that zone, as Excel wants them), exact decimals, formulas neutralised in
CSV, and an object longer than Excel's 1,048,576 rows split across sheets (xlsx) or files (CSV).

Both writers stream: xlsxwriter's constant_memory mode flushes each row as it is written, and rows
are read one part at a time; what stays in memory is the Id -> name map of each lookup's parent.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa

from sfbackup.errors import UsageError
from sfbackup.inspect.labels import FieldInfo, Labels, ObjectInfo
from sfbackup.inspect.tables import iter_rows
from sfbackup.repository import Snapshot
from sfbackup.repository.writers import FORMULA_PREFIXES

#: Excel's rows per sheet, the header included.
EXCEL_MAX_ROWS = 1_048_576
#: Excel's characters per cell.
EXCEL_MAX_CELL = 32_767
#: The most significant digits an Excel number keeps; a decimal with more is written as text.
EXCEL_DIGITS = 15
FORMATS = ("xlsx", "csv")
#: Rows turned into Python values at a time.
CELL_BATCH_ROWS = 5_000


@dataclass
class ExportedObject:
    """What one object became: its rows and the files (and, for xlsx, sheets) holding them."""

    object: str
    rows: int = 0
    files: list[Path] = field(default_factory=list)
    sheets: list[str] = field(default_factory=list)
    truncated_cells: int = 0  # xlsx cells longer than Excel's 32,767 characters (cut; CSV keeps them)


def time_zone(name: str) -> tzinfo:
    """The IANA zone `name` (`Europe/Berlin`, `UTC`); UsageError naming the flag otherwise."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"--timezone {name!r} is not a time zone this machine knows",
            hint="use an IANA name such as UTC, Europe/Berlin or America/New_York",
        ) from None


@dataclass(frozen=True)
class Column:
    """One output column: its header and how to read its cells from a part."""

    header: str
    source: FieldInfo
    resolved: bool = False  # the lookup's parent name rather than the Id


def columns_for(info: ObjectInfo, labels: Labels, zone_name: str) -> list[Column]:
    """The object's columns in the parts' order, a parent-name column after each resolvable lookup."""
    out = []
    for spec in info.fields.values():
        suffix = f" [{zone_name}]" if spec.sf_type == "datetime" else ""
        out.append(Column(f"{spec.label} ({spec.name}){suffix}", spec))
        if spec.is_lookup and any(t in labels.snapshot.manifest.objects for t in spec.reference_to):
            path = f"{spec.relationship_name or spec.name}.Name"
            out.append(Column(f"{info.lookup_name_label(spec)} ({path})", spec, resolved=True))
    return out


def _picklist(spec: FieldInfo) -> Callable[[Any], Any]:
    if not spec.picklist:
        return lambda value: value
    if spec.sf_type == "multipicklist":
        return lambda value: (
            None if value is None else ";".join(spec.picklist.get(v, v) for v in str(value).split(";"))
        )
    return lambda value: None if value is None else spec.picklist.get(value, value)


def iter_cells(
    snapshot: Snapshot, object_name: str, labels: Labels, columns: list[Column], zone: tzinfo,
    *, include_deleted: bool,
) -> Iterator[list[Any]]:  # fmt: skip
    """Each row's cells as Python values: datetimes naive in `zone`, labels, resolved names."""
    picklists = {c.source.name: _picklist(c.source) for c in columns if not c.resolved}
    for part in iter_rows(snapshot, object_name, include_deleted=include_deleted):
        # Python objects for a few thousand rows at a time, not for the whole part
        for batch in part.to_batches(max_chunksize=CELL_BATCH_ROWS):
            values: list[list[Any]] = []
            for column in columns:
                raw = batch.column(column.source.name).to_pylist()
                if column.resolved:
                    values.append(labels.resolve(column.source, raw))
                elif pa.types.is_timestamp(batch.schema.field(column.source.name).type):
                    values.append([None if v is None else v.astimezone(zone).replace(tzinfo=None)
                                   for v in raw])  # fmt: skip
                else:
                    values.append([picklists[column.source.name](v) for v in raw])
            yield from (list(row) for row in zip(*values, strict=True))


def csv_text(value: Any, *, neutralize: bool = True) -> str:
    """A cell as CSV text: exact decimals, `YYYY-MM-DD HH:MM:SS` datetimes, formulas neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date | time):
        return value.isoformat()
    text = value if isinstance(value, str) else str(value)
    if neutralize and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _sheet_name(object_name: str, index: int) -> str:
    return object_name[:31] if index == 0 else f"{object_name[:25]} ({index + 1})"


def _csv_name(object_name: str, index: int) -> str:
    return f"{object_name}.csv" if index == 0 else f"{object_name}-{index + 1}.csv"


def export_object(
    snapshot: Snapshot,
    object_name: str,
    out: Path,
    *,
    fmt: str,
    zone_name: str = "UTC",
    include_deleted: bool = False,
    rows_per_sheet: int = EXCEL_MAX_ROWS - 1,
    labels: Labels | None = None,
) -> ExportedObject:
    """Write `object_name` as `out/<Object>.xlsx` (sheets of `rows_per_sheet` rows) or as
    `out/<Object>.csv`, `<Object>-2.csv`, ... (files of `rows_per_sheet` rows)."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown spreadsheet format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    if not 1 <= rows_per_sheet <= EXCEL_MAX_ROWS - 1:
        raise UsageError(
            f"--rows-per-sheet {rows_per_sheet} is outside 1..{EXCEL_MAX_ROWS - 1:,}",
            hint="Excel holds 1,048,576 rows per sheet, the header included",
        )
    zone = time_zone(zone_name)
    labels = labels or Labels(snapshot)
    info = labels.info(object_name)
    columns = columns_for(info, labels, zone_name)
    out.mkdir(parents=True, exist_ok=True)
    result = ExportedObject(object_name)
    cells = iter_cells(snapshot, object_name, labels, columns, zone, include_deleted=include_deleted)
    if fmt == "xlsx":
        _write_xlsx(out / f"{object_name}.xlsx", object_name, columns, cells, rows_per_sheet, result)
    else:
        _write_csv(out, object_name, columns, cells, rows_per_sheet, result)
    return result


def _write_csv(
    out: Path, object_name: str, columns: list[Column], cells: Iterator[list[Any]], limit: int,
    result: ExportedObject,
) -> None:  # fmt: skip
    header = [c.header for c in columns]
    handle: io.TextIOWrapper | None = None
    writer: Any = None
    in_file = 0
    try:
        for row in cells:
            if handle is None or in_file == limit:
                if handle is not None:
                    handle.close()
                path = out / _csv_name(object_name, len(result.files))
                # utf-8-sig: Excel opens a CSV with a byte order mark as UTF-8, without one as ANSI
                handle = path.open("w", encoding="utf-8-sig", newline="")
                writer = csv.writer(handle, lineterminator="\r\n")
                writer.writerow(header)
                result.files.append(path)
                in_file = 0
            writer.writerow([csv_text(v) for v in row])
            in_file += 1
            result.rows += 1
        if handle is None:  # no rows: the header alone says what the object holds
            path = out / _csv_name(object_name, 0)
            with path.open("w", encoding="utf-8-sig", newline="") as empty:
                csv.writer(empty, lineterminator="\r\n").writerow(header)
            result.files.append(path)
    finally:
        if handle is not None:
            handle.close()


def _write_xlsx(
    path: Path, object_name: str, columns: list[Column], cells: Iterator[list[Any]], limit: int,
    result: ExportedObject,
) -> None:  # fmt: skip
    import xlsxwriter

    workbook = xlsxwriter.Workbook(
        str(path), {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                    "strings_to_numbers": False},
    )  # fmt: skip
    bold = workbook.add_format({"bold": True})
    formats = {
        "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        "date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
    }
    sheet: Any = None
    in_sheet = 0

    def new_sheet() -> Any:
        added = workbook.add_worksheet(_sheet_name(object_name, len(result.sheets)))
        result.sheets.append(added.name)
        for col, column in enumerate(columns):
            added.write_string(0, col, column.header, bold)
        added.freeze_panes(1, 0)
        return added

    try:
        for row in cells:
            if sheet is None or in_sheet == limit:
                sheet = new_sheet()
                in_sheet = 0
            in_sheet += 1
            for col, value in enumerate(row):
                if value is not None:
                    result.truncated_cells += _write_cell(sheet, in_sheet, col, value, formats)
            result.rows += 1
        if sheet is None:
            new_sheet()
    finally:
        workbook.close()
    result.files.append(path)


def _write_cell(sheet: Any, row: int, col: int, value: Any, formats: dict[str, Any]) -> int:
    """Write one typed cell; 1 when a text was cut at Excel's cell limit."""
    if isinstance(value, bool):
        sheet.write_boolean(row, col, value)
    elif isinstance(value, datetime):
        sheet.write_datetime(row, col, value, formats["datetime"])
    elif isinstance(value, date):
        sheet.write_datetime(row, col, datetime(value.year, value.month, value.day), formats["date"])
    elif isinstance(value, Decimal):
        digits = len(value.as_tuple().digits)
        if digits <= EXCEL_DIGITS:
            sheet.write_number(row, col, float(value))
        else:  # a double would round it: keep every digit as text
            sheet.write_string(row, col, format(value, "f"))
    elif isinstance(value, int):
        if abs(value) < 10**EXCEL_DIGITS:
            sheet.write_number(row, col, value)
        else:
            sheet.write_string(row, col, str(value))
    elif isinstance(value, float):
        sheet.write_number(row, col, value)
    else:
        text = value.isoformat() if isinstance(value, time) else str(value)
        if len(text) > EXCEL_MAX_CELL:
            sheet.write_string(row, col, text[:EXCEL_MAX_CELL])
            return 1
        sheet.write_string(row, col, text)  # never write(): text is never a formula
    return 0
