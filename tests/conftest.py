"""Shared fixtures: a clean environment, one emulator per session, a temporary repository.

Real servers only: the emulator is the real HTTP server on 127.0.0.1 (free port), started once
per session; tests that change the org start their own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_SECRET_PREFIXES = ("SF_", "AWS_", "SFBACKUP_")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's Salesforce or AWS credentials."""
    for name in list(os.environ):
        if name.startswith(_SECRET_PREFIXES):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def emulator() -> Iterator[Any]:
    """A running emulator shared by the tests that only read from the org."""
    from sfbackup.testing import running_emulator

    with running_emulator(records=40, seed=7, job_latency=0.05) as running:
        yield running


def emulator_env(running: Any) -> dict[str, str]:
    """The SF_* variables a user would set to log in to `running` with username + password."""
    credentials = running.credentials
    return {
        "SF_USERNAME": credentials.username,
        "SF_PASSWORD": credentials.password,
        "SF_SECURITY_TOKEN": credentials.security_token,
    }


@pytest.fixture
def login_env(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Sets SF_* for the shared emulator and returns them."""
    env = emulator_env(emulator)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    return tmp_path / "repo"
