"""`sfbackup ls`, `find`, `stats` and `diff` offline, checked against the Parquet parts and indexes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.integration.reading.conftest import Offline


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_given_snapshot_offline_when_listed_then_objects_records_and_files_match_the_manifest(
    offline: Offline, cli: Any
) -> None:
    snapshot = offline.snapshot()
    code, out, err = cli("ls", offline.first, "--repo", str(offline.repo), "--json")
    assert code == 0, err
    objects = {row["object"]: row for row in lines(out)}
    assert set(objects) == set(snapshot.manifest.objects)
    entry = snapshot.manifest.objects["Opportunity"]
    assert objects["Opportunity"]["rows"] == entry.rows - entry.deleted_rows
    assert objects["Opportunity"]["label"] == "Opportunities"

    code, out, err = cli("ls", offline.first, "Account", "--repo", str(offline.repo))
    assert code == 0, err
    live = {r["Id"]: r["Name"] for r in snapshot.read("Account").to_pylist() if not r["IsDeleted"]}
    listed = dict(line.split("  ", 1) for line in out.splitlines())
    assert set(listed) == set(live)
    assert all("\x1b" not in name and "\n" not in name for name in listed.values())

    code, out, err = cli("ls", offline.first, "--files", "--json", "--repo", str(offline.repo))
    assert code == 0, err
    files = lines(out)
    assert len(files) == sum(f.count for f in snapshot.manifest.files.values())
    contract = next(f for f in files if f["name"] == "Contract")
    assert contract["linked"] and offline.account_id in contract["linked"]


def test_given_text_or_an_id_when_found_then_every_record_holding_it_is_listed_once(
    offline: Offline, cli: Any
) -> None:
    snapshot = offline.snapshot()
    code, out, err = cli("find", offline.first, "SCRIPT>", "--repo", str(offline.repo), "--json")
    assert code == 0, err
    assert [(h["object"], h["id"], h["field"]) for h in lines(out)] == [
        ("Account", offline.account_id, "Description")
    ]

    code, out, err = cli("find", offline.first, offline.account_id, "--repo", str(offline.repo), "--json")
    assert code == 0, err
    hits = {(h["object"], h["id"]) for h in lines(out)}
    pointing = {("Contact", r["Id"]) for r in snapshot.read("Contact").to_pylist()
                if r["AccountId"] == offline.account_id and not r["IsDeleted"]}  # fmt: skip
    assert ("Account", offline.account_id) in hits and pointing <= hits
    assert ("Attachment", offline.hostile_ids[0]) in hits
    code, out, _ = cli("find", offline.first, "zzz-not-there", "--repo", str(offline.repo))
    assert code == 0 and "0 matches" in out


def test_given_stats_then_restore_size_counts_every_file_and_stored_size_each_body_once(
    offline: Offline, cli: Any
) -> None:
    code, out, err = cli("stats", offline.first, "--repo", str(offline.repo), "--json")
    assert code == 0, err
    totals = json.loads(out)
    snapshot = offline.snapshot()
    rows = [r for name in snapshot.manifest.files for r in snapshot.files(name).to_pylist() if r["sha256"]]
    assert totals["files_restore_size"] == sum(r["Size"] for r in rows)
    assert totals["blobs"] == len({r["sha256"] for r in rows}) < len(rows), (
        "the hostile attachments share a body"
    )
    assert totals["blobs_bytes"] == sum({r["sha256"]: r["Size"] for r in rows}.values())
    code, out, _ = cli("stats", offline.first, "--repo", str(offline.repo))
    assert "saved by deduplication" in out


def test_given_two_snapshots_when_diffed_then_the_added_changed_and_deleted_opportunities_are_named(
    offline: Offline, cli: Any
) -> None:
    code, out, err = cli(
        "diff", offline.first, offline.second, "--repo", str(offline.repo), "--ids", "--json"
    )
    assert code == 0, err
    by_object = {d["object"]: d for d in lines(out) if "object" in d}
    assert lines(out)[-1] == {"configuration": []}, "the org's configuration did not change"
    opp = by_object["Opportunity"]
    assert (opp["added_ids"], opp["changed_ids"], opp["deleted_ids"]) == ([offline.created], [offline.changed],
                                                                         [offline.deleted])  # fmt: skip
    assert opp["changed_fields"] == {"Name": 1}
    assert "Account" not in by_object, "nothing changed in the Accounts"
    code, out, err = cli("diff", offline.first, offline.second, "--repo", str(offline.repo))
    assert code == 0 and "Opportunity: +1 added, ~1 changed, -1 deleted" in out
    assert "changed fields: Name (1)" in out


def test_given_an_object_that_failed_before_its_first_part_then_reading_skips_it_and_says_why(
    offline: Offline, cli: Any, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(offline.repo, repo)
    manifest_path = repo / "snapshots" / offline.first / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["objects"]["Lead"].update(
        state="failed", schema_path=None, schema_sha256=None, parts=[], rows=0, deleted_rows=0,
        error={"code": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded.", "kind": "error"},
    )  # fmt: skip
    manifest_path.write_text(json.dumps(manifest))
    code, out, err = cli("ls", offline.first, "--repo", str(repo), "--json")
    assert code == 0, err
    assert {r["object"]: r["state"] for r in lines(out)}["Lead"] == "failed"
    code, _, err = cli("export", offline.first, "--repo", str(repo), "--to", "csv", "--out", str(tmp_path / "o"))
    assert code == 0, err
    assert not (tmp_path / "o" / "Lead.csv").exists() and (tmp_path / "o" / "Account.csv").exists()
    code, _, err = cli("export", offline.first, "--repo", str(repo), "--objects", "Lead", "--to", "csv",
                       "--out", str(tmp_path / "o"))  # fmt: skip
    assert code == 2 and "TotalRequests Limit exceeded" in err
    code, out, err = cli("sql", offline.first, "--repo", str(repo), "--output", "json", "SELECT count(*) AS n FROM Account")
    assert code == 0 and json.loads(out)["n"] > 0, err
    code, _, err = cli("diff", offline.first, offline.second, "--repo", str(repo), "--json")
    assert code == 0, err


def test_given_a_changed_configuration_when_diffed_then_components_added_changed_and_removed_are_named(
    offline: Offline, cli: Any, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    repo = tmp_path / "repo"
    shutil.copytree(offline.repo, repo)
    index_path = repo / "snapshots" / offline.second / "metadata" / "index.parquet"
    rows = pq.read_table(index_path).to_pylist()
    apex = sorted({r["full_name"] for r in rows if r["type"] == "ApexClass"})
    changed, removed = apex[0], apex[1]
    for row in rows:
        if row["type"] == "ApexClass" and row["full_name"] == changed and row["sha256"]:
            row["sha256"] = "0" * 64  # its file's content differs
    rows = [r for r in rows if not (r["type"] == "ApexClass" and r["full_name"] == removed)]
    rows.append({**next(r for r in rows if r["type"] == "Flow"), "full_name": "New_Flow", "file_name": "flows/New_Flow.flow"})
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(index_path)), index_path)

    code, out, err = cli("diff", offline.first, offline.second, "--repo", str(repo))
    assert code == 0, err
    assert "configuration ApexClass: +0 added, ~1 changed, -1 removed" in out
    assert f"  ~ {changed}" in out and f"  - {removed}" in out
    assert "configuration Flow: +1 added, ~0 changed, -0 removed" in out and "  + New_Flow" in out
    code, out, err = cli("diff", offline.first, offline.second, "--repo", str(repo), "--json")
    configuration = {c["type"]: c for c in lines(out)[-1]["configuration"]}
    assert configuration["ApexClass"] == {"type": "ApexClass", "added": [], "changed": [changed], "removed": [removed]}
