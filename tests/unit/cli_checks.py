"""Shared by the CLI input tests: running a command that must fail with one line."""

from __future__ import annotations

from typer.testing import CliRunner

from irtnet.cli.main import app

runner = CliRunner()


def one_line_error(*args) -> str:
    """Run `irtnet ARGS`; it must exit 2 with one `error:` line and no traceback. Returns the output, its
    whitespace collapsed (the console wraps long lines)."""
    result = runner.invoke(app, [str(a) for a in args])
    printed = " ".join(result.output.split())
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert printed.startswith("error: ") and printed.count("error:") == 1, result.output
    return printed
