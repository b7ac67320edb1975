"""Every injectable fault kind, through real HTTP, switched at runtime with deterministic rules."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from sfbackup.emulator.http.faults import FAULT_KINDS, FaultConfig, Faults, parse_fault_flag
from sfbackup.testing import RunningEmulator, running_emulator

V = "v62.0"


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(records=40, job_latency=0.2) as running:
        yield running


@pytest.fixture(autouse=True)
def _no_faults(emu: RunningEmulator) -> Iterator[None]:
    emu.faults.clear()
    yield
    emu.faults.clear()


@pytest.fixture()
def http(emu: RunningEmulator) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {emu.access_token()}"
    return session


def url(emu: RunningEmulator, path: str) -> str:
    return f"{emu.instance_url}/services/data/{V}/{path}"


def completed_job(emu: RunningEmulator, http: requests.Session, soql: str) -> dict[str, object]:
    info = http.post(url(emu, "jobs/query"), json={"operation": "query", "query": soql}).json()
    deadline = time.time() + 30
    while info["state"] not in ("JobComplete", "Failed", "Aborted") and time.time() < deadline:
        time.sleep(0.05)
        info = http.get(url(emu, f"jobs/query/{info['id']}")).json()
    return info  # type: ignore[no-any-return]


def test_given_a_500_rule_when_calling_then_once_500_then_ok(
    emu: RunningEmulator, http: requests.Session
) -> None:
    emu.faults.add_rule("http_500", r"/sobjects$", times=1)
    first = http.get(url(emu, "sobjects"))
    assert first.status_code == 500 and first.json()[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    assert http.get(url(emu, "sobjects")).status_code == 200


def test_given_a_503_rule_when_querying_then_server_unavailable_twice(
    emu: RunningEmulator, http: requests.Session
) -> None:
    emu.faults.add_rule("http_503", r"/query", times=2)
    for _ in range(2):
        response = http.get(url(emu, "query"), params={"q": "SELECT Id FROM Account"})
        assert response.status_code == 503
        assert response.json() == [{"message": "Server too busy", "errorCode": "SERVER_UNAVAILABLE"}]
    assert http.get(url(emu, "query"), params={"q": "SELECT Id FROM Account"}).status_code == 200


def test_given_a_drop_rule_when_calling_then_connection_closes_without_response(
    emu: RunningEmulator, http: requests.Session
) -> None:
    emu.faults.add_rule("drop", r"/limits")
    with pytest.raises(requests.ConnectionError):
        http.get(url(emu, "limits"))
    assert http.get(url(emu, "limits")).status_code == 200


def test_given_truncate_when_reading_a_query_page_then_the_body_ends_early(
    emu: RunningEmulator, http: requests.Session
) -> None:
    emu.faults.add_rule("truncate", r"/query")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        http.get(
            url(emu, "query"),
            params={"q": "SELECT Id, Name FROM Account"},
            headers={"Accept-Encoding": "identity"},
        )
    assert http.get(url(emu, "query"), params={"q": "SELECT Id FROM Account"}).json()["totalSize"] > 0


def test_given_truncate_when_reading_a_bulk_page_or_blob_then_the_body_ends_early(
    emu: RunningEmulator, http: requests.Session
) -> None:
    job = completed_job(emu, http, "SELECT Id, Name FROM Contact")
    emu.faults.add_rule("truncate", r"/results")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        http.get(url(emu, f"jobs/query/{job['id']}/results"))
    full = http.get(url(emu, f"jobs/query/{job['id']}/results"))
    assert full.status_code == 200 and int(full.headers["Sforce-NumberOfRecords"]) > 0
    rows = http.get(url(emu, "query"), params={"q": "SELECT Id, BodyLength FROM Attachment"}).json()[
        "records"
    ]
    attachment = max(rows, key=lambda row: row["BodyLength"] or 0)
    emu.faults.add_rule("truncate", r"/Body$")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        http.get(url(emu, f"sobjects/Attachment/{attachment['Id']}/Body"))


def test_given_slow_when_calling_then_the_response_is_delayed(
    emu: RunningEmulator, http: requests.Session
) -> None:
    emu.faults.config.slow_seconds = 0.4
    emu.faults.add_rule("slow", r"/limits")
    started = time.time()
    assert http.get(url(emu, "limits")).status_code == 200
    assert time.time() - started >= 0.4


def test_given_session_expiry_when_calling_then_401_and_the_token_stays_dead(
    emu: RunningEmulator, http: requests.Session
) -> None:
    emu.faults.add_rule("session_expiry", r"/sobjects")
    response = http.get(url(emu, "sobjects"))
    assert response.status_code == 401
    assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert http.get(url(emu, "limits")).status_code == 401
    fresh = {"Authorization": f"Bearer {emu.access_token()}"}
    assert requests.get(url(emu, "limits"), headers=fresh).status_code == 200


def test_given_bulk_failed_when_job_runs_then_it_ends_failed_with_an_error_message(
    emu: RunningEmulator, http: requests.Session
) -> None:
    emu.faults.add_rule("bulk_failed", r"/jobs/query")
    job = completed_job(emu, http, "SELECT Id FROM Account")
    assert job["state"] == "Failed" and job["errorMessage"]
    results = http.get(url(emu, f"jobs/query/{job['id']}/results"))
    assert results.status_code == 400 and results.json()[0]["errorCode"] == "JOB_NOT_COMPLETE"
    assert completed_job(emu, http, "SELECT Id FROM Account")["state"] == "JobComplete"


def test_given_query_timeout_when_a_non_selective_query_runs_then_400_query_timeout(
    emu: RunningEmulator, http: requests.Session
) -> None:
    emu.faults.config.query_timeout_min_rows = 1
    emu.faults.set_rate("query_timeout", 1.0)
    response = http.get(url(emu, "query"), params={"q": "SELECT Id, Name FROM Account"})
    assert response.status_code == 400
    assert response.json() == [
        {"message": "Your query request was running for too long.", "errorCode": "QUERY_TIMEOUT"}
    ]
    some_id = emu.org.query(
        "SELECT Id FROM Account", include_deleted=False, api="rest", api_version="62.0"
    ).rest_records(0, 1)[0]["Id"]
    selective = http.get(url(emu, "query"), params={"q": f"SELECT Id FROM Account WHERE Id = '{some_id}'"})
    assert selective.status_code == 200


def test_given_the_daily_limit_when_it_runs_out_then_403_until_raised(
    emu: RunningEmulator, http: requests.Session
) -> None:
    emu.faults.config.daily_api_limit = emu.server.api_usage.used + 1
    try:
        assert http.get(url(emu, "limits")).status_code == 200
        refused = http.get(url(emu, "limits"))
        assert refused.status_code == 403 and refused.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
        assert refused.headers["Sforce-Limit-Info"].startswith("api-usage=")
    finally:
        emu.faults.config.daily_api_limit = None


def test_given_a_seed_when_rates_fire_then_the_sequence_is_reproducible() -> None:
    def sequence(seed: int) -> list[bool]:
        faults = Faults(FaultConfig(rates={"http_503": 0.3, "drop": 0.1}, seed=seed))
        return [faults.fires("http_503", "GET", "/x") for _ in range(200)]

    assert sequence(7) == sequence(7)
    assert sequence(7) != sequence(8)
    assert 30 < sum(sequence(7)) < 90


def test_given_a_rate_when_many_requests_then_about_that_share_fails(
    emu: RunningEmulator, http: requests.Session
) -> None:
    emu.faults.configure(FaultConfig(rates={"http_503": 0.5}, seed=3))
    statuses = [http.get(url(emu, "limits")).status_code for _ in range(60)]
    assert 10 < statuses.count(503) < 50 and statuses.count(200) == 60 - statuses.count(503)


def test_given_fault_flags_when_parsed_then_kind_and_rate_or_a_clear_error() -> None:
    assert parse_fault_flag("http_503=0.25") == ("http_503", 0.25)
    assert set(FAULT_KINDS) >= {
        "http_500",
        "http_503",
        "drop",
        "truncate",
        "slow",
        "session_expiry",
        "bulk_failed",
        "query_timeout",
    }
    for bad in ("nope=0.1", "http_503", "http_503=2"):
        with pytest.raises(ValueError):
            parse_fault_flag(bad)


def test_given_a_bad_fault_flag_when_starting_the_emulator_command_then_usage_error_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from sfbackup.cli import main

    assert main(["emulator", "--fault", "nope=0.5"]) == 2
    assert "unknown fault kind 'nope'" in capsys.readouterr().err
