"""sfbackup: complete, verifiable Salesforce backups.

The library API, importable without the command line::

    from sfbackup import Repository, load_settings, run_backup, verify_snapshot, upload_snapshot

Names are resolved lazily so that `import sfbackup` (and the CLI's start-up) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "run_backup": "sfbackup.backup.run",
    "BackupResult": "sfbackup.backup.run",
    "load_settings": "sfbackup.config",
    "Settings": "sfbackup.config",
    "Repository": "sfbackup.repository",
    "Snapshot": "sfbackup.repository",
    "verify_snapshot": "sfbackup.verify",
    "VerificationResult": "sfbackup.verify",
    "upload_snapshot": "sfbackup.maintain.upload",
    "SalesforceClient": "sfbackup.salesforce.client",
    "SfbackupError": "sfbackup.errors",
    "ExitCode": "sfbackup.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sfbackup' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
