"""`sfbackup repair` through the CLI: damaged, truncated and deleted blobs mended from the org (over
HTTP from the emulator) or from the S3 mirror (moto's server), a copy that does not hash to the
blob's name refused, and a body the org no longer serves reported with exit 4."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from sfbackup.cli import main
from sfbackup.errors import ExitCode
from sfbackup.repository import Repository
from sfbackup.testing import RunningEmulator, running_emulator
from tests.conftest import emulator_env
from tests.s3_server import running_s3, set_test_credentials


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def _result(out: str) -> dict[str, Any]:
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _file_rows(repo: Path, name: str) -> list[dict[str, Any]]:
    snapshot = Repository.open(repo).snapshot("latest")
    table = pq.read_table(snapshot.resolve(snapshot.manifest.files[name].index_path))
    unique: dict[str, dict[str, Any]] = {}
    for row in table.to_pylist():
        if row["sha256"] and (row["Size"] or 0) > 10:
            unique.setdefault(row["sha256"], row)
    return list(unique.values())


def _writable(path: Path) -> Path:
    path.chmod(0o600)
    return path


def flip(path: Path) -> None:
    data = bytearray(_writable(path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    _writable(path).write_bytes(path.read_bytes()[:-1])


def intact(repo: Path, digest: str) -> bool:
    return hashlib.sha256(Repository.open(repo).blobs.path(digest).read_bytes()).hexdigest() == digest


@pytest.fixture
def files_repo(emulator: Any, login_env: dict[str, str], repo_dir: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    code, out = _run(capsys, "run", "--repo", str(repo_dir), "--instance-url", emulator.instance_url,
                     "--objects", "Attachment,ContentVersion", "--no-metadata", "--json")  # fmt: skip
    assert code == 0, out
    return repo_dir


def _damage_three(repo: Path) -> list[str]:
    """Flip a byte of one body, truncate another, delete a third; their SHA-256s."""
    blobs = Repository.open(repo).blobs
    a, b = _file_rows(repo, "Attachment")[:2]
    [c, *_] = _file_rows(repo, "ContentVersion")
    flip(blobs.path(a["sha256"]))
    truncate(blobs.path(b["sha256"]))
    blobs.path(c["sha256"]).unlink()
    return [a["sha256"], b["sha256"], c["sha256"]]


def test_given_flipped_truncated_and_deleted_blobs_when_repair_from_org_then_mended_and_complete_again(
    emulator: Any, files_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = str(files_repo)
    damaged = _damage_three(files_repo)
    code, out = _run(capsys, "verify", "--repo", repo, "--read-data", "--json")
    assert code == ExitCode.VERIFICATION_FAILED, out
    assert Repository.open(files_repo).snapshot("latest").manifest.status == "check_failed"

    code, out = _run(capsys, "repair", "--repo", repo, "--json")  # no source: lists only
    assert code == ExitCode.VERIFICATION_FAILED, out
    listed = _result(out)
    problems = dict(zip(damaged, ["checksum", "size", "missing"], strict=True))
    assert {b["sha256"]: b["problem"] for b in listed["blobs"]} == problems
    assert all("add --from-org" in " ".join(b["reasons"]) for b in listed["blobs"])

    code, out = _run(capsys, "repair", "--repo", repo, "--from-org", "--instance-url", emulator.instance_url)
    assert code == ExitCode.OK, out
    assert "3 missing or damaged, 3 mended, 0 not mended" in out
    assert "passed, state complete" in out  # verified again with --read-data
    assert all(intact(files_repo, digest) for digest in damaged)
    assert Repository.open(files_repo).snapshot("latest").manifest.status == "complete"
    code, out = _run(capsys, "repair", "--repo", repo, "--all", "--json")
    assert code == ExitCode.OK and _result(out)["damaged"] == 0, out


def test_given_an_s3_mirror_when_repair_from_s3_then_mended_and_a_damaged_mirror_copy_is_refused(
    emulator: Any, login_env: dict[str, str], repo_dir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    set_test_credentials(monkeypatch)
    repo = str(repo_dir)
    with running_s3(set_env=False) as s3:
        s3.create_bucket("mirror")
        code, out = _run(capsys, "run", "--repo", repo, "--instance-url", emulator.instance_url, "--objects",
                         "Attachment,ContentVersion", "--upload", "--bucket", "mirror", "--prefix", "acme",
                         "--endpoint-url", s3.endpoint_url, "--json")  # fmt: skip
        assert code == 0, out
        metadata = Repository.open(repo_dir).snapshot("latest").manifest.metadata
        assert metadata is not None and metadata.index_path
        meta = pq.read_table(Repository.open(repo_dir).snapshot("latest").resolve(metadata.index_path))
        meta_digest = next(d for d in meta.column("sha256").to_pylist() if d)
        damaged = _damage_three(repo_dir)
        Repository.open(repo_dir).blobs.path(meta_digest).unlink()  # metadata: only S3 can mend it
        snapshot = Repository.open(repo_dir).snapshot("latest")
        part = snapshot.resolve(snapshot.manifest.objects["Attachment"].parts[0].path)
        schema = snapshot.resolve(snapshot.manifest.objects["Attachment"].schema_path or "")
        index = snapshot.resolve(snapshot.manifest.files["ContentVersion"].index_path or "")
        flip(part)
        schema.unlink()
        truncate(index)  # the blobs it names are known again once the mirror's copy is back
        originals = {p: s3.client().get_object(Bucket="mirror", Key=f"acme/snapshots/{snapshot.id}/"
                                               f"{p.relative_to(snapshot.path).as_posix()}")["Body"].read()
                     for p in (part, schema, index)}  # fmt: skip
        # the mirror's copy of the flipped blob is damaged too: it must not be accepted
        bad = damaged[0]
        s3.client().put_object(Bucket="mirror", Key=f"acme/blobs/sha256/{bad[:2]}/{bad}", Body=b"rotten")
        mirror = ["--from-s3", "s3://mirror/acme", "--endpoint-url", s3.endpoint_url]

        code, out = _run(capsys, "repair", "--repo", repo, *mirror, "--json")
        assert code == ExitCode.VERIFICATION_FAILED, out
        result = _result(out)
        by_sha = {b["sha256"]: b for b in result["blobs"]}
        assert {d: by_sha[d]["mended_from"] for d in [*damaged, meta_digest]} == {
            damaged[0]: None, damaged[1]: "s3", damaged[2]: "s3", meta_digest: "s3"
        }
        assert "the mirror's copy is damaged too" in " ".join(by_sha[bad]["reasons"])
        assert sorted(f["problem"] for f in result["files"]) == ["checksum", "missing", "size"]
        assert all(f["mended_from"] == "s3" for f in result["files"])
        assert all(path.read_bytes() == body for path, body in originals.items())
        assert not intact(repo_dir, bad)
        assert all(intact(repo_dir, d) for d in [*damaged[1:], meta_digest])

        code, out = _run(capsys, "repair", "--repo", repo, *mirror, "--from-org",
                         "--instance-url", emulator.instance_url)  # fmt: skip
        assert code == ExitCode.OK, out
        assert "mended from org: blob " + bad in out
        assert intact(repo_dir, bad)
        assert "passed, state complete" not in out  # never failed a full check: nothing to re-verify
        code, out = _run(capsys, "verify", "--repo", repo, "--read-data")
        assert code == 0, out


@pytest.fixture
def own_org() -> Iterator[RunningEmulator]:
    with running_emulator(records=20, seed=11, job_latency=0.05) as running:
        yield running


def test_given_a_body_the_org_no_longer_serves_when_repair_from_org_then_reported_with_exit_4(
    own_org: RunningEmulator, repo_dir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in emulator_env(own_org).items():
        monkeypatch.setenv(key, value)
    repo = str(repo_dir)
    code, out = _run(capsys, "run", "--repo", repo, "--instance-url", own_org.instance_url,
                     "--objects", "Attachment", "--no-metadata", "--json")  # fmt: skip
    assert code == 0, out
    [gone, *_] = _file_rows(repo_dir, "Attachment")
    own_org.org.purge("Attachment", gone["Id"])
    Repository.open(repo_dir).blobs.path(gone["sha256"]).unlink()

    code, out = _run(capsys, "repair", "--repo", repo, "--from-org", "--instance-url", own_org.instance_url)
    assert code == ExitCode.VERIFICATION_FAILED, out
    assert f"NOT mended: blob {gone['sha256']} (missing), Attachment {gone['Id']} Body" in out
    assert "the org no longer serves it (404" in out
    assert "what to do:" in out


@pytest.fixture(scope="module")
def enterprise() -> Iterator[RunningEmulator]:
    with running_emulator(records=30, org_shape="enterprise", large_file_bytes=0, job_latency=0.05) as running:
        yield running


def _binaries(repo: Path, name: str) -> list[dict[str, Any]]:
    snapshot = Repository.open(repo).snapshot("latest")
    saved = snapshot.manifest.objects[name].extra["binaries"]
    rows = pq.read_table(snapshot.resolve(saved["index_path"])).to_pylist()
    return [r for r in rows if r["status"] == "downloaded"]


def test_given_base64_bodies_and_rich_text_images_when_deleted_then_mended_from_s3_and_from_the_org(
    enterprise: RunningEmulator, repo_dir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in emulator_env(enterprise).items():
        monkeypatch.setenv(key, value)
    set_test_credentials(monkeypatch)
    repo = str(repo_dir)
    with running_s3(set_env=False) as s3:
        s3.create_bucket("mirror")
        code, out = _run(capsys, "run", "--repo", repo, "--instance-url", enterprise.instance_url, "--objects",
                         "StaticResource,Field_Report__c", "--no-metadata", "--upload", "--bucket", "mirror",
                         "--prefix", "p", "--endpoint-url", s3.endpoint_url, "--json")  # fmt: skip
        assert code == 0, out
        body = _binaries(repo_dir, "StaticResource")[0]
        image = next(r for r in _binaries(repo_dir, "Field_Report__c") if r["RefId"])
        blobs = Repository.open(repo_dir).blobs
        # upload mirrored the binaries' blobs too (it used to send only files and metadata blobs)
        for digest in (body["sha256"], image["sha256"]):
            blobs.path(digest).unlink()
        code, out = _run(capsys, "repair", "--repo", repo, "--from-s3", "s3://mirror/p",
                         "--endpoint-url", s3.endpoint_url)  # fmt: skip
        assert code == ExitCode.OK, out
        assert out.count("mended from s3: blob") == 2
    for digest in (body["sha256"], image["sha256"]):
        blobs.path(digest).unlink()
    code, out = _run(capsys, "repair", "--repo", repo, "--from-org", "--instance-url", enterprise.instance_url)
    assert code == ExitCode.OK, out
    assert f"StaticResource {body['Id']} Body" in out
    assert f"Field_Report__c {image['Id']} {image['Field']} image {image['RefId']}" in out
    assert intact(repo_dir, body["sha256"]) and intact(repo_dir, image["sha256"])
