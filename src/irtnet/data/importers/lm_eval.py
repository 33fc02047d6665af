"""lm-evaluation-harness `--log_samples` output folders: every model and task into one table.

Layout: `<model_name_sanitized>/results_<ts>.json` next to one `samples_<task>_<ts>.jsonl` per task; the
shared `<ts>` pairs them. PATH is one model folder or any folder above several (searched recursively).

Mapping: model = the results file's `model_name` (else `config.model_args` pretrained=..., noted; a name that is
not text is an error);
benchmark = the task; query = `<task>/<doc_hash>` (`<task>/<doc_id>` for a task whose rows lack doc_hash,
noted). With `key="auto"` the two are cross-checked over every file of a task: one doc_hash with two
doc_ids (or the reverse) is an error naming the file and line.

Rows and outcome:

- several rows per doc, one per filter (generation tasks): one filter per task is kept, `filter` if the
  task logs it, else the first of the results file's `configs[task].filter_list` (else the first seen);
  the other rows are counted; the note says which filter each task kept. Older files without a
  `filter` key are filter "none" (on the command line `-O filter=none` reads as no choice, which keeps
  each task's default).
- the score is the row's metric: `metric` (a name or a comma-separated preference list, e.g.
  `acc_norm,acc`; a task logging none of them is skipped and counted), else the first metric in the row's
  `metrics` list (older files: the results config's `metric_list`) with a per-item value. 0/1 values
  (`acc`, `exact_match`, or true/false) are binary; other numbers in [0, 1] are stored as fractions; anything
  else (a number outside [0, 1], NaN, a string such as "1", null) is an error naming the file, line and
  field, with or without `metric`. Tasks whose metrics are corpus-level only (every value a list or an
  object, such as span F1's pairs) are skipped and counted.
- each task's mean score is compared with the results file's `results[task]["<metric>,<filter>"]`;
  mismatches and samples files holding fewer docs than `n-samples` says are noted.

Query text (`text`): "auto" renders the task's `doc_to_text` when it is a doc field name or a Jinja
template made only of `{{field}}` placeholders (the zero-shot prompt, without few-shot examples or chat
template); otherwise the first text among the doc fields question, problem, prompt, query, input, text,
sentence, passage; otherwise the logged prompt. "prompt" takes the logged prompt
(`arguments.gen_args_0.arg_0`: few-shot examples and chat template included); "none" leaves it empty;
any other value names a doc field. The notes say which rule each task used.

Damaged fields are errors naming the file, line and field: a row's `doc_hash` or `filter` that is not a string, its
`metrics` not a list of names; a results file's `results[task]` not an object, `filter_list` / `metric_list` not lists.

Several runs of one (model, task): only the latest run's samples file is read; the older ones are counted and
noted (never summed in as extra trials).

Provenance (`lm_eval_version`, each task's `versions` and `task_hashes` entry) goes in the models frame's
`provenance` column (`irtnet.data.merge`); the metric and filter read per task are in the notes.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from irtnet._io import brief
from irtnet.data.importers._harness_items import (
    Check,
    Item,
    Provenance,
    harness_table,
    preferences,
    stated_notes,
    unit_score,
)
from irtnet.data.importers._more_logs import keep_latest
from irtnet.data.importers._source import parse_json, parse_jsonl, require_path, skip
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import ConfigError, DataError

_TS = r"(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?)"
_RESULTS = re.compile(rf"^results_{_TS}\.json$")
_SAMPLES = re.compile(rf"^samples_(.+)_{_TS}\.jsonl$")
_FIELD = re.compile(r"\{\{(.*?)\}\}")
_TEXT_KEYS = ("question", "problem", "prompt", "query", "input", "text", "sentence", "passage")
_FALLBACK_METRICS = ("acc", "acc_norm", "exact_match")
_ROW_FIELDS = {  # optional fields of a sample row: (the test of a value, what is accepted)
    "doc_hash": (lambda v: v is None or isinstance(v, str), "a string (the doc's hash)"),
    "filter": (lambda v: isinstance(v, str), "a string (the filter's name)"),
    "metrics": (lambda v: v is None or (isinstance(v, list) and all(isinstance(m, str) for m in v)),
                "a list of metric names"),
}


@dataclass
class _Results:
    """What a results file says about its run."""

    file: str
    model: str
    version: Any
    data: dict[str, Any]

    def section(self, key: str) -> dict[str, Any]:
        value = self.data.get(key)
        return value if isinstance(value, dict) else {}

    def config(self, task: str) -> dict[str, Any]:
        value = self.section("configs").get(task)
        return value if isinstance(value, dict) else {}

    def listed(self, task: str, key: str) -> list[Any]:
        """`configs[task][key]` (filter_list, metric_list): a list, [] when absent; anything else is a DataError."""
        value = self.config(task).get(key)
        if value is not None and not isinstance(value, list):
            raise DataError(f"{key} {brief(value)} is not a list", file=self.file,
                            field=f"configs.{task}.{key}")
        return value or []


@dataclass
class _Task:
    """One samples file after the filter and metric choice."""

    file: str
    model: str
    task: str
    metric: str
    filter: str
    rows: list[tuple[int, dict[str, Any]]]
    values: list[float]
    texts: list[str | None]
    keys: list[str] = field(default_factory=list)


def import_lm_eval(path: str | Path, filter: str | None = None, metric: str | None = None,
                   key: Literal["auto", "doc_hash", "doc_id"] = "auto", text: str = "auto") -> ResponseTable:
    """lm-evaluation-harness --log_samples folders (results_<ts>.json + samples_<task>_<ts>.jsonl)."""
    root = Path(path)
    require_path(root)
    report = ImportReport(source=str(root))
    prov, checks, tasks, rules, chosen = Provenance("lm-eval"), [], [], defaultdict(set), set()
    runs = [(_read_results(results_file, report), samples) for results_file, samples in _find_runs(root)]
    for res, samples in runs:
        _note_unlogged(res, samples, report)
    for res, task, file in _latest(runs, report):
        found = _read_task(file, task, res, filter, metric, text, report, rules)
        if found is not None:
            tasks.append(found)
            checks.append(_check(found, res, report))
            prov.add(res.model, found.file, task, res.version, res.section("versions").get(task),
                     res.section("task_hashes").get(task))
            chosen.add(f"{task}: {found.metric},{found.filter}")
            if filter is not None and found.filter != filter:
                report.notes.append(f"{file}: task {task!r} logs no filter {filter!r}; its only filter "
                                    f"{found.filter!r} was kept")
    _assign_keys(tasks, key, report)
    if chosen:
        report.notes.append(f"lm-eval scores read (metric,filter): {'; '.join(sorted(chosen))}")
    report.notes += stated_notes("lm-eval", checks)
    report.notes += [f"lm-eval query text: {rule} for {', '.join(sorted(names))}" for rule, names in rules.items()]
    units = [(t.file, [Item(t.model, f"{t.task}/{k}", t.task, [v], txt, line)
                       for (line, _), k, v, txt in zip(t.rows, t.keys, t.values, t.texts)]) for t in tasks]
    return harness_table(units, source=str(root), report=report, provenance=prov)


# ---------------------------------------------------------------- files
def _find_runs(root: Path) -> list[tuple[Path, dict[str, Path]]]:
    """(results file, {task: samples file}) per run; unpaired files are errors."""
    if not root.is_dir():
        raise DataError("give the lm-eval output folder (a model folder or a folder above several)", file=str(root))
    results: dict[tuple[Path, str], Path] = {}
    samples: dict[tuple[Path, str], dict[str, Path]] = defaultdict(dict)
    for file in sorted(root.rglob("*.json*")):
        if match := _RESULTS.match(file.name):
            results[(file.parent, match.group(1))] = file
        elif match := _SAMPLES.match(file.name):
            samples[(file.parent, match.group(2))][match.group(1)] = file
    for run, files in samples.items():
        if run not in results:
            raise DataError(f"no results_{run[1]}.json with the same timestamp next to it, so the model is "
                            "unknown", file=str(next(iter(files.values()))))
    for run, file in results.items():
        if run not in samples:
            raise DataError(f"no samples_<task>_{run[1]}.jsonl next to it (was lm-eval run with --log_samples?)",
                            file=str(file))
    if not results:
        raise DataError("no lm-eval results_<timestamp>.json files in the folder", file=str(root))
    return [(results[run], samples[run]) for run in sorted(results)]


def _latest(runs: list[tuple[_Results, dict[str, Path]]], report: ImportReport) -> list[tuple[_Results, str, Path]]:
    """(results, task, samples file) of the latest run of each (model, task); older runs are counted and noted."""
    found = [(res, task, file) for res, samples in runs for task, file in sorted(samples.items())]
    kept = keep_latest(found, key=lambda r: (r[0].model, r[1]), stamp=lambda r: r[2].stem.rsplit("_", 1)[1],
                       report=report, what="lm-eval samples files")
    latest = {(res.model, task): file for res, task, file in kept}
    for res, task, file in found:
        if latest[(res.model, task)] is not file:
            rows = sum(1 for line in file.read_bytes().splitlines() if line.strip())
            report.notes.append(f"{file}: an older run of model {res.model!r}, task {task!r} ({rows} sample rows): "
                                f"not imported; the latest run, {latest[(res.model, task)].name}, is kept")
    return kept


def _read_results(file: Path, report: ImportReport) -> _Results:
    data = parse_json(file.read_bytes(), str(file))
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise DataError("not an lm-eval results file (no 'results' object)", file=str(file), field="results")
    for task, figures in data["results"].items():  # each task's figures: an object of "<metric>,<filter>" values
        if not isinstance(figures, dict):
            raise DataError(f"the results of task {task!r} are {brief(figures)}, not an object of figures",
                            file=str(file), field=f"results.{task}")
    return _Results(str(file), _model_name(data, str(file), report), data.get("lm_eval_version"), data)


def _model_name(data: dict[str, Any], file: str, report: ImportReport) -> str:
    name = data.get("model_name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    if name is not None and not isinstance(name, str):  # a list or a number is damage, not "no name"
        raise DataError(f"model_name {brief(name)} is not text (a model name)", file=file, field="model_name")
    config = data.get("config")
    args = config.get("model_args") if isinstance(config, dict) else None
    if isinstance(args, str):
        args = dict(part.split("=", 1) for part in args.split(",") if "=" in part)
    pretrained = args.get("pretrained") if isinstance(args, dict) else None
    if not pretrained:
        raise DataError("no model name: neither 'model_name' nor config.model_args pretrained=...",
                        file=file, field="model_name")
    if not isinstance(pretrained, str):
        raise DataError(f"pretrained {brief(pretrained)} is not text (a model name)", file=file,
                        field="config.model_args")
    report.notes.append(f"{file}: no model_name; the model is config.model_args pretrained={pretrained}")
    return str(pretrained)


def _note_unlogged(res: _Results, samples: dict[str, Path], report: ImportReport) -> None:
    groups = set(res.section("groups")) | {g for g, subs in res.section("group_subtasks").items() if subs}
    missing = sorted(set(res.section("results")) - groups - set(samples))
    if missing:
        report.notes.append(f"{res.file}: results for {', '.join(missing)} but no samples file: not imported")


def _read_rows(file: Path) -> list[tuple[int, dict[str, Any]]]:
    items, lines = parse_jsonl(file.read_bytes(), str(file))
    for item, line in zip(items, lines):
        if not isinstance(item, dict):
            raise DataError(f"a {type(item).__name__}, not a sample (a JSON object)", file=str(file), line=line)
        if not isinstance(item.get("doc_id"), int) or isinstance(item["doc_id"], bool):
            raise DataError(f"missing or non-integer doc_id (got {item.get('doc_id')!r})", file=str(file), line=line,
                            field="doc_id")
        for name, (ok, what) in _ROW_FIELDS.items():
            if name in item and not ok(item[name]):
                raise DataError(f"{name} {brief(item[name])} is not {what}", file=str(file), line=line, field=name)
    if not items:
        raise DataError("no samples (the file is empty)", file=str(file))
    return list(zip(lines, items))


# ---------------------------------------------------------------- one task
def _read_task(file: Path, task: str, res: _Results, filter: str | None, metric: str | None, text: str,
               report: ImportReport, rules: dict[str, set[str]]) -> _Task | None:
    if task not in res.section("results") and task not in res.section("configs"):
        raise DataError(f"task {task!r} is not in the results file {res.file}", file=str(file))
    rows = _read_rows(file)
    kept_filter = _choose_filter(rows, task, res, filter, str(file))
    rows = _rows_of_filter(rows, kept_filter, str(file), report)
    chosen = _choose_metric(rows, task, res, metric, str(file), report)
    if chosen is None:
        return None
    values = [_value(row, chosen, str(file), line) for line, row in rows]
    template = res.config(task).get("doc_to_text")
    texts, rule = zip(*(_text_of(row, template, text) for _, row in rows))
    rules[max(set(rule), key=rule.count)].add(task)
    return _Task(str(file), res.model, task, chosen, kept_filter, rows, values, list(texts))


def _value(row: dict[str, Any], metric: str, file: str, line: int) -> float:
    if metric not in row:
        raise DataError(f"the sample has no {metric!r} score", file=file, line=line, field=metric)
    return unit_score(row[metric], file=file, line=line, field=metric)


def _choose_filter(rows: list[tuple[int, dict[str, Any]]], task: str, res: _Results, asked: str | None,
                   file: str) -> str:
    seen = list(dict.fromkeys(str(row.get("filter", "none")) for _, row in rows))
    if asked is not None and asked in seen:
        return asked
    if asked is not None and len(seen) > 1:
        raise ConfigError(f"{file}: task {task!r} logs filters {seen}, not {asked!r}; choose one of them")
    listed = [f.get("name") for f in res.listed(task, "filter_list") if isinstance(f, dict)]
    return next((name for name in listed if name in seen), seen[0])


def _rows_of_filter(rows: list[tuple[int, dict[str, Any]]], chosen: str, file: str,
                    report: ImportReport) -> list[tuple[int, dict[str, Any]]]:
    kept = [(line, row) for line, row in rows if str(row.get("filter", "none")) == chosen]
    if len(kept) < len(rows):
        skip(report, "lm-eval sample rows of another filter (one filter kept per task)", len(rows) - len(kept))
        report.notes.append(f"{file}: kept filter {chosen!r} ({len(kept)} of {len(rows)} rows)")
    seen: dict[int, int] = {}
    for line, row in kept:
        if row["doc_id"] in seen:
            raise DataError(f"doc_id {row['doc_id']} appears twice for filter {chosen!r} (first on line "
                            f"{seen[row['doc_id']]})", file=file, line=line, field="doc_id")
        seen[row["doc_id"]] = line
    return kept


def _choose_metric(rows: list[tuple[int, dict[str, Any]]], task: str, res: _Results, asked: str | None,
                   file: str, report: ImportReport) -> str | None:
    listed = list(dict.fromkeys(m for _, row in rows for m in row.get("metrics") or []))
    if not listed:
        listed = [m["metric"] for m in res.listed(task, "metric_list")
                  if isinstance(m, dict) and isinstance(m.get("metric"), str)]
    listed = listed or [m for m in _FALLBACK_METRICS if m in rows[0][1]]
    if asked is not None:
        present = [m for m in preferences(asked) if m in listed or m in rows[0][1]]
        if present:
            return present[0]
        skip(report, "lm-eval sample rows of tasks that log none of the asked metrics", len(rows))
        report.notes.append(f"{file}: task {task!r} logs none of the metrics {asked!r} (it logs {listed}): "
                            "not imported")
        return None
    per_item = [m for m in listed if not _corpus_level(row.get(m) for _, row in rows)]
    if per_item:
        return per_item[0]  # its values must all be scores (`_value`): one bad value is an error, never a skip
    null = [m for m in listed if all(m in row and row[m] is None for _, row in rows)]
    if null:  # logged null on every row: no per-item score at all (lm-eval's `bypass` metric), said as such
        skip(report, "lm-eval sample rows of tasks whose metrics are null on every row (no per-item score, as "
                     "lm-eval's bypass metric)", len(rows))
        report.notes.append(f"{file}: task {task!r} logs {null} as null on every row (no per-item score): not "
                            "imported")
        return None
    skip(report, "lm-eval sample rows of tasks without a per-item score (corpus-level metrics only)", len(rows))
    report.notes.append(f"{file}: task {task!r} has no per-item score (its metrics {listed} are aggregated "
                        "over the corpus only): not imported")
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))


def _corpus_level(values: Any) -> bool:
    """Whether a metric has no per-item value: every row gives a list or an object (e.g. span F1's (gold, prediction)
    pairs, aggregated over the corpus) or nothing. Any other value, a string included, makes it per-item."""
    return all(v is None or isinstance(v, (list, dict)) for v in values)


def _text_of(row: dict[str, Any], template: Any, mode: str) -> tuple[str | None, str]:
    """(query text, the rule that gave it) for one sample row under the `text` option."""
    doc = row.get("doc") if isinstance(row.get("doc"), dict) else {}
    if mode == "none":
        return None, "none"
    if mode == "prompt":
        return _logged_prompt(row), "the logged prompt"
    if mode != "auto":
        value = doc.get(mode)
        return (None if value is None else str(value)), f"doc field {mode!r}"
    rendered = _render(template, doc)
    if rendered is not None:
        return rendered, "doc_to_text rendered from the doc"
    for name in _TEXT_KEYS:
        if isinstance(doc.get(name), str) and doc[name].strip():
            return doc[name], f"doc field {name!r}"
    prompt = _logged_prompt(row)
    return prompt, "the logged prompt" if prompt is not None else "none"


def _render(template: Any, doc: dict[str, Any]) -> str | None:
    """A `doc_to_text` that is a doc field name or only `{{field}}` placeholders, filled from `doc`."""
    if not isinstance(template, str):
        return None
    if isinstance(doc.get(template), str):
        return doc[template]
    names = [name.strip() for name in _FIELD.findall(template)]
    if not names or "{%" in template or not all(isinstance(doc.get(n), (str, int, float)) for n in names):
        return None
    return _FIELD.sub(lambda m: str(doc[m.group(1).strip()]), template).strip()


def _logged_prompt(row: dict[str, Any]) -> str | None:
    args = row.get("arguments")
    if isinstance(args, dict):
        first = args.get("gen_args_0")
        prompt = first.get("arg_0") if isinstance(first, dict) else None
    elif isinstance(args, list) and args and isinstance(args[0], list) and args[0]:
        prompt = args[0][0]  # older files: a list of [context, continuation] pairs
    else:
        prompt = None
    return prompt if isinstance(prompt, str) else None


# ---------------------------------------------------------------- across files
def _assign_keys(tasks: list[_Task], key: str, report: ImportReport) -> None:
    """Set each task's item keys (doc_hash or doc_id), cross-checking them over every file of the task."""
    by_task: dict[str, list[_Task]] = defaultdict(list)
    for t in tasks:
        by_task[t.task].append(t)
    for name, group in by_task.items():
        hashed = all(isinstance(row.get("doc_hash"), str) and row["doc_hash"] for t in group for _, row in t.rows)
        mode = key if key != "auto" else ("doc_hash" if hashed else "doc_id")
        if mode == "doc_hash" and not hashed:
            t, line = next((t, line) for t in group for line, row in t.rows if not row.get("doc_hash"))
            raise DataError("no doc_hash (older lm-eval files lack it): use key=doc_id", file=t.file, line=line,
                            field="doc_hash")
        if key == "auto" and not hashed:
            report.notes.append(f"lm-eval task {name!r}: some rows lack doc_hash; its items are keyed by doc_id")
        _cross_check(group, strict=key == "auto", by_hash=mode == "doc_hash")
        for t in group:
            t.keys = [str(row["doc_hash"] if mode == "doc_hash" else row["doc_id"]) for _, row in t.rows]


def _cross_check(group: list[_Task], strict: bool, by_hash: bool) -> None:
    """doc_hash <-> doc_id must be one to one over the task's files (`strict`), or hashes unique per file."""
    first: dict[tuple[str, Any], tuple[Any, str, int]] = {}
    for t in group:
        in_file: set[str] = set()
        for line, row in t.rows:
            doc_hash, doc_id = row.get("doc_hash"), row["doc_id"]
            if by_hash and doc_hash in in_file:
                raise DataError(f"doc_hash {doc_hash} appears twice in the file (two docs with the same content); "
                                "use key=doc_id", file=t.file, line=line, field="doc_hash")
            in_file.add(doc_hash)
            if not (strict and doc_hash):
                continue
            for kind, this, other in (("doc_hash", doc_hash, doc_id), ("doc_id", doc_id, doc_hash)):
                was = first.setdefault((kind, this), (other, t.file, line))
                if was[0] != other:
                    raise DataError(f"{kind} {this} is paired with {was[0]} in {was[1]} line {was[2]} but with "
                                    f"{other} here; if the runs used different data, pass key=doc_hash (items by "
                                    "content) or key=doc_id (items by position)", file=t.file, line=line, field=kind)


def _check(t: _Task, res: _Results, report: ImportReport) -> Check:
    """(model, task, mean score, the results file's figure or None, its name) for `stated_notes`."""
    name = f"{t.metric},{t.filter}"
    stated = (res.section("results").get(t.task) or {}).get(name)
    counts = res.section("n-samples").get(t.task)
    effective = counts.get("effective") if isinstance(counts, dict) else None
    if isinstance(effective, int) and effective > len(t.rows):
        report.notes.append(f"{t.file}: holds {len(t.rows)} of the {effective} docs the results file counts; "
                            "its stated figure covers them all")
        stated = None
    mean = sum(t.values) / len(t.values)
    return t.model, t.task, mean, stated if _is_number(stated) else None, name
