"""Drive airbyte-source-salesforce or tap-salesforce (installed in their own venvs) against a running
emulator, unchanged, and print records per stream. Called by scripts/peers_check.sh.

    python peers_python.py airbyte|tap-rest|tap-bulk EMULATOR_JSON WORKDIR BIN_DIR STREAMS
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run(cmd: list[str], out_path: Path, env: dict[str, str]) -> list[Any]:
    """Run a connector command; its stdout (JSON lines) is saved and returned parsed."""
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    out_path.write_text(result.stdout)
    out_path.with_suffix(".err").write_text(result.stderr)
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(cmd[:2])} exited {result.returncode}; see {out_path.with_suffix('.err')}"
        )
    messages = []
    for line in result.stdout.splitlines():
        try:
            messages.append(json.loads(line))
        except ValueError:
            continue  # a pretty-printed document (tap's catalog) is read from the file instead
    return messages


def airbyte(
    config: dict[str, Any], work: Path, bin_dir: Path, wanted: list[str], env: dict[str, str]
) -> list[str]:
    config_path = work / "config.json"
    config_path.write_text(json.dumps({**config, "force_use_bulk_api": False}))
    exe = str(bin_dir / "source-salesforce")
    run([exe, "check", "--config", str(config_path)], work / "check.jsonl", env)
    discovered = run([exe, "discover", "--config", str(config_path)], work / "discover.jsonl", env)
    catalog = next(m for m in discovered if m.get("type") == "CATALOG")["catalog"]
    streams = [
        {"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
        for s in catalog["streams"]
        if s["name"] in wanted
    ]
    catalog_path = work / "configured_catalog.json"
    catalog_path.write_text(json.dumps({"streams": streams}))
    messages = run(
        [exe, "read", "--config", str(config_path), "--catalog", str(catalog_path)], work / "read.jsonl", env
    )
    for message in messages:
        if message["type"] == "TRACE" and message["trace"].get("type") == "ERROR":
            raise SystemExit("airbyte error: " + message["trace"]["error"]["message"][:500])
    return [m["record"]["stream"] for m in messages if m["type"] == "RECORD"]


def tap(
    api: str, config: dict[str, Any], work: Path, bin_dir: Path, wanted: list[str], env: dict[str, str]
) -> list[str]:
    config_path = work / f"config-{api}.json"
    config_path.write_text(json.dumps({**config, "api_type": api, "select_fields_by_default": True}))
    exe = str(bin_dir / "tap-salesforce")
    catalog_path = work / f"catalog-{api}.json"
    run([exe, "--config", str(config_path), "--discover"], catalog_path, env)
    catalog = json.loads(catalog_path.read_text())
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["stream"] in wanted
    properties = work / f"properties-{api}.json"
    properties.write_text(json.dumps(catalog))
    messages = run(
        [exe, "--config", str(config_path), "--properties", str(properties)], work / f"out-{api}.jsonl", env
    )
    return [m["stream"] for m in messages if m.get("type") == "RECORD"]


def main() -> None:
    kind, emulator_json, work_dir, bin_dir, streams = sys.argv[1:6]
    wanted = streams.split(",")
    emu = json.loads(Path(emulator_json).read_text())
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    shim = Path(__file__).resolve().parent / "peers_pyshim"
    env = {**os.environ, "SF_LOCAL_URL": emu["instance_url"], "PYTHONPATH": str(shim)}
    env.pop("DEPLOYMENT_MODE", None)  # airbyte's cloud mode refuses http and loopback hosts
    config = {
        "client_id": emu["consumer_key"],
        "client_secret": emu["consumer_secret"],
        "refresh_token": emu["refresh_token"],
        "start_date": "2024-01-01T00:00:00Z",
        "is_sandbox": False,
    }
    if kind == "airbyte":
        records = airbyte(config, work, Path(bin_dir), wanted, env)
    else:
        records = tap("BULK" if kind == "tap-bulk" else "REST", config, work, Path(bin_dir), wanted, env)
    counts = collections.Counter(records)
    print("records per stream:", dict(sorted(counts.items())))
    missing = [name for name in wanted if not counts.get(name)]
    if missing:
        raise SystemExit(f"no records for {missing}")


if __name__ == "__main__":
    main()
