"""Inspect AI evaluation logs (`.eval` zip archives and `.json` files): every model and task into one table.

PATH is one log or a folder searched recursively for `*.eval` and `*.json` (JSON files that are not
Inspect logs, such as a `logs.json` listing, are skipped and counted). A `.eval` file is read with
`zipfile`: `header.json` (or `_journal/start.json` while a run is unfinished) and the `samples/*.json`
members. `inspect_ai.log.read_eval_log` is used instead only when `inspect_ai` is importable and
`reader="inspect"`; the default direct reader needs nothing beyond the standard library.

Mapping: model = `eval.model` (e.g. `openai/azure/gpt-4o-mini`); benchmark = `eval.task`; query =
`<task>/<sample id>`. A sample id is a string or an integer, Inspect's id types; 1, "1" and 1.0 (an integral
float) are the same id, and any other id (a list, an object, a bool, 1.5) is an error naming the sample. The
log's `samples` must be a list of objects (an error naming the file and the sample's position otherwise), and
one id and epoch given twice in a log is an error naming both positions. An epoch is a positive integer (1 where
absent; 1.0 is epoch 1); any other epoch (null, "1", a list) is an error naming the sample. A second log of the
same run (same `eval.run_id` and `eval.task_id`, e.g. the `.json` and `.eval` copies of one run) is skipped and counted;
separate runs of the same model and task add their trials to the same (model, query) pair.

Score: `sample.scores[<scorer>].value` of one scorer per log: `scorer` (a name or a comma-separated
preference list; a log with none of them is skipped and counted), else the log's first scorer
(`eval.scorers`, else `results.scores`, else the sample's first). Values, as Inspect's own
`value_to_float` reads them: "C" = 1, "I" = 0, "P" (partial) = 0.5, stored as a fraction; "N" (no
answer) = 0 like Inspect's accuracy, or skipped and counted with `no_answer="skip"`; true/false,
"yes"/"no"/"true"/"false", numbers and numeric text in [0, 1] as they are; a number outside [0, 1], NaN and
any other text are errors. A dict value (several metrics from one scorer) is read at `score_key` (default
its first key, noted). Several epochs of an item become k of n counts (soft scores: their mean). A sample
with an error and no score is skipped and counted (missing, not wrong); a sample with neither is an error.

Query text: `sample.input` (a string, or the text of its messages joined by blank lines) followed by the
lettered choices ("A) ...") where the sample has `choices` (`choices=false` leaves them out). Each log's
mean score is compared with its `results.scores` accuracy (or mean) where the log holds every sample.
Provenance (the inspect_ai version from `eval.packages` and `eval.task_version`; Inspect logs no task
hash) goes in the models frame's `provenance` column (`irtnet.data.merge`).
"""

from __future__ import annotations

import importlib.util
import zipfile
import zlib
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
from irtnet.data.importers._source import parse_json, require_path, skip
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import ConfigError, DataError

_LETTERS = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0}
_WORDS = {"yes": 1.0, "true": 1.0, "no": 0.0, "false": 0.0}


def import_inspect(path: str | Path, scorer: str | None = None, score_key: str | None = None,
                   no_answer: Literal["wrong", "skip"] = "wrong", choices: bool = True,
                   reader: Literal["direct", "inspect"] = "direct") -> ResponseTable:
    """Inspect AI logs (.eval zip or .json; a file or a folder of many models and tasks)."""
    root = Path(path)
    require_path(root)
    if reader == "inspect" and importlib.util.find_spec("inspect_ai") is None:
        raise ConfigError("reader='inspect' needs the inspect_ai package; the default reader='direct' does not")
    report = ImportReport(source=str(root))
    prov, checks, units, runs, used = Provenance("inspect"), [], [], set(), set()
    for file in _log_files(root):
        log = _read_log(file, reader, root.is_file(), report)
        if log is None or _seen_run(log, runs, str(file), report):
            continue
        items, check = _log_items(log, str(file), scorer, score_key, no_answer, choices, report)
        if items:
            units.append((str(file), items))
            checks.append(check)
            used.add(f"{check[1]}: {check[4]}")
            ev = log["eval"]
            prov.add(check[0], str(file), check[1], _obj(ev.get("packages")).get("inspect_ai"),
                     ev.get("task_version"))
    if used:
        report.notes.append(f"inspect scorers read: {'; '.join(sorted(used))}")
    report.notes += stated_notes("inspect", checks)
    return harness_table(units, source=str(root), report=report, provenance=prov)


# ---------------------------------------------------------------- files
def _log_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    files = sorted(p for pattern in ("*.eval", "*.json") for p in root.rglob(pattern) if p.is_file())
    if not files:
        raise DataError("no Inspect .eval or .json logs in the folder", file=str(root))
    return files


def _read_log(file: Path, reader: str, single: bool, report: ImportReport) -> dict[str, Any] | None:
    """The log as a dict with `eval`, `results` and `samples`; None for a JSON file that is not a log."""
    if file.suffix == ".json":
        data = parse_json(file.read_bytes(), str(file))
        if not (isinstance(data, dict) and isinstance(data.get("eval"), dict)):
            if single:
                raise DataError("not an Inspect log (no 'eval' object)", file=str(file), field="eval")
            skip(report, "JSON files that are not Inspect logs", 1)
            return None
        if reader == "direct":
            return data
    elif reader == "direct":
        return _read_eval_zip(file)
    from inspect_ai.log import read_eval_log  # optional: only where the user asked for it

    return read_eval_log(str(file)).model_dump(mode="json")


def _read_eval_zip(file: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(file) as zf:
            names = zf.namelist()
            head = "header.json" if "header.json" in names else "_journal/start.json"
            if head not in names:
                raise DataError("no header.json or _journal/start.json member", file=str(file))
            log = parse_json(zf.read(head), f"{file}::{head}")
            if not (isinstance(log, dict) and isinstance(log.get("eval"), dict)):
                raise DataError("not an Inspect log (no 'eval' object)", file=f"{file}::{head}", field="eval")
            samples = sorted(n for n in names if n.startswith("samples/") and n.endswith(".json"))
            log["samples"] = [_member(zf, file, name) for name in samples]
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise DataError(f"not a readable .eval (zip) file ({exc})", file=str(file)) from exc
    return log


def _member(zf: zipfile.ZipFile, file: Path, name: str) -> dict[str, Any]:
    sample = parse_json(zf.read(name), f"{file}::{name}")
    if not isinstance(sample, dict):
        raise DataError("a sample member that is not a JSON object", file=f"{file}::{name}")
    sample["_member"] = name
    return sample


def _seen_run(log: dict[str, Any], runs: set[tuple[str, str]], file: str, report: ImportReport) -> bool:
    ev = log["eval"]
    run = (str(ev.get("run_id")), str(ev.get("task_id")))
    if ev.get("run_id") is None or run not in runs:
        runs.add(run)
        return False
    skip(report, "Inspect logs of a run already read (same run_id and task_id)", 1)
    report.notes.append(f"{file}: the same run as a log read before (run_id {run[0]}): skipped")
    return True


# ---------------------------------------------------------------- one log
def _log_items(log: dict[str, Any], file: str, scorer: str | None, score_key: str | None, no_answer: str,
               choices: bool, report: ImportReport) -> tuple[list[Item], Check]:
    ev = log["eval"]
    for name in ("task", "model"):
        if not isinstance(ev.get(name), str) or not ev[name].strip():
            raise DataError(f"no eval.{name}", file=file, field=f"eval.{name}")
    task, model, samples = ev["task"].strip(), ev["model"].strip(), _samples(log, file)
    if not samples:
        skip(report, "Inspect logs without samples (header only)", 1)
        report.notes.append(f"{file}: no samples (a header-only log of {task}, {model}): nothing to import")
        return [], (model, task, 0.0, None, "")
    chosen = _choose_scorer(log, samples, scorer, file, report)
    if chosen is None:
        return [], (model, task, 0.0, None, "")
    trials, texts = _trials(samples, chosen, score_key, no_answer, choices, file, report)
    items = [Item(model, f"{task}/{sid}", task, values, texts[sid], f"sample id {sid}")
             for sid, values in trials.items()]
    total = _obj(log.get("results")).get("total_samples")
    if isinstance(total, int) and total != len(samples):
        report.notes.append(f"{file}: holds {len(samples)} of the {total} samples its results count "
                            f"({len(items)} items scored)")
    return items, (model, task, _mean(items), _stated(log, chosen, score_key, len(samples)), chosen)


def _trials(samples: list[dict[str, Any]], scorer: str, key: str | None, no_answer: str, choices: bool, file: str,
            report: ImportReport) -> tuple[dict[str, list[float]], dict[str, str | None]]:
    """Sample id -> its scores (one per epoch), and sample id -> text; an id and epoch given twice is an error."""
    trials: dict[str, list[float]] = {}
    texts: dict[str, str | None] = {}
    seen: dict[tuple[str, str], int] = {}
    for row, sample in enumerate(samples, start=1):
        sid, value = _sample_value(sample, row, scorer, key, no_answer, file, report)
        epoch = _epoch(sample, row, file)
        if (sid, epoch) in seen:
            raise DataError(f"sample id {sid} epoch {epoch} appears twice (samples {seen[(sid, epoch)]} and {row})",
                            **_where(sample, row, file), field="id")
        seen[(sid, epoch)] = row
        if value is not None:
            trials.setdefault(sid, []).append(value)
            texts.setdefault(sid, _text(sample, choices))
    return trials, texts


def _epoch(sample: dict[str, Any], row: int, file: str) -> str:
    """A sample's epoch as text: a positive integer (an integral float is its integer, so 1.0 and 1 are one epoch);
    1 where the sample has none. Anything else (null, text, a list, 1.5, 0) is a DataError naming the sample."""
    value = sample.get("epoch", 1)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataError(f"epoch {brief(value)} is not a positive integer", **_where(sample, row, file),
                        field="epoch")
    return str(value)


def _where(sample: dict[str, Any], row: int, file: str) -> dict[str, Any]:
    """DataError's file and row of a sample: its member of a .eval zip, else its position in the JSON samples list."""
    return {"file": f"{file}::{sample['_member']}", "row": None} if "_member" in sample else {"file": file, "row": row}


def _obj(value: Any) -> dict[str, Any]:
    """`value` if it is an object, else {} (optional parts of a log that only feed notes and text)."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _samples(log: dict[str, Any], file: str) -> list[dict[str, Any]]:
    """The log's samples: a list of objects (none in a header-only log); anything else is a DataError."""
    samples = log.get("samples")
    if samples is None:
        return []
    if not isinstance(samples, list):
        raise DataError(f"samples is a {type(samples).__name__}, not a list of samples", file=file, field="samples")
    for row, sample in enumerate(samples, start=1):
        if not isinstance(sample, dict):
            raise DataError(f"a sample is a {type(sample).__name__}, not an object", file=file, row=row,
                            field="samples")
        if "scores" in sample and not isinstance(sample["scores"], (dict, type(None))):
            raise DataError(f"scores is a {type(sample['scores']).__name__}, not an object", file=file, row=row,
                            field="scores")
    return samples


def _choose_scorer(log: dict[str, Any], samples: list[dict[str, Any]], asked: str | None, file: str,
                   report: ImportReport) -> str | None:
    ev, results = log["eval"], _obj(log.get("results"))
    listed = [s.get("name") for s in _list(ev.get("scorers")) if isinstance(s, dict)]
    listed = listed or [s.get("scorer") or s.get("name") for s in _list(results.get("scores")) if isinstance(s, dict)]
    listed = list(dict.fromkeys(n for n in listed if isinstance(n, str)))
    scored = next((s["scores"] for s in samples if isinstance(s.get("scores"), dict) and s["scores"]), {})
    listed = listed or list(scored)
    if asked is None:
        if len(listed) > 1:
            report.notes.append(f"{file}: scorers {listed}; kept the first, {listed[0]!r}")
        return listed[0] if listed else ""  # "": no scorer at all, so every sample must have an error
    present = [name for name in preferences(asked) if name in listed or name in scored]
    if present:
        return present[0]
    skip(report, "Inspect logs without the asked scorer", 1)
    report.notes.append(f"{file}: none of the scorers {asked!r} (it has {listed}): skipped")
    return None


def _sample_value(sample: dict[str, Any], row: int, scorer: str, key: str | None, no_answer: str, file: str,
                  report: ImportReport) -> tuple[str, float | None]:
    """(sample id, its score in [0, 1]) or (id, None) for a sample skipped on purpose."""
    place = _where(sample, row, file)
    sid, epoch = _sample_id(sample.get("id"), **place), sample.get("epoch", 1)
    label, where = place["file"], f"sample id {sid} epoch {epoch}"
    score = _obj(sample.get("scores")).get(scorer)
    if score is None:
        if sample.get("error"):
            skip(report, "Inspect samples with an error and no score (not observed)", 1)
            return sid, None
        what = f"no score from {scorer!r}" if scorer else "no scores"
        raise DataError(what, file=label, row=where, field=f"scores.{scorer}" if scorer else "scores")
    if not isinstance(score, dict) or "value" not in score:
        raise DataError("a score without a value", file=label, row=where, field=f"scores.{scorer}.value")
    return sid, _score(score["value"], key, no_answer, label, where, f"scores.{scorer}.value", report)


def _sample_id(value: Any, file: str, row: int | None) -> str:
    """A sample id as text: a string or an integer (Inspect's id types); an integral float is its integer (1.0 is
    id 1, as 1 and "1" are); a bool, another float, a list or an object is a DataError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError("a sample without an id", file=file, row=row, field="id")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(f"a sample id is a string or an integer (got {type(value).__name__} {brief(value)})",
                        file=file, row=row, field="id")
    return str(value)


def _score(value: Any, key: str | None, no_answer: str, file: str, where: str, field: str,
           report: ImportReport) -> float | None:
    if isinstance(value, dict):
        if not value:
            raise DataError("an empty dict score", file=file, row=where, field=field)
        chosen = key if key is not None else next(iter(value))
        if chosen not in value:
            raise DataError(f"the dict score has no key {chosen!r} (it has {list(value)})", file=file, row=where,
                            field=field)
        if key is None and len(value) > 1 and not any(n.startswith("dict scores:") for n in report.notes):
            report.notes.append(f"dict scores: kept key {chosen!r} of {list(value)} (choose with score_key)")
        return _score(value[chosen], None, no_answer, file, where, f"{field}.{chosen}", report)
    if isinstance(value, str) and value.strip() in _LETTERS:
        if value.strip() == "N" and no_answer == "skip":
            skip(report, "Inspect samples scored N (no answer), skipped as not observed", 1)
            return None
        return _LETTERS[value.strip()]
    if isinstance(value, str):
        value = _text_score(value, file, where, field)
    return unit_score(value, file=file, row=where, field=field)


def _text_score(value: str, file: str, where: str, field: str) -> float:
    """A score given as text, as Inspect's `value_to_float` reads it: yes/true, no/false, or a number."""
    text = value.strip().lower()
    if text in _WORDS:
        return _WORDS[text]
    try:
        return float(text)  # "nan" and "inf" then fail in unit_score, naming the field
    except ValueError:
        raise DataError(f"score {value!r} is not a number", file=file, row=where, field=field) from None


def _text(sample: dict[str, Any], with_choices: bool) -> str | None:
    given = sample.get("input")
    if isinstance(given, list):
        given = "\n\n".join(t for t in (_message_text(m) for m in given) if t)
    if isinstance(given, str) and given.startswith("attachment://"):  # .eval logs store long inputs apart
        given = _obj(sample.get("attachments")).get(given.removeprefix("attachment://"), given)
    text = given if isinstance(given, str) and given.strip() else None
    options = sample.get("choices")
    if with_choices and text is not None and isinstance(options, list) and options:
        text += "\n" + "\n".join(f"{chr(65 + i)}) {c}" for i, c in enumerate(options[:26]))
    return text


def _message_text(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):
        return "\n".join(part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str))
    return content if isinstance(content, str) else ""


def _mean(items: list[Item]) -> float:
    return sum(sum(it.values) / len(it.values) for it in items) / len(items) if items else 0.0


def _stated(log: dict[str, Any], scorer: str, key: str | None, n_samples: int) -> float | None:
    """The log's own accuracy (or mean) of `scorer`, where the log holds every sample it counts."""
    results = _obj(log.get("results"))
    if results.get("total_samples") not in (None, n_samples):
        return None
    for entry in _list(results.get("scores")):
        if isinstance(entry, dict) and (entry.get("scorer") or entry.get("name")) == scorer and \
                (key is None or entry.get("name") in (key, scorer)):
            metrics = _obj(entry.get("metrics"))
            for name in ("accuracy", "mean"):
                value = _obj(metrics.get(name)).get("value")
                if isinstance(value, (int, float)):
                    return float(value)
    return None
