"""Part writers: one row group per batch, atomic rename on close, PartInfo that matches the file."""

from __future__ import annotations

import hashlib
import stat
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sfbackup.repository.manifest import PartInfo
from sfbackup.repository.writers import (
    DICTIONARY_SF_TYPES,
    CsvPartWriter,
    ParquetPartWriter,
    open_part_writer,
    read_part,
)
from sfbackup.salesforce.arrow_types import arrow_schema, batch_from_bulk_csv, batch_from_rest_records
from sfbackup.salesforce.schema import FieldSpec
from tests import cases

SCHEMA = arrow_schema(cases.EXPORTED_FIELDS, object_name=cases.OBJECT_NAME)


def _batch() -> pa.RecordBatch:
    records = [cases.rest_record(cases.REST_VALUES), cases.rest_record(cases.NULL_REST_VALUES)]
    return batch_from_rest_records(records, cases.EXPORTED_FIELDS, SCHEMA)


def _part(tmp_path: Path, fmt: str) -> Path:
    return tmp_path / "objects" / cases.OBJECT_NAME / f"part-00000.{fmt}"


def _assert_info_matches_file(info: PartInfo, root: Path, rows: int) -> None:
    data = (root / info.path).read_bytes()
    assert info.rows == rows
    assert info.bytes == len(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()


def _visible_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_given_batches_when_closed_then_part_info_matches_the_file_and_path_is_snapshot_relative(
    tmp_path: Path, fmt: str
) -> None:
    writer = open_part_writer(fmt, _part(tmp_path, fmt), SCHEMA)
    writer.write(_batch())
    writer.write(_batch())
    info = writer.close()
    assert info.path == f"objects/{cases.OBJECT_NAME}/part-00000.{fmt}"
    _assert_info_matches_file(info, tmp_path, rows=4)
    assert stat.S_IMODE((tmp_path / info.path).stat().st_mode) == 0o600


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_given_a_part_being_written_then_only_a_dot_temp_file_exists_until_close(
    tmp_path: Path, fmt: str
) -> None:
    target = _part(tmp_path, fmt)
    writer = open_part_writer(fmt, target, SCHEMA)
    writer.write(_batch())
    names = _visible_files(target.parent)
    assert len(names) == 1 and names[0].startswith(f".part-00000.{fmt}.tmp-")
    assert not target.exists()
    writer.close()
    assert _visible_files(target.parent) == [target.name]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_given_an_aborted_part_then_nothing_is_left(tmp_path: Path, fmt: str) -> None:
    target = _part(tmp_path, fmt)
    writer = open_part_writer(fmt, target, SCHEMA)
    writer.write(_batch())
    writer.abort()
    assert _visible_files(target.parent) == []


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_given_a_written_part_when_read_back_through_the_schema_then_values_are_identical(
    tmp_path: Path, fmt: str
) -> None:
    batch = _batch()
    writer = open_part_writer(fmt, _part(tmp_path, fmt), SCHEMA)
    writer.write(batch)
    info = writer.close()
    table = read_part(tmp_path / info.path, SCHEMA)
    assert table.to_pylist() == batch.to_pylist()
    assert table.schema.equals(SCHEMA)


def test_given_two_batches_when_written_as_parquet_then_each_is_a_zstd_row_group(tmp_path: Path) -> None:
    writer = ParquetPartWriter(_part(tmp_path, "parquet"), SCHEMA)
    writer.write(_batch())
    writer.write(_batch().slice(0, 1))
    info = writer.close()
    metadata = pq.ParquetFile(tmp_path / info.path).metadata
    assert metadata.num_row_groups == 2
    assert [metadata.row_group(i).num_rows for i in range(2)] == [2, 1]
    assert metadata.row_group(0).column(0).compression == "ZSTD"


def test_given_a_csv_part_then_header_once_crlf_iso_utc_datetimes_and_null_differs_from_empty(
    tmp_path: Path,
) -> None:
    fields = [FieldSpec("Id", "id"), FieldSpec("Name", "string"), FieldSpec("W", "datetime")]
    schema = arrow_schema(fields)
    rows = [
        {"Id": "1", "Name": "", "W": "2024-11-07T07:00:00.000+0000"},
        {"Id": "2", "Name": None, "W": None},
    ]
    writer = CsvPartWriter(_part(tmp_path, "csv"), schema)
    writer.write(batch_from_rest_records(rows, fields, schema))
    writer.write(batch_from_rest_records(rows[:1], fields, schema))
    info = writer.close()
    text = (tmp_path / info.path).read_bytes()
    assert text == (
        b'"Id","Name","W"\r\n'
        b'"1","","2024-11-07T07:00:00.000Z"\r\n'
        b'"2",,\r\n'
        b'"1","","2024-11-07T07:00:00.000Z"\r\n'
    )


def test_given_neutralize_formulas_then_risky_text_gets_a_quote_prefix_and_numbers_do_not(
    tmp_path: Path,
) -> None:
    fields = [FieldSpec("Id", "id"), FieldSpec("Name", "string"), FieldSpec("N", "int")]
    schema = arrow_schema(fields)
    names = ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "\rx", "safe", None]
    page = "\n".join(['"Id","Name","N"', *[f'"{i}","{n or ""}","-5"' for i, n in enumerate(names)]])
    writer = CsvPartWriter(_part(tmp_path, "csv"), schema, neutralize_formulas=True)
    writer.write(batch_from_bulk_csv(page.encode(), schema))
    info = writer.close()
    table = read_part(tmp_path / info.path, schema)
    assert table.column("Name").to_pylist() == [
        "'=1+1",
        "'+SUM(A1)",
        "'-2",
        "'@cmd",
        "'\tx",
        "'\rx",
        "safe",
        None,
    ]
    assert table.column("N").to_pylist() == [-5] * len(names)


def test_given_a_batch_of_another_schema_then_write_refuses_it(tmp_path: Path) -> None:
    writer = ParquetPartWriter(_part(tmp_path, "parquet"), SCHEMA)
    other = pa.RecordBatch.from_pydict({"x": [1]})
    with pytest.raises(ValueError, match="schema"):
        writer.write(other)
    writer.abort()


def test_given_no_batches_then_the_part_is_a_valid_empty_file(tmp_path: Path) -> None:
    info = ParquetPartWriter(_part(tmp_path, "parquet"), SCHEMA).close()
    assert info.rows == 0
    assert pq.read_table(tmp_path / info.path).schema.equals(SCHEMA)


def test_given_an_unknown_format_then_open_part_writer_refuses(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="xlsx"):
        open_part_writer("xlsx", tmp_path / "objects" / "A" / "part-00000.xlsx", SCHEMA)


def test_given_an_explicit_root_then_the_part_path_is_relative_to_it(tmp_path: Path) -> None:
    writer = ParquetPartWriter(
        tmp_path / "snap" / "files" / "Attachment.parquet", SCHEMA, root=tmp_path / "snap"
    )
    assert writer.close().path == "files/Attachment.parquet"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.none(), st.text()), min_size=1, max_size=20))
def test_given_any_text_when_written_as_csv_and_read_back_then_it_is_identical(
    tmp_path_factory: pytest.TempPathFactory, names: list[str | None]
) -> None:
    root = tmp_path_factory.mktemp("csv")
    fields = [FieldSpec("Id", "id"), FieldSpec("Name", "textarea")]
    schema = arrow_schema(fields)
    records = [{"Id": str(i), "Name": name} for i, name in enumerate(names)]
    writer = CsvPartWriter(root / "objects" / "A" / "part-00000.csv", schema)
    writer.write(batch_from_rest_records(records, fields, schema))
    info = writer.close()
    assert read_part(root / info.path, schema).column("Name").to_pylist() == names


def test_given_a_parquet_part_then_the_salesforce_types_are_in_the_file_schema(tmp_path: Path) -> None:
    writer = ParquetPartWriter(_part(tmp_path, "parquet"), SCHEMA)
    writer.write(_batch())
    info = writer.close()
    stored = pq.read_schema(tmp_path / info.path)
    assert stored.field("Amount__c").metadata == {b"sf_type": b"currency"}
    assert stored.field("When__c").type == pa.timestamp("ms", tz="UTC")


def test_given_a_parquet_part_then_only_repeating_salesforce_types_are_dictionary_encoded(tmp_path: Path) -> None:
    writer = ParquetPartWriter(_part(tmp_path, "parquet"), SCHEMA, root=tmp_path)
    writer.write(_batch())
    info = writer.close()
    metadata = pq.ParquetFile(tmp_path / info.path).metadata.row_group(0)
    sf_types = {f.name: (f.metadata or {}).get(b"sf_type", b"").decode() for f in SCHEMA}
    for index in range(metadata.num_columns):
        column = metadata.column(index)
        dictionary = column.dictionary_page_offset is not None
        assert dictionary == (sf_types[column.path_in_schema] in DICTIONARY_SF_TYPES), column.path_in_schema


def test_given_a_bulk_page_when_typed_and_written_then_pandas_is_never_imported(tmp_path: Path) -> None:
    # pyarrow imports pandas (about 30 MB) for pa.scalar/pa.array of Python values; the Bulk path
    # must not need either.
    script = f"""
import io, sys
from sfbackup.salesforce.arrow_types import arrow_schema, batches_from_bulk_csv, count_deleted
from sfbackup.repository.writers import ParquetPartWriter
from tests import cases
schema = arrow_schema(cases.EXPORTED_FIELDS, object_name=cases.OBJECT_NAME)
writer = ParquetPartWriter({str(tmp_path / "p.parquet")!r}, schema)
for batch in batches_from_bulk_csv(io.BytesIO(cases.bulk_csv([cases.CSV_VALUES] * 3)), schema):
    count_deleted(batch)
    writer.write(batch)
writer.close()
print("pandas" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.strip() == "False"
