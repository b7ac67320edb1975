"""Renderers for `sfbackup.ui.progress` events: rich on a terminal, JSON lines otherwise."""

from __future__ import annotations

import sys
from typing import Any, Protocol

from sfbackup.errors import redact
from sfbackup.ui.jsonlines import JsonLinesProgress
from sfbackup.ui.logs import quiet
from sfbackup.ui.progress import NullProgress, Progress


class Renderer(Progress, Protocol):
    """A Progress the CLI owns: `close()` it when the command ends (stops rich's live display)."""

    def close(self) -> None: ...


def choose_renderer(*, json_output: bool) -> Renderer:
    """How a command shows progress.

    `json_output`: JSON lines on stdout, beside the command's JSON result. Otherwise rich progress
    on stderr when stderr is a terminal, JSON lines on stderr when it is not (cron, systemd,
    Kubernetes logs), so stdout keeps only the command's own output. With `-q`, only error
    messages (on stderr).
    """
    if quiet():
        return _ErrorsOnly()
    if json_output:
        return JsonLinesProgress(sys.stdout)
    if not sys.stderr.isatty():
        return JsonLinesProgress(sys.stderr)
    from sfbackup.ui.rich_console import RichProgress

    return RichProgress()


class _ErrorsOnly(NullProgress):
    """`-q`: no progress; error messages still reach stderr."""

    def message(self, level: str, text: str, **fields: Any) -> None:
        if level == "error":
            print(redact(f"sfbackup: error: {text}"), file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


__all__ = ["Renderer", "choose_renderer"]
