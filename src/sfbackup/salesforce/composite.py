"""The Composite resource: up to 25 REST subrequests in ONE API call (describes, COUNT() queries).

Salesforce documents (REST API Developer Guide, "Send Multiple Requests Using Composite"): the whole
series counts as a single call toward the API limits; at most 25 subrequests, at most 5 of them query
operations; each subrequest answers its own status and body (Salesforce's error list on failure);
with ``allOrNone`` false one failure leaves the others alone. (``composite/batch`` counts each
subrequest as a call: it saves no calls and is not used.)

Each subrequest's failure becomes the exception the same call made alone raises
(`SalesforceClient.subrequest_error`), so callers handle both paths the same way; a transient one
(503, a dropped session) is left for the caller to make alone, through the client's retries.
"""

from __future__ import annotations

import contextvars
import json
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from sfbackup.errors import SalesforceError, SfbackupError
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.salesforce.faults import TruncatedBody
from sfbackup.salesforce.soql import build_count, validate_identifier

__all__ = ["MAX_QUERIES", "MAX_SUBREQUESTS", "SubRequest", "SubResult", "call", "call_all", "count_request",
           "describe_request"]  # fmt: skip

MAX_SUBREQUESTS = 25
MAX_QUERIES = 5


@dataclass(frozen=True)
class SubRequest:
    """One GET of a composite call: a suffix of the client's data path (with its query string)."""

    key: str  # the caller's name for it (an object name)
    suffix: str
    query: bool = False  # a query operation (at most MAX_QUERIES per call)


@dataclass(frozen=True)
class SubResult:
    """What one subrequest answered: its body, or the exception the call alone would raise; neither
    when the call alone would be retried (``alone``: make it as a single call)."""

    body: Any = None
    error: SfbackupError | None = None

    @property
    def alone(self) -> bool:
        return self.error is None and self.body is None


def describe_request(name: str) -> SubRequest:
    """The sObject describe of `name` (the path `describe.describe_raw` calls)."""
    validate_identifier(name, what="object")
    return SubRequest(name, f"sobjects/{name}/describe/")


def count_request(name: str, *, where: str | None, include_deleted: bool) -> SubRequest:
    """``SELECT COUNT() FROM name [WHERE where]`` on query/ or queryAll/ (as `query_rest.count`)."""
    soql = build_count(name, where=where)
    resource = "queryAll" if include_deleted else "query"
    return SubRequest(name, f"{resource}/?q={quote(soql, safe='')}", query=True)


def call_all(
    client: SalesforceClient,
    requests: Sequence[SubRequest],
    *,
    follow_up: Callable[[SubRequest, SubResult], SubRequest | None],
    concurrency: int,
    on_done: Callable[[str, dict[SubRequest, SubResult]], None] | None = None,
) -> tuple[dict[SubRequest, SubResult], SalesforceError | None]:
    """Every request of `requests`, and each one's follow-up (a COUNT() that needs the describe),
    in as few composite calls as the limits allow, `concurrency` at a time: each call carries up to
    5 queries ready, filled up to 25 with the other requests waiting. The calls count in the
    caller's meter (`client.metered`). `on_done(key, answers)` is called (in the caller's thread)
    as soon as every request of that key, follow-ups included, is answered: the caller's work on
    one key need not wait for the others.

    Returns what was answered, and the refusal of a whole call (an API version or an org without
    the resource): then nothing more is sent and the rest is the caller's to make alone (their
    keys are never done).
    """
    found: dict[SubRequest, SubResult] = {}
    pending: dict[str, dict[SubRequest, SubResult | None]] = {}
    for request in requests:
        pending.setdefault(request.key, {})[request] = None
    queries = deque(r for r in requests if r.query)
    others = deque(r for r in requests if not r.query)
    refused: SalesforceError | None = None
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="composite") as pool:
        running: set[Future[dict[SubRequest, SubResult]]] = set()
        while running or (refused is None and (queries or others)):
            while refused is None and len(running) < max(1, concurrency) and (queries or others):
                batch = [queries.popleft() for _ in range(min(MAX_QUERIES, len(queries)))]
                batch += [others.popleft() for _ in range(min(MAX_SUBREQUESTS - len(batch), len(others)))]
                running.add(pool.submit(contextvars.copy_context().run, call, client, batch))
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    answered = future.result()
                except SalesforceError as exc:
                    refused = refused or exc
                    continue
                found.update(answered)
                for request, result in answered.items():
                    mine = pending.setdefault(request.key, {})
                    mine[request] = result
                    after = follow_up(request, result)
                    if after is not None:
                        mine.setdefault(after, None)
                        (queries if after.query else others).append(after)
                    elif on_done is not None and all(r is not None for r in mine.values()):
                        on_done(request.key, {r: a for r, a in mine.items() if a is not None})
    return found, refused


def call(client: SalesforceClient, requests: Sequence[SubRequest]) -> dict[SubRequest, SubResult]:
    """Send `requests` (within the limits) as one composite call; each one's result.

    The call as a whole goes through the client's retries; a refusal of it (an API version or an
    org without the resource, a limit) raises as any call does: the caller then makes the calls
    one by one.
    """
    if len(requests) > MAX_SUBREQUESTS or sum(r.query for r in requests) > MAX_QUERIES:
        raise ValueError(f"a composite call carries at most {MAX_SUBREQUESTS} subrequests, "
                         f"{MAX_QUERIES} of them queries")
    by_reference = {f"r{i}": r for i, r in enumerate(requests)}
    payload = {
        "allOrNone": False,
        "compositeRequest": [{"method": "GET", "url": client.data_path(r.suffix), "referenceId": ref}
                             for ref, r in by_reference.items()],
    }  # fmt: skip
    body = _post(client, payload)
    answered = body.get("compositeResponse") if isinstance(body, dict) else None
    if not isinstance(answered, list):
        raise SalesforceError("the composite call answered without a 'compositeResponse' list",
                              error_code="BAD_RESPONSE")  # fmt: skip
    results: dict[SubRequest, SubResult] = {}
    for item in answered:
        if not isinstance(item, dict):
            continue
        request = by_reference.get(str(item.get("referenceId")))
        status = item.get("httpStatusCode")
        if request is None:
            # The whole call refused (over its limits Salesforce answers one LIMIT_EXCEEDED result with
            # referenceId null): a refusal of this call, not the org's daily limit used up.
            raise _refusal(item.get("body"), status)
        if not isinstance(status, int):
            continue  # answered without a status: made alone below
        if status < 300:
            results[request] = SubResult(body=item.get("body"))
        else:
            path = client.data_path(request.suffix.split("?", 1)[0])
            results[request] = SubResult(error=client.subrequest_error("GET", path, status, item.get("body")))
    for request in requests:
        results.setdefault(request, SubResult())
    return results


def _refusal(body: Any, status: Any) -> SalesforceError:
    first = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}
    code = str(first.get("errorCode") or "COMPOSITE_REFUSED")
    message = str(first.get("message") or "the composite call was refused")
    return SalesforceError(f"POST composite/: {code}: {message}", error_code=code,
                           status=status if isinstance(status, int) else None)  # fmt: skip


def _post(client: SalesforceClient, payload: dict[str, Any]) -> Any:
    def decode(response: requests.Response) -> Any:
        try:
            return json.loads(response.content)
        except ValueError:
            raise TruncatedBody("the response body is not complete JSON") from None

    return client.fetch("POST", "composite/", json=payload, headers={"Accept": "application/json"},
                        consume=decode)  # fmt: skip
