"""The `sfbackup` command line: argument parsing and exit codes, nothing else.

Each command lives in its own module under `sfbackup.cli` and exposes `register(subparsers)`,
which adds its parser and sets `handler=<function(args) -> int>`. Handlers call one library
function and map its result to an exit code; every `SfbackupError` becomes its own exit code.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence

from sfbackup import __version__
from sfbackup.errors import EXIT_CODE_MEANINGS, ExitCode, SfbackupError, redact

#: Command modules, in the order `--help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "login",
    "run",
    "verify",
    "snapshots",
    "dictionary",
    "upload",
    "forget",
    "prune",
    "unlock",
    "demo",
    "emulator",
)


def exit_status_epilog() -> str:
    """The EXIT STATUS block appended to every command's help."""
    lines = ["exit status:"]
    lines += [f"  {int(code):>3}  {meaning}" for code, meaning in EXIT_CODE_MEANINGS.items()]
    return "\n".join(lines)


#: Commands registered by a module of another name.
_MODULE_OF_COMMAND: dict[str, str] = {"show": "snapshots", "logout": "login"}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command module, or only the module of command `only`.

    Loading one command module keeps start-up cheap: the others import pyarrow, boto3 and more.
    """
    parser = argparse.ArgumentParser(
        prog="sfbackup",
        description="Complete, verifiable Salesforce backups to Parquet/CSV, a blob store and S3.",
        epilog=exit_status_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sfbackup {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = COMMAND_MODULES if only is None else (_MODULE_OF_COMMAND.get(only, only),)
    for name in modules:
        try:
            module = importlib.import_module(f"sfbackup.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"sfbackup.cli.{name}":
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    _prefer_jemalloc()
    words = list(sys.argv[1:] if argv is None else argv)
    command = words[0] if words else None
    known = command in COMMAND_MODULES or command in _MODULE_OF_COMMAND
    parser = build_parser(command if known else None)
    _release_freed_memory_at_once()
    args = parser.parse_args(words)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return int(ExitCode.USAGE)
    try:
        return int(handler(args))
    except SfbackupError as exc:
        _print_error(exc, as_json=bool(getattr(args, "json", False)))
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("sfbackup: interrupted; what was saved stays saved, `--resume` continues", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)


def _prefer_jemalloc() -> None:
    """Have Arrow allocate from jemalloc unless the user chose (must run before pyarrow loads).

    A Bulk export allocates and frees page-sized buffers over and over; jemalloc returns them to
    the OS where pyarrow's default (mimalloc) keeps them: about a third less peak memory for a
    run (docs/benchmarks.md). Linux wheels of pyarrow include jemalloc.
    """
    if sys.platform == "linux" and "pyarrow" not in sys.modules:
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")


def _release_freed_memory_at_once() -> None:
    """Have jemalloc return freed pages to the OS right away (its default waits a second).

    Page buffers are freed every few milliseconds; waiting lets several pages' worth pile up:
    about 15 MB of peak memory for a Bulk export, for a little system CPU.
    """
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None and pyarrow.default_memory_pool().backend_name == "jemalloc":
        pyarrow.jemalloc_set_decay_ms(0)


def _print_error(exc: SfbackupError, *, as_json: bool) -> None:
    if as_json:
        print(redact(json.dumps({"type": "error", **exc.to_dict()})), flush=True)
    else:
        print(redact(f"sfbackup: error: {exc}"), file=sys.stderr, flush=True)
