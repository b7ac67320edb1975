"""Repository locks, after restic: one JSON file per holder in `locks/<uuid>.json`.

Shared locks (run, verify, upload) coexist; an exclusive lock (forget, prune) excludes every
other lock. A lock is stale when its process is gone (same host, dead PID) or when it has not
been refreshed for `stale_after` (30 minutes by default); stale locks never block and
`sfbackup unlock` removes them. A holder refreshes its lock from a background thread.

Acquiring writes our lock first and only then looks for conflicting ones, so two processes
racing for the repository may both back off, but never both proceed.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sfbackup.errors import RepositoryLocked
from sfbackup.repository.atomic import ensure_dir, is_temporary, write_atomic
from sfbackup.repository.layout import locks_dir

DEFAULT_STALE_AFTER = timedelta(minutes=30)
DEFAULT_REFRESH_INTERVAL = timedelta(minutes=5)

Clock = Callable[[], datetime]


class _HasPath(Protocol):
    path: Path


RepoRef = str | os.PathLike[str] | _HasPath


@dataclass(frozen=True)
class LockInfo:
    """One lock file, as read from disk."""

    id: str
    path: Path
    pid: int
    hostname: str
    exclusive: bool
    created_at: datetime
    refreshed_at: datetime
    command: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "hostname": self.hostname,
            "exclusive": self.exclusive,
            "created_at": _fmt(self.created_at),
            "refreshed_at": _fmt(self.refreshed_at),
            "command": self.command,
        }

    def is_stale(self, *, now: datetime | None = None, stale_after: timedelta = DEFAULT_STALE_AFTER) -> bool:
        """Dead process on this host, or no refresh for longer than `stale_after`."""
        now = now or datetime.now(UTC)
        if now - self.refreshed_at > stale_after:
            return True
        return self.hostname == socket.gethostname() and not _pid_alive(self.pid)

    def describe(self, now: datetime | None = None) -> str:
        """`exclusive lock held by pid 42 on host h for 'sfbackup prune', created 3m ago`."""
        age = (now or datetime.now(UTC)) - self.created_at
        kind = "exclusive" if self.exclusive else "shared"
        return (
            f"{kind} lock held by pid {self.pid} on host {self.hostname} for {self.command!r}, "
            f"created {_human_age(age)} ago"
        )


def list_locks(repo: RepoRef) -> list[LockInfo]:
    """Every readable lock file (unreadable or malformed ones are skipped: a lock being written)."""
    folder = locks_dir(_root(repo))
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.iterdir()):
        if is_temporary(entry.name) or not entry.name.endswith(".json"):
            continue
        info = _read(entry)
        if info is not None:
            found.append(info)
    return found


def remove_stale(
    repo: RepoRef, *, stale_after: timedelta = DEFAULT_STALE_AFTER, clock: Clock | None = None
) -> list[LockInfo]:
    """Remove stale locks; return what was removed."""
    now = (clock or _utc_now)()
    removed = []
    for info in list_locks(repo):
        if info.is_stale(now=now, stale_after=stale_after):
            with contextlib.suppress(FileNotFoundError):
                info.path.unlink()
            removed.append(info)
    return removed


def remove_all(repo: RepoRef) -> list[LockInfo]:
    """Remove every lock, live or not, and unreadable lock files (`sfbackup unlock --remove-all`);
    return the readable ones that were removed."""
    removed = list_locks(repo)
    folder = locks_dir(_root(repo))
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.name.endswith(".json") or is_temporary(entry.name):
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
    return removed


class RepositoryLock:
    """A lock this process holds; refreshed in the background until `release()`."""

    def __init__(
        self,
        root: Path,
        *,
        exclusive: bool,
        command: str,
        clock: Clock,
        refresh_interval: timedelta,
    ) -> None:
        self.root = root
        self.id = uuid.uuid4().hex
        self.path = locks_dir(root) / f"{self.id}.json"
        self.exclusive = exclusive
        self.command = command
        self._clock = clock
        self._created_at = clock()
        self._stop = threading.Event()
        self._interval = refresh_interval.total_seconds()
        self._thread: threading.Thread | None = None

    def write(self) -> None:
        """(Re)write the lock file with a fresh `refreshed_at`."""
        body = {
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
            "exclusive": self.exclusive,
            "created_at": _fmt(self._created_at),
            "refreshed_at": _fmt(self._clock()),
            "command": self.command,
        }
        write_atomic(self.path, json.dumps(body).encode())

    def start_refreshing(self) -> None:
        self._thread = threading.Thread(
            target=self._refresh_loop, name=f"sfbackup-lock-{self.id}", daemon=True
        )
        self._thread.start()

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self._interval):
            with contextlib.suppress(Exception):  # a failed refresh is retried; staleness takes 30 min
                self.write()

    def release(self) -> None:
        """Stop refreshing and remove the lock file."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@contextlib.contextmanager
def acquire(
    repo: RepoRef,
    *,
    exclusive: bool,
    command: str,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    refresh_interval: timedelta = DEFAULT_REFRESH_INTERVAL,
    clock: Clock | None = None,
) -> Iterator[RepositoryLock]:
    """Hold a shared or exclusive lock on the repository for the `with` block.

    Raises RepositoryLocked (exit 11) naming the holder when a live conflicting lock exists.
    """
    root = _root(repo)
    ensure_dir(locks_dir(root))
    lock = RepositoryLock(
        root,
        exclusive=exclusive,
        command=command,
        clock=clock or _utc_now,
        refresh_interval=refresh_interval,
    )
    lock.write()
    try:
        _check_conflicts(root, lock, stale_after, clock or _utc_now)
    except BaseException:
        lock.release()
        raise
    lock.start_refreshing()
    try:
        yield lock
    finally:
        lock.release()


def _check_conflicts(root: Path, mine: RepositoryLock, stale_after: timedelta, clock: Clock) -> None:
    now = clock()
    for other in list_locks(root):
        if other.id == mine.id or not (mine.exclusive or other.exclusive):
            continue
        if other.is_stale(now=now, stale_after=stale_after):
            continue
        wanted = "an exclusive" if mine.exclusive else "a shared"
        raise RepositoryLocked(
            f"repository {root} is locked: {other.describe(now)}; "
            f"{wanted} lock is needed for {mine.command!r}",
            hint=f"wait for that command to finish; if it is no longer running, run "
            f"`sfbackup unlock --repository {root}` (add --remove-all if the holder's host is gone)",
            pid=other.pid,
            hostname=other.hostname,
            holder_command=other.command,
            lock_path=str(other.path),
        )


def _read(path: Path) -> LockInfo | None:
    try:
        data = json.loads(path.read_bytes())
        return LockInfo(
            id=path.stem,
            path=path,
            pid=int(data["pid"]),
            hostname=str(data["hostname"]),
            exclusive=bool(data["exclusive"]),
            created_at=_parse(data["created_at"]),
            refreshed_at=_parse(data.get("refreshed_at") or data["created_at"]),
            command=str(data.get("command") or ""),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _root(repo: RepoRef) -> Path:
    if isinstance(repo, str | os.PathLike):
        return Path(repo)
    return Path(repo.path)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return True
    return True


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _fmt(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse(value: str) -> datetime:
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _human_age(age: timedelta) -> str:
    seconds = max(0, int(age.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d"
