"""Security: no secret ever written anywhere, an owner-only repository, file names from Salesforce
that never escape it, CSV formula neutralisation end to end, TLS verification never off silently.

The secrets test runs the CLI in every login mode and in failures (wrong password, expired or
forged session, 500s, an unreachable org), with logging at DEBUG, and greps everything written:
stdout, stderr, log records and every file of the repository, for the password, the security
token, every session id the emulator issued (and anything shaped `<org id>!...`), the private key,
the consumer secret, every OAuth authorization code, PKCE verifier, device code and refresh token
the emulator saw, and the AWS keys of the environment.
"""

from __future__ import annotations

import csv
import logging
import os
import stat
import subprocess
import sys
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sfbackup.cli import main
from sfbackup.config import load_settings
from sfbackup.emulator.http.faults import FaultConfig
from sfbackup.errors import ExitCode
from sfbackup.repository import Repository
from sfbackup.testing import running_emulator
from tests.oauth_helpers import browser_stand_in, oauth_config

AWS_CANARY = {"AWS_ACCESS_KEY_ID": "AKIACANARYKEY0000001", "AWS_SECRET_ACCESS_KEY": "canary/secret+aws+key/XYZ123"}
#: Records the tests add are dated well before T0 (T0 has whole seconds; a record created in the
#: same second as the run starts belongs to the next snapshot).
LONG_AGO = "2020-01-01T00:00:00.000Z"
SFBACKUP = Path(sys.executable).with_name("sfbackup")


@pytest.fixture(scope="module")
def org() -> Iterator[Any]:
    """An org of its own: the tests add hostile records and switch faults on."""
    with running_emulator(records=20, seed=5, job_latency=0.02, large_file_bytes=100_000) as running:
        yield running


@pytest.fixture(autouse=True)
def no_faults(org: Any) -> Iterator[None]:
    org.faults.configure(FaultConfig())
    yield
    org.faults.configure(FaultConfig())


def secrets_of(org: Any) -> list[str]:
    c = org.credentials
    key_lines = [line for line in c.jwt_private_key_pem.splitlines() if line and "-----" not in line]
    issued = list(getattr(org.server.sessions, "_sessions", {}))
    oauth_seen = list(org.server.oauth.secrets_seen)  # codes, verifiers, device codes, refresh tokens
    return [c.password, c.security_token, c.consumer_secret, c.password + c.security_token,
            *key_lines[1:3], *issued, f"{c.org_id}!", org.server.sessions.refresh_token, *oauth_seen,
            *AWS_CANARY.values()]


def everything_written(repo: Path, output: str, records: list[logging.LogRecord]) -> Iterator[tuple[str, bytes]]:
    yield "output", output.encode()
    yield "log", "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in records).encode()
    if repo.exists():
        for path in repo.rglob("*"):
            if path.is_file():
                yield str(path), path.read_bytes()


def assert_no_secret(org: Any, repo: Path, output: str, records: list[logging.LogRecord]) -> None:
    secrets = [s for s in secrets_of(org) if s]
    for where, content in everything_written(repo, output, records):
        for secret in secrets:
            assert secret.encode() not in content, f"a secret ({secret[:4]}...) is in {where}"


class Cli:
    """The CLI in this process, with everything it writes captured (logging at DEBUG too)."""

    def __init__(self, org: Any, repo: Path, capfd: pytest.CaptureFixture[str],
                 caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
        self.org, self.repo, self.capfd, self.caplog, self.monkeypatch = org, repo, capfd, caplog, monkeypatch
        self.output = ""
        caplog.set_level(logging.DEBUG)
        for key, value in AWS_CANARY.items():
            monkeypatch.setenv(key, value)

    def login(self, **env: str) -> None:
        for name in ("SF_USERNAME", "SF_PASSWORD", "SF_SECURITY_TOKEN", "SF_ACCESS_TOKEN",
                     "SF_CONSUMER_KEY", "SF_CONSUMER_SECRET", "SF_PRIVATE_KEY_FILE"):
            self.monkeypatch.delenv(name, raising=False)
        for key, value in env.items():
            self.monkeypatch.setenv(key, value)

    def password_login(self, password: str | None = None) -> None:
        c = self.org.credentials
        self.login(SF_USERNAME=c.username, SF_PASSWORD=password or c.password,
                   SF_SECURITY_TOKEN=c.security_token)

    def __call__(self, *args: str) -> int:
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
        captured = self.capfd.readouterr()
        self.output += captured.out + captured.err
        return code

    def run(self, *extra: str) -> int:
        return self("run", "--repo", str(self.repo), "--instance-url", self.org.instance_url, "--json",
                    "--objects", "Account,Contact,Attachment,ContentVersion,ContentDocument,Document",
                    *extra)


@pytest.fixture
def cli(org: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(org, tmp_path / "repo", capfd, caplog, monkeypatch)


def test_given_every_login_mode_and_failure_when_cli_runs_then_no_secret_is_written_anywhere(
    org: Any, cli: Cli, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    c = org.credentials
    codes: dict[str, int] = {}
    cli.password_login()
    codes["password"] = cli.run()
    org.faults.add_rule("session_expiry", path_pattern="/query", times=1)
    org.faults.add_rule("http_500", path_pattern="/sobjects", times=2)
    codes["expired-session-and-500s"] = cli.run("--no-files")
    codes["verify"] = cli("verify", "latest", "--repo", str(cli.repo), "--instance-url", org.instance_url,
                          "--read-data", "--against-org", "--ids", "--json")
    codes["snapshots"] = cli("snapshots", "--repo", str(cli.repo), "--json")
    cli.password_login(password="wrong-" + c.password)
    codes["wrong-password"] = cli.run()
    cli.login(SF_ACCESS_TOKEN=org.access_token())
    codes["access-token"] = cli.run("--no-files", "--no-verify")
    cli.login(SF_ACCESS_TOKEN=f"{c.org_id}!FORGEDforgedFORGEDforgedFORGEDforged.1234")
    codes["forged-token"] = cli.run("--no-verify")
    key = tmp_path / "server.key"
    key.write_text(c.jwt_private_key_pem)
    cli.login(SF_USERNAME=c.username, SF_CONSUMER_KEY=c.consumer_key, SF_PRIVATE_KEY_FILE=str(key))
    codes["jwt"] = cli.run("--no-files", "--no-verify")
    cli.login(SF_CONSUMER_KEY=c.consumer_key, SF_CONSUMER_SECRET=c.consumer_secret)
    codes["client-credentials"] = cli.run("--no-files", "--no-verify")
    cli.password_login()
    config = tmp_path / "fragile.toml"
    config.write_text("[connection]\nmax_retries = 1\n")
    org.faults.configure(FaultConfig(rates={"http_503": 1.0}))
    codes["unreachable"] = cli.run("--no-verify", "--config", str(config))
    org.faults.configure(FaultConfig())

    assert codes == {
        "password": 0, "expired-session-and-500s": 0, "verify": 0, "snapshots": 0,
        "wrong-password": ExitCode.AUTHENTICATION, "access-token": 0,
        "forged-token": ExitCode.AUTHENTICATION, "jwt": 0, "client-credentials": 0,
        "unreachable": ExitCode.UNREACHABLE,
    }, cli.output[-3000:]
    assert org.faults.injected["session_expiry"] >= 1
    assert_no_secret(org, cli.repo, cli.output, caplog.records)


def test_given_the_restricted_user_when_check_run_and_verify_then_no_secret_in_any_output(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The blind-spot outputs (the preflight's gaps and fixes, the verdict's reasons, report.*, the
    # manifest's access record) name users, profiles and permission sets: never a secret.
    with running_emulator(records=20, seed=5, job_latency=0.02, large_file_bytes=0, user="restricted") as limited:
        cli = Cli(limited, tmp_path / "repo", capfd, caplog, monkeypatch)
        cli.password_login()
        where = ("--instance-url", limited.instance_url)
        codes = {
            "check": cli("check", *where), "check-json": cli("check", *where, "--json"),
            "run": cli.run(), "verify": cli("verify", "--repo", str(cli.repo), *where, "--against-org"),
            "verify-json": cli("verify", "--repo", str(cli.repo), *where, "--against-org", "--json"),
        }
        assert codes == {"check": ExitCode.BLIND_SPOTS, "check-json": ExitCode.BLIND_SPOTS,
                         "run": ExitCode.VERIFICATION_FAILED, "verify": ExitCode.VERIFICATION_FAILED,
                         "verify-json": ExitCode.VERIFICATION_FAILED}, cli.output[-3000:]
        assert "BLOCKS SAFE hidden_field Account.AnnualRevenue" in cli.output  # the outputs grepped are these
        assert list(cli.repo.rglob("report.md")) and list(cli.repo.rglob("manifest.json"))
        assert_no_secret(limited, cli.repo, cli.output, caplog.records)


@pytest.mark.slow
def test_given_a_real_process_with_failures_when_it_runs_then_stdout_and_stderr_hold_no_secret(
    org: Any, tmp_path: Path
) -> None:
    c = org.credentials
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "AWS_", "SFBACKUP_"))}
    env.update(AWS_CANARY, SF_USERNAME=c.username, SF_PASSWORD=c.password, SF_SECURITY_TOKEN=c.security_token)
    repo = tmp_path / "repo"
    org.faults.add_rule("session_expiry", path_pattern="/query", times=1)
    org.faults.add_rule("truncate", path_pattern="/query", times=1)
    done = subprocess.run(
        [str(SFBACKUP), "run", "--repo", str(repo), "--instance-url", org.instance_url, "--no-files",
         "--objects", "Account,Contact"], env=env, capture_output=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    env["SF_PASSWORD"] = "wrong-" + c.password
    failed = subprocess.run(
        [str(SFBACKUP), "run", "--repo", str(repo), "--instance-url", org.instance_url],
        env=env, capture_output=True, timeout=120,
    )
    assert failed.returncode == ExitCode.AUTHENTICATION
    output = (done.stdout + done.stderr + failed.stdout + failed.stderr).decode()
    assert_no_secret(org, repo, output, [])


def test_given_oauth_logins_refreshes_and_revocation_when_cli_runs_then_no_token_code_or_verifier_leaks(
    org: Any, cli: Cli, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = org.credentials
    config = oauth_config(tmp_path / "oauth.toml", c.consumer_key)
    login = ["--config", str(config), "--instance-url", org.instance_url]
    monkeypatch.setattr(webbrowser, "open", lambda url: browser_stand_in(url, c.username, c.password))
    cli.login()
    codes: dict[str, int] = {}
    codes["login"] = cli("login", *login, "--port", "0", "--timeout", "30")
    org.faults.add_rule("session_expiry", path_pattern="/query", times=1)
    org.server.config.rotate_refresh_tokens = True
    try:
        codes["run-refreshing"] = cli.run("--no-files", "--config", str(config))
    finally:
        org.server.config.rotate_refresh_tokens = False
    codes["logout"] = cli("logout", *login)
    codes["login-again"] = cli("login", *login, "--port", "0", "--timeout", "30")
    stored = (tmp_path / "tokens.json").read_text()
    for token in list(org.server.oauth.refresh_tokens):
        if token in stored:
            org.server.oauth.revoked.add(token)  # revoked by an admin behind sfbackup's back
    codes["revoked"] = cli.run("--no-files", "--no-verify", "--config", str(config))

    assert codes == {"login": 0, "run-refreshing": 0, "logout": 0, "login-again": 0,
                     "revoked": ExitCode.AUTHENTICATION}, cli.output[-3000:]
    assert org.server.oauth.grants["authorization_code"] >= 2 and org.server.oauth.grants["refresh_token"] >= 2
    assert any(len(s) > 40 for s in org.server.oauth.secrets_seen), "codes and verifiers were recorded"
    assert_no_secret(org, cli.repo, cli.output, caplog.records)


def test_given_permissive_umask_when_run_then_repository_is_owner_only(org: Any, tmp_path: Path) -> None:
    c = org.credentials
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "AWS_", "SFBACKUP_"))}
    env.update(SF_USERNAME=c.username, SF_PASSWORD=c.password, SF_SECURITY_TOKEN=c.security_token)
    repo = tmp_path / "repo"
    done = subprocess.run(
        [str(SFBACKUP), "run", "--repo", str(repo), "--instance-url", org.instance_url,
         "--objects", "Account,Attachment,ContentVersion,Document", "--json"],
        env=env, capture_output=True, timeout=120, preexec_fn=lambda: os.umask(0),
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert list(repo.glob("blobs/sha256/??/*")), "file bodies were stored"
    wrong = []
    for path in [repo, *repo.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        expected = 0o700 if path.is_dir() else 0o600
        if mode != expected:
            wrong.append(f"{path.relative_to(repo.parent)} {oct(mode)}")
    assert wrong == []


HOSTILE_NAMES = [
    "../../etc/passwd", "..\\..\\windows\\system32\\x.dll", "/etc/shadow", "a/../../b", "\x00evil",
    "~/.ssh/authorized_keys", "..", "CON", "name\nwith newline", "x" * 300,
]


def test_given_file_names_from_salesforce_that_are_paths_when_run_then_nothing_escapes_the_repository(
    org: Any, cli: Cli, tmp_path: Path
) -> None:
    account = org.org.query("SELECT Id FROM Account", include_deleted=False, api="rest").rest_records(0, 1)[0]
    for name in HOSTILE_NAMES:
        org.org.create("Attachment", {"Name": name, "ParentId": account["Id"], "Body": "aGVsbG8=",
                                         "CreatedDate": LONG_AGO})
        org.org.create("ContentVersion", {"Title": name, "PathOnClient": name, "VersionData": "aGk=",
                                              "CreatedDate": LONG_AGO})
    outside_before = sorted(p.name for p in tmp_path.iterdir())
    cli.password_login()
    assert cli.run() == 0, cli.output[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*outside_before, "repo"])
    for path in cli.repo.rglob("*"):
        assert path.resolve().is_relative_to(cli.repo.resolve())
        assert not path.is_symlink()
    snapshot = Repository.open(cli.repo).snapshot("latest")
    names = set(snapshot.files("Attachment").column("Name").to_pylist())
    names |= set(snapshot.files("ContentVersion").column("Name").to_pylist())
    assert "../../etc/passwd" in names, "a name is kept as data"


def test_given_csv_neutralize_formulas_when_run_then_formula_cells_are_quoted_end_to_end(
    org: Any, cli: Cli, tmp_path: Path
) -> None:
    formulas = ["=HYPERLINK(\"http://evil\")", "+1+1", "-2+3", "@SUM(A1)", "\tTab", "\rCR"]
    ids = {org.org.create("Account", {"Name": text, "CreatedDate": LONG_AGO}): text for text in formulas}
    plain = org.org.create("Account", {"Name": "Acme = fine", "CreatedDate": LONG_AGO})
    config = tmp_path / "csv.toml"
    config.write_text("[backup]\nformat = 'csv'\ncsv_neutralize_formulas = true\n")
    cli.password_login()
    assert cli.run("--no-files", "--no-verify", "--config", str(config)) == 0, cli.output[-2000:]
    cells: dict[str, str] = {}
    for part in cli.repo.glob("snapshots/*/objects/Account/*.csv"):
        with part.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                cells[row["Id"]] = row["Name"]
    for record_id, text in ids.items():
        assert cells[record_id] == "'" + text, f"{text!r} neutralised"
    assert cells[plain] == "Acme = fine"
    assert all(not value.startswith(("=", "+", "-", "@", "\t", "\r")) for value in cells.values())


def test_given_insecure_tls_only_when_explicit_then_verification_is_on_by_default_and_off_is_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = {"connection.instance_url": "https://acme.my.salesforce.com"}
    env = {"SF_ACCESS_TOKEN": "00D000000000001!token"}
    assert load_settings(None, env=env, overrides=base).connection.verify is True
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SF_INSECURE_SKIP_TLS_VERIFY", "PYTHONHTTPSVERIFY"):
        assert load_settings(None, env={**env, name: "0"}, overrides=base).connection.verify is True
    config = tmp_path / "insecure.toml"
    config.write_text("[connection]\ninsecure_skip_tls_verify = true\n")
    with caplog.at_level(logging.WARNING):
        insecure = load_settings(str(config), env=env, overrides=base)
    assert insecure.connection.verify is False
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("TLS certificate verification is OFF" in m and str(config) in m for m in warned), warned
