"""The `irtnet` command line. Each command parses, builds a config, calls the API and writes files."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="irtnet",
    help="Learn compact IRT representations of LLM abilities from evaluation logs; predict, route, interpret.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from irtnet.cli import data as data_cli
    from irtnet.cli import demo as demo_cli
    from irtnet.cli import model as model_cli

    app.add_typer(data_cli.app, name="data")
    app.command()(model_cli.train)
    app.command()(model_cli.evaluate)
    app.command()(model_cli.route)
    app.command()(demo_cli.demo)


_register()

if __name__ == "__main__":  # pragma: no cover
    app()
