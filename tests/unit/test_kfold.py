"""K-fold cross-fitting splits over queries: each query tested once, stratified, seeded, saved and loaded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irtnet.data.splits import QuerySplit, kfold_query_splits
from irtnet.data.table import ResponseTable
from irtnet.errors import ConfigError, DataError

SIZES = {"alpha": 47, "beta": 31, "gamma": 12, "delta": 3}  # uneven benchmarks, 93 queries


def _table(sizes: dict[str, int] = SIZES, reverse: bool = False) -> ResponseTable:
    rows = [{"model": m, "query": f"{b}-{i:03d}", "benchmark": b, "n_correct": (i + j) % 2, "n_trials": 1}
            for b, n in sizes.items() for i in range(n) for j, m in enumerate(("m1", "m2"))]
    records = pd.DataFrame(rows[::-1] if reverse else rows)
    return ResponseTable.from_records(records, source="mem")


@pytest.fixture(scope="module")
def table() -> ResponseTable:
    return _table()


def _bench(table: ResponseTable) -> dict[str, str]:
    return dict(zip(table.queries["query"], table.queries["benchmark"]))


@pytest.mark.parametrize("k", [2, 5, 7])
def test_every_query_is_tested_exactly_once_and_parts_partition(table, k):
    splits = kfold_query_splits(table, k=k, seed=3)
    assert len(splits) == k
    tested = [q for s in splits for q in s.test]
    assert sorted(tested) == sorted(table.queries["query"])  # once each
    for i, s in enumerate(splits):
        parts = [set(s.train), set(s.val), set(s.test)]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert parts[0] | parts[1] | parts[2] == set(table.queries["query"])
        assert len(s.val) == round(0.1 * (table.n_queries - len(s.test)))
        assert s.kind == "kfold"
        assert s.params == {"k": k, "fold": i, "seed": 3, "val_fraction": 0.1, "stratify": True}
    sizes = [len(s.test) for s in splits]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("k", [3, 5])
def test_folds_and_validation_keep_the_benchmark_mix(table, k):
    bench = _bench(table)
    for s in kfold_query_splits(table, k=k, seed=1, val_fraction=0.2):
        for name, n in SIZES.items():
            in_test = sum(bench[q] == name for q in s.test)
            assert abs(in_test - n / k) < 1, (name, in_test, n / k)  # within one query of proportional
            rest = n - in_test
            in_val = sum(bench[q] == name for q in s.val)
            assert abs(in_val - 0.2 * rest) <= 1 + 1e-9, (name, in_val, 0.2 * rest)


def test_unstratified_folds_still_partition(table):
    splits = kfold_query_splits(table, k=4, seed=0, stratify=False, val_fraction=0.0)
    assert sorted(q for s in splits for q in s.test) == sorted(table.queries["query"])
    assert all(s.val == () and len(s.train) + len(s.test) == table.n_queries for s in splits)
    assert splits[0].params["stratify"] is False


def test_splits_are_seeded_and_ignore_row_order(table):
    first = kfold_query_splits(table, k=5, seed=11)
    assert first == kfold_query_splits(table, k=5, seed=11)
    assert first == kfold_query_splits(_table(reverse=True), k=5, seed=11)
    assert [s.test for s in first] != [s.test for s in kfold_query_splits(table, k=5, seed=12)]


def test_kfold_split_round_trips_through_json(table, tmp_path):
    for i, s in enumerate(kfold_query_splits(table, k=3, seed=2)):
        s.save(tmp_path / f"fold{i}.json")
        assert QuerySplit.load(tmp_path / f"fold{i}.json") == s


@pytest.mark.parametrize("k", [1, 0, -3, True, 2.5, "5"])
def test_bad_k_is_a_config_error(table, k):
    with pytest.raises(ConfigError, match="k "):
        kfold_query_splits(table, k=k)


def test_more_folds_than_queries_is_a_config_error():
    small = _table({"a": 2, "b": 1})
    with pytest.raises(ConfigError, match=r"k = 4 folds is more than the 3 queries"):
        kfold_query_splits(small, k=4)
    assert len(kfold_query_splits(small, k=3, val_fraction=0.0)) == 3


@pytest.mark.parametrize("vf", [1.0, -0.1, float("nan"), float("inf"), "x", None, True])
def test_bad_val_fraction_is_a_config_error(table, vf):
    with pytest.raises(ConfigError, match="val_fraction"):
        kfold_query_splits(table, val_fraction=vf)


def test_no_training_query_left_is_a_data_error():
    with pytest.raises(DataError, match="no training query"):
        kfold_query_splits(_table({"a": 2}), k=2, val_fraction=0.9)


def test_test_fold_ids_match_the_table_ids(table):
    ids = set(table.queries["query"])
    for s in kfold_query_splits(table, k=5):
        assert set(s.test) <= ids and all(isinstance(q, str) for q in s.test + s.val + s.train)
        assert isinstance(np.asarray(s.test).tolist()[0], str)


def _with_texts(twin_groups: list[list[str]]) -> ResponseTable:
    """`_table()`'s records with a text per query, the queries of each group in `twin_groups` sharing one text."""
    same = {q: f"shared text {g}" for g, group in enumerate(twin_groups) for q in group}
    rows = [{"model": m, "query": f"{b}-{i:03d}", "benchmark": b, "n_correct": (i + j) % 2, "n_trials": 1,
             "text": same.get(f"{b}-{i:03d}", f"text of {b}-{i:03d}")}
            for b, n in SIZES.items() for i in range(n) for j, m in enumerate(("m1", "m2"))]
    return ResponseTable.from_records(pd.DataFrame(rows), source="mem")


def test_queries_sharing_a_text_stay_in_one_part_of_every_split():
    from irtnet.data.splits import split_by_query, text_twins

    groups = [["alpha-000", "alpha-001"], ["alpha-002", "beta-005", "gamma-003"], ["beta-010", "delta-002"]]
    table = _with_texts(groups)
    assert text_twins(table)["beta-005"] == "alpha-002" and len(text_twins(table)) == 7
    for seed in range(6):
        splits = [*kfold_query_splits(table, k=5, seed=seed), split_by_query(table, (0.6, 0.2, 0.2), seed)]
        for s in splits:
            for group in groups:
                homes = {i for i, part in enumerate((s.train, s.val, s.test)) for q in group if q in part}
                assert len(homes) == 1, (seed, s.params, group)
        assert sorted(q for s in splits[:5] for q in s.test) == sorted(table.queries["query"])  # still once each


def test_texts_without_twins_leave_every_split_as_it_was():
    from irtnet.data.splits import split_by_query

    plain, texts = _table(), _with_texts([])
    assert [s.test for s in kfold_query_splits(plain, k=5, seed=1)] == \
        [s.test for s in kfold_query_splits(texts, k=5, seed=1)]
    assert split_by_query(plain, seed=2) == split_by_query(texts, seed=2)


def test_holding_a_benchmark_out_leaves_its_texts_twins_in_other_benchmarks_out_of_training():
    from irtnet.data.splits import leave_benchmarks_out

    groups = [["alpha-000", "alpha-001"], ["alpha-002", "beta-005", "gamma-003"], ["beta-010", "delta-002"]]
    table, plain = _with_texts(groups), _with_texts([])
    split = leave_benchmarks_out(table, ["beta"], seed=1)
    assert split.params["text_twins_left_out"] == ["alpha-002", "delta-002", "gamma-003"]
    assert not set(split.params["text_twins_left_out"]) & set(split.train + split.val + split.test)
    assert {"beta-005", "beta-010"} <= set(split.test)
    before = leave_benchmarks_out(plain, ["beta"], seed=1)  # else the split as without twins
    assert split.test == before.test and "text_twins_left_out" not in before.params
    assert [q for q in before.train if q not in {"alpha-002", "delta-002", "gamma-003"}] == list(split.train)
    alone = leave_benchmarks_out(table, ["gamma"], seed=1)  # twins within the kept benchmarks stay where they are
    assert alone.params["text_twins_left_out"] == ["alpha-002", "beta-005"]
    assert {"alpha-000", "alpha-001", "beta-010", "delta-002"} <= set(alone.train + alone.val)
