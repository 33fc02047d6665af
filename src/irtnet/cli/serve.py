"""`irtnet serve`: the HTTP service over a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from irtnet.cli.common import friendly_errors


@friendly_errors
def serve(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint or run directory")],
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
) -> None:
    """Serve POST /predict and POST /route (JSON) for new query texts; docs at /docs."""
    import uvicorn

    from irtnet.serve.app import create_app

    uvicorn.run(create_app(checkpoint), host=host, port=port)
