"""Salesforce wire conventions: ids, dates, JSON rendering, error bodies, the request/response model.

Shapes follow SALESFORCE-API.md: JSON errors are arrays of ``{"message", "errorCode"}``, JSON is
served as ``application/json;charset=UTF-8`` and pretty-printed Salesforce style (``"key" : value``)
when the client sends ``X-PrettyPrint: 1``.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

JSON_TYPE = "application/json;charset=UTF-8"
CSV_TYPE = "text/csv"
XML_TYPE = "text/xml;charset=UTF-8"
HTML_TYPE = "text/html;charset=iso-8859-1"
OCTET_TYPE = "application/octet-stream"

MIN_API_VERSION = 50
MAX_API_VERSION = 66
#: Salesforce rejects URIs longer than this with 414 (SALESFORCE-API.md §2.4).
MAX_URI_BYTES = 16_384
URI_TOO_LONG_HTML = b"<h1>Bad Message 414</h1><pre>reason: URI Too Long</pre>"

_RELEASES = {50: "Winter '21", 51: "Spring '21", 52: "Summer '21", 53: "Winter '22", 54: "Spring '22",
             55: "Summer '22", 56: "Winter '23", 57: "Spring '23", 58: "Summer '23", 59: "Winter '24",
             60: "Spring '24", 61: "Summer '24", 62: "Winter '25", 63: "Spring '25", 64: "Summer '25",
             65: "Winter '26", 66: "Spring '26"}

_ID_ALPHABET = string.ascii_letters + string.digits
_SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def api_versions() -> list[dict[str, str]]:
    """Body of ``GET /services/data``: every supported version, oldest first."""
    return [
        {"label": _RELEASES[v], "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
        for v in range(MIN_API_VERSION, MAX_API_VERSION + 1)
    ]


def parse_version(text: str) -> str | None:
    """``"v62.0"`` -> ``"62.0"`` when supported, else None."""
    if not text.startswith("v") or not text.endswith(".0"):
        return None
    try:
        major = int(text[1:-2])
    except ValueError:
        return None
    return f"{major}.0" if MIN_API_VERSION <= major <= MAX_API_VERSION else None


def to_18(id15: str) -> str:
    """Append Salesforce's case-safe 3-character checksum to a 15-character id."""
    suffix = ""
    for block in range(3):
        bits = 0
        for i, char in enumerate(id15[block * 5:block * 5 + 5]):
            if char.isupper():
                bits |= 1 << i
        suffix += _SUFFIX_CHARS[bits]
    return id15 + suffix


def new_id(prefix: str) -> str:
    """A random 18-character id with a 3-character key prefix (``750`` jobs, ``01g`` locators)."""
    body = "".join(secrets.choice(_ID_ALPHABET) for _ in range(12 - 3))
    return to_18(prefix + "0" * 3 + body)


def random_token(length: int) -> str:
    """Letters, digits and dots: the character set of a Salesforce session id after the ``!``."""
    alphabet = _ID_ALPHABET + "._"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def sf_datetime(value: datetime) -> str:
    """``2024-11-07T07:00:00.000+0000``, as REST and Bulk job info render datetimes."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def dumps(body: Any, *, pretty: bool) -> bytes:
    """Compact JSON, or Salesforce's pretty form (2-space indent, ``"key" : value``)."""
    if pretty:
        return json.dumps(body, indent=2, separators=(",", " : "), ensure_ascii=False).encode()
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def error_body(error_code: str, message: str) -> list[dict[str, str]]:
    """Salesforce's REST error body: a one-element array."""
    return [{"message": message, "errorCode": error_code}]


@dataclass
class Request:
    """One parsed HTTP request, as the route functions see it."""

    method: str
    target: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    path: str = ""
    query: dict[str, list[str]] = field(default_factory=dict)
    kind: str = ""  # the route that answered it (its handler's name), for the request log
    subject: str = ""  # the object it concerns, when one does
    work: float = 0.0  # seconds of Salesforce-side work it started (a Bulk job, a retrieve)
    parts: tuple[tuple[str, str], ...] = ()  # a composite call's subrequests: (kind, subject) each

    def __post_init__(self) -> None:
        parts = urlsplit(self.target)
        self.path = parts.path
        self.query = parse_qs(parts.query, keep_blank_values=True)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    @property
    def pretty(self) -> bool:
        return (self.header("X-PrettyPrint") or "").strip() in ("1", "true")


@dataclass
class FileSlice:
    """A byte range of a file, sent with sendfile (Bulk result pages)."""

    path: str
    offset: int
    length: int


@dataclass
class Response:
    """What a route returns; the server adds common headers, compression and faults.

    The body is bytes, a list of file slices and byte strings (sent in order), or a stream of chunks
    whose total length is ``content_length``.
    """

    status: int
    body: bytes | list[FileSlice | bytes] | Iterator[bytes] = b""
    content_type: str | None = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    content_length: int | None = None
    compressible: bool = False
    truncatable: bool = False

    def length(self) -> int:
        if isinstance(self.body, bytes):
            return len(self.body)
        if isinstance(self.body, list):
            return sum(len(piece) if isinstance(piece, bytes) else piece.length for piece in self.body)
        assert self.content_length is not None, "a streamed body needs content_length"
        return self.content_length


def json_response(request: Request, status: int, body: Any, **headers: str) -> Response:
    """A JSON response rendered the way this client asked (pretty or compact)."""
    return Response(status, dumps(body, pretty=request.pretty), headers=dict(headers), compressible=True)


def error_response(request: Request, status: int, error_code: str, message: str) -> Response:
    return json_response(request, status, error_body(error_code, message))


def no_content() -> Response:
    return Response(204, b"", content_type=None)
