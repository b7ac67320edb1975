"""Repository locks: shared locks coexist, exclusive ones exclude, stale ones never block."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sfbackup.errors import ExitCode, RepositoryLocked
from sfbackup.repository import lock


def _write_foreign_lock(
    root: Path,
    *,
    exclusive: bool,
    pid: int | None = None,
    hostname: str | None = None,
    age: timedelta = timedelta(0),
    command: str = "sfbackup prune",
) -> Path:
    folder = root / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    when = (datetime.now(UTC) - age).isoformat()
    path = folder / f"{'f' * 32}.json"
    path.write_text(
        json.dumps(
            {
                "pid": os.getpid() if pid is None else pid,
                "hostname": hostname or socket.gethostname(),
                "exclusive": exclusive,
                "created_at": when,
                "refreshed_at": when,
                "command": command,
            }
        )
    )
    return path


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_given_a_lock_when_held_then_its_file_has_the_documented_fields_and_is_removed_after(
    tmp_path: Path,
) -> None:
    with lock.acquire(tmp_path, exclusive=False, command="sfbackup run") as held:
        data: dict[str, Any] = json.loads(held.path.read_text())
        assert set(data) == {"pid", "hostname", "exclusive", "created_at", "refreshed_at", "command"}
        assert data["pid"] == os.getpid() and data["exclusive"] is False and data["command"] == "sfbackup run"
        assert held.path.parent == tmp_path / "locks"
    assert lock.list_locks(tmp_path) == []


def test_given_shared_locks_then_they_coexist(tmp_path: Path) -> None:
    with (
        lock.acquire(tmp_path, exclusive=False, command="sfbackup run"),
        lock.acquire(tmp_path, exclusive=False, command="sfbackup verify"),
    ):
        assert len(lock.list_locks(tmp_path)) == 2


@pytest.mark.parametrize(("held_exclusive", "want_exclusive"), [(True, False), (False, True), (True, True)])
def test_given_a_live_conflicting_lock_then_acquire_raises_locked_naming_the_holder(
    tmp_path: Path, held_exclusive: bool, want_exclusive: bool
) -> None:
    _write_foreign_lock(tmp_path, exclusive=held_exclusive, command="sfbackup prune")
    with (
        pytest.raises(RepositoryLocked) as caught,
        lock.acquire(tmp_path, exclusive=want_exclusive, command="x"),
    ):
        pass
    error = caught.value
    assert error.exit_code == ExitCode.LOCKED
    text = str(error)
    assert f"pid {os.getpid()}" in text and socket.gethostname() in text and "sfbackup prune" in text
    assert "ago" in text and "sfbackup unlock" in text
    assert len(lock.list_locks(tmp_path)) == 1  # our own attempt was withdrawn


def test_given_a_lock_of_a_dead_process_on_this_host_then_it_is_stale_and_does_not_block(
    tmp_path: Path,
) -> None:
    _write_foreign_lock(tmp_path, exclusive=True, pid=_dead_pid())
    [info] = lock.list_locks(tmp_path)
    assert info.is_stale()
    with lock.acquire(tmp_path, exclusive=True, command="sfbackup prune"):
        pass


def test_given_a_lock_on_another_host_then_only_age_makes_it_stale(tmp_path: Path) -> None:
    _write_foreign_lock(tmp_path, exclusive=True, pid=_dead_pid(), hostname="elsewhere")
    [fresh] = lock.list_locks(tmp_path)
    assert not fresh.is_stale()
    assert fresh.is_stale(now=datetime.now(UTC) + timedelta(minutes=31))


def test_given_an_old_unrefreshed_lock_then_it_is_stale(tmp_path: Path) -> None:
    _write_foreign_lock(tmp_path, exclusive=True, hostname="elsewhere", age=timedelta(hours=1))
    with lock.acquire(tmp_path, exclusive=False, command="sfbackup run"):
        pass


def test_given_stale_and_live_locks_then_remove_stale_removes_only_the_stale_ones(tmp_path: Path) -> None:
    stale = _write_foreign_lock(tmp_path, exclusive=True, pid=_dead_pid())
    with lock.acquire(tmp_path, exclusive=False, command="sfbackup run") as held:
        removed = lock.remove_stale(tmp_path)
        assert [r.path for r in removed] == [stale]
        assert [i.path for i in lock.list_locks(tmp_path)] == [held.path]
        assert [r.path for r in lock.remove_all(tmp_path)] == [held.path]
        assert lock.list_locks(tmp_path) == []


def test_given_a_held_lock_then_the_background_thread_refreshes_it(tmp_path: Path) -> None:
    ticks = iter(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i) for i in range(1000))
    with lock.acquire(
        tmp_path,
        exclusive=False,
        command="sfbackup run",
        refresh_interval=timedelta(milliseconds=20),
        clock=lambda: next(ticks),
    ) as held:
        first = json.loads(held.path.read_text())["refreshed_at"]
        deadline = time.monotonic() + 5
        while json.loads(held.path.read_text())["refreshed_at"] == first and time.monotonic() < deadline:
            time.sleep(0.01)
        data = json.loads(held.path.read_text())
        assert data["refreshed_at"] > first
        assert data["created_at"] == "2026-01-01T00:00:00.000Z"


def test_given_a_malformed_lock_file_then_it_is_ignored_by_listing(tmp_path: Path) -> None:
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / "broken.json").write_text("{")
    assert lock.list_locks(tmp_path) == []
    lock.remove_all(tmp_path)
    assert list((tmp_path / "locks").iterdir()) == []
