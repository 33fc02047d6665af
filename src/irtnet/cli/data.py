"""`irtnet data ...`: import evaluation logs into a response table, list the formats, summarise a table,
fill the embedding cache with the vectors of many texts."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from irtnet._io import dumps_json
from irtnet.cli.common import (
    check_output_path, console, friendly_errors, output_option as OutOpt, path_argument as PathArg,
)
from irtnet.data.formats import AUTO, FORMATS, LABELS, VERSIONS

if TYPE_CHECKING:
    from irtnet.data.summary import TableSummary
    from irtnet.data.table import ImportReport

# The importers, merging and summaries (pandas) are imported inside the commands: `irtnet --help` and argument
# errors start without them.

Opt = typer.Option

app = typer.Typer(
    help="Import evaluation logs (who answered which query correctly) into a response table, and summarise it.\n\n"
         "Start with `irtnet data formats`, then e.g.\n\n"
         "irtnet data import mmlu-pro ../shared/data/mmlu-pro-outputs -o mmlu.parquet\n\n"
         "irtnet data summary mmlu.parquet",
    no_args_is_help=True,
)


# Help texts keep one paragraph per line: the root app's rich markup mode keeps single line breaks.
IMPORT_HELP = "\n\n".join([
    "Read evaluation logs in FORMAT from PATH, validate them and write a response table (Parquet).",
    "Bad input (a missing column, an unparseable row, a NaN or out-of-range label, a model without records, "
    "ids that collide) stops the import with a message naming the file, row and field. Anything skipped on "
    "purpose (empty outcomes, excluded models) is counted and printed.",
    "`irtnet data formats` lists the formats and their options; docs/data-formats.md has the command for each "
    "dataset in ../shared/data. Examples:",
    "irtnet data import routerbench ../shared/data/routerdc/datasets/routerbench_zs -o routerbench.parquet",
    "irtnet data import llmrouter ../shared/data/llmrouter-dcrouter -o llmrouter.parquet -O splits=train",
    "irtnet data import long results.csv -o t.parquet -O model=system -O query=item -O outcome=correct "
    "-O default_benchmark=mybench",
    "FORMAT auto detects the format from the file names and keys (and prints it): "
    "irtnet data import auto ../shared/data/eval-logs/lighteval -o lighteval.parquet",
])
MERGE_HELP = "\n\n".join([
    "Merge response tables (written by `irtnet data import`) into one, keeping each model's provenance (source "
    "file, tool, tool version, task version and hash) in the table's models frame.",
    "The same benchmark under two task versions or hashes is an error naming both sources, unless --versions "
    "rename keeps them apart as <benchmark>@<tag>. The same (model, query) with different labels in two sources "
    "is an error, unless --labels counts combines repeated pairs as k of n.",
    "Example: irtnet data merge lm-eval.parquet lighteval.parquet -o all.parquet --labels counts",
])
SUMMARY_HELP = "\n\n".join([
    "Print what a response table holds: models, queries, benchmarks, outcome balance, missingness and "
    "per-model accuracy (rich tables, or JSON with --json).",
    "Example: irtnet data summary routerbench.parquet --json > routerbench-summary.json",
])


@app.command("import", help=IMPORT_HELP)
@friendly_errors
def import_(
    format: Annotated[str, typer.Argument(help="source format, one of: " + ", ".join([AUTO, *FORMATS]))],
    path: Annotated[Path, PathArg(help="the file or folder to read (see `irtnet data formats`)")],
    out: Annotated[Path, OutOpt("--out", "-o", help="response table to write (.parquet)")],
    option: Annotated[Optional[list[str]], Opt(
        "--option", "-O", metavar="KEY=VALUE",
        help="an importer option, repeatable; lists are comma-separated (e.g. -O splits=train,test)")] = None,
) -> None:
    """Import FORMAT logs from PATH into a response table (see IMPORT_HELP)."""
    from irtnet.data.importers import detect_format, import_table, parse_options
    from irtnet.data.summary import summarize

    check_output_path(out)  # before the import, which can take minutes, not after it
    if format == AUTO:
        format = detect_format(path)
        console.print(f"detected format: {format}", markup=False, highlight=False)
    options = parse_options(format, option or [])
    _refuse_overwriting(out, [path, *(options[k] for k in ("texts_file", "mapping") if options.get(k))])
    start = time.perf_counter()
    table = import_table(format, path, **options)
    seconds = time.perf_counter() - start
    table.to_parquet(out)
    info = summarize(table)
    console.print(f"imported {info.models} models x {info.queries} queries in {seconds:.1f} s -> {out}",
                  markup=False, highlight=False)
    console.print(f"{info.benchmarks} benchmarks, {info.responses} responses ({info.missing:.1%} of cells "
                  f"missing), mean label {info.mean_label:.3f}, text for {info.text_share:.0%} of queries"
                  + (", with cost" if info.has_cost else ""), highlight=False)
    _print_report(table.report)


@app.command("formats")
def formats() -> None:
    """List the import formats: what each reads, and its options (key=default) for `irtnet data import -O`."""
    from irtnet.data.importers import IMPORTERS, REQUIRED, describe, options_of

    table = Table(title="irtnet data import FORMAT PATH -o table.parquet [-O key=value ...]", title_justify="left",
                  show_lines=True)
    table.add_column("format", style="bold", no_wrap=True)
    table.add_column("reads / options (key=default)")
    for name in IMPORTERS:
        opts = ", ".join(k if v is REQUIRED else f"{k}={_show(v)}" for k, v in options_of(name).items())
        table.add_row(name, f"{escape(describe(name))}\n[dim]options: {escape(opts or 'none')}[/]")
    console.print(table)
    console.print(f"{AUTO}: detect the format from file names and keys, e.g. irtnet data import auto PATH -o t.parquet",
                  markup=False, highlight=False)
    console.print("docs/data-formats.md gives each format's mapping, outcome rule and the command for each "
                  "dataset in ../shared/data.")


@app.command("merge", help=MERGE_HELP)
@friendly_errors
def merge(
    tables: Annotated[list[Path], PathArg(help="response tables (.parquet) to merge, two or more")],
    out: Annotated[Path, OutOpt("--out", "-o", help="merged response table to write (.parquet)")],
    versions: Annotated[str, Opt(help="two task versions of one benchmark: " + " or ".join(VERSIONS))] = "error",
    labels: Annotated[str, Opt(help="one (model, query) with different labels: " + " or ".join(LABELS))] = "error",
) -> None:
    """Merge response tables into one (see MERGE_HELP)."""
    from irtnet.data.merge import check_merge_options, merge_tables
    from irtnet.data.summary import summarize
    from irtnet.data.table import ResponseTable

    check_output_path(out)  # before the work, not after it
    check_merge_options(versions, labels)
    _refuse_repeated_inputs(tables)
    _refuse_overwriting(out, list(tables))  # as import does: the merged table would replace one of its sources
    inputs = [ResponseTable.read_parquet(p) for p in tables]
    merged = merge_tables(inputs, [str(p) for p in tables], versions=versions, labels=labels)
    merged.to_parquet(out)
    info = summarize(merged)
    console.print(f"merged {len(tables)} tables: {info.models} models x {info.queries} queries, {info.benchmarks} "
                  f"benchmarks, {info.responses} responses -> {out}", markup=False, highlight=False)
    _print_report(merged.report)


@app.command("summary", help=SUMMARY_HELP)
@friendly_errors
def summary(
    table: Annotated[Path, PathArg(help="response table (.parquet) written by `irtnet data import`")],
    as_json: Annotated[bool, Opt("--json", help="print the summary as JSON instead of tables")] = False,
) -> None:
    """Summarise a response table (see SUMMARY_HELP)."""
    from irtnet.data.summary import summarize
    from irtnet.data.table import ResponseTable

    info = summarize(ResponseTable.read_parquet(table))
    if as_json:
        typer.echo(dumps_json(info.to_dict(), indent=2))  # strict JSON for jq: NaN as null
        return
    for part in _summary_tables(info):
        console.print(part)
    _print_report(info.report)


ENCODE_HELP = "\n\n".join([
    "Fill the embedding cache ($IRTNET_CACHE, default ~/.cache/irtnet) with the vectors of the texts in PATH, so "
    "training, routing and serving on them later encode nothing. Prints texts, already cached, encoded, seconds "
    "and texts per second.",
    "PATH is a text file with one text per line (UTF-8; blank lines are skipped), or a .csv/.tsv/.json/.jsonl/"
    ".parquet file (optionally .gz/.xz/.bz2) with a text column (--column; a response table written by "
    "`irtnet data import` has one). A missing or empty text, or a line that is not UTF-8, is an error "
    "naming the file, row and field.",
    "Texts already cached are skipped. The rest are encoded in chunks, each written as one cache shard as soon "
    "as it is done: an interrupted run, started again, continues where it stopped. --chunk-size trades the "
    "work an interruption loses (and the vectors held in memory) against the number of shards; the default "
    "grows with the job (2,048 texts up to 65,536 texts, then 1/32 of the job, at most 32,768).",
    "--workers N runs N encoder processes, each with torch on cores/N threads (at least 1); 1 runs the "
    "encoder here, on every core.",
    "Example: irtnet data encode prompts.txt --workers 2",
])


@app.command("encode", help=ENCODE_HELP)
@friendly_errors
def encode(
    path: Annotated[Path, PathArg(help="a text file (one text per line) or a column file (see --column)")],
    encoder: Annotated[str, Opt(help="the encoder: all-MiniLM-L6-v2 (packaged), hashing-<dim>, or a local "
                                     "sentence-transformers model")] = "all-MiniLM-L6-v2",
    workers: Annotated[int, Opt(min=1, help="encoder processes (1: this process, all cores)")] = 1,
    chunk_size: Annotated[Optional[int], Opt(min=1, help="texts per chunk (= per cache shard); default "
                                                         "grows with the job")] = None,
    column: Annotated[str, Opt(help="the text column of a .csv/.tsv/.json/.jsonl/.parquet file")] = "text",
    batch_size: Annotated[int, Opt(min=1, help="texts per model batch")] = 64,
) -> None:
    """Encode the texts of PATH into the embedding cache (see ENCODE_HELP)."""
    from irtnet.api.data import encode_file  # here: the other `irtnet data` commands stay free of torch

    done, blank = encode_file(path, encoder, column=column, workers=workers, chunk_size=chunk_size,
                              batch_size=batch_size)
    say = lambda text: console.print(text, markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    say(f"read {done.texts:,} texts from {path}" + (f" ({blank:,} blank lines skipped)" if blank else ""))
    say(f"texts: {done.texts:,} ({done.distinct:,} distinct), already cached: {done.cached:,}, encoded: "
        f"{done.encoded:,} in {done.shards:,} shards")
    rate = f"{done.texts_per_s:,.1f} texts/s" if done.encoded else "nothing to encode"
    say(f"seconds: {done.seconds:.2f}, {rate} ({done.encoder}, {workers} worker{'s' if workers > 1 else ''}, "
        "encoder start included)")
    say(f"cache: {done.folder}")


def _same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one existing file (through links, `..` or a different spelling)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def _refuse_overwriting(out: Path, sources: list[Any]) -> None:
    """An output path that is one of the import's input files (its PATH, the archive of ARCHIVE::MEMBER, the
    texts_file or the mapping) is an error: the table would replace the evaluation logs it was read from."""
    from irtnet.data.importers._source import split_source
    from irtnet.errors import DataError

    for source in sources:
        if _same_file(out, split_source(source)[0]):
            raise DataError(f"is the input file {str(source)!r}: the table would replace it; give -o another path",
                            file=str(out))


def _refuse_repeated_inputs(tables: list[Path]) -> None:
    """One table file given twice is an error: every pair would be repeated (and double-counted with --labels
    counts)."""
    from irtnet.errors import DataError

    for i, path in enumerate(tables):
        for earlier in tables[:i]:
            if _same_file(path, earlier):
                raise DataError(f"is given twice (also as {str(earlier)!r}): merging a table with itself would "
                                "repeat every (model, query) pair; give each table once", file=str(path))


def _summary_tables(info: TableSummary) -> list[Table]:
    overview = Table(title=f"response table ({escape(info.source)})", title_justify="left", show_header=False)
    for key, value in [
        ("models x queries", f"{info.models} x {info.queries}"), ("benchmarks", info.benchmarks),
        ("responses", f"{info.responses} ({info.missing:.1%} of cells missing)"),
        ("queries answered by every model", info.queries_answered_by_all),
        ("labels 1 / 0", f"{info.positives} / {info.negatives} (mean label {info.mean_label:.3f})"),
        ("mean score", f"{info.mean_score:.3f} ({info.soft_share:.1%} of scores strictly between 0 and 1)"),
        ("queries with text", f"{info.text_share:.1%}"), ("per-response cost", "yes" if info.has_cost else "no"),
    ]:
        overview.add_row(key, str(value))
    bench = Table(title="per benchmark", title_justify="left")
    for col in ("benchmark", "queries", "responses", "missing", "accuracy", "mean score"):
        bench.add_column(col, justify="left" if col == "benchmark" else "right")
    for b in info.per_benchmark:
        bench.add_row(escape(b.benchmark), str(b.queries), str(b.responses), f"{b.missing:.1%}",
                      f"{b.accuracy:.3f}", f"{b.mean_score:.3f}")
    models = Table(title="per model (accuracy = mean 0/1 label)", title_justify="left")
    cols = ["model", "responses", "missing", "accuracy", "mean score"] + (["mean cost"] if info.has_cost else [])
    for col in cols:
        models.add_column(col, justify="left" if col == "model" else "right", overflow="fold")
    for m in sorted(info.per_model, key=lambda m: -m.accuracy):
        cost = [f"{m.mean_cost:.4g}"] if info.has_cost and m.mean_cost is not None else []
        models.add_row(escape(m.model), str(m.responses), f"{m.missing:.1%}", f"{m.accuracy:.3f}",
                       f"{m.mean_score:.3f}", *cost)
    return [overview, bench, models]


def _print_report(report: ImportReport) -> None:
    if report.n_repeated_pairs:
        console.print(f"repeated (model, query) pairs merged by majority vote: {report.n_repeated_pairs} "
                      f"({report.n_conflicting_pairs} disagreeing)")
        if report.n_conflicting_pairs:
            console.print("note: a disagreeing pair keeps every record as k of n (its score); its 0/1 label is the "
                          "majority, a tie counting as correct. For the long format, -O repeats=error refuses "
                          "repeated pairs instead.", markup=False, highlight=False)
    for reason, count in report.skipped.items():
        console.print(f"skipped {count}: {reason}", markup=False)
    for note in report.notes:
        console.print(f"note: {note}", markup=False, highlight=False)


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "none"
    return '""' if value == "" else str(value)
