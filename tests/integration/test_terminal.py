"""A run as a person sees it in an 80-column terminal (tmux, as a real terminal renders the live
progress): every line fits, the end is the totals, the verdict and the report's path, and a
signal in the terminal stops it cleanly."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import emulator_env

SRC = Path(__file__).resolve().parents[2] / "src"
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt install tmux)")


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[str]:
    """A tmux session of 80x40 with its own server socket; yields the socket name."""
    socket = f"sfbackup-test-{tmp_path.name[-12:]}"
    yield socket
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)


def start(socket: str, command: str, env: dict[str, str]) -> None:
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    script = f"export {exports}; {command}; echo EXIT=$?; sleep 600"
    subprocess.run(["tmux", "-L", socket, "new-session", "-d", "-x", "80", "-y", "40", script], check=True)


def screen(socket: str) -> list[str]:
    shown = subprocess.run(["tmux", "-L", socket, "capture-pane", "-p", "-J", "-S", "-200"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    return shown.splitlines()


def wait_for(socket: str, text: str, timeout: float = 90) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = screen(socket)
        if any(text in line for line in lines):
            return lines
        time.sleep(0.3)
    raise AssertionError(f"{text!r} never appeared:\n" + "\n".join(screen(socket)))


def sfbackup_command(*args: str) -> str:
    return f"PYTHONPATH={shlex.quote(str(SRC))} {shlex.quote(sys.executable)} -m sfbackup " + " ".join(
        shlex.quote(a) for a in args
    )


def test_given_an_80_column_terminal_when_run_then_every_line_fits_and_it_ends_with_the_verdict_and_report(
    emulator: Any, tmp_path: Path, terminal: str
) -> None:
    command = sfbackup_command("run", "--repo", str(tmp_path / "repo"), "--instance-url", emulator.instance_url)
    start(terminal, command, {**emulator_env(emulator), "TERM": "xterm-256color"})
    lines = wait_for(terminal, "EXIT=")
    capture = subprocess.run(["tmux", "-L", terminal, "capture-pane", "-p", "-S", "-200"],
                             capture_output=True, text=True, check=True).stdout.splitlines()  # fmt: skip
    assert all(len(line) <= 80 for line in capture)
    assert "EXIT=0" in lines
    ending = [line for line in lines if line.strip()]
    exit_at = ending.index("EXIT=0")
    report = " ".join(line.strip() for line in ending[exit_at - 2 : exit_at])  # a long path wraps whole
    assert "report: " in report and report.endswith("report.html")
    verdict = next(line for line in ending if line.startswith(("SAFE TO CANCEL", "NOT SAFE TO CANCEL")))
    totals = next(line for line in ending if line.startswith("snapshot ") and " complete: " in line)
    assert ending.index(totals) < ending.index(verdict) < exit_at
    assert any(line.startswith("all ") and "objects" in line for line in lines), "the overall bar"


def test_given_a_run_in_a_terminal_when_ctrl_c_then_it_stops_cleanly_with_exit_130(
    tmp_path: Path, terminal: str
) -> None:
    from sfbackup.testing import running_emulator

    config = tmp_path / "bulk.toml"
    config.write_text("[backup]\nbulk_min_records = 0\n")
    with running_emulator(records=60, seed=3, job_latency=4.0) as slow:
        command = sfbackup_command("run", "--repo", str(tmp_path / "repo"), "--instance-url", slow.instance_url,
                                   "--config", str(config), "--objects", "Account,Contact", "--no-files")
        start(terminal, command, emulator_env(slow))
        wait_for(terminal, "Bulk job queued")
        subprocess.run(["tmux", "-L", terminal, "send-keys", "C-c"], check=True)
        lines = wait_for(terminal, "EXIT=")
    assert "EXIT=130" in lines, "\n".join(lines)
    # (the signal handler's own line may be redrawn over by the live bars; the run's end says it)
    assert any("stopped on a signal; objects not exported: Account, Contact" in line for line in lines)
    assert not any("Traceback" in line for line in lines)
