#!/usr/bin/env python3
"""The adversarial matrix: an attacker of our own promises, against a real emulator over HTTP.

Three families, each printed as one table row per case with what was caught, what was repaired
and whether anything was lost:

- corruption: a verified snapshot's repository is damaged in one of 19 ways (a part, a blob, a
  schema or a files index missing, truncated or with a byte flipped; the manifest missing,
  truncated, or with a count or a checksum edited; a stray file in the snapshot, a stray blob;
  two blobs' bytes swapped). Caught: `verify --read-data` fails (exit 4, or 10 for a manifest
  it cannot read), or for the stray ones nothing needs catching (verify passes, `prune` removes
  the stray blob). Repaired: `repair --all --from-s3 ... --from-org` (the mirror is moto's S3
  server holding `sfbackup upload` of the snapshot) then `verify --read-data` passes. Nothing
  lost: the next `run` ends complete, passes `verify --read-data`, and holds exactly the data of
  the original snapshot (dedup never reuses a damaged blob).
- kill: a real `sfbackup run` process SIGKILLed at a seeded moment, then `run --resume` until
  exported; every saved file matches its manifest and the data equal an uninterrupted run's.
- flags: a killed run resumed with `--format csv`, other `--objects` or `--no-files` is refused
  (exit 2, naming the flag); a plain `--resume` then finishes it with the same data.

Run (from the repository root)::

    .venv/bin/python scripts/adversarial.py --kills 6

It exits 1 when a promise was broken (a corruption not caught, data lost, a changed flag
accepted). `tests/integration/test_adversarial.py` runs a few rows in the default suite and the
whole matrix under `-m slow`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # tests.s3_server: moto's S3 server
import chaos

from sfbackup.cli import main as cli
from sfbackup.repository import Repository
from sfbackup.testing import RunningEmulator


@dataclass
class Row:
    """One case of the matrix and what happened to it."""

    family: str
    case: str
    caught: str = "-"
    repaired: str = "-"
    lost: str = "-"
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def broken(self) -> bool:
        return bool(self.problems)


# --- the CLI in this process -----------------------------------------------------------------


@contextlib.contextmanager
def org_env(emulator: RunningEmulator) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in chaos.login_env(emulator)}
    os.environ.update(chaos.login_env(emulator))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def sfbackup(*argv: str) -> tuple[int, str]:
    """`sfbackup argv...` in this process: (exit code, stdout and stderr)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = cli(list(argv))
    return code, out.getvalue()


# --- corruptions -----------------------------------------------------------------------------


def _writable(path: Path) -> Path:
    path.chmod(0o600)
    return path


def _missing(path: Path) -> None:
    path.unlink()


def _truncated(path: Path) -> None:
    data = _writable(path).read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flipped(path: Path) -> None:
    data = bytearray(_writable(path).read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "missing": _missing, "truncated": _truncated, "flipped": _flipped,
}  # fmt: skip


def _latest(repo: Path) -> Any:
    return Repository.open(repo).snapshot("latest")


def _a_part(repo: Path) -> Path:
    snapshot = _latest(repo)
    entry = snapshot.manifest.objects["Account"]
    return snapshot.resolve(entry.parts[0].path)  # type: ignore[no-any-return]


def _file_blobs(repo: Path) -> list[str]:
    snapshot = _latest(repo)
    index = snapshot.files("ContentVersion").to_pylist()
    sizes = {r["sha256"]: r["Size"] for r in index if r["sha256"] and (r["Size"] or 0) > 16}
    return sorted(sizes)


def _a_blob(repo: Path) -> Path:
    return Repository.open(repo).blobs.path(_file_blobs(repo)[0])


def _a_schema(repo: Path) -> Path:
    snapshot = _latest(repo)
    return snapshot.resolve(snapshot.manifest.objects["Account"].schema_path)  # type: ignore[no-any-return]


def _an_index(repo: Path) -> Path:
    snapshot = _latest(repo)
    return snapshot.resolve(snapshot.manifest.files["ContentVersion"].index_path)  # type: ignore[no-any-return]


def _manifest(repo: Path) -> Path:
    return _latest(repo).path / "manifest.json"  # type: ignore[no-any-return]


def _edit_manifest(repo: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = _writable(_manifest(repo))
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document, indent=2))


def _edit_count(document: dict[str, Any]) -> None:
    document["objects"]["Account"]["rows"] = int(document["objects"]["Account"]["rows"]) + 1


def _edit_checksum(document: dict[str, Any]) -> None:
    part = document["objects"]["Account"]["parts"][0]
    part["sha256"] = ("0" if part["sha256"][0] != "0" else "1") + part["sha256"][1:]


def _stray_file(repo: Path) -> None:
    (_latest(repo).path / "objects" / "Account" / "notes.txt").write_text("left here by hand\n")


def _stray_blob(repo: Path) -> None:
    Repository.open(repo).blobs.put_bytes(b"a body no snapshot names\n")


def _swapped(repo: Path) -> None:
    first, second = (Repository.open(repo).blobs.path(d) for d in _file_blobs(repo)[:2])
    a, b = _writable(first).read_bytes(), _writable(second).read_bytes()
    first.write_bytes(b)
    second.write_bytes(a)


def corruptions() -> dict[str, Callable[[Path], None]]:
    """The 19 kinds, by name: each damages the repository at `repo` in place."""
    cases: dict[str, Callable[[Path], None]] = {}
    targets = {"part": _a_part, "blob": _a_blob, "schema": _a_schema, "index": _an_index}
    for what, find in targets.items():
        for how, damage in DAMAGE.items():
            cases[f"{what} {how}"] = lambda repo, find=find, damage=damage: damage(find(repo))
    cases["manifest missing"] = lambda repo: _missing(_manifest(repo))
    cases["manifest truncated"] = lambda repo: _truncated(_manifest(repo))
    cases["manifest count edited"] = lambda repo: _edit_manifest(repo, _edit_count)
    cases["manifest checksum edited"] = lambda repo: _edit_manifest(repo, _edit_checksum)
    cases["stray file in snapshot"] = _stray_file
    cases["stray blob"] = _stray_blob
    cases["blobs swapped"] = _swapped
    return cases


STRAY = ("stray file in snapshot", "stray blob")
BLOB_CASES = ("blob missing", "blob truncated", "blob flipped", "blobs swapped")


def repairable(case: str, *, mirror: bool) -> bool:
    """Blobs come back from the org or the mirror; parts, schemas and indexes from the mirror only;
    a manifest never (it is the snapshot's word on what it holds)."""
    return case in BLOB_CASES or (mirror and case.split()[0] in ("part", "schema", "index"))


def corruption_row(emulator: RunningEmulator, baseline: Path, reference: dict[str, Any], workdir: Path,
                   case: str, mirror: list[str] | None = None) -> Row:
    """Damage a copy of `baseline` one way; is it caught, repaired (`repair --from-org`, and
    `--from-s3` with `mirror`'s arguments), and is anything lost?"""
    row = Row("corruption", case)
    started = time.monotonic()
    repo = workdir / case.replace(" ", "-")
    shutil.copytree(baseline, repo)
    corruptions()[case](repo)
    code, out = sfbackup("verify", "latest", "--repo", str(repo), "--read-data", "--json")
    if case in STRAY:
        row.caught = "harmless" if code == 0 else f"exit {code}"
        if code != 0:
            row.problems.append(f"a stray file failed verify: {out.strip().splitlines()[-1][:200]}")
    else:
        row.caught = f"yes (exit {code})" if code != 0 else "NO"
        if code == 0:
            row.problems.append("verify --read-data passed on damaged data")
    code, out = sfbackup("repair", "--all", "--repo", str(repo), "--from-org", "--instance-url",
                         emulator.instance_url, *(mirror or ()), "--json")  # fmt: skip
    verified, _ = sfbackup("verify", "latest", "--repo", str(repo), "--read-data", "--json")
    expected = repairable(case, mirror=bool(mirror))
    if case in STRAY:
        row.repaired = "n/a"
    elif code == 0 and verified == 0:
        result = json.loads(out.strip().splitlines()[-1])
        sources = sorted({str(x["mended_from"]) for x in [*result["blobs"], *result["files"]]})
        row.repaired = f"yes (from {'+'.join(sources)})"
    else:
        row.repaired = "no (manifest)" if case.startswith("manifest") else "no (needs the mirror)"
        if expected:
            row.repaired = "NO"
            row.problems.append(f"repair left it damaged: {out.strip().splitlines()[-1][:300]}")
    if case == "stray blob":
        pruned, out = sfbackup("prune", "--repo", str(repo), "--json")
        removed = json.loads(out.strip().splitlines()[-1]).get("remove_blobs") if pruned == 0 else None
        if not removed or len(removed) != 1:
            row.problems.append(f"prune did not remove the stray blob alone (exit {pruned}, {removed})")
        else:
            row.repaired = "prune removes it"
    row.lost = next_run_loses(emulator, repo, reference, row)
    row.seconds = round(time.monotonic() - started, 1)
    return row


def next_run_loses(emulator: RunningEmulator, repo: Path, reference: dict[str, Any], row: Row) -> str:
    """The next night's run: complete, verified by re-reading every byte, the original's data."""
    state = chaos.library_run(emulator, repo, resume=False, verify=False)
    code, _out = sfbackup("verify", "latest", "--repo", str(repo), "--read-data", "--json")
    differ = chaos.data_differences(chaos.snapshot_data(repo), reference)
    if state != "exported" or code != 0 or differ:
        row.problems.append(f"next run: state {state}, verify exit {code}, {differ or 'same data'}")
        return "YES"
    return "nothing"


# --- kills and changed flags -----------------------------------------------------------------


def kill_row(emulator: RunningEmulator, reference: dict[str, Any], workdir: Path, seed: int) -> Row:
    """SIGKILL a real run at a seeded moment, resume until exported, compare the data."""
    row = Row("kill", f"SIGKILL at seed {seed}")
    started = time.monotonic()
    repo = workdir / f"kill-{seed}"
    config = chaos.write_config(workdir / f"kill-{seed}.toml")
    moment = random.Random(seed).uniform(0.3, 2.5)
    killed = chaos.kill_after(chaos.start_cli(emulator, repo, config), moment)
    row.caught = f"killed at {moment:.1f}s" if killed else f"ended before {moment:.1f}s"
    row.problems += chaos.saved_state_problems(repo)
    resumes = 0
    while chaos.latest_state(repo) not in ("exported", "complete") and resumes < chaos.MAX_ATTEMPTS:
        resumes += 1
        chaos.library_run(emulator, repo, resume=chaos.latest_state(repo) is not None, verify=False)
    row.repaired = f"{resumes} resume{'s' if resumes != 1 else ''}"
    row.problems += chaos.saved_state_problems(repo) + chaos.blob_problems(repo)
    differ = chaos.data_differences(chaos.snapshot_data(repo), reference)
    row.problems += differ
    row.lost = "YES" if differ else "nothing"
    row.seconds = round(time.monotonic() - started, 1)
    return row


def kill_once_saved(process: Any, repo: Path, timeout: float = 60.0) -> None:
    """SIGKILL `process` as soon as its snapshot has a manifest and a first finished part (not at
    a fixed time: on a loaded machine the run may not have started, or may have finished)."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        manifests = list(repo.glob("snapshots/*/manifest.json"))
        if manifests and any(p.suffix == ".parquet" for p in repo.glob("snapshots/*/objects/*/*")):
            break
        time.sleep(0.01)
    if process.poll() is None:
        process.kill()
    process.wait()


FLAG_CHANGES: dict[str, tuple[str, ...]] = {
    "--resume --format csv": ("--format", "csv"),
    "--resume --objects Account": ("--objects", "Account"),
    "--resume --no-files": ("--no-files",),
}


def flags_row(emulator: RunningEmulator, reference: dict[str, Any], workdir: Path, change: str) -> Row:
    """A killed run resumed with a flag that would change the snapshot is refused; then finished."""
    row = Row("flags", change)
    started = time.monotonic()
    repo = workdir / ("flags" + change.replace(" ", "_"))
    config = chaos.write_config(workdir / "flags.toml")
    kill_once_saved(chaos.start_cli(emulator, repo, config, "--no-verify"), repo)
    if chaos.latest_state(repo) in ("exported", "complete", None):
        row.problems.append(f"the run was not stopped part way (state {chaos.latest_state(repo)})")
    code, out = sfbackup("run", "--repo", str(repo), "--config", str(config), "--instance-url",
                         emulator.instance_url, "--resume", "--no-verify", *FLAG_CHANGES[change])  # fmt: skip
    row.caught = f"refused (exit {code})" if code == 2 else f"ACCEPTED (exit {code})"
    if code != 2:
        row.problems.append(f"{change} was not refused: {out.strip()[-300:]}")
    resumes = 0
    while chaos.latest_state(repo) not in ("exported", "complete") and resumes < chaos.MAX_ATTEMPTS:
        resumes += 1
        chaos.library_run(emulator, repo, resume=True, verify=False)
    row.repaired = f"plain --resume x{resumes}"
    differ = chaos.data_differences(chaos.snapshot_data(repo), reference)
    row.problems += differ
    row.lost = "YES" if differ else "nothing"
    row.seconds = round(time.monotonic() - started, 1)
    return row


# --- the matrix ------------------------------------------------------------------------------


def baseline_repo(emulator: RunningEmulator, workdir: Path) -> Path:
    """A repository whose latest snapshot is complete (verified with --read-data)."""
    repo = workdir / "baseline"
    state = chaos.library_run(emulator, repo, resume=False, verify=False)
    code, out = sfbackup("verify", "latest", "--repo", str(repo), "--read-data", "--json")
    if state != "exported" or code != 0:
        raise RuntimeError(f"the baseline run ended {state}, verify exit {code}: {out[-500:]}")
    return repo


@contextlib.contextmanager
def s3_mirror(baseline: Path) -> Iterator[list[str]]:
    """moto's S3 server holding `sfbackup upload` of the baseline; yields repair's --from-s3 args."""
    from tests.s3_server import running_s3

    with running_s3(set_env=True) as s3:
        s3.create_bucket("mirror")
        code, out = sfbackup("upload", "latest", "--repo", str(baseline), "--bucket", "mirror", "--prefix",
                             "nightly", "--endpoint-url", s3.endpoint_url, "--json")  # fmt: skip
        if code != 0:
            raise RuntimeError(f"the baseline upload failed (exit {code}): {out[-500:]}")
        yield ["--from-s3", "s3://mirror/nightly", "--endpoint-url", s3.endpoint_url]


def run_matrix(emulator: RunningEmulator, workdir: Path, *, cases: list[str] | None = None,
               kills: int = 6, flags: list[str] | None = None) -> list[Row]:
    rows: list[Row] = []
    with org_env(emulator):
        baseline = baseline_repo(emulator, workdir)
        reference = chaos.snapshot_data(baseline)
        with s3_mirror(baseline) as mirror:
            for case in cases if cases is not None else list(corruptions()):
                rows.append(corruption_row(emulator, baseline, reference, workdir, case, mirror))
                print(format_row(rows[-1]), flush=True)
        for seed in range(1, kills + 1):
            rows.append(kill_row(emulator, reference, workdir, seed))
            print(format_row(rows[-1]), flush=True)
        for change in flags if flags is not None else list(FLAG_CHANGES):
            rows.append(flags_row(emulator, reference, workdir, change))
            print(format_row(rows[-1]), flush=True)
    return rows


def format_row(row: Row) -> str:
    text = f"| {row.family:<10} | {row.case:<26} | {row.caught:<20} | {row.repaired:<24} | {row.lost:<7} |"
    return text + (f"  BROKEN: {'; '.join(row.problems)}" if row.problems else "")


HEADER = (f"| {'family':<10} | {'case':<26} | {'caught':<20} | {'repaired':<24} | {'lost':<7} |\n"
          f"|{'-' * 12}|{'-' * 28}|{'-' * 22}|{'-' * 26}|{'-' * 9}|")


def totals(rows: list[Row]) -> dict[str, Any]:
    corrupt = [r for r in rows if r.family == "corruption"]
    return {
        "cases": len(rows),
        "corruptions": len(corrupt),
        "caught": sum(r.caught.startswith(("yes", "harmless")) for r in corrupt),
        "repaired": sum(r.repaired.startswith("yes") for r in corrupt),
        "kills": sum(r.family == "kill" for r in rows),
        "flags_refused": sum(r.family == "flags" and r.caught.startswith("refused") for r in rows),
        "lost": sum(r.lost == "YES" for r in rows),
        "broken": sum(r.broken for r in rows),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=6, help="SIGKILLed runs (seeds 1..N)")
    parser.add_argument("--records", type=int, default=40, help="emulator scale (Accounts)")
    parser.add_argument("--json", action="store_true", help="print every row and the totals as JSON too")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sfbackup-adversarial-") as tmp, \
            chaos.chaos_emulator(args.records) as emu:  # fmt: skip
        print(HEADER, flush=True)
        rows = run_matrix(emu, Path(tmp), kills=args.kills)
    summary = totals(rows)
    print(f"corruptions={summary['corruptions']} caught={summary['caught']} repaired={summary['repaired']} "
          f"kills={summary['kills']} flags_refused={summary['flags_refused']} lost={summary['lost']} "
          f"broken={summary['broken']} seconds={time.monotonic() - started:.0f}")
    if args.json:
        print(json.dumps({"rows": [asdict(r) for r in rows], "totals": summary}))
    return 1 if summary["broken"] else 0


if __name__ == "__main__":
    sys.exit(main())
