"""Planning through the Composite API (issue 20): `sfbackup run` over HTTP against the emulator
describes 25 objects and counts 5 per API call; each subrequest's error is the one the call alone
raises, on its object alone; a subrequest that failed transiently is made alone; an org that refuses
/composite is planned one call per object, as before."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sfbackup.cli import main
from sfbackup.config import load_settings
from sfbackup.errors import SalesforceError
from sfbackup.repository import Repository
from sfbackup.repository.manifest import Manifest
from sfbackup.salesforce import composite, describe, query_rest
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.testing import RunningEmulator, running_emulator
from tests.conftest import emulator_env


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(records=20, seed=3, job_latency=0.05, large_file_bytes=0) as running:
        yield running


@pytest.fixture
def env(emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in emulator_env(emu).items():
        monkeypatch.setenv(key, value)
    emu.server.faults.clear()
    yield
    emu.server.faults.clear()


def run(emu: RunningEmulator, repo: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Manifest, str]:
    """`sfbackup run` of every object, records only; the manifest and what it printed."""
    capsys.readouterr()
    code = main(["run", "--repo", str(repo), "--instance-url", emu.instance_url, "--json", "--no-verify",
                 "--no-files", "--no-metadata", "--objects", "all"])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err[-2000:]
    return Repository.open(repo).snapshot("latest").manifest, out.out


def test_given_an_org_when_run_then_planning_takes_a_composite_call_per_25_describes_and_5_counts(
    emu: RunningEmulator, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emu.server.requests.clear()
    manifest, _ = run(emu, tmp_path / "repo", capsys)
    log = emu.server.requests.entries()
    composites = [e for e in log if e.kind == "composite"]
    described = [subject for e in composites for kind, subject in e.parts if kind == "describe"]
    counted = [subject for e in composites for kind, subject in e.parts if kind == "query"]
    names = sorted(manifest.objects)
    assert sorted(described) == names  # every object described inside a composite call...
    assert not [e for e in log if e.kind == "describe"]  # ...and none alone
    assert counted and set(counted) <= set(names)
    assert all(len(e.parts) <= 25 and sum(k == "query" for k, _ in e.parts) <= 5 for e in composites)
    expected_calls = -(-len(described) // 25) + -(-len(counted) // 5)
    assert manifest.api["planning_calls"] == len(composites) == expected_calls
    # one call per object made describes + COUNT()s: the factor this saves
    assert len(described) + len(counted) >= 4 * expected_calls
    for name in counted:
        entry = manifest.objects[name]
        assert entry.state == "done" and entry.extra["expected_rows"] == entry.rows, name


def test_given_an_org_refusing_composite_when_run_then_one_call_per_object_as_before(
    emu: RunningEmulator, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    together, _ = run(emu, tmp_path / "together", capsys)
    routes = emu.server.routes
    emu.server.routes = [r for r in routes if r.handler.__name__ != "composite"]  # an org without it
    try:
        emu.server.requests.clear()
        alone, out = run(emu, tmp_path / "alone", capsys)
    finally:
        emu.server.routes = routes
    log = emu.server.requests.entries()
    assert "Composite API refused (POST /services/data/v62.0/composite/: NOT_FOUND" in out
    assert alone.api["planning_calls"] == 1  # the one refused call; nothing tried through it again
    assert sorted(e.subject for e in log if e.kind == "describe") == sorted(alone.objects)
    for name, entry in alone.objects.items():
        before = together.objects[name]
        assert (entry.state, entry.rows) == (before.state, before.rows), name
        spent = 2 if before.extra.get("expected_rows") is not None else 1  # describe (and COUNT())
        assert entry.api_calls == before.api_calls + spent, name
        assert entry.extra.get("expected_rows") == before.extra.get("expected_rows"), name


def test_given_a_subrequest_failing_transiently_when_run_then_that_call_is_made_alone(
    emu: RunningEmulator, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emu.server.faults.add_rule("http_503", r"/sobjects/Contact/describe")
    manifest, _ = run(emu, tmp_path / "repo", capsys)
    assert emu.server.faults.injected["http_503"] >= 1
    contact = manifest.objects["Contact"]
    assert contact.state == "done" and contact.extra["expected_rows"] == contact.rows
    account = manifest.objects["Account"]
    # its describe again, alone (retried as any call), then its COUNT() alone (it needs the describe);
    # nobody else's calls
    assert contact.api_calls == account.api_calls + 2


def test_given_unknown_names_when_composite_then_each_error_is_the_one_the_call_alone_raises(
    emu: RunningEmulator,
) -> None:
    env = emulator_env(emu)
    settings = load_settings(None, env=env, overrides={"connection.instance_url": emu.instance_url})
    client = SalesforceClient(settings.connection, sleep=lambda seconds: None)
    requests = [composite.describe_request("Account"), composite.describe_request("NoSuch__c"),
                composite.count_request("Contact", where=None, include_deleted=False),
                composite.count_request("XYZZY", where=None, include_deleted=True)]  # fmt: skip
    before = client.calls_made
    answered = composite.call(client, requests)
    assert client.calls_made - before == 1
    assert answered[requests[0]].body["name"] == "Account"
    assert query_rest.total_size(answered[requests[2]].body, "Contact") == query_rest.count(
        client, "Contact", include_deleted=False
    )
    for request, alone in [(requests[1], lambda: describe.describe_raw(client, "NoSuch__c")),
                           (requests[3], lambda: query_rest.count(client, "XYZZY", include_deleted=True))]:
        with pytest.raises(SalesforceError) as single:
            alone()
        error = answered[request].error
        assert error is not None
        got: Any = (type(error), error.error_code, error.message, error.status)
        assert got == (type(single.value), single.value.error_code, single.value.message, single.value.status)


def test_given_a_snapshot_when_verify_against_org_then_describes_go_25_and_counts_5_per_composite_call(
    emu: RunningEmulator, env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest, _ = run(emu, tmp_path / "repo", capsys)

    def verify() -> tuple[dict[str, Any], list[Any]]:
        emu.server.requests.clear()
        main(["verify", "--repo", str(tmp_path / "repo"), "--instance-url", emu.instance_url, "--json",
              "--against-org"])  # fmt: skip
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        return result, emu.server.requests.entries()

    together, log = verify()
    composites = [e for e in log if e.kind == "composite"]
    counting = [e for e in composites if any(kind == "query" for kind, _ in e.parts)]
    counted = [subject for e in counting for kind, subject in e.parts if kind == "query"]
    assert counting and all(kind == "query" for e in counting for kind, _ in e.parts)
    assert len(counted) >= 10 and len(counting) == -(-len(counted) // 5)
    # the preflight's describes (what this user sees of each object): 25 a call, none alone
    described = [subject for e in composites for kind, subject in e.parts if kind == "describe"]
    assert set(described) >= set(manifest.objects) and len(composites) - len(counting) == -(-len(described) // 25)
    assert not [e for e in log if e.kind == "describe"]
    assert together["passed"] and together["counts"]["error"] == 0

    routes = emu.server.routes
    emu.server.routes = [r for r in routes if r.handler.__name__ != "composite"]  # an org without it
    try:
        alone, log = verify()
    finally:
        emu.server.routes = routes
    queried = [e.subject for e in log if e.kind == "query"]
    assert all(queried.count(name) >= 1 for name in counted)  # each COUNT() made alone, as before
    assert (alone["passed"], alone["counts"]) == (together["passed"], together["counts"])


def test_given_a_call_over_salesforces_limit_when_sent_then_a_refusal_of_that_call_not_the_daily_limit(
    emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(None, env=emulator_env(emu), overrides={"connection.instance_url": emu.instance_url})
    client = SalesforceClient(settings.connection, sleep=lambda seconds: None)
    monkeypatch.setattr(composite, "MAX_SUBREQUESTS", 26)  # what a client without our limit would send
    with pytest.raises(SalesforceError) as refused:  # not ApiReserveReached: the daily limit is fine
        composite.call(client, [composite.describe_request("Account")] * 26)
    assert refused.value.error_code == "LIMIT_EXCEEDED"
    assert "can’t contain more than 25 operations" in refused.value.message
