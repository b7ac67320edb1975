# PYTHON_ARGCOMPLETE_OK  (shell completion: `eval "$(register-python-argcomplete sfbackup)"`)
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
import re
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from sfbackup import __version__
from sfbackup.errors import EXIT_CODE_MEANINGS, ExitCode, SfbackupError, redact
from sfbackup.ui.logs import configure_logging

#: Command modules, in the order `--help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "login",
    "check",
    "run",
    "verify",
    "snapshots",
    "dictionary",
    "export",
    "restore_files",
    "sql",
    "ls",
    "diff",
    "browse",
    "upload",
    "repair",
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


#: Flag names that would carry a secret: their values are never echoed, and the error says where
#: secrets go instead.
_SECRET_FLAG = re.compile(r"(?i)^--?[\w-]*(password|passwd|secret|token|key)[\w-]*")


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, but a usage error never repeats a value the user typed after an unknown
    flag (`--password hunter2` must not end up in a terminal's scrollback or a cron mail)."""

    def error(self, message: str) -> NoReturn:
        unknown = re.match(r"unrecognized arguments: (.*)", message)
        if unknown:
            words = unknown.group(1).split()
            flags = [w.split("=", 1)[0] for w in words if w.startswith("-")]
            message = "unrecognized arguments: " + (" ".join(flags) or f"{len(words)} extra word(s)")
            if any(_SECRET_FLAG.match(flag) for flag in flags):
                message += (
                    "\n  secrets never go on the command line (other users can read it in `ps`): set "
                    "SF_PASSWORD / SF_SECURITY_TOKEN / SF_CONSUMER_SECRET in the environment, or name "
                    "a file in the config (password_file = ...), or use `sfbackup login` (OAuth)"
                )
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.USAGE), f"{self.prog}: error: {message}\n")


#: Commands registered by a module of another name.
_MODULE_OF_COMMAND: dict[str, str] = {
    "show": "snapshots",
    "logout": "login",
    "restore-files": "restore_files",
    "views": "sql",
    "find": "ls",
    "stats": "ls",
}


def build_parser(only: str | None = None, *, commands: bool = True) -> argparse.ArgumentParser:
    """The parser with every command module, or only the module of command `only`, or none
    (`commands=False`: `sfbackup --version`).

    Loading one command module keeps start-up cheap: the others import pyarrow, boto3 and more.
    """
    parser = ArgumentParser(
        prog="sfbackup",
        description="Complete, verifiable Salesforce backups to Parquet/CSV, a blob store and S3.",
        epilog=exit_status_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sfbackup {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = COMMAND_MODULES if only is None else (_MODULE_OF_COMMAND.get(only, only),)
    if not commands:
        modules = ()
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
    completing = "_ARGCOMPLETE" in os.environ
    # `--version` alone needs no command module (they import requests, pyarrow...): 0.1 s, not 1 s
    parser = build_parser(command if known and not completing else None,
                          commands=words != ["--version"])  # fmt: skip
    if completing:
        import argcomplete

        argcomplete.autocomplete(parser)  # answers the shell and exits
    _release_freed_memory_at_once()
    args = parser.parse_args(words)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return int(ExitCode.USAGE)
    try:
        configure_logging(verbose=getattr(args, "verbose", 0), quiet=getattr(args, "quiet", False),
                          log_file=getattr(args, "log_file", None))  # fmt: skip
    except SfbackupError as exc:
        _print_error(exc, as_json=False)
        return int(exc.exit_code)
    # Commands that write JSON lines when stdout is not a terminal set json_when_piped: their errors
    # then go out as JSON lines too.
    as_json = bool(getattr(args, "json", False)) or (
        bool(getattr(args, "json_when_piped", False)) and not sys.stdout.isatty()
    )
    try:
        return int(handler(args))
    except SfbackupError as exc:
        _print_error(exc, as_json=as_json)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("sfbackup: interrupted; what was saved stays saved, `--resume` continues", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (`sfbackup snapshots | head`): nothing left to say, and nobody to say
        # it to; point stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitCode.BROKEN_PIPE)
    except Exception as exc:
        _print_error(_unexpected(exc), as_json=as_json)
        return int(ExitCode.FAILED)


def _unexpected(exc: Exception) -> SfbackupError:
    """A bug or an unforeseen condition, as a message that says where; the traceback only on request."""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" (in {os.path.basename(frame.filename)}:{frame.lineno}, {frame.name})" if frame else ""
    if os.environ.get("SFBACKUP_TRACEBACK"):
        traceback.print_exception(exc, file=sys.stderr)
    return SfbackupError(
        f"unexpected error: {type(exc).__name__}: {exc}{where}",
        hint="what was saved stays saved; set SFBACKUP_TRACEBACK=1 for the traceback and report it "
        "with the command you ran",
    )


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
    """The error for a person on stderr; as a `{"type": "error"}` line on stdout too when the
    command writes JSON lines (`--json`, or stdout not a terminal), for the log collector."""
    print(redact(f"sfbackup: error: {exc}"), file=sys.stderr, flush=True)
    if as_json:
        try:
            print(redact(json.dumps({"type": "error", **exc.to_dict()})), flush=True)
        except BrokenPipeError:
            pass
