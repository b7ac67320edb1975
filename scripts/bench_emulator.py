#!/usr/bin/env python3
"""Measure how fast the emulator serves Bulk API 2.0 result pages (and REST query pages).

Starts an emulator on 127.0.0.1 (a free port), runs one Bulk query job on the largest object,
then downloads every result page with requests, plain and gzip'd, and prints MB/s. Example:

    .venv/bin/python scripts/bench_emulator.py --records 20000 --max-records 50000
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
    args = parser.parse_args()

    started = time.time()
    with running_emulator(records=args.records, job_latency=0.0) as emu:
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
        t0 = time.time()
        job = session.post(
            f"{base}/jobs/query", json={"operation": "query", "query": soql}, headers=auth
        ).json()
        while job["state"] not in ("JobComplete", "Failed", "Aborted"):
            time.sleep(0.05)
            job = session.get(f"{base}/jobs/query/{job['id']}", headers=auth).json()
        print(
            f"{name}: {job['numberRecordsProcessed']} rows rendered in {time.time() - t0:.2f} s "
            f"({len(fields)} columns)"
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
        t2 = time.time()
        pages, rows = 0, 0
        response = session.get(f"{base}/query", params={"q": soql}, headers=auth).json()
        while True:
            pages, rows = pages + 1, rows + len(response["records"])
            if response["done"]:
                break
            response = session.get(emu.instance_url + response["nextRecordsUrl"], headers=auth).json()
        seconds = time.time() - t2
        print(f"REST query: {rows} rows in {pages} pages, {seconds:.2f} s, {rows / seconds:,.0f} rows/s")


if __name__ == "__main__":
    main()
