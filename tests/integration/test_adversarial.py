"""The adversarial matrix (`scripts/adversarial.py`'s own code): a damaged repository is caught by
`verify --read-data`, blobs are mended by `repair --from-org`, the next run loses nothing; killed
runs resume to the same data; a resume that would change the snapshot is refused. A few rows run
in the default suite, the whole matrix (19 corruptions, 6 kills, 3 changed flags) under `-m slow`.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


adversarial = load("adversarial")
chaos = sys.modules["chaos"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path, Any]]:
    workdir = tmp_path_factory.mktemp("adversarial")
    with chaos.chaos_emulator(records=40) as emu, adversarial.org_env(emu):
        baseline = adversarial.baseline_repo(emu, workdir)
        yield emu, baseline, chaos.snapshot_data(baseline)


@pytest.mark.parametrize("case", ["blob flipped", "manifest truncated"])
def test_given_a_corruption_then_caught_blobs_repaired_and_the_next_run_loses_nothing(
    setup: tuple[Any, Path, Any], tmp_path: Path, case: str
) -> None:
    emu, baseline, reference = setup
    with adversarial.org_env(emu):
        row = adversarial.corruption_row(emu, baseline, reference, tmp_path, case)
    assert not row.problems, adversarial.format_row(row)
    assert row.caught.startswith("yes") and row.lost == "nothing"
    assert row.repaired == ("yes (from org)" if case == "blob flipped" else "no (manifest)")


def test_given_a_killed_run_when_resumed_with_another_format_then_refused_and_finished_unchanged(
    setup: tuple[Any, Path, Any], tmp_path: Path
) -> None:
    emu, _baseline, reference = setup
    with adversarial.org_env(emu):
        row = adversarial.flags_row(emu, reference, tmp_path, "--resume --format csv")
    assert not row.problems, adversarial.format_row(row)
    assert row.caught == "refused (exit 2)" and row.lost == "nothing"


@pytest.mark.slow
def test_the_whole_adversarial_matrix(tmp_path: Path) -> None:
    with chaos.chaos_emulator(records=40) as emu:
        rows = adversarial.run_matrix(emu, tmp_path, kills=6)
    totals = adversarial.totals(rows)
    assert totals["broken"] == 0, "\n".join(adversarial.format_row(r) for r in rows if r.broken)
    assert totals["corruptions"] == 19 and totals["caught"] == 19 and totals["lost"] == 0
    assert totals["repaired"] == 13 and totals["flags_refused"] == 3  # all but the manifest and stray ones
