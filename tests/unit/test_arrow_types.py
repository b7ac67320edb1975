"""Describe types -> Arrow types, and REST JSON / Bulk CSV pages -> typed batches, without loss."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, time
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfbackup.errors import SfbackupError
from sfbackup.salesforce.arrow_types import (
    CSV_BLOCK_BYTES,
    ConversionError,
    arrow_schema,
    arrow_type,
    batch_from_bulk_csv,
    batch_from_rest_records,
    batches_from_bulk_csv,
    schema_from_json,
    schema_to_json,
)
from sfbackup.salesforce.schema import FieldSpec
from tests import cases

SCHEMA = arrow_schema(cases.EXPORTED_FIELDS, object_name=cases.OBJECT_NAME)


def _row(batch: pa.RecordBatch, index: int = 0) -> dict[str, object]:
    return batch.slice(index, 1).to_pylist()[0]


def _small(*specs: FieldSpec) -> tuple[list[FieldSpec], pa.Schema]:
    fields = [FieldSpec("Id", "id"), *specs]
    return fields, arrow_schema(fields, object_name="Thing__c")


# --- the type table ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", cases.EXPORTED_FIELDS, ids=lambda s: f"{s.type}-{s.name}")
def test_given_each_describe_type_when_mapped_then_arrow_type_matches_the_table(spec: FieldSpec) -> None:
    assert str(arrow_type(spec)) == cases.EXPECTED_ARROW_TYPES[spec.name]


def test_given_all_types_describe_then_compound_and_base64_fields_are_the_only_ones_left_out() -> None:
    assert sorted(cases.EXCLUDED_FIELD_NAMES) == ["Body__c", "Mailing__c", "Place__c"]
    assert set(SCHEMA.names) == set(cases.EXPECTED_ARROW_TYPES)


@pytest.mark.parametrize("sf_type", ["address", "location", "base64"])
def test_given_a_not_exported_type_when_mapped_then_it_is_refused(sf_type: str) -> None:
    with pytest.raises(SfbackupError, match="not exported"):
        arrow_type(FieldSpec("X", sf_type))


def test_given_an_unknown_describe_type_then_it_is_kept_as_text() -> None:
    assert arrow_type(FieldSpec("X", "somethingnew")) == pa.string()


def test_given_a_number_without_precision_then_it_is_float64_and_with_precision_decimal() -> None:
    assert arrow_type(FieldSpec("X", "double")) == pa.float64()
    assert arrow_type(FieldSpec("X", "currency", precision=18, scale=2)) == pa.decimal128(18, 2)
    assert arrow_type(FieldSpec("X", "percent", precision=3, scale=0)) == pa.decimal128(3, 0)


def test_given_a_schema_then_the_salesforce_type_and_object_travel_in_its_metadata() -> None:
    assert SCHEMA.field("Tags__c").metadata == {b"sf_type": b"multipicklist"}
    assert SCHEMA.metadata == {b"sfbackup.object": cases.OBJECT_NAME.encode()}


def test_given_a_schema_when_saved_as_json_and_read_back_then_it_is_identical() -> None:
    document = json.loads(json.dumps(schema_to_json(SCHEMA)))
    again = schema_from_json(document, object_name=cases.OBJECT_NAME)
    assert again.equals(SCHEMA, check_metadata=True)


# --- Bulk CSV ------------------------------------------------------------------------------------------


def test_given_the_all_types_row_as_bulk_csv_then_every_value_is_typed_exactly() -> None:
    page = cases.bulk_csv([cases.CSV_VALUES, cases.null_csv_values()])
    batch = batch_from_bulk_csv(page, SCHEMA)
    assert batch.schema.equals(SCHEMA, check_metadata=True)
    assert _row(batch, 0) == cases.EXPECTED_VALUES
    assert _row(batch, 1) == cases.NULL_EXPECTED_VALUES


def test_given_the_all_types_row_as_rest_json_then_every_value_is_typed_exactly() -> None:
    records = [cases.rest_record(cases.REST_VALUES), cases.rest_record(cases.NULL_REST_VALUES)]
    batch = batch_from_rest_records(records, cases.EXPORTED_FIELDS, SCHEMA)
    assert batch.schema.equals(SCHEMA, check_metadata=True)
    assert _row(batch, 0) == cases.EXPECTED_VALUES
    assert _row(batch, 1) == cases.NULL_EXPECTED_VALUES


def test_given_the_same_rows_from_rest_and_bulk_then_the_batches_are_equal() -> None:
    rest = batch_from_rest_records([cases.rest_record(cases.REST_VALUES)], cases.EXPORTED_FIELDS, SCHEMA)
    bulk = batch_from_bulk_csv(cases.bulk_csv([cases.CSV_VALUES]), SCHEMA)
    assert rest.equals(bulk)


def test_given_a_header_only_page_then_the_batch_is_empty_with_the_schema() -> None:
    batch = batch_from_bulk_csv(cases.bulk_csv([]), SCHEMA)
    assert batch.num_rows == 0
    assert batch.schema.equals(SCHEMA)


def test_given_an_empty_page_then_the_batch_is_empty() -> None:
    assert batch_from_bulk_csv(b"", SCHEMA).num_rows == 0


def test_given_a_header_in_another_order_and_case_then_columns_follow_the_schema() -> None:
    _, schema = _small(
        FieldSpec("Amount__c", "currency", precision=18, scale=2), FieldSpec("Name", "string")
    )
    page = b'"name","AMOUNT__C","Id"\n"Acme","10.5","001A"\n'
    batch = batch_from_bulk_csv(page, schema)
    assert batch.schema.names == ["Id", "Amount__c", "Name"]
    assert batch.to_pylist() == [{"Id": "001A", "Amount__c": Decimal("10.50"), "Name": "Acme"}]


def test_given_a_header_that_does_not_match_the_fields_then_conversion_error_names_them() -> None:
    _, schema = _small(FieldSpec("Name", "string"))
    with pytest.raises(ConversionError, match=r"unexpected: \['Other'\].*missing: \['Name'\]"):
        batch_from_bulk_csv(b'"Id","Other"\n"1","x"\n', schema)


def test_given_crlf_line_endings_and_quoted_newlines_then_values_are_kept() -> None:
    page = cases.bulk_csv([cases.CSV_VALUES], line_ending="\r\n")
    batch = batch_from_bulk_csv(page, SCHEMA)
    assert _row(batch)["Notes__c"] == "line one\nline two\r\nline three, with a comma"


def test_given_a_utf8_bom_before_the_header_then_it_is_not_part_of_the_first_column_name() -> None:
    _, schema = _small(FieldSpec("Name", "string"))
    batch = batch_from_bulk_csv(b'\xef\xbb\xbf"Id","Name"\n"1","a"\n', schema)
    assert batch.to_pylist() == [{"Id": "1", "Name": "a"}]


def test_given_a_ragged_csv_page_then_conversion_error_says_it_cannot_be_parsed() -> None:
    _, schema = _small(FieldSpec("Name", "string"))
    with pytest.raises(ConversionError, match="cannot be parsed"):
        batch_from_bulk_csv(b'"Id","Name"\n"1"\n', schema)


def test_given_nul_bytes_in_a_value_then_they_are_kept() -> None:
    _, schema = _small(FieldSpec("Name", "string"))
    batch = batch_from_bulk_csv(b'"Id","Name"\n"1","a\x00b"\n', schema)
    assert batch.column(1).to_pylist() == ["a\x00b"]


def test_given_bytes_that_are_not_utf8_then_conversion_error_names_field_row_and_id() -> None:
    _, schema = _small(FieldSpec("Name", "string"))
    page = b'"Id","Name"\n"001A","ok"\n"001B","caf\xe9"\n'
    with pytest.raises(ConversionError) as caught:
        batch_from_bulk_csv(page, schema)
    message = str(caught.value)
    assert "Thing__c.Name" in message and "row 2" in message and "001B" in message
    assert "not UTF-8" in message
    assert caught.value.details["row"] == 2


def test_given_a_page_larger_than_a_block_then_it_streams_in_batches_equal_to_the_whole() -> None:
    _, schema = _small(FieldSpec("Name", "string"), FieldSpec("N", "int"))
    padding = "x" * 200
    rows = [f'"001{i:015d}","name {i} {padding}","{i}"\n' for i in range(3 * CSV_BLOCK_BYTES // 200)]
    page = ('"Id","Name","N"\n' + "".join(rows)).encode()
    batches = list(batches_from_bulk_csv(io.BytesIO(page), schema))
    assert len(batches) > 2 and all(b.schema.equals(schema) for b in batches)
    whole = pa.Table.from_batches(batches)
    assert whole.num_rows == len(rows)
    assert whole.column("N").to_pylist() == list(range(len(rows)))


def test_given_a_bad_value_in_a_later_block_then_the_error_names_its_row_in_the_page() -> None:
    _, schema = _small(FieldSpec("N", "int"))
    count = 2 * CSV_BLOCK_BYTES // 20
    rows = [f'"001{i:015d}","{i}"\n' for i in range(count)]
    rows[count - 5] = f'"001{count - 5:015d}","five"\n'
    page = ('"Id","N"\n' + "".join(rows)).encode()
    with pytest.raises(ConversionError) as caught:
        list(batches_from_bulk_csv(io.BytesIO(page), schema))
    assert caught.value.details["row"] == count - 4  # 1-based, as the message says
    assert f"001{count - 5:015d}" in str(caught.value)


def test_given_empty_cells_quoted_or_not_then_they_are_null() -> None:
    _, schema = _small(FieldSpec("Name", "string"), FieldSpec("N", "int"))
    batch = batch_from_bulk_csv(b'"Id","Name","N"\n"1","",""\n"2",,\n', schema)
    assert batch.to_pylist() == [{"Id": "1", "Name": None, "N": None}, {"Id": "2", "Name": None, "N": None}]


@pytest.mark.parametrize(
    ("spec", "cell", "problem"),
    [
        (FieldSpec("Amount__c", "currency", precision=18, scale=2), "12.345", "Rescaling"),
        (FieldSpec("Amount__c", "currency", precision=5, scale=2), "12345.6", None),
        (FieldSpec("N", "int"), "1.5", None),
        (FieldSpec("D", "date"), "2024-02-30", None),
        (FieldSpec("B", "boolean"), "yes", None),
        (FieldSpec("W", "datetime"), "yesterday", None),
        (FieldSpec("T", "time"), "25:99", None),
    ],
    ids=lambda v: v.type if isinstance(v, FieldSpec) else None,
)
def test_given_a_value_that_does_not_fit_its_type_then_conversion_error_names_it(
    spec: FieldSpec, cell: str, problem: str | None
) -> None:
    _, schema = _small(spec)
    good = "1" if spec.type in ("int", "currency") else ""
    page = f'"Id","{spec.name}"\n"001A","{good}"\n"001B","{cell}"\n'.encode()
    with pytest.raises(ConversionError, match=problem) as caught:
        batch_from_bulk_csv(page, schema)
    message = str(caught.value)
    assert f"Thing__c.{spec.name}" in message
    assert "row 2" in message and "(Id 001B)" in message
    assert "nothing was changed" in message


def test_given_decimals_in_scientific_notation_then_they_are_exact() -> None:
    _, schema = _small(FieldSpec("Lat", "double", precision=18, scale=15))
    batch = batch_from_bulk_csv(b'"Id","Lat"\n"1","1.5E-7"\n"2","-179.999999999999999"\n', schema)
    assert batch.column(1).to_pylist() == [Decimal("1.5E-7"), Decimal("-179.999999999999999")]


def test_given_far_future_datetimes_then_they_are_kept() -> None:
    _, schema = _small(FieldSpec("W", "datetime"))
    batch = batch_from_bulk_csv(b'"Id","W"\n"1","3156-11-12T13:00:00.000Z"\n', schema)
    assert batch.column(1).to_pylist() == [datetime(3156, 11, 12, 13, 0, tzinfo=UTC)]


@settings(max_examples=60, deadline=None)
@given(
    st.decimals(min_value=Decimal("-9999999999999999.99"), max_value=Decimal("9999999999999999.99"), places=2)
)
def test_given_any_currency_text_then_the_decimal_is_exactly_the_text(value: Decimal) -> None:
    _, schema = _small(FieldSpec("Amount__c", "currency", precision=18, scale=2))
    batch = batch_from_bulk_csv(f'"Id","Amount__c"\n"1","{value}"\n'.encode(), schema)
    assert batch.column(1).to_pylist() == [value]


# --- REST JSON -----------------------------------------------------------------------------------------


def test_given_json_parsed_with_decimal_then_eighteen_digit_currency_is_exact() -> None:
    fields, schema = _small(FieldSpec("Amount__c", "currency", precision=18, scale=2))
    records = json.loads('[{"Id": "1", "Amount__c": 1234567890123456.78}]', parse_float=Decimal)
    batch = batch_from_rest_records(records, fields, schema)
    assert batch.column(1).to_pylist() == [Decimal("1234567890123456.78")]


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=-1e15, max_value=1e15, allow_nan=False).map(lambda f: round(f, 2)))
def test_given_any_json_currency_number_then_the_decimal_is_its_json_text(value: float) -> None:
    fields, schema = _small(FieldSpec("Amount__c", "currency", precision=18, scale=2))
    batch = batch_from_rest_records([{"Id": "1", "Amount__c": value}], fields, schema)
    assert batch.column(1).to_pylist() == [Decimal(repr(value)).quantize(Decimal("0.01"))]


def test_given_integers_beyond_float_precision_in_a_decimal_field_then_they_are_exact() -> None:
    fields, schema = _small(FieldSpec("Amount__c", "currency", precision=18, scale=0))
    batch = batch_from_rest_records(
        [{"Id": "1", "Amount__c": 2**53 + 1}, {"Id": "2", "Amount__c": 0.5e1}], fields, schema
    )
    assert batch.column(1).to_pylist() == [Decimal(2**53 + 1), Decimal(5)]


def test_given_rest_datetimes_with_offsets_or_epoch_ms_then_they_become_utc() -> None:
    fields, schema = _small(FieldSpec("W", "datetime"))
    for value in ("2024-11-07T02:00:00.000-0500", 1730962800000):
        batch = batch_from_rest_records([{"Id": "1", "W": value}], fields, schema)
        assert batch.column(1).to_pylist() == [datetime(2024, 11, 7, 7, 0, tzinfo=UTC)]


def test_given_rest_time_without_zone_then_it_is_read() -> None:
    fields, schema = _small(FieldSpec("T", "time"))
    batch = batch_from_rest_records([{"Id": "1", "T": "08:15:30.250"}], fields, schema)
    assert batch.column(1).to_pylist() == [time(8, 15, 30, 250000)]


def test_given_an_empty_string_from_rest_then_it_stays_an_empty_string() -> None:
    fields, schema = _small(FieldSpec("Name", "string"))
    batch = batch_from_rest_records([{"Id": "1", "Name": ""}], fields, schema)
    assert batch.column(1).to_pylist() == [""]


def test_given_any_type_values_of_other_json_types_then_they_become_text() -> None:
    fields, schema = _small(FieldSpec("Any__c", "anyType"))
    records = [{"Id": str(i), "Any__c": v} for i, v in enumerate([7, 1.5, True, {"x": [1]}, None])]
    batch = batch_from_rest_records(records, fields, schema)
    assert batch.column(1).to_pylist() == ["7", "1.5", "true", '{"x":[1]}', None]


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        (FieldSpec("N", "int"), True),
        (FieldSpec("N", "int"), 1.5),
        (FieldSpec("R", "double"), False),
        (FieldSpec("B", "boolean"), 1),
        (FieldSpec("A", "currency", precision=18, scale=2), 0.125),
        (FieldSpec("D", "date"), "2024-13-01"),
    ],
    ids=lambda v: v.type if isinstance(v, FieldSpec) else None,
)
def test_given_rest_values_of_the_wrong_kind_then_conversion_error_names_row_and_id(
    spec: FieldSpec, value: object
) -> None:
    fields, schema = _small(spec)
    records = [{"Id": "001A", spec.name: None}, {"Id": "001B", spec.name: value}]
    with pytest.raises(ConversionError) as caught:
        batch_from_rest_records(records, fields, schema)
    message = str(caught.value)
    assert f"Thing__c.{spec.name}" in message and "row 2" in message and "001B" in message


def test_given_a_rest_record_without_a_selected_field_then_conversion_error() -> None:
    fields, schema = _small(FieldSpec("Name", "string"))
    with pytest.raises(ConversionError, match="Name"):
        batch_from_rest_records([{"Id": "1", "Name": "a"}, {"Id": "2"}], fields, schema)


def test_given_no_records_then_the_batch_is_empty_with_the_schema() -> None:
    batch = batch_from_rest_records([], cases.EXPORTED_FIELDS, SCHEMA)
    assert batch.num_rows == 0 and batch.schema.equals(SCHEMA)
