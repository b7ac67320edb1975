#!/usr/bin/env python3
"""The contenders `scripts/bench.py` measures `sfbackup run` against, one process each.

    python scripts/bench_baselines.py fetch        --instance-url URL --out DIR
    python scripts/bench_baselines.py limit        --instance-url URL --out DIR
    python scripts/bench_baselines.py sf-query-all --instance-url URL --out DIR
    python scripts/bench_baselines.py sf-bulk2     --instance-url URL --out DIR
    python scripts/bench_baselines.py profile-ours --instance-url URL --out DIR
    python scripts/bench_baselines.py airbyte|tap-rest|tap-bulk|sf-cli --instance-url URL --out DIR \
        [--peers-dir /tmp/sfbackup-peers] [--sf PATH]

- ``fetch``: one Bulk API 2.0 ``queryAll`` job on Account with plain `requests`; every result page
  (``maxRecords=50000``, ``Sforce-Locator`` until ``null``) is read into memory and dropped.
- ``limit``: the same, and each page is parsed with ``pyarrow.csv`` (column types from the describe)
  and written as a row group of one zstd Parquet file. No sfbackup code: the floor for "Bulk CSV
  to typed Parquet" in Python on this machine.
- ``sf-query-all``: the script people write with simple-salesforce: REST ``query_all`` ->
  ``pandas.DataFrame`` -> ``to_parquet``.
- ``sf-bulk2``: simple-salesforce ``bulk2.Account.download`` into CSV files ->
  ``pandas.read_csv`` -> ``concat`` -> ``to_parquet``.
- ``airbyte``, ``tap-rest``, ``tap-bulk``, ``sf-cli``: tools people install, unchanged, from
  ``--peers-dir`` (installed there by ``scripts/peers_check.sh --with-python-peers``), each run
  as a child process of this one (its CPU and peak RSS reach ``os.wait4`` of this process):
  airbyte-source-salesforce ``discover`` + ``read`` (Account, full refresh, JSON lines on stdout),
  tap-salesforce ``--discover`` + sync in REST or BULK (Bulk API 1.0) mode, and the Salesforce CLI's
  ``sf org login access-token`` + ``sf data export bulk`` (CSV file). The Python connectors reach
  the emulator through ``scripts/peers_pyshim`` (their login URL is hard-coded); rows are the
  RECORD messages (or the CLI's ``totalSize``) they produced.
- ``profile-ours``: `sfbackup run` in-process under a small sampling profiler (all threads);
  prints where the time goes instead of a result line.

Every object is Account, every query selects the fields `sfbackup run` selects (all but compound
address/location and base64 fields). Credentials come from the environment, never from argv:
``SF_ACCESS_TOKEN`` (fetch, limit) or ``SF_USERNAME`` / ``SF_PASSWORD`` / ``SF_SECURITY_TOKEN``
(the simple-salesforce scripts log in like a user would). Each contender prints one JSON line:
``{"rows": N, "csv_bytes": N or null, "seconds": {phase: s}}``.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

API_VERSION = "62.0"
OBJECT = "Account"
PAGE_RECORDS = 50_000
#: The first poll of the simple-salesforce scripts (its own default is 5 s before the first poll;
#: we give it the same head start as our client so the job latency counts the same for everyone).
SF_FIRST_POLL_SECONDS = 0.2
_SKIPPED_TYPES = ("address", "location", "base64")

Result = dict[str, Any]


def exportable_fields(describe: dict[str, Any]) -> list[dict[str, Any]]:
    """The describe's fields `sfbackup run` exports (compound and base64 fields left out)."""
    return [f for f in describe["fields"] if f["type"] not in _SKIPPED_TYPES]


def select_all(fields: list[dict[str, Any]]) -> str:
    return f"SELECT {', '.join(f['name'] for f in fields)} FROM {OBJECT}"


# -- plain requests: the physical limit ---------------------------------------------------------


def _session(instance_url: str) -> tuple[requests.Session, str]:
    """A requests session with the bearer token, and the REST base URL."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {os.environ['SF_ACCESS_TOKEN']}"
    return session, f"{instance_url.rstrip('/')}/services/data/v{API_VERSION}"


def _describe(session: requests.Session, base: str) -> list[dict[str, Any]]:
    response = session.get(f"{base}/sobjects/{OBJECT}/describe")
    response.raise_for_status()
    return exportable_fields(response.json())


def _bulk_pages(
    session: requests.Session, base: str, fields: list[dict[str, Any]], on_page: Callable[[bytes], None]
) -> Result:
    """Run one Bulk 2.0 queryAll job over `fields`; hand each result page's bytes to on_page."""
    started = time.perf_counter()
    response = session.post(
        f"{base}/jobs/query",
        json={"operation": "queryAll", "query": select_all(fields), "contentType": "CSV",
              "columnDelimiter": "COMMA", "lineEnding": "LF"},
    )
    response.raise_for_status()
    job_id = response.json()["id"]
    delay = 0.2
    while True:
        time.sleep(delay)
        response = session.get(f"{base}/jobs/query/{job_id}")
        response.raise_for_status()
        state = response.json()["state"]
        if state == "JobComplete":
            break
        if state in ("Failed", "Aborted"):
            raise RuntimeError(f"Bulk job {job_id} ended {state}: {response.json()}")
        delay = min(delay * 1.5, 5.0)
    waited = time.perf_counter()
    rows = csv_bytes = 0
    locator = ""
    while locator != "null":
        params = {"maxRecords": str(PAGE_RECORDS)}
        if locator:
            params["locator"] = locator
        response = session.get(f"{base}/jobs/query/{job_id}/results", params=params)
        response.raise_for_status()
        body = response.content
        csv_bytes += len(body)
        rows += int(response.headers["Sforce-NumberOfRecords"])
        locator = response.headers["Sforce-Locator"]
        on_page(body)
    session.delete(f"{base}/jobs/query/{job_id}")
    done = time.perf_counter()
    return {"rows": rows, "csv_bytes": csv_bytes,
            "seconds": {"until_job_complete": waited - started, "pages": done - waited}}


def run_fetch(args: argparse.Namespace) -> Result:
    session, base = _session(args.instance_url)
    return _bulk_pages(session, base, _describe(session, base), lambda page: None)


def run_limit(args: argparse.Namespace) -> Result:
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    def arrow_type(field: dict[str, Any]) -> pa.DataType:
        kind = field["type"]
        if kind == "boolean":
            return pa.bool_()
        if kind in ("int", "long"):
            return pa.int64()
        if kind in ("double", "currency", "percent"):
            return pa.float64()
        if kind == "date":
            return pa.date32()
        if kind == "datetime":
            return pa.timestamp("ms", tz="UTC")
        return pa.string()

    session, base = _session(args.instance_url)
    fields = _describe(session, base)
    schema = pa.schema([(f["name"], arrow_type(f)) for f in fields])
    convert = pa_csv.ConvertOptions(column_types=dict(zip(schema.names, schema.types, strict=True)),
                                    null_values=[""], strings_can_be_null=True,
                                    quoted_strings_can_be_null=True, true_values=["true"],
                                    false_values=["false"])
    parse = pa_csv.ParseOptions(newlines_in_values=True)
    read = pa_csv.ReadOptions(block_size=4 << 20)
    writer = pq.ParquetWriter(Path(args.out) / f"{OBJECT}.parquet", schema, compression="zstd")
    parse_seconds = [0.0]

    def on_page(page: bytes) -> None:
        started = time.perf_counter()
        table = pa_csv.read_csv(pa.py_buffer(page), read_options=read, parse_options=parse,
                                convert_options=convert)
        writer.write_table(table.select(schema.names).cast(schema), row_group_size=max(table.num_rows, 1))
        parse_seconds[0] += time.perf_counter() - started

    result = _bulk_pages(session, base, fields, on_page)
    writer.close()
    result["seconds"]["parse_and_write"] = parse_seconds[0]
    return result


# -- what users write with simple-salesforce ----------------------------------------------------


def _simple_salesforce(instance_url: str) -> Any:
    from simple_salesforce.api import Salesforce

    from sfbackup.salesforce.transport import rewriting_session

    return Salesforce(
        username=os.environ["SF_USERNAME"],
        password=os.environ["SF_PASSWORD"],
        security_token=os.environ["SF_SECURITY_TOKEN"],
        session=rewriting_session(instance_url),
        version=API_VERSION,
    )


def run_sf_query_all(args: argparse.Namespace) -> Result:
    import pandas as pd

    started = time.perf_counter()
    sf = _simple_salesforce(args.instance_url)
    soql = select_all(exportable_fields(sf.Account.describe()))
    records = sf.query_all(soql, include_deleted=True)["records"]
    fetched = time.perf_counter()
    frame = pd.DataFrame(records).drop(columns="attributes")
    frame.to_parquet(Path(args.out) / f"{OBJECT}.parquet")
    done = time.perf_counter()
    return {"rows": len(frame), "csv_bytes": None,
            "seconds": {"login_and_fetch": fetched - started, "pandas_and_write": done - fetched}}


def run_sf_bulk2(args: argparse.Namespace) -> Result:
    import pandas as pd

    started = time.perf_counter()
    sf = _simple_salesforce(args.instance_url)
    soql = select_all(exportable_fields(sf.Account.describe()))
    csv_dir = Path(args.out) / "csv"
    csv_dir.mkdir()
    results = sf.bulk2.Account.download(soql, path=str(csv_dir), max_records=PAGE_RECORDS,
                                        wait=SF_FIRST_POLL_SECONDS)
    fetched = time.perf_counter()
    frame = pd.concat([pd.read_csv(r["file"], low_memory=False) for r in results], ignore_index=True)
    frame.to_parquet(Path(args.out) / f"{OBJECT}.parquet")
    done = time.perf_counter()
    csv_bytes = sum(os.path.getsize(path) for path in glob.glob(str(csv_dir / "*.csv")))
    return {"rows": len(frame), "csv_bytes": csv_bytes,
            "seconds": {"login_and_download": fetched - started, "pandas_and_write": done - fetched}}


# -- tools people install (airbyte, tap-salesforce, the Salesforce CLI), unchanged ---------------

DEFAULT_PEERS_DIR = os.environ.get("PEERS_DIR", "/tmp/sfbackup-peers")
#: What each installed tool needs under --peers-dir (scripts/bench.py skips a tool without it).
PEER_EXECUTABLES = {
    "airbyte": "venv-airbyte/bin/source-salesforce",
    "tap-rest": "venv-tap/bin/tap-salesforce",
    "tap-bulk": "venv-tap/bin/tap-salesforce",
    "sf-cli": "node/node_modules/.bin/sf",
}
PEERS_PYSHIM = Path(__file__).resolve().parent / "peers_pyshim"


def _peer(args: argparse.Namespace, contender: str) -> str:
    exe = Path(args.peers_dir) / PEER_EXECUTABLES[contender]
    if not exe.exists():
        raise SystemExit(f"{contender}: {exe} is missing; install it with "
                         "scripts/peers_check.sh --with-python-peers")
    return str(exe)


def _connector_env(instance_url: str) -> dict[str, str]:
    """requests-based connectors: login.salesforce.com redirected to the emulator by the shim."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DEPLOYMENT_MODE")}
    env.update(SF_LOCAL_URL=instance_url, PYTHONPATH=str(PEERS_PYSHIM))
    return env


def _connector_config() -> dict[str, Any]:
    return {"client_id": os.environ["BENCH_SF_CLIENT_ID"],
            "client_secret": os.environ["BENCH_SF_CLIENT_SECRET"],
            "refresh_token": os.environ["BENCH_SF_REFRESH_TOKEN"],
            "start_date": "2000-01-01T00:00:00Z", "is_sandbox": False}


def _run_tool(command: list[str], stdout_path: Path, env: dict[str, str]) -> None:
    """One step of a tool; its stdout to a file (that is its output), its stderr to ours."""
    with open(stdout_path, "wb") as stdout:
        done = subprocess.run(command, stdout=stdout, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{Path(command[0]).name} {command[1]} exited {done.returncode}")


def _count_records(path: Path) -> int:
    """RECORD messages in a Singer/Airbyte JSON-lines file (only Account is selected)."""
    count = 0
    with open(path, "rb") as lines:
        for line in lines:
            if b'"RECORD"' in line[:40]:
                count += 1
    return count


def run_airbyte(args: argparse.Namespace) -> Result:
    exe, out = _peer(args, "airbyte"), Path(args.out)
    env = _connector_env(args.instance_url)
    config = out / "config.json"
    config.write_text(json.dumps({**_connector_config(), "force_use_bulk_api": False}))
    started = time.perf_counter()
    _run_tool([exe, "discover", "--config", str(config)], out / "discover.jsonl", env)
    catalog = next(json.loads(line)["catalog"] for line in (out / "discover.jsonl").read_text().splitlines()
                   if line.startswith('{"type":"CATALOG"'))
    streams = [{"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
               for s in catalog["streams"] if s["name"] == OBJECT]
    (out / "catalog.json").write_text(json.dumps({"streams": streams}))
    discovered = time.perf_counter()
    _run_tool([exe, "read", "--config", str(config), "--catalog", str(out / "catalog.json")],
              out / "read.jsonl", env)
    read = time.perf_counter()
    rows = _count_records(out / "read.jsonl")
    return {"rows": rows, "csv_bytes": None, "seconds": {
        "discover": discovered - started, "read": read - discovered, "count": time.perf_counter() - read}}


def _run_tap(args: argparse.Namespace, contender: str, api_type: str) -> Result:
    exe, out = _peer(args, contender), Path(args.out)
    env = _connector_env(args.instance_url)
    config = out / "config.json"
    config.write_text(json.dumps({**_connector_config(), "api_type": api_type,
                                  "select_fields_by_default": True}))
    started = time.perf_counter()
    _run_tool([exe, "--config", str(config), "--discover"], out / "catalog.json", env)
    catalog = json.loads((out / "catalog.json").read_text())
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["stream"] == OBJECT
    (out / "properties.json").write_text(json.dumps(catalog))
    discovered = time.perf_counter()
    _run_tool([exe, "--config", str(config), "--properties", str(out / "properties.json")],
              out / "sync.jsonl", env)
    synced = time.perf_counter()
    rows = _count_records(out / "sync.jsonl")
    return {"rows": rows, "csv_bytes": None, "seconds": {
        "discover": discovered - started, "sync": synced - discovered, "count": time.perf_counter() - synced}}


def run_tap_rest(args: argparse.Namespace) -> Result:
    return _run_tap(args, "tap-rest", "REST")


def run_tap_bulk(args: argparse.Namespace) -> Result:
    return _run_tap(args, "tap-bulk", "BULK")


def run_sf_cli(args: argparse.Namespace) -> Result:
    """`sf org login access-token` then `sf data export bulk --all-rows` (queryAll, like the others)
    of the same SOQL, into one CSV."""
    exe, out = (args.sf or _peer(args, "sf-cli")), Path(args.out)
    started = time.perf_counter()
    session, base = _session(args.instance_url)
    soql = select_all(_describe(session, base))
    described = time.perf_counter()
    home = out / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SF_")}
    env.update(HOME=str(home), PATH=f"{Path(exe).parent}{os.pathsep}{env.get('PATH', '')}",
               SF_DISABLE_TELEMETRY="true", SF_AUTOUPDATE_DISABLE="true", SF_DISABLE_AUTOUPDATE="true",
               SF_SKIP_NEW_VERSION_CHECK="true", SF_HIDE_RELEASE_NOTES="true",
               SF_USE_GENERIC_UNIX_KEYCHAIN="true", SF_DISABLE_LOG_FILE="true")
    login_env = {**env, "SF_ACCESS_TOKEN": os.environ["SF_ACCESS_TOKEN"]}
    _run_tool([exe, "org", "login", "access-token", "--instance-url", args.instance_url, "--no-prompt",
               "--alias", "bench", "--json"], home / "login.json", login_env)
    logged_in = time.perf_counter()
    csv_path = out / f"{OBJECT}.csv"
    _run_tool([exe, "data", "export", "bulk", "--query", soql, "--output-file", str(csv_path),
               "--result-format", "csv", "--all-rows", "--wait", "60", "--target-org", "bench",
               "--json"],
              home / "export.json", env)
    exported = time.perf_counter()
    result = json.loads((home / "export.json").read_text())["result"]
    # A nightly job logs in once and keeps the auth file: `export` alone is the CLI's bulk export.
    return {"rows": int(result["totalSize"]), "csv_bytes": csv_path.stat().st_size, "seconds": {
        "describe": described - started, "login": logged_in - described, "export": exported - logged_in}}


# -- where `sfbackup run` spends its time --------------------------------------------------------


def run_profile_ours(args: argparse.Namespace) -> Result:
    """`sfbackup run` in this process; every thread's stack sampled every 5 ms of wall time.

    A thread parked in a pool or a join is idle and not counted; a thread sleeping between job
    polls or blocked on a socket is counted (that is where wall time goes, too).
    """
    from sfbackup.cli import main

    inclusive: collections.Counter[str] = collections.Counter()
    innermost: collections.Counter[str] = collections.Counter()
    ticks = [0]
    stop = threading.Event()

    def sampler() -> None:
        me = threading.get_ident()
        while not stop.wait(0.005):
            ticks[0] += 1
            for ident, frame in sys._current_frames().items():
                stack = traceback.extract_stack(frame)
                if ident == me or not stack or stack[-1].filename.endswith(_IDLE_FILES):
                    continue
                innermost[_where(stack[-1])] += 1
                for where in {_where(entry) for entry in stack if "sfbackup" in entry.filename}:
                    inclusive[where] += 1

    thread = threading.Thread(target=sampler, daemon=True)
    started = time.perf_counter()
    thread.start()
    code = main(["run", "--repo", str(Path(args.out) / "repo"), "--instance-url", args.instance_url,
                 "--objects", OBJECT, "--no-files", "--no-verify", "--json"])
    stop.set()
    thread.join()
    wall = time.perf_counter() - started
    tick = wall / max(ticks[0], 1)
    print(f"\nsfbackup run in-process: exit {code}, {wall:.2f} s wall, {ticks[0]} ticks of "
          f"{1000 * tick:.1f} ms; seconds = samples x tick, summed over non-idle threads",
          file=sys.stderr)
    print("\ninnermost frame (self):", file=sys.stderr)
    for where, count in innermost.most_common(args.top):
        print(f"  {count * tick:6.2f} s  {where}", file=sys.stderr)
    print("\nsfbackup frames on the stack (inclusive):", file=sys.stderr)
    for where, count in inclusive.most_common(args.top):
        print(f"  {count * tick:6.2f} s  {where}", file=sys.stderr)
    return {"rows": None, "csv_bytes": None, "seconds": {"total": wall}}


_IDLE_FILES = ("threading.py", "queue.py", "concurrent/futures/_base.py", "concurrent/futures/thread.py")


def _where(entry: traceback.FrameSummary) -> str:
    path = entry.filename
    for marker in ("site-packages/", "src/", "lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{entry.name} ({path})"


CONTENDERS: dict[str, Callable[[argparse.Namespace], Result]] = {
    "fetch": run_fetch,
    "limit": run_limit,
    "sf-query-all": run_sf_query_all,
    "sf-bulk2": run_sf_bulk2,
    "airbyte": run_airbyte,
    "tap-rest": run_tap_rest,
    "tap-bulk": run_tap_bulk,
    "sf-cli": run_sf_cli,
    "profile-ours": run_profile_ours,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("contender", choices=sorted(CONTENDERS))
    parser.add_argument("--instance-url", required=True)
    parser.add_argument("--out", required=True, help="an empty folder for this contender's output")
    parser.add_argument("--peers-dir", default=DEFAULT_PEERS_DIR,
                        help="where scripts/peers_check.sh installed airbyte, tap-salesforce, sf")
    parser.add_argument("--sf", default=None, metavar="PATH",
                        help="sf-cli: the Salesforce CLI (default <peers-dir>/node/node_modules/.bin/sf)")
    parser.add_argument("--top", type=int, default=25, help="profile-ours: lines per listing")
    args = parser.parse_args(argv)
    result = CONTENDERS[args.contender](args)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
