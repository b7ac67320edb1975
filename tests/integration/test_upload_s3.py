"""`sfbackup upload` against moto's S3 server (real HTTP on 127.0.0.1, through boto3)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import threading
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sfbackup.cli import main
from sfbackup.errors import StorageError, UsageError
from sfbackup.maintain.upload import prefix_hash, upload_snapshot
from sfbackup.maintain.upload_ledger import LEDGER_KEY
from sfbackup.repository import Repository
from sfbackup.repository.store import ObjectInfo, S3Store, StatInfo
from sfbackup.ui.progress import NullProgress
from tests.s3_server import RunningS3, running_s3, set_test_credentials
from tests.snapshot_builder import add_snapshot, blob_key, random_bodies

T1 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def s3_server() -> Iterator[RunningS3]:
    with running_s3(set_env=False) as running:
        yield running


@pytest.fixture
def bucket(s3_server: RunningS3, monkeypatch: pytest.MonkeyPatch) -> str:
    set_test_credentials(monkeypatch)
    name = f"up-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(name)
    return name


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    return Repository.init(tmp_path / "repo")


class RecordingStore:
    """Delegates to an S3Store, records every PUT in order, and fails after `fail_after` PUTs."""

    def __init__(self, inner: S3Store, fail_after: int | None = None) -> None:
        self.inner = inner
        self.puts: list[str] = []
        self.fail_after = fail_after
        self.bucket = inner.bucket
        self.prefix = inner.prefix

    def _count(self, key: str) -> None:
        if key.startswith("locks/"):
            return
        if self.fail_after is not None and len(self.puts) >= self.fail_after:
            raise StorageError(f"injected failure before PUT {key}")
        self.puts.append(key)

    def put_file(self, key: str, path: str | os.PathLike[str], *, sha256: str | None = None) -> StatInfo:
        self._count(key)
        return self.inner.put_file(key, path, sha256=sha256)

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> StatInfo:
        self._count(key)
        return self.inner.put_stream(key, chunks)

    def describe(self, key: str = "") -> str:
        return self.inner.describe(key)

    def open(self, key: str) -> io.BufferedIOBase:
        return self.inner.open(key)  # type: ignore[return-value]

    def stat(self, key: str) -> StatInfo | None:
        return self.inner.stat(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def folders(self, prefix: str) -> Iterator[str]:
        return self.inner.folders(prefix)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)


def expected_keys(repo: Repository, snapshot_id: str, bodies: list[bytes]) -> set[str]:
    folder = repo.path / "snapshots" / snapshot_id
    keys = {
        f"snapshots/{snapshot_id}/{p.relative_to(folder).as_posix()}"
        for p in folder.rglob("*")
        if p.is_file()
    }
    keys = {k for k in keys if "/uploads/" not in k}
    return keys | {blob_key(b) for b in bodies} | {"repository.json"}


def test_given_a_complete_snapshot_when_uploaded_then_the_bucket_mirrors_it_and_the_result_is_recorded(
    s3_server: RunningS3, bucket: str, repo: Repository
) -> None:
    bodies = random_bodies(4)
    snap = add_snapshot(repo, T1, bodies=bodies)

    result = upload_snapshot(repo.path, "latest", s3_server.settings(bucket, "prod/acme"))

    assert result.verified and result.missing == []
    assert set(s3_server.keys(bucket, "prod/acme/")) == {
        f"prod/acme/{k}" for k in expected_keys(repo, snap.id, bodies) | {LEDGER_KEY}
    }
    assert result.uploaded == result.objects == len(expected_keys(repo, snap.id, bodies)) - 1  # marker apart
    record = repo.path / "snapshots" / snap.id / "uploads" / f"{bucket}-{prefix_hash('prod/acme')}.json"
    assert json.loads(record.read_text())["verified"] is True
    head = s3_server.client().head_object(Bucket=bucket, Key=f"prod/acme/{blob_key(bodies[0])}")
    assert head["Metadata"]["sha256"] == hashlib.sha256(bodies[0]).hexdigest()
    assert not s3_server.keys(bucket, "prod/acme/locks/")  # the shared lock object is gone


def test_given_a_damaged_blob_when_uploading_then_it_is_refused_and_never_reaches_the_bucket(
    s3_server: RunningS3, bucket: str, repo: Repository
) -> None:
    bodies = random_bodies(3)
    add_snapshot(repo, T1, bodies=bodies)
    damaged = repo.path / blob_key(bodies[1])
    damaged.chmod(0o600)
    flipped = bytearray(damaged.read_bytes())
    flipped[10] ^= 0x01
    damaged.write_bytes(bytes(flipped))

    with pytest.raises(StorageError, match="is damaged"):
        upload_snapshot(repo.path, "latest", s3_server.settings(bucket, "d"))

    assert f"d/{blob_key(bodies[1])}" not in s3_server.keys(bucket, "d/")


def test_given_an_uploaded_snapshot_when_uploaded_again_then_nothing_is_sent(
    s3_server: RunningS3, bucket: str, repo: Repository
) -> None:
    add_snapshot(repo, T1, bodies=random_bodies(3))
    settings = s3_server.settings(bucket, "p")
    upload_snapshot(repo.path, "latest", settings)

    recorder = RecordingStore(s3_server.store(bucket, "p"))
    again = upload_snapshot(repo.path, "latest", settings, store=recorder)

    assert again.uploaded == 0 and again.skipped == again.objects
    assert recorder.puts == []
    assert again.verified


def test_given_a_new_nightly_snapshot_when_uploaded_then_only_its_new_blobs_and_files_are_sent(
    s3_server: RunningS3, bucket: str, repo: Repository
) -> None:
    shared = random_bodies(3)
    add_snapshot(repo, T1, bodies=shared)
    settings = s3_server.settings(bucket, "")
    upload_snapshot(repo.path, "latest", settings)
    new_body = random_bodies(1)
    second = add_snapshot(repo, T2, bodies=[*shared, *new_body])

    recorder = RecordingStore(s3_server.store(bucket, ""))
    result = upload_snapshot(repo.path, second.id, settings, store=recorder)

    blob_puts = [k for k in recorder.puts if k.startswith("blobs/")]
    assert blob_puts == [blob_key(new_body[0])]
    assert all(k.startswith(("blobs/", f"snapshots/{second.id}/")) for k in recorder.puts[:-1])
    assert recorder.puts[-1] == LEDGER_KEY  # the new blob and the new snapshot's files, proved
    assert result.skipped == 3


def test_given_an_upload_when_puts_are_recorded_then_the_manifest_is_last_and_after_all_its_data(
    s3_server: RunningS3, bucket: str, repo: Repository
) -> None:
    snap = add_snapshot(repo, T1, bodies=random_bodies(5))
    recorder = RecordingStore(s3_server.store(bucket, "x"))

    upload_snapshot(repo.path, snap.id, s3_server.settings(bucket, "x"), store=recorder)

    manifest_key = f"snapshots/{snap.id}/manifest.json"
    assert recorder.puts[-2:] == [manifest_key, LEDGER_KEY]  # the ledger only after the check
    data = [k for k in recorder.puts if k.startswith("blobs/") or "/objects/" in k]
    index = recorder.puts.index(f"snapshots/{snap.id}/files/Attachment.parquet")
    assert max(recorder.puts.index(k) for k in data) < index < recorder.puts.index(manifest_key)


def test_given_an_upload_interrupted_after_some_objects_when_rerun_then_it_resumes_and_completes(
    s3_server: RunningS3, bucket: str, repo: Repository
) -> None:
    bodies = random_bodies(6)
    snap = add_snapshot(repo, T1, bodies=bodies)
    settings = s3_server.settings(bucket, "r")
    failing = RecordingStore(s3_server.store(bucket, "r"), fail_after=4)

    with pytest.raises(StorageError, match="injected"):
        upload_snapshot(repo.path, snap.id, settings, store=failing, concurrency=1)
    assert f"r/snapshots/{snap.id}/manifest.json" not in s3_server.keys(bucket, "r/")
    assert not s3_server.keys(bucket, "r/locks/")

    resumed = RecordingStore(s3_server.store(bucket, "r"))
    result = upload_snapshot(repo.path, snap.id, settings, store=resumed)

    assert result.verified
    assert result.skipped == 4 - 1  # repository.json was the first of the four PUTs
    assert set(failing.puts).isdisjoint(resumed.puts)
    assert set(s3_server.keys(bucket, "r/")) == {
        f"r/{k}" for k in expected_keys(repo, snap.id, bodies) | {LEDGER_KEY}
    }


def test_given_a_bucket_object_with_the_same_size_but_other_content_when_uploaded_then_it_is_replaced(
    s3_server: RunningS3, bucket: str, repo: Repository
) -> None:
    bodies = random_bodies(1)
    add_snapshot(repo, T1, bodies=bodies)
    s3_server.client().put_object(Bucket=bucket, Key=blob_key(bodies[0]), Body=b"x" * len(bodies[0]))

    upload_snapshot(repo.path, "latest", s3_server.settings(bucket))

    body = s3_server.client().get_object(Bucket=bucket, Key=blob_key(bodies[0]))["Body"].read()
    assert body == bodies[0]


def test_given_an_exported_snapshot_when_uploaded_without_force_then_refused_and_with_force_uploaded(
    s3_server: RunningS3, bucket: str, repo: Repository
) -> None:
    snap = add_snapshot(repo, T1, state="exported", bodies=random_bodies(1))
    settings = s3_server.settings(bucket)
    with pytest.raises(UsageError, match="--force"):
        upload_snapshot(repo.path, snap.id, settings)
    assert upload_snapshot(repo.path, snap.id, settings, force=True).verified


def test_given_archive_when_uploaded_then_one_tar_gz_round_trips_with_identical_hashes(
    s3_server: RunningS3, bucket: str, repo: Repository, tmp_path: Path
) -> None:
    bodies = random_bodies(3, size=300_000)
    snap = add_snapshot(repo, T1, bodies=bodies)
    settings = s3_server.settings(bucket, "arch")

    result = upload_snapshot(repo.path, snap.id, settings, archive=True)

    key = f"arch/archives/{snap.id}.tar.gz"
    assert set(s3_server.keys(bucket, "arch/archives/")) == {key, f"{key}.sha256"}
    raw = s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert hashlib.sha256(raw).hexdigest() == result.archive_sha256
    sidecar = s3_server.client().get_object(Bucket=bucket, Key=f"{key}.sha256")["Body"].read().decode()
    assert sidecar.split()[0] == result.archive_sha256
    out = tmp_path / "restored"
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        tar.extractall(out, filter="data")
    for key_rel in expected_keys(repo, snap.id, bodies):
        restored = (out / key_rel).read_bytes()
        assert (
            hashlib.sha256(restored).digest() == hashlib.sha256((repo.path / key_rel).read_bytes()).digest()
        )
    assert upload_snapshot(repo.path, snap.id, settings, archive=True).skipped == 1


def test_given_cli_upload_when_run_with_json_then_one_result_line_and_exit_0(
    s3_server: RunningS3, bucket: str, repo: Repository, capsys: pytest.CaptureFixture[str]
) -> None:
    add_snapshot(repo, T1, bodies=random_bodies(2))
    s3_server.log.clear()
    code = main(
        [
            "upload",
            "--repo",
            str(repo.path),
            "--bucket",
            bucket,
            "--prefix",
            "cli",
            "--endpoint-url",
            s3_server.endpoint_url,
            "--region",
            "us-east-1",
            "--json",
        ]
    )
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    document = json.loads(out[-1])
    assert document["type"] == "result" and document["verified"] is True
    assert document["requests"] == s3_server.log.counts(bucket)  # spent, by kind, as S3 received them
    assert "testing" not in "\n".join(out)
    progress = [json.loads(line) for line in out[:-1]]
    assert [e["phase"] for e in progress if e["event"] == "phase"] == ["list", "data", "metadata", "manifest", "check"]
    transfers = [e for e in progress if e["event"] == "transfer"]
    assert transfers[-1]["done"] == transfers[-1]["total"] == document["objects"]
    assert transfers[-1]["bytes"] == document["bytes_uploaded"]


def test_given_a_missing_bucket_when_cli_upload_then_exit_1_naming_bucket_and_fix(
    s3_server: RunningS3,
    repo: Repository,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_test_credentials(monkeypatch)
    add_snapshot(repo, T1)
    code = main(
        [
            "upload",
            "--repo",
            str(repo.path),
            "--bucket",
            "absent-bucket-zz",
            "--endpoint-url",
            s3_server.endpoint_url,
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "absent-bucket-zz" in err and "create the bucket" in err
    assert "testing" not in err


def test_given_sse_and_storage_class_from_a_config_file_when_cli_upload_then_every_object_carries_them(
    s3_server: RunningS3, bucket: str, repo: Repository, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bodies = random_bodies(1)
    add_snapshot(repo, T1, bodies=bodies)
    config = tmp_path / "sfbackup.toml"
    config.write_text(
        f'repository = "{repo.path}"\n[s3]\nbucket = "{bucket}"\nprefix = "enc"\n'
        f'endpoint_url = "{s3_server.endpoint_url}"\nregion = "us-east-1"\n'
        'sse = "AES256"\nstorage_class = "STANDARD_IA"\n'
    )

    assert main(["upload", "--config", str(config)]) == 0

    assert "verified" in capsys.readouterr().out
    head = s3_server.client().head_object(Bucket=bucket, Key=f"enc/{blob_key(bodies[0])}")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["StorageClass"] == "STANDARD_IA"


def test_given_a_prefix_holding_another_repository_when_uploaded_then_refused(
    s3_server: RunningS3, bucket: str, repo: Repository, tmp_path: Path
) -> None:
    other = Repository.init(tmp_path / "other")
    add_snapshot(other, T1)
    add_snapshot(repo, T2)
    settings = s3_server.settings(bucket, "shared")
    upload_snapshot(other.path, "latest", settings)

    with pytest.raises(UsageError, match="another repository"):
        upload_snapshot(repo.path, "latest", settings)


def test_given_no_complete_snapshot_when_uploading_latest_then_snapshot_not_found_exit_10(
    s3_server: RunningS3, bucket: str, repo: Repository
) -> None:
    add_snapshot(repo, T1, state="incomplete")
    code = main(
        ["upload", "--repo", str(repo.path), "--bucket", bucket, "--endpoint-url", s3_server.endpoint_url]
    )
    assert code == 10


def test_given_an_archive_larger_than_a_part_when_uploaded_then_streamed_as_multipart_and_intact(
    s3_server: RunningS3, bucket: str, repo: Repository
) -> None:
    bodies = random_bodies(3, size=2_500_000)  # random: gzip cannot shrink it below two 5 MiB parts
    snap = add_snapshot(repo, T1, bodies=bodies)
    store = s3_server.store(bucket, "big", part_size=5 * 2**20)

    result = upload_snapshot(repo.path, snap.id, s3_server.settings(bucket, "big"), archive=True, store=store)

    key = f"big/archives/{snap.id}.tar.gz"
    head = s3_server.client().head_object(Bucket=bucket, Key=key, PartNumber=1)
    assert head.get("PartsCount", 1) >= 2
    raw = s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert len(raw) == result.bytes_uploaded > 7_000_000
    assert hashlib.sha256(raw).hexdigest() == result.archive_sha256
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        names = tar.getnames()
        assert names[0] == "repository.json" and names[-1] == f"snapshots/{snap.id}/manifest.json"
        for body in bodies:
            member = tar.extractfile(blob_key(body))
            assert member is not None and member.read() == body


def test_given_no_aws_credentials_anywhere_when_cli_upload_then_exit_1_saying_where_credentials_come_from(
    s3_server: RunningS3,
    repo: Repository,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_snapshot(repo, T1)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code = main(
        [
            "upload",
            "--repo",
            str(repo.path),
            "--bucket",
            "any-bucket",
            "--region",
            "ap-south-2",
            "--endpoint-url",
            s3_server.endpoint_url,
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "no AWS credentials were found" in err and "s3://any-bucket" in err
    assert "AWS_ACCESS_KEY_ID" in err


def test_given_a_reader_polling_the_bucket_during_an_upload_then_it_never_sees_the_manifest_before_the_data(
    s3_server: RunningS3, bucket: str, repo: Repository
) -> None:
    bodies = random_bodies(12)
    snap = add_snapshot(repo, T1, bodies=bodies)
    wanted = expected_keys(repo, snap.id, bodies)
    manifest_key = f"snapshots/{snap.id}/manifest.json"
    done = threading.Event()
    seen_early: list[set[str]] = []
    polls = 0

    def reader() -> None:
        nonlocal polls
        while not done.is_set():
            keys = set(s3_server.keys(bucket))
            polls += 1
            if manifest_key in keys and not wanted <= keys:
                seen_early.append(wanted - keys)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        upload_snapshot(repo.path, snap.id, s3_server.settings(bucket), concurrency=4)
    finally:
        done.set()
        thread.join()

    assert polls > 1
    assert seen_early == []
    assert wanted <= set(s3_server.keys(bucket))


# --- what an upload spends: the listing and the ledger instead of a HEAD per object -------------


def _data_requests(s3_server: RunningS3, bucket: str, prefix: str) -> list[tuple[str, str]]:
    """(operation, key) of the requests the server got for the repository's blobs and snapshots."""
    data = (f"{prefix}/blobs/", f"{prefix}/snapshots/")
    return [(kind, key) for kind, key in s3_server.log.of(bucket) if key.startswith(data)]


def test_given_an_unchanged_repository_when_uploaded_again_then_no_head_and_no_put_per_object(
    s3_server: RunningS3, bucket: str, repo: Repository
) -> None:
    bodies = random_bodies(40)
    add_snapshot(repo, T1, bodies=bodies)
    settings = s3_server.settings(bucket, "n")
    first = upload_snapshot(repo.path, "latest", settings)
    s3_server.log.clear()

    again = upload_snapshot(repo.path, "latest", settings)

    assert again.verified and again.uploaded == 0 and again.skipped == first.objects
    assert _data_requests(s3_server, bucket, "n") == []  # no HEAD, GET or PUT on any blob or part
    served = s3_server.log.counts(bucket)
    assert served.get("HeadObject", 0) <= 1  # repository.json's
    puts = [key for op, key in s3_server.log.of(bucket) if op == "PutObject"]
    assert len(puts) == 1 and puts[0].startswith("n/locks/")  # the lock; the unchanged ledger is not rewritten
    assert again.requests == served  # what the result counts is what the server received
    assert first.requests["PutObject"] >= first.objects + 1  # each object, the marker, the lock...


def test_given_a_blob_rewritten_in_the_bucket_with_other_bytes_of_its_size_when_uploaded_again_then_it_is_replaced(
    s3_server: RunningS3, bucket: str, repo: Repository
) -> None:
    bodies = random_bodies(5)
    add_snapshot(repo, T1, bodies=bodies)
    settings = s3_server.settings(bucket, "w")
    upload_snapshot(repo.path, "latest", settings)
    key = f"w/{blob_key(bodies[2])}"
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=b"y" * len(bodies[2]))  # a listing shows the size
    s3_server.log.clear()

    result = upload_snapshot(repo.path, "latest", settings)

    assert _data_requests(s3_server, bucket, "w") == [("HeadObject", key), ("PutObject", key)]
    assert s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read() == bodies[2]
    assert result.uploaded == 1 and result.verified
    s3_server.log.clear()
    upload_snapshot(repo.path, "latest", settings)  # the ledger now knows the replacement
    assert _data_requests(s3_server, bucket, "w") == []


def test_given_a_blob_deleted_from_the_bucket_when_uploaded_again_then_it_alone_is_sent_again(
    s3_server: RunningS3, bucket: str, repo: Repository
) -> None:
    bodies = random_bodies(5)
    add_snapshot(repo, T1, bodies=bodies)
    settings = s3_server.settings(bucket, "del")
    upload_snapshot(repo.path, "latest", settings)
    key = f"del/{blob_key(bodies[0])}"
    s3_server.client().delete_object(Bucket=bucket, Key=key)
    s3_server.log.clear()

    result = upload_snapshot(repo.path, "latest", settings)

    assert _data_requests(s3_server, bucket, "del") == [("PutObject", key)]
    assert s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read() == bodies[0]
    assert result.uploaded == 1 and result.verified


def test_given_a_local_file_rewritten_with_the_same_size_when_uploaded_again_then_the_ledger_does_not_hide_it(
    s3_server: RunningS3, bucket: str, repo: Repository
) -> None:
    snap = add_snapshot(repo, T1, bodies=random_bodies(2))
    settings = s3_server.settings(bucket, "loc")
    upload_snapshot(repo.path, "latest", settings)
    schema = snap.path / "schema" / "Account.json"  # not named with a hash by the manifest
    schema.chmod(0o600)
    schema.write_text(schema.read_text().replace("[]", "{}", 1))
    s3_server.log.clear()

    upload_snapshot(repo.path, "latest", settings)

    key = f"loc/snapshots/{snap.id}/schema/Account.json"
    assert _data_requests(s3_server, bucket, "loc") == [("HeadObject", key), ("PutObject", key)]
    assert s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read() == schema.read_bytes()


@pytest.mark.parametrize(
    "damage",
    [b"not gzip at all", b"entries-edited"],
    ids=["unreadable", "entries-not-matching-their-sha256"],
)
def test_given_a_damaged_ledger_when_uploading_then_it_is_ignored_every_object_proved_by_head_and_it_is_rewritten(
    s3_server: RunningS3, bucket: str, repo: Repository, damage: bytes
) -> None:
    bodies = random_bodies(3)
    add_snapshot(repo, T1, bodies=bodies)
    settings = s3_server.settings(bucket, "dl")
    first = upload_snapshot(repo.path, "latest", settings)
    ledger_key = f"dl/{LEDGER_KEY}"
    raw = s3_server.client().get_object(Bucket=bucket, Key=ledger_key)["Body"].read()
    if damage == b"entries-edited":  # an entry claims another SHA-256; the ledger's own digest is kept
        document = json.loads(gzip.decompress(raw))
        entry = document["entries"][blob_key(bodies[0])]
        entry[2] = hashlib.sha256(b"other").hexdigest()
        damage = gzip.compress(json.dumps(document).encode())
    s3_server.client().put_object(Bucket=bucket, Key=ledger_key, Body=damage)
    s3_server.log.clear()
    events: list[tuple[str, str]] = []

    class Messages(NullProgress):
        def message(self, level: str, text: str, **fields: object) -> None:
            events.append((level, text))

    result = upload_snapshot(repo.path, "latest", settings, progress=Messages())

    assert result.verified and result.uploaded == 0
    assert any(level == "warning" and "ledger" in text and "damaged" in text for level, text in events)
    heads = [k for op, k in _data_requests(s3_server, bucket, "dl") if op == "HeadObject"]
    assert len(heads) == first.objects
    assert ("PutObject", ledger_key) in s3_server.log.of(bucket)
    s3_server.log.clear()
    upload_snapshot(repo.path, "latest", settings)
    assert _data_requests(s3_server, bucket, "dl") == []


def test_given_cli_upload_when_it_finishes_then_the_text_summary_gives_the_requests_by_kind(
    s3_server: RunningS3, bucket: str, repo: Repository, capsys: pytest.CaptureFixture[str]
) -> None:
    add_snapshot(repo, T1, bodies=random_bodies(2))
    argv = ["upload", "--repo", str(repo.path), "--bucket", bucket, "--endpoint-url", s3_server.endpoint_url]
    assert main([*argv, "--region", "us-east-1"]) == 0
    s3_server.log.clear()

    assert main([*argv, "--region", "us-east-1"]) == 0

    out = capsys.readouterr().out
    served = s3_server.log.counts(bucket)
    spent = next(line for line in out.splitlines()[::-1] if "S3 requests" in line)
    assert f"spent {sum(served.values())} S3 requests" in spent
    assert f"ListObjectsV2 {served['ListObjectsV2']}" in spent and "HeadObject" in spent


def test_given_a_blob_sent_in_parts_when_uploaded_again_then_the_ledger_proves_it_without_a_head(
    s3_server: RunningS3, bucket: str, repo: Repository
) -> None:
    bodies = random_bodies(1, size=6 * 2**20)  # above the 5 MiB part: a multipart upload, no ETag answered
    add_snapshot(repo, T1, bodies=bodies)
    settings = s3_server.settings(bucket, "mp")
    key = f"mp/{blob_key(bodies[0])}"
    s3_server.log.clear()
    upload_snapshot(repo.path, "latest", settings, store=s3_server.store(bucket, "mp", part_size=5 * 2**20))
    assert ("CompleteMultipartUpload", key) in s3_server.log.of(bucket)
    assert ("HeadObject", key) in s3_server.log.of(bucket)  # its metadata read once, after the upload
    s3_server.log.clear()

    upload_snapshot(repo.path, "latest", settings, store=s3_server.store(bucket, "mp", part_size=5 * 2**20))

    assert _data_requests(s3_server, bucket, "mp") == []
