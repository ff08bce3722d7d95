"""Streaming a lazy ensemble to zarr, block by block, and resuming interrupted runs."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

__all__ = ["missing_times", "resume_to_zarr"]


def missing_times(ens: xr.Dataset, store: Any) -> np.ndarray:
    """Indices of the times of ``ens`` not yet (fully) written to the zarr ``store``.

    A time counts as written when every variable has a value at some ocean pixel of
    member 0 (a block is written as whole zarr chunks holding all members).
    Raises if the store holds another run (other prior, method, seed, members or
    coordinates).
    """
    stored = xr.open_zarr(store, chunks=None)
    for key in ("prior_id", "method", "method_params", "seed", "members", "steps", "sampler"):
        if str(stored.attrs.get(key)) != str(ens.attrs.get(key)):
            raise ValueError(
                f"the store {store!r} holds another run ({key}: {stored.attrs.get(key)!r}, "
                f"this run: {ens.attrs.get(key)!r}); write to a new store or delete it")
    for name in ("time", "lat", "lon", "member"):
        if stored.sizes.get(name) != ens.sizes[name] or \
                not np.array_equal(stored[name].values, ens[name].values):
            raise ValueError(f"the store {store!r} has other {name!r} coordinates than this "
                             "run; write to a new store")
    done = np.ones(ens.sizes["time"], dtype=bool)
    for var in ens.data_vars:
        if var not in stored:
            return np.arange(ens.sizes["time"])
        first = stored[var].isel(member=0)
        done &= np.asarray(first.notnull().any(("lat", "lon")).values)
    return np.flatnonzero(~done)


def resume_to_zarr(ens: xr.Dataset, store: Any, **to_zarr_kwargs: Any) -> np.ndarray:
    """Write ``ens`` to a zarr store block by block, computing only what is missing.

    The first call creates the store (metadata and coordinates) and writes every
    block; if it is interrupted, calling it again with the same lazy ensemble
    recomputes only the blocks of times not yet in the store (see
    :func:`missing_times`). The store's time chunks are the ensemble's blocks.

    Parameters
    ----------
    ens : Dataset
        Lazy result of :func:`assimilate`.
    store : str, path or zarr store
        Target.
    **to_zarr_kwargs
        Passed to :meth:`xarray.Dataset.to_zarr` (e.g. ``storage_options``); a new store
        is written in zarr format 2 with consolidated metadata unless these say otherwise.

    Returns
    -------
    ndarray of int
        Indices of the times computed by this call.
    """
    chunks = ens.chunks.get("time") if ens.chunks else None
    if chunks is None:
        raise ValueError("resume_to_zarr needs a dask-backed ensemble (from assimilate)")
    bounds = np.cumsum((0, *chunks))
    exists = _store_exists(store)
    if not exists:
        # zarr format 2 with consolidated metadata: readable by every zarr client
        create = {"zarr_format": 2, "consolidated": True, **to_zarr_kwargs}
        ens.to_zarr(store, mode="w-", compute=False, **create)
        todo = np.arange(ens.sizes["time"])
    else:
        todo = missing_times(ens, store)
    blocks = [k for k in range(len(chunks)) if np.any((todo >= bounds[k]) &
                                                      (todo < bounds[k + 1]))]
    region_vars = [n for n in ens.variables if "time" not in ens[n].dims]
    runs: list[list[int]] = []
    for k in blocks:
        if runs and runs[-1][-1] == k - 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    computed: list[int] = []
    for run in runs:
        sl = slice(int(bounds[run[0]]), int(bounds[run[-1] + 1]))
        part = ens.isel(time=sl).drop_vars(region_vars)
        part.to_zarr(store, region={"time": sl}, **to_zarr_kwargs)
        computed.extend(range(sl.start, sl.stop))
    return np.asarray(computed, dtype=np.int64)


def _store_exists(store: Any) -> bool:
    try:
        xr.open_zarr(store, chunks=None)
    except (FileNotFoundError, KeyError, ValueError, OSError):
        return False
    except Exception as err:  # zarr raises its own "nothing here" errors
        if type(err).__name__ in ("GroupNotFoundError", "PathNotFoundError",
                                  "NodeNotFoundError"):
            return False
        raise
    return True
