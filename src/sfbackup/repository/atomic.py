"""Crash-safe file writes: a temporary file beside the target, fsync, rename, fsync the folder.

A reader never sees a partial file under its final name. Temporary names start with `.` and end
with `.tmp-<random>` so listings skip them and `prune` can clean them up (`is_temporary`).
Files are created 0600 and folders 0700: a repository holds an org's data.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from sfbackup.errors import StorageError, storage_error

FILE_MODE = 0o600
DIR_MODE = 0o700
_TMP_MARK = ".tmp-"


def temporary_name(final_name: str) -> str:
    """The temporary file name used while writing `final_name`: `.<name>.tmp-<8 hex>`."""
    return f".{final_name}{_TMP_MARK}{secrets.token_hex(4)}"


def is_temporary(name: str) -> bool:
    """True for names `temporary_name()` produces (leftovers of an interrupted write)."""
    return name.startswith(".") and _TMP_MARK in name


def ensure_dir(path: Path) -> Path:
    """Create `path` and missing parents with mode 0700; return it."""
    # Path.mkdir(parents=True) gives the parents it creates the umask's mode, not `mode`: under a
    # permissive umask `blobs/` or `objects/` would be world-readable. Create each level ourselves.
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    try:
        for folder in reversed(missing):
            folder.mkdir(mode=DIR_MODE, exist_ok=True)
        if not path.is_dir():
            path.mkdir(mode=DIR_MODE, exist_ok=True)  # raises the precise error (a file in the way)
    except OSError as exc:
        raise StorageError(
            f"cannot create folder {path}: {exc.strerror or exc}",
            hint="check the path and its permissions",
            path=str(path),
        ) from exc
    return path


def fsync_dir(path: Path) -> None:
    """Make a rename or creation inside `path` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a folder; the rename itself is still atomic
    finally:
        os.close(fd)


class AtomicFile:
    """A file being written under a temporary name; `commit()` renames it into place.

    Use as a context manager (commit on success, abort on an exception) or call `commit()` /
    `abort()` yourself. `file` is the open binary handle of the temporary file.
    """

    def __init__(self, path: str | os.PathLike[str], *, mode: int = FILE_MODE) -> None:
        self.path = Path(path)
        ensure_dir(self.path.parent)
        self.tmp_path = self.path.parent / temporary_name(self.path.name)
        try:
            fd = os.open(self.tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except OSError as exc:
            raise storage_error("create", self.tmp_path, exc) from exc
        self.file: BinaryIO = os.fdopen(fd, "wb")
        self._done = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write `data` to the temporary file."""
        try:
            return self.file.write(data)
        except OSError as exc:
            raise storage_error("write", self.tmp_path, exc) from exc

    def commit(self, *, overwrite: bool = True, sync_dir: bool = True) -> bool:
        """fsync, rename to the final name, fsync the folder (unless `sync_dir` is False: the caller
        then syncs it before anything durable refers to the file). Returns False when `overwrite`
        is False and the target already exists (the temporary file is then removed)."""
        if self._done:
            raise StorageError(f"{self.path} was already committed or aborted")
        self._done = True
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            if not overwrite and self.path.exists():
                self.tmp_path.unlink()
                return False
            os.replace(self.tmp_path, self.path)
        except OSError as exc:
            self._discard()
            raise storage_error("save", self.path, exc) from exc
        if sync_dir:
            fsync_dir(self.path.parent)
        return True

    def abort(self) -> None:
        """Close and remove the temporary file; the target is left as it was."""
        if self._done:
            return
        self._done = True
        self._discard()

    def _discard(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp_path.unlink()

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            if not self._done:
                self.commit()
        else:
            self.abort()


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], *, mode: int = FILE_MODE) -> Iterator[BinaryIO]:
    """Context manager yielding a binary file; on normal exit it replaces `path` atomically,
    on an exception the temporary file is removed and `path` is untouched."""
    with AtomicFile(path, mode=mode) as handle:
        yield handle.file


def write_atomic(
    path: str | os.PathLike[str], data: bytes | Iterable[bytes], *, mode: int = FILE_MODE
) -> int:
    """Write `data` (bytes or an iterable of byte chunks) to `path` atomically; return the size."""
    size = 0
    with AtomicFile(path, mode=mode) as handle:
        chunks = (data,) if isinstance(data, bytes | bytearray | memoryview) else data
        for chunk in chunks:
            size += handle.write(chunk)
    return size


