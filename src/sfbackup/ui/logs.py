"""Where log records go: stderr at the level `-v`/`-q` choose, and every record to `--log-file`.

Library code logs through `logging.getLogger("sfbackup...")` (retries, re-logins, each call at
debug level); nothing is shown unless the CLI calls `configure_logging`. Every line is redacted.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sfbackup.clock import format_time, utc_now
from sfbackup.errors import StorageError, redact

_ROOT = "sfbackup"
_quiet = False


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _JsonLinesFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (the log file's format)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "type": "log",
            "time": format_time(utc_now()),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, ensure_ascii=False, default=str))


def configure_logging(*, verbose: int = 0, quiet: bool = False, log_file: str | None = None) -> None:
    """stderr shows warnings (default), info (`-v`: each retry as it happens), debug (`-vv`: every
    call) or errors only (`-q`, which also hides progress); `log_file` gets every record at debug
    level as JSON lines, appended."""
    global _quiet
    _quiet = quiet
    root = logging.getLogger(_ROOT)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    stderr_level = logging.ERROR if quiet else (logging.WARNING, logging.INFO)[min(verbose, 1)]
    if verbose >= 2:
        stderr_level = logging.DEBUG
    console = logging.StreamHandler()
    console.setLevel(stderr_level)
    console.setFormatter(_RedactingFormatter("sfbackup: %(levelname)s: %(message)s"))
    root.addHandler(console)
    level = stderr_level
    if log_file:
        path = Path(log_file).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            file_handler = logging.FileHandler(path, encoding="utf-8")
        except OSError as exc:
            raise StorageError(
                f"cannot write the log file {path}: {exc.strerror or exc}",
                hint="pass --log-file a path in a folder you can write to",
            ) from None
        file_handler.setLevel(logging.DEBUG)
        file_handler.setFormatter(_JsonLinesFormatter())
        root.addHandler(file_handler)
        level = logging.DEBUG
    root.setLevel(level)
    root.propagate = False


def quiet() -> bool:
    """Whether `-q` asked for errors only (renderers then show no progress)."""
    return _quiet
