"""Disk full: the repository on a small tmpfs (mounting needs root; skipped otherwise), filled so
that the run runs out of space at different moments (a schema, a part, the manifest, file bodies).
The run stops with a StorageError that names the file, says the disk is full and what to do;
nothing is `exported` or `complete` that is not; every file a manifest names exists with its
hash; after space is freed (the filler deleted, or the tmpfs remounted bigger) `--resume` finishes
the same snapshot with the data of an uninterrupted run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sfbackup.errors import ExitCode, StorageError
from sfbackup.repository import Repository
from tests.integration.test_chaos import chaos


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs, unmounted afterwards."""
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    mountpoint = tmp_path / "small-disk"
    mountpoint.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mountpoint)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, Any]]]:
    with chaos.chaos_emulator(records=40) as emu:
        repo = tmp_path_factory.mktemp("reference") / "repo"
        assert run_records(emu, repo, resume=False) == "exported"
        yield emu, chaos.snapshot_data(repo)


def run_records(emulator: Any, repo: Path, *, resume: bool) -> str:
    from sfbackup.backup.run import run_backup
    from sfbackup.salesforce.client import SalesforceClient

    settings = chaos.settings_for(emulator, verify_after_run=False, files=False)
    client = SalesforceClient(settings.connection, sleep=lambda seconds: None)
    return run_backup(settings, repo, resume=resume, client=client).state


def fill(disk: Path, leave_free: int) -> Path:
    stats = os.statvfs(disk)
    filler = disk / "filler"
    filler.write_bytes(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave_free))
    return filler


def assert_clear_disk_full_error(exc: StorageError, disk: Path) -> None:
    text = str(exc)
    assert exc.exit_code == ExitCode.FAILED
    assert str(disk) in text, "names the file"
    assert "disk is full" in text and "ENOSPC" in text
    assert "free space" in text and "--resume" in text, "says what to do"


def assert_nothing_claimed(repo: Path) -> None:
    for snapshot in Repository.open(repo).snapshots():
        assert snapshot.manifest.state in ("running", "incomplete"), snapshot.manifest.state
    assert chaos.saved_state_problems(repo) == []


# Free bytes left before the run: it runs out at different moments (schemas, parts, the manifest).
@pytest.mark.parametrize("leave_free", [20_000, 350_000, 700_000])
def test_given_disk_fills_up_when_run_then_clear_error_nothing_claimed_and_resume_completes(
    setup: tuple[Any, dict[str, Any]], tmpfs: Path, leave_free: int
) -> None:
    emulator, reference = setup
    repo = tmpfs / "repo"
    filler = fill(tmpfs, leave_free)
    with pytest.raises(StorageError) as raised:
        run_records(emulator, repo, resume=False)
    assert_clear_disk_full_error(raised.value, tmpfs)
    assert_nothing_claimed(repo)

    filler.unlink()
    assert run_records(emulator, repo, resume=True) == "exported"
    assert len(Repository.open(repo).snapshots()) == 1, "the same snapshot was finished"
    assert chaos.data_differences(chaos.snapshot_data(repo), reference) == []


def test_given_disk_full_when_cli_runs_then_exit_1_with_message_and_remount_bigger_then_resume_completes(
    setup: tuple[Any, dict[str, Any]], tmpfs: Path, tmp_path: Path
) -> None:
    emulator, reference = setup
    repo = tmpfs / "repo"
    fill(tmpfs, 300_000)
    (tmpfs / "filler").rename(tmpfs / "kept-filler")  # stays: the disk is made bigger instead
    config = chaos.write_config(tmp_path / "sfbackup.toml")
    log = tmp_path / "run.log"
    process = chaos.start_cli(emulator, repo, config, "--no-verify", "--no-files", log=log)
    assert process.wait(timeout=120) == ExitCode.FAILED, log.read_text()[-2000:]
    output = log.read_text()
    assert "disk is full" in output and "--resume" in output and "Traceback" not in output
    assert_nothing_claimed(repo)

    subprocess.run(["mount", "-o", "remount,size=64m", str(tmpfs)], check=True)
    resumed = chaos.start_cli(emulator, repo, config, "--no-verify", "--no-files", "--resume", log=log)
    assert resumed.wait(timeout=120) == 0, log.read_text()[-2000:]
    assert chaos.data_differences(chaos.snapshot_data(repo), reference) == []


def test_given_disk_fills_with_file_bodies_when_run_then_it_stops_with_disk_full_error(
    setup: tuple[Any, dict[str, Any]], tmpfs: Path, tmp_path: Path
) -> None:
    emulator, _reference = setup
    repo = tmpfs / "repo"
    fill(tmpfs, 1_300_000)  # records fit, file bodies (about 2 MB) do not
    config = chaos.write_config(tmp_path / "sfbackup.toml")
    log = tmp_path / "run.log"
    process = chaos.start_cli(emulator, repo, config, "--no-verify", log=log)
    try:
        code = process.wait(timeout=25)  # a healthy run takes under 10 s
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail("sfbackup run hung after the disk filled up while downloading file bodies")
    assert code == ExitCode.FAILED, log.read_text()[-2000:]
    assert "disk is full" in log.read_text()
    assert_nothing_claimed(repo)
