"""The local Salesforce API emulator: an org store (`org`) behind a Salesforce-faithful HTTP server.

`start_emulator(config)` returns a running `EmulatorServer` on 127.0.0.1 (a free port by default);
`sfbackup.testing.running_emulator()` wraps it for tests and the demo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["EmulatorServer", "OrgConfig", "start_emulator"]

if TYPE_CHECKING:
    from sfbackup.emulator.http.server import EmulatorServer, start_emulator
    from sfbackup.emulator.org.store import OrgConfig


def __getattr__(name: str) -> Any:
    # Lazy: importing the package must not pull in the HTTP server or SQLite store.
    if name in ("EmulatorServer", "start_emulator"):
        from sfbackup.emulator.http import server

        return getattr(server, name)
    if name == "OrgConfig":
        from sfbackup.emulator.org import store as org

        return org.OrgConfig
    raise AttributeError(f"module 'sfbackup.emulator' has no attribute {name!r}")
