"""Every Eval Ever (EEE) instance-level files: one JSON record per (model, sample, aggregate result).

**No dependency on the `every-eval-ever` package.** Its wheel (0.3.0, 650 kB) needs Python >= 3.12 (this
project supports 3.11) and pulls in duckdb, matplotlib, seaborn, huggingface-hub, jsonschema and
datamodel-code-generator; reading its JSON Lines needs none of that. The fields read here follow its
`instance_level_eval.schema.json` (schema 0.3.0), read from the wheel:

- required per record: `schema_version`, `evaluation_id`, `model_id`, `evaluation_name`, `sample_id`,
  `interaction_type`, `input` (`raw`, `reference`, optional `formatted`, `choices`), `answer_attribution`
  and `evaluation` (`score`: number, `is_correct`: bool); optional `evaluation_result_id` (the key of the
  aggregate result the record scores), `sample_hash`, `error`, `metadata`, ...
- the aggregate file `<uuid>.json` beside `<uuid>_samples.jsonl` gives `eval_library` (`name`,
  `version`) and `evaluation_results[]` (`evaluation_result_id`, `metric_config` with `lower_is_better`
  and `score_type`).

PATH is one JSONL file or a folder (searched recursively for `*_samples.jsonl`, else every `*.jsonl`).
Mapping: model = `model_id`; benchmark = `evaluation_name`; query = `<evaluation_name>/<sample_id>`;
text = `input.raw` (`text="formatted"`: `input.formatted`, the prompt with chat template, else raw).

Outcome: a record scores one aggregate result. Per (file, evaluation) one result is kept: option
`metric` (an `evaluation_result_id`, e.g. `acc` or `choice:accuracy`), else the first result whose
scores are all 0/1 and that the aggregate file does not mark `lower_is_better`. Its `evaluation.score`
is the outcome (0/1 binary, else a fraction that must lie in [0, 1]); `outcome="is_correct"` reads the
bool instead (EEE's converters set it only for correctness metrics, so prefer the score). Records of the
other results are counted. Records without `evaluation_result_id` are skipped and counted unless
`unattributed=True`: the lm-eval converter writes such a record with a placeholder score 0.0 when a
sample has no numeric metric, so reading it would turn "not scored" into "wrong". Records with an
`error` are not observed (counted). A sample scored several times for one model and result in one file (epochs,
trials) is one item: all 0/1 as k of n, else the mean as a fraction (as the harness importers store trials);
the same sample id twice with the same `metadata.epoch` (1.0 is epoch 1) is an error. A field of another type than
the schema's (a list id, a score or is_correct written as text) is an error naming the line and field; an integer
`evaluation_result_id` is read as its text. A damaged aggregate file (not an object, `evaluation_results` not a
list) is an error naming it, and a `.json` PATH is refused (the records are the `_samples.jsonl`).

Provenance per (model, evaluation): the samples file, `eval_library.name` / `version` from the aggregate
file (tool `every-eval-ever` when there is none); EEE records no task version or hash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from irtnet._io import brief
from irtnet.data.importers._more_logs import dig, finish, is_binary, load_json, metric_outcome
from irtnet.data.importers._source import parse_jsonl, require_path, skip
from irtnet.data.merge import entry
from irtnet.data.records import make_records
from irtnet.data.table import ImportReport, ResponseTable
from irtnet.errors import ConfigError, DataError

_REQUIRED = ("model_id", "evaluation_name", "sample_id", "evaluation.score", "evaluation.is_correct", "input.raw")
_NONE = "(no evaluation_result_id)"


def import_eee(path: str | Path, metric: str | None = None, outcome: Literal["score", "is_correct"] = "score",
               text: Literal["raw", "formatted"] = "raw", unattributed: bool = False) -> ResponseTable:
    """Every Eval Ever instance-level JSONL (<uuid>_samples.jsonl) with its aggregate <uuid>.json."""
    if outcome not in ("score", "is_correct") or text not in ("raw", "formatted"):
        raise ConfigError(f"outcome must be score or is_correct and text raw or formatted, got {outcome!r}, {text!r}")
    root = Path(path)
    require_path(root)
    report = ImportReport(source=str(root))
    provenance: dict[str, list[dict[str, Any]]] = {}
    parts = []
    for file in _files(root):
        frame = _read(file, text, report)
        aggregate = _aggregate(file)
        parts += [_evaluation(group, file, aggregate, metric, outcome, unattributed, report, provenance)
                  for _, group in frame.groupby("evaluation_name", sort=False)]
    return finish(parts, provenance, source=str(root), report=report,
                  empty=f"no records left to import (skipped: {report.skipped}); see the notes")


def _files(root: Path) -> list[Path]:
    if root.is_file() and root.name.lower().endswith(".json"):  # the aggregate <uuid>.json holds no records
        samples = root.with_name(root.name[:-5] + "_samples.jsonl")
        hint = f"give {samples.name} beside it" if samples.is_file() else "give its <uuid>_samples.jsonl"
        raise DataError(f"a .json file is not EEE instance-level records (JSON Lines); if it is the aggregate "
                        f"<uuid>.json, {hint} or the folder", file=str(root))
    if root.is_file():
        return [root]
    files = sorted(p for p in root.rglob("*_samples.jsonl") if p.is_file()) or sorted(
        p for p in root.rglob("*.jsonl") if p.is_file())
    if not files:
        raise DataError("no EEE instance-level files (*_samples.jsonl or *.jsonl) in the folder", file=str(root))
    return files


def _read(file: Path, text: str, report: ImportReport) -> pd.DataFrame:
    """The records of one file as a flat frame (one column per field read), validated."""
    items, lines = parse_jsonl(file.read_bytes(), str(file))
    if not items:
        raise DataError("no records (the file is empty)", file=str(file))
    rows = [_flat(item, line, file, text) for item, line in zip(items, lines)]
    frame = pd.DataFrame(rows)
    errored = frame["error"].notna().to_numpy()
    skip(report, "records with an error (not observed)", int(errored.sum()))
    return frame[~errored]


def _flat(item: Any, line: int, file: Path, text: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise DataError(f"a record must be a JSON object, got {type(item).__name__}", file=str(file), line=line)
    out: dict[str, Any] = {"_row": line}
    for name in _REQUIRED:
        value = dig(item, *name.split("."))
        if value is None:
            raise DataError("missing required field (is this an EEE instance-level file?)", file=str(file),
                            line=line, field=name)
        _check_type(name, value, file, line)
        out[name] = value
    out["evaluation_result_id"] = _text_id(item.get("evaluation_result_id"), file, line)
    formatted = dig(item, "input", "formatted") if text == "formatted" else None
    if formatted is not None and not isinstance(formatted, str):
        raise DataError(f"input.formatted {brief(formatted)} is not text", file=str(file), line=line,
                        field="input.formatted")
    out["text"] = formatted or out["input.raw"]
    out["error"] = item.get("error") or None
    epoch = dig(item, "metadata", "epoch")  # EEE's Inspect converter writes one record per epoch
    out["epoch"] = None if epoch is None else _text_id(epoch, file, line, "metadata.epoch")
    return out


_TYPES = {  # required fields with a type to check: (the test of a value, what is accepted)
    "model_id": (lambda v: isinstance(v, str), "text"),
    "evaluation_name": (lambda v: isinstance(v, str), "text"),
    "sample_id": (lambda v: isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)),
                  "text or an integer"),
    "evaluation.score": (lambda v: isinstance(v, (int, float)), "a number"),
    "evaluation.is_correct": (lambda v: isinstance(v, bool) or (isinstance(v, int) and v in (0, 1)), "true or false"),
    "input.raw": (lambda v: isinstance(v, str), "text"),
}


def _check_type(name: str, value: Any, file: Path, line: int) -> None:
    """A required field of the wrong type (a list, an object, text where the schema has a number) is a DataError
    naming the line: it would otherwise become an id like "['x']", or a score read from text."""
    test, what = _TYPES.get(name, (lambda v: True, ""))
    if not test(value):
        raise DataError(f"{name} {brief(value)} is not {what} (schema 0.3.0)", file=str(file), line=line,
                        field=name)


def _text_id(value: Any, file: Path, line: int, field: str = "evaluation_result_id") -> str | None:
    """An optional id as text: a string, or an integer (an integral float is its integer, so epoch 1.0 is epoch 1);
    null is None; anything else is a DataError naming the line."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(f"{field} {brief(value)} is not text or an integer", file=str(file), line=line,
                        field=field)
    return str(value)


def _aggregate(samples: Path) -> dict[str, Any] | None:
    """The aggregate JSON of a samples file: `<stem>.json` for `<stem>_samples.jsonl`, if present."""
    candidate = samples.with_name(samples.name.removesuffix("_samples.jsonl") + ".json")
    if candidate == samples or not candidate.is_file():
        return None
    data = load_json(candidate)
    if not isinstance(data, dict) or not isinstance(data.get("evaluation_results", []), list):
        got = f"a {type(data).__name__}" if not isinstance(data, dict) else \
            f"evaluation_results {brief(data['evaluation_results'])}"
        raise DataError(f"not an EEE aggregate file: expected an object with an evaluation_results list, got {got}",
                        file=str(candidate), field="evaluation_results")
    return data


def _evaluation(group: pd.DataFrame, file: Path, aggregate: dict[str, Any] | None, metric: str | None,
                outcome: str, unattributed: bool, report: ImportReport,
                provenance: dict[str, list[dict[str, Any]]]) -> pd.DataFrame:
    name = str(group["evaluation_name"].iloc[0])
    ids = group["evaluation_result_id"].astype(object).where(group["evaluation_result_id"].notna(), _NONE)
    if not unattributed:
        skip(report, "records without evaluation_result_id (not tied to a result; may hold a placeholder "
                     "score)", int((ids == _NONE).sum()))
        group, ids = group[ids != _NONE], ids[ids != _NONE]
    chosen = _choose(group, ids, aggregate, metric, outcome)
    if chosen is None:
        wanted = f"result {metric!r}" if metric else "a 0/1-valued result"
        skip(report, f"records of evaluations without {wanted}", len(group))
        report.notes.append(f"{file}: evaluation {name!r} has no {wanted} (its results: "
                            f"{', '.join(map(str, pd.unique(ids))) or 'none'})")
        return pd.DataFrame()
    keep = (ids == chosen).to_numpy()
    skip(report, "records of other results than the one chosen per evaluation", int((~keep).sum()))
    return _records(group[keep], file, name, chosen, aggregate, outcome, report, provenance)


def _choose(group: pd.DataFrame, ids: pd.Series, aggregate: dict[str, Any] | None, metric: str | None,
            outcome: str) -> str | None:
    if metric is not None:
        return metric if (ids == metric).any() else None
    column = "evaluation.score" if outcome == "score" else "evaluation.is_correct"
    for result in pd.unique(ids):
        if not _lower_is_better(aggregate, result) and is_binary(group.loc[(ids == result).to_numpy(), column]):
            return str(result)
    return None


def _lower_is_better(aggregate: dict[str, Any] | None, result: str) -> bool:
    for item in dig(aggregate, "evaluation_results") or []:
        if isinstance(item, dict) and item.get("evaluation_result_id") == result:
            return bool(dig(item, "metric_config", "lower_is_better"))
    return False


def _records(group: pd.DataFrame, file: Path, name: str, result: str, aggregate: dict[str, Any] | None,
             outcome: str, report: ImportReport, provenance: dict[str, list[dict[str, Any]]]) -> pd.DataFrame:
    field = "evaluation.score" if outcome == "score" else "evaluation.is_correct"
    work = group.assign(query=[f"{name}/{s}" for s in group["sample_id"].astype(str)])
    kind = "binary" if outcome == "is_correct" else metric_outcome(work[field])
    records = make_records(work, file=str(file), model="model_id", query="query", outcome=field,
                           outcome_kind=kind, benchmark="evaluation_name", text="text")
    report.notes.append(f"{file}: evaluation {name!r} reads result {result!r} ({field}; mean "
                        f"{float(np.mean(records['n_correct'])):.4f} over {len(records)} records)")
    records = _trials(records.assign(_epoch=work["epoch"].to_numpy()), file, name, report)
    tool = dig(aggregate, "eval_library", "name") or "every-eval-ever"
    version = dig(aggregate, "eval_library", "version")
    for model in pd.unique(records["model"]):
        provenance.setdefault(str(model), []).append(
            entry(str(file), name, str(tool), None if version == "unknown" else version))
    return records


def _trials(records: pd.DataFrame, file: Path, name: str, report: ImportReport) -> pd.DataFrame:
    """A sample scored several times for one model (epochs, trials) as one record, as the harness importers store
    trials: all 0/1 -> k of n, else their mean as a fraction (n_trials = 1). One sample id twice with the same
    `metadata.epoch` is an error (a duplicate, not a trial)."""
    epoch = records[records["_epoch"].notna()]
    twice = epoch[epoch.duplicated(["model", "query", "_epoch"], keep=False)]
    if len(twice):
        a = twice.iloc[0]
        b = twice[(twice["model"] == a["model"]) & (twice["query"] == a["query"]) & (twice["_epoch"] == a["_epoch"])
                  ].iloc[1]
        raise DataError(f"sample_id {a['query'].removeprefix(name + '/')!r} of model {a['model']!r} is given twice for epoch "
                        f"{a['_epoch']} (first on line {a['_row']})", file=str(file), line=int(b["_row"]),
                        field="sample_id")
    records = records.drop(columns="_epoch")
    dup = records.duplicated(["model", "query"], keep=False).to_numpy()
    if not dup.any():
        return records
    grouped = records[dup].assign(_soft=~records["n_correct"][dup].isin((0.0, 1.0))).groupby(
        ["model", "query"], sort=False)
    agg = grouped.agg(benchmark=("benchmark", "first"), text=("text", "first"), _row=("_row", "first"),
                      k=("n_correct", "sum"), mean=("n_correct", "mean"), n=("n_correct", "size"),
                      soft=("_soft", "any")).reset_index()
    soft = agg["soft"].to_numpy()
    merged = agg.assign(n_correct=np.where(soft, agg["mean"], agg["k"]),
                        n_trials=np.where(soft, 1.0, agg["n"].astype(np.float64)))[records.columns]
    report.notes.append(f"{file}: evaluation {name!r}: {len(agg)} samples are scored several times for one model "
                        f"({int(dup.sum())} records; epochs or trials): each is one item, 0/1 scores as k of n"
                        + (f", soft scores as their mean (a fraction, n_trials = 1; {int(soft.sum())} items)"
                           if soft.any() else ""))
    return pd.concat([records[~dup], merged], ignore_index=True)
