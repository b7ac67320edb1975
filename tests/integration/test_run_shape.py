"""The run's shape at network latency, read from the emulator's request log: objects are planned
(describe + COUNT()) through Composite calls sent `backup.concurrency` at a time, and the largest
objects start first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sfbackup.cli import main
from sfbackup.repository import Repository
from sfbackup.testing import running_emulator
from tests.conftest import emulator_env

OBJECTS = "UserRole,Profile,User,Invoice__c,Account,Lead,Opportunity,Contact"  # smallest first
LATENCY_MS = 80


@pytest.fixture(scope="module")
def slow_org() -> Iterator[Any]:
    with running_emulator(
        records=40, seed=7, job_latency=0.05, large_file_bytes=0, latency_ms=LATENCY_MS
    ) as running:
        yield running


def test_given_latency_when_run_then_objects_are_planned_concurrently_and_the_largest_start_first(
    slow_org: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in emulator_env(slow_org).items():
        monkeypatch.setenv(key, value)
    slow_org.server.requests.clear()
    code = main(
        [
            "run",
            "--repo",
            str(tmp_path / "repo"),
            "--instance-url",
            slow_org.instance_url,
            "--json",
            "--no-verify",
            "--no-files",
            "--no-metadata",
            "--concurrency",
            "4",
            "--objects",
            OBJECTS,
        ]
    )
    assert code == 0
    log = slow_org.server.requests.entries()
    composites = [e for e in log if e.kind == "composite"]
    # Planning through Composite: the 8 describes in one call, then the 8 COUNT()s in two (5 a call)
    # sent at the same time: three round trips where one call per object made 16.
    assert sorted(sorted(kind for kind, _ in e.parts) for e in composites) == [
        ["describe"] * 8, ["query"] * 3, ["query"] * 5
    ], [e.parts for e in composites]
    assert not [e for e in log if e.kind in ("describe", "query") and e.subject in OBJECTS.split(",")
                and e.started < composites[-1].started]  # fmt: skip
    counts = sorted(e.started for e in composites[1:])
    assert counts[1] - counts[0] < LATENCY_MS / 1000, [round(t - counts[0], 3) for t in counts]

    output = capsys.readouterr().out
    started = [
        json.loads(line)["object"] for line in output.splitlines() if '"event": "object_started"' in line
    ]
    rows = {
        n: e.rows for n, e in Repository.open(tmp_path / "repo").snapshot("latest").manifest.objects.items()
    }
    # Contact (80 rows) and three of the 40-row objects hold the four workers before any small one
    assert "Contact" in started[:4] and not {"UserRole", "Profile", "User"} & set(started[:4]), (
        started,
        rows,
    )


def test_given_a_slow_bulk_object_when_run_then_file_bodies_and_metadata_are_saved_while_its_records_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_emulator(records=40, seed=7, job_latency=1.5, large_file_bytes=0) as org:
        for key, value in emulator_env(org).items():
            monkeypatch.setenv(key, value)
        config = tmp_path / "bulk.toml"
        config.write_text("[backup]\nbulk_min_records = 30\n")  # Contact (80 rows) through a 1.5 s Bulk job
        code = main(
            [
                "run",
                "--repo",
                str(tmp_path / "repo"),
                "--instance-url",
                org.instance_url,
                "--json",
                "--config",
                str(config),
                "--no-verify",
                "--objects",
                "Contact,Attachment,ContentVersion",
            ]
        )
        assert code == 0, capsys.readouterr().out
        log = org.server.requests.entries()
    bodies = [e.started for e in log if e.kind == "blob"]
    contact_pages = [e.started for e in log if e.kind == "results" and e.subject == "Contact"]
    assert bodies and contact_pages
    # the bodies and the metadata do not wait for Contact's Bulk job: most bodies are saved, and
    # the configuration retrieved, before its first page
    retrieves = [e.started for e in log if e.kind == "metadata_retrieve"]
    assert retrieves and min(retrieves) < min(contact_pages)
    assert sorted(bodies)[len(bodies) // 2] < min(contact_pages), (min(bodies), min(contact_pages))


def test_given_many_objects_when_run_then_the_preflight_reads_field_definitions_concurrently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 63 objects: FieldDefinition takes three queries of up to 25 objects; one after another they
    # were a serial barrier between planning and export (38 round trips on a 1,000-object org).
    with running_emulator(records=3, seed=7, extra_objects=40, large_file_bytes=0,
                          latency_ms=LATENCY_MS) as org:  # fmt: skip
        for key, value in emulator_env(org).items():
            monkeypatch.setenv(key, value)
        org.server.requests.clear()
        code = main(["run", "--repo", str(tmp_path / "repo"), "--instance-url", org.instance_url, "--json",
                     "--no-verify", "--no-files", "--no-metadata", "--concurrency", "4"])  # fmt: skip
        log = org.server.requests.entries()
    assert code in (0, 3)
    # (FieldDefinition is an object of the org too: planned and exported like the others)
    definitions = sorted(e.started for e in log if e.kind == "query" and e.subject == "FieldDefinition")
    together = max(sum(1 for u in definitions if t <= u < t + LATENCY_MS / 1000) for t in definitions)
    assert together >= 3, [round(t - definitions[0], 3) for t in definitions]


def test_given_latency_when_run_then_the_metadata_is_read_while_the_objects_are_planned(
    slow_org: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The metadata needs nothing of the objects' plans: it starts with the run, not after the
    # planning and the preflight (on a 1,000-object org at 150 ms those are 70 s).
    for key, value in emulator_env(slow_org).items():
        monkeypatch.setenv(key, value)
    slow_org.server.requests.clear()
    code = main(["run", "--repo", str(tmp_path / "repo"), "--instance-url", slow_org.instance_url, "--json",
                 "--no-verify", "--no-files", "--concurrency", "4"])  # fmt: skip
    assert code == 0
    log = slow_org.server.requests.entries()
    first_metadata = min(e.started for e in log if e.kind.startswith("metadata_"))
    last_describe = max(e.started for e in log if e.kind in ("describe", "composite"))  # planning
    assert first_metadata < last_describe
    assert Repository.open(tmp_path / "repo").snapshot("latest").manifest.metadata is not None


def test_given_empty_objects_when_run_then_they_are_saved_while_the_workers_wait_on_salesforce(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An object whose COUNT() is 0 costs no call: it need not queue behind the objects with rows
    # (sorted largest first, hundreds of empty objects were the run's tail on a 1,000-object org).
    objects = "Account,Contact,Lead,Opportunity,Pricebook2,ProcessDefinition,WorkOrder,WebLink,Scontrol,Site"
    with running_emulator(records=30, seed=7, org_shape="enterprise", large_file_bytes=0,
                          latency_ms=LATENCY_MS) as org:  # fmt: skip
        for key, value in emulator_env(org).items():
            monkeypatch.setenv(key, value)
        code = main(["run", "--repo", str(tmp_path / "repo"), "--instance-url", org.instance_url, "--json",
                     "--no-verify", "--no-files", "--no-metadata", "--concurrency", "2", "--objects", objects])
    assert code == 0
    manifest = Repository.open(tmp_path / "repo").snapshot("latest").manifest
    empty = {name for name, entry in manifest.objects.items() if entry.state == "done" and entry.rows == 0
             and entry.api_calls == 0}  # fmt: skip  (planned through Composite, no query for nothing)
    finished = [json.loads(line)["object"] for line in capsys.readouterr().out.splitlines()
                if '"event": "object_finished"' in line]  # fmt: skip
    assert len(empty) >= 3, empty
    first_with_rows = next(i for i, name in enumerate(finished) if name not in empty)
    assert empty & set(finished[:first_with_rows]), finished


def test_given_many_objects_when_run_then_each_is_planned_as_soon_as_its_answers_are_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Building the plans (and their schemas) is CPU: after the last Composite call it was 0.5 s
    # of a 1,000-object org's run in which nothing was asked of Salesforce.
    import time

    import sfbackup.backup.run as run_module

    planned: list[float] = []
    real_plan_object = run_module.plan_object

    def timed_plan_object(*args: Any, **kwargs: Any) -> Any:
        planned.append(time.monotonic())
        return real_plan_object(*args, **kwargs)

    monkeypatch.setattr(run_module, "plan_object", timed_plan_object)
    with running_emulator(records=3, seed=7, extra_objects=40, large_file_bytes=0,
                          latency_ms=LATENCY_MS) as org:  # fmt: skip
        for key, value in emulator_env(org).items():
            monkeypatch.setenv(key, value)
        org.server.requests.clear()
        code = main(["run", "--repo", str(tmp_path / "repo"), "--instance-url", org.instance_url, "--json",
                     "--no-verify", "--no-files", "--no-metadata", "--concurrency", "2"])  # fmt: skip
        log = org.server.requests.entries()
    assert code in (0, 3)
    composites = sorted(e.started for e in log if e.kind == "composite")
    assert len(composites) > 4 and planned
    # most objects are planned while the later Composite calls are still on their way
    before_last = sum(1 for t in planned if t < composites[-1])
    assert before_last >= len(planned) // 2, (before_last, len(planned))
