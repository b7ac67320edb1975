"""The `run` pipeline: plan each object, export its records and files into a snapshot."""

from __future__ import annotations

from sfbackup.backup.run import BackupResult, run_backup

__all__ = ["BackupResult", "run_backup"]
