"""`run` on Salesforce's bad nights: 503 storms, dropped and truncated pages, an expired session,
a Failed Bulk job, the daily API limit running out. Each run ends with the same data as an
uninterrupted run, or with a clean, resumable stop that `--resume` completes.

The library entry point is used with a client whose backoff does not sleep, so the retries are
real HTTP retries against the emulator but the suite stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sfbackup.backup.run import run_backup
from sfbackup.config import Settings, load_settings
from sfbackup.emulator.http.faults import FaultConfig
from sfbackup.errors import ExitCode
from sfbackup.repository import Repository
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.testing import running_emulator

OBJECTS = ["Account", "Contact", "Opportunity", "Lead", "Invoice__c", "ContentDocumentLink", "ContentDocument"]


@pytest.fixture(scope="module")
def org() -> Iterator[Any]:
    with running_emulator(records=60, seed=11, job_latency=0.02) as running:
        yield running


@pytest.fixture(autouse=True)
def no_faults(org: Any) -> Iterator[None]:
    org.faults.configure(FaultConfig())
    yield
    org.faults.configure(FaultConfig())


def settings_for(org: Any, **backup: Any) -> Settings:
    credentials = org.credentials
    overrides = {
        "connection.instance_url": org.instance_url,
        "backup.objects": OBJECTS,
        "backup.files": False,
        "backup.verify_after_run": False,
        "backup.bulk_min_records": 0,
        "backup.bulk_page_records": 25,
        **{f"backup.{k}": v for k, v in backup.items()},
    }
    env = {"SF_USERNAME": credentials.username, "SF_PASSWORD": credentials.password,
           "SF_SECURITY_TOKEN": credentials.security_token}
    return load_settings(None, env=env, overrides=overrides)


def backup(org: Any, repo: Path, *, resume: bool = False, **backup_settings: Any) -> Any:
    settings = settings_for(org, **backup_settings)
    client = SalesforceClient(
        settings.connection, sleep=lambda seconds: None,
        api_reserve_percent=settings.backup.api_reserve_percent,
    )
    return run_backup(settings, repo, resume=resume, client=client)


def tables(repo: Path) -> dict[str, pa.Table]:
    snapshot = Repository.open(repo).snapshot("latest")
    return {name: snapshot.read(name).sort_by("Id") for name in sorted(snapshot.manifest.objects)}


@pytest.fixture(scope="module")
def reference(org: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, pa.Table]:
    """The data of an uninterrupted run without faults."""
    repo = tmp_path_factory.mktemp("reference")
    result = backup(org, repo)
    assert result.state == "exported"
    return tables(repo)


def assert_same_data(repo: Path, reference: dict[str, pa.Table]) -> None:
    ours = tables(repo)
    assert ours.keys() == reference.keys()
    for name, table in ours.items():
        assert table.equals(reference[name]), f"{name} differs from the uninterrupted run"


def test_given_503_storm_and_cut_pages_when_run_then_data_equals_uninterrupted_run(
    org: Any, reference: dict[str, pa.Table], tmp_path: Path
) -> None:
    org.faults.configure(FaultConfig(rates={"http_503": 0.25, "drop": 0.05, "truncate": 0.1}, seed=5))
    result = backup(org, tmp_path / "repo")
    org.faults.clear()
    assert result.state == "exported", result.summary
    assert_same_data(tmp_path / "repo", reference)


def test_given_session_expires_mid_run_when_run_then_it_logs_in_again_and_completes(
    org: Any, reference: dict[str, pa.Table], tmp_path: Path
) -> None:
    org.faults.add_rule("session_expiry", path_pattern="/jobs/query/.+/results", times=1)
    result = backup(org, tmp_path / "repo")
    assert result.state == "exported", result.summary
    assert_same_data(tmp_path / "repo", reference)


def test_given_failed_bulk_job_when_run_then_object_falls_back_to_rest(
    org: Any, reference: dict[str, pa.Table], tmp_path: Path
) -> None:
    org.faults.add_rule("bulk_failed", path_pattern="/jobs/query", times=1)
    result = backup(org, tmp_path / "repo")
    assert result.state == "exported", result.summary
    manifest = Repository.open(tmp_path / "repo").snapshot("latest").manifest
    fell_back = [n for n, e in manifest.objects.items() if "REST" in " ".join(e.extra.get("notes", []))]
    assert fell_back, "one object went through REST after its Bulk job failed"
    assert_same_data(tmp_path / "repo", reference)


def test_given_daily_limit_runs_out_when_run_then_stops_resumably_and_resume_completes(
    org: Any, reference: dict[str, pa.Table], tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    org.faults.configure(FaultConfig(daily_api_limit=org.server.api_usage.used + 40))
    stopped = backup(org, repo, api_reserve_percent=0.0)
    assert stopped.state == "incomplete"
    assert stopped.exit_code == ExitCode.API_RESERVE
    manifest = Repository.open(repo).snapshot("latest").manifest
    assert any(e.state != "done" for e in manifest.objects.values()) or len(manifest.objects) < len(OBJECTS)

    org.faults.configure(FaultConfig())  # the next day: the limit is back
    resumed = backup(org, repo, resume=True)
    assert resumed.state == "exported", resumed.summary
    assert resumed.snapshot_id == stopped.snapshot_id
    assert len(Repository.open(repo).snapshots()) == 1
    assert_same_data(repo, reference)


def test_given_query_timeouts_when_verifying_ids_against_the_org_then_created_date_ranges_are_read(
    org: Any, tmp_path: Path
) -> None:
    from sfbackup.verify import verify_snapshot

    result = backup(org, tmp_path / "repo", bulk_min_records=10**9)
    assert result.state == "exported"
    org.faults.configure(FaultConfig(rates={"query_timeout": 1.0}, query_timeout_min_rows=30))
    client = SalesforceClient(settings_for(org).connection, sleep=lambda seconds: None)

    verification = verify_snapshot(
        tmp_path / "repo", result.snapshot_id, against_org=True, ids=True, client=client,
        bulk_id_threshold=10**9,
    )

    assert org.faults.injected["query_timeout"] > 0
    assert verification.passed, [f.one_line() for f in verification.failures]
    compared = {row["object"] for row in verification.report["objects"] if row["ids_compared"]}
    assert compared >= {"Account", "Contact"}


def test_given_query_timeout_on_a_large_object_when_run_then_created_date_ranges_are_read(
    org: Any, reference: dict[str, pa.Table], tmp_path: Path
) -> None:
    org.faults.configure(FaultConfig(rates={"query_timeout": 1.0}, query_timeout_min_rows=30))
    result = backup(org, tmp_path / "repo", bulk_min_records=10**9)
    assert org.faults.injected["query_timeout"] > 0
    assert result.state == "exported", result.summary
    assert_same_data(tmp_path / "repo", reference)
