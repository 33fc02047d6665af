"""`irtnet evaluate-estimation` and `irtnet data-efficiency`: each parses, calls `irtnet.api.estimation`, writes
the JSON (atomically) and, beside it, the figures and markdown summary of `irtnet.reporting.estimation_figures`
(and the finished steps: evaluate-estimation's draws in `<out>.draws/`, data-efficiency's points in
`<out>.steps/`, which a rerun reads)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from irtnet.cli.common import (
    check_output_path, console, baseline_names, friendly_errors, name_list, numbers, output_option as OutOpt,
    path_argument as PathArg, positive, prior_strength_value,
)
from irtnet.cli.tasks import (ConfigOpt, EncoderOpt, EpochsOpt, GroupsOpt, LrOpt, ModelOpt, PresetOpt, SeedOpt,
                              ThreadsOpt, _model)
from irtnet.errors import ConfigError

Opt = typer.Option
FiguresOpt = Annotated[bool, Opt("--figures/--no-figures", help="write PNG figures and a markdown summary beside "
                                                                "the JSON")]


@friendly_errors
def evaluate_estimation(
    table: Annotated[Path, PathArg(help="response table (.parquet)")],
    out: Annotated[Path, OutOpt("--out", "-o", help="JSON file to write")] = Path("estimation.json"),
    ns: Annotated[Optional[str], Opt(help="numbers of answers per held-out model (default 10,25,50,100,200; "
                                          "--quick: 10,50)")] = None,
    draws: Annotated[Optional[int], Opt(help="draws of held-out models (default 3; --quick: 1)", callback=positive)
                     ] = None,
    quick: Annotated[bool, Opt("--quick", help="a smoke run: one draw, N in 10,50, routing at 50, fewer samples")
                     ] = False,
    held_out_share: Annotated[float, Opt(help="share of the models held out per draw")] = 1 / 3,
    methods: Annotated[Optional[str], Opt(help="comma-separated methods (default all: irtnet-random, "
                                               "irtnet-adaptive, irtnet-balanced, irtnet-anchor, mean-random, "
                                               "mean-stratified, anchor, p-irt, gp-irt, hiershrink, retrain)")] = None,
    routing_ns: Annotated[Optional[str], Opt(help="N of the routing comparison and the retrain method "
                                                  "(default 50,100; --quick: 50)")] = None,
    retrain: Annotated[bool, Opt("--retrain/--no-retrain", help="retrain with the held-out models included")] = True,
    retrain_epochs: Annotated[Optional[int], Opt(help="epochs of the retrained model (default: --epochs)",
                                                 callback=positive)] = None,
    level: Annotated[float, Opt(help="interval level")] = 0.9,
    replay_folds: Annotated[int, Opt(help="replay the known models for the interval on networks trained without "
                                          "them, one per fold of the known models (0: on the checkpoint)")] = 0,
    prior_strength: Annotated[str, Opt(help="strength of the held-out models' ability prior (its precision's "
                                            "scale; 1: the known models' spread), or 'auto': chosen per draw and N on "
                                            "the known models")] = "1",
    replay_weight: Annotated[str, Opt(help="irtnet's correction by its answered residuals: one weight fitted on "
                                           "every benchmark's replayed known models ('pooled'), one per "
                                           "benchmark ('per-benchmark'), or, by default, the pooled one unless "
                                           "per-benchmark weights predict the known models clearly better, each left "
                                           "out in turn ('auto')")] = "auto",
    figures: FiguresOpt = True,
    encoder: EncoderOpt = "all-MiniLM-L6-v2",
    model: ModelOpt = None, preset: PresetOpt = None, config: ConfigOpt = None, epochs: EpochsOpt = None,
    lr: LrOpt = None, groups: GroupsOpt = None, seed: SeedOpt = None, threads: ThreadsOpt = None,
) -> None:
    """Hold out a third of the models, train on the rest and estimate each held-out model's accuracy on every
    benchmark from N answers: irtnet beside sample means, tinyBenchmarks (anchor, p-IRT, gp-IRT), HierShrink
    and retraining; errors, rank correlation, interval coverage, paired verdicts and routing."""
    from irtnet.api.estimation import evaluate_estimation as run
    from irtnet.reporting.estimation_figures import estimation_files, estimation_markdown, estimation_outputs

    check_output_path(out)  # and the figures' and summary's paths: before the work, none the JSON's own
    if figures:
        estimation_outputs(out)
    spec = _model(config, model, preset, seed, epochs, lr, groups)
    result = run(table, spec, encoder, ns=numbers(ns, "--ns"), draws=draws, held_out_share=held_out_share,
                 methods=name_list(methods), routing_ns=numbers(routing_ns, "--routing-ns"), retrain=retrain,
                 retrain_epochs=retrain_epochs, level=level, quick=quick, replay_folds=replay_folds,
                 prior_strength=prior_strength_value(prior_strength), replay_weight=replay_weight, threads=threads,
                 out=out, beside=(lambda doc: estimation_files(doc, out)) if figures else None,
                 progress=lambda m: console.print(m, highlight=False, markup=False))
    doc = result.to_dict()
    console.print(estimation_markdown(doc, paired=False), highlight=False, markup=False)  # all of it in the .md
    written = estimation_outputs(out) if figures else []  # written with the JSON, as one change
    run_record = doc["run"]
    console.print(f"draws computed in this invocation: {run_record['draws_computed']}, read from the cache "
                  f"({run_record['draw_cache']}): {run_record['draws_from_cache']}", highlight=False, markup=False)
    console.print(f"wrote {out}" + "".join(f", {p}" for p in written), highlight=False, markup=False)


@friendly_errors
def data_efficiency(
    table: Annotated[Path, PathArg(help="response table (.parquet)")],
    out: Annotated[Path, OutOpt("--out", "-o", help="JSON file to write; each predictor's points at each fraction "
                                                    "are kept in <out>.steps/ and a rerun reads them")
                   ] = Path("data_efficiency.json"),
    baselines: Annotated[str, Opt(help="comma-separated registry names trained beside --model ('' for none)")
                         ] = "model-benchmark-mean,knn,cluster-rate",
    fractions: Annotated[Optional[str], Opt(help="shares of the training queries (default "
                                                 "0.01,0.02,0.04,0.1,0.25,0.5,1)")] = None,
    figures: FiguresOpt = True,
    encoder: EncoderOpt = "all-MiniLM-L6-v2",
    model: ModelOpt = None, preset: PresetOpt = None, config: ConfigOpt = None, epochs: EpochsOpt = None,
    lr: LrOpt = None, groups: GroupsOpt = None, seed: SeedOpt = None, threads: ThreadsOpt = None,
) -> None:
    """Train each model on nested, benchmark-stratified shares of the training queries and score accuracy and
    AUC on the same test queries, with the benchmark known and text only."""
    from irtnet.api import ModelSpec
    from irtnet.api.estimation import data_efficiency as run
    from irtnet.reporting.estimation_figures import efficiency_files, efficiency_markdown, efficiency_outputs

    shares = numbers(fractions, "--fractions", float)
    if shares is not None and not all(math.isfinite(f) for f in shares):  # NaN passes a range check
        raise ConfigError(f"--fractions: training fractions must lie in (0, 1], got {fractions!r}")
    check_output_path(out)  # and the figure's and summary's paths: before the work, none the JSON's own
    if figures:
        efficiency_outputs(out)
    specs = [_model(config, model, preset, seed, epochs, lr, groups)]
    seed = specs[0].seed  # the flag's, else the --config file's, else 0
    specs += [ModelSpec(model=name, seed=seed) for name in baseline_names(baselines) or []]
    result = run(table, specs, encoder, fractions=shares, seed=seed, threads=threads, out=out,
                 beside=(lambda doc: efficiency_files(doc, out)) if figures else None,
                 progress=lambda m: console.print(m, highlight=False, markup=False))
    doc = result.to_dict()
    console.print(efficiency_markdown(doc), highlight=False, markup=False)
    written = efficiency_outputs(out) if figures else []  # written with the JSON, as one change
    reused = result.run.get("steps_from_cache", 0)
    console.print(f"wrote {out}" + "".join(f", {p}" for p in written)
                  + (f" ({reused} steps read from {result.run['step_cache']})" if reused else ""),
                  highlight=False, markup=False)
