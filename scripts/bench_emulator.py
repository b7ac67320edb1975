#!/usr/bin/env python3
"""Measure how fast the emulator serves Bulk API 2.0 result pages (and REST query pages).

Starts an emulator on 127.0.0.1 (a free port), runs one Bulk query job on the largest object,
then downloads every result page with requests, plain and gzip'd, and prints MB/s. Example:

    .venv/bin/python scripts/bench_emulator.py --records 20000 --max-records 50000
    .venv/bin/python scripts/bench_emulator.py --records 1000000 --db /tmp/org-1m.db \
        --object Account --rest-order "ORDER BY SystemModstamp ASC"   # REST rows/s by depth too

The REST walk prints rows/s over windows of 10 pages, so a depth-dependent page cost shows up.
"""

from __future__ import annotations

import argparse
import time

import requests

from sfbackup.testing import running_emulator


def _download_all(
    session: requests.Session, url: str, headers: dict[str, str], max_records: int
) -> tuple[int, int]:
    """Every page of a job's results; returns (body bytes on the wire, records)."""
    locator, wire_bytes, records = "", 0, 0
    while True:
        params = {"maxRecords": str(max_records)}
        if locator:
            params["locator"] = locator
        with session.get(url, params=params, headers=headers, stream=True) as response:
            response.raise_for_status()
            for chunk in response.raw.stream(1 << 20, decode_content=False):
                wire_bytes += len(chunk)
            records += int(response.headers["Sforce-NumberOfRecords"])
            locator = response.headers["Sforce-Locator"]
        if locator == "null":
            return wire_bytes, records


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=20000, help="org scale (Accounts)")
    parser.add_argument("--object", default=None, help="object to query (default: the one with most rows)")
    parser.add_argument("--max-records", type=int, default=50000, help="rows per results page")
    parser.add_argument("--rounds", type=int, default=3, help="downloads of the whole result per mode")
    parser.add_argument("--db", default=None, help="org database to reuse (or create)")
    parser.add_argument(
        "--rest-order", default="", help='ORDER BY clause for the REST walk, e.g. "ORDER BY Name"'
    )
    parser.add_argument("--skip-bulk", action="store_true", help="only the REST walk")
    args = parser.parse_args()

    started = time.time()
    with running_emulator(records=args.records, job_latency=0.0, db_path=args.db) as emu:
        print(f"org with records={args.records} built in {time.time() - started:.1f} s")
        session = requests.Session()
        token = emu.access_token()
        base = f"{emu.instance_url}/services/data/v62.0"
        auth = {"Authorization": f"Bearer {token}"}
        name = args.object or max(emu.org.record_counts(None), key=lambda row: row["count"])["name"]
        fields = [
            f["name"]
            for f in emu.org.describe(name)["fields"]
            if f["type"] not in ("address", "location", "base64")
        ]
        soql = f"SELECT {', '.join(fields)} FROM {name}"
        if not args.skip_bulk:
            _bulk(session, base, auth, soql, name, len(fields), args)
        _rest_walk(session, emu.instance_url, base, auth, f"{soql} {args.rest_order}".strip())


def _bulk(
    session: requests.Session,
    base: str,
    auth: dict[str, str],
    soql: str,
    name: str,
    columns: int,
    args: argparse.Namespace,
) -> None:
    """One Bulk 2.0 job: time to JobComplete (the render), then every page, plain and gzip'd."""
    t0 = time.time()
    job = session.post(f"{base}/jobs/query", json={"operation": "query", "query": soql}, headers=auth).json()
    while job["state"] not in ("JobComplete", "Failed", "Aborted"):
        time.sleep(0.05)
        job = session.get(f"{base}/jobs/query/{job['id']}", headers=auth).json()
    print(
        f"{name}: {job['numberRecordsProcessed']} rows rendered in {time.time() - t0:.2f} s "
        f"({columns} columns)"
    )
    url = f"{base}/jobs/query/{job['id']}/results"
    csv_bytes = 0
    for label, encoding in (("plain", "identity"), ("gzip", "gzip")):
        headers = {**auth, "Accept-Encoding": encoding}
        for round_number in range(1, args.rounds + 1):
            t1 = time.time()
            size, rows = _download_all(session, url, headers, args.max_records)
            seconds = max(time.time() - t1, 1e-9)
            csv_bytes = csv_bytes or size
            print(
                f"bulk results {label:5} round {round_number}: {size / 1e6:8.1f} MB, {rows} rows, "
                f"{seconds:6.3f} s, {size / 1e6 / seconds:8.1f} MB/s on the wire, "
                f"{csv_bytes / 1e6 / seconds:8.1f} MB/s of CSV"
            )
    print("(gzip pages: pre-compressed blocks by sendfile; only partial edge blocks compressed live)")


def _rest_walk(
    session: requests.Session, instance_url: str, base: str, auth: dict[str, str], soql: str
) -> None:
    """Page through the REST query, printing rows/s per window of 10 pages (with their depth)."""
    started = window_start = time.time()
    pages, rows, window_rows = 0, 0, 0
    response = session.get(f"{base}/query", params={"q": soql}, headers=auth).json()
    while True:
        pages, rows, window_rows = (
            pages + 1,
            rows + len(response["records"]),
            window_rows + len(response["records"]),
        )
        if pages % 10 == 0 or response["done"]:
            seconds = max(time.time() - window_start, 1e-9)
            print(f"REST pages up to {pages:4} (depth {rows:>9,}): {window_rows / seconds:9,.0f} rows/s")
            window_start, window_rows = time.time(), 0
        if response["done"]:
            break
        response = session.get(instance_url + response["nextRecordsUrl"], headers=auth).json()
    seconds = time.time() - started
    print(
        f"REST query: {rows} rows in {pages} pages, {seconds:.2f} s, {rows / seconds:,.0f} rows/s "
        f"(...{soql[-40:]})"
    )


if __name__ == "__main__":
    main()
