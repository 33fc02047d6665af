"""`irtnet train`, `irtnet evaluate`, `irtnet route`: parse, call `irtnet.api`, print."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from irtnet.cli.common import (
    console, friendly_errors, name_list, output_option as OutOpt, parse_fractions, path_argument as PathArg,
    path_option as PathOpt, plain_console, positive, refuse_unused, thread_count,
)
from irtnet.config import MAX_SEED

Opt = typer.Option


@friendly_errors
def train(
    table: Annotated[Path, PathArg(help="response table (.parquet) from `irtnet data import`")],
    out: Annotated[Path, PathOpt("--out", "-o", help="run directory to write")],
    model: Annotated[Optional[str], Opt(help="model to train: irtnet (default) or a baseline's registry name")] = None,
    preset: Annotated[Optional[str], Opt(help="IrtNet preset: default (the default), paper, paper-sparse, small")
                      ] = None,
    config: Annotated[Optional[Path], PathOpt(help="JSON/TOML run config (data, model, threads); flags override it")
                      ] = None,
    encoder: Annotated[Optional[str], Opt(help="sentence-transformers name or local path, or hashing-<dim>")] = None,
    split: Annotated[Optional[str], Opt(help="train,val,test query fractions, e.g. 0.8,0.1,0.1; with "
                                             "--holdout-benchmark TRAIN,VAL,0 (default 0.9,0.1,0)")] = None,
    holdout_benchmark: Annotated[Optional[list[str]], Opt(help="leave this benchmark out as the test set (repeat "
                                                                "the flag to hold out several); the other "
                                                                "benchmarks' queries are cut into training and "
                                                                "validation only")] = None,
    split_by: Annotated[Optional[str], Opt(help="query (test queries unseen) or pair (test (model, query) pairs; "
                                                "the default for classical IRT models)")] = None,
    seed: Annotated[Optional[int], Opt(help="seed of the split and of the model", min=0, max=MAX_SEED)] = None,
    epochs: Annotated[Optional[int], Opt(help="maximum epochs (models trained by epoch)")] = None,
    lr: Annotated[Optional[float], Opt(help="learning rate (models trained by gradient)")] = None,
    groups: Annotated[Optional[bool], Opt("--groups/--no-groups", help="let benchmark names enter IrtNet")] = None,
    threads: Annotated[Optional[int], Opt(help="torch threads while fitting", callback=thread_count)] = None,
    device: Annotated[Optional[str], Opt(help="where IrtNet trains: cpu (default), cuda, or auto (cuda where "
                                              "torch sees a GPU, else cpu)")] = None,
    bf16: Annotated[Optional[bool], Opt("--bf16/--no-bf16", help="bfloat16 autocast on CUDA (IrtNet)")] = None,
    nproc: Annotated[int, Opt(help="data-parallel training in N local processes (gloo on the CPU, nccl on "
                                   "CUDA); under torchrun leave it out", callback=positive)] = 1,
    overwrite: Annotated[bool, Opt("--overwrite", help="replace an existing run directory (kept until the new "
                                                        "run is complete)")] = False,
    quiet: Annotated[bool, Opt("--quiet", help="no progress bars")] = False,
) -> None:
    """Train a model on a query split of TABLE and write a run directory (config, split, checkpoint, history),
    whole or not at all."""
    from irtnet import api
    from irtnet.config import read_config_file

    file = read_config_file(config) if config else None
    spec = api.run_spec_from(
        table, file, model=model, preset=preset, encoder=encoder,
        fractions=_split_fractions(split, bool(holdout_benchmark) or (split_by is None and _benchmark_split(file))),
        holdout_benchmark=holdout_benchmark, split_by=split_by, seed=seed,
        epochs=epochs, lr=lr, groups=groups, threads=threads, progress=False if quiet else None, device=device,
        bf16=bf16)
    run = api.train_run(spec, out, overwrite=overwrite, progress=not quiet, reuse_memory=True, nproc=nproc)
    if run is None:  # a rank above 0 under torchrun: rank 0 wrote the run and reports it
        return
    m = run.spec.model
    console.print(f"wrote run directory [bold]{escape(str(run.path))}[/] ({m.model}"
                  f"{f', preset {m.preset}' if m.preset else ''}, seed {m.seed}; checkpoint in "
                  f"{escape(str(run.path / 'model'))})")


def _split_fractions(split: str | None, holdout: bool) -> tuple[float, float, float] | None:
    """--split as fractions (None: not given; an empty value is an error); with benchmarks held out it must be
    TRAIN,VAL,0 (`check_holdout_fractions`): the test part is the held-out benchmarks."""
    from irtnet.config import check_holdout_fractions

    if split is None:
        return None
    fractions = parse_fractions(split)
    if holdout:
        check_holdout_fractions(fractions)
    return fractions


def _benchmark_split(file: dict[str, Any] | None) -> bool:
    """Whether a config file asks for a benchmark split (`data.split = "benchmark"`)."""
    data = (file or {}).get("data")
    return isinstance(data, dict) and data.get("split") == "benchmark"


@friendly_errors
def evaluate(
    run: Annotated[Path, PathArg(help="run directory written by `irtnet train`")],
    routing_mode: Annotated[Optional[str], Opt(help="missing labels: 'complete' (only fully labelled queries; "
                                                    "the default) or 'observed' (the default for a pair split)")
                            ] = None,
    markdown: Annotated[Optional[Path], OutOpt(help="also write the tables as Markdown here")] = None,
) -> None:
    """Score a run's model on its test queries beside the reference baselines, in two settings: benchmark names
    known, and text only (names hidden); writes RUN/evaluation.json."""
    from irtnet import api
    from irtnet._io import write_text
    from irtnet.api.run import check_routing_mode
    from irtnet.cli.common import check_output_path
    from irtnet.reporting.tables import by_setting, markdown as to_markdown, rich_tables, setting_title

    check_routing_mode(routing_mode)  # the options, and a missing or damaged run, before the message below
    opened = api.Run.open(run)
    check_output_path(markdown, {"the run's table": Path(opened.spec.data.table)})
    opened.table()  # a table moved or changed since training: refused before the message below
    plain_console.print(f"scoring {run} and fitting the reference baselines on its training queries (the "
                        "inferred-benchmark base rate's text classifier takes the longest)", highlight=False)
    results = api.evaluate_run(opened, routing_mode=routing_mode)
    for setting, group in by_setting(results):
        if setting is not None:
            console.rule(setting_title(setting), align="left")
        for table in rich_tables(group):
            plain_console.print(table)  # model and benchmark names as given
    if markdown:
        write_text(markdown, to_markdown(results))
    plain_console.print(f"wrote {run / 'evaluation.json'}" + (f" and {markdown}" if markdown else ""))


@friendly_errors
def route(
    checkpoint: Annotated[Path, PathArg(help="checkpoint or run directory")],
    texts: Annotated[list[str], typer.Argument(help="one or more query texts")],
    top: Annotated[Optional[int], Opt(help="how many models to show per query (ranking only; default 5)",
                                      callback=positive)] = None,
    benchmark: Annotated[Optional[str], Opt(help="benchmark of the queries, if the model knows it")] = None,
    cost_weight: Annotated[Optional[float], Opt(help="pick argmax P - COST_WEIGHT x cost per query")] = None,
    budget: Annotated[Optional[float], Opt(help="keep the mean cost per query <= BUDGET: argmax P - L x cost at "
                                                "the least L within it, the leftover spent greedily on the best "
                                                "gains per extra cost (may fall short of the best total P)")] = None,
    prices: Annotated[Optional[Path], PathOpt(help="with --cost-weight/--budget: price file (JSON/CSV) or table "
                                               "(default: the run's table)")] = None,
    output_tokens: Annotated[Optional[float], Opt(help="with --cost-weight/--budget: assumed output tokens per "
                                                       "answer (token prices; default 256)")] = None,
    candidates: Annotated[Optional[str], Opt(help="comma-separated models to rank or choose among (default: "
                                                  "every model; with --cost-weight/--budget each needs a price)")
                          ] = None,
) -> None:
    """Rank the checkpoint's models for each query text by predicted probability of answering correctly;
    with --cost-weight or --budget, choose one model per text trading that probability against price."""
    from irtnet import api
    from irtnet.reporting.console import cost_decisions_table, ranking_table

    chosen = name_list(candidates)  # an empty name ("", ",m0") is refused by check_candidates
    if cost_weight is not None or budget is not None:
        refuse_unused({"--top": top}, "{given} {is_} read only when ranking the models, and --cost-weight or "
                       "--budget chooses one model per text: leave out {given}")
        decisions = api.cost_route_texts(checkpoint, texts, benchmark, prices, cost_weight, budget, output_tokens,
                                         chosen)
        plain_console.print(cost_decisions_table(decisions))  # the texts, models and price file as given
        plain_console.print(f"expected accuracy {decisions.expected_accuracy:.3f}, mean cost "
                            f"{decisions.mean_cost:.3g} ({len(decisions.models)} models; prices: {decisions.source})")
        counts = Counter(decisions.paths)
        console.print("answered from: " + ", ".join(f"{p} {counts[p]}" for p in sorted(counts)), highlight=False)
        _one_candidate_note(decisions.models)
        return
    from irtnet.api.texts import check_candidates

    refuse_unused({"--prices": prices, "--output-tokens": output_tokens}, "{given} {is_} read only with "
                  "--cost-weight or --budget (cost-aware routing), and neither is given: give one, or leave "
                  "out {given} to rank the models by P")
    predictor = api.load(checkpoint)
    names = check_candidates(predictor, chosen) if chosen is not None else None
    ranked = api.rank_models(predictor, texts, benchmark=benchmark, top=5 if top is None else top, models=names)
    for text, ranking, path in zip(texts, ranked, api.answer_paths(predictor, texts, benchmark)):
        plain_console.print(ranking_table(text, ranking, path))
    _one_candidate_note(names if names is not None else predictor.models_.ids)


def _one_candidate_note(models: Sequence[str]) -> None:
    """Say so where there is one model to route among: the pick is no choice, only its P(correct) is news."""
    if len(models) == 1:
        console.print(f"one model to route among ({models[0]}): every query goes to it; the ranking is no choice, "
                      "only its predicted probability is", markup=False)
