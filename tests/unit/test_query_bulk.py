"""Bulk API 2.0 query jobs: submit, wait, verified pages by locator, resume, delete."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from hypothesis import given
from hypothesis import strategies as st

from sfbackup.config import load_settings
from sfbackup.errors import ApiReserveReached, OrgUnreachable, SalesforceError, StorageError, UnsupportedQuery
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.salesforce.faults import FaultKind
from sfbackup.salesforce.query_bulk import BulkJobFailed, BulkQuery, CsvRecordCounter, count_csv_records

INSTANCE = "https://acme.my.salesforce.com"
JOBS = f"{INSTANCE}/services/data/v62.0/jobs/query"
JOB_ID = "750R0000000zlh9IAA"
RESULTS = f"{JOBS}/{JOB_ID}/results"
HEADER = b'"Id","Name","Description"\n'


def job_info(state: str, **extra: Any) -> dict[str, Any]:
    return {"id": JOB_ID, "operation": "query", "object": "Account", "state": state, "apiVersion": 62.0,
            "jobType": "V2Query", "contentType": "CSV", "lineEnding": "LF", "columnDelimiter": "COMMA", **extra}  # fmt: skip


def rows(start: int, n: int) -> bytes:
    return b"".join(f'"001{i:015d}","Name {i}",""\n'.encode() for i in range(start, start + n))


def page_headers(records: int, locator: str) -> dict[str, str]:
    return {"Sforce-NumberOfRecords": str(records), "Sforce-Locator": locator, "Content-Type": "text/csv"}


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def wire() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        mock.get(f"{INSTANCE}/services/oauth2/userinfo", json={"organization_id": "00D000000000001AAA"})
        yield mock


@pytest.fixture
def client(wire: responses.RequestsMock) -> SalesforceClient:
    settings = load_settings(
        None,
        env={"SF_ACCESS_TOKEN": "00D000000000001!tok"},
        overrides={"connection.instance_url": INSTANCE, "connection.max_retries": 2},
    ).connection
    return SalesforceClient(settings, sleep=Sleeps())


def test_given_a_query_when_submitted_then_the_job_body_is_what_salesforce_expects(
    wire: responses.RequestsMock, client: SalesforceClient
) -> None:
    wire.post(JOBS, json=job_info("UploadComplete"))
    assert BulkQuery.submit(client, "SELECT Id FROM Account", include_deleted=True) == JOB_ID
    sent = json.loads(wire.calls[-1].request.body or b"{}")
    assert sent == {"operation": "queryAll", "query": "SELECT Id FROM Account", "contentType": "CSV",
                    "columnDelimiter": "COMMA", "lineEnding": "LF"}  # fmt: skip


def test_given_an_object_bulk_refuses_when_submitted_then_unsupported_query(
    wire: responses.RequestsMock, client: SalesforceClient
) -> None:
    wire.post(
        JOBS,
        status=400,
        json=[{"errorCode": "INVALIDENTITY", "message": "Entity 'X' is not supported by the Bulk API."}],
    )
    with pytest.raises(UnsupportedQuery):
        BulkQuery.submit(client, "SELECT Id FROM X", include_deleted=False)


def test_given_the_daily_job_limit_when_submitted_then_api_reserve_reached(
    wire: responses.RequestsMock, client: SalesforceClient
) -> None:
    wire.post(
        JOBS,
        status=400,
        json=[
            {
                "errorCode": "LIMIT_EXCEEDED",
                "message": "Max bulk v2 query jobs (10000) per 24 hrs has been reached (10001)",
            }
        ],
    )
    with pytest.raises(ApiReserveReached):
        BulkQuery.submit(client, "SELECT Id FROM Account", include_deleted=False)


class FakeTime:
    """A clock and a sleep that advances it, for polling schedules over simulated hours."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_given_a_running_job_when_waiting_then_polls_back_off_from_a_fifth_of_a_second_to_two(
    wire: responses.RequestsMock, client: SalesforceClient
) -> None:
    for _ in range(12):
        wire.get(f"{JOBS}/{JOB_ID}", json=job_info("InProgress"))
    wire.get(f"{JOBS}/{JOB_ID}", json=job_info("JobComplete", numberRecordsProcessed=5))
    fake = FakeTime()
    info = BulkQuery.wait(client, JOB_ID, sleep=fake.sleep, clock=fake.clock)
    assert info["numberRecordsProcessed"] == 5
    assert fake.sleeps[0] == pytest.approx(0.2)
    assert fake.sleeps == sorted(fake.sleeps) and max(fake.sleeps) == 2.0  # a young job: seen soon


@pytest.mark.parametrize(("job_seconds", "most_polls", "longest_lateness"), [(35, 25, 2.0), (3600, 200, 30.0)])
def test_given_a_long_job_when_waiting_then_polls_grow_with_its_age_and_it_is_seen_done_soon_after(
    client: SalesforceClient, monkeypatch: pytest.MonkeyPatch,
    job_seconds: float, most_polls: int, longest_lateness: float,
) -> None:
    fake = FakeTime()
    polls: list[float] = []

    def info(_client: SalesforceClient, _job_id: str) -> dict[str, Any]:
        polls.append(fake.now)
        return job_info("JobComplete" if fake.now >= job_seconds else "InProgress")

    monkeypatch.setattr(BulkQuery, "info", staticmethod(info))
    BulkQuery.wait(client, JOB_ID, sleep=fake.sleep, clock=fake.clock, timeout_seconds=7200)
    assert len(polls) <= most_polls  # at 5 s apart an hour's job cost 720 API calls
    assert polls[-1] - job_seconds <= longest_lateness
    assert max(fake.sleeps) <= 30.0


def test_given_a_failed_job_when_waiting_then_bulk_job_failed_says_why_and_how_to_fall_back(
    wire: responses.RequestsMock, client: SalesforceClient
) -> None:
    wire.get(
        f"{JOBS}/{JOB_ID}",
        json=job_info("Failed", errorMessage="INVALIDENTITY: Entity 'Foo' is not supported by the Bulk API."),
    )
    with pytest.raises(BulkJobFailed) as caught:
        BulkQuery.wait(client, JOB_ID, sleep=Sleeps())
    assert caught.value.kind == FaultKind.UNSUPPORTED.value
    assert caught.value.error_code == "INVALIDENTITY"
    assert "not supported by the Bulk API" in str(caught.value)


def test_given_an_aborted_job_when_waiting_then_bulk_job_failed(
    wire: responses.RequestsMock, client: SalesforceClient
) -> None:
    wire.get(f"{JOBS}/{JOB_ID}", json=job_info("Aborted"))
    with pytest.raises(BulkJobFailed, match="aborted"):
        BulkQuery.wait(client, JOB_ID, sleep=Sleeps())


def test_given_a_job_that_never_ends_when_waiting_then_it_is_aborted_at_the_timeout(
    wire: responses.RequestsMock, client: SalesforceClient
) -> None:
    wire.get(f"{JOBS}/{JOB_ID}", json=job_info("InProgress"))
    wire.patch(f"{JOBS}/{JOB_ID}", json=job_info("Aborted"))
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(BulkJobFailed) as caught:
        BulkQuery.wait(client, JOB_ID, timeout_seconds=60, sleep=sleep, clock=lambda: now[0])
    assert caught.value.error_code == "BULK_JOB_TIMEOUT"
    assert json.loads(wire.calls[-1].request.body or b"{}") == {"state": "Aborted"}


@pytest.mark.parametrize("concurrency", [1, 2])
def test_given_three_pages_when_reading_then_locators_are_followed_until_null(
    wire: responses.RequestsMock, client: SalesforceClient, concurrency: int
) -> None:
    wire.get(RESULTS, body=HEADER + rows(0, 2), headers=page_headers(2, "MjA"),
             match=[responses.matchers.query_param_matcher({"maxRecords": "2"})])  # fmt: skip
    wire.get(RESULTS, body=HEADER + rows(2, 2), headers=page_headers(2, "NDA"),
             match=[responses.matchers.query_param_matcher({"maxRecords": "2", "locator": "MjA"})])  # fmt: skip
    wire.get(RESULTS, body=HEADER + rows(4, 1), headers=page_headers(1, "null"),
             match=[responses.matchers.query_param_matcher({"maxRecords": "2", "locator": "NDA"})])  # fmt: skip
    pages = list(BulkQuery.pages(client, JOB_ID, max_records=2, concurrency=concurrency))
    assert [(p.records, p.locator) for p in pages] == [(2, "MjA"), (2, "NDA"), (1, None)]
    assert pages[0].read() == HEADER + rows(0, 2)


def test_given_a_saved_locator_when_resuming_then_reading_starts_there(
    wire: responses.RequestsMock, client: SalesforceClient
) -> None:
    wire.get(RESULTS, body=HEADER + rows(4, 1), headers=page_headers(1, "null"),
             match=[responses.matchers.query_param_matcher({"maxRecords": "2", "locator": "NDA"})])  # fmt: skip
    pages = list(BulkQuery.pages(client, JOB_ID, start_locator="NDA", max_records=2))
    assert [p.records for p in pages] == [1]


@pytest.mark.parametrize("concurrency", [1, 2])
def test_given_a_short_page_when_reading_then_the_same_locator_is_fetched_again(
    wire: responses.RequestsMock, client: SalesforceClient, concurrency: int
) -> None:
    full = HEADER + rows(0, 3)
    wire.get(RESULTS, body=full[: len(full) - 30], headers=page_headers(3, "null"))
    wire.get(RESULTS, body=full, headers=page_headers(3, "null"))
    pages = list(BulkQuery.pages(client, JOB_ID, concurrency=concurrency))
    assert [p.records for p in pages] == [3]
    assert pages[0].read() == full
    assert len([c for c in wire.calls if c.request.url.startswith(RESULTS)]) == 2


@pytest.mark.parametrize("concurrency", [1, 2])
def test_given_pages_always_short_when_reading_then_org_unreachable(
    wire: responses.RequestsMock, client: SalesforceClient, concurrency: int
) -> None:
    wire.get(RESULTS, body=HEADER + rows(0, 1), headers=page_headers(3, "null"))
    with pytest.raises(OrgUnreachable, match="Sforce-NumberOfRecords"):
        list(BulkQuery.pages(client, JOB_ID, concurrency=concurrency))


@pytest.mark.parametrize("concurrency", [1, 2])
def test_given_no_locator_header_when_reading_then_the_page_is_not_taken_as_the_last(
    wire: responses.RequestsMock, client: SalesforceClient, concurrency: int
) -> None:
    wire.get(RESULTS, body=HEADER + rows(0, 1), headers={"Sforce-NumberOfRecords": "1"})
    wire.get(RESULTS, body=HEADER + rows(0, 1), headers=page_headers(1, "null"))
    assert [p.locator for p in BulkQuery.pages(client, JOB_ID, concurrency=concurrency)] == [None]


def test_given_raw_bytes_with_nul_and_latin_text_when_reading_then_they_are_kept_as_sent(
    wire: responses.RequestsMock, client: SalesforceClient
) -> None:
    body = HEADER + '"001000000000000001","Société\x00 Générale","a ""quoted""\nmultiline, value"\n'.encode()
    wire.get(RESULTS, body=body, headers=page_headers(1, "null"))
    (page,) = BulkQuery.pages(client, JOB_ID)
    assert page.read() == body and page.records == 1


def test_given_a_job_when_deleted_then_gone_jobs_are_fine_and_a_refusal_is_raised(
    wire: responses.RequestsMock, client: SalesforceClient
) -> None:
    job = f"{JOBS}/{JOB_ID}"
    wire.delete(job, status=204)
    BulkQuery.delete(client, JOB_ID)
    wire.replace(responses.DELETE, job, status=404, json=[{"errorCode": "NOT_FOUND", "message": "x"}])
    BulkQuery.delete(client, JOB_ID)  # already gone: nothing left to clean up
    assert [c.request.url for c in wire.calls if c.request.method == "DELETE"] == [job] * 2
    wire.replace(
        responses.DELETE, job, status=403, json=[{"errorCode": "INSUFFICIENT_ACCESS", "message": "no delete"}]
    )
    with pytest.raises(SalesforceError, match="INSUFFICIENT_ACCESS"):
        BulkQuery.delete(client, JOB_ID)


def test_given_a_hostile_job_id_when_used_then_nothing_is_sent(client: SalesforceClient) -> None:
    with pytest.raises(SalesforceError, match="not a Bulk job id"):
        list(BulkQuery.pages(client, "../../sobjects/Account"))


@pytest.mark.parametrize(
    ("csv", "expected"),
    [
        (b"", 0),
        (b'"Id"\n', 0),
        (b'"Id"', 0),
        (b'"Id","Name"\n"1","a"\n"2","b"\n', 2),
        (b'"Id","Name"\n"1","a"\n"2","b"', 2),
        (b'"Id","Name"\r\n"1","a"\r\n"2","b"\r\n', 2),
        (b'"Id","Note"\n"1","line one\nline two\n\nline four"\n"2",""\n', 2),
        (b'"Id","Note"\n"1","he said ""hi""\nthen left"\n', 1),
        (b"Id,Name\n1,plain\n2,\n", 2),
    ],
)
def test_given_csv_pages_when_counting_then_quoted_newlines_are_not_rows(csv: bytes, expected: int) -> None:
    assert count_csv_records(csv) == expected


@given(
    st.lists(
        st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=12), min_size=2, max_size=2),
        max_size=20,
    )
)
def test_given_any_rows_when_written_by_csv_and_counted_then_the_count_matches(
    values: list[list[str]],
) -> None:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(["Id", "Name"])
    writer.writerows(values)
    assert count_csv_records(out.getvalue().encode("utf-8")) == len(values)


@given(st.binary(max_size=300).map(lambda b: HEADER + b.replace(b"\r", b"")), st.data())
def test_given_any_split_into_chunks_when_counting_then_it_matches_counting_the_whole(
    data: bytes, draw: st.DataObject
) -> None:
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=8)))
    counter = CsvRecordCounter()
    for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
        counter.feed(data[start:end])
    assert counter.records == count_csv_records(data)
    assert counter.size == len(data)


def test_given_a_page_when_read_then_its_body_is_an_unnamed_file_in_the_spool_folder(
    wire: responses.RequestsMock, client: SalesforceClient, tmp_path: Path
) -> None:
    wire.get(RESULTS, body=HEADER + rows(0, 3), headers=page_headers(3, "null"))
    (page,) = BulkQuery.pages(client, JOB_ID, spool_dir=tmp_path)
    with page:
        assert page.size == len(HEADER + rows(0, 3)) and page.records == 3
        assert page.body.read() == HEADER + rows(0, 3)
        assert list(tmp_path.iterdir()) == []  # nothing to leave behind, even after a SIGKILL
    assert page.body.closed


def test_given_a_spool_folder_that_cannot_hold_files_when_reading_then_storage_error_without_retries(
    wire: responses.RequestsMock, client: SalesforceClient, tmp_path: Path
) -> None:
    wire.get(RESULTS, body=HEADER + rows(0, 3), headers=page_headers(3, "null"))
    with pytest.raises(StorageError, match="temporary file"):
        list(BulkQuery.pages(client, JOB_ID, spool_dir=tmp_path / "gone"))
    assert len([c for c in wire.calls if c.request.url.startswith(RESULTS)]) == 1


def test_given_two_pages_at_once_when_the_second_is_refused_then_the_first_comes_and_then_the_error(
    wire: responses.RequestsMock, client: SalesforceClient
) -> None:
    wire.get(RESULTS, body=HEADER + rows(0, 2), headers=page_headers(2, "MjA"),
             match=[responses.matchers.query_param_matcher({"maxRecords": "2"})])  # fmt: skip
    wire.get(RESULTS, status=409, json=[{"errorCode": "CONFLICT", "message": "wrong version"}],
             match=[responses.matchers.query_param_matcher({"maxRecords": "2", "locator": "MjA"})])  # fmt: skip
    pages = BulkQuery.pages(client, JOB_ID, max_records=2, concurrency=2)
    first = next(pages)
    assert first.records == 2 and first.locator == "MjA"
    with pytest.raises(SalesforceError, match="API version it was created with"):
        next(pages)
