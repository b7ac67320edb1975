"""The scripting contract is documented: the README's exit-code table matches errors.py, every
command has help that ends with the exit status block, and the example config names real keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sfbackup.cli import _MODULE_OF_COMMAND, COMMAND_MODULES, build_parser, main
from sfbackup.errors import EXIT_CODE_MEANINGS

ROOT = Path(__file__).resolve().parent.parent


def test_readme_exit_code_table_matches_errors_module() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", readme, flags=re.MULTILINE))
    assert {int(k): v for k, v in rows.items()} == {int(k): v for k, v in EXIT_CODE_MEANINGS.items()}


def test_readme_opens_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    block = lines[lines.index("```") + 1 : lines.index("```") + 3]
    assert block[0].startswith("scripts/demo.sh")
    assert block[1].startswith("scripts/test.sh")


#: Every command: one per module (`restore_files` registers `restore-files`), and those a module
#: registers beside its own (`show`, `logout`, `views`, `find`, `stats`).
COMMANDS = sorted({*(m.replace("_", "-") for m in COMMAND_MODULES), *_MODULE_OF_COMMAND})


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_ending_with_exit_status(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()
    names = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert command in names, f"command {command} is not registered"
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "exit status:" in out
    assert " 13  " in out
