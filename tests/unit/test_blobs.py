"""The blob store: streamed, hashed while written, named by SHA-256, written once."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sfbackup.errors import RepositoryError
from sfbackup.repository.blobs import BlobSizeMismatch, BlobStore


def _chunks(data: bytes, size: int = 7) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_given_a_stream_then_the_blob_is_named_by_its_sha256_under_a_two_hex_fan_out(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = b"hello salesforce file" * 100
    written = store.put_stream(_chunks(data), expected_size=len(data))
    digest = hashlib.sha256(data).hexdigest()
    assert written.sha256 == digest and written.size == len(data) and written.created
    assert written.md5 == hashlib.md5(data).hexdigest()
    path = tmp_path / "blobs" / "sha256" / digest[:2] / digest
    assert store.path(digest) == path and path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.has(digest) and store.size(digest) == len(data)
    with store.open(digest) as handle:
        assert handle.read() == data


def test_given_a_blob_that_exists_then_it_is_not_rewritten(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    first = store.put_bytes(b"same body")
    before = os.stat(store.path(first.sha256)).st_ino
    second = store.put_stream(iter([b"same ", b"body"]))
    assert second.sha256 == first.sha256 and not second.created
    assert os.stat(store.path(first.sha256)).st_ino == before
    assert list(store.iter_temporary()) == []


def test_given_a_short_stream_then_nothing_is_stored_and_the_sizes_are_named(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(BlobSizeMismatch, match="10 bytes, 11 were expected"):
        store.put_stream(iter([b"0123456789"]), expected_size=11)
    assert list(store.iter_all()) == [] and list(store.iter_temporary()) == []


def test_given_a_stream_that_fails_midway_then_no_temporary_file_is_left(tmp_path: Path) -> None:
    def broken() -> Iterator[bytes]:
        yield b"partial"
        raise ConnectionError("dropped")

    store = BlobStore(tmp_path)
    with pytest.raises(ConnectionError):
        store.put_stream(broken())
    assert list(store.iter_temporary()) == []


def test_given_several_blobs_and_stray_files_then_iter_all_lists_only_blobs_sorted(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    digests = sorted(store.put_bytes(bytes([i])).sha256 for i in range(5))
    (store.dir / "zz").mkdir()
    (store.dir / digests[0][:2] / ".leftover.tmp-1234").write_bytes(b"x")
    (store.dir / digests[0][:2] / "not-a-hash").write_bytes(b"x")
    assert list(store.iter_all()) == digests
    assert [p.name for p in store.iter_temporary()] == [".leftover.tmp-1234"]


def test_given_a_missing_blob_then_open_and_size_raise_repository_error(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(RepositoryError, match="missing"):
        store.open("00" * 32)
    with pytest.raises(RepositoryError, match="missing"):
        store.size("00" * 32)


def test_given_a_name_that_is_not_a_sha256_then_it_never_becomes_a_path(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match="SHA-256"):
        BlobStore(tmp_path).path("../../etc/passwd")



def test_given_extra_hashers_then_each_digest_is_returned(tmp_path: Path) -> None:
    written = BlobStore(tmp_path).put_stream(iter([b"abc"]), extra_hashers=("md5", "sha1"))
    assert written.digests == {
        "md5": hashlib.md5(b"abc").hexdigest(),
        "sha1": hashlib.sha1(b"abc").hexdigest(),
    }


def test_given_a_damaged_blob_when_the_same_body_is_stored_again_then_the_good_copy_replaces_it(
    tmp_path: Path,
) -> None:
    store = BlobStore(tmp_path)
    first = store.put_bytes(b"the contract, signed")
    path = store.path(first.sha256)
    path.chmod(0o600)
    damaged = bytearray(path.read_bytes())
    damaged[3] ^= 0x01
    path.write_bytes(bytes(damaged))
    assert store.has(first.sha256, size=first.size) and not store.intact(first.sha256)

    again = store.put_bytes(b"the contract, signed")

    assert again.repaired and again.created
    assert store.intact(first.sha256, first.size)
    assert path.read_bytes() == b"the contract, signed"


def test_given_an_intact_blob_when_stored_again_then_it_is_left_alone(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    first = store.put_bytes(b"abc")
    before = store.path(first.sha256).stat().st_mtime_ns
    again = store.put_bytes(b"abc")
    assert not again.created and not again.repaired
    assert store.path(first.sha256).stat().st_mtime_ns == before


def test_given_a_truncated_blob_then_has_with_its_size_says_no(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    blob = store.put_bytes(b"0123456789")
    path = store.path(blob.sha256)
    path.chmod(0o600)
    path.write_bytes(b"01234")
    assert store.has(blob.sha256) and not store.has(blob.sha256, size=10)


def test_given_batched_folder_syncs_then_none_happen_until_sync_and_each_folder_is_synced_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sfbackup.repository.atomic as atomic
    import sfbackup.repository.blobs as blobs_module

    synced: list[Path] = []
    monkeypatch.setattr(atomic, "fsync_dir", synced.append)
    monkeypatch.setattr(blobs_module, "fsync_dir", synced.append)
    store = BlobStore(tmp_path)
    writes = [store.put_stream([os.urandom(64)], sync_dirs=False) for _ in range(40)]
    again = store.put_stream([b"same"], sync_dirs=False), store.put_stream([b"same"], sync_dirs=False)
    assert synced == [] and all(w.created for w in writes) and not again[1].created

    folders = {store.path(w.sha256).parent for w in [*writes, again[0]]} | {store.dir}
    assert store.sync() == len(folders)
    assert sorted(synced) == sorted(folders) and store.sync() == 0
    synced.clear()
    store.put_stream([b"unbatched"])
    assert len(synced) == 2  # its fan-out folder and blobs/sha256/, at once
