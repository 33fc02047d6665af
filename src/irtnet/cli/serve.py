"""`irtnet serve`: the HTTP service over a checkpoint (docs/serving.md)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from irtnet.cli.common import (err_console, friendly_errors, output_option as OutOpt, path_argument as PathArg,
                               path_option as PathOpt, positive, refuse_overwriting, thread_count)
from irtnet.errors import ConfigError

Opt = typer.Option


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1); any other name or address is not."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None, insecure: bool) -> None:
    """Refuse an empty host (uvicorn listens on every interface for one), and to listen beyond this machine without
    a token, unless told to."""
    if not host.strip():
        raise ConfigError(f"--host is empty ({host!r}): give the interface to listen on, e.g. 127.0.0.1 (the "
                          "default), or 0.0.0.0 for every interface (with --token)")
    if not is_loopback(host) and not token and not insecure:
        raise ConfigError(f"refusing to listen on {host} without a token: anyone who reaches it could route and "
                          "spend your upstream keys. Set --token (or IRTNET_TOKEN), or pass --insecure")


@friendly_errors
def serve(
    checkpoint: Annotated[Path, PathArg(help="checkpoint or run directory")],
    host: Annotated[str, Opt(help="interface to listen on (beyond loopback: needs --token or --insecure)")]
    = "127.0.0.1",
    port: Annotated[int, Opt(min=1, max=65535, help="port (1-65535)")] = 8000,
    prices: Annotated[Optional[Path], PathOpt(help="price file (JSON/CSV per model) or table; default: the run's "
                                                   "table")]
    = None,
    upstreams: Annotated[Optional[Path], PathOpt(help="TOML/JSON: per model base_url and api_key_env")] = None,
    policy: Annotated[str, Opt(help="default policy of model 'irtnet': max_p, p_min=0.8, utility=0.5, cost_cap=0.01")]
    = "max_p",
    token: Annotated[Optional[str], Opt(envvar="IRTNET_TOKEN", show_envvar=True,
                                        help="bearer token every request must carry (prefer the env variable)")]
    = None,
    insecure: Annotated[bool, Opt("--insecure", help="allow a non-loopback host without a token")] = False,
    log: Annotated[Optional[Path], OutOpt(help="append-only JSONL log of decisions and feedback (without it, "
                                             "POST /v1/feedback answers 503)")] = None,
    log_text: Annotated[bool, Opt("--log-text", help="also log each routed query's text (default: its SHA-256)")]
    = False,
    max_body_bytes: Annotated[int, Opt(callback=positive, help="largest request body (413 beyond)")] = 1_000_000,
    max_texts: Annotated[int, Opt(callback=positive, help="most texts per request (413 beyond)")] = 256,
    max_text_chars: Annotated[int, Opt(callback=positive, help="longest text in characters (413 beyond)")] = 32_000,
    max_decisions: Annotated[int, Opt(callback=positive, help="decisions remembered for feedback")] = 100_000,
    output_tokens: Annotated[Optional[float], Opt(help="assumed output tokens per answer (token prices; default "
                                                       "256); refused with prices that have no output-token "
                                                       "price")] = None,
    threads: Annotated[int, Opt(callback=thread_count, help="torch threads of the server process (1 keeps "
                                                            "latency steady under concurrent requests on few "
                                                            "cores)")] = 1,
    device: Annotated[str, Opt(help="where IrtNet scores: cpu, cuda or auto")] = "cpu",
) -> None:
    """Serve a checkpoint: POST /v1/route, /v1/chat/completions (OpenAI-compatible), /v1/feedback, /predict,
    /route; GET /v1/models, /health; docs at /docs."""
    check_bind(host, token, insecure)
    refuse_overwriting(log, {"--prices": prices, "--upstreams": upstreams})  # appended to: never a run's own file
    if output_tokens is not None:  # before any work: the same check the prices apply later
        from irtnet.api.routing_policies import check_output_tokens

        check_output_tokens(output_tokens)
    import torch
    import uvicorn

    torch.set_num_threads(threads)

    from irtnet.serve.app import create_app
    from irtnet.serve.limits import Limits
    from irtnet.serve.service import ServeConfig

    config = ServeConfig(limits=Limits(max_body_bytes, max_texts, max_text_chars), token=token, policy=policy,
                         prices=prices, upstreams=upstreams, log=log, log_text=log_text,
                         max_decisions=max_decisions, output_tokens=output_tokens, device=device)
    app = create_app(checkpoint, config)
    if not is_loopback(host) and not token:
        err_console.print(f"[bold yellow]warning:[/] listening on {escape(host)} without a token (--insecure)")
    uvicorn.run(app, host=host, port=port)
