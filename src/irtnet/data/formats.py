"""The names the `irtnet data` commands list in their help: import formats and merge choices.

Plain constants, free of pandas and of the importers themselves, so that `irtnet --help` and argument errors
start fast. `irtnet.data.importers` and `irtnet.data.merge` import them from here (and re-export them).
"""

from __future__ import annotations

AUTO = "auto"  # the format `import_table` resolves with `detect_format(path)`

#: The import formats, in the order of `irtnet.data.importers.IMPORTERS` (whose keys they are; a test checks it).
FORMATS = ("lighteval", "open-llm-leaderboard", "eee", "opencompass", "embedllm", "long", "wide", "routerdc",
           "llmrouter", "routerbench", "mmlu-pro", "zeroeval", "cruxeval", "swebench", "livecodebench", "lm-eval",
           "inspect", "helm")

#: `merge_tables(versions=...)`: one benchmark under two task versions is an error, or renamed <benchmark>@<tag>.
VERSIONS = ("error", "rename")
#: `merge_tables(labels=...)`: one (model, query) with different labels is an error, or counted as k of n.
LABELS = ("error", "counts")
