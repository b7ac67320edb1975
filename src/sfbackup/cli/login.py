"""`sfbackup login` / `sfbackup logout`: OAuth once, by a person; refresh tokens for every run after."""

from __future__ import annotations

import argparse
import sys
import webbrowser
from typing import Any

from sfbackup.cli.common import add_command, add_config_arguments, settings_from_args
from sfbackup.config import Settings
from sfbackup.errors import ConfigError
from sfbackup.salesforce import auth, oauth
from sfbackup.salesforce.token_store import StoredLogin
from sfbackup.salesforce.transport import rewriting_session

SANDBOX_LOGIN_URL = "https://test.salesforce.com"

LOGIN_DESCRIPTION = f"""\
Log in to an org with OAuth 2.0 and keep the refresh token for unattended runs: in the OS keyring
where there is one, else in the file connection.token_file names (mode 0600). Never in the
repository, logs or reports. `sfbackup run` with the same settings then logs in on its own.

By default the web server flow with PKCE: a browser opens the org's login page, and sfbackup
catches the answer once on 127.0.0.1 (callback http://localhost:{oauth.DEFAULT_CALLBACK_PORT}/OauthRedirect).
--device is the device flow for machines without a browser: enter the code shown on any device.

It needs a connected app (or external client app) with the consumer key in connection.consumer_key
or SF_CONSUMER_KEY: docs/connected-app.md lists its exact settings (callback URL, scopes
`api refresh_token`, PKCE, device flow). Already logged in with the Salesforce CLI? Skip this and
use `sfbackup run --sf-org ALIAS`.

examples:
  sfbackup login --config /etc/sfbackup.toml
  sfbackup login --sandbox                        # https://test.salesforce.com
  sfbackup login --instance-url https://acme.my.salesforce.com --device
"""

LOGOUT_DESCRIPTION = """\
Revoke the stored refresh token at the org (/services/oauth2/revoke) and delete it from the
keyring or token file. Runs with these settings need `sfbackup login` again afterwards.
"""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "login", help="log in with OAuth and store the refresh token",
                         description=LOGIN_DESCRIPTION)  # fmt: skip
    add_login_url_arguments(parser)
    parser.add_argument("--device", action="store_true",
                        help="device flow: show a code to enter at the org's verification page")
    parser.add_argument("--no-browser", action="store_true",
                        help="print the login URL, do not open a browser")
    parser.add_argument("--port", type=int, default=oauth.DEFAULT_CALLBACK_PORT,
                        help="port of the callback listener on 127.0.0.1 (the connected app's callback URL "
                             f"names it; default {oauth.DEFAULT_CALLBACK_PORT}, 0: any free port)")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="how long to wait for the browser (default 300) or the device code (600)")
    parser.set_defaults(handler=handle_login)

    logout = add_command(subparsers, "logout", help="revoke and delete the stored refresh token",
                         description=LOGOUT_DESCRIPTION)  # fmt: skip
    add_login_url_arguments(logout)
    logout.set_defaults(handler=handle_logout)


def add_login_url_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--login-url", help="login host: https://login.salesforce.com (default), a My Domain")
    parser.add_argument("--sandbox", action="store_true", help=f"log in at {SANDBOX_LOGIN_URL}")


def _oauth_settings(args: argparse.Namespace) -> tuple[Settings, str]:
    overrides: dict[str, Any] = {"connection.auth": "oauth"}
    if args.sandbox and args.login_url:
        raise ConfigError("--sandbox and --login-url contradict each other", hint="give one of them")
    if args.sandbox or args.login_url:
        overrides["connection.login_url"] = SANDBOX_LOGIN_URL if args.sandbox else args.login_url
    settings = settings_from_args(args, overrides)
    return settings, auth.login_base_url(settings.connection)


def handle_login(args: argparse.Namespace) -> int:
    settings, base = _oauth_settings(args)
    connection = settings.connection
    secrets = connection.secrets
    if not secrets.consumer_key:
        raise ConfigError(
            "`sfbackup login` needs the consumer key of a connected app with OAuth enabled",
            hint="set connection.consumer_key in the config (or SF_CONSUMER_KEY); docs/connected-app.md "
            "shows how to create the app. Or reuse a Salesforce CLI login: `sfbackup run --sf-org ALIAS`",
        )
    store = auth.open_token_store(connection)  # fails before the user logs in, not after
    client = oauth.OAuthClient(base, secrets.consumer_key, secrets.consumer_secret,
                               timeout_seconds=connection.timeout_seconds)  # fmt: skip
    http = rewriting_session(base, verify=connection.verify)
    if args.device:
        device = oauth.start_device(http, client)
        _tell(f"To log in, open {device.verification_uri} on any device and enter the code "
              f"{device.user_code}")
        _tell("waiting for the approval ...")
        grant = oauth.poll_device(http, client, device, timeout_seconds=args.timeout or 600.0)
        flow = "device"
    else:
        grant = oauth.web_login(http, client, open_url=lambda url: _open(url, browser=not args.no_browser),
                                port=args.port, timeout_seconds=args.timeout or 300.0)  # fmt: skip
        flow = "web"
    if not grant.refresh_token:
        raise ConfigError(
            f"{base} issued no refresh token, so runs could not log in on their own",
            hint="add the scope `refresh_token` (Perform requests at any time) to the connected app "
            "(docs/connected-app.md)",
        )
    stored = StoredLogin(login_url=base, client_id=client.client_id, instance_url=grant.instance_url,
                         refresh_token=grant.refresh_token, flow=flow, org_id=grant.org_id)
    store.save(base, stored)
    print(f"logged in to {grant.instance_url} (org {grant.org_id or 'unknown'}) with the {flow} flow; the "
          f"refresh token is kept in {store.description}", flush=True)
    run_settings = settings_from_args(args).connection
    if run_settings.auth != "oauth":
        _tell(f"note: runs with these settings still use the {run_settings.auth} login; set connection.auth "
              "= 'oauth' or remove that flow's secrets (SF_PASSWORD ...) so they use this login")
    elif auth.login_base_url(run_settings) != base:
        _tell(f"note: runs find this login only with login_url = '{base}' in the [connection] section "
              "of their config (or SF_LOGIN_URL)")
    return 0


def handle_logout(args: argparse.Namespace) -> int:
    settings, base = _oauth_settings(args)
    store = auth.open_token_store(settings.connection)
    stored = store.load(base)
    if stored is None:
        print(f"no stored login for {base} in {store.description}; nothing to do", flush=True)
        return 0
    client = oauth.OAuthClient(stored.login_url, stored.client_id,
                               timeout_seconds=settings.connection.timeout_seconds)  # fmt: skip
    http = rewriting_session(stored.login_url, verify=settings.connection.verify)
    revoked = oauth.revoke(http, client, stored.refresh_token)
    store.delete(base)
    state = "revoked at the org" if revoked else "already invalid at the org"
    print(f"logged out of {stored.instance_url}: the refresh token was {state} and deleted from "
          f"{store.description}", flush=True)
    return 0


def _open(url: str, *, browser: bool) -> None:
    opened = False
    if browser:
        try:
            opened = webbrowser.open(url)
        except webbrowser.Error:
            opened = False
    if opened:
        _tell("a browser window opened for the login; if none did, open this URL:")
    else:
        _tell("open this URL in a browser to log in:")
    _tell(url)


def _tell(line: str) -> None:
    print(line, file=sys.stderr, flush=True)

