"""Chaos: whole backups against an emulator failing at random (every fault kind at once), some
with a SIGKILLed `sfbackup run` first. Each run ends verified (`--read-data --against-org --ids`)
with the data of an uninterrupted run, or stops cleanly and `--resume` finishes it; a snapshot is
never `complete` while it lacks anything. The cells are `scripts/chaos.py`'s own code: a few run
in the default suite, the matrix under `-m slow` (and `scripts/chaos.py` for longer ones).
"""

from __future__ import annotations

import importlib.util
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


def run_cell(setup: tuple[Any, Any], tmp_path: Path, *, seed: int, rate: float, kill: bool) -> Any:
    emulator, reference = setup
    outcome = chaos.chaos_run(emulator, reference, tmp_path, seed=seed, rate=rate, kill=kill)
    assert not outcome.problems, outcome.line()
    assert outcome.verified, outcome.line()
    assert sum(outcome.injected.values()) > 0, "the faults fired"
    return outcome


@pytest.mark.parametrize(("seed", "rate", "kill"), [(1, 0.05, False), (3, 0.05, True)])
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
