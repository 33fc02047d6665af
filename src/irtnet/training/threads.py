"""The one place that sets torch's intra-op thread count, for a block only.

Torch's thread count is process-wide: a command, a comparison or a training run that sets it must give
the previous value back when it ends, also when it ends with an exception, or everything that runs later
in the same process (a test session, a service, the next cell of a comparison) inherits it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from irtnet.config import MAX_THREADS
from irtnet.errors import ConfigError



@contextmanager
def torch_threads(n: int | None) -> Iterator[int]:
    """Run the block with `n` torch intra-op threads (None: leave the count as it is), then restore the
    count found on entry. Yields the count in effect inside the block."""
    if n is not None and (isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1):
        raise ConfigError(f"the number of threads must be a positive integer, got {n!r}")
    if n is not None and n > MAX_THREADS:
        raise ConfigError(f"the number of threads must be at most {MAX_THREADS}, got {n!r}")
    n = None if n is None else int(n)  # a numpy integer (from a grid of settings) is the count it holds
    previous = torch.get_num_threads()
    if n is not None and n != previous:
        torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
