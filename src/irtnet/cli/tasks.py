"""Downstream task commands: `predict-benchmark`, `evaluate-benchmarks`, `onboard`, `evaluate-onboarding`,
`evaluate-cost`, `report`. Each parses, calls the task functions and writes JSON (atomically)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np
import typer

from irtnet import api
from irtnet._io import write_json
from irtnet.cli.common import console, friendly_errors
from irtnet.errors import ConfigError, DataError

Opt = typer.Option
Arg = typer.Argument


# ------------------------------------------------------------------------------------------------- inputs
def _load_records(path: Path) -> list[dict[str, Any]]:
    """Rows of a .txt (one text per line), .jsonl, .json (list) or .csv file as dicts."""
    if not path.is_file():
        raise DataError("no such file", file=str(path))
    suffix = path.suffix.lower()
    if suffix == ".csv":
        import pandas as pd

        return pd.read_csv(path).to_dict("records")
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    elif suffix == ".json":
        rows = json.loads(path.read_text(encoding="utf-8"))
    else:
        return [{"text": line} for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    return [r if isinstance(r, dict) else {"text": r} for r in rows]


def _text_of(row: dict[str, Any], file: Path, i: int) -> str:
    for key in ("text", "query", "question", "prompt"):
        if isinstance(row.get(key), str):
            return row[key]
    raise DataError("no text (expected a 'text', 'query', 'question' or 'prompt' field)", file=str(file), row=i + 1)


def read_texts(path: Path) -> tuple[list[str], list[str | None]]:
    """(texts, benchmarks) of a texts file; benchmarks None where not given."""
    rows = _load_records(path)
    if not rows:
        raise DataError("no texts", file=str(path))
    return [_text_of(r, path, i) for i, r in enumerate(rows)], [r.get("benchmark") for r in rows]


def read_answers(path: Path) -> tuple[list[str], np.ndarray, list[str | None]]:
    """(texts, labels in [0, 1], benchmarks) of an answers file (fields text and label / correct / score)."""
    rows = _load_records(path)
    texts, labels = [], []
    for i, r in enumerate(rows):
        texts.append(_text_of(r, path, i))
        value = next((r[k] for k in ("label", "correct", "score") if k in r), None)
        try:
            labels.append(float(value))
        except (TypeError, ValueError):
            raise DataError(f"label {value!r} is not a number in [0, 1]", file=str(path), row=i + 1, field="label")
        if not 0 <= labels[-1] <= 1:
            raise DataError(f"label {value!r} is not in [0, 1]", file=str(path), row=i + 1, field="label")
    if not rows:
        raise DataError("no answers", file=str(path))
    return texts, np.array(labels), [r.get("benchmark") for r in rows]


def _queries(predictor: Any, texts: list[str], benchmarks: list[str | None]) -> Any:
    return api.text_queries(predictor, texts, benchmarks)


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _irtnet_factory(preset: str | dict[str, Any], epochs: int, lr: float, seed: int, threads: int | None,
                    groups: bool | None) -> Any:
    from irtnet.predictors.irtnet import IrtNet, resolve_config

    if Path(preset).suffix == ".json":  # an IrtNetConfig written as JSON instead of a preset name
        from irtnet.config import read_config_file

        preset = read_config_file(preset)
    config = resolve_config(preset)
    if groups is not None:  # only an explicit --groups/--no-groups overrides the preset
        config = config.model_copy(update={"use_groups": groups})
    train = {"epochs": epochs, "lr": lr, "seed": seed, "threads": threads, "progress": False}
    return lambda: IrtNet(config, train)


def _prepare(table: Path, encoder: str) -> Any:
    import torch

    torch.set_num_threads(1)  # shared machines: small runs, one thread unless --threads says otherwise
    return api.prepare(api.load_table(table), encoder)


# ---------------------------------------------------------------------------------------------- benchmark
@friendly_errors
def predict_benchmark(
    checkpoint: Annotated[Path, Arg(help="checkpoint or run directory")],
    texts_file: Annotated[Path, Arg(help="query texts: .txt (one per line), .jsonl/.json/.csv with a text field")],
    top: Annotated[Optional[int], Opt(help="show only the best N models")] = None,
    benchmark: Annotated[Optional[str], Opt(help="name of a benchmark the model knows (default: new, text only)")
                         ] = None,
    json_out: Annotated[Optional[Path], Opt("--json", help="also write the ranking here")] = None,
) -> None:
    """Predict every known model's accuracy on a set of query texts that no model was run on, ranked."""
    from rich.table import Table

    from irtnet.tasks.benchmark import predict_benchmark as predict

    predictor = api.load(checkpoint)
    texts, _ = read_texts(texts_file)
    ranked = predict(predictor, _queries(predictor, texts, [benchmark] * len(texts)))
    table = Table(title=f"Predicted accuracy on {len(texts)} queries of {texts_file.name}", title_justify="left")
    for col in ("rank", "model", "predicted accuracy"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for i, (name, acc) in enumerate(ranked[:top], 1):
        table.add_row(str(i), name, f"{acc:.3f}")
    console.print(table)
    if json_out:
        write_json(json_out, {"texts_file": str(texts_file), "n_queries": len(texts),
                              "ranking": [{"model": m, "predicted_accuracy": a} for m, a in ranked]})


@friendly_errors
def evaluate_benchmarks(
    table: Annotated[Path, Arg(help="response table (.parquet)")],
    out: Annotated[Path, Opt("--out", "-o", help="JSON file to write")] = Path("benchmark_eval.json"),
    encoder: Annotated[str, Opt(help="text encoder")] = "all-MiniLM-L6-v2",
    preset: Annotated[str, Opt(help="IrtNet preset, or a .json IrtNet config")] = "small",
    epochs: Annotated[int, Opt(help="IrtNet epochs per fold")] = 15,
    lr: Annotated[float, Opt(help="IrtNet learning rate")] = 1e-3,
    groups: Annotated[Optional[bool], Opt("--groups/--no-groups", help="benchmark names enter IrtNet (hidden for "
                                          "the held-out one); default: as the preset says")] = None,
    baselines: Annotated[Optional[str], Opt(help="comma-separated registry names (default: every predictor that "
                                                  "reads no item identity, i.e. not item-seen)")] = None,
    benchmarks: Annotated[Optional[str], Opt(help="comma-separated benchmarks to hold out (default all)")] = None,
    k: Annotated[int, Opt(help="top-k recovery")] = 3,
    seed: Annotated[int, Opt()] = 0,
    threads: Annotated[Optional[int], Opt(help="torch threads")] = 1,
) -> None:
    """Leave one benchmark out: predict each model's accuracy on the held-out benchmark from its texts;
    MAE, Pearson, Spearman, top-k recovery beside baselines."""
    from irtnet.predictors import REGISTRY, Predictor
    from irtnet.reporting.tables import _fmt
    from irtnet.tasks.benchmark import evaluate_benchmarks as run

    data = _prepare(table, encoder)
    names = _csv(baselines) or [n for n, c in REGISTRY.items()
                                if issubclass(c, Predictor) and not c.item_seen and n != "irtnet"]
    factories = {"irtnet": _irtnet_factory(preset, epochs, lr, seed, threads, groups)}
    factories.update({n: (lambda n=n: api.build_predictor(n, {})) for n in names})
    result = run(data, factories, _csv(benchmarks), k, seed=seed, progress=lambda b: console.print(f"holding out {b}"))
    result.settings.update(table=str(table), encoder=encoder, preset=preset, epochs=epochs, lr=lr, groups=groups)
    write_json(out, result.to_dict())
    _print_summary(result.summary, f"Leave-one-benchmark-out accuracy prediction ({len(result.folds)} folds)", _fmt)
    console.print(f"wrote {out}")


def _print_summary(summary: dict[str, dict[str, float]], title: str, fmt: Any) -> None:
    from rich.table import Table

    keys = [k for k in next(iter(summary.values())) if k != "n_folds"]
    table = Table(title=title, title_justify="left")
    table.add_column("predictor")
    for key in keys:
        table.add_column(key, justify="right")
    for name, row in summary.items():
        table.add_row(name, *[fmt(row[key], 3) for key in keys])
    console.print(table)


# --------------------------------------------------------------------------------------------- onboarding
@friendly_errors
def onboard(
    checkpoint: Annotated[Path, Arg(help="IrtNet checkpoint or run directory")],
    answers_file: Annotated[Path, Arg(help=".csv/.jsonl/.json with text and label (0/1 or a fraction) per query")],
    name: Annotated[str, Opt(help="name of the new model")] = "new-model",
    save: Annotated[Optional[Path], Opt(help="write a checkpoint with the new model added here")] = None,
    prior_strength: Annotated[float, Opt(help="multiplies the prior precision (1 = the known models' spread)")] = 1.0,
    pool: Annotated[Optional[Path], Opt(help="texts of queries you could ask next")] = None,
    suggest: Annotated[int, Opt(help="with --pool: how many queries to ask next (D-optimal)")] = 10,
    json_out: Annotated[Optional[Path], Opt("--json", help="write theta and the ranking here")] = None,
) -> None:
    """Fit a new model's ability from its answers with the query network frozen; rank it among the known
    models; optionally save it into a checkpoint and suggest the most informative queries to ask next."""
    from irtnet.predictors.checkpoint import save_predictor
    from irtnet.tasks.onboard import fit_theta, population_prior, suggest_queries, with_new_model

    predictor = api.load(checkpoint)
    texts, labels, benches = read_answers(answers_file)
    a, b = predictor.query_parameters(_queries(predictor, texts, benches))
    prior = population_prior(predictor.abilities_, prior_strength)
    theta = fit_theta(a, b, labels, prior.mean, prior.precision)
    mean_p = 1 / (1 + np.exp(-(a @ predictor.abilities_.T - b[:, None])))
    new_p = 1 / (1 + np.exp(-(a @ theta - b)))
    rank = int((mean_p.mean(axis=0) > new_p.mean()).sum()) + 1
    console.print(f"{name}: fitted from {len(labels)} answers (observed accuracy {labels.mean():.3f}, predicted "
                  f"{new_p.mean():.3f} on them); rank {rank} of {len(predictor.models_) + 1} by predicted accuracy "
                  "on these queries")
    doc: dict[str, Any] = {"model": name, "n_answers": len(labels), "theta": theta.tolist(), "rank": rank}
    if pool:
        pool_texts, pool_benches = read_texts(pool)
        pa, pb = predictor.query_parameters(_queries(predictor, pool_texts, pool_benches))
        picks = suggest_queries(pa, pb, theta, prior, a, b, suggest)
        doc["suggested"] = [pool_texts[i] for i in picks]
        console.print("ask next:")
        for i in picks:
            console.print(f"  {pool_texts[i][:100]!r}")
    if save:
        save_predictor(with_new_model(predictor, name, theta), save, metrics={"onboarded": {name: len(labels)}})
        console.print(f"wrote checkpoint {save} with {name} added")
    if json_out:
        write_json(json_out, doc)


@friendly_errors
def evaluate_onboarding(
    table: Annotated[Path, Arg(help="response table (.parquet)")],
    out: Annotated[Path, Opt("--out", "-o", help="JSON file to write")] = Path("onboarding.json"),
    n_test: Annotated[int, Opt(help="models to hold out (drawn with --seed)")] = 5,
    models: Annotated[Optional[str], Opt(help="comma-separated models to hold out instead")] = None,
    ks: Annotated[str, Opt(help="numbers of labelled queries")] = "10,25,50,100,200",
    strategies: Annotated[str, Opt(help="d-optimal, fisher, random, each optionally -balanced (content balancing "
                                        "over benchmarks)")] = "d-optimal,d-optimal-balanced,fisher,random",
    n_random: Annotated[int, Opt(help="seeds of the random strategy")] = 3,
    prior_strength: Annotated[float, Opt()] = 1.0,
    prior_kind: Annotated[str, Opt(help="isotropic or population")] = "isotropic",
    retrain_epochs: Annotated[int, Opt(help="epochs of the retrain-with-K-answers reference (0: skip it)")] = 0,
    groups: Annotated[Optional[bool], Opt("--groups/--no-groups",
                                          help="benchmark names enter IrtNet; default: as the preset says")] = None,
    encoder: Annotated[str, Opt()] = "all-MiniLM-L6-v2",
    preset: Annotated[str, Opt(help="IrtNet preset, or a .json IrtNet config")] = "small",
    epochs: Annotated[int, Opt()] = 15,
    lr: Annotated[float, Opt()] = 1e-3,
    seed: Annotated[int, Opt()] = 0,
    threads: Annotated[Optional[int], Opt()] = 1,
) -> None:
    """Hold out models, train on the rest, onboard each held-out model from K answers (adaptive vs random)
    and score it on unseen queries; optionally beside retraining with the K answers included."""
    from irtnet.tasks.onboard import onboarding_experiment

    data = _prepare(table, encoder)
    make = _irtnet_factory(preset, epochs, lr, seed, threads, groups)
    retrain = _irtnet_factory(preset, retrain_epochs, lr, seed, threads, groups) if retrain_epochs else None
    result = onboarding_experiment(data, make, n_test, [int(x) for x in ks.split(",")], _csv(strategies), n_random,
                                   seed=seed, retrain=retrain, prior_strength=prior_strength, prior_kind=prior_kind,
                                   models=_csv(models), progress=lambda m: console.print(m))
    result.settings.update(table=str(table), encoder=encoder, preset=preset, epochs=epochs, lr=lr,
                           retrain_epochs=retrain_epochs, groups=groups)
    write_json(out, result.to_dict())
    _print_onboarding(result)
    console.print(f"wrote {out}")


def _print_onboarding(result: Any) -> None:
    from rich.table import Table

    from irtnet.reporting.tables import _fmt

    table = Table(title="New models from K answers (held-out models, unseen queries)", title_justify="left")
    cols = ("auc", "log_loss", "accuracy", "model_auc", "benchmark_mae")
    for c in ("method", "K", *cols):
        table.add_column(c, justify="left" if c == "method" else "right")
    for row in result.rows:
        table.add_row(row["method"], "all" if row["k"] < 0 else str(row["k"]), *[_fmt(row[c], 4) for c in cols])
    console.print(table)


# --------------------------------------------------------------------------------------------------- cost
@friendly_errors
def evaluate_cost(
    run: Annotated[Path, Arg(help="run directory written by `irtnet train`")],
    out: Annotated[Optional[Path], Opt("--out", "-o", help="JSON file (default RUN/cost_routing.json)")] = None,
    prices: Annotated[Optional[Path], Opt(help="price file (JSON/CSV); default: the table's cost column or its "
                                                "model prices")] = None,
    output_tokens: Annotated[float, Opt(help="assumed output tokens per answer (token prices)")] = 256,
    baselines: Annotated[str, Opt(help="comma-separated baselines swept beside the model")] = "model-benchmark-mean",
) -> None:
    """Cost-aware routing on a run's test queries: sweep lambda in argmax P - lambda * cost; report the
    accuracy-cost curve, its normalised area and the cheapest point matching the best single model."""
    from irtnet.reporting.tables import _fmt

    result = cost_routing_run(run, prices, output_tokens, _csv(baselines) or [])
    out = out or run / "cost_routing.json"
    write_json(out, result)
    _print_cost(result, _fmt)
    console.print(f"wrote {out}")


def cost_routing_run(run: Path, prices: Path | None, output_tokens: float, baselines: list[str]) -> dict[str, Any]:
    """The cost evaluation of a run directory's model (and `baselines` fitted on its training split)."""
    from irtnet.config import RunConfig, read_config_file
    from irtnet.data.splits import QuerySplit
    from irtnet.tasks.cost import evaluate_cost as run_cost
    from irtnet.tasks.evaluate import score_matrix, training_accuracies

    cfg = RunConfig.model_validate(read_config_file(run / "config.json"))
    table = api.load_table(cfg.data.table)
    split = QuerySplit.load(run / "split.json")
    train, _, test = api.split_datasets(api.prepare(table, cfg.data.encoder), split)
    labels = test.table.label_matrix()
    complete = ~np.isnan(labels).any(axis=1)
    test = test.select(np.asarray(test.table.query_vocab.ids, dtype=object)[complete].tolist())
    models = list(test.table.model_vocab.ids)
    cost, decide, source = test_costs(test, train, table, prices, output_tokens)
    probs = {"irtnet" if cfg.model == "irtnet" else cfg.model: score_matrix(api.load(run), test)}
    for name in baselines:
        probs[name] = score_matrix(api.build_predictor(name, {}).fit(train), test)
    model_acc, _ = training_accuracies(train, tuple(models))
    result = run_cost(probs, test.table.label_matrix(), cost, models, model_acc, decision_cost=decide)
    result.settings = {"run": str(run), "cost_source": source, "n_queries": test.table.n_queries,
                       "n_dropped_incomplete": int((~complete).sum()), "output_tokens": output_tokens}
    return result.to_dict()


def test_costs(test: Any, train: Any, table: Any, prices: Path | None, output_tokens: float):
    """(realised cost [Q, M], decision cost, description) of the test queries."""
    from irtnet.tasks.cost import cost_matrix, load_prices, prices_from_models, token_counts

    models = list(test.table.model_vocab.ids)
    if prices is None and test.table.has_cost:
        cost = test.table.label_matrix(value="cost")
        train_cost = train.table.label_matrix(model_ids=models, value="cost")
        decide = np.nanmean(train_cost, axis=0)  # each model's mean training cost per query
        return cost, decide, "table cost column (realised); decisions use each model's mean training cost"
    price = load_prices(prices) if prices else prices_from_models(table.models)
    if not price:
        raise ConfigError("no costs: the table has no cost column or model prices; pass --prices FILE")
    tokens = token_counts(test.table.queries["text"].tolist())
    cost = cost_matrix(price, models, tokens, output_tokens)
    return cost, None, (f"prices from {prices or 'table model metadata'}; input tokens = ceil(chars / 4), "
                        f"output tokens = {output_tokens:g}")


def _print_cost(result: dict[str, Any], fmt: Any) -> None:
    best = result["best_single"]
    single = result["single_models"][best]
    console.print(f"best single model on training: {best} (test accuracy {single['accuracy']:.4f}, mean cost "
                  f"{single['cost']:.6g}); oracle {result['oracle']['accuracy']:.4f} at "
                  f"{result['oracle']['cost']:.6g}; "
                  f"single-model frontier area {fmt(result['single_area'], 4)}")
    for c in result["curves"]:
        top = max(c["points"], key=lambda p: p["accuracy"])
        match = (f"matches it at cost {c['match_cost']:.6g} ({c['match_cost'] / single['cost']:.1%} of its cost)"
                 if c["match_cost"] is not None else "never matches it")
        console.print(f"{c['router']} ({c['kind']}): area {fmt(c['area'], 4)}; best accuracy "
                      f"{top['accuracy']:.4f} at cost "
                      f"{top['cost']:.6g}; {match}")


# ------------------------------------------------------------------------------------------------- report
@friendly_errors
def report(
    checkpoint: Annotated[Path, Arg(help="run directory (or checkpoint directory with --table)")],
    table: Annotated[Optional[Path], Opt(help="response table (default: the run's own)")] = None,
    out: Annotated[Path, Opt("--out", "-o", help="HTML file; a .json twin is written beside it")] = Path("report.html"),
    include: Annotated[Optional[list[Path]], Opt(help="task result JSON files to add (benchmark, onboarding, "
                                                      "cost); the run's own are added when present")] = None,
    prices: Annotated[Optional[Path], Opt(help="price file for the cost section")] = None,
    output_tokens: Annotated[float, Opt(help="assumed output tokens per answer (token prices)")] = 256,
) -> None:
    """Write a self-contained HTML report (figures embedded as PNG data URIs) and its JSON twin: evaluation
    tables, interpretation (difficulty, profiles, ability map, item curves, discrimination) and the task
    results found in the run directory."""
    from irtnet.reporting import html as H

    rep = build_report(checkpoint, table, include or [], prices, output_tokens)
    html_path, json_path = H.write_report(rep, out)
    console.print(f"wrote {html_path} and {json_path}")


def build_report(checkpoint: Path, table_path: Path | None, include: list[Path], prices: Path | None,
                 output_tokens: float) -> Any:
    from irtnet.data.splits import QuerySplit
    from irtnet.reporting import html as H
    from irtnet.tasks.interpret import model_families

    predictor = api.load(checkpoint)
    run_dir = checkpoint if (checkpoint / "config.json").exists() else None
    cfg = _run_config(run_dir)
    table_path = table_path or (Path(cfg.data.table) if cfg else None)
    rep = H.Report(f"irtnet report: {checkpoint}", meta={"checkpoint": str(checkpoint), "predictor": predictor.name,
                                                         "models": len(predictor.models_)})
    if run_dir and (run_dir / "evaluation.json").exists():
        H.evaluation_section(rep, json.loads((run_dir / "evaluation.json").read_text()))
    if table_path is not None and hasattr(predictor, "query_parameters"):
        tab = api.load_table(table_path)
        data = api.prepare(tab, getattr(predictor, "encoder_", None))
        where = "all queries of the table"
        if run_dir and (run_dir / "split.json").exists() and Path(table_path) == Path(cfg.data.table):
            data = data.select(QuerySplit.load(run_dir / "split.json").test)
            where = "the run's test queries (unseen in training)"
        known = [m for m in data.table.model_vocab.ids if m in predictor.models_]
        data = data.select(model_ids=known)
        families = model_families(data.table.models)
        rep.meta.update(table=str(table_path), interpretation_queries=where)
        H.interpretation_section(rep, predictor, data, families, where)
    found = [run_dir / n for n in ("benchmark_eval.json", "onboarding.json", "cost_routing.json")] if run_dir else []
    docs = [json.loads(p.read_text()) for p in [*found, *include] if p.exists()]
    if run_dir and cfg and not any(d.get("task") == "cost-routing" for d in docs):
        try:
            docs.append(cost_routing_run(run_dir, prices, output_tokens, ["model-benchmark-mean"]))
        except ConfigError as exc:  # no costs for this table: the section is left out, and the page says why
            rep.meta["cost section"] = f"left out ({exc})"
    for doc in docs:
        {"benchmark-accuracy": H.benchmark_section, "onboarding": H.onboarding_section,
         "cost-routing": H.cost_section}.get(doc.get("task"), lambda r, d: None)(rep, doc)
    return rep


def _run_config(run_dir: Path | None) -> Any:
    from irtnet.config import RunConfig, read_config_file

    if run_dir is None:
        return None
    return RunConfig.model_validate(read_config_file(run_dir / "config.json"))


# ----------------------------------------------------------------------------------- cost-aware `route`
def resolve_prices(checkpoint: Path, prices: Path | None) -> tuple[dict[str, Any], str]:
    """Per-model prices from a price file, a response table (.parquet: model prices in its metadata, else
    each model's mean `cost` per query) or, by default, the run's own table."""
    from irtnet.tasks.cost import Price, load_prices, prices_from_models

    if prices is not None and prices.suffix.lower() != ".parquet":
        return load_prices(prices), str(prices)
    if prices is None:
        cfg = _run_config(checkpoint if (checkpoint / "config.json").exists() else None)
        if cfg is None:
            raise ConfigError("cost-aware routing needs prices: pass --prices (a JSON/CSV price file or a table)")
        prices = Path(cfg.data.table)
    table = api.load_table(prices)
    found = prices_from_models(table.models)
    if found:
        return found, f"model prices of {prices}"
    if table.has_cost:
        mean = table.responses.groupby("model", observed=True)["cost"].mean()
        return {str(m): Price(per_query=float(c)) for m, c in mean.items()}, f"mean cost per query in {prices}"
    raise ConfigError(f"{prices} has neither model prices nor a cost column; pass --prices FILE")


def cost_route_texts(checkpoint: Path, texts: list[str], benchmark: str | None, prices: Path | None,
                     cost_weight: float | None, budget: float | None, output_tokens: float) -> None:
    """Choose one model per text by P - cost_weight * cost, or the best total P within a mean budget."""
    from rich.table import Table

    from irtnet.tasks.cost import cost_matrix, route_budget, token_counts
    from irtnet.tasks.routing import route as route_by_value

    if (cost_weight is None) == (budget is None):
        raise ConfigError("give exactly one of --cost-weight and --budget")
    predictor = api.load(checkpoint)
    price, source = resolve_prices(checkpoint, prices)
    names = [m for m in predictor.models_.ids if m in price]
    if not names:
        raise ConfigError(f"none of the checkpoint's models has a price in {source}")
    prob = predictor.predict_proba(_queries(predictor, texts, [benchmark] * len(texts)), names)
    cost = cost_matrix(price, names, token_counts(texts), output_tokens)
    choice = route_by_value(prob, cost, cost_weight) if budget is None else route_budget(prob, cost, budget)
    rule = f"P - {cost_weight:g} x cost" if budget is None else f"best total P with mean cost <= {budget:g}"
    table = Table(title=f"Cost-aware routing ({rule}; prices: {source})", title_justify="left")
    for col in ("query", "model", "P(correct)", "cost"):
        table.add_column(col, justify="left" if col in ("query", "model") else "right")
    rows = np.arange(len(texts))
    for i, j in zip(rows, choice):
        table.add_row(texts[i][:50], names[j], f"{prob[i, j]:.3f}", f"{cost[i, j]:.3g}")
    console.print(table)
    console.print(f"expected accuracy {prob[rows, choice].mean():.3f}, mean cost {cost[rows, choice].mean():.3g} "
                  f"({len(names)} priced models)")
