"""The client side against the emulator over real HTTP: logins, describe, REST and Bulk queries,
blob downloads, and the faults Salesforce is known for."""

from __future__ import annotations

import csv
import hashlib
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sfbackup.config import ConnectionSettings, load_settings
from sfbackup.errors import ApiReserveReached, SalesforceError
from sfbackup.salesforce import describe, query_rest
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.salesforce.query_bulk import BulkJobFailed, BulkQuery

testing = pytest.importorskip("sfbackup.testing", reason="sfbackup.testing.running_emulator is not available")


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    with testing.running_emulator(records=450, seed=3, job_latency=0.05) as running:
        yield running


@pytest.fixture(autouse=True)
def no_faults_left(emu: Any) -> Iterator[None]:
    yield
    emu.faults.clear()


def connection(emu: Any, **overrides: Any) -> ConnectionSettings:
    creds = emu.credentials
    env = {
        "SF_USERNAME": creds.username,
        "SF_PASSWORD": creds.password,
        "SF_SECURITY_TOKEN": creds.security_token,
    }
    flags = {"connection.instance_url": emu.instance_url, "connection.max_retries": 4, **overrides}
    return load_settings(None, env=env, overrides=flags).connection


@pytest.fixture
def client(emu: Any) -> SalesforceClient:
    return SalesforceClient(connection(emu), sleep=Sleeps())


def fired(emu: Any, kind: str) -> int:
    """How many times the rules for `kind` have fired (proof that the fault really happened)."""
    return sum(rule.fired for rule in emu.faults.config.rules if rule.kind == kind)


def csv_rows(page: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(page.decode("utf-8"), newline="")))


def test_given_the_emulator_when_describing_then_the_default_objects_are_there(
    client: SalesforceClient,
) -> None:
    names = {entry["name"] for entry in describe.describe_global(client)}
    assert {"Account", "Contact", "ContentVersion", "Attachment"} <= names
    schema = describe.describe(client, "Account")
    assert schema.name == "Account" and schema.has_field("Id")
    assert client.org_id == client.org_id.strip() and client.org_id.startswith("00D")


def test_given_small_batches_when_querying_then_next_records_urls_are_followed_to_the_count(
    client: SalesforceClient,
) -> None:
    expected = query_rest.count(client, "Account", include_deleted=False)
    pages = list(
        query_rest.iter_query_pages(
            client, "SELECT Id, Name FROM Account", include_deleted=False, batch_size=200
        )
    )
    ids = [record["Id"] for page in pages for record in page]
    assert len(pages) > 1
    assert len(ids) == len(set(ids)) == expected
    assert all("attributes" not in record for page in pages for record in page)


def test_given_deleted_rows_when_counting_with_query_all_then_they_are_included(
    client: SalesforceClient,
) -> None:
    live = query_rest.count(client, "Account", include_deleted=False)
    everything = query_rest.count(client, "Account", include_deleted=True)
    deleted = query_rest.count(client, "Account", where="IsDeleted = true", include_deleted=True)
    assert everything == live + deleted
    by_flag = query_rest.count_by(client, "Account", "IsDeleted", include_deleted=True)
    assert sum(by_flag.values()) == everything


def test_given_a_bulk_job_when_read_in_pages_then_every_row_arrives_once_and_a_locator_resumes(
    client: SalesforceClient,
) -> None:
    expected = query_rest.count(client, "Account", include_deleted=True)
    job = BulkQuery.submit(client, "SELECT Id, Name, Description FROM Account", include_deleted=True)
    info = BulkQuery.wait(client, job)
    assert info["state"] == "JobComplete"
    pages = list(BulkQuery.pages(client, job, max_records=100))
    assert pages[-1].locator is None and all(p.locator for p in pages[:-1])
    ids = [row["Id"] for page in pages for row in csv_rows(page.read())]
    assert sum(p.records for p in pages) == len(ids) == len(set(ids)) == expected
    resumed = list(BulkQuery.pages(client, job, start_locator=pages[1].locator, max_records=100))
    assert [p.read() for p in resumed] == [p.read() for p in pages[2:]]
    BulkQuery.delete(client, job)


def test_given_503s_and_drops_when_querying_then_the_client_retries_through_them(
    emu: Any, client: SalesforceClient
) -> None:
    emu.faults.add_rule("http_503", r"/query", times=2)
    emu.faults.add_rule("drop", r"/query", times=1)
    assert query_rest.count(client, "Contact", include_deleted=False) > 0
    assert (fired(emu, "http_503"), fired(emu, "drop")) == (2, 1)


def test_given_truncated_bulk_pages_when_reading_then_each_is_fetched_again(
    emu: Any, client: SalesforceClient
) -> None:
    job = BulkQuery.submit(client, "SELECT Id, Name FROM Contact", include_deleted=False)
    BulkQuery.wait(client, job)
    emu.faults.add_rule("truncate", r"/results", times=2)
    pages = list(BulkQuery.pages(client, job, max_records=150))
    total = sum(len(csv_rows(p.read())) for p in pages)
    assert (
        total == sum(p.records for p in pages) == query_rest.count(client, "Contact", include_deleted=False)
    )


def test_given_an_expired_session_mid_run_when_querying_then_the_client_logs_in_again(
    emu: Any, client: SalesforceClient
) -> None:
    first = client.access_token
    emu.faults.add_rule("session_expiry", r"/query", times=1)
    assert query_rest.count(client, "Lead", include_deleted=False) >= 0
    assert client.access_token != first
    assert fired(emu, "session_expiry") == 1


def test_given_a_failed_bulk_job_when_waiting_then_bulk_job_failed(
    emu: Any, client: SalesforceClient
) -> None:
    emu.faults.add_rule("bulk_failed", r"/jobs/query", times=5)
    job = BulkQuery.submit(client, "SELECT Id FROM Lead", include_deleted=False)
    with pytest.raises(BulkJobFailed):
        BulkQuery.wait(client, job)


def test_given_an_attachment_when_downloaded_then_the_bytes_match_its_length_even_when_cut_off(
    emu: Any, client: SalesforceClient
) -> None:
    records = next(
        query_rest.iter_query_pages(client, "SELECT Id, BodyLength FROM Attachment", include_deleted=False)
    )
    record = max(records, key=lambda r: r["BodyLength"] or 0)
    path = client.data_path(f"sobjects/Attachment/{record['Id']}/Body")
    emu.faults.add_rule("truncate", r"/Body", times=1)

    def sink(chunks: Iterator[bytes]) -> tuple[int, str]:
        digest, size = hashlib.sha256(), 0
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
        return size, digest.hexdigest()

    size, _ = client.download(path, sink)
    assert size == record["BodyLength"]
    assert fired(emu, "truncate") == 1


def test_given_a_query_timeout_when_querying_then_the_error_carries_the_code(
    emu: Any, client: SalesforceClient
) -> None:
    emu.faults.add_rule("query_timeout", r"/query", times=1)
    try:
        list(query_rest.iter_query_pages(client, "SELECT Id FROM Account", include_deleted=False))
    except SalesforceError as exc:
        assert exc.error_code == "QUERY_TIMEOUT"
    else:
        pytest.skip("the emulator found this query selective enough to answer")


def test_given_an_org_near_its_daily_limit_when_calling_then_the_reserve_stops_the_client() -> None:
    with testing.running_emulator(records=20, seed=5, daily_api_limit=20, job_latency=0.05) as small:
        client = SalesforceClient(connection(small), sleep=Sleeps(), api_reserve_percent=50.0)
        with pytest.raises(ApiReserveReached, match="reserve"):
            for _ in range(30):
                client.get_json(client.data_path("limits/"))
        assert client.api_usage is not None and client.api_usage[1] == 20


def test_given_parent_fields_and_a_compound_address_when_querying_then_only_attributes_are_dropped(
    client: SalesforceClient,
) -> None:
    soql = "SELECT Id, Owner.Name, BillingAddress FROM Account LIMIT 5"
    (page,) = list(query_rest.iter_query_pages(client, soql, include_deleted=False))
    record = page[0]
    assert set(record) == {"Id", "Owner", "BillingAddress"}
    assert set(record["Owner"]) == {"Name"}
    address = next(r["BillingAddress"] for r in page if r["BillingAddress"])
    assert {"city", "street", "latitude"} <= set(address)


def test_given_a_query_too_long_for_a_url_when_querying_rest_then_it_says_to_use_bulk(
    client: SalesforceClient,
) -> None:
    from sfbackup.errors import UnsupportedQuery
    from sfbackup.salesforce import soql as soql_builder

    ids = [f"001{i:015d}" for i in range(900)]
    soql = soql_builder.build_select("Account", ["Id"], where=soql_builder.in_clause("Id", ids))
    calls = client.calls_made
    with pytest.raises(UnsupportedQuery, match="Bulk"):
        next(query_rest.iter_query_pages(client, soql, include_deleted=False))
    assert client.calls_made == calls


def test_given_a_netrc_entry_for_the_org_host_when_calling_then_the_bearer_token_is_still_sent(
    emu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-a-salesforce-token\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client = SalesforceClient(connection(emu), sleep=Sleeps())

    body = client.get_json(client.data_path("limits/"))

    assert "DailyApiRequests" in body
    assert fired(emu, "session_expiry") == 0


def test_given_a_slow_link_when_two_pages_download_at_once_then_the_same_pages_come_sooner(
    emu: Any, client: SalesforceClient
) -> None:
    job = BulkQuery.submit(client, "SELECT Id, Name, Description FROM Account", include_deleted=True)
    BulkQuery.wait(client, job)
    emu.faults.add_rule("truncate", r"/results", times=1)  # a page fetched again keeps its place
    emu.server.config.bandwidth_mbps = 0.04  # 5 KB/s: each gzipped page ~0.3 s on the wire
    try:
        emu.server.requests.clear()
        started = time.monotonic()
        one = [p.read() for p in BulkQuery.pages(client, job, max_records=90)]
        serial = time.monotonic() - started
        sizes = [e.body_bytes for e in emu.server.requests.entries() if e.kind == "results"]
        started = time.monotonic()
        two = [p.read() for p in BulkQuery.pages(client, job, max_records=90, concurrency=2)]
        overlapped = time.monotonic() - started
    finally:
        emu.server.config.bandwidth_mbps = 0.0
    assert two == one and len(one) == 5, sizes
    assert overlapped < 0.75 * serial, (serial, overlapped, sizes)
