"""Write RouterBench's zero-shot files (routerdc/datasets/routerbench_zs: wide CSVs, one column per model)
as one generic long-format CSV: the "dataset irtnet has never seen" of issue 12's check.

irtnet has a `routerbench` importer, but the text-only comparison never ran on this dataset, and this file
is read with the generic `long` importer only, exactly as a user's own long file would be:

    python scripts/routerbench_to_long.py ../shared/data/routerdc/datasets/routerbench_zs runs/unseen/routerbench-long.csv.gz
    irtnet data import long runs/unseen/routerbench-long.csv.gz -o runs/unseen/routerbench.parquet \\
        -O model=model -O query=query -O outcome=correct -O benchmark=benchmark -O text=text -O cost=cost
    irtnet compare --config configs/unseen-long.toml

Columns written: model, query ("<train|test>/<sample_id>": RouterBench
reuses a few sample_ids for different prompts, within a file and across its train and test files; the
second prompt of a sample_id gets the suffix "~2", since the importer refuses one id with two texts), benchmark (eval_name), text (prompt), correct (0/1 as
the file gives it), cost (the model's `|total_cost` column). Uses pandas only, nothing from irtnet. The source
files are read in place and never copied into the project.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd


def to_long(folder: Path) -> pd.DataFrame:
    parts = []
    for file in sorted(folder.glob("*.csv")):
        wide = pd.read_csv(file)
        part = file.stem.rsplit("_", 1)[-1]  # arc_challenge_train -> train
        ids = part + "/" + wide["sample_id"].astype(str)
        version = wide.groupby("sample_id")["prompt"].transform(lambda p: pd.factorize(p)[0])
        ids = ids.where(version == 0, ids + "~" + (version + 1).astype(str))
        models = [c for c in wide.columns if "|" not in c and c not in ("Unnamed: 0", "sample_id", "prompt",
                                                                         "eval_name", "oracle_model_to_route_to")]
        for m in models:
            parts.append(pd.DataFrame({"model": m, "query": ids, "benchmark": wide["eval_name"],
                                       "text": wide["prompt"], "correct": wide[m],
                                       "cost": wide.get(f"{m}|total_cost")}))
    if not parts:
        raise SystemExit(f"{folder}: no .csv files")
    return pd.concat(parts, ignore_index=True)


def main(src: str, out: str) -> None:
    frame = to_long(Path(src))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(out).with_name(Path(out).name + ".tmp")
    # mtime 0: no time stamp in the gzip header, so the same data written to the same path gives the same bytes
    frame.to_csv(tmp, index=False, compression={"method": "gzip", "mtime": 0})
    tmp.replace(out)  # atomic: a reader never sees half a file
    print(f"{out}: {len(frame):,} rows, {frame['model'].nunique()} models, {frame['query'].nunique():,} queries, "
          f"benchmarks {sorted(frame['benchmark'].unique())}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python scripts/routerbench_to_long.py ROUTERBENCH_ZS_FOLDER OUT.csv.gz")
    main(sys.argv[1], sys.argv[2])
