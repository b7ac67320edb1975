"""Logins: OAuth token endpoint (password, refresh_token, client_credentials, JWT bearer), SOAP
partner ``login()``, userinfo, and the session table every authenticated route checks.

Sessions are ``<org id>!<random>`` (the shape the Salesforce CLI insists on) and expire
``session_ttl`` seconds after they were issued; an unknown or expired session answers 401
``INVALID_SESSION_ID``. 127.0.0.1 counts as a trusted IP range, so the security token may be
appended to the password or left out, as Salesforce allows for trusted networks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from sfbackup.emulator.http import wire
from sfbackup.emulator.http.wire import Request, Response
from sfbackup.emulator.org.access import ADMIN, RESTRICTED

if TYPE_CHECKING:
    from sfbackup.emulator.http.server import EmulatorServer

_NAMES = {ADMIN: ("Emulator", "Admin"), RESTRICTED: ("Integration", "User")}
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_INVALID_LOGIN = "Invalid username, password, security token; or user locked out."


@dataclass
class Session:
    token: str
    issued_at: float
    expires_at: float
    user: str  # who logged in: access.ADMIN or access.RESTRICTED


class Sessions:
    """Issued access tokens and their expiry (thread-safe)."""

    def __init__(self, server: EmulatorServer) -> None:
        self._server = server
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def issue(self, user: str | None = None) -> str:
        """A new session for `user` (default: the user the server was started for)."""
        org_id = str(self._server.credentials.org_id)
        token = f"{org_id}!{wire.random_token(96)}"
        now = time.time()
        with self._lock:
            self._sessions[token] = Session(
                token, now, now + self._server.config.session_ttl, user or self._server.config.user
            )
        return token

    def user_of(self, request: Request) -> str:
        """Who the request's session belongs to (the server's user when it carries none)."""
        token = bearer_token(request)
        with self._lock:
            session = self._sessions.get(token) if token is not None else None
        return session.user if session is not None else self._server.config.user

    def user_for(self, token: str) -> str:
        """Who a session token belongs to (the server's user for an unknown one)."""
        with self._lock:
            session = self._sessions.get(token)
        return session.user if session is not None else self._server.config.user

    def invalidate(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(token, None)

    def invalidate_all(self) -> None:
        with self._lock:
            self._sessions.clear()

    def valid(self, token: str) -> bool:
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return False
            if session.expires_at <= time.time():
                del self._sessions[token]
                return False
            return True

    @property
    def refresh_token(self) -> str:
        """The long-lived refresh token of the server's user."""
        return self.refresh_token_for(self._server.config.user)

    def refresh_token_for(self, user: str) -> str:
        """`user`'s long-lived refresh token (derived, so it is stable for a seed)."""
        creds = self._server.org.users[user]
        digest = hashlib.sha256(f"refresh:{creds.consumer_secret}:{creds.username}".encode()).hexdigest()
        return "5Aep861" + digest[:80]

    def authenticate(self, request: Request) -> Response | None:
        """None when the request carries a live session, else the 401 to send."""
        token = bearer_token(request)
        if token is not None and self.valid(token):
            if not self._server.faults.fires("session_expiry", request.method, request.path):
                return None
            self.invalidate(token)
        return wire.error_response(request, 401, "INVALID_SESSION_ID", "Session expired or invalid")


def bearer_token(request: Request) -> str | None:
    header = request.header("Authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    return request.header("X-SFDC-Session")


# -- OAuth token endpoint -------------------------------------------------------------------------

def token(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``POST /services/oauth2/token`` (refresh, code and device grants: `routes_oauth.token`)."""
    form = {k: v[0] for k, v in _form(request).items()}
    grant = form.get("grant_type", "")
    creds = server.credentials
    if grant == "password":
        if form.get("client_id") != creds.consumer_key:
            return _oauth_error(request, "invalid_client_id", "client identifier invalid")
        if form.get("client_secret") != creds.consumer_secret:
            return _oauth_error(request, "invalid_client", "invalid client credentials")
        user = _password_user(server, form.get("username"), form.get("password"))
        if user is None:
            return _oauth_error(request, "invalid_grant", "authentication failure")
        return _token_response(server, request, user)
    if grant == "client_credentials":
        key, secret = _client_credentials(request, form)
        if key != creds.consumer_key or secret != creds.consumer_secret:
            return _oauth_error(request, "invalid_client", "invalid client credentials")
        # the connected app's "Run As" user is the one the server was started for
        return _token_response(server, request, server.config.user, scope="api")
    if grant == JWT_GRANT:
        problem, user = _jwt_problem(server, form.get("assertion", ""))
        if problem is not None:
            return _oauth_error(request, *problem)
        return _token_response(server, request, user)
    return _oauth_error(request, "unsupported_grant_type", "grant type not supported")


def _form(request: Request) -> dict[str, list[str]]:
    from urllib.parse import parse_qs

    return parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)


def _password_user(server: EmulatorServer, username: str | None, password: str | None) -> str | None:
    """The user (access.ADMIN or access.RESTRICTED) these credentials log in as, or None."""
    for user, creds in server.org.users.items():
        accepted = (creds.password, f"{creds.password}{creds.security_token}")
        if username == creds.username and password in accepted:
            return user
    return None


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    header = request.header("Authorization") or ""
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode()
        except ValueError:
            return None, None
        key, _, secret = decoded.partition(":")
        return key, secret
    return form.get("client_id"), form.get("client_secret")


def _jwt_problem(server: EmulatorServer, assertion: str) -> tuple[tuple[str, str] | None, str]:
    """(None, the user its `sub` names) for a good assertion, else ((error, description), "")."""
    creds = server.credentials
    try:
        public_key = _jwt_public_key(str(creds.jwt_certificate_pem))
        claims = jwt.decode(assertion, public_key, algorithms=["RS256"],
                            options={"require": ["iss", "sub", "aud", "exp"], "verify_aud": False})
    except jwt.ExpiredSignatureError:
        return ("invalid_grant", "expired authorization code"), ""
    except jwt.PyJWTError:
        return ("invalid_grant", "invalid assertion"), ""
    if claims.get("iss") != creds.consumer_key:
        return ("invalid_client_id", "client identifier invalid"), ""
    if not _audience_ok(server, claims.get("aud")):
        return ("invalid_grant", "audience is invalid"), ""
    user = next((u for u, c in server.org.users.items() if claims.get("sub") == c.username), None)
    if user is None:
        return ("invalid_grant", "user hasn't approved this consumer"), ""
    return None, user


def _jwt_public_key(pem: str) -> Any:
    data = pem.encode()
    if b"BEGIN CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return load_pem_public_key(data)


def _audience_ok(server: EmulatorServer, audience: Any) -> bool:
    values = audience if isinstance(audience, list) else [audience]
    allowed = {"https://login.salesforce.com", "https://test.salesforce.com", server.instance_url}
    return any(
        isinstance(value, str)
        and (value.rstrip("/") in allowed or re.fullmatch(r"https://[\w.-]+\.my\.salesforce\.com/?", value))
        for value in values
    )


def _token_response(server: EmulatorServer, request: Request, user: str,
                    scope: str | None = None) -> Response:
    creds = server.org.users[user]
    access_token = server.sessions.issue(user)
    issued_at = str(int(time.time() * 1000))
    identity = f"{server.instance_url}/id/{creds.org_id}/{creds.user_id}"
    secret = str(creds.consumer_secret).encode()
    digest = hmac.new(secret, (identity + issued_at).encode(), hashlib.sha256).digest()
    signature = base64.b64encode(digest).decode()
    body: dict[str, Any] = {
        "access_token": access_token,
        "instance_url": server.instance_url,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": signature,
    }
    if scope is not None:
        body["scope"] = scope
    return wire.json_response(request, 200, body)


def _oauth_error(request: Request, error: str, description: str) -> Response:
    return wire.json_response(request, 400, {"error": error, "error_description": description})


# -- SOAP partner login ---------------------------------------------------------------------------

def soap_login(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``POST /services/Soap/u/{version}`` with a partner ``login`` envelope."""
    version = match.group("version")
    try:
        root = ElementTree.fromstring(request.body)
    except ElementTree.ParseError:
        return _soap_fault("INVALID_LOGIN", _INVALID_LOGIN)
    fields = {element.tag.rsplit("}", 1)[-1]: (element.text or "") for element in root.iter()}
    if "login" not in fields:
        return _soap_fault("INVALID_OPERATION", "Only the login operation is emulated",
                           code="UNKNOWN_EXCEPTION")
    user = _password_user(server, fields.get("username"), fields.get("password"))
    if user is None:
        return _soap_fault("INVALID_LOGIN", _INVALID_LOGIN)
    creds = server.org.users[user]
    session_id = server.sessions.issue(user)
    base = server.instance_url
    xml = f"""<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result><metadataServerUrl>{base}/services/Soap/m/{version}/{creds.org_id}</metadataServerUrl><passwordExpired>false</passwordExpired><sandbox>false</sandbox><serverUrl>{base}/services/Soap/u/{version}/{creds.org_id}</serverUrl><sessionId>{session_id}</sessionId><userId>{creds.user_id}</userId><userInfo><accessibilityMode>false</accessibilityMode><currencySymbol>$</currencySymbol><orgAttachmentFileSizeLimit>5242880</orgAttachmentFileSizeLimit><orgDefaultCurrencyIsoCode>USD</orgDefaultCurrencyIsoCode><orgDisallowHtmlAttachments>false</orgDisallowHtmlAttachments><orgHasPersonAccounts>false</orgHasPersonAccounts><organizationId>{creds.org_id}</organizationId><organizationMultiCurrency>false</organizationMultiCurrency><organizationName>{escape(str(creds.organization_name))}</organizationName><profileId>00e000000000001AAA</profileId><roleId xsi:nil="true"/><sessionSecondsValid>{int(server.config.session_ttl)}</sessionSecondsValid><userDefaultCurrencyIsoCode xsi:nil="true"/><userEmail>{escape(str(creds.username))}</userEmail><userFullName>Emulator Admin</userFullName><userId>{creds.user_id}</userId><userLanguage>en_US</userLanguage><userLocale>en_US</userLocale><userName>{escape(str(creds.username))}</userName><userTimeZone>GMT</userTimeZone><userType>Standard</userType><userUiSkin>Theme3</userUiSkin></userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"""  # noqa: E501
    return Response(200, xml.encode(), content_type=wire.XML_TYPE, compressible=True)


def _soap_fault(exception_code: str, message: str, code: str | None = None) -> Response:
    fault_code = code or exception_code
    xml = f"""<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault><faultcode>sf:{fault_code}</faultcode><faultstring>{fault_code}: {escape(message)}</faultstring><detail><sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{exception_code}</sf:exceptionCode><sf:exceptionMessage>{escape(message)}</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"""  # noqa: E501
    return Response(500, xml.encode(), content_type=wire.XML_TYPE)


# -- identity -------------------------------------------------------------------------------------

def userinfo(server: EmulatorServer, request: Request, match: re.Match[str]) -> Response:
    """``GET /services/oauth2/userinfo`` (and the identity URL ``/id/{org}/{user}``): the session's user."""
    user = server.sessions.user_of(request)
    creds = server.org.users[user]
    given, family = _NAMES[user]
    base = server.instance_url
    identity = f"{base}/id/{creds.org_id}/{creds.user_id}"
    body = {
        "sub": identity,
        "user_id": creds.user_id,
        "organization_id": creds.org_id,
        "preferred_username": creds.username,
        "nickname": str(creds.username).split("@")[0],
        "name": f"{given} {family}",
        "email": creds.username,
        "email_verified": True,
        "given_name": given,
        "family_name": family,
        "zoneinfo": "GMT",
        "profile": f"{base}/{creds.user_id}",
        "active": True,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": 0,
        "urls": {
            "rest": f"{base}/services/data/v{{version}}/",
            "sobjects": f"{base}/services/data/v{{version}}/sobjects/",
            "query": f"{base}/services/data/v{{version}}/query/",
            "profile": f"{base}/{creds.user_id}",
        },
        "is_app_installed": True,
        "updated_at": "2024-01-01T00:00:00Z",
    }
    if match.groupdict().get("org"):
        body = {"id": identity, "asserted_user": True, "username": creds.username, **body}
    return wire.json_response(request, 200, body)
