"""OAuth 2.0 against a Salesforce login URL: the web server flow with PKCE, the device flow, the
refresh-token grant and revocation (docs/connected-app.md says how to set up the connected app).

The web server flow works as the Salesforce CLI's: a one-shot listener on 127.0.0.1 catches the
browser's redirect to ``http://localhost:<port>/OauthRedirect``, the code is exchanged together with
the PKCE verifier, and the answer carries the refresh token that unattended runs use. Every value
here (code, verifier, state, tokens) is a secret: none is ever logged or put in a message.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from sfbackup.errors import AuthenticationFailed, OrgUnreachable, UsageError, redact

__all__ = [
    "DEFAULT_CALLBACK_PORT",
    "DEFAULT_SCOPE",
    "DeviceCode",
    "OAuthClient",
    "TokenGrant",
    "exchange_code",
    "pkce_pair",
    "poll_device",
    "refresh",
    "revoke",
    "start_device",
    "web_login",
]

log = logging.getLogger("sfbackup.salesforce.oauth")

#: The Salesforce CLI's port; a connected app's callback URL names it (http://localhost:1717/OauthRedirect).
DEFAULT_CALLBACK_PORT = 1717
DEFAULT_SCOPE = "api refresh_token"
CALLBACK_PATH = "/OauthRedirect"
#: RFC 8628 section 3.5: on ``slow_down`` the interval grows by 5 seconds.
SLOW_DOWN_SECONDS = 5
_DEVICE_GRANT = "device"  # Salesforce's grant_type for device-flow polling


@dataclass(frozen=True)
class OAuthClient:
    """A connected app at one login URL (login, test, or a My Domain)."""

    login_url: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    timeout_seconds: float = 60.0

    def endpoint(self, name: str) -> str:
        """``<login_url>/services/oauth2/<name>``."""
        return f"{self.login_url.rstrip('/')}/services/oauth2/{name}"


@dataclass(frozen=True)
class TokenGrant:
    """A token endpoint's answer: the access token, where the org is, and the refresh token if any."""

    access_token: str = field(repr=False)
    instance_url: str
    refresh_token: str | None = field(default=None, repr=False)
    identity_url: str | None = None
    scope: str | None = None

    @property
    def org_id(self) -> str | None:
        """The org id from the identity URL (``.../id/<org>/<user>``)."""
        parts = (self.identity_url or "").rstrip("/").split("/")
        return parts[-2] if len(parts) >= 2 and parts[-2].startswith("00D") else None

    @property
    def user_id(self) -> str | None:
        parts = (self.identity_url or "").rstrip("/").split("/")
        return parts[-1] if parts and parts[-1].startswith("005") else None


@dataclass(frozen=True)
class DeviceCode:
    """What the device flow shows the user, and what it polls with."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    interval: int
    expires_in: int | None = None


def pkce_pair() -> tuple[str, str]:
    """A PKCE (verifier, S256 challenge) pair (RFC 7636)."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return verifier, challenge


def authorize_url(client: OAuthClient, redirect_uri: str, challenge: str, state: str,
                  scope: str = DEFAULT_SCOPE) -> str:
    """The URL the browser opens to log in and approve the app."""
    query = urlencode({
        "response_type": "code", "client_id": client.client_id, "redirect_uri": redirect_uri,
        "code_challenge": challenge, "code_challenge_method": "S256", "state": state, "scope": scope,
    })  # fmt: skip
    return f"{client.endpoint('authorize')}?{query}"


def web_login(
    http: requests.Session,
    client: OAuthClient,
    *,
    open_url: Callable[[str], object],
    port: int = DEFAULT_CALLBACK_PORT,
    timeout_seconds: float = 300.0,
    scope: str = DEFAULT_SCOPE,
) -> TokenGrant:
    """The web server flow with PKCE: listen on 127.0.0.1:`port` (0: any free port), call
    `open_url` with the authorize URL, wait for the one redirect, exchange its code."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(24)
    with _Callback(port) as callback:
        redirect_uri = f"http://localhost:{callback.port}{CALLBACK_PATH}"
        open_url(authorize_url(client, redirect_uri, challenge, state, scope))
        answer = callback.wait(timeout_seconds)
    if answer is None:
        raise AuthenticationFailed(
            f"no answer from the browser within {timeout_seconds:g} seconds (the login page was closed "
            "or never completed)",
            hint="run `sfbackup login` again and finish the login in the browser; on a machine without "
            "a browser use `sfbackup login --device`",
        )
    if answer.get("state") != state:
        raise AuthenticationFailed(
            "the browser's answer does not belong to this login (state mismatch)",
            hint="run `sfbackup login` again; close other login tabs first",
        )
    if "error" in answer:
        raise AuthenticationFailed(
            f"the login was refused in the browser: {answer['error']}: "
            f"{redact(answer.get('error_description', ''))[:200]}",
            hint="approve the app's access; an admin may need to allow users to self-authorize "
            "(docs/connected-app.md)",
            error_code=answer["error"],
        )
    code = answer.get("code")
    if not code:
        raise AuthenticationFailed("the browser's answer carries no authorization code")
    return exchange_code(http, client, code, redirect_uri, verifier)


def exchange_code(http: requests.Session, client: OAuthClient, code: str, redirect_uri: str,
                  verifier: str) -> TokenGrant:
    """Trade an authorization code (and its PKCE verifier) for tokens."""
    form = {"grant_type": "authorization_code", "code": code, "client_id": client.client_id,
            "redirect_uri": redirect_uri, "code_verifier": verifier}
    return _grant(http, client, form, "authorization code exchange")


def refresh(http: requests.Session, client: OAuthClient, refresh_token: str) -> TokenGrant:
    """A new access token from a refresh token; the answer's refresh token is set when it rotated."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client.client_id}
    return _grant(http, client, form, "refresh-token grant")


def start_device(http: requests.Session, client: OAuthClient, scope: str = DEFAULT_SCOPE) -> DeviceCode:
    """Begin the device flow: the user code and verification URL to show."""
    form = {"response_type": "device_code", "client_id": client.client_id, "scope": scope}
    status, body = _post(http, client, form, "device flow start")
    if status != 200:
        raise _refused(client, "device flow start", body)
    try:
        return DeviceCode(
            device_code=str(body["device_code"]), user_code=str(body["user_code"]),
            verification_uri=str(body["verification_uri"]), interval=max(1, int(body.get("interval", 5))),
            expires_in=int(body["expires_in"]) if body.get("expires_in") else None,
        )  # fmt: skip
    except (KeyError, ValueError, TypeError):
        raise AuthenticationFailed(
            f"{client.login_url} answered the device flow start without a device code",
            hint="enable the device flow on the connected app (docs/connected-app.md)",
        ) from None


def poll_device(
    http: requests.Session,
    client: OAuthClient,
    device: DeviceCode,
    *,
    timeout_seconds: float = 600.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> TokenGrant:
    """Poll until the user approves: waits `device.interval` between polls, 5 s more after each
    ``slow_down``, keeps going on ``authorization_pending``."""
    interval = float(device.interval)
    deadline = clock() + min(timeout_seconds, device.expires_in or timeout_seconds)
    form = {"grant_type": _DEVICE_GRANT, "client_id": client.client_id, "code": device.device_code}
    while True:
        sleep(interval)
        status, body = _post(http, client, form, "device flow poll")
        if status == 200:
            return _token_grant(client, body)
        error = str(body.get("error", ""))
        if error == "slow_down":
            interval += SLOW_DOWN_SECONDS
            log.debug("device flow: slow_down, polling every %.0f s", interval)
        elif error != "authorization_pending":
            raise _refused(client, "device flow", body)
        if clock() >= deadline:
            raise AuthenticationFailed(
                f"the code {device.user_code} was not approved within {timeout_seconds:g} seconds",
                hint=f"run `sfbackup login --device` again and enter the code at {device.verification_uri}",
            )


def revoke(http: requests.Session, client: OAuthClient, token: str) -> bool:
    """Revoke a refresh or access token; False when the org says it was already invalid."""
    try:
        response = http.post(client.endpoint("revoke"), data={"token": token},
                             timeout=client.timeout_seconds)  # fmt: skip
    except requests.RequestException as exc:
        raise _unreachable(client, "token revocation", exc) from None
    if response.status_code == 200:
        return True
    if response.status_code == 400:
        return False
    raise OrgUnreachable(
        f"{client.login_url} answered HTTP {response.status_code} to the token revocation",
        hint="retry `sfbackup logout` later", url=client.login_url,
    )


# -- internals ---------------------------------------------------------------------------------


def _grant(http: requests.Session, client: OAuthClient, form: dict[str, str], what: str) -> TokenGrant:
    if client.client_secret:
        form = {**form, "client_secret": client.client_secret}
    status, body = _post(http, client, form, what)
    if status != 200:
        raise _refused(client, what, body)
    return _token_grant(client, body)


def _post(http: requests.Session, client: OAuthClient, form: dict[str, str],
          what: str) -> tuple[int, dict[str, Any]]:
    try:
        response = http.post(client.endpoint("token"), data=form, headers={"Accept": "application/json"},
                             timeout=client.timeout_seconds)  # fmt: skip
    except requests.RequestException as exc:
        raise _unreachable(client, what, exc) from None
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise OrgUnreachable(
            f"{client.login_url} answered HTTP {response.status_code} to the {what}",
            hint="Salesforce is busy or down; retry later", url=client.login_url,
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"error": f"HTTP {response.status_code}", "error_description": "not a JSON answer"}
    return response.status_code, body


def _token_grant(client: OAuthClient, body: dict[str, Any]) -> TokenGrant:
    if not body.get("access_token") or not body.get("instance_url"):
        raise AuthenticationFailed(f"{client.login_url} answered the token request without a token")
    return TokenGrant(
        access_token=str(body["access_token"]), instance_url=str(body["instance_url"]).rstrip("/"),
        refresh_token=str(body["refresh_token"]) if body.get("refresh_token") else None,
        identity_url=str(body["id"]) if body.get("id") else None,
        scope=str(body["scope"]) if body.get("scope") else None,
    )  # fmt: skip


def _refused(client: OAuthClient, what: str, body: dict[str, Any]) -> AuthenticationFailed:
    error = str(body.get("error", "error"))
    description = redact(" ".join(str(body.get("error_description", "")).split()))[:200]
    hints = {
        "invalid_client_id": "check connection.consumer_key (the connected app's consumer key)",
        "invalid_client": "check SF_CONSUMER_SECRET, or turn off 'Require Secret for Web Server Flow'",
        "invalid_grant": "run `sfbackup login` again",
        "redirect_uri_mismatch": f"set the connected app's callback URL to http://localhost:<port>{CALLBACK_PATH}",
        "access_denied": "approve the app's access when asked",
    }
    return AuthenticationFailed(
        f"the {what} at {client.login_url} was refused: {error}: {description}",
        hint=hints.get(error, "see docs/connected-app.md for the connected app's settings"),
        error_code=error,
    )


def _unreachable(client: OAuthClient, what: str, exc: requests.RequestException) -> OrgUnreachable:
    return OrgUnreachable(
        f"cannot reach {client.login_url} for the {what} ({type(exc).__name__})",
        hint="check the network, connection.login_url / connection.instance_url, and any proxy",
        url=client.login_url, tls=isinstance(exc, requests.exceptions.SSLError),
    )


_DONE_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>sfbackup login</title></head>"
    "<body><h1>{title}</h1><p>{text}</p></body></html>"
)


class _Callback:
    """A one-shot HTTP listener on 127.0.0.1 for the browser's redirect."""

    def __init__(self, port: int) -> None:
        self._answer: dict[str, str] | None = None
        self._done = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path != CALLBACK_PATH or owner._done.is_set():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                owner._answer = {k: v[0] for k, v in parse_qs(parts.query).items()}
                ok = "code" in owner._answer
                page = _DONE_PAGE.format(
                    title="Logged in" if ok else "Login failed",
                    text="sfbackup has its login; you can close this tab." if ok
                    else html.escape(owner._answer.get("error", "no code")),
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                owner._done.set()

            def log_message(self, format: str, *args: Any) -> None:  # the query holds the code
                return

        try:
            self._server = HTTPServer(("127.0.0.1", port), Handler)
        except OSError as exc:
            raise UsageError(
                f"cannot listen on 127.0.0.1:{port} for the login callback: {exc.strerror}",
                hint="close what uses that port (another `sf org login web`?) or pass --port with the "
                "port of the connected app's callback URL",
            ) from None
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,),
                                        name="sfbackup-oauth-callback", daemon=True)

    def __enter__(self) -> _Callback:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait(self, timeout_seconds: float) -> dict[str, str] | None:
        """The redirect's query parameters, or None when none came in time."""
        return self._answer if self._done.wait(timeout_seconds) else None
