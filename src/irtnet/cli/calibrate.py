"""`irtnet calibrate`: the policy parameter that hits a target share, cost or P on the user's own queries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from irtnet.cli.common import (check_output_path, friendly_errors, name_list, output_option as OutOpt,
                               path_argument as PathArg, path_option as PathOpt, plain_console as console)

if TYPE_CHECKING:
    from irtnet.api import CalibrationReport

Opt = typer.Option


@friendly_errors
def calibrate(
    checkpoint: Annotated[Path, PathArg(help="checkpoint or run directory")],
    texts: Annotated[Path, PathOpt(help="a sample of your queries: .txt (one per line, UTF-8), .jsonl, .json or .csv "
                                    "(any other file type is an error)")],
    target: Annotated[str, Opt(help="share:MODEL=0.3 (share of queries sent to MODEL), cost=0.002 (mean cost "
                                    "per query) or p=0.8 (mean P of the chosen models)")],
    policy: Annotated[str, Opt(help="the policy to calibrate: p_min, utility or cost_cap")] = "p_min",
    prices: Annotated[Optional[Path], PathOpt(help="price file (JSON/CSV) or table (default: the run's table)")] = None,
    benchmark: Annotated[Optional[str], Opt(help="benchmark of the texts the file names none for (a file's own "
                                                 "other name is an error)")] = None,
    candidates: Annotated[Optional[str], Opt(help="comma-separated models to route among (default: every "
                                                  "model; each needs a price for a cost policy)")] = None,
    output_tokens: Annotated[Optional[float], Opt(help="assumed output tokens per answer (token prices; default "
                                                       "256); refused with prices that have no output-token "
                                                       "price")] = None,
    json_out: Annotated[Optional[Path], OutOpt("--json", help="also write the result as JSON here")] = None,
) -> None:
    """Choose the policy parameter that hits TARGET on a sample of your own queries (RouteLLM's threshold
    calibration, for any number of models), and print the `model` to ask /v1/chat/completions for. A target not
    reached prints the nearest setting (and writes it to --json, with "reached": false), then exits with code 1."""
    from irtnet import api
    from irtnet.api.inputs import read_texts, refuse_other_benchmark

    if output_tokens is not None:  # before any work: the same check the prices apply later
        from irtnet.api.routing_policies import check_output_tokens

        check_output_tokens(output_tokens)
    check_output_path(json_out, {"--texts": texts, "--prices": prices})  # before the work, not after printing it
    from irtnet.api.routing_policies import calibration_goal

    calibration_goal(policy, target, benchmark)  # the options before the texts file is read
    sample, benches = read_texts(texts)
    refuse_other_benchmark(texts, benches, benchmark)  # it names the texts the file leaves unnamed, never overrides
    per_text = benchmark if benchmark is not None else (benches if any(b is not None for b in benches) else None)
    report = api.calibrate_texts(checkpoint, sample, policy, target, prices, per_text, name_list(candidates),
                                 output_tokens, source=None if benchmark is not None else texts)
    _print(report)
    if json_out is not None:
        from irtnet._io import write_json

        write_json(json_out, report.to_dict())
        console.print(f"wrote {json_out}")
    if not report.calibration.reached:  # so that `irtnet calibrate ... && deploy` deploys no missed target
        raise typer.Exit(code=1)


def _print(report: CalibrationReport) -> None:
    cal, out = report.calibration, report.calibration.outcome
    verdict = "reached" if cal.reached else "NOT reached (the nearest setting is shown)"
    goal = f"share:{cal.target.model}={cal.target.value:g}" if cal.target.kind == "share" \
        else f"{cal.target.kind}={cal.target.value:g}"
    models = f"{len(report.models)} model{'' if len(report.models) == 1 else 's'}"
    console.print(f"policy {cal.policy.spec} on {report.n_texts} texts, {models} "
                  f"(prices: {report.price_source}): target {goal} {verdict}", soft_wrap=True)
    console.print(f"achieved: mean P {out.mean_p:.4f}, mean cost {out.mean_cost:.6g} per query, "
                  f"fallback {out.fallback:.1%}")
    shares = ", ".join(f"{m} {s:.1%}" for m, s in sorted(out.shares.items(), key=lambda kv: -kv[1]) if s > 0)
    console.print(f"shares: {shares}")
    value = cal.policy.spec.partition("=")[2]  # as the model name writes it: the very value calibrated
    hint = f' (RouteLLM style: "router-irtnet-{value}")' if cal.policy.kind == "p_min" else ""
    console.print(f'use with /v1/chat/completions: model="{report.model}"{hint}', highlight=False, soft_wrap=True)
