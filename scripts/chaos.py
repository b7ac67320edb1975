#!/usr/bin/env python3
"""The chaos matrix: whole backups against an emulator that fails at random, N seeds x fault rates.

Every cell runs `sfbackup run` with every fault kind switched on at the cell's rate (5xx, dropped
connections, truncated pages and bodies, slow answers, expired sessions, Failed Bulk jobs, query
timeouts). Some cells also kill a real `sfbackup run` subprocess with SIGKILL at a seeded moment.
Then `--resume` runs until the snapshot is exported. The promises checked after EVERY attempt:

- what a manifest names exists, under its final name, with the recorded size and SHA-256;
- a snapshot is never `complete` unless an independent verification (`--read-data --against-org
  --ids`, no faults) passes;
- a stop is clean: an sfbackup error (or a kill), never another exception, and `--resume` finishes it;
- the finished snapshot holds exactly the data of an uninterrupted run.

Run (from the repository root)::

    .venv/bin/python scripts/chaos.py --seeds 10 --rates 0.01,0.03,0.06 --kill-every 3

It prints one line per run and the totals (runs, faults injected by kind, kills, verified) and
exits 1 when any promise was broken. `tests/integration/test_chaos.py` runs a few cells of the same
code in the default suite and the matrix under `-m slow`.
"""

from __future__ import annotations

import argparse
import faulthandler
import hashlib
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from sfbackup.backup.run import run_backup
from sfbackup.config import Settings, load_settings
from sfbackup.emulator.http.faults import FAULT_KINDS, FaultConfig
from sfbackup.errors import SfbackupError
from sfbackup.repository import Repository
from sfbackup.repository.atomic import is_temporary
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.testing import RunningEmulator, running_emulator
from sfbackup.verify import verify_snapshot

OBJECTS = (
    "Account", "Contact", "Opportunity", "Lead", "Invoice__c", "ContentDocument",
    "ContentDocumentLink", "ContentVersion", "Attachment", "Document",
)  # fmt: skip
SFBACKUP = Path(sys.executable).with_name("sfbackup")
MAX_ATTEMPTS = 8
#: A run of this small org takes seconds, even under faults; longer is a hang.
RUN_TIMEOUT = 60.0


@dataclass
class Outcome:
    """One chaos run: what was injected, how it stopped and whether the promises held."""

    seed: int
    rate: float
    attempts: int = 0
    stops: list[str] = field(default_factory=list)
    killed: bool = False
    verified: bool = False
    injected: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        faults = sum(self.injected.values())
        return (f"seed={self.seed:<3} rate={self.rate:<5} attempts={self.attempts} faults={faults:<4} "
                f"killed={'yes' if self.killed else 'no '} stops={','.join(self.stops) or '-'} "
                f"verified={'yes' if self.verified else 'NO'} {self.seconds:.1f}s"
                + (f"  PROBLEMS: {'; '.join(self.problems)}" if self.problems else ""))


def fault_config(rate: float, seed: int) -> FaultConfig:
    """Every fault kind at `rate` (rarer ones scaled so each run sees a few of each)."""
    rates = dict.fromkeys(FAULT_KINDS, rate)
    rates["slow"] = rate / 2
    rates["session_expiry"] = rate / 2
    rates["bulk_failed"] = min(1.0, rate * 4)  # a run creates only a handful of Bulk jobs
    return FaultConfig(rates=rates, seed=seed, slow_seconds=0.05, query_timeout_min_rows=10)


def login_env(emulator: RunningEmulator) -> dict[str, str]:
    c = emulator.credentials
    return {"SF_USERNAME": c.username, "SF_PASSWORD": c.password, "SF_SECURITY_TOKEN": c.security_token}


def backup_options(**extra: Any) -> dict[str, Any]:
    """Small Bulk pages and parts so a small org still crosses many page and part boundaries."""
    return {"objects": list(OBJECTS), "bulk_min_records": 0, "bulk_page_records": 25,
            "api_reserve_percent": 0.0, **extra}


def settings_for(emulator: RunningEmulator, **backup: Any) -> Settings:
    overrides = {"connection.instance_url": emulator.instance_url,
                 **{f"backup.{k}": v for k, v in backup_options(**backup).items()}}
    return load_settings(None, env=login_env(emulator), overrides=overrides)


def library_run(emulator: RunningEmulator, repo: Path, *, resume: bool, verify: bool,
                files: bool = True) -> str:
    """One `run` through the library with a client that retries without sleeping; returns the state."""
    settings = settings_for(emulator, verify_after_run=verify, files=files)
    client = SalesforceClient(settings.connection, sleep=lambda seconds: None, api_reserve_percent=0.0)
    return run_backup(settings, repo, resume=resume, client=client).state


@dataclass
class Attempt:
    """How one guarded `run` ended: a state, an sfbackup stop, another exception, or a hang."""

    state: str | None = None
    stop: str | None = None
    crash: str | None = None
    hang: str | None = None


def guarded_run(emulator: RunningEmulator, repo: Path, *, resume: bool, verify: bool,
                files: bool = True, timeout: float = RUN_TIMEOUT) -> Attempt:
    """`library_run` in a forked child, SIGKILLed when it has not ended after `timeout` seconds.

    A hang is a broken promise too, and must not stall the matrix: the child's Python stacks are
    dumped (faulthandler) before it is killed, so the report says where it hung.
    """
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    stacks = repo.parent / f".stacks-{os.getpid()}-{time.monotonic_ns()}"

    def child() -> None:
        with stacks.open("w") as dump:
            faulthandler.register(signal.SIGUSR1, file=dump, all_threads=True)
            try:
                state = library_run(emulator, repo, resume=resume, verify=verify, files=files)
                sender.send(Attempt(state=state))
            except SfbackupError as exc:
                sender.send(Attempt(stop=type(exc).__name__))
            except Exception as exc:  # reported as a broken promise, not raised in the child
                sender.send(Attempt(crash=f"{type(exc).__name__}: {exc}"))

    process = context.Process(target=child, daemon=True)
    process.start()
    if receiver.poll(timeout):
        attempt: Attempt = receiver.recv()
        process.join()
    else:
        os.kill(process.pid or 0, signal.SIGUSR1)
        time.sleep(0.5)
        process.kill()
        process.join()
        frames = [line.strip() for line in stacks.read_text().splitlines() if "sfbackup/" in line]
        frames.sort(key=lambda line: "download_all" not in line)  # the known spin first
        attempt = Attempt(hang=f"no end after {timeout:.0f}s; at {'; '.join(frames[:3])}")
    stacks.unlink(missing_ok=True)
    return attempt


def write_config(path: Path) -> Path:
    """The TOML a subprocess run reads (same options as the library runs)."""
    lines = ["[backup]"]
    for key, value in backup_options(verify_after_run=False).items():
        lines.append(f"{key} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def start_cli(emulator: RunningEmulator, repo: Path, config: Path, *extra: str,
              log: Path | None = None) -> subprocess.Popen[bytes]:
    """A real `sfbackup run` process against the emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "AWS_", "SFBACKUP_"))}
    env.update(login_env(emulator))
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    return subprocess.Popen(
        [str(SFBACKUP), "run", "--repo", str(repo), "--config", str(config), "--instance-url",
         emulator.instance_url, "--json", *extra],
        env=env, stdout=out, stderr=subprocess.STDOUT,
    )


def kill_after(process: subprocess.Popen[bytes], seconds: float) -> bool:
    """SIGKILL `process` after `seconds` unless it ended first; True when it was killed."""
    try:
        process.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def saved_state_problems(repo: Path) -> list[str]:
    """Whatever a manifest names must exist under its final name with its recorded size and hash."""
    problems: list[str] = []
    if not (repo / "repository.json").exists():
        return problems
    for snapshot in Repository.open(repo).snapshots():
        where = snapshot.id
        for name, entry in snapshot.manifest.objects.items():
            for part in entry.parts:
                path = snapshot.resolve(part.path)
                if is_temporary(path.name):
                    problems.append(f"{where}: {name} names a temporary file {part.path}")
                elif not path.is_file():
                    problems.append(f"{where}: {name} names {part.path}, which does not exist")
                elif path.stat().st_size != part.bytes or sha256_of(path) != part.sha256:
                    problems.append(f"{where}: {part.path} differs from its manifest entry")
        for name, files in snapshot.manifest.files.items():
            index = snapshot.resolve(files.index_path) if files.index_path else None
            if index is not None and not index.is_file():
                problems.append(f"{where}: files index of {name} is missing")
            elif index is not None and files.index_sha256 and sha256_of(index) != files.index_sha256:
                problems.append(f"{where}: files index of {name} differs from its manifest entry")
    return problems


def blob_problems(repo: Path) -> list[str]:
    """Every blob under its final name holds the bytes its name says."""
    root = repo / "blobs" / "sha256"
    if not root.is_dir():
        return []
    return [f"blob {blob.name} does not hash to its name" for blob in root.glob("??/*")
            if not is_temporary(blob.name) and sha256_of(blob) != blob.name]


def snapshot_data(repo: Path) -> dict[str, Any]:
    """Every table sorted by Id, and each file's SHA-256 by Id: what two equal backups share."""
    snapshot = Repository.open(repo).snapshot("latest")
    data: dict[str, Any] = {}
    for name in sorted(snapshot.manifest.objects):
        data[name] = snapshot.read(name).sort_by("Id")
    for name in sorted(snapshot.manifest.files):
        index = snapshot.files(name).to_pylist()
        data[f"files:{name}"] = sorted((row["Id"], row["sha256"], row["status"] != "failed")
                                       for row in index)
    return data


def data_differences(ours: dict[str, Any], reference: dict[str, Any]) -> list[str]:
    if ours.keys() != reference.keys():
        return [f"tables {sorted(ours)} != {sorted(reference)}"]
    differ = []
    for name, value in ours.items():
        same = value.equals(reference[name]) if isinstance(value, pa.Table) else value == reference[name]
        if not same:
            differ.append(f"{name} differs from the uninterrupted run")
    return differ


def latest_state(repo: Path) -> str | None:
    if not (repo / "repository.json").exists():
        return None
    latest = Repository.open(repo).latest()
    return latest.manifest.state if latest else None


def independent_verification(emulator: RunningEmulator, repo: Path) -> Any:
    settings = settings_for(emulator)
    client = SalesforceClient(settings.connection, sleep=lambda seconds: None)
    return verify_snapshot(repo, "latest", read_data=True, against_org=True, ids=True, client=client)


def chaos_run(emulator: RunningEmulator, reference: dict[str, Any], workdir: Path, *, seed: int,
              rate: float, kill: bool, files: bool = True) -> Outcome:
    """One cell: faults at `rate`, optionally a SIGKILLed subprocess first, resumes until exported."""
    outcome = Outcome(seed, rate)
    started = time.monotonic()
    repo = workdir / f"repo-{seed}-{rate}-{'kill' if kill else 'lib'}"
    before = Counter(emulator.faults.injected)
    emulator.faults.configure(fault_config(rate, seed))
    rng = random.Random(seed)
    resume = False
    if kill:
        process = start_cli(emulator, repo, write_config(workdir / f"config-{seed}.toml"))
        outcome.killed = kill_after(process, rng.uniform(0.5, 3.5))
        outcome.stops.append("SIGKILL" if outcome.killed else f"exit{process.returncode}")
        outcome.problems += saved_state_problems(repo)
        resume = True
    state = latest_state(repo)
    while state not in ("exported", "complete") and outcome.attempts < MAX_ATTEMPTS:
        outcome.attempts += 1
        attempt = guarded_run(emulator, repo, resume=resume, verify=rng.random() < 0.5, files=files)
        state = attempt.state or latest_state(repo)
        if attempt.stop:
            outcome.stops.append(attempt.stop)
        if attempt.crash:  # the promise is an sfbackup error, never another exception
            outcome.problems.append(f"unexpected {attempt.crash}")
        if attempt.hang:
            outcome.problems.append(f"hung: {attempt.hang}")
            outcome.stops.append("hang")
        if attempt.state == "incomplete":
            outcome.stops.append("incomplete")
        resume = True
        outcome.problems += saved_state_problems(repo)
    emulator.faults.clear()
    outcome.injected = Counter(emulator.faults.injected) - before
    if state not in ("exported", "complete"):  # faults gone: the stop must be resumable
        outcome.attempts += 1
        last = guarded_run(emulator, repo, resume=True, verify=False, files=files)
        state = last.state or latest_state(repo)
        outcome.problems += [f"without faults: {p}" for p in (last.stop, last.crash, last.hang) if p]
    if state not in ("exported", "complete"):
        outcome.problems.append(f"resume without faults ended {state}")
    else:
        verification = independent_verification(emulator, repo)
        outcome.verified = verification.passed
        if not verification.passed:
            outcome.problems += [f"verify: {f.kind} {f.object} {f.explanation}"
                                 for f in verification.failures]
        if not files:  # records only: compare with the reference's tables
            reference = {k: v for k, v in reference.items() if not k.startswith("files:")}
        outcome.problems += data_differences(snapshot_data(repo), reference)
    outcome.problems += blob_problems(repo)
    outcome.seconds = time.monotonic() - started
    return outcome


def reference_data(emulator: RunningEmulator, workdir: Path) -> dict[str, Any]:
    """The data of an uninterrupted run without faults."""
    emulator.faults.configure(FaultConfig())
    repo = workdir / "reference"
    state = library_run(emulator, repo, resume=False, verify=False)
    if state != "exported":
        raise RuntimeError(f"the reference run ended {state}")
    return snapshot_data(repo)


@contextmanager
def chaos_emulator(records: int = 40, seed: int = 3) -> Iterator[RunningEmulator]:
    """A small org with small file bodies, quick Bulk jobs and no fault yet."""
    with running_emulator(records=records, seed=seed, job_latency=0.02, large_file_bytes=300_000) as emu:
        yield emu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=10, help="seeds per rate (1..N)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--rates", default="0.01,0.03,0.06", help="comma-separated fault rates")
    parser.add_argument("--kill-every", type=int, default=3,
                        help="every Nth run starts with a SIGKILLed subprocess (0: never)")
    parser.add_argument("--records", type=int, default=40, help="emulator scale (Accounts)")
    parser.add_argument("--json", action="store_true", help="print the totals as one JSON object too")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="sfbackup-chaos-") as tmp, chaos_emulator(args.records) as emu:
        workdir = Path(tmp)
        reference = reference_data(emu, workdir)
        number = 0
        for rate in rates:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                number += 1
                kill = args.kill_every > 0 and number % args.kill_every == 0
                outcome = chaos_run(emu, reference, workdir, seed=seed, rate=rate, kill=kill)
                outcomes.append(outcome)
                print(outcome.line(), flush=True)
    totals = summarize(outcomes)
    print(f"runs={totals['runs']} attempts={totals['attempts']} kills={totals['kills']} "
          f"clean_stops={totals['clean_stops']} verified={totals['verified']}/{totals['runs']} "
          f"broken={totals['broken']}")
    print("faults injected: " + ", ".join(f"{k}={v}" for k, v in totals["faults"].items()))
    if args.json:
        print(json.dumps(totals))
    return 1 if totals["broken"] else 0


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    faults: Counter[str] = Counter()
    for outcome in outcomes:
        faults.update(outcome.injected)
    return {
        "runs": len(outcomes),
        "attempts": sum(o.attempts for o in outcomes),
        "kills": sum(o.killed for o in outcomes),
        "clean_stops": sum(len(o.stops) for o in outcomes),
        "verified": sum(o.verified for o in outcomes),
        "broken": sum(bool(o.problems) for o in outcomes),
        "faults": {kind: faults[kind] for kind in FAULT_KINDS},
    }


if __name__ == "__main__":
    sys.exit(main())
