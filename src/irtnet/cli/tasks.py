"""Downstream task commands: `predict-benchmark`, `evaluate-benchmarks`, `onboard`, `evaluate-onboarding`,
`evaluate-cost`, `report`. Each parses, calls `irtnet.api.experiments` and prints; results go to JSON
(atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from irtnet._io import write_json
from irtnet.config import MAX_SEED
from irtnet.cli.common import (baseline_names, check_output_path, console, friendly_errors, name_list, numbers,
                               output_option as OutOpt, path_argument as PathArg, path_option as PathOpt, positive,
                               refuse_unused, thread_count)

Opt = typer.Option
Arg = typer.Argument

# The model options of the commands that train (the same names and meaning as `irtnet train`'s).
ModelOpt = Annotated[Optional[str], Opt("--model", help="model to train (registry name) \\[default: the --config "
                                                          "file's model, else irtnet]")]
PresetOpt = Annotated[Optional[str], Opt(help="IrtNet preset (default: 'default')")]
ConfigOpt = Annotated[Optional[Path], PathOpt(help="JSON/TOML model settings (model, preset, params, seed), or a train "
                                                "config with only a \\[model] table")]
EpochsOpt = Annotated[Optional[int], Opt(help="maximum epochs")]
LrOpt = Annotated[Optional[float], Opt(help="learning rate")]
GroupsOpt = Annotated[Optional[bool], Opt("--groups/--no-groups", help="benchmark names enter IrtNet (hidden "
                                          "where the protocol says); default: as the preset says")]
SeedOpt = Annotated[Optional[int], Opt(help="seed of the split, the held-out draws and every model \\[default: the "
                                            "--config file's seed, else 0]", min=0, max=MAX_SEED)]
ThreadsOpt = Annotated[Optional[int], Opt(help="torch threads (default: torch's)", callback=thread_count)]
EncoderOpt = Annotated[str, Opt(help="text encoder")]


def _model(config: Path | None, model: str | None, preset: str | None, seed: int | None, epochs: int | None,
           lr: float | None, groups: bool | None) -> Any:
    """The model spec of a task command: the --config file's, overridden by the flags (`model` None: the file's
    model, else irtnet; `seed` None: the file's seed, else 0)."""
    from irtnet.config import read_config_file
    from irtnet.predictors.spec import model_spec_from

    base = model_settings(read_config_file(config), config) if config else None
    return model_spec_from(base, model=model, preset=preset, seed=seed, epochs=epochs, lr=lr, groups=groups,
                           progress=False)


def model_settings(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """The model spec a task command reads from a `--config` file: the file itself (`model`, `preset`,
    `params`, `seed`), or the `[model]` table of an `irtnet train` run config, whose other tables (`data`,
    `threads`) belong to a training run and are refused by name, as the task command takes them from its
    own arguments."""
    if not isinstance(raw.get("model"), dict):
        return raw
    other = sorted(k for k in raw if k != "model")
    if other:
        from irtnet.errors import ConfigError

        raise ConfigError(f"{path}: a task command reads only the [model] table of a run config; {other} do "
                          "not apply here (the table is the command's argument; use --threads and --seed)")
    return raw["model"]


# ---------------------------------------------------------------------------------------------- benchmark
@friendly_errors
def predict_benchmark(
    checkpoint: Annotated[Path, PathArg(help="checkpoint or run directory")],
    texts_file: Annotated[Path, PathArg(help="query texts: .txt (one per line, UTF-8), or .jsonl/.json/.csv with a "
                                         "text field and optionally benchmark; any other file type is an error")],
    top: Annotated[Optional[int], Opt(help="show only the best N models", callback=positive)] = None,
    benchmark: Annotated[Optional[str], Opt(help="name of a benchmark the model knows, for the texts the file "
                                                 "gives none (one it gives otherwise is an error; default: new, "
                                                 "text only)")] = None,
    json_out: Annotated[Optional[Path], OutOpt("--json", help="also write the ranking here")] = None,
    answers: Annotated[Optional[Path], PathOpt(help="the known models' answers on some of the texts "
                                                "(.csv/.jsonl/.json: model, id of a text, correct): each model's "
                                                "accuracy is then its answers plus the predictions moved by what "
                                                "they show (the anchor setting)")] = None,
    level: Annotated[Optional[float], Opt(help="with --answers: the level of each model's predictive interval "
                                               "\\[default: 0.9]")] = None,
    anchor_shift: Annotated[Optional[str], Opt(help="with --answers: how much of the level shift the answers show "
                                                    "to apply, as evaluate-benchmarks --anchor-shift reads it "
                                                    "\\[default: chosen]")] = None,
) -> None:
    """Predict every known model's accuracy on a set of query texts that no model was run on, ranked; with
    --answers, from the known models' answers on a few of them too, each with a predictive interval."""
    from irtnet.api.experiments import anchored_benchmark
    from irtnet.api.experiments import predict_benchmark as predict
    from irtnet.reporting.console import predicted_accuracy_table

    check_output_path(json_out, {"TEXTS_FILE": texts_file, "--answers": answers})  # before the work, not after it
    extra: dict[str, Any] = {}
    intervals, ranking = None, []
    if answers is None:
        refuse_unused({"--level": level, "--anchor-shift": anchor_shift},
                      "{given} {is_} read only with --answers (the interval and the level shift come from the "
                      "answers): give --answers, or leave {given} out")
        n, ranked, names = predict(checkpoint, texts_file, benchmark)
        title = f"Predicted accuracy on {n} queries of {texts_file.name}"
    else:
        level = 0.9 if level is None else level
        got = anchored_benchmark(checkpoint, texts_file, answers, benchmark, level,
                                 anchor_shift)
        n, ranked, names, intervals = got.n_queries, got.ranked, got.benchmarks, got.intervals
        title = (f"Estimated accuracy on {n} queries of {texts_file.name}, {got.n_items_answered} of them answered "
                 f"by known models ({answers.name}; level shift {got.shift:+.2f} logits)")
        extra = {"answers_file": str(answers), "n_items_answered": got.n_items_answered, "shift": got.shift,
                 "anchor_shift": got.rule,
                 "answered": got.answered, "level": got.level}
        ranking = [{"lower": intervals[m][0], "upper": intervals[m][1]} for m, _ in ranked]
    console.print(predicted_accuracy_table(title, ranked[:top], intervals, level or 0.9))
    if json_out:  # the benchmarks the texts were read under (texts per name), and those read as new (text only)
        used = {b: names.count(b) for b in dict.fromkeys(b for b in names if b is not None)}
        write_json(json_out, {"texts_file": str(texts_file), "n_queries": n, "benchmarks": used,
                              "n_text_only": names.count(None), **extra,
                              "ranking": [{"model": m, "predicted_accuracy": a, **(ranking[i] if ranking else {})}
                                          for i, (m, a) in enumerate(ranked)]})


@friendly_errors
def evaluate_benchmarks(
    table: Annotated[Path, PathArg(help="response table (.parquet)")],
    out: Annotated[Path, OutOpt("--out", "-o", help="JSON file to write; each finished fold is kept in <out>.steps/ "
                                                 "and a rerun reads it")] = Path("benchmark_eval.json"),
    encoder: EncoderOpt = "all-MiniLM-L6-v2",
    model: ModelOpt = None, preset: PresetOpt = None, config: ConfigOpt = None, epochs: EpochsOpt = None,
    lr: LrOpt = None, groups: GroupsOpt = None, seed: SeedOpt = None, threads: ThreadsOpt = None,
    baselines: Annotated[Optional[str], Opt(help="comma-separated registry names (default: every predictor that "
                                                  "can score an unseen query; '' for none)")] = None,
    benchmarks: Annotated[Optional[str], Opt(help="comma-separated benchmarks to hold out (default all)")] = None,
    k: Annotated[int, Opt(help="top-k recovery", callback=positive)] = 3,
    anchors: Annotated[str, Opt(help="comma-separated numbers of the held-out benchmark's items every model has "
                                     "answered (the anchor setting); '' for none")] = "5,10,25,50",
    anchor_draws: Annotated[Optional[int], Opt(help="random draws of the anchor items per held-out benchmark; the "
                                                    "anchor figures are means over them \\[default: 10]",
                                               callback=positive)] = None,
    anchor_shift: Annotated[Optional[str], Opt(help="how much of the level shift fitted on the anchors to apply: "
                                                    "'chosen' (the share that predicts each anchor item best from the "
                                                    "others), 'cautious' (the smallest share within one standard "
                                                    "error of that one) or 'whole' \\[default: chosen]")
                            ] = None,
) -> None:
    """Leave one benchmark out: predict each model's accuracy on the held-out benchmark from its texts, and
    with a few of its items answered by every model; MAE, Pearson, Spearman, top-k recovery beside baselines.
    Each held-out benchmark's fold is kept in <out>.steps/ as it finishes: an interrupted run loses none, and a
    rerun with the same table, models and settings reads them."""
    from irtnet.api.experiments import evaluate_benchmarks as run
    from irtnet.reporting.console import paired_table, summary_table

    check_output_path(out, {"TABLE": table})  # before the work
    spec = _model(config, model, preset, seed, epochs, lr, groups)
    ns = [] if anchors == "" else numbers(anchors, "--anchors")  # '' is none, as the help says
    if not ns:
        refuse_unused({"--anchor-draws": anchor_draws, "--anchor-shift": anchor_shift},
                      "{given} {is_} read only in the anchor setting: give --anchors, or leave {given} out")
    result = run(table, spec, encoder, baseline_names(baselines), name_list(benchmarks), k, threads,
                 progress=lambda b: console.print(f"holding out {b}", highlight=False, markup=False),
                 anchors=ns, out=out, anchor_draws=10 if anchor_draws is None else anchor_draws,
                 anchor_shift=anchor_shift)
    for n, why in result.settings.get("anchors_skipped", {}).items():
        console.print(f"skipped --anchors {n}: {why}", highlight=False, markup=False)
    console.print(summary_table(result.summary, f"Leave-one-benchmark-out accuracy prediction "
                                                f"({len(result.folds)} folds; no item of it answered)"))
    for n, summary in result.anchored.items():
        console.print(summary_table(summary, f"With {n} items of the held-out benchmark answered by every model "
                                             f"({summary[next(iter(summary))]['n_folds']} folds)"))
    if result.paired:
        console.print(paired_table(result.paired))
    twins = {f.benchmark: f.text_twins_left_out for f in result.folds if f.text_twins_left_out}
    if twins:
        console.print("left out of training, as the exact text of a held-out query (text twins in other "
                      f"benchmarks): {', '.join(f'{n} for {b}' for b, n in twins.items())}", highlight=False,
                      markup=False)
    reused = result.run.get("folds_from_cache", 0)
    console.print(f"wrote {out}" + (f" ({reused} of {len(result.folds)} folds read from {result.run['step_cache']})"
                                    if reused else ""), highlight=False, markup=False)



# --------------------------------------------------------------------------------------------- onboarding
@friendly_errors
def onboard(
    checkpoint: Annotated[Path, PathArg(help="IrtNet checkpoint or run directory")],
    answers_file: Annotated[Path, PathArg(help=".csv/.jsonl/.json with text and label (or correct, or score: 0/1 or "
                                           "a fraction) per query")],
    name: Annotated[str, Opt(help="name of the new model")] = "new-model",
    save: Annotated[Optional[Path], PathOpt(help="write a checkpoint with the new model added here")] = None,
    prior_strength: Annotated[float, Opt(help="multiplies the prior precision (1 = the known models' spread)",
                                         callback=positive)] = 1.0,
    pool: Annotated[Optional[Path], PathOpt(help="texts of queries you could ask next (.txt, .jsonl, .json or .csv, "
                                              "as predict-benchmark's TEXTS_FILE)")] = None,
    suggest: Annotated[Optional[int], Opt(help="with --pool: how many queries to ask next (D-optimal; default 10), "
                                                "of the pool's texts not answered", callback=positive)] = None,
    json_out: Annotated[Optional[Path], OutOpt("--json", help="write theta and the ranking here")] = None,
) -> None:
    """Fit a new model's ability from its answers with the query network frozen; rank it among the known
    models; optionally save it into a checkpoint and suggest the most informative queries to ask next."""
    from irtnet.api.experiments import onboard as run
    from irtnet.reporting.console import onboard_lines

    check_output_path(json_out, {"ANSWERS_FILE": answers_file, "--pool": pool})  # before the work and the checkpoint
    doc = run(checkpoint, answers_file, name, prior_strength, pool, suggest, save)
    for line in onboard_lines(doc):
        console.print(line, highlight=False)
    if pool and len(doc["suggested"]) < (suggest or 10):
        console.print(f"suggested {len(doc['suggested'])}, not {suggest or 10}: the pool has "
                      f"{doc['n_pool_unanswered']} texts not answered", highlight=False, markup=False)
    if json_out:
        write_json(json_out, doc)


@friendly_errors
def evaluate_onboarding(
    table: Annotated[Path, PathArg(help="response table (.parquet)")],
    out: Annotated[Path, OutOpt("--out", "-o", help="JSON file to write")] = Path("onboarding.json"),
    n_test: Annotated[Optional[int], Opt(help="models to hold out (drawn with --seed; default 5)",
                                         callback=positive)] = None,
    models: Annotated[Optional[str], Opt(help="comma-separated models to hold out instead")] = None,
    ks: Annotated[str, Opt(help="numbers of labelled queries")] = "10,25,50,100,200",
    strategies: Annotated[str, Opt(help="d-optimal, fisher, random, each optionally -balanced (content balancing "
                                        "over benchmarks)")] = "d-optimal,d-optimal-balanced,fisher,random",
    n_random: Annotated[Optional[int], Opt(help="draws of the random strategies (seeds SEED, SEED+1, ...; default "
                                                "3); refused where --strategies runs no random one",
                                           callback=positive)] = None,
    prior_strength: Annotated[float, Opt(callback=positive)] = 1.0,
    prior_kind: Annotated[str, Opt(help="isotropic or population")] = "isotropic",
    retrain_epochs: Annotated[int, Opt(help="epochs of the retrain-with-K-answers reference (0: skip it)")] = 0,
    encoder: EncoderOpt = "all-MiniLM-L6-v2",
    model: ModelOpt = None, preset: PresetOpt = None, config: ConfigOpt = None, epochs: EpochsOpt = None,
    lr: LrOpt = None, groups: GroupsOpt = None, seed: SeedOpt = None, threads: ThreadsOpt = None,
) -> None:
    """Hold out models, train on the rest, onboard each held-out model from K answers (adaptive vs random)
    and score it on unseen queries; optionally beside retraining with the K answers included."""
    from irtnet.api.experiments import evaluate_onboarding as run
    from irtnet.reporting.console import onboarding_table

    k_values = numbers(ks, "--ks")
    check_output_path(out, {"TABLE": table})  # before the work
    spec = _model(config, model, preset, seed, epochs, lr, groups)
    result = run(table, spec, encoder, n_test=n_test, models=name_list(models), ks=k_values,
                 strategies=name_list(strategies), n_random=n_random, prior_strength=prior_strength,
                 prior_kind=prior_kind, retrain_epochs=retrain_epochs, threads=threads,
                 progress=lambda m: console.print(m))
    write_json(out, result.to_dict())
    console.print(onboarding_table(result.rows))
    console.print(f"wrote {out}")


# --------------------------------------------------------------------------------------------------- cost
@friendly_errors
def evaluate_cost(
    run: Annotated[Path, PathArg(help="run directory written by `irtnet train`")],
    out: Annotated[Optional[Path], OutOpt("--out", "-o", help="JSON file (default RUN/cost_routing.json)")] = None,
    prices: Annotated[Optional[Path], PathOpt(help="price file (JSON/CSV); default: the table's cost column or its "
                                                "model prices")] = None,
    output_tokens: Annotated[Optional[float], Opt(help="assumed output tokens per answer (token prices; default "
                                                       "256)")] = None,
    baselines: Annotated[str, Opt(help="comma-separated baselines swept beside the model")] = "model-benchmark-mean",
) -> None:
    """Cost-aware routing on a run's test queries: sweep lambda in argmax P - lambda * cost; report the
    accuracy-cost curve, its normalised area and the cheapest point matching the best single model."""
    from irtnet import api
    from irtnet.api.experiments import cost_routing_run
    from irtnet.reporting.console import cost_lines

    names = baseline_names(baselines)  # an empty or repeated name before the run is read
    out = out or run / "cost_routing.json"
    table = Path(api.Run.open(run).spec.data.table)  # read by the work: -o there would replace it with the JSON
    check_output_path(out, {"--prices": prices, "the run's table": table})  # before the work, not after it
    result = cost_routing_run(run, prices, output_tokens, names)
    write_json(out, result)
    for line in cost_lines(result):
        console.print(line, highlight=False)
    console.print(f"wrote {out}")


# ------------------------------------------------------------------------------------------------- report
@friendly_errors
def report(
    checkpoint: Annotated[Path, PathArg(help="run directory (or checkpoint directory with --table)")],
    table: Annotated[Optional[Path], PathOpt(help="response table (default: the run's own)")] = None,
    out: Annotated[Path, OutOpt("--out", "-o", help="HTML file; a .json twin is written beside it")] = Path(
        "report.html"),
    include: Annotated[Optional[list[Path]], PathOpt(help="task result JSON files to add (of evaluate-benchmarks, "
                                                      "evaluate-onboarding, cost routing, evaluate-estimation, "
                                                      "data-efficiency; another file is refused); the run's own are "
                                                      "added when present")] = None,
    prices: Annotated[Optional[Path], PathOpt(help="price file for the cost section")] = None,
    output_tokens: Annotated[Optional[float], Opt(help="assumed output tokens per answer (token prices of the cost "
                                                       "section; default 256)")] = None,
) -> None:
    """Write a self-contained HTML report (figures embedded as PNG data URIs) and its JSON twin: evaluation
    tables, interpretation (difficulty, profiles, ability map, item curves, discrimination) and the task
    results found in the run directory."""
    from irtnet.reporting.html import report_paths, write_report
    from irtnet.reporting.report import build_report

    inputs = {"--table": table, "--prices": prices, **{f"--include {p}": p for p in include or []}}
    for path in report_paths(out):  # the HTML and its JSON twin, both before the work
        check_output_path(path, inputs)
    html_path, json_path = write_report(build_report(checkpoint, table, include or [], prices, output_tokens), out)
    console.print(f"wrote {html_path} and {json_path}")
