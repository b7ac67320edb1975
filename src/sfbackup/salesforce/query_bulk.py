"""Bulk API 2.0 query jobs: submit, wait, read result pages by Sforce-Locator, delete.

Result pages are streamed, as the raw CSV bytes Salesforce sent (no decoding, no NUL stripping),
into an unnamed temporary file, so a 50,000-row page never sits in memory; each is checked against
``Sforce-NumberOfRecords`` while it streams and fetched again by the same locator when it came back
short. The last page is the one whose ``Sforce-Locator`` is the string ``null``. A job can be
resumed from a saved (job id, locator) for as long as Salesforce keeps the job (7 days).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
import requests

from sfbackup.errors import SalesforceError, storage_error
from sfbackup.salesforce import polling
from sfbackup.salesforce.client import CHUNK_SIZE, SalesforceClient
from sfbackup.salesforce.faults import FaultKind, TruncatedBody, classify

__all__ = ["BulkJobFailed", "BulkPage", "BulkQuery", "CsvRecordCounter", "count_csv_records"]

log = logging.getLogger("sfbackup.bulk")

DEFAULT_WAIT_TIMEOUT = 6 * 3600.0
_JOB_ID = re.compile(r"^[A-Za-z0-9]{15,18}$")
_LEADING_CODE = re.compile(r"^([A-Z][A-Z0-9_]{3,}):\s*(.*)$", re.DOTALL)


class BulkJobFailed(SalesforceError):
    """A Bulk query job ended Failed or Aborted, or never finished; REST may still work.

    `kind` is the `faults.FaultKind` value of the job's error message (``unsupported`` for an
    object or field the Bulk API refuses), so the caller can decide to fall back to REST.
    """

    @property
    def kind(self) -> str:
        return str(self.details.get("kind", FaultKind.FATAL.value))


@dataclass
class BulkPage:
    """One result set: its CSV (header row first), its row count, and the next page's locator.

    `body` is an unnamed temporary file positioned at its start; it disappears when the page is
    closed (use the page as a context manager), and with the process if that is killed.
    """

    body: IO[bytes]
    size: int
    records: int
    locator: str | None  # the locator of the NEXT page; None after the last page

    def read(self) -> bytes:
        """The whole CSV in memory: for small pages (Id lists, tests), not for record pages."""
        self.body.seek(0)
        data = self.body.read()
        self.body.seek(0)
        return data

    def close(self) -> None:
        self.body.close()

    def __enter__(self) -> BulkPage:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class BulkQuery:
    """The lifecycle of one Bulk API 2.0 query job (stateless: every call takes the client)."""

    @staticmethod
    def submit(client: SalesforceClient, soql: str, *, include_deleted: bool) -> str:
        """Create a ``query``/``queryAll`` job and return its id. Refusals raise UnsupportedQuery."""
        created = client.fetch(
            "POST",
            client.data_path("jobs/query"),
            consume=_json_body,
            json={
                "operation": "queryAll" if include_deleted else "query",
                "query": soql,
                "contentType": "CSV",
                "columnDelimiter": "COMMA",
                "lineEnding": "LF",
            },
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            ok=(200, 201),
        )
        job_id = str(created.get("id") or "") if isinstance(created, dict) else ""
        if not _JOB_ID.fullmatch(job_id):
            raise SalesforceError(
                "the Bulk API created a query job without a usable id", error_code="BAD_RESPONSE"
            )
        log.info("bulk query job %s submitted (%s)", job_id, "queryAll" if include_deleted else "query")
        return job_id

    @staticmethod
    def info(client: SalesforceClient, job_id: str) -> dict[str, Any]:
        """The job's current info (``state``, ``numberRecordsProcessed``, ``errorMessage`` ...)."""
        body: dict[str, Any] = client.get_json(client.data_path(f"jobs/query/{_checked(job_id)}"))
        return body

    @staticmethod
    def wait(
        client: SalesforceClient,
        job_id: str,
        *,
        timeout_seconds: float = DEFAULT_WAIT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> dict[str, Any]:
        """Poll (`polling.next_wait`: 0.2 s growing to 2 s, later a twentieth of the job's age) until
        the job is JobComplete and return its info.

        Failed, Aborted or still running after `timeout_seconds` raise BulkJobFailed.
        """
        started = clock()
        deadline = started + timeout_seconds
        delay = polling.FIRST_WAIT
        while True:
            info = BulkQuery.info(client, job_id)
            state = info.get("state")
            if state == "JobComplete":
                return info
            if state == "Failed":
                raise _job_failed(job_id, str(info.get("errorMessage") or "no errorMessage given"))
            if state == "Aborted":
                raise BulkJobFailed(
                    f"Bulk query job {job_id} was aborted (by a user or an admin in Setup)",
                    error_code="BULK_JOB_ABORTED",
                    kind=FaultKind.FATAL.value,
                )
            if clock() + delay > deadline:
                BulkQuery.abort(client, job_id)
                raise BulkJobFailed(
                    f"Bulk query job {job_id} was still {state} after {timeout_seconds:g} s; aborted it",
                    error_code="BULK_JOB_TIMEOUT",
                    kind=FaultKind.QUERY_TIMEOUT.value,
                )
            sleep(delay)
            delay = polling.next_wait(delay, clock() - started)

    @staticmethod
    def pages(
        client: SalesforceClient,
        job_id: str,
        *,
        start_locator: str | None = None,
        max_records: int = 50000,
        spool_dir: Path | None = None,
        concurrency: int = 1,
    ) -> Iterator[BulkPage]:
        """Yield the result pages from `start_locator` (None: the first) through the last one.

        Each page's body is spooled to a temporary file in `spool_dir` (None: the system's
        temporary folder); the caller closes every page it receives. With `concurrency` > 1, up to
        that many pages download at once: the next page's locator is in the ``Sforce-Locator``
        header, so its request starts as soon as the previous response's headers arrive, not after
        its body (on a WAN each connection's throughput is capped by its round trip; two streams
        carry about twice as much). Pages are still yielded in order.
        """
        path = client.data_path(f"jobs/query/{_checked(job_id)}/results")

        def fetch(locator: str | None, announce: Future[str | None] | None = None) -> BulkPage:
            def spool(response: requests.Response) -> BulkPage:
                if announce is not None and not announce.done():
                    header = response.headers.get("Sforce-Locator")
                    # Locators are stable, so a page fetched again (a cut-off body) names the same
                    # next page; without the header the page fails below and the chain stops.
                    announce.set_result(_next_locator(header) if header is not None else _UNKNOWN)
                return _spool_page(response, spool_dir)

            params: dict[str, Any] = {"maxRecords": max_records}
            if locator:
                params["locator"] = locator
            try:
                return client.fetch(
                    "GET", path, params=params, headers={"Accept": "text/csv"}, stream=True, consume=spool
                )
            except SalesforceError as exc:
                if exc.status == 409:  # results must be read with the API version that created the job
                    exc.hint = (
                        f"read job {job_id} with the API version it was created with (see its apiVersion)"
                    )
                raise
            finally:
                if announce is not None and not announce.done():
                    announce.set_result(_UNKNOWN)

        if concurrency <= 1:
            locator = start_locator
            while True:
                page = fetch(locator)
                yield page
                if page.locator is None:
                    return
                locator = page.locator
        yield from _overlapped(fetch, start_locator, concurrency)

    @staticmethod
    def abort(client: SalesforceClient, job_id: str) -> None:
        """Ask Salesforce to stop the job (a job already finished is left as it is)."""
        client.request(
            "PATCH",
            client.data_path(f"jobs/query/{_checked(job_id)}"),
            json={"state": "Aborted"},
            headers={"Content-Type": "application/json"},
            ok=(200, 400, 404),
        )

    @staticmethod
    def delete(client: SalesforceClient, job_id: str) -> None:
        """Delete the job and its results (a job already gone is fine)."""
        client.request("DELETE", client.data_path(f"jobs/query/{_checked(job_id)}"), ok=(200, 204, 404))


_QUOTE = ord('"')
_NEWLINE = ord("\n")
_COUNT_BLOCK = 4 << 20


class CsvRecordCounter:
    """Counts the data rows of a CSV fed in chunks, newlines inside quoted values excluded.

    A newline ends a row only outside quotes; quotes toggle that state and an escaped quote (``""``)
    toggles it twice, so the parity of the quotes before a newline says whether it ends a row.
    """

    def __init__(self) -> None:
        self.size = 0
        self.quotes = 0
        self.terminators = 0
        self.last_byte = -1

    def feed(self, chunk: bytes) -> None:
        """Count one more chunk (any split of the data, even inside a value)."""
        if not chunk:
            return
        quotes = chunk.count(b'"')
        if quotes == 0 and self.quotes % 2 == 0:
            self.terminators += chunk.count(b"\n")
        else:
            # Vectorised: the running count wraps at 256 in uint8, which keeps its parity.
            # (Splitting on quotes in Python made millions of small objects per page.)
            view = np.frombuffer(chunk, dtype=np.uint8)
            parity = self.quotes & 1
            for start in range(0, len(view), _COUNT_BLOCK):  # blocks keep the temporaries small
                block = view[start : start + _COUNT_BLOCK]
                is_quote = block == _QUOTE
                inside = (np.cumsum(is_quote, dtype=np.uint8) + parity) & 1
                self.terminators += int(np.count_nonzero((block == _NEWLINE) & (inside == 0)))
                parity = (parity + int(np.count_nonzero(is_quote))) & 1
        self.quotes += quotes
        self.size += len(chunk)
        self.last_byte = chunk[-1]

    @property
    def complete(self) -> bool:
        """Whether the data ends at the end of a row (every row ends with LF, outside quotes)."""
        return self.size == 0 or (self.last_byte == _NEWLINE and self.quotes % 2 == 0)

    @property
    def records(self) -> int:
        """Data rows seen so far (the header row is not counted)."""
        if self.size == 0:
            return 0
        lines = self.terminators if self.last_byte == _NEWLINE else self.terminators + 1
        return max(lines - 1, 0)


def count_csv_records(data: bytes) -> int:
    """Data rows in a CSV page (header excluded), counting newlines inside quoted values correctly."""
    counter = CsvRecordCounter()
    counter.feed(data)
    return counter.records


#: The next locator could not be read from a page's headers: start no further page after it.
_UNKNOWN = "\0unknown"


def _next_locator(header: str) -> str | None:
    """The next page's locator from a ``Sforce-Locator`` value; None after the last page."""
    value = header.strip()
    return None if value in ("", "null") else value


def _overlapped(
    fetch: Callable[[str | None, Future[str | None]], BulkPage], start: str | None, concurrency: int
) -> Iterator[BulkPage]:
    """`fetch` page after page with up to `concurrency` in flight, each started once the previous
    one's headers named it; yields them in order. Pages fetched but never yielded are closed."""
    inflight: deque[tuple[Future[BulkPage], Future[str | None]]] = deque()
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sfbackup-bulk-page")

    def start_page(locator: str | None) -> None:
        announce: Future[str | None] = Future()
        # in this thread's context, so the calls count into the object's CallMeter
        inflight.append((pool.submit(contextvars.copy_context().run, fetch, locator, announce), announce))

    try:
        start_page(start)
        more = True
        while inflight:
            while more and len(inflight) < concurrency:
                following = inflight[-1][1].result()  # set by the newest page's headers (or failure)
                more = following is not None and following != _UNKNOWN
                if more:
                    start_page(following)
            page, _ = inflight.popleft()
            yield page.result()
    finally:
        for page, _ in inflight:
            page.cancel()
        pool.shutdown(wait=True)
        for page, _ in inflight:
            if page.done() and not page.cancelled() and page.exception() is None:
                page.result().close()


def _spool_page(response: requests.Response, spool_dir: Path | None) -> BulkPage:
    counter = CsvRecordCounter()
    folder = spool_dir or Path(tempfile.gettempdir())
    try:
        body = tempfile.TemporaryFile(dir=folder)  # noqa: SIM115 (the page owns it; BulkPage.close)
    except OSError as exc:
        raise storage_error("create a temporary file in", folder, exc) from exc
    try:
        for chunk in response.iter_content(CHUNK_SIZE):
            try:
                body.write(chunk)
            except OSError as exc:  # not a network fault: must not be retried as one
                raise storage_error("write a results page into", folder, exc) from exc
            counter.feed(chunk)
        if not counter.complete:
            raise TruncatedBody("the results page ends in the middle of a row")
        counted = counter.records
        announced = response.headers.get("Sforce-NumberOfRecords")
        if announced is not None and announced.strip().isdigit() and int(announced) != counted:
            raise TruncatedBody(f"the page holds {counted} rows, Sforce-NumberOfRecords says {announced}")
        if announced is None:
            log.debug("results page without Sforce-NumberOfRecords; %d rows counted", counted)
        next_locator = response.headers.get("Sforce-Locator")
        if next_locator is None:
            # Salesforce always sends it ("null" on the last page); without it the end is unknown.
            raise TruncatedBody("the results page came without a Sforce-Locator header")
        body.seek(0)
    except BaseException:
        body.close()
        raise
    finally:
        response.close()
    return BulkPage(
        body=body,
        size=counter.size,
        records=counted,
        locator=_next_locator(next_locator),
    )


def _json_body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise TruncatedBody("the job info is not complete JSON") from None


def _job_failed(job_id: str, error_message: str) -> BulkJobFailed:
    match = _LEADING_CODE.match(error_message.strip())
    code, text = (match.group(1), match.group(2)) if match else ("BULK_JOB_FAILED", error_message)
    fault = classify(status=None, body=json.dumps([{"errorCode": code, "message": text}]))
    return BulkJobFailed(
        f"Bulk query job {job_id} failed: {fault.message}",
        error_code=fault.code,
        kind=fault.kind.value,
        hint="the object is exported through REST instead when that is possible",
    )


def _checked(job_id: str) -> str:
    if not _JOB_ID.fullmatch(job_id):
        raise SalesforceError(f"{job_id!r} is not a Bulk job id", error_code="BAD_JOB_ID")
    return job_id
