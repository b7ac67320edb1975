"""Leaving Salesforce: the default (every object), the notice deadline and the ownership table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce

from sfbackup.backup.run import run_backup
from sfbackup.config import load_settings
from sfbackup.repository import Repository
from sfbackup.salesforce.transport import rewriting_session
from sfbackup.testing import running_emulator
from sfbackup.verify.readiness import notice_deadline, ownership_table


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """A backup of a fresh emulator with the default settings (no objects named, no preset), and
    the emulator still running."""
    repo = tmp_path_factory.mktemp("everything") / "repo"
    with running_emulator(records=30, seed=9, job_latency=0.02) as org:
        credentials = org.credentials
        settings = load_settings(
            None,
            env={"SF_USERNAME": credentials.username, "SF_PASSWORD": credentials.password,
                 "SF_SECURITY_TOKEN": credentials.security_token},
            overrides={"connection.instance_url": org.instance_url},
        )
        result = run_backup(settings, repo)
        assert result.state == "complete", result.summary
        yield org, repo


def test_given_default_settings_when_run_then_every_listed_object_is_backed_up_or_explained(
    everything: tuple[Any, Path],
) -> None:
    org, repo = everything
    manifest = Repository.open(repo).snapshot("latest").manifest
    assert manifest.settings["preset"] == "everything" and manifest.settings["objects"] == "all"
    listed = {s["name"] for s in org.org.describe_global()["sobjects"]}
    covered = {c.object: c for c in manifest.coverage}
    assert listed <= set(covered)
    for name in ("User", "Profile", "UserRole", "Group", "PermissionSet", "PermissionSetAssignment",
                 "RecordType", "Organization", "Account", "ContentVersion", "Invoice__c"):
        assert covered[name].status == "backed_up", name
    for entry in covered.values():
        assert entry.status != "excluded_by_config"
        if entry.status != "backed_up":
            assert entry.reason, f"{entry.object} is not backed up and says not why"


def test_given_backup_when_ownership_computed_then_it_matches_a_group_by_from_another_client(
    everything: tuple[Any, Path],
) -> None:
    org, repo = everything
    credentials = org.credentials
    sf = Salesforce(username=credentials.username, password=credentials.password,
                    security_token=credentials.security_token, session=rewriting_session(org.instance_url))
    rows = ownership_table(Repository.open(repo).snapshot("latest"))
    ours = {(row.owner_id, name): count for row in rows for name, count in row.counts.items()}
    objects = {name for _, name in ours}
    assert {"Account", "Contact", "Opportunity"} <= objects
    theirs = {}
    for name in objects:
        result = sf.query_all(f"SELECT OwnerId, COUNT(Id) FROM {name} GROUP BY OwnerId")
        for record in result["records"]:
            theirs[(record["OwnerId"], name)] = record["expr0"]
    assert ours == theirs
    assert any(row.username for row in rows), "owners are named from the backed-up User object"


@pytest.mark.parametrize(
    ("today", "status", "days_left"),
    [
        (date(2027, 1, 1), "ok", 60),           # contract ends 2027-05-01, deadline 2027-03-02
        (date(2027, 2, 20), "near", 10),
        (date(2027, 3, 2), "near", 0),
        (date(2027, 3, 12), "passed", -10),
    ],
)
def test_given_contract_end_when_deadline_computed_then_status_follows_the_days_left(
    today: date, status: str, days_left: int
) -> None:
    deadline = notice_deadline(date(2027, 5, 1), 60, today=today)
    assert deadline.deadline == date(2027, 3, 2)
    assert deadline.days_left == days_left
    assert deadline.status == status
    if status == "passed":
        assert "passed" in deadline.message and "contact Salesforce" in deadline.message


def test_given_contract_end_already_past_when_verified_then_report_warns_and_lists_owners(
    everything: tuple[Any, Path],
) -> None:
    from sfbackup.verify import verify_snapshot

    _org, repo = everything
    result = verify_snapshot(repo, "latest", contract_end=date(2026, 12, 1), notice_days=60)
    # This check (structure, not against the org) is weaker than the run's: its report is its own.
    report = result.own_report_paths["report.md"].read_text()
    assert result.passed
    assert "2026-10-02" in report  # the deadline: 60 days before 2026-12-01
    assert "passed" in report.lower()
    assert "Owner" in report or "owner" in report
