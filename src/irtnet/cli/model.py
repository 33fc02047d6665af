"""`irtnet train`, `irtnet evaluate`, `irtnet route`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from irtnet.cli.common import console, friendly_errors, parse_fractions

Opt = typer.Option


@friendly_errors
def train(
    table: Annotated[Path, typer.Argument(help="response table (.parquet) from `irtnet data import`")],
    out: Annotated[Path, Opt("--out", "-o", help="run directory to write")],
    model: Annotated[str, Opt(help="predictor to train (irtnet, or a baseline name)")] = "irtnet",
    preset: Annotated[Optional[str], Opt(help="IrtNet preset: default, paper, paper-sparse, small")] = None,
    config: Annotated[Optional[Path], Opt(help="JSON/TOML run config overriding the defaults")] = None,
    encoder: Annotated[Optional[str], Opt(help="sentence-transformers name or path, or hashing-<dim>")] = None,
    split: Annotated[Optional[str], Opt(help="train,val,test query fractions, e.g. 0.8,0.1,0.1")] = None,
    holdout_benchmark: Annotated[Optional[str], Opt(help="leave this benchmark out as the test set")] = None,
    seed: Annotated[Optional[int], Opt(help="seed of the split and of training")] = None,
    epochs: Annotated[Optional[int], Opt(help="maximum epochs")] = None,
    lr: Annotated[Optional[float], Opt(help="learning rate")] = None,
    groups: Annotated[Optional[bool], Opt("--groups/--no-groups", help="let benchmark names enter IrtNet")] = None,
    threads: Annotated[Optional[int], Opt(help="torch threads")] = None,
    quiet: Annotated[bool, Opt("--quiet", help="no progress bars")] = False,
) -> None:
    """Train a model on a query split of TABLE and write a run directory (config, split, checkpoint, history)."""
    from irtnet import api
    from irtnet.config import build_run_config

    data: dict[str, Any] = {"table": str(table), "encoder": encoder, "seed": seed,
                            "fractions": parse_fractions(split) if split else None}
    if holdout_benchmark:
        data.update(split="benchmark", holdout_benchmark=holdout_benchmark)
    params: dict[str, Any] = {}
    if model == "irtnet":
        train_over = {"epochs": epochs, "lr": lr, "seed": seed, "threads": threads,
                      "progress": False if quiet else None}
        params = {"config": preset, "train": {k: v for k, v in train_over.items() if v is not None}}
    cfg = build_run_config(_irtnet_defaults() if model == "irtnet" else {"data": {}},
                           config, {"data": data, "model": model, "params": params})
    if cfg.model == "irtnet":
        cfg.params["config"] = _resolve(cfg.params.get("config"))
        if groups is not None:
            cfg.params["config"]["use_groups"] = groups
    run = api.train_run(cfg, out, progress=not quiet)
    console.print(f"wrote run directory [bold]{run.path}[/] (checkpoint in {run.path / 'model'})")


def _irtnet_defaults() -> dict[str, Any]:
    return {"data": {}, "model": "irtnet", "params": {"config": "default", "train": {}}}


def _resolve(config: Any) -> dict[str, Any]:
    from irtnet.predictors.irtnet import resolve_config

    return resolve_config(config or "default").model_dump()


@friendly_errors
def evaluate(
    run: Annotated[Path, typer.Argument(help="run directory written by `irtnet train`")],
    routing_mode: Annotated[str, Opt(help="missing labels: 'complete' (only fully labelled queries) or 'observed'")] = "complete",
    markdown: Annotated[Optional[Path], Opt(help="also write the tables as Markdown here")] = None,
) -> None:
    """Score a run's model on its test queries beside the base-rate references; writes RUN/evaluation.json."""
    from irtnet import api
    from irtnet.reporting.tables import markdown as to_markdown, rich_tables

    results = api.evaluate_run(run, routing_mode=routing_mode)
    for table in rich_tables(results):
        console.print(table)
    if markdown:
        markdown.write_text(to_markdown(results))
    console.print(f"wrote {run / 'evaluation.json'}")


@friendly_errors
def route(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint or run directory")],
    texts: Annotated[list[str], typer.Argument(help="one or more query texts")],
    top: Annotated[int, Opt(help="how many models to show per query")] = 5,
    benchmark: Annotated[Optional[str], Opt(help="benchmark of the queries, if known")] = None,
    cost_weight: Annotated[Optional[float], Opt(help="pick argmax P - COST_WEIGHT x cost per query")] = None,
    budget: Annotated[Optional[float], Opt(help="pick the best total P with mean cost per query <= BUDGET")] = None,
    prices: Annotated[Optional[Path], Opt(help="price file (JSON/CSV) or table (default: the run's table)")] = None,
    output_tokens: Annotated[float, Opt(help="assumed output tokens per answer (token prices)")] = 256,
) -> None:
    """Rank the checkpoint's models for each query text by predicted probability of answering correctly;
    with --cost-weight or --budget, choose one model per text trading that probability against price."""
    from rich.table import Table

    from irtnet import api

    if cost_weight is not None or budget is not None:
        from irtnet.cli.tasks import cost_route_texts

        return cost_route_texts(checkpoint, texts, benchmark, prices, cost_weight, budget, output_tokens)
    predictor = api.load(checkpoint)
    for text, ranked in zip(texts, api.rank_models(predictor, texts, benchmark=benchmark, top=top)):
        table = Table(title=f"{text[:70]!r}", title_justify="left")
        table.add_column("rank", justify="right")
        table.add_column("model")
        table.add_column("P(correct)", justify="right")
        for i, (name, p) in enumerate(ranked, 1):
            table.add_row(str(i), name, f"{p:.3f}")
        console.print(table)
