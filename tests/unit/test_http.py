"""SalesforceClient: retries, re-login, limits and streamed downloads, at the wire level.

`responses` scripts Salesforce's answers for the fault cases; a real HTTP server on 127.0.0.1 covers
what only a socket can do (a body cut off mid-stream, many threads at once).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import responses

from sfbackup.config import ConnectionSettings, load_settings
from sfbackup.errors import (
    ApiReserveReached,
    AuthenticationFailed,
    OrgUnreachable,
    SalesforceError,
    UnsupportedQuery,
)
from sfbackup.salesforce.client import SalesforceClient

INSTANCE = "https://acme.my.salesforce.com"
TOKEN_URL = f"{INSTANCE}/services/oauth2/token"
USERINFO_URL = f"{INSTANCE}/services/oauth2/userinfo"
QUERY_URL = f"{INSTANCE}/services/data/v62.0/query/"
ORG_ID = "00D000000000001AAA"
SECRET_PASSWORD = "pw-do-not-log"


def oauth_settings(**overrides: Any) -> ConnectionSettings:
    env = {
        "SF_USERNAME": "backup@acme.com",
        "SF_PASSWORD": SECRET_PASSWORD,
        "SF_CONSUMER_KEY": "key",
        "SF_CONSUMER_SECRET": "consumer-secret-do-not-log",
    }
    flags = {"connection.instance_url": INSTANCE, "connection.max_retries": 3, **overrides}
    return load_settings(None, env=env, overrides=flags).connection


def sf_error(status: int, code: str, message: str) -> dict[str, Any]:
    return {"status": status, "json": [{"message": message, "errorCode": code}]}


class Sleeps(list[float]):
    """An injectable sleep that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def wire() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        tokens = iter(f"00D000000000001!token-{n}" for n in range(1, 100))
        mock.add_callback(
            responses.POST,
            TOKEN_URL,
            callback=lambda request: (
                200,
                {},
                json.dumps({"access_token": next(tokens), "instance_url": INSTANCE, "token_type": "Bearer"}),
            ),
        )
        mock.get(USERINFO_URL, json={"organization_id": ORG_ID, "user_id": "005000000000001AAA"})
        yield mock


def client_for(sleeps: Sleeps | None = None, **kw: Any) -> SalesforceClient:
    return SalesforceClient(oauth_settings(), sleep=sleeps if sleeps is not None else Sleeps(), **kw)


def test_given_a_login_when_the_client_starts_then_it_knows_org_instance_and_version(
    wire: responses.RequestsMock,
) -> None:
    client = client_for()
    assert (client.instance_url, client.org_id, client.api_version) == (INSTANCE, ORG_ID, "62.0")
    assert client.data_path("sobjects/") == "/services/data/v62.0/sobjects/"


def test_given_a_503_storm_when_requesting_then_it_backs_off_and_succeeds(
    wire: responses.RequestsMock,
) -> None:
    for _ in range(3):
        wire.get(QUERY_URL, **sf_error(503, "SERVER_UNAVAILABLE", "Server too busy"))
    wire.get(QUERY_URL, json={"totalSize": 0, "done": True, "records": []})
    sleeps = Sleeps()
    body = client_for(sleeps).get_json("query/", params={"q": "SELECT COUNT() FROM Account"})
    assert body["done"] is True
    assert len(sleeps) == 3
    assert all(0 < s <= 61 for s in sleeps)
    assert sleeps[2] > sleeps[0]  # exponential


def test_given_503_forever_when_requesting_then_org_unreachable_after_max_attempts(
    wire: responses.RequestsMock,
) -> None:
    wire.get(QUERY_URL, **sf_error(503, "SERVER_UNAVAILABLE", "Server too busy"))
    sleeps = Sleeps()
    client = client_for(sleeps)
    calls_before = client.calls_made
    with pytest.raises(OrgUnreachable) as caught:
        client.request("GET", "query/")
    assert "/services/data/v62.0/query/" in str(caught.value) and "4 times" in str(caught.value)
    assert client.calls_made - calls_before == 4  # max_retries 3 + the first attempt
    assert len(sleeps) == 3


def test_given_a_dropped_connection_when_requesting_then_it_is_retried(wire: responses.RequestsMock) -> None:
    wire.get(QUERY_URL, body=requests.ConnectionError("Connection reset by peer"))
    wire.get(QUERY_URL, json={"done": True, "records": []})
    assert client_for().get_json("query/")["done"] is True


def test_given_an_expired_session_when_requesting_then_it_logs_in_again_once_and_retries(
    wire: responses.RequestsMock,
) -> None:
    wire.get(QUERY_URL, **sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid"))
    wire.get(QUERY_URL, json={"done": True, "records": []})
    sleeps = Sleeps()
    client = client_for(sleeps)
    assert client.get_json("query/")["done"] is True
    token_calls = [c for c in wire.calls if c.request.url == TOKEN_URL]
    assert len(token_calls) == 2
    query_calls = [c for c in wire.calls if c.request.url.startswith(QUERY_URL)]
    assert query_calls[0].request.headers["Authorization"].endswith("token-1")
    assert query_calls[1].request.headers["Authorization"].endswith("token-2")
    assert sleeps == [0.0]  # a re-login is not a reason to wait


def test_given_a_session_refused_even_after_relogin_when_requesting_then_authentication_failed(
    wire: responses.RequestsMock,
) -> None:
    wire.get(QUERY_URL, **sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid"))
    with pytest.raises(AuthenticationFailed):
        client_for().request("GET", "query/")


def test_given_the_daily_limit_when_requesting_then_api_reserve_reached_without_retrying(
    wire: responses.RequestsMock,
) -> None:
    wire.get(QUERY_URL, **sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."))
    sleeps = Sleeps()
    with pytest.raises(ApiReserveReached, match="REQUEST_LIMIT_EXCEEDED"):
        client_for(sleeps).request("GET", "query/")
    assert sleeps == []


def test_given_an_unsupported_object_when_requesting_then_unsupported_query_carries_the_code(
    wire: responses.RequestsMock,
) -> None:
    wire.get(
        QUERY_URL,
        **sf_error(400, "INVALID_TYPE_FOR_OPERATION", "entity type FeedLike does not support query"),
    )
    with pytest.raises(UnsupportedQuery) as caught:
        client_for().request("GET", "query/")
    assert caught.value.error_code == "INVALID_TYPE_FOR_OPERATION"
    assert caught.value.status == 400


def test_given_a_query_timeout_when_requesting_then_a_salesforce_error_with_its_code(
    wire: responses.RequestsMock,
) -> None:
    wire.get(QUERY_URL, **sf_error(400, "QUERY_TIMEOUT", "Your query request was running for too long."))
    with pytest.raises(SalesforceError) as caught:
        client_for().request("GET", "query/")
    assert not isinstance(caught.value, UnsupportedQuery)
    assert caught.value.error_code == "QUERY_TIMEOUT"


def test_given_retry_after_when_throttled_then_the_wait_honours_it(wire: responses.RequestsMock) -> None:
    wire.get(QUERY_URL, status=429, headers={"Retry-After": "17"})
    wire.get(QUERY_URL, json={"done": True, "records": []})
    sleeps = Sleeps()
    client_for(sleeps).request("GET", "query/")
    assert sleeps and sleeps[0] >= 17


def test_given_limit_info_headers_when_requesting_then_usage_is_tracked_and_the_reserve_enforced(
    wire: responses.RequestsMock,
) -> None:
    wire.get(
        QUERY_URL, json={"done": True, "records": []}, headers={"Sforce-Limit-Info": "api-usage=700/1000"}
    )
    client = client_for(api_reserve_percent=20.0)
    client.request("GET", "query/")
    assert client.api_usage == (700, 1000)
    client.check_reserve()  # 300 left >= 200
    wire.replace(
        responses.GET,
        QUERY_URL,
        json={"done": True, "records": []},
        headers={"Sforce-Limit-Info": "api-usage=850/1000"},
    )
    client.request("GET", "query/")
    calls = client.calls_made
    with pytest.raises(ApiReserveReached, match="150 of its 1000"):
        client.request("GET", "query/")
    assert client.calls_made == calls  # refused before sending


def test_given_a_cut_off_json_body_when_getting_json_then_it_is_fetched_again(
    wire: responses.RequestsMock,
) -> None:
    wire.get(QUERY_URL, body='{"done": true, "records": [{"Id": "001')
    wire.get(QUERY_URL, json={"done": True, "records": []})
    assert client_for().get_json("query/") == {"done": True, "records": []}


def test_given_a_whole_run_when_logging_at_debug_then_no_secret_appears(
    wire: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    wire.get(QUERY_URL, **sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid"))
    wire.get(QUERY_URL, json={"done": True, "records": []})
    with caplog.at_level(logging.DEBUG):
        client = client_for()
        client.get_json("query/", params={"q": "SELECT Name FROM Account WHERE Name = 'Secret Corp'"})
    assert "token-" not in caplog.text
    assert SECRET_PASSWORD not in caplog.text and "consumer-secret" not in caplog.text
    assert "Secret Corp" not in caplog.text
    assert "consumer-secret" not in repr(client.settings)


# ----------------------------------------------------------------------------------------------
# A real server: bodies cut off mid-stream, and many threads at once.


class QuietServer(ThreadingHTTPServer):
    """A client hanging up on a cut-off body is expected here, not worth a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class ScriptedOrg:
    """A tiny Salesforce stand-in on 127.0.0.1: userinfo plus scripted answers per path."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Callable[[BaseHTTPRequestHandler], None]]] = {}
        self.default: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        org = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                with org.lock:
                    org.hits[path] = org.hits.get(path, 0) + 1
                    queue = org.scripts.get(path)
                    action = queue.pop(0) if queue else org.default.get(path)
                if path == "/services/oauth2/userinfo":
                    send(self, 200, json.dumps({"organization_id": ORG_ID, "user_id": "005x"}).encode())
                elif action is None:
                    send(self, 404, b'[{"message":"no such path","errorCode":"NOT_FOUND"}]')
                else:
                    action(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes, *, cut_at: int | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/octet-stream")
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Sforce-Limit-Info", "api-usage=10/100000")
    handler.end_headers()
    handler.wfile.write(body if cut_at is None else body[:cut_at])
    handler.wfile.flush()
    if cut_at is not None:
        handler.close_connection = True


@pytest.fixture
def org() -> Iterator[ScriptedOrg]:
    running = ScriptedOrg()
    yield running
    running.close()


def token_client(org: ScriptedOrg, sleeps: Sleeps | None = None) -> SalesforceClient:
    settings = load_settings(
        None,
        env={"SF_ACCESS_TOKEN": "00D000000000001!static-token"},
        overrides={"connection.instance_url": org.url, "connection.max_retries": 3},
    ).connection
    return SalesforceClient(settings, sleep=sleeps if sleeps is not None else Sleeps())


BLOB = bytes(range(256)) * 8192  # 2 MiB: several chunks


def test_given_a_body_cut_off_mid_stream_when_downloading_then_the_whole_download_is_repeated(
    org: ScriptedOrg,
) -> None:
    path = "/services/data/v62.0/sobjects/Attachment/00P000000000001AAA/Body"
    org.scripts[path] = [lambda h: send(h, 200, BLOB, cut_at=700_000), lambda h: send(h, 200, BLOB)]
    attempts: list[int] = []

    def sink(chunks: Iterator[bytes]) -> bytes:
        received = bytearray()
        attempts.append(1)
        for chunk in chunks:
            received += chunk
        return bytes(received)

    client = token_client(org)
    assert client.download(path, sink) == BLOB
    assert len(attempts) == 2
    assert org.hits[path] == 2


def test_given_a_body_always_cut_off_when_downloading_then_org_unreachable(org: ScriptedOrg) -> None:
    path = "/services/data/v62.0/sobjects/Document/015000000000001AAA/Body"
    org.default[path] = lambda h: send(h, 200, BLOB, cut_at=1000)
    with pytest.raises(OrgUnreachable, match="Body"):
        token_client(org).download(path, lambda chunks: b"".join(chunks))
    assert org.hits[path] == 4


def test_given_a_sink_that_fails_when_downloading_then_its_error_is_not_retried(org: ScriptedOrg) -> None:
    path = "/services/data/v62.0/sobjects/Attachment/00P000000000002AAA/Body"
    org.default[path] = lambda h: send(h, 200, BLOB)

    def full_disk(chunks: Iterator[bytes]) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        token_client(org).download(path, full_disk)
    assert org.hits[path] == 1


def test_given_many_threads_when_requesting_then_every_call_is_counted_once(org: ScriptedOrg) -> None:
    path = "/services/data/v62.0/limits/"
    org.default[path] = lambda h: send(h, 200, b"{}")
    client = token_client(org)
    before = client.calls_made
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(25):
                client.get_json(path)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert client.calls_made - before == 200 == org.hits[path]
    assert client.api_usage == (10, 100000)


def test_given_an_unreachable_org_when_connecting_then_org_unreachable_names_the_url() -> None:
    with socket_closed_port() as url:
        settings = load_settings(
            None,
            env={"SF_ACCESS_TOKEN": "00D000000000001!t"},
            overrides={"connection.instance_url": url, "connection.max_retries": 1},
        ).connection
        with pytest.raises(OrgUnreachable) as caught:
            SalesforceClient(settings, sleep=Sleeps())
    assert url in str(caught.value)


class socket_closed_port:
    """A loopback URL on which nothing listens."""

    def __enter__(self) -> str:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        return None


# ----------------------------------------------------------------------------------------------
# transport.rewriting_session: how simple-salesforce's https://*.salesforce.com URLs reach a local URL


def test_given_a_local_base_when_rewriting_then_salesforce_and_base_host_urls_go_there() -> None:
    from sfbackup.salesforce.transport import RewritingAdapter

    adapter = RewritingAdapter("http://127.0.0.1:8080")
    assert adapter.rewrite("https://login.salesforce.com/services/oauth2/token?a=1") == (
        "http://127.0.0.1:8080/services/oauth2/token?a=1"
    )
    assert adapter.rewrite("https://acme.my.salesforce.com/services/Soap/u/62.0") == (
        "http://127.0.0.1:8080/services/Soap/u/62.0"
    )
    assert (
        adapter.rewrite("https://127.0.0.1:8080/services/data/v62.0/")
        == "http://127.0.0.1:8080/services/data/v62.0/"
    )
    assert adapter.rewrite("https://bucket.s3.amazonaws.com/key") == "https://bucket.s3.amazonaws.com/key"
    assert adapter.rewrite("https://evil-salesforce.com/x") == "https://evil-salesforce.com/x"
    assert adapter.rewrite("http://127.0.0.1:8080/plain") == "http://127.0.0.1:8080/plain"


def test_given_a_proxy_base_with_a_path_when_rewriting_then_the_prefix_is_kept() -> None:
    from sfbackup.salesforce.transport import RewritingAdapter

    adapter = RewritingAdapter("https://proxy.internal/salesforce/")
    assert adapter.rewrite("https://login.salesforce.com/services/oauth2/token") == (
        "https://proxy.internal/salesforce/services/oauth2/token"
    )


def test_given_a_real_org_when_building_the_session_then_nothing_is_rewritten() -> None:
    from sfbackup.salesforce.transport import RewritingAdapter, needs_rewriting, rewriting_session

    assert not needs_rewriting("https://acme.my.salesforce.com")
    assert needs_rewriting("http://127.0.0.1:1234") and needs_rewriting("https://proxy.internal")
    session = rewriting_session("https://acme.my.salesforce.com", verify="/etc/ssl/ca.pem")
    assert not isinstance(session.get_adapter("https://login.salesforce.com/"), RewritingAdapter)
    assert session.verify == "/etc/ssl/ca.pem"


def test_given_a_rewriting_session_when_requesting_salesforce_urls_then_the_local_server_answers(
    org: ScriptedOrg,
) -> None:
    from sfbackup.salesforce.transport import rewriting_session

    org.default["/services/data/"] = lambda h: send(h, 200, b"[]")
    session = rewriting_session(org.url)
    assert session.get("https://login.salesforce.com/services/data/", timeout=5).content == b"[]"
    port = org.url.rsplit(":", 1)[1]
    assert session.get(f"https://127.0.0.1:{port}/services/data/", timeout=5).status_code == 200
