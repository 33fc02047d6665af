"""`irtnet compare` (models x datasets x seeds, cached) and `irtnet results` (docs/results.md, and with
`--summary` the README's summary table)."""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from irtnet._io import unique_keys, write_text
from irtnet.cli.common import (
    check_output_path, console, err_console, friendly_errors, items, numbers, output_option as OutOpt,
    parse_fractions, path_argument as PathArg, path_option as PathOpt, thread_count,
)
from irtnet.config import deep_update, read_config_file
from irtnet.errors import ConfigError, DataError

Opt = typer.Option


def parse_dataset(text: str) -> dict[str, Any]:
    """`[NAME=]TABLE.parquet`, `[NAME=]FORMAT:PATH` or a JSON object (name, format, path, options)."""
    if text.lstrip().startswith("{"):
        return _json(text, "--dataset")
    name, _, rest = text.rpartition("=") if "=" in text.split(":", 1)[0] else ("", "", text)
    if rest.endswith(".parquet"):
        return {"name": name or Path(rest).stem, "table": rest}
    fmt, sep, path = rest.partition(":")
    if not sep:
        raise ConfigError(f"--dataset {text!r}: expected TABLE.parquet, FORMAT:PATH or a JSON object")
    return {"name": name or Path(path.split("::")[0]).name or fmt, "format": fmt, "path": path}


def parse_model(text: str) -> dict[str, Any]:
    """`NAME` (a registry name), `[LABEL=]irtnet:PRESET`, or a JSON object (name, model, preset, params, ...)."""
    if text.lstrip().startswith("{"):
        return _json(text, "--model")
    label, _, rest = text.partition("=") if "=" in text else ("", "", text)
    model, sep, preset = rest.partition(":")
    if not sep:
        return {"name": label or model, "model": model}
    return {"name": label or f"{model}-{preset}", "model": model, "preset": preset}


def _json(text: str, flag: str) -> dict[str, Any]:
    """The JSON object `text` given to option `flag`; ConfigError naming the flag when it is not valid JSON, not
    an object, or gives a key twice in one object (json would keep the last value silently)."""
    try:
        value = json.loads(text, object_pairs_hook=unique_keys(None))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{flag}: not a valid JSON object ({exc})") from exc
    except DataError as exc:
        raise ConfigError(f"{flag} {text!r}: {exc.reason}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{flag}: expected a JSON object, got {type(value).__name__}")
    return value


def _names(text: str | None, option: str) -> set[str] | None:
    parts = items(text, option)
    return None if parts is None else set(parts)


def _command() -> str:
    argv = list(sys.argv)
    if argv and Path(argv[0]).name == "irtnet":
        argv[0] = "irtnet"
    return shlex.join(argv)


def _print_cell(cell: Any) -> None:
    from irtnet.reporting.console import cell_line

    console.print(cell_line(cell), highlight=False)


@friendly_errors
def compare(
    config: Annotated[Optional[Path], PathOpt("--config", "-c", help="TOML/JSON spec, e.g. configs/compare.toml")
                      ] = None,
    out: Annotated[Optional[Path], PathOpt("--out", "-o", help="run directory (cells are cached here)")] = None,
    dataset: Annotated[Optional[list[str]], Opt("--dataset", "-d", help="TABLE.parquet, FORMAT:PATH or JSON; "
                                                 "repeat; replaces the spec's datasets")] = None,
    model: Annotated[Optional[list[str]], Opt("--model", "-m", help="registry NAME, irtnet:PRESET or JSON; "
                                               "repeat; replaces the spec's models")] = None,
    seeds: Annotated[Optional[str], Opt(help="comma-separated seeds (default 0,1,2)")] = None,
    folds: Annotated[Optional[int], Opt(help="K-fold cross-fitting over queries (every query tested once) per seed")
                     ] = None,
    focus: Annotated[Optional[str], Opt(help="the entry compared with every other by paired bootstrap "
                                             "(default: the first)")] = None,
    encoder: Annotated[Optional[str], Opt(help="query encoder of entries that name none")] = None,
    split: Annotated[Optional[str], Opt(help="train,val,test query fractions (default 0.8,0.1,0.1)")] = None,
    routing_mode: Annotated[Optional[str], Opt(help="'complete' or 'observed'")] = None,
    epochs: Annotated[Optional[int], Opt(help="maximum epochs of every IrtNet entry")] = None,
    threads: Annotated[Optional[int], Opt(help="torch threads (default 1)", callback=thread_count)] = None,
    only_datasets: Annotated[Optional[str], Opt(help="compute only these datasets (comma-separated)")] = None,
    only_models: Annotated[Optional[str], Opt(help="compute only these entries (comma-separated)")] = None,
    force: Annotated[bool, Opt("--force", help="recompute cells even if cached")] = False,
    markdown: Annotated[Optional[Path], OutOpt(help="also write a results document here (e.g. docs/results.md)")
                        ] = None,
    quiet: Annotated[bool, Opt("--quiet", help="no per-cell lines or progress bars")] = False,
) -> None:
    """Fit and score models on datasets over seeds, every model on the same split; write tables."""
    from irtnet.reporting.result_files import check_not_run_file
    from irtnet.reporting.results import results_document, write_tables
    from irtnet.api.compare import load_spec, run_comparison
    from irtnet.reporting.console import comparison_table

    raw = read_config_file(config) if config else {}
    flags: dict[str, Any] = {"encoder": encoder, "routing_mode": routing_mode, "threads": threads,
                             "folds": folds, "focus": focus,
                             "out": str(out) if out else None,
                             "fractions": parse_fractions(split) if split is not None else None,
                             "seeds": numbers(seeds, "--seeds")}
    raw = deep_update(raw, flags)
    if dataset:
        raw["datasets"] = [parse_dataset(d) for d in dataset]
    if model:
        raw["models"] = [parse_model(m) for m in model]
    spec = load_spec(raw)
    if epochs is not None and any(e.registry_name == "irtnet" for e in spec.models):  # none: nothing to set
        spec = load_spec(deep_update(raw, {"overrides": {"irtnet": {"train": {"epochs": epochs}}}}))
    if not spec.out:
        raise ConfigError("no run directory: give --out or `out` in the spec")
    names = _names(only_datasets, "--only-datasets"), _names(only_models, "--only-models")
    check_output_path(markdown)  # before the work, not after every cell is computed
    check_not_run_file(markdown, [Path(spec.out)], "--markdown")  # its results.json is not replaced by the document
    meta: dict[str, Any] = {"command": _command()}
    if config:
        meta.update(spec_file=str(config), spec_sha256=hashlib.sha256(config.read_bytes()).hexdigest())
    result = run_comparison(spec, spec.out, force=force, only_datasets=names[0], only_models=names[1],
                            log=None if quiet else _print_cell, progress=not quiet, meta=meta)
    for t in write_tables(spec.out):
        console.print(comparison_table(t))
    if markdown:
        write_text(markdown, results_document([spec.out], command=meta["command"]))
    errors = result.run["cells"]["error"]
    computed = result.run["computed"]
    cells = f"{computed} cell{'' if computed == 1 else 's'}"
    console.print(f"wrote {spec.out}/results.json, tables/ and summary.md ({cells} computed, "
                  f"{result.run['from_cache']} from the cache, {errors} failed)")
    if errors:
        err_console.print(f"error: {errors} cell(s) failed; each one's error is recorded in {spec.out}/results.json "
                          "(status \"error\") and shown in tables/ and summary.md; a rerun tries them again",
                          markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(code=2)


def _refuse_repeated_runs(runs: list[Path]) -> None:
    """A run given twice would put its tables into the document twice."""
    seen: dict[Path, Path] = {}
    for run in runs:
        key = run.resolve()
        if key in seen:
            raise ConfigError(f"{run}: the run is given twice (as {seen[key]} before); give each run once")
        seen[key] = run


@friendly_errors
def results(
    runs: Annotated[list[Path], PathArg(help="run directories written by `irtnet compare`")],
    output: Annotated[Optional[Path], OutOpt("--output", "-o", help="Markdown file to write (e.g. docs/results.md)")
                      ] = None,
    summary: Annotated[bool, Opt("--summary", help="also print the README's summary table of each run (Markdown, "
                                                   "on stdout); without -o, only print them")] = False,
) -> None:
    """Rebuild the tables of comparison runs and write one results document (exact commands, data versions);
    --summary prints the README's summary table of each run (focus against the best other entry)."""
    from irtnet.reporting.result_files import check_not_run_file
    from irtnet._io import write_together
    from irtnet.reporting.results import (
        missing_stats_note, remove_files, results_document, summary_tables, table_files,
    )

    if output is None and not summary:
        raise ConfigError("nothing to do: give -o FILE (the results document), --summary, or both")
    _refuse_repeated_runs(runs)
    check_output_path(output)
    check_not_run_file(output, runs, "--output")
    tables = summary_tables(runs) if summary else None  # first: a run without stats.json stops before any write
    if output is not None:
        document = results_document(runs, command=_command())  # reads every run: a damaged one before any write
        parts = [table_files(run) for run in runs]
        write_together([f for files, _, _ in parts for f in files] + [(output, document)])  # all, or none
        remove_files([old for _, stale, _ in parts for old in stale])
        shown = err_console if summary else console  # stdout: only the tables
        for note in filter(None, map(missing_stats_note, runs)):
            shown.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
        shown.print(f"wrote {output}")
    if tables is not None:
        typer.echo(tables)
