"""`sfbackup restore-files` offline: bodies equal to the blobs under their real names, once per linked
record, hostile names harmless, the latest version by default, a damaged blob reported and not written."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

from tests.integration.reading.conftest import HOSTILE_NAMES, Offline


def blob(repo: Path, sha: str) -> bytes:
    return (repo / "blobs" / "sha256" / sha[:2] / sha).read_bytes()


def test_given_snapshot_offline_when_files_restored_then_each_is_under_its_record_with_the_blob_bytes(
    offline: Offline, cli: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, stdout, err = cli("restore-files", offline.first, "--repo", str(offline.repo), "--out", str(out))
    assert code == 0, err
    snapshot = offline.snapshot()
    account_name = next(
        r["Name"] for r in snapshot.read("Account").to_pylist() if r["Id"] == offline.account_id
    )
    folder = out / "Account" / f"{account_name} ({offline.account_id})"
    assert (folder / "Contract 2020.pdf").read_bytes() == offline.pdf_body, "PathOnClient is the real name"
    written = [p for p in out.rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to(out.resolve()) for p in written)
    by_sha = {
        r["sha256"]: r for n in snapshot.manifest.files for r in snapshot.files(n).to_pylist() if r["sha256"]
    }
    for path in written:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest in by_sha and path.read_bytes() == blob(offline.repo, digest)
    # a File linked to two records is written under each
    versions = snapshot.files("ContentVersion").to_pylist()
    shared = next(v for v in versions if len(v["LinkedEntityIds"]) > 1 and v["status"] == "downloaded")
    holders = [
        p for p in written if p.parent.name.endswith(tuple(f"({i})" for i in shared["LinkedEntityIds"]))
    ]
    assert len({p.parent for p in holders}) >= 2
    assert f"wrote {len(written):,} files" in stdout


def test_given_hostile_file_names_then_they_become_harmless_names_in_the_records_folder(
    offline: Offline, cli: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, _, err = cli("restore-files", offline.first, "--repo", str(offline.repo), "--out", str(out),
                       "--object", "Account", "--id", offline.account_id)  # fmt: skip
    assert code == 0, err
    folders = list((out / "Account").iterdir())
    assert len(folders) == 1 and folders[0].name.endswith(f"({offline.account_id})")
    names = sorted(p.name for p in folders[0].iterdir())
    assert len(names) == len(HOSTILE_NAMES) + 1  # and the contract
    assert "_CON" in names and "_nul.txt" in names and "same.txt" in names and "same (2).txt" in names
    assert ".._.._etc_passwd" in names
    assert all(len(n.encode()) <= 180 and not any(ord(c) < 32 for c in n) for n in names)
    assert any(n.endswith(".pdf") and n.startswith("xxxx") for n in names), "a long name keeps its extension"
    assert not any(p.name == "passwd" for p in tmp_path.rglob("*"))
    assert {p.read_bytes() for p in folders[0].iterdir() if p.name != "Contract 2020.pdf"} == {b"hostile"}


def test_given_versions_then_latest_only_by_default_and_every_one_with_all_versions(
    offline: Offline, cli: Any, tmp_path: Path
) -> None:
    snapshot = offline.snapshot()
    versions = snapshot.read("ContentVersion").to_pylist()
    by_document: dict[str, list[dict[str, Any]]] = {}
    for version in versions:
        by_document.setdefault(version["ContentDocumentId"], []).append(version)
    several = next(v for v in by_document.values() if len(v) > 1)
    latest = next(v for v in several if v["IsLatest"])
    index = {r["Id"]: r for r in snapshot.files("ContentVersion").to_pylist()}
    owner = index[latest["Id"]]["LinkedEntityIds"][0]
    for flag, expected in (([], 1), (["--all-versions"], len(several))):
        out = tmp_path / f"out{len(flag)}"
        code, _, err = cli("restore-files", offline.first, "--repo", str(offline.repo), "--out", str(out),
                           "--id", owner, *flag)  # fmt: skip
        assert code == 0, err
        stems = [
            p for p in out.rglob("*") if p.is_file() and p.name.startswith(latest["Title"].replace('"', "_"))
        ]
        assert len(stems) == expected, (flag, stems)
    out0 = [p for p in (tmp_path / "out0").rglob("*") if p.is_file() and p.name.startswith("Quote")]
    assert hashlib.sha256(out0[0].read_bytes()).hexdigest() == index[latest["Id"]]["sha256"]


def test_given_a_damaged_blob_then_it_is_reported_with_exit_4_and_not_written(
    offline: Offline, cli: Any, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(offline.repo, repo)
    sha = hashlib.sha256(offline.pdf_body).hexdigest()
    (repo / "blobs" / "sha256" / sha[:2] / sha).write_bytes(b"%PDF-1.4 tampered")
    out = tmp_path / "out"
    code, stdout, _ = cli("restore-files", offline.first, "--repo", str(repo), "--out", str(out),
                          "--id", offline.account_id)  # fmt: skip
    assert code == 4
    assert "NOT WRITTEN" in stdout and "Contract 2020.pdf" in stdout and "damaged" in stdout
    assert not list(out.rglob("Contract*")) and not list(out.rglob(".*restoring*"))
