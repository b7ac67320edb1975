"""The emulator's HTTP server: routing, sessions, API usage, compression and fault injection.

`start_emulator()` binds a `ThreadingHTTPServer` on 127.0.0.1 (port 0 = a free port) in front of an
`EmulatedOrg` and serves in a background thread. Routes live in `routes_auth`, `routes_rest` and
`routes_bulk`; each is ``(server, request, match) -> Response``. Everything Salesforce-wide happens
here, once: version check, authentication, the daily request limit and ``Sforce-Limit-Info``,
gzip, and the faults of `faults.py`.
"""

from __future__ import annotations

import logging
import queue
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from sfbackup.emulator.http import (
    routes_auth,
    routes_bulk,
    routes_bulk1,
    routes_composite,
    routes_metadata,
    routes_oauth,
    routes_rest,
    wire,
)
from sfbackup.emulator.http.faults import FaultConfig, Faults
from sfbackup.emulator.http.wire import Request, Response
from sfbackup.emulator.org.access import ADMIN, USER_KINDS, Access
from sfbackup.emulator.org.store import Cursor, EmulatedOrg, OrgConfig, OrgCredentials, OrgError

_log = logging.getLogger(__name__)

_PACE_SLICE = 16 * 1024  # bytes written between two bandwidth checks

RouteFn = Callable[["EmulatorServer", Request, "re.Match[str]"], Response]


@dataclass
class ServerConfig:
    """How the server behaves around the org (timings, paging defaults)."""

    job_latency: float = 1.0  # seconds from Bulk job creation to JobComplete, for every client
    session_ttl: float = 2 * 3600.0  # seconds a session lives after it was issued
    bulk_default_page_records: int = 100_000  # rows per Bulk result page without maxRecords
    bulk_gzip_block_records: int = 2000  # rows per pre-compressed gzip member of a Bulk result
    job_workers: int = 4  # Bulk jobs rendered in parallel (CPU of the emulator, not Salesforce's time)
    bulk_rows_per_second: float = 0.0  # a Bulk job's time grows by rows / this (0: independent of rows)
    bulk_job_slots: int = 0  # Bulk jobs Salesforce processes at once; the others wait queued (0: no limit)
    latency_ms: float = 0.0  # network round trip added to every request (half before, half after)
    bandwidth_mbps: float = 0.0  # per-connection throughput of response bodies, megabits/s (0: no limit)
    user: str = ADMIN  # whom the printed credentials and default sessions are for (org.access)
    rotate_refresh_tokens: bool = False  # every refresh_token grant answers with a new one
    device_interval: int = 5  # seconds the device flow asks clients to wait between polls
    soap_login_disabled: bool = False  # an org created since Winter '26: SOAP login() is off
    retrieve_latency: float = 0.2  # seconds from a Metadata API retrieve() to done
    metadata_max_files: int = 10_000  # files per retrieve (the Metadata API's documented limit)
    metadata_max_zip_bytes: int = 39 * 2**20  # compressed bytes per retrieve (~39 MB, documented)


@dataclass(frozen=True)
class LoggedRequest:
    """One answered request: what it was, about which object, and what it cost on the wire."""

    kind: str  # the route's handler name: describe, query, query_more, create_job, get_job, blob...
    subject: str  # the object it concerns ('' for org-wide calls: limits, describeGlobal, login...)
    status: int
    body_bytes: int  # the response body as sent (compressed when it was)
    started: float  # time.monotonic() when the request was read
    service: float  # seconds the emulator spent answering, latency and bandwidth excluded
    work: float = 0.0  # seconds of Salesforce-side work it started (a Bulk job's time, a retrieve's)
    #: A composite call's subrequests, (kind, subject) each: one call, one round trip, their service.
    parts: tuple[tuple[str, str], ...] = ()


class RequestLog:
    """Every answered request, in order (`EmulatorServer.requests`): the calls a client made by
    kind, and what a benchmark needs to compute the run's critical path."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def add(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_FROM = re.compile(r"\bfrom\s+(\w+)", re.I)


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: RouteFn
    auth: bool = True  # needs a session
    counted: bool = True  # counts against the daily API limit and carries Sforce-Limit-Info


def _routes() -> list[Route]:
    data = r"/services/data/(?P<version>v[0-9.]+)"
    job1 = r"/services/async/(?P<bulk1_version>[0-9.]+)/job/(?P<job>750\w+)"
    table: list[tuple[str, str, RouteFn, bool, bool]] = [
        ("POST", r"/services/oauth2/token", routes_oauth.token, False, False),
        ("GET", r"/services/oauth2/authorize", routes_oauth.authorize, False, False),
        ("POST", r"/services/oauth2/authorize", routes_oauth.authorize, False, False),
        ("POST", r"/services/oauth2/revoke", routes_oauth.revoke, False, False),
        ("GET", r"/services/oauth2/revoke", routes_oauth.revoke, False, False),
        ("GET", r"/setup/connect", routes_oauth.device_page, False, False),
        ("POST", r"/setup/connect", routes_oauth.device_page, False, False),
        ("POST", r"/services/Soap/u/(?P<version>[0-9.]+)(?:/[^/]*)?", routes_oauth.soap_login, False, False),
        ("POST", r"/services/Soap/m/(?P<mdversion>[0-9.]+)(?:/.*)?", routes_metadata.soap, False, True),
        ("GET", r"/services/oauth2/userinfo", routes_auth.userinfo, True, False),
        ("GET", r"/id/(?P<org>\w+)/(?P<user>\w+)", routes_auth.userinfo, True, False),
        ("GET", r"/services/data/?", routes_rest.versions, False, False),
        ("GET", data + r"/?", routes_rest.resources, True, True),
        ("GET", data + r"/sobjects/?", routes_rest.describe_global, True, True),
        ("GET", data + r"/sobjects/(?P<object>\w+)/describe/?", routes_rest.describe, True, True),
        ("GET", data + r"/sobjects/(?P<object>\w+)/?", routes_rest.sobject_info, True, True),
        ("POST", data + r"/sobjects/(?P<object>\w+)/?", routes_rest.create, True, True),
        ("GET", data + r"/sobjects/(?P<object>\w+)/(?P<id>\w{15,18})/?", routes_rest.get_record, True, True),
        ("PATCH", data + r"/sobjects/(?P<object>\w+)/(?P<id>\w{15,18})/?", routes_rest.update, True, True),
        ("DELETE", data + r"/sobjects/(?P<object>\w+)/(?P<id>\w{15,18})/?", routes_rest.delete, True, True),
        ("GET", data + r"/sobjects/(?P<object>\w+)/(?P<id>\w{15,18})/(?P<field>\w+)/?", routes_rest.blob,
         True, True),
        ("GET", data + r"/sobjects/(?P<object>\w+)/(?P<id>\w{15,18})/richTextImageFields/(?P<field>\w+)/"
         r"(?P<refid>\w{15,18})/?", routes_rest.rich_text_image, True, True),
        ("GET", data + r"/(?P<kind>query|queryAll)/?", routes_rest.query, True, True),
        ("GET", data + r"/(?:query|queryAll)/(?P<locator>01g\w+)-(?P<offset>\d+)/?", routes_rest.query_more,
         True, True),
        ("GET", data + r"/tooling/(?:query|queryAll)/?", routes_rest.tooling_query, True, True),
        ("POST", data + r"/composite/?", routes_composite.composite, True, True),
        ("GET", data + r"/limits/?", routes_rest.limits, True, True),
        ("GET", data + r"/limits/recordCount/?", routes_rest.record_count, True, True),
        ("POST", data + r"/jobs/query/?", routes_bulk.create_job, True, True),
        ("GET", data + r"/jobs/query/?", routes_bulk.list_jobs, True, True),
        ("GET", data + r"/jobs/query/(?P<job>750\w+)/?", routes_bulk.get_job, True, True),
        ("PATCH", data + r"/jobs/query/(?P<job>750\w+)/?", routes_bulk.abort_job, True, True),
        ("DELETE", data + r"/jobs/query/(?P<job>750\w+)/?", routes_bulk.delete_job, True, True),
        ("GET", data + r"/jobs/query/(?P<job>750\w+)/results/?", routes_bulk.results, True, True),
        ("POST", r"/services/async/(?P<bulk1_version>[0-9.]+)/job/?", routes_bulk1.create_job, True, True),
        ("GET", job1 + r"/?", routes_bulk1.get_job, True, True),
        ("POST", job1 + r"/?", routes_bulk1.update_job, True, True),
        ("POST", job1 + r"/batch/?", routes_bulk1.add_batch, True, True),
        ("GET", job1 + r"/batch/?", routes_bulk1.list_batches, True, True),
        ("GET", job1 + r"/batch/(?P<batch>751\w+)/?", routes_bulk1.get_batch, True, True),
        ("GET", job1 + r"/batch/(?P<batch>751\w+)/result/?", routes_bulk1.result_list, True, True),
        ("GET", job1 + r"/batch/(?P<batch>751\w+)/result/(?P<result>752\w+)/?", routes_bulk1.result,
         True, True),
    ]
    return [Route(m, re.compile(p), h, a, c) for m, p, h, a, c in table]


@dataclass
class ApiUsage:
    """The org's daily request counter (what /limits and Sforce-Limit-Info report)."""

    limit: int
    used: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, limit: int) -> bool:
        """Count one request; False when the daily limit is already used up."""
        with self.lock:
            self.limit = limit
            if self.used >= limit:
                return False
            self.used += 1
            return True

    def header(self) -> str:
        return f"api-usage={self.used}/{self.limit}"


class EmulatorServer:
    """A running emulator: ``instance_url``, the ``org``, live ``faults`` and ``stop()``."""

    def __init__(self, org: EmulatedOrg, *, port: int = 0, config: ServerConfig | None = None,
                 faults: FaultConfig | None = None) -> None:
        self.org = org
        self.owns_org = False  # True when start_emulator built the org: stop() then closes it
        self.config = config or ServerConfig()
        if self.config.user not in USER_KINDS:
            raise ValueError(f"unknown emulator user {self.config.user!r}: "
                             f"use one of {', '.join(USER_KINDS)}")
        self.faults = Faults(faults)
        self.api_usage = ApiUsage(self._org_daily_limit())
        self.sessions = routes_auth.Sessions(self)
        self.oauth = routes_oauth.OAuthState()
        self.cursors = routes_rest.QueryCursors()
        self.jobs = routes_bulk.BulkJobs(self)
        self.bulk1 = routes_bulk1.Bulk1Jobs()
        self.metadata_jobs = routes_metadata.RetrieveJobs()
        self.routes = _routes()
        self.requests = RequestLog()
        self._httpd = _HTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.emulator = self
        self.port: int = self._httpd.server_address[1]
        self.instance_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.1,), name="sf-emulator",
                                        daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> EmulatorServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, finish Bulk workers and remove result files."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self.jobs.close()
        self._thread.join(timeout=5)
        if self.owns_org:
            self.org.close()

    def __enter__(self) -> EmulatorServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for routes ------------------------------------------------------------------
    @property
    def credentials(self) -> OrgCredentials:
        """The logins of the user the server was started for (`ServerConfig.user`)."""
        return self.org.users[self.config.user]

    def access(self, request: Request) -> Access:
        """What the user whose session `request` carries may read."""
        return self.org.access(self.sessions.user_of(request))

    def daily_limit(self) -> int:
        override = self.faults.config.daily_api_limit
        return override if override is not None else self._org_daily_limit()

    def _org_daily_limit(self) -> int:
        return self.org.config.daily_api_limit

    def query(self, soql: str, *, include_deleted: bool, api: Literal["rest", "bulk"],
              api_version: str, request: Request) -> Cursor:
        """Run SOQL as the user of `request`'s session."""
        return self.org.query(soql, include_deleted=include_deleted, api=api, api_version=api_version,
                              access=self.access(request))

    # -- request pipeline --------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response | None:
        """Answer one request; None means: drop the connection."""
        faults = self.faults
        if faults.fires("drop", request.method, request.path):
            return None
        if faults.fires("slow", request.method, request.path):
            time.sleep(faults.config.slow_seconds)
        if faults.fires("http_503", request.method, request.path):
            return wire.error_response(request, 503, "SERVER_UNAVAILABLE", "Server too busy")
        if faults.fires("http_500", request.method, request.path):
            return wire.error_response(request, 500, "UNKNOWN_EXCEPTION",
                                       "An unexpected error occurred. Please include this ErrorId if you "
                                       "contact support: 1234567890-12345 (-1234567890)")
        route, match = self._match(request)
        if route is None or match is None:
            allowed = sorted({r.method for r in self.routes if r.pattern.fullmatch(request.path)})
            if allowed:
                return wire.error_response(request, 405, "METHOD_NOT_ALLOWED",
                                           f"HTTP Method '{request.method}' not allowed. Allowed are "
                                           f"{','.join(allowed)}")
            return wire.error_response(request, 404, "NOT_FOUND", "The requested resource does not exist")
        request.kind, request.subject = route.handler.__name__, self._subject(request, match)
        if route.handler is routes_metadata.soap:
            request.subject = "(metadata)"  # the handler names the call (metadata_retrieve...)
        version = match.groupdict().get("version")
        if version is not None and route.counted and wire.parse_version(version) is None:
            return wire.error_response(request, 404, "NOT_FOUND", "The requested resource does not exist")
        if route.auth:
            denied = self.sessions.authenticate(request)
            if denied is not None:
                is_bulk1 = request.path.startswith("/services/async/")
                return routes_bulk1.session_error(request) if is_bulk1 else denied
        if route.counted and not self.api_usage.take(self.daily_limit()):
            response = wire.error_response(request, 403, "REQUEST_LIMIT_EXCEEDED",
                                           "TotalRequests Limit exceeded.")
        else:
            response = self._answer(route, request, match)
        if route.counted:
            response.headers.setdefault("Sforce-Limit-Info", self.api_usage.header())
        return response

    def route_kind(self, request: Request) -> str | None:
        """The handler name of the route that would answer `request` (None: no route)."""
        route, _ = self._match(request)
        return route.handler.__name__ if route is not None else None

    def dispatch_subrequest(self, request: Request) -> Response:
        """Answer one subrequest of a composite call: its own faults, routing and errors, in the
        parent's session, but no daily-limit count of its own (the composite call is the one call)."""
        faults = self.faults
        if faults.fires("slow", request.method, request.path):
            time.sleep(faults.config.slow_seconds)
        if faults.fires("http_503", request.method, request.path):
            return wire.error_response(request, 503, "SERVER_UNAVAILABLE", "Server too busy")
        if faults.fires("http_500", request.method, request.path):
            return wire.error_response(request, 500, "UNKNOWN_EXCEPTION",
                                       "An unexpected error occurred. Please include this ErrorId if you "
                                       "contact support: 1234567890-12345 (-1234567890)")
        route, match = self._match(request)
        if route is None or match is None:
            return wire.error_response(request, 404, "NOT_FOUND", "The requested resource does not exist")
        request.kind, request.subject = route.handler.__name__, self._subject(request, match)
        version = match.groupdict().get("version")
        if version is not None and wire.parse_version(version) is None:
            return wire.error_response(request, 404, "NOT_FOUND", "The requested resource does not exist")
        return self._answer(route, request, match)

    def _answer(self, route: Route, request: Request, match: re.Match[str]) -> Response:
        try:
            return route.handler(self, request, match)
        except OrgError as exc:
            return wire.error_response(request, exc.status, exc.error_code, exc.message)
        except Exception as exc:  # an emulator bug: answer as Salesforce does, keep the traceback
            _log.exception("emulator error on %s %s", request.method, request.path)
            return wire.error_response(request, 500, "UNKNOWN_EXCEPTION",
                                       f"An unexpected error occurred: {type(exc).__name__}")

    def _subject(self, request: Request, match: re.Match[str]) -> str:
        """The object a request concerns, for the request log."""
        groups = match.groupdict()
        if groups.get("object"):
            return str(groups["object"])
        if groups.get("job"):
            job = self.jobs.get(groups["job"]) or self.bulk1.get(groups["job"])
            return str(job.object) if job is not None else ""
        if groups.get("locator"):
            return self.cursors.object_of(groups["locator"])
        soql = request.param("q")
        if soql is None and request.method == "POST" and groups.get("version"):
            try:
                body = request.json()
            except ValueError:
                body = None
            soql = body.get("query") if isinstance(body, dict) else None
        found = _FROM.search(soql) if isinstance(soql, str) else None
        return found.group(1) if found else ""

    def _match(self, request: Request) -> tuple[Route | None, re.Match[str] | None]:
        for route in self.routes:
            if route.method == request.method:
                match = route.pattern.fullmatch(request.path)
                if match is not None:
                    return route, match
        return None, None


class _HTTPServer(ThreadingHTTPServer):
    """One thread per open connection, as ThreadingHTTPServer, but finished threads are reused:
    the org store keeps one SQLite connection per thread, so reuse bounds its connections by the
    peak number of open connections instead of the total ever made. A new thread is started
    whenever none is idle, so idle keep-alive connections can never starve new ones."""

    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 128
    max_workers = 10_000  # a safety net against runaway clients, far above any real use
    emulator: EmulatorServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._connections: queue.SimpleQueue[tuple[Any, Any] | None] = queue.SimpleQueue()
        self._workers_lock = threading.Lock()
        self._workers = 0
        self._idle = 0

    def get_request(self) -> tuple[Any, Any]:
        connection, address = super().get_request()
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm holds
        # the body until the client's delayed ACK, about 40 ms on every response.
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._workers_lock:
            spawn = self._idle == 0 and self._workers < self.max_workers
            if spawn:
                self._workers += 1
            else:
                self._idle -= 1  # an idle worker will take it
        self._connections.put((request, client_address))
        if spawn:
            threading.Thread(target=self._work, name="sf-emulator-http", daemon=True).start()

    def _work(self) -> None:
        while True:
            item = self._connections.get()
            if item is None:
                return
            self.process_request_thread(*item)
            with self._workers_lock:
                self._idle += 1

    def server_close(self) -> None:
        super().server_close()
        with self._workers_lock:
            workers = self._workers
        for _ in range(workers):
            self._connections.put(None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 300  # an idle keep-alive connection is closed after this, freeing its thread
    server: _HTTPServer
    _pacer: _Pacer

    def version_string(self) -> str:
        return "SFDC"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and the demo own stdout
        return

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        if code == 414:  # request line beyond the stdlib's own limit
            self._write_simple(414, wire.HTML_TYPE, wire.URI_TOO_LONG_HTML)
            self.close_connection = True
            return
        super().send_error(code, message, explain)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def _handle(self) -> None:
        body = self._read_body()
        if len(self.path.encode()) > wire.MAX_URI_BYTES:
            self._write_simple(414, wire.HTML_TYPE, wire.URI_TOO_LONG_HTML)
            return
        request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        emulator = self.server.emulator
        half_trip = emulator.config.latency_ms / 2000
        if half_trip > 0:
            time.sleep(half_trip)  # the request on its way to Salesforce
        started = time.monotonic()
        response = emulator.dispatch(request)
        if response is None:
            self._drop()
            return
        service = time.monotonic() - started
        if half_trip > 0:
            time.sleep(half_trip)  # the response's first byte on its way back
        truncate = response.truncatable and emulator.faults.fires("truncate", request.method, request.path)
        try:
            self._send(request, response, truncate=truncate)
        except OSError:  # the client went away, or a deleted job's file vanished mid-page
            self.close_connection = True
        finally:
            emulator.requests.add(LoggedRequest(request.kind, request.subject, response.status,
                                                response.length(), started, service, request.work,
                                                request.parts))
            close = getattr(response.body, "close", None)
            if callable(close):  # a blob stream cut short releases its store connection now
                close()

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _write_simple(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, request: Request, response: Response, *, truncate: bool) -> None:
        body = response.body
        headers = dict(response.headers)
        if (response.compressible and isinstance(body, bytes) and body
                and "gzip" in (request.header("Accept-Encoding") or "")):
            compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
            body = compressor.compress(body) + compressor.flush()
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
        response.body = body
        total = response.length()
        self.send_response(response.status)
        if response.content_type is not None:
            self.send_header("Content-Type", response.content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        if response.status != 204:
            self.send_header("Content-Length", str(total))
        self.end_headers()
        budget = total // 2 if truncate else total
        self._pacer = _Pacer(self, self.server.emulator.config.bandwidth_mbps)
        self._write_body(body, budget)
        if truncate:
            self.wfile.flush()
            self._drop()

    def _write_body(self, body: bytes | list[wire.FileSlice | bytes] | Iterator[bytes], budget: int) -> None:
        pacer = self._pacer
        if isinstance(body, bytes):
            pacer.write(body[:budget])
            return
        if isinstance(body, list):
            for piece in body:
                if budget <= 0:
                    return
                if isinstance(piece, bytes):
                    pacer.write(piece[:budget])
                    budget -= len(piece)
                    continue
                count = min(piece.length, budget)
                with open(piece.path, "rb") as handle:
                    pacer.sendfile(handle, piece.offset, count)
                budget -= count
            return
        for chunk in body:
            if budget <= 0:
                return
            pacer.write(chunk[:budget])
            budget -= len(chunk)


class _Pacer:
    """Writes one response body at most `mbps` megabits per second (0: as fast as the socket goes),
    in slices of `_PACE_SLICE` bytes, each held until the time its last byte would have arrived:
    deterministic per connection."""

    def __init__(self, handler: _Handler, mbps: float) -> None:
        self._handler = handler
        self._rate = mbps * 1e6 / 8  # bytes per second
        self._start = time.monotonic()
        self._sent = 0

    def write(self, data: bytes) -> None:
        if self._rate <= 0:
            self._handler.wfile.write(data)
            return
        view = memoryview(data)
        for offset in range(0, len(view), _PACE_SLICE):
            piece = view[offset : offset + _PACE_SLICE]
            self._wait(len(piece))
            self._handler.wfile.write(piece)

    def sendfile(self, handle: Any, offset: int, count: int) -> None:
        if self._rate <= 0:
            self._handler.connection.sendfile(handle, offset, count)
            return
        end = offset + count
        while offset < end:
            piece = min(_PACE_SLICE, end - offset)
            self._wait(piece)
            self._handler.connection.sendfile(handle, offset, piece)
            offset += piece

    def _wait(self, size: int) -> None:
        self._sent += size
        due = self._start + self._sent / self._rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def start_emulator(config: OrgConfig | None = None, *, port: int = 0, db_path: str | None = None,
                   server_config: ServerConfig | None = None, faults: FaultConfig | None = None,
                   org: EmulatedOrg | None = None) -> EmulatorServer:
    """Build the org (from `OrgConfig`, or use ``org``) and serve it on 127.0.0.1 in a thread."""
    owns_org = org is None
    if org is None:
        org = EmulatedOrg(config or OrgConfig(), db_path)
    server = EmulatorServer(org, port=port, config=server_config, faults=faults)
    server.owns_org = owns_org
    return server.start()
