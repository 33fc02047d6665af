"""SWE-bench Verified "bash-only" per-instance results, through the `long` importer.

Mapping of `swebench_verified_bash_only_scored.csv.gz` (`system, instance_id, resolved, cost_usd,
api_calls`): model = `system`, query = `instance_id` (already unique, e.g. `django__django-11532`),
outcome = `resolved` (0/1, the official harness verdict), cost = `cost_usd` (per instance), benchmark
`swe-bench-verified`. No query text. "Claude 3.7 Sonnet (20250219)" is excluded by default: its
per-instance details are incomplete (10.2% resolved vs 52.8% reported, per SOURCE.md); the excluded
records are counted in the report. `path` is the CSV or the folder holding it.
"""

from __future__ import annotations

from pathlib import Path

from irtnet.data.importers._source import require_path
from irtnet.data.importers.long import ColumnMap, import_long
from irtnet.data.table import ResponseTable

FILE = "swebench_verified_bash_only_scored.csv.gz"
EXCLUDED = ("Claude 3.7 Sonnet (20250219)",)
MAPPING = ColumnMap(model="system", query="instance_id", outcome="resolved", outcome_kind="binary",
                    cost="cost_usd", default_benchmark="swe-bench-verified")


def import_swebench(path: str | Path, exclude_models: list[str] | tuple[str, ...] = EXCLUDED) -> ResponseTable:
    """SWE-bench Verified bash-only scored CSV (resolved 0/1, cost_usd); no query text."""
    path = Path(path)
    require_path(path)
    source = path / FILE if path.is_dir() else path
    excluded = [exclude_models] if isinstance(exclude_models, str) else list(exclude_models)
    return import_long(source, MAPPING, exclude_models=excluded)
