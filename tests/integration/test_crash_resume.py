"""Crashes: a real `sfbackup run` process killed with SIGKILL at many points (while a page is
written, while a part or blob exists only under its temporary name, between manifest rewrites,
after so many object checkpoints in the manifest's journal, at time offsets), then `sfbackup run --resume`. After every kill, whatever a manifest names exists
under its final name with its recorded hash; temporary files may remain but are never named; the
resumed snapshot holds exactly the data of an uninterrupted run and verifies against the org.

Kill points are chosen by watching the repository (polled every few milliseconds) while the org
answers a little slowly, so each point is reached in practice, not by luck of timing.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sfbackup.emulator.http.faults import FaultConfig
from sfbackup.repository import Repository, layout
from sfbackup.repository.atomic import is_temporary
from tests.integration.test_chaos import chaos

Watch = Callable[[Path], bool]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Path]]:
    with chaos.chaos_emulator(records=40) as emu:
        reference = chaos.reference_data(emu, tmp_path_factory.mktemp("reference"))
        config = chaos.write_config(tmp_path_factory.mktemp("config") / "sfbackup.toml")
        yield emu, reference, config


def files_under(repo: Path) -> Iterator[Path]:
    for folder, _dirs, names in os.walk(repo):
        for name in names:
            yield Path(folder) / name


def a_final_part(repo: Path) -> bool:
    return any(p.name.startswith("part-") and p.parent.parent.name == "objects" for p in files_under(repo))


def a_temporary_file(where: str) -> Watch:
    def seen(repo: Path) -> bool:
        return any(is_temporary(p.name) and where in p.parts for p in files_under(repo))

    return seen


def manifest_being_written(repo: Path) -> bool:
    return any(p.name.startswith(".manifest.json.tmp-") for p in repo.glob("snapshots/*/.*"))


def a_blob(repo: Path) -> bool:
    return any(len(p.name) == 64 and not is_temporary(p.name) for p in files_under(repo / "blobs"))


def manifest_rewritten(times: int) -> Watch:
    """True once manifest.json was replaced (a new inode) `times` times."""
    seen_inodes: set[int] = set()

    def seen(repo: Path) -> bool:
        for manifest in repo.glob("snapshots/*/manifest.json"):
            try:
                seen_inodes.add(manifest.stat().st_ino)
            except FileNotFoundError:
                continue
        return len(seen_inodes) >= times

    return seen


def journal_entries(count: int) -> Watch:
    """True once the manifest's journal held `count` object checkpoints (appended lines)."""

    def seen(repo: Path) -> bool:
        for journal in repo.glob(f"snapshots/*/{layout.JOURNAL_FILE}"):
            try:
                if journal.read_bytes().count(b"\n") >= count:
                    return True
            except FileNotFoundError:
                continue
        return False

    return seen


def after_seconds(seconds: float) -> Watch:
    started = time.monotonic()
    return lambda repo: time.monotonic() - started >= seconds


def run_until(process: subprocess.Popen[bytes], repo: Path, watch: Watch, *, limit: float = 60.0) -> bool:
    """SIGKILL `process` as soon as `watch(repo)` holds; True if killed, False if it ended first."""
    deadline = time.monotonic() + limit
    while process.poll() is None and time.monotonic() < deadline:
        try:
            fired = watch(repo)
        except OSError:  # a file renamed while we looked
            fired = False
        if fired:
            process.kill()
            process.wait()
            return True
        time.sleep(0.002)
    process.wait(timeout=limit)
    return False


def referenced_paths(repo: Path) -> set[Path]:
    paths: set[Path] = set()
    for snapshot in Repository.open(repo).snapshots():
        for entry in snapshot.manifest.objects.values():
            paths |= {snapshot.resolve(p.path) for p in entry.parts}
        for files in snapshot.manifest.files.values():
            if files.index_path:
                paths.add(snapshot.resolve(files.index_path))
    return paths


def kill_and_resume(setup: tuple[Any, Any, Path], tmp_path: Path, watch: Watch, *,
                    first_resume: bool = False, resume_cli: bool = True) -> bool:
    emulator, reference, config = setup
    repo = tmp_path / "repo"
    log = tmp_path / "run.log"
    # Slow answers widen every window; they delay, never fail, so the run itself is unchanged.
    emulator.faults.configure(FaultConfig(rates={"slow": 0.3}, slow_seconds=0.03, seed=1))
    # A round trip per request too: with planning, files and metadata beside the records the run
    # ends within a second or two on loopback, before the timed kill points.
    emulator.server.config.latency_ms = 40
    try:
        flags = ["--no-verify", "--resume"] if first_resume else ["--no-verify"]
        killed = run_until(chaos.start_cli(emulator, repo, config, *flags, log=log), repo, watch)
    finally:
        emulator.faults.configure(FaultConfig())
        emulator.server.config.latency_ms = 0
    finished_before_kill = (repo / "repository.json").exists() and all(
        s.manifest.state in ("exported", "complete") for s in Repository.open(repo).snapshots())
    if (repo / "repository.json").exists():
        assert chaos.saved_state_problems(repo) == [], log.read_text()[-2000:]
        assert not any(is_temporary(p.name) for p in referenced_paths(repo))
        assert all(Repository.open(repo).snapshot(s.id).manifest.state != "complete"
                   for s in Repository.open(repo).snapshots())
    if resume_cli:
        resumed = chaos.start_cli(emulator, repo, config, "--no-verify", "--resume", log=log)
        assert resumed.wait(timeout=120) == 0, log.read_text()[-3000:]
    else:  # the same `--resume`, in this process: saves a second interpreter start in the default suite
        assert chaos.library_run(emulator, repo, resume=True, verify=False) == "exported"
    # A run killed after its snapshot was exported (while it exits) leaves nothing to resume either.
    if killed and not finished_before_kill:  # (a run that ended first leaves nothing to resume)
        assert len(Repository.open(repo).snapshots()) == 1, "the resume continued the killed snapshot"
    assert chaos.data_differences(chaos.snapshot_data(repo), reference) == []
    assert chaos.blob_problems(repo) == []
    assert chaos.independent_verification(emulator, repo).passed
    return killed


KILL_POINTS: dict[str, Callable[[], Watch]] = {
    "part_under_temporary_name": lambda: a_temporary_file("objects"),
}
SLOW_KILL_POINTS: dict[str, Callable[[], Watch]] = {
    "journal_has_5_entries": lambda: journal_entries(5),
    "manifest_under_temporary_name": lambda: manifest_being_written,
    "first_part_written": lambda: a_final_part,
    "blob_under_temporary_name": lambda: a_temporary_file("blobs"),
    "first_blob_renamed": lambda: a_blob,
    "manifest_rewritten_2_times": lambda: manifest_rewritten(2),
    "manifest_rewritten_3_times": lambda: manifest_rewritten(3),
    "journal_has_8_entries": lambda: journal_entries(8),
    "journal_has_20_entries": lambda: journal_entries(20),
    "after_0.3s": lambda: after_seconds(0.3),
    "after_1.5s": lambda: after_seconds(1.5),
    "after_2s": lambda: after_seconds(2.0),  # the run ends before 3 s: later points are never reached
}


@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_given_run_killed_at_point_when_resumed_then_data_equals_uninterrupted_run(
    setup: tuple[Any, Any, Path], tmp_path: Path, point: str
) -> None:
    killed = kill_and_resume(setup, tmp_path, KILL_POINTS[point](), resume_cli=False)
    assert killed, f"the run reached {point}"


@pytest.mark.slow
@pytest.mark.parametrize("point", sorted(SLOW_KILL_POINTS))
def test_given_run_killed_at_more_points_when_resumed_then_data_equals_uninterrupted_run(
    setup: tuple[Any, Any, Path], tmp_path: Path, point: str
) -> None:
    killed = kill_and_resume(setup, tmp_path, SLOW_KILL_POINTS[point]())
    assert killed, f"the run reached {point}"


@pytest.mark.slow
def test_given_run_killed_twice_when_resumed_then_data_equals_uninterrupted_run(
    setup: tuple[Any, Any, Path], tmp_path: Path
) -> None:
    emulator, _reference, config = setup
    repo = tmp_path / "repo"
    run_until(chaos.start_cli(emulator, repo, config, "--no-verify"), repo, manifest_rewritten(3))
    run_until(chaos.start_cli(emulator, repo, config, "--no-verify", "--resume"), repo,
              after_seconds(1.0))
    assert chaos.saved_state_problems(repo) == []
    kill_and_resume(setup, tmp_path, a_temporary_file("objects"), first_resume=True)


# --- sfbackup upload, killed -------------------------------------------------------------------


@pytest.fixture(scope="module")
def complete_repo(setup: tuple[Any, Any, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    emulator, _reference, _config = setup
    repo = tmp_path_factory.mktemp("complete") / "repo"
    assert chaos.library_run(emulator, repo, resume=False, verify=True) == "complete"
    return repo


def start_upload(repo: Path, s3: Any, bucket: str) -> subprocess.Popen[bytes]:
    from tests.s3_server import TEST_ENV

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "AWS_", "SFBACKUP_"))}
    env.update(TEST_ENV)
    return subprocess.Popen(
        [str(chaos.SFBACKUP), "upload", "--repo", str(repo), "--bucket", bucket, "--endpoint-url",
         s3.endpoint_url, "--region", "us-east-1", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def bucket_matches_snapshot(repo: Path, s3: Any, bucket: str) -> list[str]:
    """Keys of the snapshot (and the blobs it names) missing from the bucket or different there."""
    import hashlib

    snapshot = Repository.open(repo).snapshot("latest")
    wanted = {f"snapshots/{snapshot.id}/{p.relative_to(snapshot.path).as_posix()}": p
              for p in snapshot.path.rglob("*") if p.is_file() and "uploads" not in p.parts}
    wanted |= {f"blobs/sha256/{p.parent.name}/{p.name}": p for p in (repo / "blobs" / "sha256").glob("??/*")}
    client = s3.client()
    problems = []
    present = set(s3.keys(bucket))
    for key, path in wanted.items():
        if key not in present:
            problems.append(f"missing {key}")
            continue
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        if hashlib.sha256(body).hexdigest() != hashlib.sha256(path.read_bytes()).hexdigest():
            problems.append(f"differs {key}")
    return problems


@pytest.mark.parametrize("after_keys", [3, pytest.param(12, marks=pytest.mark.slow),
                                        pytest.param(25, marks=pytest.mark.slow)])
def test_given_upload_killed_when_rerun_then_bucket_mirrors_snapshot_and_manifest_never_came_first(
    complete_repo: Path, after_keys: int
) -> None:
    from tests.s3_server import running_s3

    with running_s3(set_env=False) as s3:
        s3.create_bucket("backups")
        process = start_upload(complete_repo, s3, "backups")
        deadline = time.monotonic() + 60
        killed = False
        while process.poll() is None and time.monotonic() < deadline:
            keys = s3.keys("backups")
            if len(keys) >= after_keys:
                process.kill()
                killed = True
                break
            time.sleep(0.01)
        process.wait(timeout=60)
        keys = s3.keys("backups")
        if any(k.endswith("/manifest.json") for k in keys):
            assert bucket_matches_snapshot(complete_repo, s3, "backups") == [], (
                "the manifest is in the bucket only after all its data")
        rerun = start_upload(complete_repo, s3, "backups")
        output = rerun.communicate(timeout=120)[0].decode()
        assert rerun.returncode == 0, output[-2000:]
        assert bucket_matches_snapshot(complete_repo, s3, "backups") == []
        assert killed or process.returncode == 0
        if after_keys <= 3:
            assert killed, "the upload was killed part way"
