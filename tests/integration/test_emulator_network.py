"""The emulator's model of the network and of Salesforce's own time, over real HTTP: a round trip
per request, a per-connection bandwidth for bodies, Bulk jobs whose time grows with their rows and
that wait for one of a limited number of processing slots."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sfbackup.cli import main
from sfbackup.testing import RunningEmulator, running_emulator

V = "v62.0"


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(records=150, seed=2, job_latency=0.1, large_file_bytes=0) as running:
        yield running


@pytest.fixture(autouse=True)
def _reset(emu: RunningEmulator) -> Iterator[None]:
    yield
    config = emu.server.config
    config.latency_ms = config.bandwidth_mbps = config.bulk_rows_per_second = 0.0
    config.bulk_job_slots = 0
    config.job_latency = 0.1


@pytest.fixture(scope="module")
def http(emu: RunningEmulator) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {emu.access_token()}"
    return session


def url(emu: RunningEmulator, path: str) -> str:
    return f"{emu.instance_url}/services/data/{V}/{path}"


def timed(call: Any) -> tuple[float, Any]:
    began = time.monotonic()
    result = call()
    return time.monotonic() - began, result


def test_given_a_latency_when_requests_are_made_then_each_takes_one_round_trip_more(
    emu: RunningEmulator, http: requests.Session
) -> None:
    fast, _ = timed(lambda: http.get(url(emu, "limits")))
    emu.server.config.latency_ms = 150
    slow = [timed(lambda: http.get(url(emu, "limits")))[0] for _ in range(3)]
    assert all(0.15 <= took < 0.15 + fast + 0.1 for took in slow), (fast, slow)


def test_given_a_bandwidth_when_a_body_is_sent_then_it_takes_its_size_over_the_rate(
    emu: RunningEmulator, http: requests.Session
) -> None:
    emu.server.config.bandwidth_mbps = 2.0  # 250,000 bytes a second
    took, response = timed(lambda: http.get(
        url(emu, "query"), params={"q": "SELECT Id, Name, BillingCity, Phone FROM Account"},
        headers={"Accept-Encoding": "identity"}))
    size = len(response.content)
    assert size > 20_000
    assert took >= size / 250_000 * 0.95, (size, took)
    emu.server.config.bandwidth_mbps = 0.0
    unlimited, _ = timed(lambda: http.get(
        url(emu, "query"), params={"q": "SELECT Id, Name, BillingCity, Phone FROM Account"},
        headers={"Accept-Encoding": "identity"}))
    assert unlimited < took / 2


def create_job(http: requests.Session, emu: RunningEmulator, soql: str) -> str:
    response = http.post(url(emu, "jobs/query"), json={"operation": "query", "query": soql})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def state(http: requests.Session, emu: RunningEmulator, job_id: str) -> str:
    return str(http.get(url(emu, f"jobs/query/{job_id}")).json()["state"])


def wait_done(http: requests.Session, emu: RunningEmulator, job_id: str) -> float:
    """Seconds until `job_id` is JobComplete, polling every 20 ms."""
    began = time.monotonic()
    while time.monotonic() - began < 20:
        current = state(http, emu, job_id)
        if current in ("JobComplete", "Failed", "Aborted"):
            assert current == "JobComplete"
            return time.monotonic() - began
        time.sleep(0.02)
    raise AssertionError("job did not finish")


def test_given_a_row_rate_when_a_bulk_job_selects_rows_then_its_time_grows_with_them(
    emu: RunningEmulator, http: requests.Session
) -> None:
    emu.server.config.bulk_rows_per_second = 500.0  # 150 Accounts: 0.3 s on top of the job latency
    big = wait_done(http, emu, create_job(http, emu, "SELECT Id FROM Account"))
    small = wait_done(http, emu, create_job(http, emu, "SELECT Id FROM Account LIMIT 5"))
    assert big >= 0.1 + 150 / 500 - 0.02, big
    assert small < big - 0.2, (small, big)


def test_given_one_job_slot_when_two_jobs_are_created_then_the_second_waits_for_the_first(
    emu: RunningEmulator, http: requests.Session
) -> None:
    emu.server.config.bulk_job_slots = 1
    emu.server.config.job_latency = 0.4
    began = time.monotonic()
    first = create_job(http, emu, "SELECT Id FROM Account")
    second = create_job(http, emu, "SELECT Id FROM Contact")
    time.sleep(0.25)
    assert (state(http, emu, first), state(http, emu, second)) == ("InProgress", "UploadComplete")
    wait_done(http, emu, second)
    assert time.monotonic() - began >= 0.8  # two job times one after the other
    assert state(http, emu, first) == "JobComplete"


def test_given_one_job_slot_when_the_running_job_is_aborted_then_the_waiting_one_starts(
    emu: RunningEmulator, http: requests.Session
) -> None:
    emu.server.config.bulk_job_slots = 1
    emu.server.config.job_latency = 5.0
    first = create_job(http, emu, "SELECT Id FROM Account")
    emu.server.config.job_latency = 0.1
    second = create_job(http, emu, "SELECT Id FROM Contact")
    assert http.patch(url(emu, f"jobs/query/{first}"), json={"state": "Aborted"}).status_code == 200
    assert wait_done(http, emu, second) < 2.0


def test_given_a_negative_latency_when_the_emulator_command_starts_then_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["emulator", "--latency-ms", "-5"])
    assert exit_info.value.code == 2


def test_given_requests_when_answered_then_the_log_has_each_kind_object_and_body_size(
    emu: RunningEmulator, http: requests.Session
) -> None:
    emu.server.requests.clear()
    http.get(url(emu, "sobjects/Account/describe"))
    first = http.get(url(emu, "query"), params={"q": "SELECT Id FROM Contact"},
                     headers={"Accept-Encoding": "identity"})
    job = create_job(http, emu, "SELECT Id FROM Lead")
    wait_done(http, emu, job)
    log = emu.server.requests.entries()
    # a request of the test before may be logged just after clear() (logged when answered)
    log = log[[(e.kind, e.subject) for e in log].index(("describe", "Account")):]
    kinds = [(entry.kind, entry.subject) for entry in log]
    assert kinds[:3] == [("describe", "Account"), ("query", "Contact"), ("create_job", "Lead")]
    assert ("get_job", "Lead") in kinds
    assert log[1].body_bytes == len(first.content) and all(entry.status == 200 for entry in log)
