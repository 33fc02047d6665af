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


#: Options of `irtnet train` for a run made in a second.
SMALL = ["--preset", "small", "--encoder", "hashing-32", "--epochs", "1", "--threads", "1"]


def tiny_run_folder(root):
    """`root` with a synthetic table t.parquet, a tiny run `run` trained on it and prices.json (a price per model);
    returns `root`."""
    import json

    from irtnet import api
    from irtnet.data.synthetic import make_synthetic

    make_synthetic(n_models=4, n_queries=120, n_benchmarks=2, dim=2, feature_dim=6, seed=0).table.to_parquet(
        root / "t.parquet")
    result = runner.invoke(app, ["train", str(root / "t.parquet"), "-o", str(root / "run"), "--quiet", *SMALL])
    assert result.exit_code == 0, result.output
    models = api.load(root / "run").models_.to_list()
    (root / "prices.json").write_text(json.dumps({m: 0.001 * (i + 1) for i, m in enumerate(models)}))
    return root
