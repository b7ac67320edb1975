"""`verify --against-org` counts the file bodies the org holds (ContentVersion, Attachment,
Document, and every base64 field of other objects) against the snapshot's indexes: a body the
backup lacks blocks SAFE TO CANCEL and names the object and field."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sfbackup.cli import main
from tests.conftest import emulator_env


@pytest.fixture(scope="module")
def org() -> Iterator[Any]:
    from sfbackup.testing import running_emulator

    with running_emulator(records=20, seed=7, job_latency=0.02) as running:
        yield running


@pytest.fixture(scope="module")
def safe_repo(org: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of every object and file, verified SAFE by its run."""
    folder = tmp_path_factory.mktemp("bodies") / "repo"
    saved = dict(os.environ)
    os.environ.update(emulator_env(org))
    try:
        code = main(["run", "--repo", str(folder), "--instance-url", org.instance_url, "--json",
                     "--require-safe"])  # fmt: skip
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert code == 0
    return folder


@pytest.fixture
def login(org: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in emulator_env(org).items():
        monkeypatch.setenv(key, value)


def verify(repo: Path, org: Any, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["verify", "--repo", str(repo), "--instance-url", org.instance_url, "--against-org", "--json"])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def drop_one_body(repo: Path, copy: Path, name: str, field: str | None = None) -> str:
    """A copy of `repo` whose index of `name` lacks one stored, non-empty body: the files index
    says it has none (`no_body`), the binaries index of a base64 `field` lost its row; the manifest
    kept consistent so only the org can tell. The record's Id."""
    shutil.copytree(repo, copy)
    manifest_path = next((copy / "snapshots").glob("*/manifest.json"))
    data = json.loads(manifest_path.read_text())
    saved = data["objects"][name]["binaries"] if field else data["files"][name]
    index = manifest_path.parent / saved["index_path"]
    rows = pq.read_table(index).to_pylist()
    row = next(r for r in rows if r["status"] == "downloaded" and (r["Size"] or 0) > 0
               and (field is None or r["Field"] == field))  # fmt: skip
    if field:  # the row is gone from the binaries index
        rows.remove(row)
        saved["count"] -= 1
        saved["bytes"] -= row["Size"] or 0
    else:  # the files index row stays (its record is backed up), its body said to be none
        row["status"], row["sha256"] = "no_body", None
        saved["downloaded"] -= 1
    index.chmod(0o644)
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(index)), index)
    if not field:
        saved["index_bytes"] = index.stat().st_size
    if not field or "index_sha256" in saved:
        saved["index_sha256"] = hashlib.sha256(index.read_bytes()).hexdigest()
    manifest_path.chmod(0o644)
    manifest_path.write_text(json.dumps(data))
    return str(row["Id"])


def test_given_every_body_in_the_backup_when_verify_against_org_then_safe(
    safe_repo: Path, org: Any, login: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = verify(safe_repo, org, capsys)
    assert code == 0, result["findings"]
    assert result["verdict"]["safe"] is True, result["verdict"]
    assert not [f for f in result["findings"] if f["kind"] == "org_bodies_mismatch"]


@pytest.mark.parametrize("name", ["ContentVersion", "Attachment"])
def test_given_a_body_missing_from_the_files_index_when_verify_against_org_then_not_safe_naming_it(
    safe_repo: Path, org: Any, login: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    copy = tmp_path / "copy"
    drop_one_body(safe_repo, copy, name)
    code, result = verify(copy, org, capsys)
    assert code == 4
    [found] = [f for f in result["findings"] if f["kind"] == "org_bodies_mismatch"]
    assert found["object"] == name and found["expected"] == found["actual"] + 1, found
    assert found["severity"] == "error" and result["verdict"]["safe"] is False
    assert not [f for f in result["findings"] if f["severity"] == "error" and f is not found
                and f["kind"] != "org_bodies_mismatch"]  # fmt: skip
