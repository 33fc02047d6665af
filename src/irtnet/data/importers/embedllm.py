"""EmbedLLM / IrtNet CSV: `model_id, prompt_id, prompt, label, category`, one row per (model, prompt).

The reference dataset of the literature (112 models x 35,673 queries, 10 benchmarks) ships as
train/val/test CSVs of this shape. `path` is one CSV (.csv or .csv.gz) or a folder whose CSV files
are pooled. Query id = `prompt_id` (unique across the dataset's benchmarks), benchmark = `category`,
text = `prompt`, outcome = `label` (0/1). Repeated (model, prompt) rows are majority-voted.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from irtnet.data.importers._source import build_table, data_files, read_frame, require_path
from irtnet.data.importers.long import ColumnMap, frame_to_records
from irtnet.data.table import ImportReport, ResponseTable

MAPPING = ColumnMap(model="model_id", query="prompt_id", outcome="label", outcome_kind="binary",
                    benchmark="category", text="prompt")


def import_embedllm(path: str | Path) -> ResponseTable:
    """EmbedLLM / IrtNet CSV (model_id, prompt_id, prompt, label, category); a file or a folder of CSVs."""
    path = Path(path)
    require_path(path)
    files = data_files(path, ("*.csv", "*.csv.gz")) if path.is_dir() else [path]
    report = ImportReport(source=str(path))
    parts = [frame_to_records(read_frame(f), MAPPING, file=str(f), report=report) for f in files]
    if len(files) > 1:
        report.notes.append(f"pooled {len(files)} files: {', '.join(f.name for f in files)}")
    return build_table(pd.concat(parts, ignore_index=True), source=str(path), report=report)
