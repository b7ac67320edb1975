"""Log in to an org and describe the resulting session.

``oauth`` (the default) renews the refresh token `sfbackup login` stored (`oauth`, `token_store`);
``sf_org`` takes the access token of a Salesforce CLI login (`sf org display --json`). Every flow
simple-salesforce offers is reachable too: SOAP username + password + security token, OAuth
username-password (consumer key/secret), JWT bearer (consumer key + private key), client
credentials (on the org's My Domain), and an existing access token with its instance URL. When the
login or instance URL is not an https ``*.salesforce.com`` URL (the emulator, a proxy), the caller's
session must rewrite simple-salesforce's hard-coded ``https://*.salesforce.com`` URLs: see
`transport.rewriting_session`. Errors name the method and which settings were used, never values.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed
from simple_salesforce.exceptions import SalesforceError as SimpleSalesforceError

from sfbackup.errors import AuthenticationFailed, ConfigError, OrgUnreachable, redact
from sfbackup.salesforce import oauth, token_store
from sfbackup.salesforce.connection import SECRET_ENV, ConnectionSettings
from sfbackup.salesforce.transport import RewritingAdapter, needs_rewriting, rewriting_session

__all__ = [
    "DEFAULT_LOGIN_URL", "OrgSession", "login", "login_base_url", "open_token_store", "session_base_url",
]

log = logging.getLogger("sfbackup.salesforce.auth")

DEFAULT_LOGIN_URL = "https://login.salesforce.com"
_SF_SUFFIX = ".salesforce.com"
# Any *.salesforce.com domain works for simple-salesforce when the session rewrites it anyway.
_REWRITTEN_MY_DOMAIN = "sfbackup-local.my"


@dataclass(frozen=True)
class OrgSession:
    """A logged-in session: where the org's API is, the bearer token, and who we are."""

    instance_url: str
    access_token: str = field(repr=False)
    api_version: str
    org_id: str | None
    user_id: str | None
    #: How the session was obtained (for the manifest; never a secret): e.g. ``oauth_refresh_token``.
    flow: str = ""


def login_base_url(settings: ConnectionSettings) -> str:
    """Where login requests go: `login_url`, else a My Domain / emulator instance URL, else login."""
    if settings.login_url:
        return settings.login_url
    instance = settings.instance_url
    if instance and (settings.auth in ("client_credentials", "access_token") or needs_rewriting(instance)):
        return instance
    if instance and (urlsplit(instance).hostname or "").endswith(".my.salesforce.com"):
        return instance  # every flow works on the My Domain, sandboxes included
    return DEFAULT_LOGIN_URL


def session_base_url(settings: ConnectionSettings) -> str:
    """The base URL a `transport.rewriting_session` for these settings must send rewritten requests to."""
    if settings.instance_url and needs_rewriting(settings.instance_url):
        return settings.instance_url
    return login_base_url(settings)


def unreachable_cause(exc: BaseException) -> str | None:
    """"connection refused" or "host name not found" when `exc` says nothing listens at that
    address or the name does not resolve (retrying will not help at login), else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused: nothing listens at that address and port"
        if isinstance(current, socket.gaierror) or "NameResolutionError" in type(current).__name__:
            return "host name not found (DNS)"
        current = current.__cause__ or current.__context__ or (
            current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        )
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused: nothing listens at that address and port"
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo failed" in text:
        return "host name not found (DNS)"
    return None


def login(settings: ConnectionSettings, http: requests.Session) -> OrgSession:
    """Log in with the flow `settings.auth` names and return the session, with org and user ids."""
    if settings.auth == "oauth":
        return _stored_oauth_login(settings, http)
    if settings.auth == "sf_org":
        return _sf_org_login(settings, http)
    method = settings.auth
    base = login_base_url(settings)
    used = _used_settings(settings)
    if needs_rewriting(base) and not isinstance(
        http.get_adapter("https://login.salesforce.com/"), RewritingAdapter
    ):
        # simple-salesforce only builds https://*.salesforce.com URLs; they must reach `base`.
        http = rewriting_session(session_base_url(settings), verify=settings.verify)
    try:
        sf = _salesforce(settings, http, base)
    except SalesforceAuthenticationFailed as exc:
        raise _auth_failed(settings, base, used, exc) from None
    except requests.exceptions.SSLError as exc:
        raise OrgUnreachable(
            f"TLS verification failed for {base} during the {method} login: {type(exc).__name__}",
            hint="set connection.ca_bundle to your CA bundle (a TLS-inspecting proxy needs one)",
            url=base,
            tls=True,
        ) from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        cause = unreachable_cause(exc)
        raise OrgUnreachable(
            f"cannot reach {base} for the {method} login ({cause or type(exc).__name__})",
            hint="check the network, connection.login_url / connection.instance_url, and any proxy",
            url=base,
            no_such_server=cause is not None,
        ) from None
    except SimpleSalesforceError as exc:
        raise AuthenticationFailed(
            f"the {method} login at {base} failed with HTTP {exc.status}; used {used}",
        ) from None
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        # PyJWT / cryptography refuse a broken private key with these.
        if method == "jwt":
            raise AuthenticationFailed(
                f"the private key from {settings.secrets.source('private_key')} cannot sign a JWT "
                f"({type(exc).__name__})",
                hint="give the unencrypted PEM RSA private key matching the connected app's certificate",
            ) from None
        raise

    instance_url = _instance_url(str(sf.sf_instance), settings, base)
    token = str(sf.session_id)
    org_id, user_id = _identity(http, instance_url, token, settings, used)
    log.info("logged in to %s with the %s flow (org %s)", instance_url, method, org_id or "unknown")
    return OrgSession(
        instance_url=instance_url,
        access_token=token,
        api_version=settings.api_version,
        org_id=org_id,
        user_id=user_id,
        flow=_flow_name(settings),
    )


def open_token_store(settings: ConnectionSettings) -> token_store.TokenStore:
    """Where `sfbackup login` keeps refresh tokens for these settings."""
    return token_store.open_store(settings.token_store, settings.token_file)


def _flow_name(settings: ConnectionSettings) -> str:
    if settings.auth == "password":
        secrets = settings.secrets
        oauth_password = secrets.is_set("consumer_key") and secrets.is_set("consumer_secret")
        return "oauth_username_password" if oauth_password else "soap_login"
    return settings.auth


def _stored_oauth_login(settings: ConnectionSettings, http: requests.Session) -> OrgSession:
    """A fresh access token from the refresh token `sfbackup login` stored; a rotated one is saved."""
    key = login_base_url(settings)
    store = open_token_store(settings)
    stored = store.load(key)
    if stored is None:
        raise AuthenticationFailed(
            f"no stored login for {key} in {store.description}",
            hint="run `sfbackup login` once (same --config / --instance-url as the runs), or pick another "
            "flow with connection.auth (docs/connected-app.md)",
        )
    client = oauth.OAuthClient(stored.login_url, stored.client_id, settings.secrets.consumer_secret,
                               timeout_seconds=settings.timeout_seconds)  # fmt: skip
    try:
        grant = oauth.refresh(http, client, stored.refresh_token)
    except AuthenticationFailed as exc:
        if exc.details.get("error_code") not in ("invalid_grant", "inactive_user", "inactive_org"):
            raise
        raise AuthenticationFailed(
            f"the refresh token stored in {store.description} for {key} was refused ({exc.message}): "
            "it was revoked, expired under the connected app's refresh-token policy, or rotated elsewhere",
            hint="run `sfbackup login` again",
            error_code=exc.details.get("error_code"),
        ) from None
    if grant.refresh_token and grant.refresh_token != stored.refresh_token:
        store.save(key, replace(stored, refresh_token=grant.refresh_token))
        log.info("the org rotated the refresh token; the new one is saved in %s", store.description)
    org_id, user_id = _identity(http, grant.instance_url, grant.access_token, settings, "the stored login")
    log.info("logged in to %s with the stored refresh token (org %s)", grant.instance_url, org_id or "-")
    return OrgSession(
        instance_url=grant.instance_url, access_token=grant.access_token, api_version=settings.api_version,
        org_id=org_id or grant.org_id, user_id=user_id or grant.user_id, flow="oauth_refresh_token",
    )  # fmt: skip


def _sf_org_login(settings: ConnectionSettings, http: requests.Session) -> OrgSession:
    """The access token and instance URL of a Salesforce CLI login (`sf org display --json`)."""
    alias = settings.sf_org
    if not alias:
        raise ConfigError("the sf_org login needs the CLI's alias or username",
                          hint="pass --sf-org ALIAS or set connection.sf_org")  # fmt: skip
    executable = shutil.which("sf")
    if executable is None:
        raise ConfigError(
            "--sf-org needs the Salesforce CLI (`sf`), which is not on PATH",
            hint="install it (`npm install -g @salesforce/cli`) or log in with `sfbackup login`",
        )
    result = _sf_json(executable, ["org", "display"], alias, settings.timeout_seconds)
    token = str(result.get("accessToken") or "")
    if not token or token.startswith("[REDACTED"):
        # sf 2.x hides the token from `org display`; `org auth show-access-token` is its replacement.
        token = str(_sf_json(executable, ["org", "auth", "show-access-token"], alias,
                             settings.timeout_seconds).get("accessToken") or "")  # fmt: skip
    if not token or not result.get("instanceUrl"):
        raise AuthenticationFailed(
            f"the Salesforce CLI gave no access token or instance URL for {alias!r}",
            hint=f"log the CLI in again: `sf org login web --alias {alias}`",
        )
    instance_url = str(result["instanceUrl"]).rstrip("/")
    org_id, user_id = _identity(http, instance_url, token, settings, f"the sf CLI login {alias!r}")
    log.info("logged in to %s with the sf CLI's login %r (org %s)", instance_url, alias, org_id or "unknown")
    return OrgSession(
        instance_url=instance_url, access_token=token, api_version=settings.api_version,
        org_id=org_id or (str(result["id"]) if result.get("id") else None), user_id=user_id, flow="sf_org",
    )  # fmt: skip


def _sf_json(executable: str, command: list[str], alias: str, timeout: float) -> dict[str, Any]:
    """The ``result`` of ``sf <command> --target-org <alias> --json`` (its output is never logged)."""
    shown = f"`sf {' '.join(command)} --target-org {alias} --json`"
    try:
        done = subprocess.run([executable, *command, "--target-org", alias, "--json"],
                              capture_output=True, timeout=timeout, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise OrgUnreachable(f"{shown} did not answer within {timeout:g} s", url=alias) from None
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        answer = None
    result = answer.get("result") if isinstance(answer, dict) else None
    if done.returncode != 0 or not isinstance(result, dict):
        what = "no JSON answer"
        if isinstance(answer, dict):
            what = f"{answer.get('name', 'error')}: {' '.join(str(answer.get('message', '')).split())}"
        raise AuthenticationFailed(
            f"{shown} failed (exit {done.returncode}): {redact(what)[:300]}",
            hint=f"log the CLI in first: `sf org login web --alias {alias}` (add --instance-url for a "
            "sandbox or My Domain), or check the alias with `sf org list`",
        )
    return result


def _salesforce(settings: ConnectionSettings, http: requests.Session, base: str) -> Any:
    secrets = settings.secrets
    method = settings.auth
    domain = _domain(base)
    common: dict[str, Any] = {"session": http, "version": settings.api_version}
    if method == "access_token":
        _require(settings, "access_token")
        if not settings.instance_url:
            raise ConfigError(
                "the access_token login needs the instance URL the token belongs to",
                hint="set connection.instance_url or SF_INSTANCE_URL",
            )
        return Salesforce(session_id=secrets.access_token, instance_url=settings.instance_url, **common)
    if method == "jwt":
        _require(settings, "consumer_key", "private_key", username=True)
        # aud must be login or test; the token endpoint may be the My Domain host.
        aud = "test" if domain and (domain == "test" or ".sandbox." in f".{domain}.") else "login"
        token_host = domain if domain and domain not in ("login", "test") else None
        return Salesforce(
            username=settings.username,
            consumer_key=secrets.consumer_key,
            privatekey=secrets.private_key,
            domain=aud,
            instance_url=token_host,
            **common,
        )
    if method == "client_credentials":
        _require(settings, "consumer_key", "consumer_secret")
        if domain in (None, "login", "test") and not needs_rewriting(base):
            raise ConfigError(
                "the client_credentials login must go to the org's My Domain, not login/test.salesforce.com",
                hint="set connection.instance_url (or login_url) to https://<mydomain>.my.salesforce.com",
            )
        return Salesforce(
            consumer_key=secrets.consumer_key,
            consumer_secret=secrets.consumer_secret,
            domain=domain if domain not in (None, "login", "test") else _REWRITTEN_MY_DOMAIN,
            **common,
        )
    # password: OAuth when a connected app is configured, else SOAP login().
    _require(settings, "password", username=True)
    if secrets.is_set("consumer_key") and secrets.is_set("consumer_secret"):
        return Salesforce(
            username=settings.username,
            password=(secrets.password or "") + (secrets.security_token or ""),
            consumer_key=secrets.consumer_key,
            consumer_secret=secrets.consumer_secret,
            domain=domain or "login",
            **common,
        )
    return Salesforce(
        username=settings.username,
        password=secrets.password,
        security_token=secrets.security_token or "",
        domain=domain or "login",
        **common,
    )


def _domain(base: str) -> str | None:
    """simple-salesforce's `domain` for a login URL: the host without ``.salesforce.com``."""
    host = (urlsplit(base).hostname or "").lower()
    if host.endswith(_SF_SUFFIX) and urlsplit(base).scheme == "https":
        return host[: -len(_SF_SUFFIX)]
    return None


def _require(settings: ConnectionSettings, *secrets: str, username: bool = False) -> None:
    missing = [
        f"{s} ({SECRET_ENV[s]} or connection.{s}_file)" for s in secrets if not settings.secrets.is_set(s)
    ]
    if username and not settings.username:
        missing.insert(0, "username (SF_USERNAME or connection.username)")
    if missing:
        raise ConfigError(
            f"the {settings.auth} login needs " + ", ".join(missing),
            hint="set them, or choose another flow with connection.auth",
        )


def _used_settings(settings: ConnectionSettings) -> str:
    parts = ["connection.username"] if settings.username else []
    parts += [f"{name} from {settings.secrets.sources[name]}" for name in sorted(settings.secrets.sources)]
    return "; ".join(parts) or "no credentials"


def _auth_failed(
    settings: ConnectionSettings, base: str, used: str, exc: SalesforceAuthenticationFailed
) -> Exception:
    code = getattr(exc, "code", None)
    content = getattr(exc, "content", b"")
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
    if isinstance(code, int) and (code >= 500 or code in (408, 420, 429)):
        return OrgUnreachable(
            f"{base} answered HTTP {code} to the {settings.auth} login",
            hint="Salesforce is busy or down; retry later",
            url=base,
        )
    detail = redact(" ".join(text.split())[:200]) if not isinstance(code, int) else f"HTTP {code}"
    return AuthenticationFailed(
        f"the {settings.auth} login at {base} was refused: {code or 'error'}: {detail}; used {used}",
        hint="check those credentials (and, for SOAP logins from an untrusted IP, the security token)",
        error_code=str(code) if code else None,
    )


def _instance_url(sf_instance: str, settings: ConnectionSettings, base: str) -> str:
    """Turn simple-salesforce's ``host[:port]`` back into a URL, keeping http for a local emulator."""
    host = sf_instance.split("/")[0]
    for candidate in (settings.instance_url, base):
        if candidate and urlsplit(candidate).netloc.lower() == host.lower():
            return candidate.rstrip("/")
    if (
        needs_rewriting(base)
        and urlsplit(base).scheme == "http"
        and urlsplit(base).hostname == host.split(":")[0]
    ):
        return f"http://{host}"
    return f"https://{host}"


def _identity(
    http: requests.Session, instance_url: str, token: str, settings: ConnectionSettings, used: str
) -> tuple[str | None, str | None]:
    """(org id, user id) from the userinfo endpoint; the token's ``00D…!`` prefix if that is refused."""
    org_from_token = token.split("!", 1)[0] if "!" in token and token.startswith("00D") else None
    try:
        response = http.get(
            f"{instance_url}/services/oauth2/userinfo",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=settings.timeout_seconds,
        )
    except requests.RequestException as exc:
        raise OrgUnreachable(
            f"cannot reach {instance_url} after the {settings.auth} login ({type(exc).__name__})",
            url=instance_url,
        ) from None
    if response.status_code == 401 and settings.auth in ("access_token", "sf_org"):
        raise AuthenticationFailed(
            f"the access token was refused by {instance_url} (expired or revoked); used {used}",
            hint=f"log the Salesforce CLI in again: `sf org login web --alias {settings.sf_org}`"
            if settings.auth == "sf_org"
            else "get a fresh token (e.g. `sf org display`) or use a login flow that can renew itself",
        )
    if response.status_code != 200:
        log.debug("userinfo answered HTTP %s; org id taken from the token", response.status_code)
        return org_from_token, None
    try:
        info = response.json()
    except ValueError:
        return org_from_token, None
    org_id = info.get("organization_id") or org_from_token
    user_id = info.get("user_id")
    return (str(org_id) if org_id else None), (str(user_id) if user_id else None)
