"""Chaos: whole backups against an emulator failing at random (every fault kind at once), some
with a SIGKILLed `sfbackup run` first. Each run ends verified (`--read-data --against-org --ids`)
with the data of an uninterrupted run, or stops cleanly and `--resume` finishes it; a snapshot is
never `complete` while it lacks anything. The cells are `scripts/chaos.py`'s own code: a few run
in the default suite, the matrix under `-m slow` (and `scripts/chaos.py` for longer ones).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "chaos.py"


def load_chaos() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sfbackup_chaos_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


chaos = load_chaos()

@pytest.fixture(scope="module")
def emulator_and_reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    with chaos.chaos_emulator(records=40) as emu:
        yield emu, chaos.reference_data(emu, tmp_path_factory.mktemp("reference"))


def run_cell(setup: tuple[Any, Any], tmp_path: Path, *, seed: int, rate: float, kill: bool,
             files: bool = True) -> Any:
    emulator, reference = setup
    outcome = chaos.chaos_run(emulator, reference, tmp_path, seed=seed, rate=rate, kill=kill, files=files)
    assert not outcome.problems, outcome.line()
    assert outcome.verified, outcome.line()
    assert sum(outcome.injected.values()) > 0, "the faults fired"
    return outcome


@pytest.mark.parametrize(("seed", "rate", "kill"), [(1, 0.05, False)])
def test_given_random_faults_of_every_kind_when_run_and_resumed_then_snapshot_verifies_with_uninterrupted_data(
    emulator_and_reference: tuple[Any, Any], tmp_path: Path, seed: int, rate: float, kill: bool,
) -> None:
    outcome = run_cell(emulator_and_reference, tmp_path, seed=seed, rate=rate, kill=kill)
    if kill:
        assert outcome.stops, "the subprocess was stopped (killed, or it ended on its own)"


def test_given_fault_storm_when_run_then_stops_are_clean_and_resume_completes(
    emulator_and_reference: tuple[Any, Any], tmp_path: Path,
) -> None:
    outcome = run_cell(emulator_and_reference, tmp_path, seed=7, rate=0.2, kill=False)
    assert outcome.stops, "at this rate the org is unreachable at least once: a clean stop"


@pytest.mark.slow
@pytest.mark.parametrize("rate", [0.01, 0.03, 0.06, 0.12])
@pytest.mark.parametrize("seed", range(10, 16))
def test_chaos_matrix(emulator_and_reference: tuple[Any, Any], tmp_path: Path, seed: int, rate: float) -> None:
    run_cell(emulator_and_reference, tmp_path, seed=seed, rate=rate, kill=seed % 3 == 0)


def test_given_a_realistic_catalog_when_run_objects_all_then_every_unexportable_object_is_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """A larger catalog with the objects real orgs list but refuse to query plainly."""
    from sfbackup.cli import main
    from sfbackup.errors import ExitCode
    from sfbackup.repository import Repository
    from sfbackup.testing import running_emulator

    with running_emulator(records=10, seed=4, job_latency=0.02, extra_objects=40,
                          large_file_bytes=100_000) as emu:
        for key, value in chaos.login_env(emu).items():
            monkeypatch.setenv(key, value)
        repo = tmp_path / "repo"
        code = main(["run", "--repo", str(repo), "--instance-url", emu.instance_url, "--objects", "all",
                     "--json"])
        # Objects Salesforce refuses for a known reason are explained coverage, not missing data:
        # a nightly `all` run can be complete.
        assert code == ExitCode.OK, capsys.readouterr().out[-3000:]
        manifest = Repository.open(repo).snapshot("latest").manifest
        listed = {s["name"] for s in emu.org.describe_global()["sobjects"]}
        coverage = {c.object: c for c in manifest.coverage}
        assert set(coverage) == listed, "every object describeGlobal lists has a coverage entry"
        refused = {name: c for name, c in coverage.items() if c.status == "not_exportable"}
        assert refused, "the catalog has objects Salesforce refuses to query plainly"
        for name, entry in refused.items():
            assert entry.reason and ":" in entry.reason, f"{name} has Salesforce's reason"
            assert manifest.objects[name].error is not None
        assert all(manifest.objects[n].state == "done" for n, c in coverage.items() if c.status == "backed_up")
        assert manifest.state == "complete"
        assert all(manifest.objects[name].state == "skipped" for name in refused)

        settings = chaos.settings_for(emu)
        from sfbackup.salesforce.client import SalesforceClient
        from sfbackup.verify import verify_snapshot

        client = SalesforceClient(settings.connection, sleep=lambda seconds: None)
        result = verify_snapshot(repo, "latest", against_org=True, client=client)
        report = (result.report_paths["md"]).read_text() if "md" in result.report_paths else ""
        report += json.dumps(result.report)
        for name in refused:
            assert name in report, f"the report lists {name}"
