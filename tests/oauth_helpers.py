"""Test helpers for the OAuth flows: a login page filled in over plain HTTP (no browser), a
`sfbackup login` process whose instructions are read off stderr, and a config with a token file."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

SFBACKUP = [sys.executable, "-m", "sfbackup"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any SF_* / SFBACKUP_* setting: a run can only use the stored login."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFBACKUP_"))}
    env.update(extra)
    return env


def oauth_config(path: Path, consumer_key: str, **extra: str) -> Path:
    """A config whose refresh token goes to ``tokens.json`` next to it (never the keyring)."""
    lines = ["[connection]", f"consumer_key = '{consumer_key}'", "token_store = 'file'",
             "token_file = 'tokens.json'", *(f"{k} = {v}" for k, v in extra.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def approve_login_page(url: str, username: str, password: str, *, decision: str = "allow",
                       follow: bool = True) -> requests.Response:
    """Log in on the emulator's authorize page and answer its consent page, as a person would;
    with ``follow=False`` the answer is the redirect itself (nothing listens for it)."""
    session = requests.Session()
    page = session.get(url, timeout=10)
    page.raise_for_status()
    fields = {k: html.unescape(v) for k, v in re.findall(r"name='(\w+)' value='([^']*)'", page.text)}
    base = url.split("/services/oauth2/authorize")[0]
    consent = session.post(f"{base}/services/oauth2/authorize",
                           data={**fields, "username": username, "pw": password}, timeout=10)
    ticket = re.search(r'name="ticket" value="([^"]+)"', consent.text)
    assert ticket is not None, consent.text[:500]
    return session.post(f"{base}/services/oauth2/authorize", data={"ticket": ticket.group(1),
                        "decision": decision}, timeout=10, allow_redirects=follow)  # fmt: skip


def browser_stand_in(url: str, username: str, password: str) -> bool:
    """`webbrowser.open` for in-process tests: approve, then follow the redirect to sfbackup's
    listener with urllib (a browser's own traffic never reaches sfbackup's log; requests' would)."""
    import urllib.request

    redirect = approve_login_page(url, username, password, follow=False)
    with urllib.request.urlopen(redirect.headers["Location"], timeout=10) as answer:
        return bool(answer.status == 200)


class LoginProcess:
    """`sfbackup login ...` in a child process; `next_line` reads its stderr up to a match."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([*SFBACKUP, "login", *args], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)  # fmt: skip
        self.stderr: list[str] = []

    def next_line(self, pattern: str) -> re.Match[str]:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no line matching {pattern!r}: {''.join(self.stderr)}")

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, out + "".join(self.stderr) + err


def run_cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SFBACKUP, *args], env=env, capture_output=True, text=True, timeout=timeout)


def stored_refresh_token(config: Path, key: str) -> Any:
    import json

    return json.loads((config.parent / "tokens.json").read_text())[key]["refresh_token"]
