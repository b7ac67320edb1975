"""The emulator's fast paths give exactly what the straightforward ones gave: Bulk CSV rendered by
SQLite (byte for byte `csv.writer(QUOTE_ALL)`), row offsets without re-reading the file, the
two-halves render, and keyset REST paging (the same pages as OFFSET paging)."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sfbackup.emulator.http.routes_bulk import BlockCompressor, compress_blocks, index_rows
from sfbackup.emulator.org import store as org_module
from sfbackup.emulator.org.store import Cursor, EmulatedOrg, OrgConfig, datagen

AWKWARD_REALS = [
    1e15,
    1e-5,
    -0.0,
    0.0,
    0.1 + 0.2,
    100000000000000.5,
    123456.78,
    5e-324,
    1.7976931348623157e308,
    -2.5,
    1e16,
    0.0001,
    999999999999999.9,
]


@pytest.fixture(scope="module")
def org() -> Iterator[EmulatedOrg]:
    emulated = EmulatedOrg(OrgConfig(records=60, seed=3, large_file_bytes=1000))
    for i, value in enumerate(AWKWARD_REALS):
        emulated.create(
            "Invoice__c", {"Name": f"REAL-{i}", "Amount__c": value, "Rate__c": value, "Notes__c": 'x"\n"y'}
        )
    for name in ("acme", "ACME", "Acme", None):
        emulated.create("Account", {"Name": name or "nameless", "Industry": name})
    yield emulated
    emulated.close()


def csv_writer_oracle(cursor: Cursor, delimiter: str, line_ending: str) -> bytes:
    """What the emulator wrote before SQLite formatted the lines: csv.writer over fetched rows."""
    plan = cursor._plan
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, quoting=csv.QUOTE_ALL, lineterminator=line_ending)
    writer.writerow(plan.csv_header)
    if not cursor.is_count and plan.csv_cols:
        sql = f"SELECT {', '.join(plan.csv_cols)}{plan.from_sql}{plan.where_sql}{plan.order_sql}"
        if plan.limit is not None or plan.offset:
            sql += f" LIMIT {plan.limit if plan.limit is not None else -1} OFFSET {plan.offset}"
        writer.writerows(cursor._org._fetchall(sql, plan.params))
    return buffer.getvalue().encode("utf-8")


def all_fields(org: EmulatedOrg, name: str) -> list[str]:
    """The fields a Bulk query may select (not compound fields, not file bodies)."""
    excluded = ("address", "location", "base64")
    return [f["name"] for f in org.describe(name)["fields"] if f["type"] not in excluded]


def rendered(org: EmulatedOrg, soql: str, **kw: Any) -> tuple[bytes, Any, Cursor]:
    cursor = org.query(soql, include_deleted=True, api="bulk")
    out = io.BytesIO()
    bounds = cursor.render_csv(out, **kw)
    return out.getvalue(), bounds, org.query(soql, include_deleted=True, api="bulk")


def test_given_every_queryable_object_when_rendered_then_bytes_and_row_ends_match_csv_writer(
    org: EmulatedOrg, tmp_path: Path
) -> None:
    names = [o["name"] for o in org.describe_global()["sobjects"] if o["queryable"]]
    checked = 0
    for name in names:
        soql = f"SELECT {', '.join(all_fields(org, name))} FROM {name}"
        try:
            org.query(soql, include_deleted=True, api="bulk")
        except org_module.OrgError:
            continue  # objects Salesforce refuses to query without a filter
        for delimiter, line_ending in ((",", "\n"), ("\t", "\r\n"), ("|", "\n")):
            data, bounds, oracle_cursor = rendered(org, soql, delimiter=delimiter, line_ending=line_ending)
            assert data == csv_writer_oracle(oracle_cursor, delimiter, line_ending), name
            path = tmp_path / "result.csv"
            path.write_bytes(data)
            assert np.array_equal(bounds, index_rows(str(path))), name
        checked += 1
    assert checked >= 15


def test_given_reals_python_and_sqlite_print_differently_when_rendered_then_python_repr_is_used(
    org: EmulatedOrg,
) -> None:
    soql = "SELECT Name, Amount__c, Rate__c FROM Invoice__c WHERE Name LIKE 'REAL-%'"
    data, _, oracle_cursor = rendered(org, soql)
    assert data == csv_writer_oracle(oracle_cursor, ",", "\n")
    for text in (
        "1000000000000000.0",
        "1e-05",
        "100000000000000.5",
        "0.30000000000000004",
        "5e-324",
        "1e+16",
        "0.0001",
    ):
        assert f'"{text}","{text}"'.encode() in data


def test_given_more_than_a_hundred_columns_when_rendered_then_the_printf_calls_join_seamlessly(
    org: EmulatedOrg,
) -> None:
    fields = all_fields(org, "Contact") + [f"Account.{f}" for f in all_fields(org, "Account")]
    for relation in ("Owner", "CreatedBy", "LastModifiedBy", "Account.Owner"):
        fields += [f"{relation}.{f}" for f in all_fields(org, "User")]
    assert len(fields) > 150
    soql = f"SELECT {', '.join(fields)} FROM Contact ORDER BY LastName LIMIT 50"
    data, bounds, oracle_cursor = rendered(org, soql)
    assert data == csv_writer_oracle(oracle_cursor, ",", "\n")
    assert len(bounds) == 51


def test_given_a_big_result_when_rendered_in_two_halves_then_bytes_are_those_of_one_pass(
    org: EmulatedOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    soql = f"SELECT {', '.join(all_fields(org, 'Contact'))} FROM Contact WHERE LastName != 'Smith'"
    whole, whole_bounds, _ = rendered(org, soql)
    monkeypatch.setattr(org_module, "_SPLIT_ROWS", 10)
    cursor = org.query(soql, include_deleted=True, api="bulk")
    assert cursor._split_rowid() is not None
    halves, halves_bounds, _ = rendered(org, soql)
    assert halves == whole
    assert np.array_equal(halves_bounds, whole_bounds)


ORDERS = [
    "",
    "ORDER BY Industry",
    "ORDER BY Industry DESC",
    "ORDER BY Industry NULLS LAST",
    "ORDER BY Industry DESC NULLS FIRST",
    "ORDER BY Name DESC, Rating NULLS LAST, CreatedDate",
    "ORDER BY SystemModstamp ASC",
    "ORDER BY NumberOfEmployees DESC NULLS LAST, Name",
]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("include_deleted", [False, True])
def test_given_a_sequential_rest_read_when_paged_by_sort_key_then_pages_equal_offset_pages(
    org: EmulatedOrg, order: str, include_deleted: bool
) -> None:
    soql = f"SELECT Id, Name, Industry, Rating, NumberOfEmployees FROM Account {order}"
    sequential = org.query(soql, include_deleted=include_deleted, api="rest")
    offset, pages, expected = 0, [], []
    while offset < sequential.total_size:
        pages.append(sequential.rest_records(offset, 7))
        fresh = org.query(soql, include_deleted=include_deleted, api="rest")
        expected.append(fresh.rest_records(offset, 7))  # a fresh cursor skips rows with OFFSET
        offset += len(pages[-1])
    assert pages == expected
    assert sum(map(len, pages)) == sequential.total_size > 60


def test_given_a_related_sort_key_and_limit_offset_when_paged_then_pages_equal_offset_pages(
    org: EmulatedOrg,
) -> None:
    soql = "SELECT Id, LastName, Account.Name FROM Contact ORDER BY Account.Name DESC, LastName LIMIT 70 OFFSET 9"
    sequential = org.query(soql, include_deleted=False, api="rest")
    got = [r for start in range(0, 70, 20) for r in sequential.rest_records(start, 20)]
    assert got == org.query(soql, include_deleted=False, api="rest").rest_records(0, 100)
    assert len(got) == 70


def test_given_more_accounts_than_the_derived_cap_when_generated_then_only_accounts_keep_growing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(datagen, "DERIVED_CAP", 40)
    capped = EmulatedOrg(OrgConfig(records=100, seed=4, large_file_bytes=100))
    try:
        counts = {row["name"]: row["count"] for row in capped.record_counts(None)}
        every = {
            name: capped.query(f"SELECT COUNT() FROM {name}", include_deleted=True, api="rest").total_size
            for name in ("Account", "Contact", "Opportunity", "Lead", "Invoice__c", "Attachment")
        }
        assert every == {
            "Account": 100,
            "Contact": 80,
            "Opportunity": 40,
            "Lead": 40,
            "Invoice__c": 40,
            "Attachment": 4,
        }
        assert counts["Account"] < 100  # some are in the recycle bin, as ever
        assert '"derived_cap": 40' in capped.config.data_key()
        assert "derived_cap" not in OrgConfig(records=40).data_key()
        picked = capped.query("SELECT AccountId FROM Contact", include_deleted=True, api="rest")
        account_ids = {r["AccountId"] for r in picked.rest_records(0, 1000)}
        ids = capped.query("SELECT Id FROM Account ORDER BY Id", include_deleted=True, api="rest")
        later = {r["Id"] for r in ids.rest_records(40, 100)}
        assert account_ids & later  # derived records still point at any Account, not just the first
    finally:
        capped.close()


@pytest.mark.parametrize("split_rows", [10, 10**9])
def test_given_rows_compressed_while_rendered_when_members_are_read_then_each_holds_its_block_of_rows(
    org: EmulatedOrg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, split_rows: int
) -> None:
    monkeypatch.setattr(org_module, "_SPLIT_ROWS", split_rows)
    soql = f"SELECT {', '.join(all_fields(org, 'Invoice__c'))} FROM Invoice__c"
    path = tmp_path / "result.csv"
    compressor = BlockCompressor(str(tmp_path / "result.csv.gz"), 7)
    with open(path, "wb") as out:
        bounds = org.query(soql, include_deleted=True, api="bulk").render_csv(out, on_rows=compressor.feed)
    data = path.read_bytes()
    blocks = compressor.finish(data[: int(bounds[0])])
    packed = (tmp_path / "result.csv.gz").read_bytes()
    rows = len(bounds) - 1
    assert len(blocks.offsets) - 1 == -(-rows // 7) and int(blocks.offsets[-1]) == len(packed)
    for k in range(len(blocks.offsets) - 1):
        member = packed[int(blocks.offsets[k]) : int(blocks.offsets[k + 1])]
        first, last = k * 7, min(k * 7 + 7, rows)
        assert gzip.decompress(member) == data[int(bounds[first]) : int(bounds[last])]
    assert gzip.decompress(blocks.header) == data[: int(bounds[0])]
    again = compress_blocks(str(path), bounds, 7)  # the same blocks from the finished file
    assert np.array_equal(again.offsets, blocks.offsets)
