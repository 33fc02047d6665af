"""The item pool `irtnet estimate` runs over (`ItemPool`) and the files it reads besides the run: a pool file (the
items of a checkpoint without its run) and a new model's answers file, both read by `irtnet.api.inputs` (.csv,
.jsonl or .json; errors name the file, row or line, and field).

- **Pool file**: per item a text (`text`, or one of `query`, `question`, `prompt`), its `benchmark` and optionally
  an `id` (a non-empty string or an integer; an item without one is `pool-N`, N its place in the file). An id
  given twice is an error naming both places: an answer to it would go to one of them; any other field is an
  error naming it (`inputs.check_fields`).
- **Answers file**: per row `query` or `id` (an item of the pool) or `text` and `benchmark`, and `correct` (or
  `label` or `score`). Any other field or column is an error naming it and the fields that are read, never
  ignored; a `model` field especially: a file is the answers of one new model, and two models' answers pooled
  would be estimated as one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from irtnet.api.inputs import (
    TEXTS_FIELDS, _given_benchmark, _label_of, _load_records, _text_of, answer_records, check_fields,
    first_answers, is_id, item_ids, where, where_text,
)
from irtnet.api.run import Run
from irtnet.api.texts import known_benchmarks, text_queries
from irtnet.errors import DataError
from irtnet.predictors.base import Router
from irtnet.tasks.estimate import RESERVED_BENCHMARKS
from irtnet.tasks.model_split import FoldNetwork

_ANSWER_FIELDS = ("query", "id", "text", "benchmark", "correct", "label", "score")
_POOL_READS = "a text ('text', 'query', 'question' or 'prompt'), its 'benchmark' and optionally an item 'id'"
_ANSWER_READS = ("'query' or 'id' (an item of the pool), or 'text' and 'benchmark', and 'correct' (or 'label' or "
                 "'score')")


@dataclass(frozen=True)
class PoolItem:
    """One item of the pool: its query id, benchmark and text (None where the table has none)."""

    id: str
    benchmark: str
    text: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ItemPool:
    """The items estimates run over: ids [Q], benchmarks [Q], texts [Q], frozen query parameters a [Q, d] and
    b [Q], and the known models' labels [Q, M] (NaN where unobserved; None without a table)."""

    ids: list[str]
    groups: np.ndarray
    texts: list[str | None]
    a: np.ndarray
    b: np.ndarray
    known_labels: np.ndarray | None
    source: str
    run: Run | None = None  # the run whose table the pool's first rows are (None for a pool file)
    folds: list[FoldNetwork] | None = None  # `replay_folds`' auxiliary networks, trained once per pool

    def item(self, i: int) -> PoolItem:
        return PoolItem(self.ids[i], str(self.groups[i]), self.texts[i])

    def add(self, texts: list[str], groups: list[str], a: np.ndarray, b: np.ndarray) -> list[int]:
        """Append answered items that are not in the pool (new texts); returns their positions."""
        start = len(self.ids)
        self.ids += [f"answered-text-{start + i}" for i in range(len(texts))]
        self.groups = np.concatenate([self.groups, np.asarray(groups, dtype=object)])
        self.texts += list(texts)
        self.a, self.b = np.vstack([self.a, a]), np.concatenate([self.b, b])
        if self.known_labels is not None:
            self.known_labels = np.vstack([self.known_labels, np.full((len(texts), self.known_labels.shape[1]), np.nan)])
        return list(range(start, len(self.ids)))


def model_groups(predictor: Router, names: Sequence[str]) -> list[str | None] | None:
    """The benchmark names the model can read (None for the others: they take the text path)."""
    known = known_benchmarks(predictor)
    return None if known is None else [n if n in set(known) else None for n in names]


# ----------------------------------------------------------------------------------------------- pool
def pool_items(path: Path) -> tuple[list[str], list[str], list[str]]:
    """(ids, texts, benchmarks) of a pool file; an item without a benchmark, an id given twice and any other field
    (`inputs.check_fields`) are errors."""
    rows = _load_records(path)
    if not rows:
        raise DataError("no items", file=str(path))
    check_fields(rows, path, TEXTS_FIELDS, _POOL_READS, "a pool file")
    texts = [_text_of(r, path, i) for i, r in enumerate(rows)]
    groups = [_given_benchmark(r, path, i) for i, r in enumerate(rows)]
    for i, g in enumerate(groups):
        if g is None:
            raise DataError("no benchmark (every pool item needs one)", file=str(path), **where(rows[i], i),
                            field="benchmark")
        if g in RESERVED_BENCHMARKS:  # refused here, naming the row, not by the estimate after a plan was written
            raise DataError(f"{g!r} is the name of a row over every benchmark, not a benchmark name; rename the "
                            "benchmark", file=str(path), **where(rows[i], i), field="benchmark")
    return item_ids(rows, path), texts, [str(g) for g in groups]


# -------------------------------------------------------------------------------------------- answers
def _check_fields(rows: list[Any], path: Path) -> None:
    """Every field of an answers file is read: an unknown one (a `model` column above all) is an error."""
    check_fields(rows, path, _ANSWER_FIELDS, _ANSWER_READS)


def _answer_key(row: dict[str, Any], path: Path, i: int) -> tuple[Any, ...]:
    """("id", query id, field name, the row's benchmark or None, its text or None) of one answers row (its
    `query` or `id` field, so that a plan's own lines with `correct` added are an answers file: their `text` and
    `benchmark` must then be the item's), else ("text", benchmark, text)."""
    for name in ("query", "id"):
        if row.get(name) not in (None, "") and not is_id(row[name]):
            raise DataError(f"{row[name]!r} is not an item id (a non-empty string or an integer)", file=str(path),
                            **where(row, i), field=name)
    given = {name: str(row[name]).strip() for name in ("query", "id") if is_id(row.get(name))}
    if len(set(given.values())) > 1:
        raise DataError(f"two item ids ('query' {given['query']!r} and 'id' {given['id']!r}); give the item in one "
                        "of them", file=str(path), **where(row, i), field="id")
    text = row.get("text")
    if text is not None and not isinstance(text, str):  # never read as "no text given"
        raise DataError(f"{text!r} is not a text (a JSON string)", file=str(path), **where(row, i), field="text")
    text = text if text and text.strip() else None
    bench = _given_benchmark(row, path, i)
    if given:
        name, qid = next(iter(given.items()))
        return "id", qid, name, bench, text
    if text is not None:
        if bench is None:
            raise DataError("an item given as text needs its benchmark", file=str(path), **where(row, i),
                            field="benchmark")
        return "text", bench, text
    raise DataError("no item (expected a 'query' id of the run's table, or a 'text' and its 'benchmark')",
                    file=str(path), **where(row, i), field="query")


def _check_id_row(key: tuple[Any, ...], pos: int, pool: ItemPool, path: Path, at: dict[str, int]) -> None:
    """An answers row that gives an id and also a benchmark or a text must give the item's own."""
    _, qid, _, bench, text = key
    if bench is not None and bench != str(pool.groups[pos]):
        raise DataError(f"query {qid!r} is an item of benchmark {pool.groups[pos]!r}, but the row says {bench!r} "
                        "(give the id or the text and its benchmark, not both)", file=str(path), **at,
                        field="benchmark")
    if text is not None and pool.texts[pos] is not None and text != pool.texts[pos]:
        raise DataError(f"the row's text is not the text of query {qid!r} (give the id or the text and its "
                        "benchmark, not both)", file=str(path), **at, field="text")


def _check_text_row(key: tuple[Any, ...], pool: ItemPool, twins: dict[tuple[str, str], list[int]],
                    bench_of_text: dict[str, str], path: Path, at: dict[str, int]) -> None:
    """An item given by text must name one of the pool's benchmarks, its own where the pool holds the text, and
    one item: a text that is two items of its benchmark is answered by id."""
    benchmarks = {str(g) for g in pool.groups}
    if key[1] not in benchmarks:
        raise DataError(f"unknown benchmark {key[1]!r}: the benchmarks of {pool.source} are "
                        f"{', '.join(sorted(benchmarks))}", file=str(path), **at, field="benchmark")
    if (key[1], key[2]) not in twins and key[2] in bench_of_text:
        raise DataError(f"this text is an item of benchmark {bench_of_text[key[2]]!r} in {pool.source}, but the "
                        f"row says {key[1]!r}", file=str(path), **at, field="benchmark")
    same = twins.get((key[1], key[2]), [])
    if len(same) > 1:
        raise DataError(f"this text is {len(same)} items of benchmark {key[1]!r} in {pool.source} (ids "
                        f"{', '.join(repr(pool.ids[i]) for i in same[:5])}); give the item's id in a 'query' field",
                        file=str(path), **at, field="text")


def _resolve(keys: list[tuple[Any, ...]], places: list[dict[str, int]], pool: ItemPool, predictor: Router,
             path: Path) -> list[int]:
    """Pool positions of the answered items (`places`: where each is in the file, `inputs.where`); texts not in
    the pool are added to it. A text of the pool given under another benchmark than its own is an error (it
    would join the pool as a second copy)."""
    by_id = {q: i for i, q in enumerate(pool.ids)}
    twins: dict[tuple[str, str], list[int]] = {}
    for i, (g, t) in enumerate(zip(pool.groups, pool.texts)):
        if t is not None:
            twins.setdefault((str(g), t), []).append(i)
    by_text = {k: v[0] for k, v in twins.items()}
    bench_of_text = {t: g for g, t in by_text}
    new: dict[tuple[str, str], int] = {}
    new_bench: dict[str, tuple[str, dict[str, int]]] = {}  # a new text's benchmark, and where it was first given
    for key, at in zip(keys, places):
        if key[0] == "id":
            if key[1] not in by_id:
                raise DataError(f"unknown query id {key[1]!r}: not an item of {pool.source} (an item given by its "
                                "text goes in a 'text' field, with its 'benchmark')", file=str(path), **at,
                                field=key[2])
            _check_id_row(key, by_id[key[1]], pool, path, at)
            continue
        _check_text_row(key, pool, twins, bench_of_text, path, at)
        if (key[1], key[2]) not in by_text:
            first = new_bench.setdefault(key[2], (key[1], at))
            if first[0] != key[1]:  # one text, one item: it would join the pool once per benchmark
                raise DataError(f"this text was given in {where_text(first[1])} as an item of benchmark "
                                f"{first[0]!r}, and here as one of {key[1]!r}: a text is one item, of one benchmark",
                                file=str(path), **at, field="benchmark")
            new.setdefault((key[1], key[2]), len(new))
    if new:
        names, texts = [g for g, _ in new], [t for _, t in new]
        a, b = predictor.query_parameters(text_queries(predictor, texts, model_groups(predictor, names)))
        by_text.update(zip(new, pool.add(texts, names, np.asarray(a, np.float64), np.asarray(b, np.float64))))
    return [by_id[k[1]] if k[0] == "id" else by_text[(k[1], k[2])] for k in keys]


def _item_name(key: tuple[Any, ...]) -> str:
    """How a message names an answered item: its id, or its text (shortened) and benchmark."""
    if key[0] == "id":
        return f"item {key[1]!r}"
    text = key[2] if len(key[2]) <= 60 else key[2][:57] + "..."
    return f"the item of text {text!r} ({key[1]})"


def read_pool_answers(path: str | Path, pool: ItemPool, predictor: Router) -> tuple[np.ndarray, np.ndarray]:
    """(pool positions [n], outcomes [n]) of an answers file: `query` or `id` (an id of the pool) or else
    `text` and `benchmark`, and `correct` (or `label` / `score`) in [0, 1]. A repeated item must repeat its
    label; any other field is an error."""
    path = Path(path)
    rows = answer_records(path)
    _check_fields(rows, path)
    keys = [_answer_key(r, path, i) for i, r in enumerate(rows)]
    labels = [_label_of(r, path, i) for i, r in enumerate(rows)]
    places = [where(r, i) for i, r in enumerate(rows)]
    positions = _resolve(keys, places, pool, predictor, path)
    first = first_answers(positions, labels, rows, path, lambda i: _item_name(keys[i]))
    return np.array(list(first), dtype=np.int64), np.array([y for _, y in first.values()])
