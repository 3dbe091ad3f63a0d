"""The lazily built parser reads exactly like the full one, and loads only what a command needs."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from dockyard.cli.main import COMMANDS, build_parser, command_in


def _commands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def test_help_lines_match_the_modules() -> None:
    real = {a.dest: a.help for a in _commands(build_parser())._choices_actions}
    listed = {name: text for _, commands in COMMANDS for name, text in commands.items()}
    assert listed == real
    assert list(listed) == list(real)  # same order in --help


@pytest.mark.parametrize("command", [None, *(n for _, c in COMMANDS for n in c)])
def test_lazy_parser_reads_like_the_full_one(command: str | None) -> None:
    full, lazy = build_parser(), build_parser(command, load_all=False)
    assert lazy.format_help() == full.format_help()
    if command is not None:
        chosen = _commands(lazy).choices[command]
        assert chosen.format_help() == _commands(full).choices[command].format_help()


def test_command_word() -> None:
    assert command_in(["--help"]) is None
    assert command_in(["get", "pods", "-n", "x"]) == "get"


def test_help_imports_no_heavy_module() -> None:
    probe = (
        "import sys\n"
        "from dockyard.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('sqlalchemy', 'alembic', 'docker', 'httpx') if m in sys.modules]\n"
        "print(heavy, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.startswith("usage: dockyard")
    assert result.stderr.strip() == "[]"
