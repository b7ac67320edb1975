"""One conformance suite for every Store: a local folder and S3 (moto's server over HTTP, via boto3)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sfbackup.config import S3Settings
from sfbackup.errors import StorageError, UsageError
from sfbackup.repository.store import LocalStore, S3Store, Store, store_from_url
from tests.s3_server import RunningS3, running_s3, set_test_credentials


@pytest.fixture(scope="module")
def s3_server() -> Iterator[RunningS3]:
    with running_s3(set_env=False) as running:
        yield running


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "local":
        yield LocalStore(tmp_path / "store")
        return
    server: RunningS3 = request.getfixturevalue("s3_server")
    bucket = f"suite-{uuid.uuid4().hex[:12]}"
    server.create_bucket(bucket)
    # A small part size so the multipart paths run on small bodies.
    yield server.store(bucket, "some/prefix", part_size=5 * 2**20)


def test_given_a_stream_when_put_then_stat_open_and_list_see_it(store: Store) -> None:
    info = store.put_stream("snapshots/a/manifest.json", iter([b"{", b'"a": 1', b"}"]))
    assert info.size == 8
    assert info.sha256 == hashlib.sha256(b'{"a": 1}').hexdigest()
    stat = store.stat("snapshots/a/manifest.json")
    assert stat is not None and stat.size == 8
    with store.open("snapshots/a/manifest.json") as handle:
        assert handle.read() == b'{"a": 1}'
    assert [o.key for o in store.list("snapshots/")] == ["snapshots/a/manifest.json"]
    assert store.exists("snapshots/a/manifest.json")


def test_given_a_file_when_put_with_its_sha256_then_stat_reports_size(store: Store, tmp_path: Path) -> None:
    body = os.urandom(1000)
    source = tmp_path / "body.bin"
    source.write_bytes(body)
    digest = hashlib.sha256(body).hexdigest()
    info = store.put_file(f"blobs/sha256/{digest[:2]}/{digest}", source, sha256=digest)
    assert (info.size, info.sha256) == (1000, digest)
    stat = store.stat(f"blobs/sha256/{digest[:2]}/{digest}")
    assert stat is not None and stat.size == 1000
    assert stat.sha256 in (None, digest)  # local folders do not keep hashes; S3 keeps ours


def test_given_a_large_body_when_put_then_it_round_trips_through_multipart(
    store: Store, tmp_path: Path
) -> None:
    body = os.urandom(11 * 2**20 + 123)
    source = tmp_path / "large.bin"
    source.write_bytes(body)
    assert store.put_file("large/file.bin", source).size == len(body)
    streamed = store.put_stream("large/stream.bin", (body[i : i + 2**20] for i in range(0, len(body), 2**20)))
    assert streamed.sha256 == hashlib.sha256(body).hexdigest()
    for key in ("large/file.bin", "large/stream.bin"):
        with store.open(key) as handle:
            assert hashlib.sha256(handle.read()).digest() == hashlib.sha256(body).digest()
        stat = store.stat(key)
        assert stat is not None and stat.size == len(body)


def test_given_an_existing_key_when_put_again_then_it_is_replaced(store: Store) -> None:
    store.put_stream("k/v", [b"old"])
    store.put_stream("k/v", [b"newer"])
    with store.open("k/v") as handle:
        assert handle.read() == b"newer"


def test_given_keys_when_listed_by_prefix_then_sorted_and_filtered(store: Store) -> None:
    for key in ("b/2", "a/1", "b/1", "bb/1", "c"):
        store.put_stream(key, [key.encode()])
    assert [o.key for o in store.list("b/")] == ["b/1", "b/2"]
    assert [o.key for o in store.list("b")] == ["b/1", "b/2", "bb/1"]
    assert [o.key for o in store.list("b/1")] == ["b/1"]
    assert list(store.list("nothing/")) == []
    assert [o.key for o in store.list()] == ["a/1", "b/1", "b/2", "bb/1", "c"]
    listed = {o.key: o for o in store.list()}
    assert listed["bb/1"].size == 4
    assert listed["bb/1"].modified is not None


def test_given_nested_keys_when_folders_are_listed_then_only_the_folders_directly_under_the_prefix(
    store: Store,
) -> None:
    for key in ("s/b/manifest.json", "s/a/objects/A/part-00000.parquet", "s/c/x/y/z", "s/top", "t/d/1"):
        store.put_stream(key, [b"1"])
    store.delete("s/c/x/y/z")  # a folder whose last key went is no folder, in a bucket or on disk
    if isinstance(store, LocalStore):
        (store.root / "s" / "empty" / "deeper").mkdir(parents=True)

    assert list(store.folders("s/")) == ["a", "b"]
    assert list(store.folders("s/a/")) == ["objects"]
    assert list(store.folders("")) == ["s", "t"]
    assert list(store.folders("nothing/")) == []


def test_given_a_key_when_deleted_then_gone_and_deleting_again_is_fine(store: Store) -> None:
    store.put_stream("snapshots/x/objects/A/part-00000.parquet", [b"data"])
    store.delete("snapshots/x/objects/A/part-00000.parquet")
    assert store.stat("snapshots/x/objects/A/part-00000.parquet") is None
    assert not store.exists("snapshots/x/objects/A/part-00000.parquet")
    store.delete("snapshots/x/objects/A/part-00000.parquet")
    assert list(store.list("snapshots/")) == []


def test_given_a_missing_key_when_opened_then_storage_error_names_it(store: Store) -> None:
    assert store.stat("nothing/here") is None
    with pytest.raises(StorageError, match="nothing/here"):
        store.open("nothing/here")


@pytest.mark.parametrize("bad", ["../escape", "/abs/path", "a/../b", "", "a\\b", "a//b"])
def test_given_a_key_leaving_the_store_when_used_then_refused(store: Store, bad: str) -> None:
    with pytest.raises(StorageError):
        store.put_stream(bad, [b"x"])


def test_given_an_empty_body_when_put_then_an_empty_object_exists(store: Store) -> None:
    assert store.put_stream("empty", []).size == 0
    stat = store.stat("empty")
    assert stat is not None and stat.size == 0


def test_given_urls_when_opened_then_the_right_store(
    tmp_path: Path, s3_server: RunningS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_test_credentials(monkeypatch)
    local = store_from_url(str(tmp_path))
    assert isinstance(local, LocalStore)
    remote = store_from_url("s3://some-bucket/a/b/", S3Settings(endpoint_url=s3_server.endpoint_url, region="us-east-1"))
    assert isinstance(remote, S3Store)
    assert (remote.bucket, remote.prefix) == ("some-bucket", "a/b")
    with pytest.raises(UsageError):
        store_from_url("s3:///prefix-only")


def test_given_a_missing_bucket_when_writing_then_the_error_names_bucket_endpoint_and_fix(
    s3_server: RunningS3,
) -> None:
    store = s3_server.store("no-such-bucket-here", "p")
    with pytest.raises(StorageError) as info:
        store.put_stream("k", [b"x"])
    text = str(info.value)
    assert "s3://no-such-bucket-here/p/k" in text
    assert s3_server.endpoint_url in text
    assert "create the bucket" in text
    assert "testing" not in text  # never the credentials
