"""Every `irtnet ...` command written in README.md and docs/*.md names a command that exists, options that
command has, and (for `irtnet data import`) a known format and -O keys that format reads: the documentation
cannot drift from the CLI unnoticed. Placeholders (FORMAT, RUN, [optional parts], a|b alternatives, ...) are
read as the help texts write them."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from irtnet.cli.main import app
from irtnet.data.formats import AUTO, FORMATS
from irtnet.data.importers import options_of

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND = typer.main.get_command(app)


def _commands(path: Path) -> list[tuple[int, str]]:
    """(line number, command) of each `irtnet <word> ...` in a code block, an indented line or a code span; a
    line ending in a backslash continues on the next."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found, n = [], 0
    while n < len(lines):
        line, start = lines[n], n + 1
        while line.rstrip().endswith("\\") and n + 1 < len(lines):
            n += 1
            line = line.rstrip()[:-1] + " " + lines[n].strip()
        for match in re.finditer(r"(?:^\s*(?:\$ )?|`)(irtnet [a-z][^`#\n|]*)", line):
            found.append((start, match.group(1).strip()))
        n += 1
    return found


def _resolve(words: list[str]) -> tuple[Any, list[str]] | None:
    """The (sub)command the words name and the words after it; None for prose ("irtnet learns ...").
    (typer ships its own click: its commands are told apart by what they have, not by click's classes.)"""
    command, rest = COMMAND, words
    while hasattr(command, "commands") and rest and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    return None if command is COMMAND else (command, rest)


def _options(command: Any) -> set[str]:
    return {name for param in command.params if param.param_type_name == "option"
            for name in (*param.opts, *param.secondary_opts)} | {"--help"}


CASES = [(f"{path.relative_to(ROOT)}:{line}", text) for path in DOCS for line, text in _commands(path)]


def test_the_documents_hold_commands():
    assert len(CASES) > 100 and any(text.startswith("irtnet data import ") for _, text in CASES)


@pytest.mark.parametrize(("where", "text"), CASES, ids=[where for where, _ in CASES])
def test_a_documented_command_exists_with_its_options(where, text):
    try:
        words = shlex.split(text.replace("[", " ").replace("]", " "))
    except ValueError:  # an unclosed quote: a command cut by the line (prose around a span)
        words = text.replace("[", " ").replace("]", " ").split()
    resolved = _resolve(words[1:])
    if resolved is None:
        assert words[1] not in {"import", "merge"}, f"{where}: {text!r} names no command"
        return
    command, rest = resolved
    known = _options(command)
    for word in rest:
        if word.startswith("-") and not re.fullmatch(r"-[\d.]+", word):
            name = word.split("=", 1)[0]
            assert name in known, f"{where}: {text!r}: {command.name} has no option {name} (it has {sorted(known)})"
    if command.name == "import" and rest and rest[0].islower():
        _check_import(where, text, rest)


def _check_import(where: str, text: str, rest: list[str]) -> None:
    fmt = rest[0]
    assert fmt in (AUTO, *FORMATS), f"{where}: {text!r}: unknown format {fmt!r}"
    accepted = set(options_of(fmt)) if fmt != AUTO else set()
    for flag, value in zip(rest, rest[1:]):
        if flag == "-O" and "=" in value and fmt != AUTO:
            key = value.split("=", 1)[0]
            assert key in accepted, f"{where}: {text!r}: format {fmt} has no option {key!r} ({sorted(accepted)})"
