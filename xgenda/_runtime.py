"""Per-process runtime policy: device choice and torch threads.

Torch is imported inside the functions: :mod:`xgenda._commands` and the package front
use this module without importing torch.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["resolve_device", "set_torch_threads"]


def resolve_device(device: str | Any = "auto") -> torch.device:
    """The torch device to run on.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"`` or ``"mps"``.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        For an unknown device string or a device that this machine does not have.
    """
    import torch

    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be a string or torch.device, got {type(device).__name__}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' "
                         "or 'mps'") from err
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available on this "
                             "machine (torch.cuda.is_available() is False); use device='cpu' "
                             "or 'auto'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
        return dev
    if dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError("device 'mps' requested but Metal (MPS) is not available; "
                             "use device='cpu' or 'auto'")
        return dev
    raise ValueError(f"device {device!r} is not supported; use 'auto', 'cpu', 'cuda', "
                     "'cuda:N' or 'mps'")


def set_torch_threads(n: int | None = None) -> int:
    """Set torch's intra-op thread count and return it.

    Parameters
    ----------
    n : int, optional
        Threads to use; default ``XGENDA_TORCH_THREADS`` if set, else the number of
        CPUs this process may use. When dask runs several tasks in threads of one
        process, pass ``n`` (e.g. 1) to avoid oversubscription.
    """
    import torch

    if n is None:
        env = os.environ.get("XGENDA_TORCH_THREADS")
        if env:
            n = int(env)
        else:
            try:
                n = len(os.sched_getaffinity(0))
            except AttributeError:  # pragma: no cover - not on Linux
                n = os.cpu_count() or 1
    n = max(1, int(n))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
