"""Writing nature runs and observations to zarr safely, and the demo OSSE on disk.

Stores are written to a hidden temporary path next to the target and renamed
into place only once complete, so an interrupted or failed write never leaves a
half-written store that a later run would mistake for a finished one.
Stores use the zarr v2 format with consolidated metadata: every zarr reader
opens them without warnings.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import xarray as xr
from tqdm.auto import tqdm

from xgenda._files import hidden_sibling, swap_in
from xgenda._version import __version__
from xgenda.osse.observe import observe

__all__ = ["demo_observations", "demo_truth", "open_observations", "open_truth", "simulate",
           "write_zarr"]

TIME_CHUNK = 32
"""Chunk length along time of gridded fields in the stores (days)."""


def write_zarr(obj: xr.Dataset | xr.DataTree, path: str | os.PathLike[str], *,
               overwrite: bool = False) -> Path:
    """Write a Dataset or DataTree to a zarr store atomically (temporary path, then rename).

    Parameters
    ----------
    obj : Dataset or DataTree
        What to write; gridded variables are chunked by :data:`TIME_CHUNK` time steps.
    path : path-like
        Target store (a directory).
    overwrite : bool
        Replace an existing store; otherwise an existing store is an error.

    Returns
    -------
    Path
        The written store.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True (--overwrite) to "
                              "replace it or choose another path")
    tmp = _write_temporary(obj, path)
    try:
        _replace(tmp, path, overwrite)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _write_temporary(obj: xr.Dataset | xr.DataTree, path: Path) -> Path:
    """Write ``obj`` to a hidden sibling of ``path``; nothing is left behind on error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = hidden_sibling(path)
    try:
        if isinstance(obj, xr.DataTree):
            _chunked_tree(obj).to_zarr(tmp, mode="w", zarr_format=2, consolidated=True)
        else:
            _chunked(obj).to_zarr(tmp, mode="w", zarr_format=2, consolidated=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _replace(tmp: Path, path: Path, overwrite: bool) -> None:
    if overwrite and path.exists():
        swap_in(tmp, path)
        return
    try:
        os.rename(tmp, path)
    except OSError:
        # Another process finished the same store first: keep theirs.
        if not path.exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def _chunked(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    for var in ds.variables.values():
        var.encoding.pop("chunks", None)
        var.encoding.pop("preferred_chunks", None)
    if "time" in ds.dims and {"lat", "lon"} <= set(ds.dims):
        return ds.chunk({"time": TIME_CHUNK, "lat": -1, "lon": -1})
    return ds


def _chunked_tree(tree: xr.DataTree) -> xr.DataTree:
    return tree.map_over_datasets(_chunked)


def _key(parameters: Mapping[str, Any]) -> str:
    text = json.dumps({"version": __version__, **parameters}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _resolved(toy_ocean_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``toy_ocean_kwargs`` with the physical parameters resolved to every field's value,
    so that a cached run is not reused once a default of :class:`ToyOceanParameters`
    changes (the toy ocean's small-scale damping did)."""
    from xgenda.datasets.toy_ocean import ToyOceanParameters, _parameters

    names = {f.name for f in fields(ToyOceanParameters)}
    values = {k: v for k, v in toy_ocean_kwargs.items() if k in names}
    other = {k: v for k, v in toy_ocean_kwargs.items() if k not in names and k != "parameters"}
    # resolved as toy_ocean resolves them
    return {**other, "ocean": asdict(_parameters(toy_ocean_kwargs.get("parameters"), values))}


def demo_truth(days: int, size: int, seed: int, *, cache_dir: str | os.PathLike[str],
               progress: bool = False, **toy_ocean_kwargs: Any) -> Path:
    """Path of the toy-ocean nature run store in ``cache_dir``, computed on first use.

    Parameters
    ----------
    days, size, seed : int
        Arguments of :func:`xgenda.datasets.toy_ocean`.
    cache_dir : path-like
        Directory of the cached stores.
    **toy_ocean_kwargs
        Further arguments of :func:`xgenda.datasets.toy_ocean`.
    """
    _check_run(days, size, seed)
    params = {"days": days, "size": size, "seed": seed, **_resolved(toy_ocean_kwargs)}
    path = Path(cache_dir) / f"toy_ocean_{days}d_{size}px_seed{seed}_{_key(params)}.zarr"
    if not path.exists():
        from xgenda.datasets import toy_ocean

        truth = toy_ocean(days, size=size, seed=seed, **toy_ocean_kwargs)
        write_zarr(truth, path)
    return path


def demo_observations(days: int, size: int, seed: int, *, cache_dir: str | os.PathLike[str],
                      obs_seed: int | None = None,
                      toy_ocean_kwargs: Mapping[str, Any] | None = None,
                      **observe_kwargs: Any) -> Path:
    """Path of the OSSE observations of a cached nature run, computed on first use.

    Parameters
    ----------
    days, size, seed : int
        The nature run (see :func:`demo_truth`).
    cache_dir : path-like
        Directory of the cached stores.
    obs_seed : int, optional
        Seed of the observations (default: ``seed``).
    toy_ocean_kwargs : mapping, optional
        Further arguments of :func:`xgenda.datasets.toy_ocean`.
    **observe_kwargs
        Arguments of :func:`xgenda.osse.observe`.
    """
    obs_seed = seed if obs_seed is None else obs_seed
    truth_path = demo_truth(days, size, seed, cache_dir=cache_dir, **dict(toy_ocean_kwargs or {}))
    params = {"truth": truth_path.name, "obs_seed": obs_seed, **observe_kwargs}
    path = truth_path.with_name(f"{truth_path.stem}_obs_seed{obs_seed}_{_key(params)}.zarr")
    if not path.exists():
        truth = open_truth(truth_path).load()
        write_zarr(observe(truth, seed=obs_seed, **observe_kwargs), path)
    return path


def open_truth(path: str | os.PathLike[str]) -> xr.Dataset:
    """Open a nature run store lazily (dask, chunked by :data:`TIME_CHUNK` days)."""
    return xr.open_zarr(path, consolidated=True)


def open_observations(path: str | os.PathLike[str]) -> xr.DataTree:
    """Open an observation DataTree store (values load on access)."""
    return xr.open_datatree(path, engine="zarr", consolidated=True)


def simulate(
    out: str | os.PathLike[str],
    days: int,
    size: int = 64,
    seed: int = 0,
    *,
    obs_seed: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
    toy_ocean_kwargs: Mapping[str, Any] | None = None,
    **observe_kwargs: Any,
) -> tuple[Path, Path]:
    """Run the toy ocean and its observation simulator; write ``truth.zarr`` and ``observations.zarr``.

    Parameters
    ----------
    out : path-like
        Output directory (created).
    days, size, seed : int
        Length (days), grid size and seed of the nature run.
    obs_seed : int, optional
        Seed of the observations (default: ``seed``).
    overwrite : bool
        Replace existing stores.
    progress : bool
        Show progress bars.
    toy_ocean_kwargs : mapping, optional
        Further arguments of :func:`xgenda.datasets.toy_ocean`.
    **observe_kwargs
        Arguments of :func:`xgenda.osse.observe`.

    Returns
    -------
    (Path, Path)
        The truth and observation stores.
    """
    from xgenda.datasets import toy_ocean  # looked up at each call: it can be stood in for

    _check_run(days, size, seed)
    out = Path(out)
    truth_path, obs_path = out / "truth.zarr", out / "observations.zarr"
    if not overwrite:
        for p in (truth_path, obs_path):
            if p.exists():
                raise FileExistsError(f"{p} already exists; pass --overwrite to replace it")

    stages = tqdm(total=4, desc="simulate", unit="stage", disable=not progress)
    with stages:
        stages.set_postfix_str("nature run")
        truth = _run_toy_ocean(toy_ocean, days, size, seed, progress,
                               dict(toy_ocean_kwargs or {}))
        stages.update()
        stages.set_postfix_str("observations")
        obs = observe(truth, seed=seed if obs_seed is None else obs_seed, **observe_kwargs)
        stages.update()
        # Both stores are complete before either is moved into place.
        temporaries: list[Path] = []
        try:
            stages.set_postfix_str("writing truth")
            temporaries.append(_write_temporary(truth, truth_path))
            stages.update()
            stages.set_postfix_str("writing observations")
            temporaries.append(_write_temporary(obs, obs_path))
            for tmp, path in zip(temporaries, (truth_path, obs_path), strict=True):
                _replace(tmp, path, overwrite)
            stages.update()
        finally:
            for tmp in temporaries:
                shutil.rmtree(tmp, ignore_errors=True)
    return truth_path, obs_path


def _run_toy_ocean(toy_ocean: Any, days: int, size: int, seed: int, progress: bool,
                   kwargs: dict[str, Any]) -> xr.Dataset:
    # Show the nature run's own progress bar when it has one.
    if progress and "progress" in inspect.signature(toy_ocean).parameters:
        kwargs.setdefault("progress", True)
    return toy_ocean(days, size=size, seed=seed, **kwargs)


def _check_run(days: int, size: int, seed: int) -> None:
    for name, value, low in (("days", days, 1), ("size", size, 2), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
