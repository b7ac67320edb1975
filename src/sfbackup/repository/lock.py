"""Repository locks, after restic: one JSON object per holder, `locks/<uuid>.json`, in the
repository's Store (a local folder or an S3 prefix alike).

`run`, `forget` and `prune` take an exclusive lock; `verify` and `upload` take shared ones
(`upload` one on the local repository and one on the bucket). Shared locks coexist; an exclusive
lock excludes every other lock. A lock is stale when its process is gone (same host, dead PID)
or when it has not been refreshed for `stale_after` (30 minutes by default); stale locks never
block and `sfbackup unlock` removes them. A holder refreshes its lock from a background thread.

Acquiring writes our lock first and only then looks for conflicting ones, so two processes
racing for the repository may both back off, but never both proceed. Commands take it through
`Repository.lock`.
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
from pathlib import Path, PurePosixPath
from typing import Any

from sfbackup.clock import format_time, parse_time
from sfbackup.errors import RepositoryLocked, StorageError
from sfbackup.repository.atomic import is_temporary
from sfbackup.repository.layout import LOCKS_DIR
from sfbackup.repository.store import Store, store_url

DEFAULT_STALE_AFTER = timedelta(minutes=30)
DEFAULT_REFRESH_INTERVAL = timedelta(minutes=5)
#: A lock refreshed further ahead than this was written by a host whose clock is wrong: it cannot
#: be judged by its age, so it is treated as stale rather than blocking until that date.
MAX_CLOCK_SKEW = timedelta(minutes=10)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class LockInfo:
    """One lock object, as read from the store (`key` is `locks/<id>.json`)."""

    id: str
    key: str
    pid: int
    hostname: str
    exclusive: bool
    created_at: datetime
    refreshed_at: datetime
    command: str
    process_start: int | None = None  # the holder's start time (Linux /proc ticks), to tell a reused pid

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "hostname": self.hostname,
            "exclusive": self.exclusive,
            "created_at": format_time(self.created_at),
            "refreshed_at": format_time(self.refreshed_at),
            "command": self.command,
        }

    def is_stale(self, *, now: datetime | None = None, stale_after: timedelta = DEFAULT_STALE_AFTER) -> bool:
        """Dead process on this host (or its pid now belongs to another process), no refresh for
        longer than `stale_after`, or a refresh time in the future beyond any honest clock skew."""
        now = now or datetime.now(UTC)
        if now - self.refreshed_at > stale_after or self.refreshed_at - now > MAX_CLOCK_SKEW:
            return True
        if self.hostname != socket.gethostname():
            return False
        if not _pid_alive(self.pid):
            return True
        started = _process_start(self.pid)
        return self.process_start is not None and started is not None and started != self.process_start

    def describe(self, now: datetime | None = None) -> str:
        """`exclusive lock held by pid 42 on host h for 'sfbackup prune', created 3m ago`."""
        age = (now or datetime.now(UTC)) - self.created_at
        kind = "exclusive" if self.exclusive else "shared"
        when = (
            f"created {_human_age(age)} ago"
            if age >= timedelta(0)
            else f"dated {_human_age(-age)} in the future (that host's clock is wrong)"
        )
        return f"{kind} lock held by pid {self.pid} on host {self.hostname} for {self.command!r}, {when}"


def list_locks(store: Store) -> list[LockInfo]:
    """Every readable lock (unreadable or malformed ones are skipped: a lock being written)."""
    found = []
    for item in store.list(f"{LOCKS_DIR}/"):
        if _is_lock_key(item.key):
            info = _read(store, item.key)
            if info is not None:
                found.append(info)
    return found


def remove_stale(
    store: Store, *, stale_after: timedelta = DEFAULT_STALE_AFTER, clock: Clock | None = None
) -> list[LockInfo]:
    """Remove stale locks; return what was removed."""
    now = (clock or _utc_now)()
    removed = [info for info in list_locks(store) if info.is_stale(now=now, stale_after=stale_after)]
    for info in removed:
        store.delete(info.key)
    return removed


def remove_all(store: Store) -> list[LockInfo]:
    """Remove every lock, live or not, and unreadable lock objects (`sfbackup unlock --remove-all`);
    return the readable ones that were removed."""
    removed = list_locks(store)
    for item in store.list(f"{LOCKS_DIR}/"):
        name = PurePosixPath(item.key).name
        if name.endswith(".json") or is_temporary(name):
            store.delete(item.key)
    return removed


class RepositoryLock:
    """A lock this process holds; refreshed in the background until `release()`."""

    def __init__(
        self,
        store: Store,
        *,
        exclusive: bool,
        command: str,
        clock: Clock,
        refresh_interval: timedelta,
    ) -> None:
        self.store = store
        self.id = uuid.uuid4().hex
        self.key = f"{LOCKS_DIR}/{self.id}.json"
        self.exclusive = exclusive
        self.command = command
        self._clock = clock
        self._created_at = clock()
        self._stop = threading.Event()
        self._interval = refresh_interval.total_seconds()
        self._thread: threading.Thread | None = None

    def write(self) -> None:
        """(Re)write the lock object with a fresh `refreshed_at`."""
        body = {
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
            "exclusive": self.exclusive,
            "created_at": format_time(self._created_at),
            "refreshed_at": format_time(self._clock()),
            "command": self.command,
            "process_start": _process_start(os.getpid()),
        }
        self.store.put_stream(self.key, [json.dumps(body).encode()])

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
        """Stop refreshing and remove the lock object."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with contextlib.suppress(StorageError):  # left behind, it goes stale
            self.store.delete(self.key)


@contextlib.contextmanager
def acquire(
    store: Store,
    *,
    exclusive: bool,
    command: str,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    refresh_interval: timedelta = DEFAULT_REFRESH_INTERVAL,
    clock: Clock | None = None,
) -> Iterator[RepositoryLock]:
    """Hold a shared or exclusive lock on the repository in `store` for the `with` block.

    Raises RepositoryLocked (exit 11) naming the holder when a live conflicting lock exists.
    """
    lock = RepositoryLock(
        store,
        exclusive=exclusive,
        command=command,
        clock=clock or _utc_now,
        refresh_interval=refresh_interval,
    )
    lock.write()
    try:
        _check_conflicts(lock, stale_after, clock or _utc_now)
    except BaseException:
        lock.release()
        raise
    lock.start_refreshing()
    try:
        yield lock
    finally:
        lock.release()


def _check_conflicts(mine: RepositoryLock, stale_after: timedelta, clock: Clock) -> None:
    now = clock()
    for other in list_locks(mine.store):
        if other.id == mine.id or not (mine.exclusive or other.exclusive):
            continue
        if other.is_stale(now=now, stale_after=stale_after):
            continue
        wanted = "an exclusive" if mine.exclusive else "a shared"
        raise RepositoryLocked(
            f"repository {mine.store.describe()} is locked: {other.describe(now)}; "
            f"{wanted} lock is needed for {mine.command!r}",
            hint=f"wait for that command to finish; if it is no longer running, run "
            f"`sfbackup unlock --repo {store_url(mine.store)}` (add --remove-all if the holder's "
            "host is gone)",
            pid=other.pid,
            hostname=other.hostname,
            holder_command=other.command,
            lock_path=mine.store.describe(other.key),
        )


def _is_lock_key(key: str) -> bool:
    name = PurePosixPath(key).name
    return key.count("/") == 1 and name.endswith(".json") and not is_temporary(name)


def _read(store: Store, key: str) -> LockInfo | None:
    try:
        with store.open(key) as handle:
            data = json.loads(handle.read())
        return LockInfo(
            id=PurePosixPath(key).stem,
            key=key,
            pid=int(data["pid"]),
            hostname=str(data["hostname"]),
            exclusive=bool(data["exclusive"]),
            created_at=parse_time(str(data["created_at"])),
            refreshed_at=parse_time(str(data.get("refreshed_at") or data["created_at"])),
            command=str(data.get("command") or ""),
            process_start=int(data["process_start"]) if data.get("process_start") is not None else None,
        )
    except (StorageError, OSError, ValueError, KeyError, TypeError):
        return None


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


def _process_start(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (Linux); None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: count from its end
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 of proc(5): starttime
    except (IndexError, ValueError):
        return None


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _human_age(age: timedelta) -> str:
    seconds = max(0, int(age.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d"
