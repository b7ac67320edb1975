"""Helpers for tests and the demo: a running emulator in a ``with`` block.

::

    with running_emulator(records=50, job_latency=0.2) as emu:
        session = emu.session()                       # reaches the emulator for https://*.salesforce.com
        emu.faults.add_rule("http_503", r"/query", times=2)
        ...

Keyword arguments go to `OrgConfig` (``records``, ``seed``, ``large_file_bytes``,
``daily_api_limit``, ``org_shape="enterprise"``, ``operation_too_large``), to `ServerConfig`
(``job_latency``, ``session_ttl``, ``bulk_default_page_records``, ``job_workers``, the network and
Salesforce's time: ``latency_ms``, ``bandwidth_mbps``, ``bulk_rows_per_second``, ``bulk_job_slots``;
``user``:
``"admin"`` or ``"restricted"``, whom ``credentials`` and ``access_token()`` are for), or are
``faults`` (a `FaultConfig`), ``db_path``, ``port`` and ``org`` (an already built org store, for
tests with a stand-in).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests

from sfbackup.emulator.http.faults import FaultConfig, Faults
from sfbackup.emulator.http.server import EmulatorServer, ServerConfig, start_emulator
from sfbackup.salesforce.transport import rewriting_session

__all__ = ["RunningEmulator", "running_emulator"]


@dataclass
class RunningEmulator:
    """A live emulator: where it is, how to log in, and its switches."""

    server: EmulatorServer

    @property
    def instance_url(self) -> str:
        return self.server.instance_url

    @property
    def credentials(self) -> Any:
        return self.server.credentials

    @property
    def org(self) -> Any:
        return self.server.org

    @property
    def faults(self) -> Faults:
        return self.server.faults

    def access_token(self) -> str:
        """A fresh, valid session id (as if a login had just happened)."""
        return self.server.sessions.issue()

    def session(self) -> requests.Session:
        """A requests session whose https://*.salesforce.com and https://<emulator> URLs reach it."""
        return rewriting_session(self.instance_url)


@contextmanager
def running_emulator(**config: Any) -> Iterator[RunningEmulator]:
    """Start an emulator on 127.0.0.1 (a free port), yield it, stop it."""
    server_fields = {f.name for f in dataclasses.fields(ServerConfig)}
    server_config = ServerConfig(**{k: config.pop(k) for k in list(config) if k in server_fields})
    faults: FaultConfig | None = config.pop("faults", None)
    db_path: str | None = config.pop("db_path", None)
    port: int = config.pop("port", 0)
    org = config.pop("org", None)
    org_config = None
    if org is None:
        from sfbackup.emulator.org.store import OrgConfig

        org_config = OrgConfig(**config)
    elif config:
        raise TypeError(f"org config {sorted(config)} given together with a ready-made org")
    server = start_emulator(org_config, port=port, db_path=db_path, server_config=server_config,
                            faults=faults, org=org)
    try:
        yield RunningEmulator(server)
    finally:
        server.stop()
