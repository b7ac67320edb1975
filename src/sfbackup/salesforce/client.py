"""SalesforceClient: the one HTTP client the product uses to talk to an org.

It owns the single requests.Session (pooled for parallel exports), the login and the one re-login
on an expired session, the API-usage bookkeeping from ``Sforce-Limit-Info``, and the product's only
retry loop (tenacity, exponential backoff with jitter, honouring ``Retry-After``). Every failure is
classified by `faults.classify` and surfaces as one of the `errors` classes. Logs name methods,
paths and statuses, never tokens, query strings or bodies.
"""

from __future__ import annotations

import contextlib
import contextvars
import json as jsonlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import requests.auth
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from sfbackup.errors import (
    ApiReserveReached,
    AuthenticationFailed,
    OrgUnreachable,
    SalesforceError,
    SfbackupError,
    UnsupportedQuery,
)
from sfbackup.salesforce import auth
from sfbackup.salesforce.connection import ConnectionSettings
from sfbackup.salesforce.faults import Fault, FaultKind, TruncatedBody, classify
from sfbackup.salesforce.transport import rewriting_session

__all__ = ["CallMeter", "SalesforceClient"]

log = logging.getLogger("sfbackup.salesforce.client")

T = TypeVar("T")

CHUNK_SIZE = 1 << 20
_API_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
_MAX_RETRY_AFTER = 300.0
_MAX_BACKOFF = 60.0


class _BearerAuth(requests.auth.AuthBase):
    """`Authorization: Bearer <token>` on a request (never shown in repr)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(<token hidden>)"


class CallMeter:
    """Counts the API calls made on behalf of one piece of work (an object's export), whatever
    thread makes them: `with client.metered(meter):` sets it for the current context, and threads
    started with that context (`contextvars.copy_context().run`) count into it too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0

    def add(self) -> None:
        with self._lock:
            self.calls += 1


_ACTIVE_METER: contextvars.ContextVar[CallMeter | None] = contextvars.ContextVar(
    "sfbackup_call_meter", default=None
)


#: Logins again within one call: a session can be invalidated again while the call is retried
#: (another thread's expiry, an admin revoking sessions); a third refusal is the credentials' fault.
MAX_REAUTHENTICATIONS = 2


class _Retry(Exception):
    """Internal: this attempt failed transiently; tenacity decides whether and when to try again."""

    def __init__(self, fault: Fault, *, retry_after: float = 0.0, immediate: bool = False) -> None:
        super().__init__(fault.message)
        self.fault = fault
        self.retry_after = retry_after
        self.immediate = immediate


class SalesforceClient:
    """Authenticated, retrying, limit-aware access to one org's REST and Bulk APIs. Thread-safe."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        api_reserve_percent: float | None = 20.0,
        pool_maxsize: int = 16,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self.reserve_percent = api_reserve_percent
        self._session = session or rewriting_session(
            auth.session_base_url(settings), verify=settings.verify, pool_maxsize=pool_maxsize
        )
        if settings.insecure_skip_tls_verify:
            log.warning("TLS certificate verification is OFF (connection.insecure_skip_tls_verify)")
        self._lock = threading.Lock()
        self._auth_lock = threading.Lock()
        self.calls_made = 0
        self.api_usage: tuple[int, int] | None = None
        self._org = self._with_retries("login", "POST", self._first_login_attempt)
        self.instance_url = self._org.instance_url
        self.api_version = self._org.api_version
        self.org_id = self._org.org_id or ""
        self.user_id = self._org.user_id
        #: How this client logged in (e.g. ``oauth_refresh_token``); never a secret.
        self.login_flow = self._org.flow

    # ------------------------------------------------------------------ public API

    @property
    def session(self) -> requests.Session:
        """The underlying session (for libraries that take one, e.g. simple-salesforce)."""
        return self._session

    @property
    def access_token(self) -> str:
        """The current bearer token (never log it)."""
        return self._org.access_token

    @contextlib.contextmanager
    def metered(self, meter: CallMeter) -> Iterator[CallMeter]:
        """Count the calls made in this block (and in threads started from its context) in
        `meter` as well as in `calls_made`."""
        token = _ACTIVE_METER.set(meter)
        try:
            yield meter
        finally:
            _ACTIVE_METER.reset(token)

    def data_path(self, suffix: str) -> str:
        """``/services/data/v62.0/`` + `suffix`."""
        return f"/services/data/v{self.api_version}/{suffix.lstrip('/')}"

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        ok: Iterable[int] = (200,),
    ) -> requests.Response:
        """Send one API call with retries; return the response whose status is in `ok`.

        `path_or_url` is a full URL, a path from the host (``/services/...``, e.g. a
        nextRecordsUrl), or a suffix of `data_path` (``sobjects/``).

        With ``stream=True`` the body is left unread; the caller must close the response.
        """
        return self.fetch(method, path_or_url, params=params, json=json, headers=headers,
                          stream=stream, ok=ok, consume=lambda response: response)  # fmt: skip

    def get_json(self, path: str, *, parse_float: Callable[[str], Any] | None = None, **kw: Any) -> Any:
        """GET `path` and decode its JSON body (a cut-off body is fetched again).

        ``parse_float=decimal.Decimal`` keeps currency and other decimals exact.
        """
        headers = {"Accept": "application/json", **kw.pop("headers", {})}

        def decode(response: requests.Response) -> Any:
            try:
                return jsonlib.loads(response.content, parse_float=parse_float)
            except ValueError:
                raise TruncatedBody("the response body is not complete JSON") from None

        return self.fetch("GET", path, headers=headers, consume=decode, **kw)

    def download(
        self,
        path: str,
        sink: Callable[[Iterator[bytes]], T],
        *,
        headers: Mapping[str, str] | None = None,
    ) -> T:
        """Stream a body (1 MiB chunks) into `sink` and return what it returns.

        A dropped or truncated body (fewer bytes than Content-Length) is fetched again from the
        start and `sink` is called again with the new stream, so it must start over each time
        (e.g. open its temporary file inside the call).
        """

        def consume(response: requests.Response) -> T:
            with response:
                return sink(_checked_chunks(response))

        # identity: Content-Length then counts the bytes we receive, so truncation shows.
        merged = {"Accept-Encoding": "identity", **(headers or {})}
        return self.fetch("GET", path, headers=merged, stream=True, consume=consume)

    def fetch(
        self,
        method: str,
        path_or_url: str,
        *,
        consume: Callable[[requests.Response], T],
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        ok: Iterable[int] = (200,),
        data: Callable[[str], bytes] | None = None,
    ) -> T:
        """Like `request`, but `consume` runs inside the retry loop on an accepted response.

        If `consume` raises `faults.TruncatedBody` or a connection error, the whole call is made
        again; any other exception from it propagates unchanged. `data` builds a raw request body
        from the current access token, on every attempt (a SOAP body carries the session, so a
        call made again after a re-login must carry the new one).
        """
        url = self._url(path_or_url)
        accepted = frozenset(ok)
        reauthentications = 0

        def attempt() -> T:
            nonlocal reauthentications
            self.check_reserve()
            token = self._org.access_token
            response = self._send(
                method, url, token, params=params, json=json, headers=headers, stream=stream,
                data=data(token) if data is not None else None,
            )
            if response.status_code in accepted:
                try:
                    return consume(response)
                except SfbackupError:
                    raise
                except Exception as exc:
                    fault = classify(exc=exc)
                    if fault.kind is FaultKind.TRANSIENT:
                        log.info("%s %s: body cut off (%s), fetching again", method, _path(url), fault.code)
                        raise _Retry(fault) from None
                    raise
            body = _error_body(response)
            fault = classify(status=response.status_code, body=body)
            if (
                fault.kind is FaultKind.REAUTH
                and self.settings.auth != "access_token"
                and reauthentications < MAX_REAUTHENTICATIONS
            ):
                log.info("session expired (%s); logging in again", fault.code)
                self._relogin(token)  # a login that cannot reach the org is retried like any call
                reauthentications += 1
                raise _Retry(fault, immediate=True)
            if fault.kind is FaultKind.TRANSIENT:
                log.debug("%s %s: %s, will retry", method, _path(url), fault.message)
                raise _Retry(fault, retry_after=_retry_after(response))
            raise self._error(fault, method, url, response.status_code)

        return self._with_retries(_path(url), method, attempt)

    def subrequest_error(self, method: str, path_or_url: str, status: int, body: Any) -> SfbackupError | None:
        """The exception a single call answered with `status` and `body` would end in, for one
        subrequest of a composite call (which has no retry loop of its own); None when a single call
        would be tried again (a transient failure, an expired session): make that call alone then."""
        raw = body if isinstance(body, bytes) else jsonlib.dumps(body).encode()
        fault = classify(status=status, body=raw)
        if fault.kind in (FaultKind.TRANSIENT, FaultKind.REAUTH):
            return None
        return self._error(fault, method, self._url(path_or_url), status)

    def check_reserve(self) -> None:
        """Raise ApiReserveReached when the org's remaining daily calls are below the reserve."""
        usage, reserve = self.api_usage, self.reserve_percent
        if usage is None or not reserve:
            return
        used, maximum = usage
        remaining = maximum - used
        floor = maximum * reserve / 100.0
        if remaining < floor:
            raise ApiReserveReached(
                f"the org has {remaining} of its {maximum} daily API calls left, below the reserve of "
                f"{reserve:g}% ({int(floor)} calls) kept for its other integrations",
                hint="run `sfbackup run --resume` after the 24-hour window frees calls, "
                "or lower backup.api_reserve_percent",
                used=used,
                maximum=maximum,
            )

    # ------------------------------------------------------------------ internals

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        if not path_or_url.startswith("/"):
            path_or_url = self.data_path(path_or_url)
        return self.instance_url + path_or_url

    def _send(
        self,
        method: str,
        url: str,
        token: str,
        *,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        stream: bool,
        data: bytes | None = None,
    ) -> requests.Response:
        merged = {"Accept-Encoding": "gzip", **(headers or {})}
        started = time.monotonic()
        try:
            # The token goes in as `auth`: with no auth of its own, requests reads ~/.netrc on
            # every call (and a netrc entry for the host would replace our header).
            response = self._session.request(
                method, url, params=params, json=json, data=data, headers=merged, stream=stream,
                timeout=self.settings.timeout_seconds, auth=_BearerAuth(token),
            )  # fmt: skip
        except requests.RequestException as exc:
            fault = classify(exc=exc)
            self._count_call()
            if fault.kind is FaultKind.TRANSIENT:
                log.debug("%s %s: %s, will retry", method, _path(url), fault.message)
                raise _Retry(fault) from None
            tls = isinstance(exc, requests.exceptions.SSLError)
            raise OrgUnreachable(
                f"{method} {_path(url)} failed: {fault.message}",
                hint="set connection.ca_bundle to the CA that signs this server's certificate"
                if tls
                else None,
                url=_path(url),
            ) from None
        self._count_call()
        with self._lock:
            usage = _API_USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
            if usage:
                self.api_usage = (int(usage.group(1)), int(usage.group(2)))
        log.debug("%s %s -> %s in %.0f ms", method, _path(url), response.status_code,
                  (time.monotonic() - started) * 1000)  # fmt: skip
        return response

    def _count_call(self) -> None:
        with self._lock:
            self.calls_made += 1
        meter = _ACTIVE_METER.get()
        if meter is not None:
            meter.add()

    def _with_retries(self, what: str, method: str, attempt: Callable[[], T]) -> T:
        attempts = self.settings.max_retries + 1
        def announce(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            log.info("%s %s failed (%s); retry %d of %d in %.1f s", method, what,
                     exc.fault.message if isinstance(exc, _Retry) else exc, state.attempt_number,
                     attempts - 1, delay)  # fmt: skip

        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retry),
            sleep=self._sleep,
            before_sleep=announce,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Retry as exc:
            raise OrgUnreachable(
                f"{method} {what} failed {attempts} times; last: {exc.fault.message}",
                hint="Salesforce or the network is having trouble; run again later (`--resume` continues)",
                url=what,
                error_code=exc.fault.code,
            ) from None

    _backoff = wait_exponential_jitter(initial=1, max=_MAX_BACKOFF, jitter=1)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry) and exc.immediate:
            return 0.0
        delay = float(self._backoff(state))
        if isinstance(exc, _Retry) and exc.retry_after:
            delay = max(delay, min(exc.retry_after, _MAX_RETRY_AFTER))
        return delay

    def _first_login_attempt(self) -> auth.OrgSession:
        """The first login: an address where nothing listens, or a name that does not resolve, fails
        at once (a typo in the URL, not a network blip: retrying for a minute would only hide it)."""
        try:
            return auth.login(self.settings, self._session)
        except OrgUnreachable as exc:
            if exc.details.get("tls") or exc.details.get("no_such_server"):
                raise
            raise _Retry(Fault(FaultKind.TRANSIENT, "LOGIN_UNREACHABLE", exc.message)) from None

    def _login_attempt(self) -> auth.OrgSession:
        try:
            return auth.login(self.settings, self._session)
        except OrgUnreachable as exc:
            if exc.details.get("tls"):
                raise
            raise _Retry(Fault(FaultKind.TRANSIENT, "LOGIN_UNREACHABLE", exc.message)) from None

    def _relogin(self, stale_token: str) -> None:
        with self._auth_lock:
            if self._org.access_token != stale_token:
                return  # another thread already logged in again
            self._org = self._login_attempt()
            self.instance_url = self._org.instance_url

    def _error(self, fault: Fault, method: str, url: str, status: int) -> SfbackupError:
        where = f"{method} {_path(url)}"
        if fault.kind is FaultKind.LIMIT:
            return ApiReserveReached(
                f"Salesforce refused {where}: {fault.message}",
                hint="the org's API limit is used up; run `sfbackup run --resume` later",
                error_code=fault.code,
            )
        if fault.kind is FaultKind.REAUTH and self.settings.auth == "access_token":
            return AuthenticationFailed(
                f"Salesforce refused the access token for {where} (expired or revoked): {fault.message}",
                hint="get a fresh token, or use a login flow that renews itself (password, jwt, ...)",
            )
        if fault.kind is FaultKind.REAUTH:
            return AuthenticationFailed(
                f"Salesforce refused the session for {where} even after logging in again: {fault.message}",
                hint="check the user's API permission and the connected app's session policies",
            )
        if fault.kind is FaultKind.UNSUPPORTED:
            return UnsupportedQuery(f"{where}: {fault.message}", error_code=fault.code, status=status,
                                    kind=fault.kind.value)  # fmt: skip
        return SalesforceError(f"{where}: {fault.message}", error_code=fault.code, status=status,
                               kind=fault.kind.value)  # fmt: skip


def _path(url: str) -> str:
    return urlsplit(url).path


def _retry_after(response: requests.Response) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return 0.0


def _error_body(response: requests.Response) -> bytes:
    """At most 64 KiB of an error body (enough for Salesforce's error JSON, bounded for streams)."""
    try:
        if response.raw is not None and not response._content_consumed:  # type: ignore[attr-defined]
            return response.raw.read(65536, decode_content=True) or b""
        return response.content[:65536]
    except Exception:  # a body we cannot even read is classified by its status alone
        return b""
    finally:
        response.close()


def _checked_chunks(response: requests.Response) -> Iterator[bytes]:
    expected = response.headers.get("Content-Length")
    received = 0
    for chunk in response.iter_content(CHUNK_SIZE):
        received += len(chunk)
        yield chunk
    if expected is not None and expected.isdigit() and received != int(expected):
        raise TruncatedBody(f"received {received} of {expected} bytes")
