"""One writer at a time: two `sfbackup run` processes on one repository, and a killed run's lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sfbackup.errors import ExitCode
from sfbackup.repository import list_locks
from sfbackup.repository.store import LocalStore
from sfbackup.testing import running_emulator
from tests.conftest import emulator_env

SFBACKUP = [sys.executable, "-m", "sfbackup"]


@pytest.fixture(scope="module")
def slow_org() -> Iterator[Any]:
    """Bulk jobs take a few seconds, so a run holds the lock long enough to collide with."""
    with running_emulator(records=30, seed=3, job_latency=3.0) as running:
        yield running


def start_run(org: Any, repo: Path) -> subprocess.Popen[str]:
    env = {**os.environ, **emulator_env(org)}
    config = repo.parent / "bulk.toml"
    config.write_text("[backup]\nbulk_min_records = 0\n")  # Bulk even for a small object
    return subprocess.Popen(
        [*SFBACKUP, "run", "--repo", str(repo), "--config", str(config),
         "--instance-url", org.instance_url, "--objects",
         "Account", "--no-files", "--no-verify", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_lock(repo: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (repo / "locks").is_dir() and list_locks(LocalStore(repo)):
            return
        time.sleep(0.05)
    raise AssertionError("the first run never took the lock")


def test_given_two_runs_on_one_repository_when_started_together_then_one_exits_locked(
    slow_org: Any, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    first = start_run(slow_org, repo)
    try:
        wait_for_lock(repo)
        second = start_run(slow_org, repo)
        out, err = second.communicate(timeout=60)
        assert second.returncode == ExitCode.LOCKED, err
        error = [line for line in out.splitlines() if '"type": "error"' in line]
        assert error and "RepositoryLocked" in error[0] and "sfbackup unlock" in error[0]
        first.communicate(timeout=120)
        assert first.returncode == 0
    finally:
        first.kill()


def test_given_run_killed_holding_the_lock_when_next_run_starts_then_the_stale_lock_is_ignored(
    slow_org: Any, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    victim = start_run(slow_org, repo)
    wait_for_lock(repo)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert list_locks(LocalStore(repo)), "a SIGKILLed run leaves its lock file behind"

    resumed = start_run(slow_org, repo)
    _out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
