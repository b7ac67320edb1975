"""forget + prune remove exactly what the policy says, in a local repository and in a bucket
(moto's S3 server over HTTP), under exclusive locks; unlock clears stale locks."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sfbackup.cli import main
from sfbackup.errors import RepositoryLocked
from sfbackup.maintain.retention import RetentionPolicy, forget_snapshots, prune_repository
from sfbackup.maintain.upload import upload_snapshot
from sfbackup.repository import Repository
from tests.s3_server import RunningS3, running_s3, set_test_credentials
from tests.snapshot_builder import add_snapshot, blob_key, random_bodies

BASE = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def s3_server() -> Iterator[RunningS3]:
    with running_s3(set_env=False) as running:
        yield running


class History:
    """Six nightly complete snapshots (each with its own body plus a shared one), a failed one in
    the middle and a running one at the end."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.shared = random_bodies(1)[0]
        self.own: dict[str, bytes] = {}
        self.ids: list[str] = []
        for day in range(6):
            body = random_bodies(1)[0]
            snap = add_snapshot(repo, BASE + timedelta(days=day), bodies=[self.shared, body])
            self.own[snap.id] = body
            self.ids.append(snap.id)
        failed = add_snapshot(
            repo, BASE + timedelta(days=2, hours=5), state="failed", bodies=random_bodies(1)
        )
        self.failed = failed.id
        running = add_snapshot(repo, BASE + timedelta(days=6), state="running", bodies=[self.shared])
        self.running = running.id

    def expected_after_keep_last_2(self) -> tuple[set[str], set[str]]:
        kept = {*self.ids[-2:], self.running}
        blobs = {blob_key(self.shared)} | {blob_key(self.own[i]) for i in self.ids[-2:]}
        return kept, blobs


def local_snapshot_ids(repo: Repository) -> set[str]:
    return set(repo.snapshot_ids())


def local_blob_keys(repo: Repository) -> set[str]:
    return {f"blobs/sha256/{d[:2]}/{d}" for d in repo.blobs.iter_all()}


def test_given_a_local_history_when_forget_then_prune_then_exactly_the_policy_remains(tmp_path: Path) -> None:
    repo = Repository.init(tmp_path / "repo")
    history = History(repo)
    kept, blobs = history.expected_after_keep_last_2()

    result = forget_snapshots(repo, RetentionPolicy(keep_last=2))

    assert set(result.removed) == {*history.ids[:-2], history.failed}
    assert local_snapshot_ids(repo) == kept
    assert not any((repo.path / "snapshots" / sid).exists() for sid in result.removed)
    reasons = {row["id"]: row["reasons"] for row in result.plan.rows()}
    assert reasons[history.failed] == [f"failed, older than the newest complete snapshot {history.ids[-1]}"]

    pruned = prune_repository(repo)

    assert local_blob_keys(repo) == blobs
    assert pruned.deleted == len(history.ids) - 2 + 1  # own bodies of forgotten snapshots + the failed one's
    assert Repository.open(repo.path).snapshot(history.ids[-1]).files("Attachment").num_rows == 2


def test_given_a_folder_left_without_its_manifest_when_forget_then_it_goes_and_its_blobs_can_be_pruned(
    tmp_path: Path,
) -> None:
    repo = Repository.init(tmp_path / "repo")
    history = History(repo)
    victim = history.ids[0]
    (repo.path / "snapshots" / victim / "manifest.json").unlink()  # a forget killed right after this
    assert victim in repo.orphaned_snapshot_ids() and victim not in repo.snapshot_ids()

    result = forget_snapshots(repo, RetentionPolicy(keep_last=10))

    assert victim in result.removed and not (repo.path / "snapshots" / victim).exists()
    reasons = {row["id"]: row["reasons"] for row in result.plan.rows()}
    assert "without a manifest" in reasons[victim][0]
    assert prune_repository(repo).deleted >= 1  # its own bodies are no longer kept alive by its index


def test_given_dry_run_when_forget_and_prune_then_nothing_changes(tmp_path: Path) -> None:
    repo = Repository.init(tmp_path / "repo")
    history = History(repo)
    before = (local_snapshot_ids(repo), local_blob_keys(repo))

    plan = forget_snapshots(repo, RetentionPolicy(keep_last=1), dry_run=True)
    prune = prune_repository(repo, dry_run=True)

    assert plan.removed == [] and len(plan.plan.remove) == len(history.ids)  # 5 complete + failed
    assert prune.deleted == 0
    assert (local_snapshot_ids(repo), local_blob_keys(repo)) == before


def test_given_temporary_leftovers_when_prune_then_only_those_older_than_an_hour_go(tmp_path: Path) -> None:
    repo = Repository.init(tmp_path / "repo")
    add_snapshot(repo, BASE, bodies=random_bodies(1))
    old = repo.path / "blobs" / "sha256" / ".blob.tmp-0123abcd"
    fresh = repo.path / "blobs" / "sha256" / ".blob.tmp-89abcdef"
    stale_part = (
        repo.path
        / "snapshots"
        / repo.snapshot_ids()[0]
        / "objects"
        / "Account"
        / ".part-00001.parquet.tmp-00ff00ff"
    )
    for path in (old, fresh, stale_part):
        path.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    os.utime(stale_part, (two_hours_ago, two_hours_ago))

    result = prune_repository(repo)

    assert not old.exists() and not stale_part.exists()
    assert fresh.exists()
    assert {o.key.rsplit("/", 1)[-1] for o in result.plan.remove_temporary} == {old.name, stale_part.name}
    assert result.plan.remove_blobs == []


def test_given_a_running_backup_holding_a_shared_lock_when_forget_then_locked_exit_11(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = Repository.init(tmp_path / "repo")
    History(repo)
    with repo.lock(exclusive=False, command="sfbackup run"):
        with pytest.raises(RepositoryLocked):
            forget_snapshots(repo, RetentionPolicy(keep_last=1))
        code = main(["prune", "--repo", str(repo.path)])
    assert code == 11
    assert "sfbackup run" in capsys.readouterr().err


def test_given_a_bucket_history_when_cli_forget_and_prune_then_the_bucket_holds_exactly_the_policy(
    s3_server: RunningS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_test_credentials(monkeypatch)
    bucket = f"fp-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    repo = Repository.init(tmp_path / "repo")
    history = History(repo)
    settings = s3_server.settings(bucket, "prod")
    for sid in [*history.ids, history.failed, history.running]:
        upload_snapshot(repo.path, sid, settings, force=True)
    for sid in (history.ids[0], history.ids[-1]):
        upload_snapshot(repo.path, sid, settings, archive=True)
    kept, blobs = history.expected_after_keep_last_2()
    url = f"s3://{bucket}/prod"
    s3_args = ["--endpoint-url", s3_server.endpoint_url, "--region", "us-east-1"]

    code = main(["forget", "--repo", url, "--keep-last", "2", "--json", *s3_args])
    document = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert set(document["removed"]) == {*history.ids[:-2], history.failed}

    assert main(["prune", "--repo", url, *s3_args]) == 0
    assert "deleted 5 unreferenced blobs" in capsys.readouterr().out

    keys = s3_server.keys(bucket, "prod/")
    assert {k.split("/")[2] for k in keys if k.startswith("prod/snapshots/")} == kept
    assert {k[len("prod/") :] for k in keys if k.startswith("prod/blobs/")} == blobs
    assert not [k for k in keys if k.startswith("prod/locks/")]
    assert "prod/repository.json" in keys
    kept_archive = f"prod/archives/{history.ids[-1]}.tar.gz"
    assert [k for k in keys if k.startswith("prod/archives/")] == [kept_archive, f"{kept_archive}.sha256"]


def test_given_a_live_lock_object_in_the_bucket_when_prune_then_exit_11_until_unlock_remove_all(
    s3_server: RunningS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_test_credentials(monkeypatch)
    bucket = f"lk-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    repo = Repository.init(tmp_path / "repo")
    add_snapshot(repo, BASE, bodies=random_bodies(1))
    upload_snapshot(repo.path, "latest", s3_server.settings(bucket))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    live = {"pid": 4242, "hostname": "other-host", "exclusive": False, "created_at": now,
            "refreshed_at": now, "command": "sfbackup upload"}  # fmt: skip
    stale = dict(live, refreshed_at="2020-01-01T00:00:00.000Z", created_at="2020-01-01T00:00:00.000Z")
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="locks/live.json", Body=json.dumps(live).encode())
    client.put_object(Bucket=bucket, Key="locks/stale.json", Body=json.dumps(stale).encode())
    s3_args = ["--endpoint-url", s3_server.endpoint_url, "--region", "us-east-1"]
    url = f"s3://{bucket}"

    assert main(["prune", "--repo", url, *s3_args]) == 11
    assert "other-host" in capsys.readouterr().err

    assert main(["unlock", "--repo", url, *s3_args]) == 0
    assert s3_server.keys(bucket, "locks/") == ["locks/live.json"]
    assert main(["prune", "--repo", url, *s3_args]) == 11

    assert main(["unlock", "--repo", url, "--remove-all", *s3_args]) == 0
    assert s3_server.keys(bucket, "locks/") == []
    assert main(["prune", "--repo", url, *s3_args]) == 0


def test_given_a_stale_local_lock_when_unlock_then_removed_and_a_live_one_only_with_remove_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = Repository.init(tmp_path / "repo")
    locks = repo.path / "locks"
    stale = {"pid": 999_999_999, "hostname": os.uname().nodename, "exclusive": True,
             "created_at": "2026-01-01T00:00:00.000Z", "refreshed_at": "2026-01-01T00:00:00.000Z", "command": "x"}  # fmt: skip
    (locks / "aaaa.json").write_text(json.dumps(stale))
    with repo.lock(exclusive=False, command="sfbackup verify"):
        assert main(["unlock", "--repo", str(repo.path)]) == 0
        remaining = sorted(p.name for p in locks.iterdir())
        assert "aaaa.json" not in remaining and len(remaining) == 1
        assert main(["unlock", "--repo", str(repo.path), "--remove-all"]) == 0
        assert list(locks.iterdir()) == []
    assert "removed" in capsys.readouterr().out


def test_given_no_policy_when_forget_then_usage_error_exit_2(tmp_path: Path) -> None:
    repo = Repository.init(tmp_path / "repo")
    assert main(["forget", "--repo", str(repo.path)]) == 2


def test_given_a_folder_without_repository_when_prune_then_exit_10(tmp_path: Path) -> None:
    assert main(["prune", "--repo", str(tmp_path)]) == 10
