"""Per-process runtime policy: device choice, torch threads, and a cache of loaded priors.

Dask tasks refer to a prior by its path (or pass the :class:`~xgenda.prior.Prior`
object, which is then shared by the threads of one process); :func:`cached_prior`
loads it once per worker process so that weights never travel in the task graph.
Torch is imported inside the functions.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from xgenda.prior import Prior

__all__ = ["cached_prior", "clear_prior_cache", "resolve_device", "set_torch_threads"]

_CACHE: dict[tuple[str, float], Any] = {}
_LOCK = threading.Lock()


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


def cached_prior(path_or_prior: str | os.PathLike[str] | Prior) -> Prior:
    """A :class:`~xgenda.prior.Prior`, loaded at most once per process for a given path.

    Parameters
    ----------
    path_or_prior : path or Prior
        A saved prior directory (loaded and cached; reloaded if its files change),
        the string ``"demo"`` for the bundled demo prior, or a ``Prior`` (returned as is).
    """
    from xgenda.prior import Prior, demo_prior_path

    if isinstance(path_or_prior, Prior):
        return path_or_prior
    if str(path_or_prior) == "demo":
        path_or_prior = demo_prior_path()
    path = Path(path_or_prior).expanduser().resolve()
    config = path / "config.json"
    stamp = config.stat().st_mtime if config.exists() else 0.0
    key = (str(path), stamp)
    with _LOCK:
        prior = _CACHE.get(key)
        if prior is None:
            prior = Prior.load(path)
            _CACHE[key] = prior
    return prior


def clear_prior_cache() -> None:
    """Forget every prior loaded by :func:`cached_prior` in this process."""
    with _LOCK:
        _CACHE.clear()
