"""The edges of the command line as a person meets them: signals, pipes, files where folders belong,
secrets typed as flags, errors read by a log collector. Each drives the real `sfbackup` process."""

from __future__ import annotations

import json
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
from tests.conftest import emulator_env

SRC = Path(__file__).resolve().parents[2] / "src"


def sfbackup(*args: str, env: dict[str, str] | None = None, **kwargs: Any) -> subprocess.Popen[str]:
    """`sfbackup ARGS` as its own process, as a shell would start it."""
    full_env = {**os.environ, "PYTHONPATH": str(SRC), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "sfbackup", *args], env=full_env, text=True,
        stdout=kwargs.pop("stdout", subprocess.PIPE), stderr=kwargs.pop("stderr", subprocess.PIPE), **kwargs,
    )


def finished(process: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out or "", err or ""


@pytest.fixture(scope="module")
def slow_bulk_org() -> Iterator[Any]:
    """An org whose Bulk jobs take seconds, so a signal lands while objects are still exporting."""
    from sfbackup.testing import running_emulator

    with running_emulator(records=60, seed=3, job_latency=4.0) as running:
        yield running


def start_slow_run(org: Any, repo: Path, tmp_path: Path) -> subprocess.Popen[str]:
    config = tmp_path / "bulk.toml"
    config.write_text("[backup]\nbulk_min_records = 0\n")
    return sfbackup(
        "run", "--repo", str(repo), "--instance-url", org.instance_url, "--config", str(config),
        "--objects", "Account,Contact,Opportunity,Lead", "--no-files", "--no-verify", "--json",
        env=emulator_env(org),
    )


def wait_for_event(process: subprocess.Popen[str], event: str, timeout: float = 30) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if json.loads(line).get("event") == event:
            return
    raise AssertionError(f"the run never reported {event}")


def manifest_state(repo: Path) -> str:
    from sfbackup.repository import Repository

    return str(Repository.open(repo).snapshot("latest").manifest.state)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_given_one_signal_during_a_run_when_it_stops_then_exit_130_and_the_snapshot_is_resumable(
    slow_bulk_org: Any, tmp_path: Path, signum: int
) -> None:
    repo = tmp_path / "repo"
    process = start_slow_run(slow_bulk_org, repo, tmp_path)
    wait_for_event(process, "object_started")
    process.send_signal(signum)
    code, out, err = finished(process)
    assert code == ExitCode.INTERRUPTED, (out, err)
    assert "stopping after the current page" in err
    assert "Traceback" not in out + err
    assert manifest_state(repo) == "incomplete"
    result = json.loads(out.strip().splitlines()[-1])
    assert result["type"] == "result" and result["state"] == "incomplete"


def test_given_two_signals_during_a_run_when_it_aborts_then_exit_130_and_the_snapshot_is_not_left_running(
    slow_bulk_org: Any, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    process = start_slow_run(slow_bulk_org, repo, tmp_path)
    wait_for_event(process, "object_started")
    process.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    code, out, err = finished(process)
    assert code == ExitCode.INTERRUPTED, (out, err)
    assert "Traceback" not in out + err
    assert manifest_state(repo) == "incomplete"


@pytest.mark.parametrize("typed", [["--password", "hunter2-secret"], ["--password=hunter2-secret"],
                                   ["--security-token", "hunter2-secret"]])
def test_given_a_secret_typed_as_a_flag_when_run_then_exit_2_the_value_is_never_echoed(typed: list[str]) -> None:
    code, out, err = finished(sfbackup("run", "--repo", "/nonexistent", *typed))
    assert code == ExitCode.USAGE
    assert "hunter2-secret" not in out + err
    assert typed[0].split("=")[0] in err and "SF_PASSWORD" in err and "secrets never go on the command line" in err


@pytest.mark.parametrize("command", [["run"], ["snapshots"], ["show", "latest"], ["verify"], ["forget",
                                     "--keep-last", "1"], ["prune"], ["unlock"], ["upload", "--bucket", "b"]])
def test_given_a_file_where_the_repository_folder_belongs_when_any_command_then_a_message_not_a_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    code, out, err = finished(sfbackup(*command, "--repo", str(a_file), env={"SF_USERNAME": "u@example.com"}))
    assert code in (ExitCode.USAGE, ExitCode.NO_REPOSITORY), (code, out, err)
    assert "Traceback" not in out + err
    assert str(a_file) in err


def saved_repo_with_snapshots(tmp_path: Path, count: int) -> Path:
    from datetime import UTC, datetime, timedelta

    from sfbackup.repository import Repository
    from tests.snapshot_builder import add_snapshot

    path = tmp_path / "many"
    repo = Repository.open_or_init(path)
    for day in range(count):
        add_snapshot(repo, datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=day), bodies=[b"x" * 10])
    return path


@pytest.mark.parametrize("command", [["snapshots"], ["show", "latest"], ["verify", "latest"]])
def test_given_a_reader_that_goes_away_when_a_command_prints_then_it_ends_quietly(
    tmp_path: Path, command: list[str]
) -> None:
    repo = saved_repo_with_snapshots(tmp_path, 3)
    process = sfbackup(*command, "--repo", str(repo))
    assert process.stdout is not None
    process.stdout.close()  # `| head -0`: the pipe's reader is gone before the first line
    code = process.wait(timeout=60)
    err = process.stderr.read() if process.stderr else ""
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert code in (ExitCode.BROKEN_PIPE, ExitCode.OK), err


def test_given_piped_output_when_run_fails_then_the_error_is_a_json_line_as_well(
    emulator: Any, tmp_path: Path
) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    code, out, err = finished(
        sfbackup("run", "--repo", str(a_file), "--instance-url", emulator.instance_url, env=emulator_env(emulator))
    )
    assert code == ExitCode.USAGE
    line = json.loads(out.strip().splitlines()[-1])
    assert line["type"] == "error" and line["exit_code"] == ExitCode.USAGE and "is a file" in line["message"]
    assert "is a file" in err  # and for the person reading the cron mail


def test_given_piped_output_when_run_ends_then_exactly_one_summary_object(emulator: Any, tmp_path: Path) -> None:
    code, out, err = finished(sfbackup(
        "run", "--repo", str(tmp_path / "repo"), "--instance-url", emulator.instance_url,
        "--objects", "Account", "--no-files", "--no-verify", env=emulator_env(emulator),
    ))
    assert code == ExitCode.OK, err
    lines = [json.loads(line) for line in out.strip().splitlines()]
    finals = [line for line in lines if line["type"] in ("result", "summary")]
    assert len(finals) == 1 and finals[0] is lines[-1] and finals[0]["command"] == "run"
    assert finals[0]["rows"] > 0


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(("url", "says"), [
    (f"http://127.0.0.1:{free_port()}", "connection refused"),
    ("https://no-such-host.invalid", "host name not found"),
])
def test_given_an_instance_nobody_answers_at_when_run_then_exit_14_at_once_saying_why(
    tmp_path: Path, url: str, says: str
) -> None:
    started = time.monotonic()
    code, out, err = finished(sfbackup(
        "run", "--repo", str(tmp_path / "repo"), "--instance-url", url,
        env={"SF_USERNAME": "u@example.com", "SF_PASSWORD": "pw-not-shown", "SF_SECURITY_TOKEN": "tok"},
    ))
    assert code == ExitCode.UNREACHABLE, err
    assert says in err and "Traceback" not in err and "pw-not-shown" not in out + err
    assert time.monotonic() - started < 15, "a typo in the URL is not retried for a minute"


@pytest.fixture
def dropping_server() -> Iterator[str]:
    """A server that accepts each connection and closes it at once: a network that fails transiently."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stopped = threading.Event()

    def serve() -> None:
        while not stopped.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stopped.set()
    listener.close()


def test_given_a_flaky_network_when_run_verbose_then_each_retry_is_shown_and_logged_to_the_file(
    dropping_server: str, tmp_path: Path
) -> None:
    config = tmp_path / "retries.toml"
    config.write_text("[connection]\nmax_retries = 2\n")
    log_file = tmp_path / "logs" / "sfbackup.jsonl"
    env = {"SF_USERNAME": "u@example.com", "SF_PASSWORD": "pw-not-shown", "SF_SECURITY_TOKEN": "tok"}
    args = ["run", "--repo", str(tmp_path / "repo"), "--instance-url", dropping_server, "--config", str(config)]
    code, out, err = finished(sfbackup(*args, "-v", "--log-file", str(log_file), env=env))
    assert code == ExitCode.UNREACHABLE, err
    assert "retry 1 of 2" in err and "retry 2 of 2" in err, err
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert any("retry 2 of 2" in r["message"] for r in records)
    assert all(r["type"] == "log" and r["level"] in ("debug", "info", "warning", "error") for r in records)
    assert "pw-not-shown" not in log_file.read_text() + out + err

    code, out, err = finished(sfbackup(*args, env=env))
    assert code == ExitCode.UNREACHABLE and "retry 1 of 2" not in err  # without -v: the outcome only


def test_given_quiet_when_run_then_no_progress_only_the_result(emulator: Any, tmp_path: Path) -> None:
    code, out, err = finished(sfbackup(
        "run", "--repo", str(tmp_path / "repo"), "--instance-url", emulator.instance_url, "--objects",
        "Account", "--no-files", "--no-verify", "-q", env=emulator_env(emulator),
    ))
    assert code == ExitCode.OK, err
    assert [json.loads(line)["type"] for line in out.strip().splitlines()] == ["result"]
    assert "object_started" not in err


def test_given_nothing_to_resume_when_run_resume_then_it_says_so_and_starts_a_new_snapshot(
    emulator: Any, tmp_path: Path
) -> None:
    args = ["run", "--repo", str(tmp_path / "repo"), "--instance-url", emulator.instance_url, "--objects",
            "Account", "--no-files", "--no-verify"]
    code, out, err = finished(sfbackup(*args, "--resume", env=emulator_env(emulator)))
    assert code == ExitCode.OK, err
    assert "nothing to resume (the repository has no snapshot yet); starting a new snapshot" in out
    code, out, err = finished(sfbackup(*args, "--resume", env=emulator_env(emulator)))
    assert code == ExitCode.OK, err
    assert "nothing to resume (the newest snapshot, " in out and ", is exported); starting a new" in out


def test_given_several_snapshots_when_reading_the_readme_way_then_one_snapshots_live_rows_are_counted(
    emulator: Any, tmp_path: Path
) -> None:
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    repo = tmp_path / "repo"
    args = ["run", "--repo", str(repo), "--instance-url", emulator.instance_url, "--objects", "Account",
            "--no-files"]
    for _ in range(2):
        code, out, err = finished(sfbackup(*args, env=emulator_env(emulator)))
        assert code == ExitCode.OK, err
    code, out, err = finished(sfbackup("show", "latest-complete", "--path", "--repo", str(repo)))
    assert code == ExitCode.OK, err
    folder = Path(out.strip())
    assert folder.parent == repo / "snapshots"
    table = ds.dataset(sorted(folder.glob("objects/Account/*.parquet"))).to_table()
    live = table.filter(pc.invert(table["IsDeleted"])).num_rows
    in_org = emulator.org.query("SELECT COUNT() FROM Account", include_deleted=False, api="rest",
                                api_version="62.0").total_size
    assert live == in_org and table.num_rows > live  # deleted rows are in the part, and left out


def test_given_a_snapshot_a_dead_run_left_running_when_the_next_run_starts_then_it_is_marked_incomplete(
    emulator: Any, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from sfbackup.repository import Repository
    from tests.snapshot_builder import add_snapshot

    path = tmp_path / "repo"
    dead = add_snapshot(Repository.open_or_init(path), datetime(2026, 11, 1, tzinfo=UTC), state="running")
    code, out, err = finished(sfbackup(
        "run", "--repo", str(path), "--instance-url", emulator.instance_url, "--objects", "Account",
        "--no-files", "--no-verify", env=emulator_env(emulator),
    ))
    assert code == ExitCode.OK, err
    assert f"snapshot {dead.id} was left running by a run that died; marked incomplete" in out
    manifest = Repository.open(path).snapshot(dead.id).manifest
    assert manifest.state == "incomplete"
    assert manifest.errors[-1].code == "Interrupted" and "--resume" in manifest.errors[-1].message


def test_given_a_read_only_copy_when_verify_no_lock_then_nothing_in_it_is_written_and_the_reports_are_elsewhere(
    emulator: Any, tmp_path: Path
) -> None:
    import hashlib

    repo = tmp_path / "repo"
    code, out, err = finished(sfbackup(
        "run", "--repo", str(repo), "--instance-url", emulator.instance_url, "--objects", "Account",
        "--no-files", "--no-metadata", env=emulator_env(emulator),
    ))
    assert code == ExitCode.OK, err

    def digest() -> dict[str, str]:
        return {str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(repo.rglob("*")) if p.is_file()}

    from sfbackup.repository import Repository

    reports = tmp_path / "audit"
    with Repository.open(repo).lock(exclusive=True, command="a run elsewhere"):
        before = digest()  # with the lock of a run holding the repository: verify takes no lock of its own
        code, out, err = finished(sfbackup("verify", "--repo", str(repo), "--read-data", "--no-lock",
                                           "--report-dir", str(reports)))
        assert code == ExitCode.OK, out + err
        assert digest() == before, "a read-only copy is not written: no lock, no report, no manifest change"
        code, out, err = finished(sfbackup("verify", "--repo", str(repo)))
        assert code == ExitCode.LOCKED  # without --no-lock, verify waits for its shared lock
    assert {p.name for p in reports.iterdir()} == {"report.json", "report.md", "report.html"}
    assert json.loads((reports / "report.json").read_text())["level"] == "read-data"
    code, out, err = finished(sfbackup("verify", "--repo", str(repo), "--report-dir", str(reports)))
    assert code == ExitCode.USAGE and "--no-lock" in err


@pytest.mark.parametrize("command", [["snapshots"], ["show", "latest"], ["verify"], ["forget", "--keep-last", "5"],
                                     ["prune"], ["unlock"], ["show", "latest-complete", "--path"]])
def test_given_sfbackup_repository_in_the_environment_when_any_command_runs_without_repo_then_it_is_used(
    tmp_path: Path, command: list[str]
) -> None:
    repo = saved_repo_with_snapshots(tmp_path, 2)
    code, out, err = finished(sfbackup(*command, env={"SFBACKUP_REPOSITORY": str(repo)}))
    assert code == ExitCode.OK, out + err
    assert "no repository given" not in err

def test_given_version_alone_when_started_then_no_command_module_nor_heavy_library_is_imported() -> None:
    """`sfbackup --version` starts in ~0.1 s: the command modules (requests, pyarrow, boto3...) stay
    unloaded; measured in docs/benchmarks.md."""
    probe = (
        "import sys\nfrom sfbackup.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('requests', 'pyarrow', 'numpy', 'sfbackup.cli.run', 'sfbackup.backup') "
        "if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.splitlines()[-1] == "[]", done.stdout


def test_given_run_when_its_command_is_loaded_then_no_library_it_does_not_need_at_start_is_imported() -> None:
    """`sfbackup run` loads what its first calls need (requests, the login, pyarrow for the first
    schema), not the terminal's table library nor pandas, S3 or the offline readers: the nightly
    run (JSON lines, no terminal) starts ~0.1 s sooner; measured in docs/benchmarks.md."""
    heavy = ("rich", "pandas", "boto3", "botocore", "duckdb", "openpyxl", "sfbackup.inspect",
             "sfbackup.maintain.upload")  # fmt: skip
    probe = (
        "import sys\nfrom sfbackup.cli import build_parser\nimport sfbackup.cli.run\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.splitlines()[-1] == "[]", done.stdout
