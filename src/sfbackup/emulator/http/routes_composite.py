"""``POST /services/data/vXX.X/composite``: up to 25 REST subrequests in one call (docs/emulator.md).

What Salesforce documents (REST API Developer Guide, "Composite"): the whole series counts as ONE call
toward the API limits; at most 25 subrequests, of which at most 5 are query operations (query,
queryAll, a next-records page); sObject Blob Get and Rich Text Image Get are not supported; each
subrequest answers its own ``httpStatusCode`` and ``body`` (an error list on failure) in
``compositeResponse``, in order; with ``allOrNone`` false one failure leaves the others alone, with
true every other subrequest answers 400 ``PROCESSING_HALTED``. Each subrequest goes through the
server's routing, authentication and fault injection as a request of its own, but not through the
daily counter. References between subrequests (``@{ref.field}``) are not modelled.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from sfbackup.emulator.http import wire
from sfbackup.emulator.http.wire import Request, Response

if TYPE_CHECKING:
    from sfbackup.emulator.http.server import EmulatorServer

MAX_SUBREQUESTS = 25
MAX_QUERY_SUBREQUESTS = 5
#: The text Salesforce answers over 25 subrequests (recorded in guardian/support-service-lambdas#766).
TOO_MANY_SUBREQUESTS = "The request can’t contain more than 25 operations."
#: Over 5 queries: the same shape; the exact text is not in a public recording (docs/emulator.md).
TOO_MANY_QUERIES = "The request can’t contain more than 5 query operations."
ROLLED_BACK = "The transaction was rolled back since another operation in the same transaction failed."
_QUERY_KINDS = {"query", "query_more"}
_UNSUPPORTED_KINDS = {"blob", "rich_text_image"}
_SUPPORTED_KINDS = {"describe_global", "describe", "sobject_info", "create", "get_record", "update", "delete",
                    "query", "query_more"}  # fmt: skip
_REFERENCE_ID = re.compile(r"[A-Za-z0-9_]+")


def composite(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    try:
        payload = request.json()
    except ValueError:
        return wire.error_response(request, 400, "JSON_PARSER_ERROR", "The request body is not valid JSON")
    subrequests = payload.get("compositeRequest") if isinstance(payload, dict) else None
    if not isinstance(subrequests, list) or not subrequests:
        return wire.error_response(request, 400, "INVALID_API_INPUT",
                                   "compositeRequest: a list of subrequests is required")
    if len(subrequests) > MAX_SUBREQUESTS:
        return _refused(request, TOO_MANY_SUBREQUESTS)
    all_or_none = bool(payload.get("allOrNone", False))
    parsed: list[tuple[str, Request | Response]] = []
    queries = 0
    for index, sub in enumerate(subrequests):
        reference, made = _subrequest(request, sub, index)
        if isinstance(made, Request):
            kind = server.route_kind(made)
            queries += kind in _QUERY_KINDS
            if kind in _UNSUPPORTED_KINDS or (kind is not None and kind not in _SUPPORTED_KINDS):
                made = wire.error_response(made, 404, "NOT_FOUND", "The requested resource does not exist")
        parsed.append((reference, made))
    if queries > MAX_QUERY_SUBREQUESTS:
        return _refused(request, TOO_MANY_QUERIES)

    results: list[dict[str, Any]] = []
    parts: list[tuple[str, str]] = []
    failed = False
    for reference, made in parsed:
        if failed and all_or_none:
            results.append(_result(reference, 400, wire.error_body("PROCESSING_HALTED", ROLLED_BACK)))
            continue
        if isinstance(made, Request):
            answer = server.dispatch_subrequest(made)
            parts.append((made.kind or "unknown", made.subject))
            request.work += made.work
        else:
            answer = made
        body = _decoded(answer)
        failed = failed or answer.status >= 400
        results.append(_result(reference, answer.status, body, dict(answer.headers)))
    if failed and all_or_none:
        results = [r if r["httpStatusCode"] >= 400 else
                   _result(r["referenceId"], 400, wire.error_body("PROCESSING_HALTED", ROLLED_BACK))
                   for r in results]  # fmt: skip
    request.parts = tuple(parts)
    return wire.json_response(request, 200, {"compositeResponse": results})


def _subrequest(parent: Request, sub: Any, index: int) -> tuple[str, Request | Response]:
    """A subrequest as a Request of its own (the parent's session and headers), or its error."""
    if not isinstance(sub, dict):
        return "", wire.error_response(parent, 400, "INVALID_API_INPUT",
                                       f"subrequest {index} is not an object")
    reference = sub.get("referenceId")
    method, url = sub.get("method"), sub.get("url")
    if not isinstance(reference, str) or not _REFERENCE_ID.fullmatch(reference):
        return str(reference or ""), wire.error_response(
            parent, 400, "INVALID_API_INPUT", "referenceId: letters, digits and underscores are required")
    if not isinstance(method, str) or not isinstance(url, str) or not url.startswith("/services/data/"):
        return reference, wire.error_response(
            parent, 400, "INVALID_API_INPUT", "method and url (/services/data/vXX.X/...) are required")
    headers = dict(parent.headers)
    extra = sub.get("httpHeaders")
    if isinstance(extra, dict):
        headers.update({str(k).lower(): str(v) for k, v in extra.items()})
    headers.pop("content-length", None)
    headers.pop("accept-encoding", None)  # a subrequest's body is JSON inside the parent's
    body = sub.get("body")
    raw = json.dumps(body).encode() if body is not None else b""
    return reference, Request(method.upper(), url, headers, raw)


def _decoded(response: Response) -> Any:
    if response.status == 204 or not isinstance(response.body, bytes) or not response.body:
        return None
    try:
        return json.loads(response.body)
    except ValueError:
        return response.body.decode("utf-8", "replace")


def _result(
    reference: str | None, status: int, body: Any, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return {"body": body, "httpHeaders": headers or {}, "httpStatusCode": status, "referenceId": reference}


def _refused(request: Request, message: str) -> Response:
    """Over a limit: one result, no subrequest run (the shape Salesforce answers)."""
    return wire.json_response(request, 200, {"compositeResponse": [
        _result(None, 400, wire.error_body("LIMIT_EXCEEDED", message))]})
