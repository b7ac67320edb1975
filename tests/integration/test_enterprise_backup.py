"""`sfbackup run` on the enterprise-shaped org (docs/emulator.md): every object exported or explained,
one object's refusal never stops the others, each restricted object read with the strategy its
refusal calls for; rows checked against a separate simple-salesforce reading of the same org.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from simple_salesforce import Salesforce

from sfbackup.cli import main
from sfbackup.errors import ExitCode
from sfbackup.repository import Repository
from sfbackup.salesforce.transport import rewriting_session
from sfbackup.testing import RunningEmulator, running_emulator
from tests.conftest import emulator_env


@pytest.fixture(scope="module")
def enterprise() -> Iterator[RunningEmulator]:
    with running_emulator(
        records=30, org_shape="enterprise", operation_too_large=True, large_file_bytes=0, job_latency=0.05
    ) as running:
        yield running


@pytest.fixture
def env(enterprise: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in emulator_env(enterprise).items():
        monkeypatch.setenv(key, value)


def independent(emu: RunningEmulator) -> Salesforce:
    c = emu.credentials
    return Salesforce(username=c.username, password=c.password, security_token=c.security_token,
                      session=rewriting_session(emu.instance_url))  # fmt: skip


def run(emu: RunningEmulator, repo: Path, *args: str) -> int:
    return main(["run", "--repo", str(repo), "--instance-url", emu.instance_url, "--json", *args])


def not_exported(output: str) -> list[str]:
    """The objects the run's exit-3 message names as not exported."""
    [line] = [line for line in output.splitlines() if "objects not exported: " in line]
    named = line.split("objects not exported: ", 1)[1].split(";")[0].split('"')[0]
    return [name.strip() for name in named.split(",")]


def test_given_count_timeout_and_unknown_refusal_when_run_then_others_export_and_exit_3_names_failed(
    enterprise: RunningEmulator, env: None, repo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = "Account,LoginHistory,EntityDefinition,Contact"
    code = run(enterprise, repo_dir, "--objects", objects, "--no-files", "--no-verify")
    captured = capsys.readouterr()
    assert code == ExitCode.INCOMPLETE, captured.err[-2000:]
    assert not_exported(captured.out + captured.err) == ["EntityDefinition"]

    manifest = Repository.open(repo_dir).snapshot("latest").manifest
    failed = manifest.objects["EntityDefinition"]
    assert failed.state == "failed" and failed.error is not None
    assert failed.error.code == "EXCEEDED_ID_LIMIT"
    assert "does not support queryMore()" in failed.error.message  # Salesforce's own words
    login = manifest.objects["LoginHistory"]
    assert login.state == "done"
    assert login.extra["expected_rows"] is None
    assert "QUERY_TIMEOUT" in login.extra["count_refused"]
    sf = independent(enterprise)
    assert login.rows == len(sf.query_all("SELECT Id FROM LoginHistory")["records"]) > 0
    for name in ("Account", "Contact"):
        assert manifest.objects[name].state == "done"
        assert manifest.objects[name].extra["expected_rows"] == manifest.objects[name].rows

    # --resume retries only what did not finish, and ends the same way (nothing fixed it)
    code = run(enterprise, repo_dir, "--resume", "--no-verify")
    assert code == ExitCode.INCOMPLETE
    again = Repository.open(repo_dir).snapshot("latest").manifest
    assert again.snapshot_id == manifest.snapshot_id
    assert again.objects["Account"].parts == manifest.objects["Account"].parts
    assert again.objects["EntityDefinition"].state == "failed"
