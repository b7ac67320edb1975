"""Fault classification: the one place that decides what a failed Salesforce call means.

`classify()` looks at a response's status and body, or at the exception a call raised, and answers
with a `Fault` whose kind tells the caller what to do: retry (TRANSIENT), log in again (REAUTH),
stop resumably (LIMIT), split the query (QUERY_TIMEOUT), record the object as not exportable
(UNSUPPORTED), or fail (FATAL). Salesforce's ``errorCode`` is the contract and decides first. Known
message wording decides only where the code cannot: a body without a code (or with one not listed
here), and the few codes Salesforce sends for different faults (`_REFINED_BY_MESSAGE`: a daily or a
concurrent request limit, a syntax error or an object's implementation restriction). HTTP status
decides last. Messages carry the code and Salesforce's own message (truncated, redacted); never a
response body, which could hold record data.
"""

from __future__ import annotations

import html
import http.client
import json
import re
import socket
import ssl
from dataclasses import dataclass
from enum import StrEnum

import requests
import urllib3.exceptions

from sfbackup.errors import redact

__all__ = ["Fault", "FaultKind", "TruncatedBody", "classify", "error_details", "refusal_coverage"]

_MESSAGE_LIMIT = 300


class FaultKind(StrEnum):
    """What a failure means for the caller."""

    TRANSIENT = "transient"
    REAUTH = "reauth"
    LIMIT = "limit"
    QUERY_TIMEOUT = "query_timeout"
    UNSUPPORTED = "unsupported"
    FATAL = "fatal"


@dataclass(frozen=True)
class Fault:
    """A classified failure: its kind, Salesforce's error code (or a status/exception tag), a message."""

    kind: FaultKind
    code: str
    message: str


class TruncatedBody(Exception):
    """A response body ended before its announced length or row count; fetching it again can help."""


# Error codes decided by the code alone.
_BY_CODE: dict[str, FaultKind] = {
    "INVALID_SESSION_ID": FaultKind.REAUTH,
    "REQUEST_LIMIT_EXCEEDED": FaultKind.LIMIT,
    "LIMIT_EXCEEDED": FaultKind.LIMIT,
    "QUERY_TIMEOUT": FaultKind.QUERY_TIMEOUT,
    "SERVER_UNAVAILABLE": FaultKind.TRANSIENT,
    "TXN_SECURITY_METERING_ERROR": FaultKind.TRANSIENT,
    "JOB_NOT_COMPLETE": FaultKind.TRANSIENT,
    "UNKNOWN_EXCEPTION": FaultKind.TRANSIENT,
    "INVALIDENTITY": FaultKind.UNSUPPORTED,
    "INVALID_TYPE_FOR_OPERATION": FaultKind.UNSUPPORTED,
    "API_DISABLED_FOR_ORG": FaultKind.UNSUPPORTED,
    "INVALID_FIELD": FaultKind.UNSUPPORTED,
    "INVALID_TYPE": FaultKind.UNSUPPORTED,
    "FUNCTIONALITY_NOT_ENABLED": FaultKind.UNSUPPORTED,
    "BIG_OBJECT_UNSUPPORTED_OPERATION": FaultKind.UNSUPPORTED,
    "DATACLOUD_API_DISABLED_EXCEPTION": FaultKind.UNSUPPORTED,
    "EXTERNAL_OBJECT_EXCEPTION": FaultKind.UNSUPPORTED,
    "EXTERNAL_OBJECT_UNSUPPORTED_EXCEPTION": FaultKind.UNSUPPORTED,
    # Refusals that no retry fixes, even when they come with a 5xx (SOAP faults are always 500).
    "INVALID_LOGIN": FaultKind.FATAL,
    "LOGIN_MUST_USE_SECURITY_TOKEN": FaultKind.FATAL,
    "PASSWORD_LOCKOUT": FaultKind.FATAL,
    "INVALID_OPERATION_WITH_EXPIRED_PASSWORD": FaultKind.FATAL,
    "INSUFFICIENT_ACCESS": FaultKind.FATAL,
    "INVALID_QUERY_LOCATOR": FaultKind.FATAL,
    "MALFORMED_QUERY": FaultKind.FATAL,
    "MALFORMED_ID": FaultKind.FATAL,
    "NOT_FOUND": FaultKind.FATAL,
    # Metadata API faults (SOAP, so always HTTP 500): an expired retrieve id, a bad request.
    "INVALID_CROSS_REFERENCE_KEY": FaultKind.FATAL,
    "UNSUPPORTED_API_VERSION": FaultKind.FATAL,
    "INVALID_QUERY_FILTER_OPERATOR": FaultKind.FATAL,
}

# Codes Salesforce sends for more than one fault: the message tells which (the code's entry otherwise).
_REFINED_BY_MESSAGE = frozenset({"REQUEST_LIMIT_EXCEEDED", "MALFORMED_QUERY", "API_ERROR"})

# Wording for bodies the code does not decide (checked in order, case-insensitive).
_BY_MESSAGE: tuple[tuple[re.Pattern[str], FaultKind], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), kind)
    for pattern, kind in (
        # The concurrent-request limit frees up in seconds; the daily one does not.
        (r"Concurrent\w* .*Limit exceeded|ConcurrentPerOrgLongTxn", FaultKind.TRANSIENT),
        (r"Max bulk v2 query", FaultKind.LIMIT),
        (r"TotalRequests Limit exceeded", FaultKind.LIMIT),
        (r"query request was running for too long", FaultKind.QUERY_TIMEOUT),
        (r"not supported by the Bulk API", FaultKind.UNSUPPORTED),
        (r"does not support query", FaultKind.UNSUPPORTED),
        (r"Implementation restriction", FaultKind.UNSUPPORTED),
        (r"compound data not supported", FaultKind.UNSUPPORTED),
        (r"Binary field not supported", FaultKind.UNSUPPORTED),
        (r"a filter on a reified column is required", FaultKind.UNSUPPORTED),
        (r"must be specified in your query|WHERE clause must contain", FaultKind.UNSUPPORTED),
    )
)

_TRANSIENT_STATUS = frozenset({406, 408, 420, 429, 500, 502, 503, 504})

_TRANSIENT_EXCEPTIONS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
    urllib3.exceptions.IncompleteRead,
    http.client.IncompleteRead,
    ConnectionError,
    socket.timeout,
    TimeoutError,
    TruncatedBody,
)
# Certificate problems are ConnectionErrors to requests, but retrying cannot fix them.
_FATAL_EXCEPTIONS: tuple[type[BaseException], ...] = (requests.exceptions.SSLError, ssl.SSLError)


def error_details(body: bytes | str | None) -> tuple[str | None, str]:
    """(errorCode, message) from a Salesforce error body: REST/Bulk JSON, OAuth JSON or a SOAP fault."""
    if body is None:
        return None, ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text.strip()
    if text.startswith(("[", "{")):
        try:
            data = json.loads(text)
        except ValueError:
            return None, ""
        if isinstance(data, list) and data and isinstance(data[0], dict):
            data = data[0]
        if isinstance(data, dict):
            code = data.get("errorCode") or data.get("error") or data.get("exceptionCode")
            message = data.get("message") or data.get("error_description") or data.get("errorMessage")
            return (str(code) if code else None), str(message or "")
        return None, ""
    if text.startswith("<") and "exceptionCode" in text:
        code_match = re.search(r"<(?:\w+:)?exceptionCode>([^<]*)<", text)
        message_match = re.search(r"<(?:\w+:)?exceptionMessage>([^<]*)<", text)
        return (
            code_match.group(1) if code_match else None,
            message_match.group(1) if message_match else "",
        )
    if text.startswith("<") and "faultcode>" in text:  # a SOAP fault without an ApiFault detail
        code_match = re.search(r"<faultcode>(?:\w+:)?([A-Z_]+)</faultcode>", text)
        message_match = re.search(r"<faultstring>(?:[A-Z_]+: )?([^<]*)</faultstring>", text)
        return (
            code_match.group(1) if code_match else None,
            html.unescape(message_match.group(1)) if message_match else "",
        )
    return None, ""


def _short(message: str) -> str:
    message = " ".join(message.split())
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 1] + "…"
    return redact(message)


def classify(
    *,
    status: int | None = None,
    body: bytes | str | None = None,
    exc: BaseException | None = None,
) -> Fault:
    """Classify one failed call from its HTTP status and body, or the exception it raised."""
    if exc is not None and status is None:
        return _classify_exception(exc)
    code, sf_message = error_details(body)
    kind = _kind_for(status, code, sf_message)
    tag = code or (f"HTTP_{status}" if status is not None else "UNKNOWN")
    if sf_message:
        message = f"{tag}: {_short(sf_message)}"
    elif status is not None:
        message = f"HTTP {status} ({http.client.responses.get(status, 'unknown status')})"
    else:
        message = tag
    return Fault(kind, tag, message)


def _kind_for(status: int | None, code: str | None, message: str) -> FaultKind:
    by_code = _kind_of_code(code)
    if by_code is not None and code not in _REFINED_BY_MESSAGE:
        return by_code
    for pattern, kind in _BY_MESSAGE:
        if message and pattern.search(message):
            return kind
    if by_code is not None:
        return by_code
    if status == 401:
        return FaultKind.REAUTH
    if status in _TRANSIENT_STATUS or (status is not None and status >= 500):
        return FaultKind.TRANSIENT
    return FaultKind.FATAL


def _kind_of_code(code: str | None) -> FaultKind | None:
    if not code:
        return None
    if code.startswith("EXTERNAL_OBJECT_"):
        return _BY_CODE.get(code, FaultKind.UNSUPPORTED)
    return _BY_CODE.get(code)


_QUERY_STRING = re.compile(r"\?[^\s)'\"]*")


def _classify_exception(exc: BaseException) -> Fault:
    name = type(exc).__name__
    text = _QUERY_STRING.sub("?…", str(exc))  # URLs in urllib3 messages carry the SOQL
    if isinstance(exc, _FATAL_EXCEPTIONS):
        return Fault(FaultKind.FATAL, name, f"TLS error: {_short(text)}")
    if isinstance(exc, _TRANSIENT_EXCEPTIONS):
        return Fault(FaultKind.TRANSIENT, name, f"{name}: {_short(text) or 'connection failed'}")
    return Fault(FaultKind.FATAL, name, f"{name}: {_short(text)}")


#: Refusals no query of any documented API gets past: the object holds no rows a query can read.
_NO_API_CODES = frozenset({"INVALID_TYPE_FOR_OPERATION", "EXTERNAL_OBJECT_EXCEPTION"})
_NO_API_WORDS = re.compile(r"does not support query|not supported by the Bulk API and REST", re.IGNORECASE)
#: Refusals Salesforce lifts for another query (a required filter, fewer fields, a LIMIT) or for a
#: user with more permissions (View All Data, an object permission).
_BLOCKED_CODES = frozenset({
    "OPERATION_TOO_LARGE", "INSUFFICIENT_ACCESS", "EXCEEDED_ID_LIMIT", "QUERY_TOO_COMPLICATED",
    "INVALID_OPERATION", "API_DISABLED_FOR_ORG", "FUNCTIONALITY_NOT_ENABLED",
})  # fmt: skip
_BLOCKED_WORDS = re.compile(
    r"must filter|requires? a filter|filter .*is required|should contain|must contain|must be specified"
    r"|Can select only|Implementation restriction|does not support queryMore|not yet supported by this"
    r" SObject storage type",
    re.IGNORECASE,
)


def refusal_coverage(code: str | None, message: str) -> str | None:
    """What an object Salesforce refused to read means for a backup: `not_exportable` (no documented
    API can read it), `blocked` (Salesforce would serve it with another query or permission), or
    None (an error that is neither: the object failed)."""
    if (code in _NO_API_CODES or _NO_API_WORDS.search(message)) and not _BLOCKED_WORDS.search(message):
        return "not_exportable"
    if code in _BLOCKED_CODES or _BLOCKED_WORDS.search(message):
        return "blocked"
    if code and code.startswith("EXTERNAL_OBJECT_"):
        return "not_exportable"
    return None
