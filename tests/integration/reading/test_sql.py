"""`sfbackup sql` and `sfbackup views` offline: live rows per object, `<Object>_all` with the deleted
ones, files indexes, results equal to the Parquet parts; the same views from DuckDB and pandas."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

import duckdb

from sfbackup.inspect.sql import open_views
from tests.integration.reading.conftest import Offline


def test_given_snapshot_offline_when_queried_then_a_join_gives_one_accounts_contacts_as_in_the_parquet(
    offline: Offline, cli: Any
) -> None:
    snapshot = offline.snapshot(offline.second)
    contacts = [r for r in snapshot.read("Contact").to_pylist() if not r["IsDeleted"]]
    account_id = next(r["AccountId"] for r in contacts if r["AccountId"])
    account = next(r for r in snapshot.read("Account").to_pylist() if r["Id"] == account_id)
    expected = sorted(r["Id"] for r in contacts if r["AccountId"] == account_id)
    query = ("SELECT c.Id FROM Contact c JOIN Account a ON c.AccountId = a.Id "
             f"WHERE a.Name = '{account['Name'].replace(chr(39), chr(39) * 2)}' ORDER BY c.Id")  # fmt: skip
    code, out, err = cli("sql", offline.second, "--repo", str(offline.repo), "--output", "csv", query)
    assert code == 0, err
    assert [r["Id"] for r in csv.DictReader(io.StringIO(out))] == expected


def test_given_deleted_records_then_the_object_view_has_live_rows_and_the_all_view_every_row(
    offline: Offline, cli: Any
) -> None:
    table = offline.snapshot(offline.second).read("Opportunity").to_pylist()
    code, out, err = cli("sql", offline.second, "--repo", str(offline.repo), "--output", "json",
                         "SELECT (SELECT count(*) FROM Opportunity) AS live, (SELECT count(*) FROM Opportunity_all) "
                         f"AS every, (SELECT count(*) FROM Opportunity WHERE Id = '{offline.deleted}') AS gone")  # fmt: skip
    assert code == 0, err
    counts = json.loads(out)
    assert counts == {"live": sum(not r["IsDeleted"] for r in table), "every": len(table), "gone": 0}
    code, out, err = cli("sql", offline.second, "--repo", str(offline.repo),
                         "SELECT Name, Amount FROM Opportunity_all WHERE Id = " f"'{offline.deleted}'")  # fmt: skip
    assert code == 0 and "(1 rows)" in out


def test_given_files_index_view_then_a_record_finds_its_files_by_linked_entity(
    offline: Offline, cli: Any
) -> None:
    code, out, err = cli("sql", offline.first, "--repo", str(offline.repo), "--output", "json",
                         f"SELECT Name, sha256 FROM files_ContentVersion WHERE list_contains(LinkedEntityIds, "
                         f"'{offline.account_id}')")  # fmt: skip
    assert code == 0, err
    assert [json.loads(line)["Name"] for line in out.splitlines()] == ["Contract"]


def test_given_views_printed_then_duckdb_and_pandas_read_the_same_rows(offline: Offline, cli: Any) -> None:
    code, out, err = cli("views", offline.first, "--repo", str(offline.repo))
    assert code == 0, err
    connection = duckdb.connect(":memory:")
    connection.execute(out)
    live = connection.execute("SELECT count(*) FROM Account").fetchone()
    snapshot = offline.snapshot()
    assert live is not None and live[0] == sum(
        not r["IsDeleted"] for r in snapshot.read("Account").to_pylist()
    )
    with open_views(snapshot) as views:
        frame = views.sql("SELECT Id, Rate__c FROM Invoice__c ORDER BY Id").df()
    parquet = sorted(
        (r["Id"], r["Rate__c"]) for r in snapshot.read("Invoice__c").to_pylist() if not r["IsDeleted"]
    )
    # pandas holds DuckDB's DECIMAL as float64; the digits are the Parquet's
    assert [
        (i, None if r != r else Decimal(str(r))) for i, r in zip(frame["Id"], frame["Rate__c"], strict=True)
    ] == parquet


def test_given_a_bad_query_then_exit_2_names_the_error_and_the_views(offline: Offline, cli: Any) -> None:
    code, _, err = cli("sql", offline.first, "--repo", str(offline.repo), "SELECT * FROM NoSuchObject")
    assert code == 2 and "NoSuchObject" in err and "_all" in err
