"""`irtnet --help`, `irtnet COMMAND --help` and argument errors start without the heavy libraries: the command
modules import torch, scikit-learn, scipy, pandas and sentence-transformers only inside the commands."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "sklearn", "scipy", "pandas", "sentence_transformers")


def test_importing_the_command_line_loads_no_heavy_library():
    code = ("import sys, irtnet.cli.main; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_the_help_lists_every_import_format():
    """`irtnet data import --help` lists irtnet.data.formats.FORMATS without importing the importers: the names
    must be IMPORTERS' keys, in order."""
    from irtnet.data.formats import FORMATS
    from irtnet.data.importers import IMPORTERS

    assert FORMATS == tuple(IMPORTERS)


def test_serve_refuses_a_port_out_of_range(tmp_path):
    from typer.testing import CliRunner

    from irtnet.cli.main import app

    for port in ("99999", "0", "-1"):
        result = CliRunner().invoke(app, ["serve", str(tmp_path / "no-run"), "--port", port])
        assert result.exit_code == 2 and "Invalid value for '--port'" in result.output, result.output
        assert "Traceback" not in result.output and "no-run" not in result.output  # refused before the load
