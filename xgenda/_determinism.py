"""Results that do not depend on where a block runs.

The float32 arithmetic of torch on the CPU depends on its intra-op thread count:
oneDNN convolutions and BLAS matrix products split their reductions among the
threads, so a sum is accumulated in another order on 1, 2 or 16 threads. A
user's process (torch's default: one thread per core), the threaded dask
scheduler and ``dask.distributed`` workers (often one thread each) would then
give results that differ in the last bits, and a diverging sampler amplifies
those differences.

:func:`fixed_threads` fixes the count at its cause: while a block computes,
torch runs its intra-op work on :data:`BLOCK_THREADS` threads, whatever the
process was set to, and the caller's setting is restored afterwards.
Parallelism comes from dask (one block per worker thread or process). Flushing
of denormal numbers to zero, a per-thread CPU setting, is turned off (the IEEE
behaviour every fresh process has) for the same reason.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["BLOCK_THREADS", "deterministic", "fixed_threads"]

F = TypeVar("F", bound=Callable[..., Any])

#: Intra-op threads of torch while a block computes; one is the only count that every
#: process and every worker can give, and the work is spread over blocks by dask.
BLOCK_THREADS = 1

_LOCK = threading.Lock()
_active = 0
_saved: int | None = None


@contextmanager
def fixed_threads(threads: int = BLOCK_THREADS) -> Iterator[None]:
    """Run the body with torch on ``threads`` intra-op threads, then restore the setting.

    Re-entrant and safe with concurrent blocks in threads of one process: the first
    block to enter records the process's setting, the last to leave restores it.
    Denormal flushing is turned off (the IEEE default that every fresh process has).
    """
    import torch

    global _active, _saved
    with _LOCK:
        if _active == 0:
            _saved = torch.get_num_threads()
        _active += 1
    # torch keeps the OpenMP thread count per thread: set it in the thread that computes
    torch.set_num_threads(threads)
    torch.set_flush_denormal(False)
    try:
        yield
    finally:
        with _LOCK:
            _active -= 1
            if _active == 0 and _saved is not None:
                torch.set_num_threads(_saved)
                _saved = None


def deterministic(func: F) -> F:
    """Decorate a function that computes a block so that it runs in :func:`fixed_threads`."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with fixed_threads():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
