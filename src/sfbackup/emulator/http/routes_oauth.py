"""OAuth the way orgs are logged in to today: the web server flow (an HTML login and consent page,
codes bound to a PKCE challenge), the device flow, refresh tokens (optionally rotated on every
use), revocation, and SOAP ``login()`` refused where Salesforce refuses it.

The token endpoint and the SOAP route come here first; grants this module does not know go on to
`routes_auth`. Every code, PKCE verifier and refresh token seen is kept in `OAuthState.secrets_seen`
so the security suite can look for them in everything sfbackup writes.

The SOAP fault texts for a refused ``login()`` are a best guess (SALESFORCE-API.md §1.2 documents
that it is refused, not the exact fault): ``INVALID_OPERATION`` with the reason.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode

from sfbackup.emulator.http import routes_auth, wire
from sfbackup.emulator.http.wire import Request, Response

if TYPE_CHECKING:
    from sfbackup.emulator.http.server import EmulatorServer

#: The last API version whose SOAP ``login()`` exists (SALESFORCE-API.md §1.2).
SOAP_LOGIN_MAX_VERSION = 64
CODE_TTL = 15 * 60.0
DEVICE_TTL = 10 * 60.0
_LOOPBACK_REDIRECT = re.compile(r"http://(localhost|127\.0\.0\.1)(:\d+)?/[^\s]*")
_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ23456789"


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str | None
    method: str
    expires_at: float
    user: str  # who logged in on the page (org.access ADMIN or RESTRICTED)


@dataclass
class _Device:
    client_id: str
    user_code: str
    expires_at: float
    approved: bool = False
    last_poll: float | None = None
    user: str | None = None  # who approved it


@dataclass
class OAuthState:
    """Codes, device logins and refresh tokens issued, and what clients did with them."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    codes: dict[str, _Code] = field(default_factory=dict)
    tickets: dict[str, dict[str, str]] = field(default_factory=dict)  # logged in, consent pending
    devices: dict[str, _Device] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # token -> user
    revoked: set[str] = field(default_factory=set)
    grants: Counter[str] = field(default_factory=Counter)  # grant_type -> successful grants
    secrets_seen: list[str] = field(default_factory=list)

    def remember(self, *values: str | None) -> None:
        with self.lock:
            self.secrets_seen.extend(v for v in values if v)

    def pending_user_codes(self) -> list[str]:
        """User codes of device logins waiting for approval (what a user would read off a screen)."""
        with self.lock:
            return [d.user_code for d in self.devices.values() if not d.approved]


# -- the token endpoint ---------------------------------------------------------------------------

def token(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``POST /services/oauth2/token``: the grants of this module, others to `routes_auth.token`."""
    form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace"),
                                         keep_blank_values=True).items()}  # fmt: skip
    if form.get("response_type") == "device_code":
        return _device_start(server, request, form)
    grant = form.get("grant_type", "")
    if grant == "authorization_code":
        return _code_grant(server, request, form)
    if grant == "device":
        return _device_poll(server, request, form)
    if grant == "refresh_token":
        return _refresh_grant(server, request, form)
    return routes_auth.token(server, request, match)


def _client_ok(server: EmulatorServer, form: dict[str, str]) -> tuple[str, str] | None:
    creds = server.credentials
    if form.get("client_id") != creds.consumer_key:
        return "invalid_client_id", "client identifier invalid"
    if "client_secret" in form and form["client_secret"] != creds.consumer_secret:
        return "invalid_client", "invalid client credentials"
    return None


def _code_grant(server: EmulatorServer, request: Request, form: dict[str, str]) -> Response:
    state = server.oauth
    code, verifier = form.get("code", ""), form.get("code_verifier")
    state.remember(code, verifier)
    problem = _client_ok(server, form)
    if problem is not None:
        return _error(request, *problem)
    with state.lock:
        issued = state.codes.pop(code, None)  # a code is good for one exchange
    if issued is None or issued.expires_at < time.time() or issued.client_id != form.get("client_id"):
        return _error(request, "invalid_grant", "invalid authorization code")
    if issued.redirect_uri != form.get("redirect_uri"):
        return _error(request, "invalid_grant", "redirect_uri must match configuration")
    if issued.challenge is None and "client_secret" not in form:
        return _error(request, "invalid_client", "invalid client credentials")
    if issued.challenge is not None and (not verifier or _s256(verifier) != issued.challenge):
        return _error(request, "invalid_grant", "invalid code verifier")
    return _tokens(server, request, "authorization_code", issued.user, refresh=True)


def _refresh_user(server: EmulatorServer, presented: str) -> str | None:
    """Whom a live refresh token belongs to (one issued here, or a user's standing one); None if
    unknown or revoked. Call with the OAuth lock held."""
    state = server.oauth
    if presented in state.revoked:
        return None
    if presented in state.refresh_tokens:
        return state.refresh_tokens[presented]
    return next((u for u in server.org.users if presented == server.sessions.refresh_token_for(u)), None)


def _refresh_grant(server: EmulatorServer, request: Request, form: dict[str, str]) -> Response:
    state = server.oauth
    presented = form.get("refresh_token", "")
    problem = _client_ok(server, form)
    if problem is not None:
        return _error(request, *problem)
    with state.lock:
        user = _refresh_user(server, presented)
        rotate = user is not None and server.config.rotate_refresh_tokens
        if rotate:
            state.refresh_tokens.pop(presented, None)
            state.revoked.add(presented)
    if user is None:
        return _error(request, "invalid_grant", "expired access/refresh token")
    return _tokens(server, request, "refresh_token", user, refresh=rotate)


def _tokens(server: EmulatorServer, request: Request, grant: str, user: str, *, refresh: bool) -> Response:
    scope = "api refresh_token" if refresh else None
    response = routes_auth._token_response(server, request, user, scope=scope)
    body = json.loads(response.body if isinstance(response.body, bytes) else b"{}")
    if refresh:
        refresh_token = "5Aep861" + wire.random_token(80)
        with server.oauth.lock:
            server.oauth.refresh_tokens[refresh_token] = user
        server.oauth.remember(refresh_token)
        body["refresh_token"] = refresh_token
    with server.oauth.lock:
        server.oauth.grants[grant] += 1
    return wire.json_response(request, 200, body)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _error(request: Request, error: str, description: str) -> Response:
    return wire.json_response(request, 400, {"error": error, "error_description": description})


# -- the web server flow: /services/oauth2/authorize ----------------------------------------------

_AUTHORIZE_PARAMS = ("response_type", "client_id", "redirect_uri", "code_challenge", "code_challenge_method",
                     "state", "scope")


def authorize(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``GET`` shows the login page; ``POST`` checks the login, then the consent answer."""
    if request.method == "GET":
        params = {k: request.param(k) or "" for k in _AUTHORIZE_PARAMS}
        problem = _authorize_problem(server, params)
        if problem is not None:
            return _page(400, "Error", f"<p id='error'>error={problem}</p>")
        return _login_page(params, error=None)
    form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace"),
                                         keep_blank_values=True).items()}  # fmt: skip
    if "ticket" in form:
        return _consent_answer(server, form)
    params = {k: form.get(k, "") for k in _AUTHORIZE_PARAMS}
    problem = _authorize_problem(server, params)
    if problem is not None:
        return _page(400, "Error", f"<p id='error'>error={problem}</p>")
    user = routes_auth._password_user(server, form.get("username"), form.get("pw"))
    if user is None:
        return _login_page(params, error="Please check your username and password. If you still can't "
                           "log in, contact your Salesforce administrator.")
    ticket = secrets.token_urlsafe(24)
    with server.oauth.lock:
        server.oauth.tickets[ticket] = {**params, "user": user}
    return _consent_page(ticket, str(server.org.users[user].username))


def _authorize_problem(server: EmulatorServer, params: dict[str, str]) -> str | None:
    if params["response_type"] != "code":
        return "unsupported_response_type"
    if params["client_id"] != server.credentials.consumer_key:
        return "invalid_client_id"
    if not _LOOPBACK_REDIRECT.fullmatch(params["redirect_uri"]):
        return "redirect_uri_mismatch"
    if params["code_challenge"] and params["code_challenge_method"] not in ("", "S256"):
        return "invalid_request"
    return None


def _consent_answer(server: EmulatorServer, form: dict[str, str]) -> Response:
    with server.oauth.lock:
        params = server.oauth.tickets.pop(form["ticket"], None)
    if params is None:
        return _page(400, "Error", "<p id='error'>error=invalid_request (this page expired)</p>")
    answer: dict[str, str]
    if form.get("decision") != "allow":
        answer = {"error": "access_denied", "error_description": "end-user denied authorization"}
    else:
        code = "aPrx" + wire.random_token(60)
        with server.oauth.lock:
            server.oauth.codes[code] = _Code(params["client_id"], params["redirect_uri"],
                                             params["code_challenge"] or None, "S256",
                                             time.time() + CODE_TTL, params["user"])  # fmt: skip
        server.oauth.remember(code)
        answer = {"code": code}
    if params["state"]:
        answer["state"] = params["state"]
    location = params["redirect_uri"] + ("&" if "?" in params["redirect_uri"] else "?") + urlencode(answer)
    return Response(302, b"", content_type=wire.HTML_TYPE, headers={"Location": location})


def _login_page(params: dict[str, str], *, error: str | None) -> Response:
    hidden = "".join(f"<input type='hidden' name='{k}' value='{html.escape(v, quote=True)}'>"
                     for k, v in params.items())  # fmt: skip
    shown = f"<div id='error' class='error'>{html.escape(error)}</div>" if error else ""
    body = f"""
<form id="login_form" method="post" action="/services/oauth2/authorize">{hidden}{shown}
  <label for="username">Username</label>
  <input id="username" name="username" type="email" autocomplete="username" required>
  <label for="password">Password</label>
  <input id="password" name="pw" type="password" autocomplete="current-password" required>
  <input id="Login" class="button" type="submit" value="Log In">
</form>"""
    return _page(200, "Login | Salesforce", body)


def _consent_page(ticket: str, username: str) -> Response:
    body = f"""
<h2>Allow Access?</h2>
<p>sfbackup is asking to:</p>
<ul><li>Access and manage your data (api)</li>
<li>Perform requests on your behalf at any time (refresh_token, offline_access)</li></ul>
<p>You are logged in as <b>{html.escape(username)}</b>.</p>
<form method="post" action="/services/oauth2/authorize">
  <input type="hidden" name="ticket" value="{ticket}">
  <button id="oaapprove" class="button" name="decision" value="allow" type="submit">Allow</button>
  <button id="oadeny" class="button" name="decision" value="deny" type="submit">Deny</button>
</form>"""
    return _page(200, "Allow Access? | Salesforce", body)


_STYLE = (
    "body{font-family:Arial,sans-serif;background:#f3f2f2;margin:0}"
    ".card{background:#fff;width:360px;margin:60px auto;padding:24px;border:1px solid #ddd;border-radius:4px}"
    "h1{color:#00a1e0;font-size:22px}label{display:block;margin-top:12px;color:#54698d;font-size:13px}"
    "input[type=email],input[type=password],input[type=text]{width:100%;padding:8px;box-sizing:border-box}"
    ".button{margin-top:16px;background:#0070d2;color:#fff;border:0;padding:10px 16px;border-radius:4px}"
    ".error{color:#c23934;margin-top:8px}"
)


def _page(status: int, title: str, body: str) -> Response:
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><div class='card'><h1>salesforce (emulator)</h1>"
            f"{body}</div></body></html>")  # fmt: skip
    return Response(status, page.encode("utf-8"), content_type="text/html;charset=UTF-8")


# -- the device flow ------------------------------------------------------------------------------

def _device_start(server: EmulatorServer, request: Request, form: dict[str, str]) -> Response:
    if form.get("client_id") != server.credentials.consumer_key:
        return _error(request, "invalid_client_id", "client identifier invalid")
    device_code = wire.random_token(64)
    user_code = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
    with server.oauth.lock:
        server.oauth.devices[device_code] = _Device(form["client_id"], user_code, time.time() + DEVICE_TTL)
    server.oauth.remember(device_code)
    return wire.json_response(request, 200, {
        "device_code": device_code, "user_code": user_code,
        "verification_uri": f"{server.instance_url}/setup/connect",
        "interval": server.config.device_interval,
    })  # fmt: skip


def _device_poll(server: EmulatorServer, request: Request, form: dict[str, str]) -> Response:
    problem = _client_ok(server, form)
    if problem is not None:
        return _error(request, *problem)
    now = time.time()
    state = server.oauth
    with state.lock:
        device = state.devices.get(form.get("code", ""))
        if device is None or device.expires_at < now:
            return _error(request, "invalid_grant", "expired authorization code")
        too_soon = device.last_poll is not None and now - device.last_poll < server.config.device_interval
        device.last_poll = now
        if too_soon:
            return _error(request, "slow_down", "polling too frequently")
        if not device.approved:
            return _error(request, "authorization_pending", "authorization pending")
        del state.devices[form["code"]]
    return _tokens(server, request, "device", device.user or server.config.user, refresh=True)


def device_page(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``/setup/connect``: the user enters the code and logs in (GET shows, POST approves)."""
    if request.method == "GET":
        return _device_form(request.param("user_code") or "", error=None)
    form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
    user_code = form.get("user_code", "").strip().upper()
    user = routes_auth._password_user(server, form.get("username"), form.get("pw"))
    if user is None:
        return _device_form(user_code, error="Please check your username and password.")
    with server.oauth.lock:
        device = next((d for d in server.oauth.devices.values() if d.user_code == user_code), None)
        if device is not None:
            device.approved, device.user = True, user
    if device is None:
        return _device_form(user_code, error="The code is invalid or expired.")
    return _page(200, "Connected | Salesforce", "<p id='connected'>You're connected. Return to your "
                 "device to continue.</p>")


def _device_form(user_code: str, *, error: str | None) -> Response:
    shown = f"<div id='error' class='error'>{html.escape(error)}</div>" if error else ""
    body = f"""
<h2>Connect Your Device</h2>{shown}
<form method="post" action="/setup/connect">
  <label for="user_code">Code</label>
  <input id="user_code" name="user_code" type="text" value="{html.escape(user_code, quote=True)}" required>
  <label for="username">Username</label><input id="username" name="username" type="email" required>
  <label for="password">Password</label><input id="password" name="pw" type="password" required>
  <input id="connect" class="button" type="submit" value="Connect">
</form>"""
    return _page(200, "Connect Your Device | Salesforce", body)


# -- revocation -----------------------------------------------------------------------------------

def revoke(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``POST /services/oauth2/revoke`` (or ``GET ?token=``): a refresh or access token."""
    form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
    presented = form.get("token") or request.param("token") or ""
    state = server.oauth
    with state.lock:
        if _refresh_user(server, presented) is not None:
            state.refresh_tokens.pop(presented, None)
            state.revoked.add(presented)
            return Response(200, b"", content_type=None)
    if server.sessions.valid(presented):
        server.sessions.invalidate(presented)
        return Response(200, b"", content_type=None)
    return _error(request, "unsupported_token_type", "this token type is not supported")


# -- SOAP login(), where Salesforce still has it --------------------------------------------------

def soap_login(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``POST /services/Soap/u/{version}``: refused above API 64.0 and in orgs created after
    Winter '26 (`ServerConfig.soap_login_disabled`), else `routes_auth.soap_login`."""
    version = match.group("version")
    major = int(float(version)) if re.fullmatch(r"\d+(\.\d+)?", version) else 0
    if major > SOAP_LOGIN_MAX_VERSION:
        return routes_auth._soap_fault(
            "INVALID_OPERATION",
            f"SOAP API login() is not available in API version {version}; it is available in API version "
            f"{SOAP_LOGIN_MAX_VERSION}.0 and earlier. Use OAuth to authenticate.",
        )
    if server.config.soap_login_disabled:
        return routes_auth._soap_fault(
            "INVALID_OPERATION",
            "SOAP API login() is disabled by default in this org. An admin must enable it, or use OAuth "
            "to authenticate.",
        )
    return routes_auth.soap_login(server, request, match)

