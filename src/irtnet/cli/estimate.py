"""`irtnet estimate`: a new model's accuracy on each benchmark of a run from a few answers (--answers), the items
to run first (--plan), or both in rounds on the terminal (--interactive). Parses, calls `irtnet.api.estimate`,
prints. The tables are drawn here, from the result objects, as the reporting layer has no view of them yet."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from irtnet._io import dumps_json, write_json, write_text
from irtnet.cli.common import (
    check_output_path, console, err_console, friendly_errors, output_option as OutOpt, path_argument as PathArg,
    path_option as PathOpt, positive, prior_strength_value, refuse_unused,
)
from irtnet.config import MAX_SEED
from irtnet.errors import ConfigError

Opt = typer.Option
_YES, _NO = {"y", "yes", "1", "true", "t"}, {"n", "no", "0", "false", "f"}


def _table(title: str, columns: list[str]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right")
    return table


def _add_row(table: Table, *cells: str) -> None:
    """A row of `cells` shown as they are: ids, benchmark and model names and item texts are data, never Rich
    markup (a prompt's "[/INST]" would stop the command with a traceback, an "arr[i]" lose its "[i]")."""
    table.add_row(*map(escape, cells))


def estimates_table(result: Any) -> Table:
    """One row per benchmark: estimate, interval, answered / items and, with a target width, answers needed;
    then the overall accuracy over every benchmark."""
    # the level as given (99.5%, not rounded to "100%"), and "1 answer" in the singular
    columns = ["benchmark", "estimate", f"{result.level * 100:g}% interval", "answered / items"]
    if result.target_width is not None:
        columns.append(f"more answers for width <= {result.target_width:g}")
    table = _table(f"Estimated accuracy from {result.n_answers} answer{'' if result.n_answers == 1 else 's'} "
                   "(predictive interval of the realised accuracy over every item)", columns)
    for e in result.benchmarks:
        row = [e.benchmark, f"{e.estimate:.3f}", f"{e.lower:.3f} - {e.upper:.3f}", f"{e.n_answered} / {e.n_items}"]
        if result.more_needed is not None:
            k = result.more_needed.get(e.benchmark)
            row.append(f"> {result.settings.get('max_k', '?')}" if k is None else str(k))
        _add_row(table, *row)
    o = result.overall
    table.add_section()
    table.caption = "overall: the accuracy over every item of every benchmark"
    row = ["overall", f"{o.estimate:.3f}", f"{o.lower:.3f} - {o.upper:.3f}", f"{o.n_answered} / {o.n_items}"]
    if result.more_needed is not None:
        k = result.more_needed.get(o.benchmark)
        row.append(f"> {result.settings.get('max_k', '?')}" if k is None else str(k))
    _add_row(table, *row)
    return table


def routing_table(result: Any) -> Table:
    """The routing profile: the new model's mean P(correct) beside the best known model's, per benchmark."""
    table = _table("Where a router would send queries now (mean P(correct) over each benchmark's items)",
                   ["benchmark", "new model", "best known model", "its P", "rank", "routed to new model"])
    for r in result.routing:
        _add_row(table, r.benchmark, f"{r.new_p:.3f}", r.best_known, f"{r.best_known_p:.3f}",
                 f"{r.rank} / {r.n_models}", f"{r.routed_share:.1%}")
    return table


def priors_line(result: Any) -> str:
    """The priors the estimate ran under, and whether they were chosen on the known models or given."""
    r = result.settings.get("item_refit", {})
    on = {"held-out queries": "validation queries", "pool items": "pool items"}.get(r.get("strength_scored_on") or "")
    # a strength not chosen is given: by the option, or its default 1 (`auto` is refused where it cannot choose)
    how = f"chosen on the known models, scored on their {on}" if r.get("strength_chosen") else "given"
    return (f"Priors: the new model's ability prior {r.get('prior_kind', 'isotropic')} at strength "
            f"{result.settings.get('prior_strength', 1.0):g} ({how}); items refitted on the known models' answers "
            f"with prior sd {r.get('prior_sd', 0.0):g} (0: the text's parameters)")


def correction_line(result: Any) -> str:
    """How the known models corrected the estimates (docs/estimation.md, step 5), and the weight option asked for."""
    used = result.overall.correction or "none (the plain IRT estimate: no known models' labels)"
    return f"Correction by the known models: {used} (--replay-weight {result.settings.get('replay_weight', '?')})"


def _show(result: Any) -> None:
    console.print(estimates_table(result))
    console.print(routing_table(result))
    console.print(priors_line(result), highlight=False, markup=False)
    console.print(correction_line(result), highlight=False, markup=False)


def _parse_answer(text: str) -> float | None:
    text = text.strip().lower()
    if text in _YES:
        return 1.0
    if text in _NO:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 <= value <= 1 else None


class InputEnded(Exception):
    """The terminal's input ended (EOF, or Ctrl-C when `interrupted`) mid-round, after `typed` answers of it."""

    def __init__(self, typed: int, interrupted: bool = False) -> None:
        super().__init__(f"input ended after {typed} answers of the round")
        self.typed, self.interrupted = typed, interrupted


def _prompt(text: str, typed: int) -> str:
    typer.echo(f"{text}: ", nl=False)
    try:
        return input()
    except EOFError:
        raise InputEnded(typed) from None
    except KeyboardInterrupt:
        raise InputEnded(typed, interrupted=True) from None


def ask_terminal(items: Sequence[Any]) -> list[float]:
    """Ask for each item's outcome on the terminal (y/n/1/0 or a fraction), asking again on anything else;
    InputEnded on EOF or Ctrl-C."""
    out: list[float] = []
    try:
        for i, item in enumerate(items, 1):
            console.print(f"[bold][{i}/{len(items)}] {escape(item.id)}[/] ({escape(item.benchmark)})",
                          highlight=False)
            console.print((item.text or "(no text in the table)")[:800], markup=False, highlight=False)
            while (value := _parse_answer(_prompt("correct? (y/n/1/0)", len(out)))) is None:
                console.print("answer y, n, 1, 0 or a fraction in [0, 1]")
            out.append(value)
    except KeyboardInterrupt:  # Ctrl-C while an item is shown, not at the prompt: as at the prompt
        raise InputEnded(len(out), interrupted=True) from None
    return out


def _rounds(api: Any, run: Path, answers: Path | None, rounds: int, per_round: int, options: dict[str, Any],
            json_out: Path | None) -> Any:
    """Ask in rounds, showing each round's estimate; the last one. Where the input ends mid-round, the last
    complete round's estimate is kept (written to --json where asked), said so, and the command exits with code
    2 (EOF: the input ended before the rounds asked) or 130 (Ctrl-C, at a prompt or while a round's estimate is
    computed or shown: the round's answers were all typed, but its estimate is not complete)."""
    result, done, typed = None, 0, [0]

    def ask(items: Sequence[Any]) -> list[float]:
        typed[0] = 0
        got = ask_terminal(items)
        typed[0] = len(got)  # typed in full: what a Ctrl-C while its estimate is computed discards
        return got

    try:
        for result in api.estimate_rounds(run, ask, rounds, per_round, answers_file=answers, **options):
            done, typed[0] = result.settings.get("round", done + 1), 0
            console.rule(f"after round {done}" if done else "from the answers given", align="left")
            _show(result)
            if result.settings.get("note"):
                console.print(f"Note: {result.settings['note']}", highlight=False, markup=False)
    except (InputEnded, KeyboardInterrupt) as caught:
        end = caught if isinstance(caught, InputEnded) else InputEnded(typed[0], interrupted=True)
        kept = (f"wrote {json_out} with the estimate after round {done}" if json_out and result is not None
                else f"kept the estimate after round {done} (printed above)" if result is not None
                else "no round was complete, so there is no estimate" + (f"; {json_out} not written" if json_out
                                                                         else ""))
        if json_out and result is not None:
            write_json(json_out, result.to_dict())
        err_console.print(f"{'interrupted' if end.interrupted else 'input ended'} after round {done} of {rounds}: "
                          f"{end.typed} answer(s) typed in round {done + 1} discarded (not part of any estimate); "
                          f"{kept}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(code=130 if end.interrupted else 2) from None
    return result


def _write_plan(items: Sequence[Any], out: Path | None) -> None:
    table = _table(f"{len(items)} items to run, in order", ["#", "id", "benchmark", "text"])
    for i, item in enumerate(items, 1):
        _add_row(table, str(i), item.id, item.benchmark, (item.text or "")[:60])
    console.print(table)
    if out:
        write_text(out, "".join(dumps_json(item.to_dict(), ensure_ascii=False) + "\n" for item in items))
        console.print(f"wrote {out}: run your model on these items, add a 'correct' field (0/1) to each line and "
                      f"pass it back with --answers", highlight=False, markup=False)


@friendly_errors
def estimate(
    run: Annotated[Path, PathArg(help="run directory (or an IrtNet checkpoint with --pool)")],
    answers: Annotated[Optional[Path], PathOpt(help="the new model's answers (one model per file): .csv/.jsonl/"
                                                    ".json with 'query' (an id of the run's table) or 'text' and "
                                                    "'benchmark', and 'correct' (or 'label' or 'score': one of "
                                                    "them); any other field is an error")] = None,
    plan_n: Annotated[Optional[int], Opt("--plan", help="choose N items for the new model to run", callback=positive)
                      ] = None,
    interactive: Annotated[bool, Opt("--interactive", help="ask for answers in rounds on the terminal")] = False,
    level: Annotated[Optional[float], Opt(help="interval level (default 0.9)")] = None,
    target_width: Annotated[Optional[float], Opt(help="also say how many more answers each benchmark's interval, "
                                                      "and the overall one, needs to be at most this wide")] = None,
    strategy: Annotated[Optional[str], Opt(help="--plan: adaptive (default), balanced or anchor")] = None,
    out: Annotated[Optional[Path], OutOpt("--out", "-o", help="--plan: write the items here (JSONL)")] = None,
    rounds: Annotated[Optional[int], Opt(help="--interactive: rounds (default 5)", callback=positive)] = None,
    per_round: Annotated[Optional[int], Opt(help="--interactive: items per round (default 10)", callback=positive)
                         ] = None,
    pool: Annotated[Optional[Path], PathOpt(help="items to estimate over (text and benchmark per item) for a "
                                                 "checkpoint without its run")] = None,
    seed: Annotated[int, Opt(help="seed of the interval draws, of the split of the known models that chooses the "
                                  "items' prior, and of the balanced and anchor plans' picks (the adaptive plan "
                                  "picks deterministically)", min=0, max=MAX_SEED)] = 0,
    replay_folds: Annotated[Optional[int], Opt(help="replay the run's models for the intervals on networks trained "
                                                    "without them, one per fold of its models (0, the "
                                                    "default: on the checkpoint; K trainings)")] = None,
    prior_strength: Annotated[Optional[str], Opt(help="strength of the new model's ability prior (its precision's "
                                                      "scale; 1, the default: the known models' spread), or 'auto': "
                                                      "chosen on the known models at this number of answers, scored "
                                                      "on the run's validation queries (not read by --strategy "
                                                      "anchor)")] = None,
    replay_weight: Annotated[Optional[str], Opt(help="the correction by the answered items' residuals: one weight "
                                                     "per benchmark ('per-benchmark'), one fitted on every "
                                                     "benchmark's replayed known models ('pooled': steadier with few "
                                                     "known models), or, by default, the pooled one unless "
                                                     "per-benchmark weights predict the known models clearly better, "
                                                     "each left out in turn ('auto')")] = None,
    json_out: Annotated[Optional[Path], OutOpt("--json", help="write the (last) estimate here")] = None,
) -> None:
    """A new model's accuracy on every benchmark of RUN from its answers on a few items, with predictive
    intervals and where a router would now send queries; or which items to run first (--plan N)."""
    from irtnet.api import estimate as api

    strength = prior_strength_value("1" if prior_strength is None else prior_strength)
    _check_modes(plan_n, answers, interactive, {"--strategy": strategy, "--out": out},
                 {"--rounds": rounds, "--per-round": per_round},
                 {"--level": level, "--target-width": target_width, "--replay-folds": replay_folds,
                  "--replay-weight": replay_weight, "--json": json_out})
    if plan_n is not None and strategy == "anchor" and prior_strength is not None:
        raise ConfigError("--prior-strength: the anchor plan picks items from the known models' answers alone and "
                          "does not read the ability prior; leave out --prior-strength, or plan with --strategy "
                          "adaptive or balanced")
    if pool is not None and (replay_weight is not None or replay_folds is not None):
        raise ConfigError(f"{'--replay-weight' if replay_weight is not None else '--replay-folds'}: with --pool there "
                          "are no known models' labels, so no correction runs; leave it out, or give the run "
                          "directory instead of a checkpoint and a pool file")
    check_output_path(out if plan_n is not None else json_out)  # before the work, not after printing it
    if plan_n is not None:
        _write_plan(api.plan(run, plan_n, strategy or "adaptive", seed, pool, strength), out)
        return
    options = dict(level=0.9 if level is None else level, target_width=target_width, pool=pool,
                   prior_strength=strength, seed=seed, replay_folds=replay_folds or 0,
                   replay_weight=replay_weight or "auto")
    if interactive:
        result = _rounds(api, run, answers, rounds or 5, per_round or 10, options, json_out)
    else:
        result = api.estimate_model(run, answers, **options)
        _show(result)
    if json_out and result is not None:
        write_json(json_out, result.to_dict())
        console.print(f"wrote {json_out}", highlight=False, markup=False)


def _check_modes(plan_n: int | None, answers: Path | None, interactive: bool, plan_only: dict[str, Any],
                 interactive_only: dict[str, Any], estimate_only: dict[str, Any]) -> None:
    """One mode, and only its options: an option of another mode is an error naming it, never ignored."""
    if plan_n is not None:
        if answers or interactive:
            raise ConfigError("--plan chooses items to run; give it without --answers and --interactive")
        refuse_unused(estimate_only, "{given} {is_} read only when estimating (--answers or --interactive), and "
                      "--plan chooses items to run: leave out {given} (-o writes the plan)")
    elif not (answers or interactive):
        raise ConfigError("give --answers FILE, --plan N or --interactive")
    else:
        refuse_unused(plan_only, "{given} {is_} read only with --plan N (choosing items to run): give --plan, or "
                      "leave out {given}")
    if not interactive:
        refuse_unused(interactive_only, "{given} {is_} read only with --interactive: give it, or leave out {given}")
