"""The row count that checks every Bulk results page against Sforce-NumberOfRecords."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from sfbackup.salesforce.query_bulk import count_csv_records

cells = st.text(alphabet=st.sampled_from(list('ab,"\n é😀')), max_size=12)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.lists(cells, min_size=2, max_size=2), max_size=30), quote_all=st.booleans())
def test_given_any_csv_page_then_count_equals_the_rows_a_csv_reader_sees(
    rows: list[list[str]], quote_all: bool
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    writer.writerow(["Id", "Name"])
    writer.writerows(rows)
    page = out.getvalue().encode()
    assert count_csv_records(page) == len(list(csv.reader(io.StringIO(out.getvalue())))) - 1


def test_given_over_256_quotes_before_a_newline_then_parity_still_holds() -> None:
    value = '""' * 200  # 400 quote characters inside one quoted value
    page = f'"Id","Name"\n"1","{value}"\n"2","x\ny"\n'.encode()
    assert count_csv_records(page) == 2


def test_given_a_page_larger_than_one_counting_block_then_quotes_carry_across_blocks() -> None:
    filler = '"001","plain"\n' * 300_000  # about 4.2 MB: crosses the first 4 MiB block
    text = '"Id","Name"\n' + filler + '"002","a\n' + "x\n" * 1000 + 'b"\n'
    assert count_csv_records(text.encode()) == len(list(csv.reader(io.StringIO(text)))) - 1
