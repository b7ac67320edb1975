"""Verification: is everything in the backup, and can it be proven? (restic `check` semantics).

`verify_snapshot()` checks a snapshot's structure (and with `read_data` every byte), compares it
with the org when asked, writes report.json/md/html into the snapshot folder and moves an
`exported` snapshot that passed to `complete`.
"""

from __future__ import annotations

from sfbackup.verify.findings import KINDS, Finding
from sfbackup.verify.report import NOT_SAFE, SAFE, Verdict
from sfbackup.verify.verify import VerificationResult, verify_snapshot

__all__ = ["KINDS", "NOT_SAFE", "SAFE", "Finding", "Verdict", "VerificationResult", "verify_snapshot"]
