"""Streaming a lazy ensemble to zarr, block by block, and resuming interrupted runs.

A run can be killed at any moment (power cut, SIGKILL, a job's wall-time limit) and
resumed by calling :func:`resume_to_zarr` again with the same lazy ensemble:

- the store's metadata and coordinates are written into a hidden directory next to
  a local store and moved into place in one rename, so a store either exists whole
  (with empty data) or not at all;
- a time counts as done only when every variable's chunk holding it can be read and
  holds values; a missing, torn or truncated chunk (undecodable, or of the wrong
  size) makes its times missing, and they are recomputed and rewritten.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from xgenda._files import hidden_sibling

__all__ = ["missing_times", "resume_to_zarr"]


def missing_times(ens: xr.Dataset, store: Any) -> np.ndarray:
    """Indices of the times of ``ens`` not yet (fully) written to the zarr ``store``.

    A time counts as written when the zarr chunk of every variable that holds it can
    be read and decoded and has a value at some ocean pixel of member 0 (a block is
    written as whole chunks holding all members). A chunk that is missing, torn or
    truncated (its decompression or decoding fails) makes its times missing.
    Raises if the store holds another run (other prior, method, seed, members or
    coordinates).
    """
    stored = xr.open_zarr(store, chunks=None)
    for key in ("prior_id", "method", "method_params", "seed", "members", "steps", "sampler",
                "qc_threshold"):
        if key == "qc_threshold" and key not in stored.attrs:
            continue  # a store written before quality control was recorded
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
        done &= _readable_times(stored[var])
        done &= ~_torn_blosc_times(store, str(var), stored[var])
    return np.flatnonzero(~done)


def _torn_blosc_times(store: Any, var: str, stored: xr.DataArray) -> np.ndarray:
    """(time,) bool: a local blosc chunk of the time is shorter or longer than its header says.

    A truncated blosc buffer can decode without an error (into garbage), so the size
    recorded in its 16-byte header is compared with the file's.
    """
    torn = np.zeros(stored.sizes["time"], dtype=bool)
    folder = Path(store) / var if isinstance(store, (str, os.PathLike)) else None
    if folder is None or not (folder / ".zarray").is_file():
        return torn
    meta = json.loads((folder / ".zarray").read_text())
    if (meta.get("compressor") or {}).get("id") != "blosc":
        return torn
    axis = stored.dims.index("time")
    step = int(meta["chunks"][axis])
    sep = meta.get("dimension_separator", ".")
    for chunk in folder.rglob("*"):
        if not chunk.is_file() or chunk.name.startswith("."):
            continue
        key = chunk.relative_to(folder).as_posix().replace("/", sep).split(sep)
        if len(key) != len(stored.dims) or not all(k.isdigit() for k in key):
            continue
        data = chunk.read_bytes()
        if len(data) < 16 or int.from_bytes(data[12:16], "little") != len(data):
            start = int(key[axis]) * step
            torn[start:start + step] = True
    return torn


def _readable_times(stored: xr.DataArray) -> np.ndarray:
    """(time,) bool: the chunk holding the time decodes and member 0 has a value there."""
    size = stored.sizes["time"]
    chunks = stored.encoding.get("chunks") or stored.encoding.get("preferred_chunks")
    step = int(chunks[stored.dims.index("time")]) if isinstance(chunks, tuple) else 1
    done = np.zeros(size, dtype=bool)
    for start in range(0, size, max(step, 1)):
        sl = slice(start, min(start + step, size))
        try:
            # all members: a chunk holds them all, and decoding it whole finds a torn one
            values = np.asarray(stored.isel(time=sl).transpose("time", ...).values)
        except Exception:  # a torn chunk fails in its codec (blosc, zstd, ...) or size check
            continue
        member0 = values[:, 0] if "member" in stored.dims else values
        done[sl] = np.isfinite(member0).reshape(member0.shape[0], -1).any(axis=1)
    return done


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
        _create(ens, store, to_zarr_kwargs)
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


def _create(ens: xr.Dataset, store: Any, to_zarr_kwargs: dict[str, Any]) -> None:
    """Write the store's metadata and coordinates; a local store appears in one rename."""
    # zarr format 2 with consolidated metadata: readable by every zarr client
    create = {"zarr_format": 2, "consolidated": True, **to_zarr_kwargs}
    if not isinstance(store, (str, os.PathLike)) or "://" in str(store):
        ens.to_zarr(store, mode="w-", compute=False, **create)
        return
    path = Path(store)
    if path.exists() and not (path.is_dir() and not any(path.iterdir())):
        raise FileExistsError(
            f"{str(path)!r} exists but is not a readable zarr store of an ensemble (for "
            "example a store whose creation was interrupted); delete it and run again")
    tmp = hidden_sibling(path)
    try:
        ens.to_zarr(str(tmp), mode="w-", compute=False, **create)
        if path.exists():
            path.rmdir()
        os.rename(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
