"""Repository locks, in a folder and in a bucket (moto's S3 server) alike: shared locks coexist,
exclusive ones exclude, stale ones never block, `remove_stale`/`remove_all` clear them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sfbackup.errors import ExitCode, RepositoryLocked
from sfbackup.repository import lock
from sfbackup.repository.store import LocalStore, Store
from tests.s3_server import RunningS3, running_s3


@pytest.fixture(scope="module")
def s3_server() -> Iterator[RunningS3]:
    with running_s3(set_env=False) as running:
        yield running


@pytest.fixture(params=["folder", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "folder":
        return LocalStore(tmp_path)
    server: RunningS3 = request.getfixturevalue("s3_server")
    bucket = f"lock-{uuid.uuid4().hex[:12]}"
    server.create_bucket(bucket)
    return server.store(bucket, "repo")


def _read(store: Store, key: str) -> dict[str, Any]:
    with store.open(key) as handle:
        data: dict[str, Any] = json.loads(handle.read())
    return data


def _write_foreign_lock(
    store: Store,
    *,
    exclusive: bool,
    pid: int | None = None,
    hostname: str | None = None,
    age: timedelta = timedelta(0),
    command: str = "sfbackup prune",
    name: str = "f" * 32,
    process_start: int | None = None,
) -> str:
    when = (datetime.now(UTC) - age).isoformat()
    key = f"locks/{name}.json"
    body = {
        "pid": os.getpid() if pid is None else pid,
        "hostname": hostname or socket.gethostname(),
        "exclusive": exclusive,
        "created_at": when,
        "refreshed_at": when,
        "command": command,
        **({"process_start": process_start} if process_start is not None else {}),
    }
    store.put_stream(key, [json.dumps(body).encode()])
    return key


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_given_a_lock_when_held_then_its_object_has_the_documented_fields_and_is_removed_after(
    store: Store,
) -> None:
    with lock.acquire(store, exclusive=False, command="sfbackup verify") as held:
        data = _read(store, held.key)
        assert set(data) == {"pid", "hostname", "exclusive", "created_at", "refreshed_at", "command", "process_start"}
        assert data["pid"] == os.getpid() and data["exclusive"] is False
        assert data["command"] == "sfbackup verify"
        assert held.key == f"locks/{held.id}.json"
    assert lock.list_locks(store) == []
    assert list(store.list("locks/")) == []


def test_given_a_folder_lock_then_it_is_a_file_in_the_locks_folder(tmp_path: Path) -> None:
    with lock.acquire(LocalStore(tmp_path), exclusive=True, command="sfbackup run") as held:
        assert (tmp_path / "locks" / f"{held.id}.json").is_file()


def test_given_shared_locks_then_they_coexist(store: Store) -> None:
    with (
        lock.acquire(store, exclusive=False, command="sfbackup upload"),
        lock.acquire(store, exclusive=False, command="sfbackup verify"),
    ):
        assert sorted(info.command for info in lock.list_locks(store)) == [
            "sfbackup upload",
            "sfbackup verify",
        ]


@pytest.mark.parametrize(("held_exclusive", "want_exclusive"), [(True, False), (False, True), (True, True)])
def test_given_a_live_conflicting_lock_then_acquire_raises_locked_naming_the_holder(
    store: Store, held_exclusive: bool, want_exclusive: bool
) -> None:
    _write_foreign_lock(store, exclusive=held_exclusive, command="sfbackup prune")
    with (
        pytest.raises(RepositoryLocked) as caught,
        lock.acquire(store, exclusive=want_exclusive, command="x"),
    ):
        pass
    error = caught.value
    assert error.exit_code == ExitCode.LOCKED
    text = str(error)
    assert f"pid {os.getpid()}" in text and socket.gethostname() in text and "sfbackup prune" in text
    assert "ago" in text and "sfbackup unlock --repo " in text
    assert len(lock.list_locks(store)) == 1  # our own attempt was withdrawn


def test_given_a_lock_of_a_dead_process_on_this_host_then_it_is_stale_and_does_not_block(
    store: Store,
) -> None:
    _write_foreign_lock(store, exclusive=True, pid=_dead_pid())
    [info] = lock.list_locks(store)
    assert info.is_stale()
    with lock.acquire(store, exclusive=True, command="sfbackup prune"):
        assert len(lock.list_locks(store)) == 2  # stale locks are not removed, only ignored


def test_given_a_lock_on_another_host_then_only_age_makes_it_stale(store: Store) -> None:
    _write_foreign_lock(store, exclusive=True, pid=_dead_pid(), hostname="elsewhere")
    [fresh] = lock.list_locks(store)
    assert not fresh.is_stale()
    assert fresh.is_stale(now=datetime.now(UTC) + timedelta(minutes=31))
    with pytest.raises(RepositoryLocked), lock.acquire(store, exclusive=False, command="sfbackup verify"):
        pass


def test_given_an_old_unrefreshed_lock_on_another_host_then_it_is_stale_and_does_not_block(
    store: Store,
) -> None:
    old = _write_foreign_lock(store, exclusive=True, hostname="elsewhere", age=timedelta(hours=1))
    [info] = lock.list_locks(store)
    assert info.key == old and info.is_stale()
    assert not info.is_stale(stale_after=timedelta(hours=2))
    with lock.acquire(store, exclusive=True, command="sfbackup prune") as held:
        assert {i.key for i in lock.list_locks(store)} == {old, held.key}


def test_given_a_lock_dated_in_the_future_by_another_host_then_it_is_stale_and_says_so(
    store: Store,
) -> None:
    _write_foreign_lock(store, exclusive=True, hostname="elsewhere", age=-timedelta(days=2))
    [info] = lock.list_locks(store)
    assert info.is_stale()
    assert "in the future (that host's clock is wrong)" in info.describe()
    with lock.acquire(store, exclusive=True, command="sfbackup prune"):
        pass


def test_given_a_lock_whose_pid_now_belongs_to_another_process_then_it_is_stale_and_unlock_removes_it(
    store: Store,
) -> None:
    # our own (live) pid, but a process start time that is not ours: the holder died, the pid was reused
    reused = _write_foreign_lock(store, exclusive=True, process_start=1)
    [info] = lock.list_locks(store)
    assert info.is_stale()
    assert [removed.key for removed in lock.remove_stale(store)] == [reused]


def test_given_stale_and_live_locks_then_remove_stale_removes_only_the_stale_ones(store: Store) -> None:
    stale = _write_foreign_lock(store, exclusive=True, pid=_dead_pid())
    with lock.acquire(store, exclusive=False, command="sfbackup verify") as held:
        removed = lock.remove_stale(store)
        assert [r.key for r in removed] == [stale]
        assert [i.key for i in lock.list_locks(store)] == [held.key]
        assert [r.key for r in lock.remove_all(store)] == [held.key]
        assert lock.list_locks(store) == []


def test_given_a_held_lock_then_the_background_thread_refreshes_it(store: Store) -> None:
    ticks = iter(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i) for i in range(1000))
    with lock.acquire(
        store,
        exclusive=False,
        command="sfbackup verify",
        refresh_interval=timedelta(milliseconds=20),
        clock=lambda: next(ticks),
    ) as held:
        first = _read(store, held.key)["refreshed_at"]
        deadline = time.monotonic() + 5
        while _read(store, held.key)["refreshed_at"] == first and time.monotonic() < deadline:
            time.sleep(0.01)
        data = _read(store, held.key)
        assert data["refreshed_at"] > first
        assert data["created_at"] == "2026-01-01T00:00:00.000Z"


def test_given_a_malformed_lock_object_then_listing_skips_it_and_remove_all_removes_it(store: Store) -> None:
    store.put_stream("locks/broken.json", [b"{"])
    assert lock.list_locks(store) == []
    with lock.acquire(store, exclusive=True, command="sfbackup prune"):
        pass  # an unreadable lock blocks nobody
    assert lock.remove_all(store) == []
    assert list(store.list("locks/")) == []
