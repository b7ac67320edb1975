"""The content-addressed store of file bodies: `blobs/sha256/<2 hex>/<64 hex>`.

A blob is streamed to a temporary file while it is hashed, then renamed to its SHA-256. A blob
that exists is rewritten only when it is damaged (its size or bytes no longer match its name, as
found when a new download of the same body arrives): a good copy always replaces a bad one, and
`sha256sum` of an intact blob equals its name. Temporary
files sit in `blobs/sha256/` itself (the name is not known until the last byte) and are renamed
into their fan-out folder on the same filesystem.

A blob's bytes are fsynced before its rename, always. Its folders' entries (the rename) are synced
at once, or, with ``put_stream(sync_dirs=False)``, once per batch by `sync()`: each folder synced
once however many blobs landed in it. A caller that batches calls `sync()` before it writes
anything that names those blobs (the files index), so after a crash an index never names a blob
whose folder entry was lost.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sfbackup.errors import RepositoryError, StorageError
from sfbackup.repository.atomic import AtomicFile, ensure_dir, fsync_dir, is_temporary
from sfbackup.repository.layout import blob_path, blobs_dir

_HEX = frozenset("0123456789abcdef")


class BlobSizeMismatch(StorageError):
    """A streamed body was shorter or longer than the size Salesforce announced (nothing is stored)."""


class BlobChecksumMismatch(StorageError):
    """A streamed body did not hash to the SHA-256 it was expected to have (nothing is stored)."""


@dataclass(frozen=True)
class BlobWrite:
    """The outcome of `BlobStore.put_stream`."""

    sha256: str
    size: int
    md5: str | None = None
    created: bool = True  # False when the blob was already in the store
    repaired: bool = False  # the stored copy was damaged and this body replaced it
    digests: dict[str, str] = field(default_factory=dict)  # every extra hasher, by name


class BlobStore:
    """Blobs of one repository (`root` is the repository folder)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.dir = blobs_dir(self.root)
        self._unsynced: set[Path] = set()  # folders with renames not yet synced (sync_dirs=False)
        self._unsynced_lock = threading.Lock()

    def put_stream(
        self,
        chunks: Iterable[bytes],
        *,
        expected_size: int | None = None,
        extra_hashers: Iterable[str] = ("md5",),
        expected_sha256: str | None = None,
        sync_dirs: bool = True,
    ) -> BlobWrite:
        """Store the concatenation of `chunks`, hashing while streaming; memory stays flat.

        Raises BlobSizeMismatch (and stores nothing) when `expected_size` is given and differs,
        BlobChecksumMismatch when `expected_sha256` is given and the bytes hash to another name.
        With `sync_dirs` False the folder syncs wait for `sync()` (see the module's docstring).
        """
        sha = hashlib.sha256()
        hashers = {name: hashlib.new(name) for name in extra_hashers}
        size = 0
        ensure_dir(self.dir)
        pending = AtomicFile(self.dir / "blob")
        try:
            for chunk in chunks:
                if not chunk:
                    continue
                sha.update(chunk)
                for hasher in hashers.values():
                    hasher.update(chunk)
                size += pending.write(chunk)
            if expected_size is not None and size != expected_size:
                raise BlobSizeMismatch(
                    f"file body was {size} bytes, {expected_size} were expected; nothing was stored",
                    hint="the download was cut short or the file changed; it is retried on the next run",
                    expected=expected_size,
                    actual=size,
                )
            digest = sha.hexdigest()
            if expected_sha256 is not None and digest != expected_sha256:
                raise BlobChecksumMismatch(
                    f"the body hashes to {digest}, not to the expected {expected_sha256}; nothing was stored",
                    expected=expected_sha256,
                    actual=digest,
                )
            final = self.path(digest)
            ensure_dir(final.parent)
            pending.path = final
            damaged = final.exists() and not self.intact(digest, size)
            created = pending.commit(overwrite=damaged, sync_dir=sync_dirs)
        except BaseException:
            pending.abort()
            raise
        if created and sync_dirs:
            fsync_dir(self.dir)  # the temporary name left this folder
        elif not sync_dirs:
            # Found present, it may be another thread's blob renamed a moment ago, its folders not
            # yet queued: queue them here too, so the next sync() covers whoever names it first.
            with self._unsynced_lock:
                self._unsynced.update((final.parent, self.dir))
        digests = {name: h.hexdigest() for name, h in hashers.items()}
        return BlobWrite(digest, size, digests.get("md5"), created, digests=digests, repaired=damaged)

    def sync(self) -> int:
        """Sync every folder that received a blob since the last call; returns how many."""
        with self._unsynced_lock:
            folders, self._unsynced = self._unsynced, set()
        for folder in sorted(folders):
            fsync_dir(folder)
        return len(folders)

    def put_bytes(self, data: bytes) -> BlobWrite:
        """Store `data` (small bodies, tests)."""
        return self.put_stream((data,), expected_size=len(data))

    def has(self, sha256: str, *, size: int | None = None) -> bool:
        """True when the blob is stored (with `size` bytes, when given: a truncated or padded copy
        is not one to reuse)."""
        try:
            stored = self.path(sha256).stat()
        except (FileNotFoundError, NotADirectoryError):
            return False
        return size is None or stored.st_size == size

    def intact(self, sha256: str, size: int | None = None) -> bool:
        """True when the stored blob's bytes hash to its name (and it has `size` bytes, when given)."""
        if not self.has(sha256, size=size):
            return False
        digest = hashlib.sha256()
        with self.path(sha256).open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest() == sha256

    def md5(self, sha256: str) -> str | None:
        """The MD5 of the stored blob's bytes (Salesforce's ContentVersion.Checksum), or None when
        it is missing."""
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with self.path(sha256).open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return digest.hexdigest()

    def path(self, sha256: str) -> Path:
        """Where the blob named `sha256` lives (whether or not it exists)."""
        return blob_path(self.root, sha256)

    def open(self, sha256: str) -> BinaryIO:
        """Open a blob for reading; RepositoryError when it is missing."""
        path = self.path(sha256)
        try:
            return path.open("rb")
        except FileNotFoundError:
            raise RepositoryError(
                f"blob {sha256} is missing from {self.dir}",
                hint="run `sfbackup verify --read-data` to list every damaged snapshot",
                path=str(path),
            ) from None

    def size(self, sha256: str) -> int:
        """Size in bytes of a stored blob; RepositoryError when it is missing."""
        path = self.path(sha256)
        try:
            return path.stat().st_size
        except FileNotFoundError:
            raise RepositoryError(f"blob {sha256} is missing from {self.dir}", path=str(path)) from None

    def iter_all(self) -> Iterator[str]:
        """Every stored blob's SHA-256, sorted; temporary files and stray names are skipped."""
        if not self.dir.is_dir():
            return
        for fan in sorted(self.dir.iterdir()):
            if len(fan.name) != 2 or not set(fan.name) <= _HEX or not fan.is_dir():
                continue
            for entry in sorted(fan.iterdir()):
                name = entry.name
                if is_temporary(name) or len(name) != 64 or not name.startswith(fan.name):
                    continue
                if set(name) <= _HEX and entry.is_file():
                    yield name

    def iter_temporary(self) -> Iterator[Path]:
        """Leftover temporary files of interrupted writes (for `prune` to remove)."""
        if not self.dir.is_dir():
            return
        for entry in self.dir.iterdir():
            if is_temporary(entry.name):
                yield entry
        for fan in self.dir.iterdir():
            if fan.is_dir():
                yield from (e for e in fan.iterdir() if is_temporary(e.name))

