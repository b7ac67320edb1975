"""Repository locks kept as objects inside a store, for stores with no local lock folder (S3).

The same `locks/<uuid>.json` files, rules and staleness as `sfbackup.repository.lock` uses on disk:
`store_lock()` writes ours, withdraws it if a conflicting live lock exists, and refreshes it in a
background thread while held; `list_store_locks()` reads them and `remove_store_locks()` clears
stale ones for `sfbackup unlock`. `sfbackup.repository.store` re-exports these names and picks between them
and the on-disk lock in `lock_location()`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from sfbackup.errors import RepositoryLocked, StorageError
from sfbackup.repository.atomic import is_temporary
from sfbackup.repository.layout import LOCKS_DIR
from sfbackup.repository.lock import DEFAULT_REFRESH_INTERVAL, DEFAULT_STALE_AFTER, LockInfo
from sfbackup.repository.manifest import format_time, parse_time

if TYPE_CHECKING:
    from sfbackup.repository.store import Store


def list_store_locks(store: Store) -> list[LockInfo]:
    """Every readable `locks/*.json` object in the store (unreadable ones are skipped)."""
    found: list[LockInfo] = []
    for item in store.list(f"{LOCKS_DIR}/"):
        name = PurePosixPath(item.key).name
        if is_temporary(name) or not name.endswith(".json"):
            continue
        try:
            with store.open(item.key) as handle:
                data = json.loads(handle.read())
            found.append(
                LockInfo(
                    id=name[: -len(".json")],
                    path=Path(item.key),
                    pid=int(data["pid"]),
                    hostname=str(data["hostname"]),
                    exclusive=bool(data["exclusive"]),
                    created_at=parse_time(str(data["created_at"])),
                    refreshed_at=parse_time(str(data.get("refreshed_at") or data["created_at"])),
                    command=str(data.get("command") or ""),
                )
            )
        except (StorageError, ValueError, KeyError, TypeError):
            continue
    return found


def remove_store_locks(store: Store, *, remove_all: bool = False) -> list[LockInfo]:
    """Remove the stale lock objects (every one with `remove_all`); return what was removed."""
    now = datetime.now(UTC)
    removed = [info for info in list_store_locks(store) if remove_all or info.is_stale(now=now)]
    for info in removed:
        store.delete(info.path.as_posix())
    return removed


@contextlib.contextmanager
def store_lock(
    store: Store,
    *,
    exclusive: bool,
    command: str,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    refresh_interval: timedelta = DEFAULT_REFRESH_INTERVAL,
) -> Iterator[str]:
    """Hold a lock object `locks/<uuid>.json` in the store for the `with` block (S3 has no
    local lock folder to share). Same rules as `sfbackup.repository.lock`: write ours, then look
    for conflicting live ones and withdraw ours if there is one. Yields our key."""
    lock_id = uuid.uuid4().hex
    key = f"{LOCKS_DIR}/{lock_id}.json"
    created = datetime.now(UTC)

    def write() -> None:
        body = {
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
            "exclusive": exclusive,
            "created_at": format_time(created),
            "refreshed_at": format_time(datetime.now(UTC)),
            "command": command,
        }
        store.put_stream(key, [json.dumps(body).encode()])

    write()
    try:
        now = datetime.now(UTC)
        for other in list_store_locks(store):
            if other.id == lock_id or not (exclusive or other.exclusive):
                continue
            if other.is_stale(now=now, stale_after=stale_after):
                continue
            raise RepositoryLocked(
                f"{store.describe()} is locked: {other.describe(now)}; "
                f"{'an exclusive' if exclusive else 'a shared'} lock is needed for {command!r}",
                hint="wait for that command to finish; if it is no longer running, run "
                "`sfbackup unlock --repo <this location>` (add --remove-all if its host is gone)",
                pid=other.pid,
                hostname=other.hostname,
                holder_command=other.command,
            )
    except BaseException:
        with contextlib.suppress(StorageError):
            store.delete(key)
        raise
    stop = threading.Event()

    def refresh() -> None:
        while not stop.wait(refresh_interval.total_seconds()):
            with contextlib.suppress(Exception):  # retried next interval; staleness takes 30 min
                write()

    thread = threading.Thread(target=refresh, name=f"sfbackup-store-lock-{lock_id}", daemon=True)
    thread.start()
    try:
        yield key
    finally:
        stop.set()
        thread.join()
        with contextlib.suppress(StorageError):
            store.delete(key)
