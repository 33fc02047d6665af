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
    from irtnet.cli import calibrate as calibrate_cli
    from irtnet.cli import compare as compare_cli
    from irtnet.cli import data as data_cli
    from irtnet.cli import demo as demo_cli
    from irtnet.cli import estimate as estimate_cli
    from irtnet.cli import estimation as estimation_cli
    from irtnet.cli import model as model_cli
    from irtnet.cli import serve as serve_cli
    from irtnet.cli import tasks as tasks_cli

    app.add_typer(data_cli.app, name="data")
    app.command()(model_cli.train)
    app.command()(model_cli.evaluate)
    app.command()(model_cli.route)
    app.command()(demo_cli.demo)
    app.command()(serve_cli.serve)
    app.command()(calibrate_cli.calibrate)
    app.command()(compare_cli.compare)
    app.command()(compare_cli.results)
    app.command()(estimate_cli.estimate)
    app.command()(estimation_cli.evaluate_estimation)
    app.command()(estimation_cli.data_efficiency)
    for command in (tasks_cli.predict_benchmark, tasks_cli.evaluate_benchmarks, tasks_cli.onboard,
                    tasks_cli.evaluate_onboarding, tasks_cli.evaluate_cost, tasks_cli.report):
        app.command()(command)


try:
    _register()
except KeyboardInterrupt:  # Ctrl-C while the commands load: no traceback (nothing has started)
    raise SystemExit(130) from None

if __name__ == "__main__":  # pragma: no cover
    app()
