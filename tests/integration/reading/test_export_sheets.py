"""`sfbackup export --to xlsx|csv` on a snapshot read offline: values equal to the Parquet parts,
labels, lookups resolved, picklist labels, time zones, exact decimals, formulas neutralised, split
at the row limit; the xlsx opened back with openpyxl."""

from __future__ import annotations

import csv
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl

from tests.integration.reading.conftest import STAGE_LABEL, Offline


def parquet_rows(offline: Offline, name: str, *, deleted: bool = False) -> dict[str, dict[str, Any]]:
    table = offline.snapshot().read(name)
    return {r["Id"]: r for r in table.to_pylist() if deleted or not r["IsDeleted"]}


def test_given_snapshot_offline_when_exported_to_xlsx_then_values_labels_and_names_match_the_parquet(
    offline: Offline, cli: Any, tmp_path: Path
) -> None:
    code, _, err = cli("export", offline.first, "--repo", str(offline.repo), "--objects", "Opportunity",
                         "--to", "xlsx", "--out", str(tmp_path), "--timezone", "Europe/Berlin")  # fmt: skip
    assert code == 0, err
    opps = parquet_rows(offline, "Opportunity")
    accounts = parquet_rows(offline, "Account", deleted=True)
    users = parquet_rows(offline, "User", deleted=True)
    book = openpyxl.load_workbook(tmp_path / "Opportunity.xlsx", read_only=True)
    rows = list(book["Opportunity"].iter_rows(values_only=True))
    header = list(rows[0])
    assert "Amount (Amount)" in header and "Close Date (CloseDate)" in header
    at = {h: i for i, h in enumerate(header)}
    assert at["Account Name (Account.Name)"] == at["Account (AccountId)"] + 1
    assert (
        len(rows) - 1
        == len(opps)
        == offline.snapshot().manifest.objects["Opportunity"].rows
        - sum(1 for r in offline.snapshot().read("Opportunity").to_pylist() if r["IsDeleted"])
    )
    berlin = ZoneInfo("Europe/Berlin")
    seen_label = False
    for row in rows[1:]:
        record = opps[row[at["Record ID (Id)"]]]
        assert row[at["Name (Name)"]] == record["Name"]
        assert row[at["Account Name (Account.Name)"]] == (
            accounts[record["AccountId"]]["Name"] if record["AccountId"] else None
        )
        assert row[at["Owner Name (Owner.Name)"]] == users[record["OwnerId"]]["Name"]
        created = record["CreatedDate"].astimezone(berlin).replace(tzinfo=None)
        assert row[at["Created Date (CreatedDate) [Europe/Berlin]"]] == created
        if record["Amount"] is not None:
            assert Decimal(str(row[at["Amount (Amount)"]])) == record["Amount"]
        stage = row[at["Stage Name (StageName)"]]
        expected = STAGE_LABEL[1] if record["StageName"] == STAGE_LABEL[0] else record["StageName"]
        assert stage == expected
        seen_label |= stage == STAGE_LABEL[1]
        assert isinstance(row[at["Close Date (CloseDate)"]], datetime)
    assert seen_label, "the org has an Opportunity in the relabelled stage"


def test_given_csv_export_then_decimals_are_exact_formulas_neutralised_and_deleted_rows_only_on_request(
    offline: Offline, cli: Any, tmp_path: Path
) -> None:
    code, _, err = cli("export", offline.first, "--repo", str(offline.repo), "--objects", "Account,Invoice__c",
                       "--to", "csv", "--out", str(tmp_path / "live"))  # fmt: skip
    assert code == 0, err
    raw = (tmp_path / "live" / "Account.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "a byte order mark so Excel reads UTF-8"
    with (tmp_path / "live" / "Account.csv").open(encoding="utf-8-sig", newline="") as handle:
        accounts = list(csv.DictReader(handle))
    names = {r["Name (Name)"] for r in accounts}
    assert '\'=HYPERLINK("http://evil")' in names and '=HYPERLINK("http://evil")' not in names
    assert len(accounts) == len(parquet_rows(offline, "Account"))
    with (tmp_path / "live" / "Invoice__c.csv").open(encoding="utf-8-sig", newline="") as handle:
        invoices = {r["Record ID (Id)"]: r for r in csv.DictReader(handle)}
    rate_header = next(h for h in next(iter(invoices.values())) if h.endswith("(Rate__c)"))
    for record_id, record in parquet_rows(offline, "Invoice__c").items():
        if record["Rate__c"] is not None:
            assert Decimal(invoices[record_id][rate_header]) == record["Rate__c"]
            assert invoices[record_id][rate_header] == format(record["Rate__c"], "f")

    code, _, err = cli("export", offline.second, "--repo", str(offline.repo), "--objects", "Opportunity",
                       "--to", "csv", "--include-deleted", "--out", str(tmp_path / "all"))  # fmt: skip
    assert code == 0, err
    with (tmp_path / "all" / "Opportunity.csv").open(encoding="utf-8-sig", newline="") as handle:
        ids = {r["Record ID (Id)"] for r in csv.DictReader(handle)}
    assert offline.deleted in ids


def test_given_more_rows_than_a_sheet_holds_then_they_continue_on_the_next_sheet_and_file(
    offline: Offline, cli: Any, tmp_path: Path
) -> None:
    expected = len(parquet_rows(offline, "Contact"))
    for fmt in ("xlsx", "csv"):
        code, _, err = cli("export", offline.first, "--repo", str(offline.repo), "--objects", "Contact",
                             "--to", fmt, "--rows-per-sheet", "30", "--out", str(tmp_path / fmt))  # fmt: skip
        assert code == 0, err
    book = openpyxl.load_workbook(tmp_path / "xlsx" / "Contact.xlsx", read_only=True)
    sheets = book.sheetnames
    assert sheets[:2] == ["Contact", "Contact (2)"] and len(sheets) == -(-expected // 30)
    counts = [sum(1 for _ in book[s].iter_rows()) - 1 for s in sheets]
    assert sum(counts) == expected and max(counts) == 30
    files = sorted((tmp_path / "csv").iterdir())
    assert {f.name for f in files} == {"Contact.csv"} | {
        f"Contact-{i}.csv" for i in range(2, len(sheets) + 1)
    }
    total = 0
    for path in files:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            total += sum(1 for _ in csv.DictReader(handle))
    assert total == expected


def test_given_an_unknown_time_zone_or_object_then_the_error_says_what_to_use(
    offline: Offline, cli: Any, tmp_path: Path
) -> None:
    code, _, err = cli("export", "latest", "--repo", str(offline.repo), "--objects", "Opportunity",
                       "--to", "xlsx", "--timezone", "Mars/Olympus", "--out", str(tmp_path))  # fmt: skip
    assert code == 2 and "Mars/Olympus" in err and "Europe/Berlin" in err
    code, _, err = cli("export", "latest", "--repo", str(offline.repo), "--objects", "Opportunityy",
                       "--to", "csv", "--out", str(tmp_path))  # fmt: skip
    assert code == 2 and "Opportunityy" in err and "sfbackup ls" in err
