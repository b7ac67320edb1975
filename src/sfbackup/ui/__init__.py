"""Renderers for `sfbackup.ui.progress` events: rich on a terminal, JSON lines otherwise."""

from __future__ import annotations

import sys
from typing import TextIO

from sfbackup.ui.jsonlines import JsonLinesProgress
from sfbackup.ui.progress import Progress


def choose_renderer(*, json_output: bool, stream: TextIO | None = None) -> Progress:
    """JSON lines when asked or when the output is not a terminal; rich progress otherwise."""
    out = stream if stream is not None else sys.stdout
    if json_output or not out.isatty():
        return JsonLinesProgress(out)
    from sfbackup.ui.rich_console import RichProgress

    return RichProgress()


__all__ = ["choose_renderer"]
