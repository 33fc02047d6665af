"""`irtnet data ...`: import evaluation logs and summarise response tables."""

from __future__ import annotations

import typer

app = typer.Typer(help="Import evaluation logs into a response table and summarise it.", no_args_is_help=True)
