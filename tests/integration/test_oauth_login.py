"""`sfbackup login` / `logout` and runs that live on the stored refresh token, against the emulator:
the web server flow (over HTTP, and in a real headless Chromium), the device flow with its polling
answers, refresh on expiry mid-run, rotation, revocation, a wrong PKCE verifier, a closed browser,
SOAP login() refused where Salesforce refuses it, and `--sf-org` with the real Salesforce CLI."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sfbackup.errors import AuthenticationFailed, ExitCode
from sfbackup.salesforce import oauth
from sfbackup.testing import running_emulator
from tests.oauth_helpers import (
    LoginProcess,
    approve_login_page,
    clean_env,
    oauth_config,
    run_cli,
    stored_refresh_token,
)

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    with running_emulator(records=10, seed=7, job_latency=0.02, large_file_bytes=10_000,
                          device_interval=1) as running:
        yield running


@pytest.fixture(autouse=True)
def default_server(emu: Any) -> Iterator[None]:
    yield
    emu.server.config.rotate_refresh_tokens = False
    emu.server.config.soap_login_disabled = False
    emu.faults.configure(type(emu.faults.config)())


@pytest.fixture
def config(emu: Any, tmp_path: Path) -> Path:
    return oauth_config(tmp_path / "sfbackup.toml", emu.credentials.consumer_key)


def login_args(emu: Any, config: Path, *extra: str) -> list[str]:
    return ["--config", str(config), "--instance-url", emu.instance_url, *extra]


def run_args(emu: Any, config: Path, repo: Path, *extra: str) -> list[str]:
    return ["run", "--repo", str(repo), *login_args(emu, config), "--objects", "Account,Contact",
            "--no-files", "--json", *extra]


def web_login(emu: Any, config: Path) -> str:
    """`sfbackup login` (web flow), the login page filled in over HTTP; returns the CLI's output."""
    login = LoginProcess(*login_args(emu, config, "--no-browser", "--port", "0", "--timeout", "30"),
                         env=clean_env())
    url = login.next_line(r"^(http\S+/services/oauth2/authorize\?\S+)").group(1)
    approve_login_page(url, emu.credentials.username, emu.credentials.password)
    code, output = login.finish()
    assert code == 0, output
    return output


def manifest_org(repo: Path) -> dict[str, Any]:
    manifests = sorted(repo.glob("snapshots/*/manifest.json"))
    return dict(json.loads(manifests[-1].read_text())["org"])


# -- the web server flow --------------------------------------------------------------------------


def test_given_a_web_login_when_runs_follow_then_they_use_only_the_stored_refresh_token(
    emu: Any, config: Path, tmp_path: Path
) -> None:
    output = web_login(emu, config)
    assert "logged in to" in output
    tokens = tmp_path / "tokens.json"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    refresh = stored_refresh_token(config, emu.instance_url)
    assert refresh in emu.server.oauth.refresh_tokens
    before = emu.server.oauth.grants["refresh_token"]

    done = run_cli(*run_args(emu, config, tmp_path / "repo"), env=clean_env())

    assert done.returncode == 0, done.stderr[-2000:]
    assert emu.server.oauth.grants["refresh_token"] == before + 1
    org = manifest_org(tmp_path / "repo")
    assert org["login_flow"] == "oauth_refresh_token"
    assert org["org_id"] == emu.credentials.org_id
    assert refresh not in done.stdout + done.stderr


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium (/usr/bin/chromium) is not installed")
def test_given_a_real_browser_when_logging_in_then_the_callback_is_caught_and_a_run_needs_nothing_else(
    emu: Any, config: Path, tmp_path: Path
) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                                         "(pip install -e '.[test]')")  # fmt: skip
    login = LoginProcess(*login_args(emu, config, "--no-browser", "--port", "0", "--timeout", "60"),
                         env=clean_env())
    url = login.next_line(r"^(http\S+/services/oauth2/authorize\?\S+)").group(1)
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        try:
            page = browser.new_page()
            page.goto(url)
            page.fill("#username", emu.credentials.username)
            page.fill("#password", emu.credentials.password)
            page.screenshot(path=str(tmp_path / "login-page.png"))
            page.click("#Login")
            page.wait_for_selector("#oaapprove")
            page.screenshot(path=str(tmp_path / "consent-page.png"))
            page.click("#oaapprove")
            page.wait_for_url("http://localhost:*/OauthRedirect*")
            assert "you can close this tab" in page.content()
        finally:
            browser.close()
    code, output = login.finish()
    assert code == 0, output
    assert (tmp_path / "login-page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    done = run_cli(*run_args(emu, config, tmp_path / "repo"), env=clean_env())
    assert done.returncode == 0, done.stderr[-2000:]
    assert manifest_org(tmp_path / "repo")["login_flow"] == "oauth_refresh_token"


def test_given_the_browser_is_closed_when_logging_in_then_it_times_out_with_a_clear_message(
    emu: Any, config: Path
) -> None:
    login = LoginProcess(*login_args(emu, config, "--no-browser", "--port", "0", "--timeout", "1.5"),
                         env=clean_env())
    code, output = login.finish()
    assert code == ExitCode.AUTHENTICATION, output
    assert "no answer from the browser within 1.5 seconds" in output
    assert "sfbackup login --device" in output
    assert not (config.parent / "tokens.json").exists()


def test_given_the_user_denies_access_when_logging_in_then_the_error_says_so(emu: Any, config: Path) -> None:
    login = LoginProcess(*login_args(emu, config, "--no-browser", "--port", "0", "--timeout", "30"),
                         env=clean_env())
    url = login.next_line(r"^(http\S+/services/oauth2/authorize\?\S+)").group(1)
    approve_login_page(url, emu.credentials.username, emu.credentials.password, decision="deny")
    code, output = login.finish()
    assert code == ExitCode.AUTHENTICATION
    assert "access_denied" in output


def test_given_a_wrong_pkce_verifier_when_exchanging_the_code_then_it_is_invalid_grant(emu: Any) -> None:
    client = oauth.OAuthClient(emu.instance_url, emu.credentials.consumer_key)
    _verifier, challenge = oauth.pkce_pair()
    redirect_uri = "http://localhost:1717/OauthRedirect"
    url = oauth.authorize_url(client, redirect_uri, challenge, state="s1")
    answer = approve_login_page(url, emu.credentials.username, emu.credentials.password, follow=False)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    wrong, _ = oauth.pkce_pair()

    with pytest.raises(AuthenticationFailed) as refused:
        oauth.exchange_code(requests.Session(), client, code, redirect_uri, wrong)

    assert refused.value.details["error_code"] == "invalid_grant"
    assert "invalid code verifier" in refused.value.message
    assert code not in str(refused.value) and wrong not in str(refused.value)


# -- the device flow ------------------------------------------------------------------------------


def test_given_the_device_flow_when_the_code_is_approved_then_runs_use_it_and_logout_revokes_it(
    emu: Any, config: Path, tmp_path: Path
) -> None:
    login = LoginProcess(*login_args(emu, config, "--device", "--timeout", "60"), env=clean_env())
    found = login.next_line(r"open (\S+) on any device and enter the code (\w+)")
    verification_uri, user_code = found.group(1), found.group(2)
    approved = requests.post(verification_uri, data={"user_code": user_code, "username": emu.credentials.username,
                             "pw": emu.credentials.password}, timeout=10)  # fmt: skip
    assert "You're connected" in approved.text
    code, output = login.finish()
    assert code == 0, output
    assert "with the device flow" in output

    done = run_cli(*run_args(emu, config, tmp_path / "repo"), env=clean_env())
    assert done.returncode == 0, done.stderr[-2000:]

    refresh = stored_refresh_token(config, emu.instance_url)
    logout = run_cli("logout", *login_args(emu, config), env=clean_env())
    assert logout.returncode == 0, logout.stderr
    assert "revoked at the org" in logout.stdout
    assert refresh in emu.server.oauth.revoked
    assert json.loads((tmp_path / "tokens.json").read_text()) == {}
    again = run_cli(*run_args(emu, config, tmp_path / "repo"), env=clean_env())
    assert again.returncode == ExitCode.AUTHENTICATION
    assert "run `sfbackup login` once" in again.stdout  # --json: the error is a JSON line


def test_given_polling_too_fast_when_the_device_flow_waits_then_slow_down_adds_five_seconds(emu: Any) -> None:
    client = oauth.OAuthClient(emu.instance_url, emu.credentials.consumer_key)
    http = requests.Session()
    device = oauth.start_device(http, client)
    assert device.interval == 1 and device.user_code in emu.server.oauth.pending_user_codes()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        # The first wait is cut short, so the emulator sees a poll inside the interval.
        time.sleep(0.0 if len(waits) == 2 else 1.05)
        if len(waits) == 3:
            requests.post(device.verification_uri, data={"user_code": device.user_code,
                          "username": emu.credentials.username, "pw": emu.credentials.password}, timeout=10)

    grant = oauth.poll_device(http, client, device, sleep=sleep)

    # pending (1 s), slow_down after a too-early poll (then 6 s), then approved
    assert waits[:3] == [1.0, 1.0, 6.0]
    assert grant.refresh_token and grant.instance_url == emu.instance_url


def test_given_a_device_code_nobody_approves_when_the_time_is_up_then_the_message_names_the_code(
    emu: Any,
) -> None:
    client = oauth.OAuthClient(emu.instance_url, emu.credentials.consumer_key)
    device = oauth.start_device(requests.Session(), client)
    with pytest.raises(AuthenticationFailed) as timed_out:
        oauth.poll_device(requests.Session(), client, device, timeout_seconds=2.5, sleep=lambda s: time.sleep(1.05))
    assert device.user_code in timed_out.value.message


# -- refresh during runs: expiry, rotation, revocation --------------------------------------------


def test_given_the_session_expires_mid_run_when_running_then_the_refresh_token_renews_it(
    emu: Any, config: Path, tmp_path: Path
) -> None:
    web_login(emu, config)
    emu.faults.add_rule("session_expiry", path_pattern="/query", times=1)
    before = emu.server.oauth.grants["refresh_token"]

    done = run_cli(*run_args(emu, config, tmp_path / "repo"), env=clean_env())

    assert done.returncode == 0, done.stderr[-2000:]
    assert emu.faults.injected["session_expiry"] >= 1
    assert emu.server.oauth.grants["refresh_token"] == before + 2  # the login, then the renewal


def test_given_the_org_rotates_refresh_tokens_when_running_then_the_new_one_is_saved(
    emu: Any, config: Path, tmp_path: Path
) -> None:
    web_login(emu, config)
    emu.server.config.rotate_refresh_tokens = True
    first = stored_refresh_token(config, emu.instance_url)

    done = run_cli(*run_args(emu, config, tmp_path / "repo"), env=clean_env())
    assert done.returncode == 0, done.stderr[-2000:]
    second = stored_refresh_token(config, emu.instance_url)
    assert second != first and first in emu.server.oauth.revoked
    assert stat.S_IMODE((tmp_path / "tokens.json").stat().st_mode) == 0o600

    again = run_cli(*run_args(emu, config, tmp_path / "repo"), env=clean_env())
    assert again.returncode == 0, again.stderr[-2000:]
    assert stored_refresh_token(config, emu.instance_url) not in (first, second)


def test_given_a_revoked_refresh_token_when_running_then_exit_12_says_to_log_in_again(
    emu: Any, config: Path, tmp_path: Path
) -> None:
    web_login(emu, config)
    refresh = stored_refresh_token(config, emu.instance_url)
    assert requests.post(f"{emu.instance_url}/services/oauth2/revoke", data={"token": refresh},
                         timeout=10).status_code == 200  # an admin revoked the app's access

    done = run_cli(*run_args(emu, config, tmp_path / "repo"), env=clean_env())

    assert done.returncode == ExitCode.AUTHENTICATION
    assert "was refused" in done.stdout and "run `sfbackup login` again" in done.stdout
    assert refresh not in done.stdout + done.stderr


def test_given_a_token_file_others_can_read_when_running_then_it_is_refused(
    emu: Any, config: Path, tmp_path: Path
) -> None:
    web_login(emu, config)
    (tmp_path / "tokens.json").chmod(0o644)
    done = run_cli(*run_args(emu, config, tmp_path / "repo"), env=clean_env())
    assert done.returncode == ExitCode.USAGE
    assert "can be read by other users" in done.stdout and "chmod 600" in done.stdout


def test_given_no_consumer_key_when_logging_in_then_the_error_points_at_the_connected_app_guide(
    emu: Any, tmp_path: Path
) -> None:
    done = run_cli("login", "--instance-url", emu.instance_url, "--no-browser",
                   env=clean_env(SFBACKUP_TOKEN_FILE=str(tmp_path / "t.json")))
    assert done.returncode == ExitCode.USAGE
    assert "consumer key" in done.stderr and "docs/connected-app.md" in done.stderr


# -- SOAP login(), where it is gone ---------------------------------------------------------------


@pytest.mark.parametrize("case", ["api-65", "new-org"])
def test_given_soap_login_is_gone_when_a_password_run_starts_then_the_fault_says_why(
    emu: Any, tmp_path: Path, case: str
) -> None:
    c = emu.credentials
    env = clean_env(SF_USERNAME=c.username, SF_PASSWORD=c.password, SF_SECURITY_TOKEN=c.security_token)
    if case == "api-65":
        env["SF_API_VERSION"] = "65.0"
    else:
        emu.server.config.soap_login_disabled = True
    done = run_cli("run", "--repo", str(tmp_path / "repo"), "--instance-url", emu.instance_url,
                   "--objects", "Account", "--no-files", env=env)
    assert done.returncode == ExitCode.AUTHENTICATION, done.stderr[-2000:]
    assert "INVALID_OPERATION" in done.stderr
    assert ("not available in API version 65.0" if case == "api-65" else "disabled") in done.stderr
    assert "retires in Summer '27" in done.stderr and "sfbackup login" in done.stderr  # the warning


# -- the Salesforce CLI's login -------------------------------------------------------------------


def _sf_cli() -> str | None:
    extra = os.environ.get("SFBACKUP_TEST_SF_BIN")  # a folder holding `sf`, e.g. node_modules/.bin
    return shutil.which("sf", path=f"{extra}{os.pathsep}{os.environ.get('PATH', '')}" if extra else None)


SF_CLI = _sf_cli()  # looked up at import: the suite's fixtures clear SF_* / SFBACKUP_* variables


@pytest.mark.skipif(SF_CLI is None, reason="the Salesforce CLI `sf` is not installed "
                    "(npm install -g @salesforce/cli, or set SFBACKUP_TEST_SF_BIN)")  # fmt: skip
def test_given_the_sf_cli_logged_in_to_the_org_when_running_with_sf_org_then_its_token_is_used(
    emu: Any, tmp_path: Path
) -> None:
    sf = SF_CLI
    assert sf is not None
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(
        PATH=f"{Path(sf).parent}{os.pathsep}{os.environ.get('PATH', '')}", HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local/share"),
        # No telemetry, update checks or OS keychain for the CLI (as in the peer harness).
        SF_DISABLE_TELEMETRY="true", SF_AUTOUPDATE_DISABLE="true", SF_DISABLE_AUTOUPDATE="true",
        SF_SKIP_NEW_VERSION_CHECK="true", SF_HIDE_RELEASE_NOTES="true",
        SF_USE_GENERIC_UNIX_KEYCHAIN="true", SF_DISABLE_LOG_FILE="true",
    )
    token = emu.access_token()
    logged_in = subprocess.run([sf, "org", "login", "access-token", "--instance-url", emu.instance_url,
                                "--no-prompt", "--alias", "emu", "--json"],
                               env={**env, "SF_ACCESS_TOKEN": token}, capture_output=True, text=True,
                               timeout=300)  # fmt: skip
    assert logged_in.returncode == 0, logged_in.stdout[-2000:] + logged_in.stderr[-2000:]

    done = run_cli("run", "--repo", str(tmp_path / "repo"), "--sf-org", "emu", "--objects", "Account",
                   "--no-files", "--json", env=env, timeout=300)

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    org = manifest_org(tmp_path / "repo")
    assert org["login_flow"] == "sf_org" and org["instance_url"] == emu.instance_url
    assert token not in done.stdout + done.stderr
    unknown = run_cli("run", "--repo", str(tmp_path / "repo"), "--sf-org", "nope", env=env, timeout=300)
    assert unknown.returncode == ExitCode.AUTHENTICATION
    assert "sf org login web --alias nope" in unknown.stderr


def test_given_sf_is_missing_when_running_with_sf_org_then_the_error_says_how_to_install_it(
    tmp_path: Path,
) -> None:
    done = run_cli("run", "--repo", str(tmp_path / "repo"), "--sf-org", "emu",
                   env=clean_env(PATH=str(tmp_path)))  # nothing on PATH
    assert done.returncode == ExitCode.USAGE
    assert "npm install -g @salesforce/cli" in done.stderr


def test_given_a_wrong_verifier_then_the_right_one_later_the_code_is_spent(emu: Any) -> None:
    """A code is good for one exchange: guessing verifiers does not work."""
    client = oauth.OAuthClient(emu.instance_url, emu.credentials.consumer_key)
    verifier, challenge = oauth.pkce_pair()
    redirect_uri = "http://127.0.0.1:1717/OauthRedirect"
    answer = approve_login_page(oauth.authorize_url(client, redirect_uri, challenge, "s"),
                                emu.credentials.username, emu.credentials.password, follow=False)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    with pytest.raises(AuthenticationFailed):
        oauth.exchange_code(requests.Session(), client, code, redirect_uri, verifier + "x")
    with pytest.raises(AuthenticationFailed) as spent:
        oauth.exchange_code(requests.Session(), client, code, redirect_uri, verifier)
    assert spent.value.details["error_code"] == "invalid_grant"

