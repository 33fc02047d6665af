"""A self-contained HTML report: text, tables and PNG figures embedded as base64 data: URIs (no external
assets, no scripts), written atomically with a JSON twin that holds the same tables and each figure's
underlying numbers.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from irtnet._io import check_file_target, json_text, write_together
from irtnet.errors import DataError

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}th,td{border:1px solid #ccc;padding:3px 7px}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0}figcaption{font-size:.85em;color:#555}img{max-width:100%}p.note{font-size:.85em;color:#555}
"""


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[Any]]


@dataclass
class FigureItem:
    name: str
    caption: str
    png: bytes
    data: Any = None


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[FigureItem] = field(default_factory=list)


@dataclass
class Report:
    title: str
    sections: list[Section] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def section(self, title: str) -> Section:
        sec = Section(title)
        self.sections.append(sec)
        return sec


def _cell(value: Any) -> str:
    """A table cell: a number right-aligned ("-" where it is NaN or None: a figure a result lacks or left
    undefined, never the word "None" or "nan"), anything else as escaped text."""
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '<td class="num">-</td>'
    if isinstance(value, float):
        return f'<td class="num">{value:.4g}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def _number(value: float) -> str:
    """A correlation for running text: two decimals, or "undefined" where it is NaN."""
    return "undefined" if math.isnan(value) else f"{value:.2f}"


def _table_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in table.rows)
    return f"<h3>{html.escape(table.title)}</h3><table><tr>{head}</tr>{body}</table>"


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render(report: Report) -> str:
    """The report as one HTML document."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(report.title)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(report.title)}</h1>"]
    for key, value in report.meta.items():
        parts.append(f"<p class='note'><b>{html.escape(str(key))}</b>: {html.escape(str(value))}</p>")
    for sec in report.sections:
        parts.append(f"<h2>{html.escape(sec.title)}</h2>")
        parts += [f"<p>{html.escape(p)}</p>" for p in sec.paragraphs]
        parts += [_table_html(t) for t in sec.tables]
        for fig in sec.figures:
            parts.append(f"<figure id='{html.escape(fig.name)}'><img alt='{html.escape(fig.name)}' "
                         f"src='{data_uri(fig.png)}'><figcaption>{html.escape(fig.caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def to_json(report: Report) -> dict[str, Any]:
    """The report's tables and figure data (not the images) as JSON-able data."""
    return {"title": report.title, "meta": report.meta, "sections": [
        {"title": s.title, "paragraphs": s.paragraphs,
         "tables": [{"title": t.title, "header": t.header, "rows": t.rows} for t in s.tables],
         "figures": [{"name": f.name, "caption": f.caption, "data": f.data} for f in s.figures]}
        for s in report.sections]}


def report_paths(path: str | Path) -> tuple[Path, Path]:
    """(HTML, JSON twin) of a report written to `path`, both checked before the work (`_io.check_file_target`):
    a `path` that is its own twin (a .json name) or a twin that is a folder is a DataError naming it, so that
    neither output overwrites the other and none is written before the other fails."""
    path = Path(path)
    json_path = path.with_suffix(".json")
    if json_path == path:
        raise DataError("is the report's JSON twin (the same name with .json): the HTML would be overwritten by it; "
                        "give the HTML file's name (e.g. report.html)", file=str(path))
    return check_file_target(path), check_file_target(json_path)


def write_report(report: Report, path: str | Path) -> tuple[Path, Path]:
    """Write `path` (HTML) and the JSON twin beside it (same name, .json) as one change (`write_together`: an
    interruption leaves both old or both new, never an HTML page beside another run's JSON); both paths are
    checked first (`report_paths`)."""
    path, json_path = report_paths(path)
    write_together([(path, render(report)), (json_path, json_text(_finite(to_json(report))))], stale=json_path)
    return path, json_path


def _finite(obj: Any) -> Any:
    """NaN/inf -> None so the JSON twin is strict JSON."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


# ------------------------------------------------------------------------------ sections of the irtnet report
def _fig(section: Section, name: str, caption: str, fig: Any, data: Any = None) -> None:
    from irtnet.reporting.figures import png_bytes

    section.figures.append(FigureItem(name, caption, png_bytes(fig), data))


def evaluation_section(report: Report, results: list[dict[str, Any]]) -> None:
    """Correctness and routing tables from an evaluation.json, per setting (`info.setting`: benchmark known,
    text only); results without a setting (older files) as one group with the titles of before."""
    from irtnet.reporting.tables import setting_notes, setting_title
    from irtnet.tasks.evaluate import EvaluationResult

    sec = report.section("Evaluation on the run's test queries")
    cols = ("accuracy", "auc", "log_loss", "brier", "ece")
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r.get("info") or {}).get("setting"), []).append(r)
    for setting, group in groups.items():
        label = setting_title(setting)
        suffix = f" ({label})" if label else ""
        rows = [[r["predictor"], *[r["correctness"]["overall"][c] for c in cols]]
                for r in group if r.get("correctness")]
        if rows:
            sec.tables.append(Table(f"Correctness prediction{suffix}", ["predictor", *cols], rows))
        rt = [[r["predictor"], r["routing"]["micro"], r["routing"]["macro"], r["routing"]["gap_closed"]]
              for r in group]
        rt += [[f"({k.replace('_', ' ')})", v["micro"], v["macro"], float("nan")]
               for k, v in group[0]["routing"]["references"].items()]
        routing = group[0]["routing"]
        sec.tables.append(Table(f"Routing ({f'{label}; ' if label else ''}{routing['n_queries']} queries, mode "
                                f"{routing['mode']})", ["router", "micro", "macro", "gap closed"], rt))
        notes = setting_notes([EvaluationResult.from_dict(r) for r in group])
        sec.paragraphs += [f"{label}: {note}" if label else note for note in notes]


def interpretation_section(report: Report, predictor: Any, data: Any, families: list[str], where: str) -> None:
    """Difficulty vs accuracy, ability profiles, ability map, item curves and discrimination of `data`'s queries."""
    from irtnet.reporting import figures as F
    from irtnet.tasks import interpret as I

    sec = report.section("Interpretation")
    a, b = (np.asarray(x, np.float64) for x in predictor.query_parameters(data.queries))
    models = list(data.table.model_vocab.ids)
    theta = np.asarray(predictor.abilities_, np.float64)[predictor.models_.index(models)]
    prob = np.asarray(predictor.predict_proba(data.queries, models), np.float64)  # the model's own (calibrated)
    labels = data.table.label_matrix()
    groups = data.table.queries["benchmark"].to_numpy(dtype=object)
    corr = I.difficulty_correlation(a, b, prob, labels, groups)
    here = corr["query"]["b"]
    sec.paragraphs.append(f"Queries: {where} ({len(b)} queries, {len(models)} models). Difficulty should correlate "
                          f"negatively with empirical accuracy: on these queries, Pearson {_number(here['pearson'])} "
                          f"for b at query level (n = {here['n']}); the IrtNet paper reports -0.97 on its own data.")
    header = ["level", "measure", "n", "pearson", "spearman"]
    sec.tables.append(Table("Predicted difficulty vs empirical accuracy", header,
                            [[lvl, m, c["n"], c["pearson"], c["spearman"]] for lvl in ("query", "benchmark")
                             for m, c in corr[lvl].items()]))
    acc = I.empirical_accuracy(labels)
    _fig(sec, "difficulty", "Predicted difficulty b_q against the query's empirical accuracy (mean label over models).",
         F.difficulty_scatter(b, acc, groups), corr)
    benches, profile = I.ability_profile(prob, groups)
    _fig(sec, "ability_profile", "Predicted accuracy of each model on each benchmark (mean predicted probability).",
         F.profile_heatmap(benches, models, profile), {"benchmarks": benches, "models": models, "values": profile})
    amap = I.ability_map(theta)
    _fig(sec, "ability_map", "PCA of the ability vectors, coloured by family (metadata 'family' if present, else the "
         "name heuristic of irtnet.tasks.interpret.family_of). The gauge of theta is fixed only by weight decay.",
         F.ability_map(amap.coords, models, families, amap.explained),
         {"models": models, "families": families, "coords": amap.coords, "explained": amap.explained})
    _item_curves(sec, predictor, data, a, b, theta, labels)
    top, bottom = _most_and_least(a, 10)
    texts = data.table.queries["text"].tolist()
    for title, pos in (("Most discriminating queries", top), ("Least discriminating queries", bottom)):
        rows = I.query_table(data.queries.ids, texts, groups, a, b, pos)
        sec.tables.append(Table(title, ["query", "benchmark", "||a||", "b", "text"],
                                [[r["query"], r["benchmark"], r["norm_a"], r["b"], r["text"]] for r in rows]))
    _fig(sec, "discrimination", "Distribution of ||a_q||.", F.discrimination_hist(np.linalg.norm(a, axis=1)))


def _most_and_least(a: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the (up to) `n` most and `n` least discriminating queries, never the same query in both:
    of fewer than 2n queries, the more discriminating half and the rest."""
    from irtnet.tasks import interpret as I

    top, bottom = I.discrimination_ranking(a, min(n, (len(a) + 1) // 2))
    return top, bottom[:min(n, len(a) // 2)]


def _item_curves(sec: Section, predictor: Any, data: Any, a: np.ndarray, b: np.ndarray, theta: np.ndarray,
                 labels: np.ndarray) -> None:
    """The item characteristic curves of a few queries, with the calibration the model's predictions have."""
    from irtnet.reporting import figures as F
    from irtnet.tasks import interpret as I

    scale, shift = _logit_calibration(predictor, data.queries)
    irt_form = np.flatnonzero(np.isfinite(scale))  # not the queries answered through the benchmark classifier
    if not len(irt_form):
        sec.paragraphs.append("No item characteristic curves: every query is answered through the benchmark "
                              "classifier (a mixture over benchmarks), which has no curve of one ability.")
        return
    picks = [int(irt_form[i]) for i in I.choose_icc_queries(a[irt_form], b[irt_form])]
    grid, p_icc, t_m = I.item_curves(a[picks], b[picks], theta, scale=scale[picks], shift=shift[picks])
    titles = [f"{data.queries.ids[i][:40]} (||a||={np.linalg.norm(a[i]):.2f}, b={b[i]:.2f})" for i in picks]
    _fig(sec, "item_curves", "Item characteristic curves of the most / least discriminating and easiest / hardest "
         "queries along their own direction a_q/||a_q||, calibrated as the model's predictions (queries answered "
         "through the benchmark classifier have no such curve); dots: models (filled = correct, hollow = wrong).",
         F.item_curves(grid, p_icc, t_m, titles, labels[picks]), {"queries": [data.queries.ids[i] for i in picks]})


def _logit_calibration(predictor: Any, queries: Any) -> tuple[np.ndarray, np.ndarray]:
    """(scale [n], shift [n]) that the predictor's `predict_proba` applies to each query's IRT logit (IrtNet's
    `logit_calibration`; NaN where it has no IRT form); a predictor without calibration: (1, 0)."""
    if hasattr(predictor, "logit_calibration"):
        return predictor.logit_calibration(queries)
    return np.ones(len(queries)), np.zeros(len(queries))


def benchmark_section(report: Report, result: dict[str, Any]) -> None:
    from irtnet.reporting.figures import benchmark_prediction

    sec = report.section("Benchmark accuracy prediction (leave one benchmark out)")
    keys = [k for k in next(iter(result["summary"].values())) if k != "n_folds"]
    sec.tables.append(Table("Mean over held-out benchmarks", ["predictor", *keys],
                            [[n, *[s[k] for k in keys]] for n, s in result["summary"].items()]))
    anchored = result.get("anchored") or {}
    if anchored:  # the anchor setting: n items of the held-out benchmark answered by every model
        sec.tables.append(Table("With n items of the held-out benchmark answered by every model (mean over "
                                "held-out benchmarks; n = 0: the table above)",
                                ["n", "predictor", "mae", "bias", "spearman", "interval coverage", "width", "folds"],
                                [[n, name, s["mae"], s["bias"], s["spearman"], s.get("coverage"), s.get("width"),
                                  s["n_folds"]] for n, per in anchored.items() for name, s in per.items()]))
    if result.get("paired"):
        sec.tables.append(Table(f"{result['paired'][0]['a']} minus each entry: absolute error, 95% interval "
                                "(bootstrap over models; lower wins)",
                                ["items answered", "against", "difference", "lo", "hi", "verdict"],
                                [[r["n"], r["b"], r["diff"], r["lo"], r["hi"],
                                  r["verdict"] + (f" ({r['reason']})" if r.get("reason") else "")]
                                 for r in result["paired"]]))
    preds = list(result["summary"])[:4]
    _fig(sec, "benchmark_prediction", "Predicted vs true accuracy per held-out benchmark and model.",
         benchmark_prediction(result["folds"], preds), {"folds": result["folds"]})


def onboarding_section(report: Report, result: dict[str, Any]) -> None:
    from irtnet.reporting.figures import onboarding_curves

    sec = report.section("New models from few answers")
    sec.paragraphs.append(result["settings"].get("protocol", ""))
    cols = ("auc", "log_loss", "model_auc", "benchmark_mae")
    sec.tables.append(Table("Held-out models, test queries", ["method", "K", *cols],
                            [[r["method"], "all" if r["k"] < 0 else r["k"], *[r[c] for c in cols]]
                             for r in result["rows"]]))
    for metric in ("log_loss", "benchmark_mae"):
        _fig(sec, f"onboarding_{metric}", f"{metric} of the new models' predictions against K.",
             onboarding_curves(result["rows"], metric), None)


def cost_section(report: Report, result: dict[str, Any]) -> None:
    from irtnet.reporting.figures import cost_curves

    sec = report.section("Cost-aware routing")
    sec.paragraphs.append(f"Costs: {result['settings'].get('cost_source', '')}. Best single model on training: "
                          f"{result['best_single']}. Lambda curves route by P - lambda x cost; budget curves take "
                          "the best expected accuracy within a mean budget per query. Area: under the best-accuracy-at-"
                          "cost envelope, cost normalised between the cheapest and the dearest single model.")
    best = result["single_models"][result["best_single"]]
    rows = [[f"{c['router']} ({c['kind']})", c["area"], defined_max(p["accuracy"] for p in c["points"]),
             float("nan") if c["match_cost"] is None else c["match_cost"],
             float("nan") if c["match_cost"] is None else _share(c["match_cost"], best["cost"])]
            for c in result["curves"]]
    rows.append(["(single models)", result["single_area"],
                 defined_max(s["accuracy"] for s in result["single_models"].values()), best["cost"],
                 _share(best["cost"], best["cost"])])
    sec.tables.append(Table("Accuracy-cost summary", ["router", "area", "best accuracy", "cost to match best single",
                                                      "share of its cost"], rows))
    _fig(sec, "cost_curve", "Routing accuracy against mean cost per query, sweeping lambda.", cost_curves(result),
         {"curves": result["curves"]})


def defined_max(values: Any) -> float:
    """The largest of `values` that is defined (not None, not NaN); NaN ("-") where none is, never a NaN or a
    smaller number picked by where the NaN stood (Python's `max` keeps whichever comes first)."""
    defined = [float(v) for v in values if v is not None and not math.isnan(v)]
    return max(defined) if defined else float("nan")


def _share(cost: float, of: float) -> float:
    """`cost` as a share of `of` (the best single model's mean cost); NaN ("-") where that is 0, a free model, of
    which no cost is a share."""
    return cost / of if of > 0 else float("nan")


def estimation_section(report: Report, result: dict[str, Any]) -> None:
    """`irtnet evaluate-estimation`'s result: error, rank correlation, coverage and width against N, the paired
    verdicts, and both curves."""
    from irtnet.reporting.estimation_figures import counted, coverage_curves, error_curves

    s = result["settings"]
    sec = report.section("Estimating new models from few answers")
    sec.paragraphs.append(f"{counted(s.get('draws'), 'draw')}, {counted(s.get('n_held_out'), 'held-out model')} "
                          f"each, table {s.get('table', '?')}, intervals at level {s.get('level')}; pool: "
                          f"{s.get('pool', '')}.")
    cols = ("abs_error", "overall_abs_error", "spearman", "coverage", "width", "overall_coverage")
    overall = sorted((r for r in result["summary"] if r["benchmark"] == "all"), key=lambda r: (r["method"], r["n"]))
    sec.tables.append(Table("All benchmarks, per method and N", ["method", "N", *cols],
                            [[r["method"], r["n"], *[r.get(c, float("nan")) for c in cols]] for r in overall]))
    paired = [*result.get("paired", []), *result.get("routing", [])]
    if paired:
        sec.tables.append(Table("Paired: irtnet minus each other method (95% interval)",
                                ["A", "B", "N", "metric", "A - B", "low", "high", "verdict for A"],
                                [[r["a_method"], r["b_method"], r["n"], r["metric"], r["diff"], r["lo"], r["hi"],
                                  r["verdict"] + (f" ({r['reason']})" if r.get("reason") else "")] for r in paired]))
    _fig(sec, "estimation_error", "Mean absolute error of the estimated per-benchmark accuracy against N.",
         error_curves(result), {"summary": overall})
    _fig(sec, "estimation_coverage", "Coverage and width of the intervals against N.", coverage_curves(result))


def efficiency_section(report: Report, result: dict[str, Any]) -> None:
    """`irtnet data-efficiency`'s result: accuracy, AUC and log loss against the share of training queries."""
    from irtnet.reporting.estimation_figures import efficiency_curves

    sec = report.section("Data efficiency")
    points = sorted(result["points"], key=lambda p: (p["predictor"], p["setting"], p["fraction"]))
    sec.tables.append(Table("Test queries, per training share", ["predictor", "setting", "fraction",
                                                                 "training queries", "accuracy", "AUC", "log loss"],
                            [[p["predictor"], p["setting"], p["fraction"], p["n_train_queries"], p["accuracy"],
                              p["auc"], p["log_loss"]] for p in points]))
    _fig(sec, "data_efficiency", "Accuracy, AUC and log loss against the share of training queries used.",
         efficiency_curves(result), {"points": points})
