"""Every error sfbackup raises on purpose, and the exit code each one maps to.

The tree::

    SfbackupError                     exit 1   root; message says what, where and what to do
    ├── UsageError                    exit 2   bad flags or arguments
    │   └── ConfigError               exit 2   a config file or environment value is wrong
    ├── SnapshotIncomplete            exit 3   the run stopped with data missing; `run --resume` continues
    ├── VerificationFailed            exit 4   verify found a problem; the findings say which
    ├── NotSafeToCancel               exit 5   verified, but the verdict is NOT SAFE (--require-safe)
    ├── BlindSpotsFound               exit 6   check: the backup user cannot see everything
    ├── RepositoryError               exit 10  no repository, unknown layout version, damaged metadata
    │   └── SnapshotNotFound          exit 10
    ├── RepositoryLocked              exit 11  another process holds the repository lock
    ├── AuthenticationFailed          exit 12  login refused, key unreadable, token expired for good
    ├── ApiReserveReached             exit 13  the org's daily API calls are down to the reserve
    ├── OrgUnreachable                exit 14  network failure or repeated 5xx after all retries
    ├── Interrupted                   exit 130 SIGINT/SIGTERM stopped the run; `run --resume` continues
    ├── SalesforceError               exit 1   Salesforce answered with an error we cannot work around
    │   └── UnsupportedQuery          exit 1   the object or query is refused by Salesforce for a known reason
    └── StorageError                  exit 1   local disk or S3 failed (disk full, permission denied)

`run` and `verify` return SnapshotIncomplete, VerificationFailed or ApiReserveReached as their
result's `problem` (with everything the run saved) rather than raising them: the class still gives
the exit code. A run stopped by SIGINT/SIGTERM ends with `Interrupted` (exit 130) as its problem;
the CLI maps a KeyboardInterrupt anywhere else to the same exit code.

Messages never contain secrets: values that come from the secrets of a login are never
interpolated into a message, and `redact()` scrubs anything that looks like a session id.
"""

from __future__ import annotations

import errno
import os
import re
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Documented process exit codes (README "Exit codes"; `tests/test_docs.py` checks the table)."""

    OK = 0
    FAILED = 1
    USAGE = 2
    INCOMPLETE = 3
    VERIFICATION_FAILED = 4
    NOT_SAFE = 5
    BLIND_SPOTS = 6
    NO_REPOSITORY = 10
    LOCKED = 11
    AUTHENTICATION = 12
    API_RESERVE = 13
    UNREACHABLE = 14
    INTERRUPTED = 130
    BROKEN_PIPE = 141


EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success: the snapshot is complete and verified (or the command did what it was asked)",
    ExitCode.FAILED: "failure: an unexpected error; the message says what and where",
    ExitCode.USAGE: "usage or configuration error: fix the flags or the config file",
    ExitCode.INCOMPLETE: (
        "snapshot incomplete: some objects or files are missing (the message names them); "
        "`sfbackup run --resume` continues"
    ),
    ExitCode.VERIFICATION_FAILED: "verification failed: the report lists every finding",
    ExitCode.NOT_SAFE: (
        "with --require-safe: the snapshot verified, but the verdict is NOT SAFE TO CANCEL; "
        "the report says why"
    ),
    ExitCode.BLIND_SPOTS: (
        "`sfbackup check`: the backup user cannot see everything (records, fields, encrypted values "
        "or files); a backup made as it would be NOT SAFE TO CANCEL; each gap names its fix"
    ),
    ExitCode.NO_REPOSITORY: "no repository at that path, or a layout version this sfbackup cannot read",
    ExitCode.LOCKED: (
        "the repository is locked by another process (`sfbackup unlock` removes stale locks)"
    ),
    ExitCode.AUTHENTICATION: "authentication failed: check the credentials named in the message",
    ExitCode.API_RESERVE: (
        "stopped at the API reserve: the org's daily API calls are nearly used up; resumable"
    ),
    ExitCode.UNREACHABLE: "the org could not be reached after all retries (network or Salesforce outage)",
    ExitCode.INTERRUPTED: "interrupted by SIGINT/SIGTERM; what was saved stays saved, `--resume` continues",
    ExitCode.BROKEN_PIPE: (
        "the reader of stdout went away (`sfbackup snapshots` piped into `head`), as with SIGPIPE"
    ),
}


class SfbackupError(Exception):
    """Root of every error sfbackup raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  what to do: {self.hint}"
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (for `--json` error lines and manifests)."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            "hint": self.hint,
            "exit_code": int(self.exit_code),
            **{k: v for k, v in self.details.items() if _is_json_scalar(v)},
        }


class UsageError(SfbackupError):
    """The command line asks for something impossible or contradictory."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """A config file, config value or environment variable is missing or wrong."""


class SnapshotIncomplete(SfbackupError):
    """The run ended with objects or files missing; the snapshot is `incomplete` and resumable."""

    exit_code = ExitCode.INCOMPLETE


class VerificationFailed(SfbackupError):
    """Verification found at least one problem."""

    exit_code = ExitCode.VERIFICATION_FAILED


class NotSafeToCancel(SfbackupError):
    """The snapshot verified, but the readiness verdict is NOT SAFE TO CANCEL (`--require-safe`)."""

    exit_code = ExitCode.NOT_SAFE


class BlindSpotsFound(SfbackupError):
    """`sfbackup check` found what the backup user cannot see; a backup as it could not be SAFE."""

    exit_code = ExitCode.BLIND_SPOTS


class RepositoryError(SfbackupError):
    """The repository is missing, of an unknown layout version, or its metadata is damaged."""

    exit_code = ExitCode.NO_REPOSITORY


class SnapshotNotFound(RepositoryError):
    """No snapshot with that id (or no snapshot at all for `latest`)."""


class RepositoryLocked(SfbackupError):
    """Another process holds a conflicting lock on the repository."""

    exit_code = ExitCode.LOCKED


class AuthenticationFailed(SfbackupError):
    """Salesforce refused the login, or the credentials could not be read."""

    exit_code = ExitCode.AUTHENTICATION


class ApiReserveReached(SfbackupError):
    """The org's remaining daily API calls fell to the configured reserve, or the limit was exceeded."""

    exit_code = ExitCode.API_RESERVE


class OrgUnreachable(SfbackupError):
    """The org did not answer (connection errors or 5xx) after every retry."""

    exit_code = ExitCode.UNREACHABLE


class Interrupted(SfbackupError):
    """A signal (SIGINT, SIGTERM) stopped the command; what was saved stays saved and resumable."""

    exit_code = ExitCode.INTERRUPTED


class SalesforceError(SfbackupError):
    """Salesforce answered with an error that retrying cannot fix."""

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None = None,
        status: int | None = None,
        hint: str | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message, hint=hint, error_code=error_code, status=status, **details)
        self.error_code = error_code
        self.status = status


class UnsupportedQuery(SalesforceError):
    """Salesforce refuses this object or query for a known, permanent reason (recorded, not retried)."""


class StorageError(SfbackupError):
    """Writing to or reading from the local disk or S3 failed."""


_SESSION_ID = re.compile(r"00D[A-Za-z0-9]{12,15}![A-Za-z0-9._\-]{20,}")
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/\s@]+@")
_BEARER = re.compile(r"(?i)(bearer\s+|sessionid>|access_token[\"'=:\s]+)[^\s\"'<&,}]+")


def redact(text: str) -> str:
    """Remove anything shaped like a Salesforce session id, a bearer token or the credentials of a
    URL (`https://user:password@host`) from `text`."""
    text = _SESSION_ID.sub("[REDACTED]", text)
    text = _URL_CREDENTIALS.sub("[REDACTED]@", text)
    return _BEARER.sub(lambda m: m.group(1) + "[REDACTED]", text)


def _is_json_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def is_disk_full(exc: BaseException) -> bool:
    """True for ENOSPC / EDQUOT, also when pyarrow reports it only in its message."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return "No space left on device" in text or "errno 28" in text.lower() or "Disk quota exceeded" in text


def storage_error(action: str, path: str | os.PathLike[str], exc: OSError) -> StorageError:
    """The StorageError for an OSError while writing `path`; a full disk says so and how to go on."""
    if is_disk_full(exc):
        return StorageError(
            f"cannot {action} {path}: the disk is full (ENOSPC: No space left on device)",
            hint="free space on the disk that holds the repository (or move the repository to a larger "
            "one), then run `sfbackup run --resume`: what was saved stays saved",
            path=str(path),
            reason="disk_full",
        )
    return StorageError(
        f"cannot {action} {path}: {exc.strerror or exc}",
        hint="check free disk space and the folder's permissions",
        path=str(path),
    )
