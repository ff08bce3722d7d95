"""Batches of times x members sized to the free memory of a CUDA device.

When ``batch_size`` is None, a block on a CUDA device samples as many (time, member)
pairs at once as the device's free memory holds: the memory of one sample is measured
once per prior, shape, guidance and device (a probe: one guided network evaluation of
one sample, its peak allocation), and :func:`batch_size_for` turns the free memory into
a batch size (pure arithmetic, tested without a device). On a CPU nothing changes: one
batch per time with all its members (bitwise the same results for any chunking). On
CUDA a batch may hold several times, and how many depends on the free memory: results
then match other batchings to float32 rounding; ``batch_size=members`` keeps one time
per batch there too.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["FRACTION", "batch_size_for", "device_batch_size", "guided_probe", "sample_bytes"]

#: Share of the free device memory that a block's batches may fill: room for the
#: allocator's rounding and for the blocks that other threads run on the same device.
FRACTION = 0.8

_SAMPLE_BYTES: dict[Hashable, int] = {}
_LOCK = threading.Lock()


def batch_size_for(free_bytes: float, sample_bytes: float, times: int, members: int,
                   fraction: float = FRACTION) -> int:
    """The batch size (samples) that fits ``fraction`` of ``free_bytes``.

    The batches are as even as they can be for :func:`xgenda._engine.sample_batches`:
    when all ``times x members`` samples fit, one batch; when whole times fit, a multiple
    of ``members`` (the times spread evenly over the fewest batches); otherwise the
    members of a time split evenly over the fewest batches. At least 1.

    Parameters
    ----------
    free_bytes : float
        Free device memory (bytes).
    sample_bytes : float
        Memory of one sample (bytes), > 0.
    times, members : int
        Times of the block and members per time, >= 1.
    fraction : float
        Share of ``free_bytes`` to fill, in (0, 1].

    Returns
    -------
    int
        Samples per batch, in ``[1, times x members]``.
    """
    if not sample_bytes > 0:
        raise ValueError(f"the memory of one sample must be > 0 bytes, got {sample_bytes!r}")
    if times < 1 or members < 1:
        raise ValueError(f"times and members must be >= 1, got {times} and {members}")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction!r}")
    fits = int(max(free_bytes, 0.0) * fraction // sample_bytes)
    if fits >= times * members:
        return times * members
    if fits >= members:
        group = fits // members
        return math.ceil(times / math.ceil(times / group)) * members
    if fits < 1:
        return 1
    return math.ceil(members / math.ceil(members / fits))


def sample_bytes(key: Hashable, probe: Callable[[], float]) -> int:
    """The memory of one sample for ``key``, measured by ``probe()`` on first use only.

    Parameters
    ----------
    key : hashable
        What the memory depends on (prior, shape, guidance, device).
    probe : callable
        Returns the peak memory (bytes) of one sample; called once per ``key`` per
        process.
    """
    with _LOCK:
        if key not in _SAMPLE_BYTES:
            _SAMPLE_BYTES[key] = max(1, int(probe()))
        return _SAMPLE_BYTES[key]


def peak_bytes(device: Any, run: Callable[[], Any]) -> int:
    """Peak CUDA memory allocated by ``run()`` above what was allocated before (bytes)."""
    import torch

    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    run()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before


def free_bytes(device: Any) -> int:
    """Free memory of a CUDA device (bytes), with what torch's allocator holds unused."""
    import torch

    free, _total = torch.cuda.mem_get_info(device)
    return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))


def guided_probe(denoiser: Any, observed: Any, guidance: Any, shape: tuple[int, ...],
                 device: Any) -> Callable[[], None]:
    """One guided network evaluation of one sample of a block's first time.

    Parameters
    ----------
    denoiser : callable
        The block's (tiled) denoiser.
    observed : BlockObservations
        The block's observations (:func:`xgenda._engine.block_observations`).
    guidance : Guidance
        The guidance configuration.
    shape : tuple of int
        ``(channels, height, width)`` of a sample on the canvas.
    device : torch.device
    """

    def run() -> None:
        import torch

        from xgenda.config import Euler
        from xgenda.diffusion.guidance import guided_denoiser
        from xgenda.diffusion.samplers import run_sampler

        op = observed.operator([0], [0])
        guided = guided_denoiser(denoiser, op, op.y, op.error, guidance.method,
                                 **guidance.params())
        noise = torch.zeros((1, *shape), device=device)
        run_sampler(Euler(steps=1), guided, noise, grad=guidance.method != "none")

    return run


def device_batch_size(device: Any, key: Hashable, probe: Callable[[], None], times: int,
                      members: int) -> int | None:
    """The batch size of a block on ``device``: None (one time's members) off CUDA.

    Parameters
    ----------
    device : torch.device
    key : hashable
        What the memory of a sample depends on; ``device`` is added to it.
    probe : callable
        Runs one sample's worth of work (:func:`guided_probe`).
    times, members : int
        Times of the block and members per time.
    """
    if getattr(device, "type", str(device)) != "cuda":
        return None
    one = sample_bytes((key, str(device)), lambda: peak_bytes(device, probe))
    return batch_size_for(free_bytes(device), one, times, members)
