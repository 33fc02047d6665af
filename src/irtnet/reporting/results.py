"""Comparison tables: cells -> mean and spread over seeds -> JSON and Markdown; and docs/results.md.

- `aggregate(results)`: from a run's results.json (dict), one table per (dataset, setting): for each model
  entry every correctness and routing metric as mean, sample std (ddof 1, None for one seed) and the
  per-seed values over the seeds that succeeded, plus the label-only routing references.
- `write_tables(run_dir)`: writes tables/<dataset>-<setting>.json and .md and summary.md in the run.
- `results_document(run_dirs, command)`: the Markdown of docs/results.md: for each run the exact command,
  spec, seeds, split, dataset versions (SOURCE.md commit, file digests, table fingerprint) and the tables
  (without the run's stats.json, a note in place of the verdicts says so: `missing_stats_note`).
- The files it reads (results.json, stats.json) are checked by `result_files`.
- `summary_markdown(run_dir)`: the README's summary table of a run: per (dataset, setting), the focus entry
  against the best other entry per metric (AUC, log loss, routing accuracy) as the two means and the verdict.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from irtnet._io import json_text, write_together
from irtnet.errors import ConfigError
from irtnet.reporting.paired import LEFT_OUT_MARK, left_out_notes, md_cell, paired_markdown, verdict_summary
from irtnet.reporting.result_cells import CORRECTNESS, ROUTING
from irtnet.reporting.result_files import check_run_dir, focus_entry, missing_stats_note, paired_stats, read_results
from irtnet.tasks.routing import references_no_result

_LOWER_IS_BETTER = {"log_loss", "brier", "ece"}
_HEADERS = {"accuracy": "accuracy", "auc": "AUC", "log_loss": "log loss", "brier": "Brier", "ece": "ECE",
            "micro": "micro", "macro": "macro", "gap_closed": "gap closed"}
_REFERENCES = {"random": "random model (expected)", "best_single": "best single model (on training data)",
               "benchmark_best": "benchmark's best model (on training data)", "oracle": "oracle"}


# ----------------------------------------------------------------------------------------- numbers
def stat(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean, sample standard deviation (ddof 1; None for fewer than two values) and the values.

    NaN values (e.g. AUC where a split has one class) are kept in `values` but left out of mean and std.
    """
    vals = [float(v) for v in values if v is not None]
    finite = [v for v in vals if not math.isnan(v)]
    mean = sum(finite) / len(finite) if finite else None
    std = math.sqrt(sum((v - mean) ** 2 for v in finite) / (len(finite) - 1)) if len(finite) > 1 else None
    return {"mean": mean, "std": std, "n": len(finite), "values": vals}


def aggregate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One table per (dataset, setting) present in the run's cells, rows in the spec's model order."""
    spec, cells = results["spec"], results["cells"]
    tables = []
    for ds in spec["datasets"]:
        for setting in ("query", "text", "pair"):
            sub = [c for c in cells if c["dataset"] == ds["name"] and c["setting"] == setting]
            if sub:
                tables.append(_table(spec, ds["name"], setting, sub))
    return tables


def _table(spec: dict[str, Any], dataset: str, setting: str, cells: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [_row(m, [c for c in cells if c["label"] == m["name"]]) for m in spec["models"]
            if any(c["label"] == m["name"] for c in cells)]
    per_seed: dict[tuple[int, Any], dict[str, Any]] = {}
    for c in cells:  # the references and test sizes depend on the split only: any scored cell has them
        if c["status"] == "ok":
            per_seed.setdefault((c["seed"], c.get("fold")), c["result"])
    scored = list(per_seed.values())
    ref_names = scored[0]["routing"]["references"] if scored else {}
    refs = {name: {k: stat([r["routing"]["references"][name][k] for r in scored]) for k in ("micro", "macro")}
            for name in ref_names}
    corr = [r["correctness"]["per_benchmark"] for r in scored if r.get("correctness")]
    base = {b: stat([x[b]["base_rate"] for x in corr if b in x]) for b in sorted({b for x in corr for b in x})}
    folds = sorted({c["fold"] for c in cells if c.get("fold") is not None})
    caveats = [_routing_caveat(r) for r in scored]
    return {"dataset": dataset, "setting": setting, "seeds": sorted({c["seed"] for c in cells}), "folds": folds,
            "routing_mode": scored[0]["routing"]["mode"] if scored else None, "rows": rows, "references": refs,
            "routing_caveat": caveats[0] if caveats and all(caveats) else None,
            "base_rate": base,
            "test": {"n_queries": stat([r["info"]["n_test_queries"] for r in scored]),
                     "n_pairs": stat([r["info"]["n_test_pairs"] for r in scored]),
                     "routed_queries": stat([r["routing"]["n_queries"] for r in scored]),
                     "excluded_queries": stat([r["routing"]["n_excluded"] for r in scored])}}


def _routing_caveat(result: dict[str, Any]) -> str | None:
    """Why a scored cell's routing accuracy is no result on its test labels (`routing_no_result`), or None."""
    return references_no_result(result["routing"]["references"], (result.get("info") or {}).get("n_models"))


def _status(cells: list[dict[str, Any]]) -> str:
    statuses = {c["status"] for c in cells}
    if statuses == {"ok"}:
        return "ok"
    if "ok" in statuses:
        return "partial"
    return "error" if "error" in statuses else "n/a" if statuses == {"n/a"} else "pending"


def _row(entry: dict[str, Any], cells: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [c for c in cells if c["status"] == "ok"]
    row: dict[str, Any] = {"label": entry["name"], "model": entry.get("model") or entry["name"],
                           "status": _status(cells), "n_ok": len(ok), "n_seeds": len(cells),
                           "unit": "split" if any(c.get("fold") is not None for c in cells) else "seed",
                           "errors": {_draw(c): c["error"] for c in cells if c["status"] != "ok"}}
    if not ok:
        return row
    corr = [c["result"]["correctness"] for c in ok]
    has_corr = all(x is not None for x in corr)
    row["correctness"] = {m: stat([x["overall"][m] for x in corr]) for m in CORRECTNESS} if has_corr else None
    row["routing"] = {m: stat([c["result"]["routing"][m] for c in ok]) for m in ROUTING}
    benches = sorted({b for x in corr if x for b in x["per_benchmark"]})
    row["per_benchmark_accuracy"] = {b: stat([x["per_benchmark"][b]["accuracy"] for x in corr
                                              if b in x["per_benchmark"]]) for b in benches} if has_corr else {}
    epochs = [c["result"]["info"].get("epochs_run") for c in ok]
    row["epochs_run"] = stat(epochs) if all(e is not None for e in epochs) else None
    row["fit_seconds"] = stat([c["fit_seconds"] for c in ok])
    row["eval_seconds"] = stat([c["eval_seconds"] for c in ok])
    row["from_cache"] = sum(bool(c.get("cached")) for c in ok)
    return row


def _draw(cell: dict[str, Any]) -> str:
    return str(cell["seed"]) if cell.get("fold") is None else f"{cell['seed']}/fold{cell['fold']}"


# ---------------------------------------------------------------------------------------- markdown
def fmt(s: dict[str, Any] | None, digits: int = 4) -> str:
    """'mean ± std' ('mean' for one seed, '-' for none); a mean over fewer values than were scored (the others
    undefined: an AUC on a split with one class) says how many it is over, '0.8000 (1 of 2 defined)', never passes
    for the mean over every seed the table names."""
    if not s or s.get("mean") is None:
        return "-"
    text = f"{s['mean']:.{digits}f}"
    text += f" ± {s['std']:.{digits}f}" if s.get("std") is not None else ""
    n, scored = s.get("n"), len(s.get("values") or ())
    return text + (f" ({n} of {scored} defined)" if n is not None and n < scored else "")


def _mean(s: dict[str, Any] | None, digits: int = 3) -> str:
    return "-" if not s or s.get("mean") is None else f"{s['mean']:.{digits}f}"


def _md(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(map(md_cell, header)) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(map(md_cell, r)) + " |" for r in rows])


def _best(rows: list[dict[str, Any]], group: str, metric: str) -> float | None:
    means = [r[group][metric]["mean"] for r in rows if r.get(group) and r[group][metric]["mean"] is not None]
    if not means:
        return None
    return min(means) if metric in _LOWER_IS_BETTER else max(means)


def _cell_text(row: dict[str, Any], group: str, metric: str, best: float | None, digits: int) -> str:
    s = row[group][metric]
    text = fmt(s, digits)
    return f"**{text}**" if best is not None and s["mean"] is not None and abs(s["mean"] - best) < 1e-12 else text


def _label(row: dict[str, Any]) -> str:
    """The entry's label; a partial one with its scored draws: '(1/2 seeds)', or '(3/4 splits)' under
    cross-fitting, where each cell is one fold of a seed."""
    unit = row.get("unit", "seed")
    suffix = f" ({row['n_ok']}/{row['n_seeds']} {unit}s)" if row["status"] == "partial" else ""
    return f"{row['label']}{suffix}"


def _failure(row: dict[str, Any], width: int) -> list[str]:
    msg = next(iter(row["errors"].values()), "") or ""
    first = msg.splitlines()[0] if msg else ""
    text = {"n/a": f"n/a ({first})", "pending": "not run yet"}.get(row["status"], f"error: {first[:160]}")
    return [row["label"], text] + [""] * (width - 2)


def _fit_text(row: dict[str, Any]) -> str:
    text = fmt(row["fit_seconds"], 1)
    epochs = row.get("epochs_run")
    return text + (f" ({epochs['mean']:.0f} epochs)" if epochs and epochs.get("mean") is not None else "")


def _scored(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["status"] in ("ok", "partial")]


def correctness_markdown(rows: list[dict[str, Any]]) -> str:
    probs = [r for r in _scored(rows) if r.get("correctness")]
    best = {m: _best(probs, "correctness", m) for m in CORRECTNESS}
    out = []
    for r in rows:
        if r not in _scored(rows):
            out.append(_failure(r, 7))
        elif r.get("correctness") is None:
            out.append([_label(r), "router only: no probabilities"] + [""] * 5)
        else:
            values = [_cell_text(r, "correctness", m, best[m], 4) for m in CORRECTNESS]
            out.append([_label(r), *values, _fit_text(r)])
    return _md(["model"] + [_HEADERS[m] for m in CORRECTNESS] + ["fit (s)"], out)


def routing_markdown(rows: list[dict[str, Any]], references: dict[str, Any], no_result: bool = False) -> str:
    """The routing table; with `no_result` (routing accuracy is no result here) no mean is marked best."""
    routed = _scored(rows)
    best = {m: None if no_result else _best(routed, "routing", m) for m in ROUTING}
    out = [[_label(r)] + [_cell_text(r, "routing", m, best[m], 3 if m == "gap_closed" else 4) for m in ROUTING]
           if r in routed else _failure(r, 4) for r in rows]
    out += [[f"({_REFERENCES.get(k, k)})", fmt(v["micro"]), fmt(v["macro"]), ""] for k, v in references.items()]
    return _md(["router"] + [_HEADERS[m] for m in ROUTING], out)


def per_benchmark_markdown(rows: list[dict[str, Any]], base_rate: dict[str, Any]) -> str:
    probs = [r for r in _scored(rows) if r.get("correctness")]
    benches = sorted({b for r in probs for b in r["per_benchmark_accuracy"]})
    out = [[b, _mean(base_rate.get(b))] + [_mean(r["per_benchmark_accuracy"].get(b)) for r in probs] for b in benches]
    return _md(["benchmark", "base rate"] + [r["label"] for r in probs], out)


def table_markdown(t: dict[str, Any], stats: dict[tuple[str, str], dict[str, Any]] | None = None) -> str:
    """The Markdown of one aggregated table: correctness, routing with references, per-benchmark accuracy."""
    n_seeds, test, folds = len(t["seeds"]), t["test"], t.get("folds") or []
    split = {"pair": "split by (model, query) pairs (item-seen setting)",
             "query": "benchmark known: split by query (test queries unseen)",
             "text": "text only: split by query, the test queries' benchmark names hidden"}[t["setting"]]
    over = (f"{len(folds)} folds (each query tested once) x {n_seeds} seed{'s' if n_seeds > 1 else ''}" if folds
            else f"{n_seeds} seed{'s' if n_seeds > 1 else ''}")
    sizes = (f"Test set per {'fold' if folds else 'seed'}: {fmt(test['n_queries'], 0)} queries, "
             f"{fmt(test['n_pairs'], 0)} labelled pairs. Routing mode '{t['routing_mode']}': "
             f"{fmt(test['routed_queries'], 0)} queries routed, {fmt(test['excluded_queries'], 0)} left out."
             if t["routing_mode"] is not None else  # no scored cell: no test set, no routing mode to name
             "No cell of this table was scored: each entry's row says why.")
    parts = [f"### {t['dataset']}: {split}",
             f"Mean ± sample std over {over} ({', '.join(map(str, t['seeds']))}); best mean in bold. {sizes}",
             "**Correctness**", correctness_markdown(t["rows"]),
             "**Routing** (gap closed = (micro - best single) / (oracle - best single))"
             + (f": {t['routing_caveat']}" if t.get("routing_caveat") else ""),
             routing_markdown(t["rows"], t["references"], no_result=bool(t.get("routing_caveat")))]
    if any(r.get("correctness") for r in _scored(t["rows"])):
        parts += ["**Per-benchmark accuracy** (mean over seeds; base rate = share of correct test labels)",
                  per_benchmark_markdown(t["rows"], t.get("base_rate", {}))]
    paired = (stats or {}).get((t["dataset"], t["setting"]))
    if paired:
        parts += [paired_markdown(paired)]
    return "\n\n".join(parts) + "\n"


# ------------------------------------------------------------------------------------------- files
def write_tables(run_dir: str | Path) -> list[dict[str, Any]]:
    """Aggregate the run's cells and write tables/*.json, tables/*.md and summary.md as one change
    (`table_files`); returns the tables."""
    files, stale, tables = table_files(run_dir)
    write_together(files)
    remove_files(stale)
    return tables


def table_files(run_dir: str | Path) -> tuple[list[tuple[Path, str]], list[Path], list[dict[str, Any]]]:
    """(the files `write_tables` writes, with their texts: tables/<dataset>-<setting>.json and .md, then
    summary.md; the table files of an earlier run into the folder that this one has not, to remove (a dataset
    renamed or left out, a setting no entry has now: tables/ never shows an old table beside the new ones); the
    tables)."""
    run_dir = Path(run_dir)
    results = read_results(run_dir)
    tables = aggregate(results)
    stats = paired_stats(run_dir, results)
    files: list[tuple[Path, str]] = []
    for t in tables:
        stem = run_dir / "tables" / f"{t['dataset']}-{t['setting']}"
        files += [(stem.with_suffix(".json"), json_text(t)), (stem.with_suffix(".md"), table_markdown(t, stats))]
    written = {path.name for path, _ in files}
    folder = run_dir / "tables"
    stale = [old for old in (folder.iterdir() if folder.is_dir() else ())
             if old.name not in written and _TABLE_FILE.fullmatch(old.name) and old.is_file()]
    files.append((run_dir / "summary.md", run_markdown(results, run_dir, tables, level=1)))
    return files, stale, tables


def remove_files(paths: list[Path]) -> None:
    """Remove `paths` (old table files), where they still exist."""
    for path in paths:
        path.unlink(missing_ok=True)


#: The name of a table file `write_tables` writes: <dataset>-<setting>.json or .md.
_TABLE_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*-(query|text|pair)\.(json|md)")


def _count(n: int, noun: str) -> str:
    """'1 file', '2 files': a count with its noun, plural where it is not one."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _short(h: str | None, n: int = 12) -> str:
    return f"`{h[:n]}`" if h else "-"


def datasets_markdown(datasets: dict[str, Any]) -> str:
    rows = []
    for name, d in datasets.items():
        prov = d.get("provenance", {})
        source = f"`{d['format']}` `{d['path']}`" if d.get("format") else f"table `{d.get('table')}`"
        if d.get("options"):
            source += f" {json.dumps(d['options'])}"
        n_files = len(prov.get("files", {}))
        files = f"{_count(n_files, 'file')}, digest {_short(prov.get('digest'))}" if n_files else "-"
        rows.append([name, source, _short(prov.get("commit"), 40), files, _short(d["fingerprint"]),
                     f"{d['n_models']} × {d['n_queries']}", f"{d['n_pairs']:,}", str(len(d["benchmarks"]))])
    return _md(["dataset", "source", "SOURCE.md commit", "source files (sha256)", "table fingerprint",
                "models × queries", "pairs", "benchmarks"], rows)


def models_markdown(spec: dict[str, Any]) -> str:
    rows = []
    for m in spec["models"]:
        given = {k: v for k, v in (("preset", m.get("preset")), ("encoder", m.get("encoder"))) if v}
        given.update(m.get("params", {}))
        params = json.dumps(given, separators=(", ", ": ")) if given else ""
        rows.append([m["name"], m.get("model") or m["name"], f"`{params}`" if params else "defaults"])
    overrides = spec.get("overrides") or {}
    text = _md(["entry", "model", "parameters given (the rest: defaults; full values in the cells)"], rows)
    return text + (f"\n\nOverrides applied to every entry of a model: `{json.dumps(overrides)}`" if overrides else "")


def run_markdown(results: dict[str, Any], run_dir: str | Path, tables: list[dict[str, Any]] | None = None,
                 level: int = 2) -> str:
    """One run: how it was made (command, spec, seeds, split, data versions) and its tables."""
    spec, run = results["spec"], results.get("run", {})
    tables = aggregate(results) if tables is None else tables
    h = "#" * level
    f = spec["fractions"]
    modes = [f"{d['name']}: '{d['routing_mode']}'" for d in spec["datasets"] if d.get("routing_mode")]
    ok = [c for c in results["cells"] if c["status"] == "ok"]
    compute = sum(c["fit_seconds"] + c["eval_seconds"] for c in ok)
    lines = [f"{h} {spec.get('title') or 'comparison'}\n", (spec.get("description") or "") + "\n",
             f"- Run directory: `{run_dir}`" + (f", finished {run['finished']}" if run.get("finished") else ""),
             f"- Command: `{run['command']}`" if run.get("command") else "- Command: (not recorded)",
             f"- Spec file: `{run['spec_file']}` (sha256 {_short(run.get('spec_sha256'))}); the resolved spec is in "
             "results.json" if run.get("spec_file") else "- Spec: from flags; the resolved spec is in results.json",
             f"- Seeds: {', '.join(map(str, spec['seeds']))}. Split: by query {f[0]}/{f[1]}/{f[2]} (train/val/test)"
             f"{', stratified by benchmark' if spec.get('stratify') else ''}, drawn once per seed with "
             "`api.make_split` and shared by every model; validation for early stopping only.",
             f"- Encoder: `{spec['encoder']}` unless an entry names another. Routing mode: '{spec['routing_mode']}'"
             + (f" ({', '.join(modes)})" if modes else "") + "; missing labels never count as wrong. "
             "Item-seen models: split by (model, query) pairs, in separate tables. "
             f"irtnet version {results.get('version')}, {spec.get('threads', 1)} torch thread(s).",
             f"- Cells: {json.dumps(run.get('cells', {}))}; computed in the last invocation: "
             f"{run.get('computed', '?')}, read from the cache: {run.get('from_cache', '?')}; fitting and "
             f"scoring of all scored cells took {compute / 60:.1f} CPU-minutes."]
    parts = ["\n".join(x for x in lines if x.strip()), f"{h}# Datasets (versions)",
             datasets_markdown(results["datasets"]),
             f"{h}# Model entries", models_markdown(spec)]
    stats, note = paired_stats(run_dir, results), missing_stats_note(run_dir)
    if stats:
        parts += [f"{h}# Verdicts", verdict_summary(list(stats.values()))]
    elif note:
        parts += [f"{h}# Verdicts", f"Note: {note}."]
    parts += [table_markdown(t, stats).replace("### ", f"{h}# ", 1) for t in tables]
    return "\n\n".join(parts) + "\n"


def results_document(run_dirs: Sequence[str | Path], command: str | None = None) -> str:
    """The Markdown of docs/results.md from one or more comparison run directories."""
    head = ["# Results", "Generated from comparison outputs by "
            + (f"`{command}`" if command else "`irtnet results`") + f" on {time.strftime('%Y-%m-%d')}. "
            "Do not edit by hand: rerun the commands below, then regenerate. Every number is a mean ± sample "
            "std over seeds on test data never used for training or model selection."]
    return "\n\n".join(head + [run_markdown(read_results(d), d) for d in run_dirs])


# ---------------------------------------------------------------------------------- README summary
_SUMMARY = {"auc": ("correctness", "auc"), "log_loss": ("correctness", "log_loss"), "routing": ("routing", "micro")}
_SETTINGS = {"query": "benchmark known", "text": "text only"}


def short(x: float | None) -> str:
    """A mean as the README's summary prints it: 3 decimals without the leading zero (0.8437 -> '.844')."""
    if x is None or math.isnan(x):
        return "-"
    text = f"{x:.3f}"
    return text.replace("0.", ".", 1) if text.startswith(("0.", "-0.")) else text


def _verdict_text(verdict: str) -> str:
    """The README's convention: a win in bold, a tie or a loss plain."""
    return f"**{verdict}**" if verdict == "win" else verdict


def _row_mean(rows: dict[str, dict[str, Any]], label: str, metric: str) -> float | None:
    """The mean over folds/seeds of `metric` for entry `label`, as the Correctness or Routing table prints it."""
    group, key = _SUMMARY[metric]
    s = (rows.get(label, {}).get(group) or {}).get(key)
    return s["mean"] if s else None


def _summary_cell(paired: dict[str, Any], rows: dict[str, dict[str, Any]], metric: str, named: bool) -> str:
    """'<focus mean> vs <other mean>[ <other>], <verdict>' against the best other entry (stats.json's pick)."""
    best = paired.get("best_other", {}).get(metric)
    if best is None:
        return "-"
    mine, theirs = (short(_row_mean(rows, label, metric)) for label in (paired["focus"], best["entry"]))
    verdict = _verdict_text(best["verdict"]) + (f" ({best['reason']})" if best.get("reason") else "")
    return f"{mine} vs {theirs}{' ' + best['entry'] if named else ''}, {verdict}"


def summary_markdown(run_dir: str | Path) -> str:
    """The README's summary table of one run: a row per (dataset, setting) of the Verdicts table (run order),
    the focus entry against the best other entry per metric; the means from the Correctness and Routing
    tables (3 decimals), the pick and the verdict from stats.json; 'n/a (reason)' where the focus is n/a. A row
    whose best other entry was picked with an entry left out (stats.json's `left_out`: no predictions on a split)
    is marked, and a note under the table names the entry and the splits."""
    check_run_dir(run_dir)
    if not (Path(run_dir) / "stats.json").exists():
        raise ConfigError(f"{run_dir}: no stats.json here; rerun `irtnet compare` into this folder for the verdicts")
    results = read_results(run_dir)
    stats = paired_stats(run_dir, results)
    tables = {(t["dataset"], t["setting"]): {r["label"]: r for r in t["rows"]} for t in aggregate(results)}
    focus = focus_entry(results["spec"])
    out, last = [], None
    for (dataset, setting), p in stats.items():
        if p.get("unavailable"):
            cells = [f"n/a ({p['unavailable']})", "", ""]
        else:
            rows = tables.get((dataset, setting), {})
            cells = [_summary_cell(p, rows, m, named=m == "auc") for m in _SUMMARY]
        name = _SETTINGS.get(setting, setting) + (f" {LEFT_OUT_MARK}" if p.get("left_out") else "")
        out.append(["" if dataset == last else dataset, name, *cells])
        last = dataset
    head = ["dataset", "setting", f"AUC: {focus} vs best other", "log loss", "routing accuracy"]
    return "\n".join([_readme_row(head), "|" + "|".join("---" for _ in head) + "|", *map(_readme_row, out),
                      *left_out_notes(list(stats.values()), _SETTINGS)])


def _readme_row(cells: Sequence[str]) -> str:
    """A Markdown row as the README types it: an empty cell is '| |' ('|' in a cell escaped)."""
    return "|" + "|".join(" " + md_cell(c) + " " if c else " " for c in cells) + "|"


def summary_tables(run_dirs: Sequence[str | Path]) -> str:
    """`summary_markdown` of each run, one table per run, separated by a blank line."""
    return "\n\n".join(summary_markdown(d) for d in run_dirs)
