"""Lazy, dask-scheduled assimilation: ``template.genda.assimilate(prior, obs, ...)``.

:func:`assimilate` checks everything it can up front (arguments, template, prior,
observations), routes the observations to blocks of analysis times, and returns
a Dataset whose variables are dask arrays: one task per block of times (the
template's time chunks) computes every member of every time of its block
(:func:`xgenda._engine.run_block`). Nothing runs until the result is computed or
written, e.g. with ``.to_zarr()`` (which streams block by block) or
:func:`resume_to_zarr` (which also resumes an interrupted run).

Running on a cluster needs no change: with ``dask.distributed`` (``LocalCluster``,
``dask_cuda.LocalCUDACluster`` for one worker per GPU, or ``dask_jobqueue`` on
HPC), create a ``Client`` and compute or write as usual. Each worker loads the
prior once; give the prior as a saved directory (or ``"demo"``) so that only its
path travels in the task graph::

    from dask_cuda import LocalCUDACluster      # or dask_jobqueue.SLURMCluster(...)
    from dask.distributed import Client
    client = Client(LocalCUDACluster())
    ens = template.chunk({"time": 4}).genda.assimilate("path/to/prior", obs, device="cuda")
    xgenda.resume_to_zarr(ens, "analysis.zarr")
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr

from xgenda import _engine
from xgenda._runtime import resolve_device
from xgenda._version import __version__
from xgenda.config import (
    QC_THRESHOLD,
    Acceleration,
    Configuration,
    Guidance,
    Inflation,
    Sampler,
    Window,
    configure,
)
from xgenda.currents import is_decomposed_state, recompose_currents
from xgenda.currents._inputs import at_times, on_grid
from xgenda.currents.state import without_ekman
from xgenda.grid import LAT_ATTRS, LON_ATTRS, TIME_ATTRS, check_grid, spacing_deg, time_blocks
from xgenda.guard import check_not_all_land, check_template_times, screen
from xgenda.obs import AnalysisGrid, apply_window, collect, route, subset_for_times
from xgenda.stream import missing_times, resume_to_zarr  # re-exported: older import path
from xgenda.variables import cf_attrs, unit_conversion

__all__ = ["assimilate", "missing_times", "resume_to_zarr"]


def assimilate(
    template: xr.Dataset | xr.DataArray,
    prior: Any,
    obs: Any = None,
    members: int = 24,
    *,
    sampler: Sampler | None = None,
    guidance: Guidance | Mapping[str, Any] | None = None,
    window: Window | None = None,
    inflation: Inflation | None = None,
    seed: int = 0,
    device: str = "auto",
    batch_size: int | None = None,
    time_chunk: int | None = None,
    tile_overlap: int | None = None,
    padding: str = "mask",
    ekman_model: Any = None,
    wind: xr.Dataset | None = None,
    qc: Any = QC_THRESHOLD,
    strict: bool = False,
    acceleration: Acceleration | None = None,
    **legacy: Any,
) -> xr.Dataset:
    """Posterior ensemble of the ocean state on the template's grid and times (lazy).

    Parameters
    ----------
    template : Dataset or DataArray
        Carries the target ``time`` (1-D), ``lat`` and ``lon`` (1-D, ascending) at
        the prior's grid spacing (e.g. ``xgenda.grid.regular(..., time=...)`` or an
        L4 product). Pixels where its data are NaN at the first time are land: never
        observed and NaN in the output. Its time chunks (if dask-backed) set the
        blocks of the computation.
    prior : Prior, path or "demo"
        The diffusion prior (:class:`xgenda.Prior`, a saved prior directory, or
        ``"demo"`` for the bundled one). Paths travel in the task graph as strings.
    obs : DataTree, Dataset, ObservationSet or list of them, optional
        Observations (:func:`xgenda.obs.collect`). None or empty gives an
        unconditional ensemble (with a warning). Their coordinates (time, lat, lon) are
        read here to route them to the blocks of times; their values are read by the
        tasks (each task carries only the observations of its block).
    members : int
        Ensemble size (>= 1).
    sampler : Heun, Euler, DPMSolver2M or GendaDDIM, optional
        The sampler and its settings (:mod:`xgenda.config`). Default: the prior's
        recommended one (:attr:`xgenda.Prior.recommended`; the bundled demo prior's is
        recorded in its config.json and model card), else ``Heun()`` (EDM Heun, 32
        steps on the Karras schedule).
    guidance : MMPS, SDA, DPS or NoGuidance, optional
        The guidance and its settings. Default: the prior's recommended one, else
        ``MMPS()``.
    window : Window, optional
        Observation time windows (per kind of observations), error growth and error
        inflation. Default: the prior's recommended one, else ``Window()`` (half a day,
        white errors).
    inflation : Inflation, optional
        Inflation of the members' anomalies about the ensemble mean, by scale (the mean
        is unchanged). Default: the prior's recommended one, else ``Inflation()`` (none).
        Each of ``sampler``, ``guidance``, ``window`` and ``inflation`` that the call
        leaves open (no object, no keyword of earlier versions, no ``preset``) comes
        from the prior's recommendation; the output's ``configuration`` attr records
        what ran. Named configurations: :mod:`xgenda.config.presets`, e.g.
        ``**presets.genda()``.
    seed : int
        Random seed; sample (time, member) draws from ``(seed, time, member)``.
    device : str
        ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    batch_size : int, optional
        Samples (time x member pairs) per network call inside a block. Default: all
        members of one time on a CPU; on a CUDA device, as many samples as 80 % of its
        free memory holds (measured once per prior, shape and guidance), which may batch
        several times together. Smaller values split the members of a time; values of at
        least ``members`` batch ``batch_size // members`` whole times together (faster
        on a GPU; results then match other chunkings to float32 rounding rather than
        bit for bit).
    time_chunk : int, optional
        Analysis times per block (default: the template's time chunks, else 1).
    tile_overlap : int, optional
        Overlap (pixels) of the tiles on a domain larger than the prior's patch
        (default a quarter of the patch).
    padding : {"mask", "reflect"}
        Edge treatment of the Gaussian blur of smoothed products.
    ekman_model : xgenda.currents.EkmanModel, optional
        For a prior of the decomposed state (residual currents ``u_res``, ``v_res``,
        e.g. GenDA's seven channels); default ``prior.ekman_model``. With it, the total
        currents ``u``, ``v`` of each member are recomposed lazily from its own SSH,
        its winds (or ``wind``) and its residual
        (:func:`xgenda.currents.recompose_currents`), and observations of the total
        current (drifters, HF radar) are assimilated: the Ekman current of the wind is
        removed from them and the rest is compared with ``u_geo(ssh) + u_res``.
    wind : Dataset, optional
        10 m winds ``uwind``, ``vwind`` (m s-1) at the analysis times, as a
        conditioning input. A prior with wind channels is conditioned on them exactly
        (every member's winds are these winds; NaN pixels are left free): more robust
        than observing dense winds with a small error, which can make guidance stiff.
        For a decomposed prior they also give the Ekman part of the currents (needed
        when its channels hold no winds). Default: the gridded wind observations among
        ``obs``.
    qc : float, xgenda.obs.qc.QualityControl or None
        Quality control (:mod:`xgenda.obs.qc`): observations whose innovation against
        the prior's climatology exceeds this many standard deviations
        (``sqrt(prior var + error var)``) are rejected and counted; ``None`` turns it
        off. Default 5. Quality control and the guard read the observation values
        when the graph is built.
    strict : bool
        Make the out-of-distribution guard (:mod:`xgenda.guard`: observations or
        template far from the prior's training statistics) an error instead of a
        warning.
    acceleration : xgenda.config.Acceleration, optional
        How the network runs (bf16 autocast, torch.compile, channels-last, CUDA graphs;
        all off by default: float32 eager). Guidance and preconditioning stay float32.
    **legacy
        Keywords of earlier versions (``method``, ``steps``, ``gamma``, ``preset``,
        ``solver``, ``churn``, ``corrector_steps``, ``tau``, ``time_window``,
        ``time_error_growth``), translated by :func:`xgenda.config.configure`.

    Returns
    -------
    Dataset
        One variable per prior variable, dims ``(member, time, lat, lon)``, physical
        units with CF attributes, dask-backed (one chunk per block of times); attrs
        record the provenance (xgenda version, prior id, the configuration's JSON in
        ``configuration``, seed, observation summary, creation time).

    Examples
    --------
    >>> from xgenda.config import MMPS, Heun
    >>> ens = template.genda.assimilate(prior, obs, members=16, sampler=Heun(steps=16),
    ...                                 guidance=MMPS())                # doctest: +SKIP
    >>> ens.to_zarr("analysis.zarr")                                   # doctest: +SKIP
    """
    configure(sampler, guidance, window, inflation, **legacy)  # bad settings fail first
    members = _positive_int(members, "members")
    batch_size = None if batch_size is None else _positive_int(batch_size, "batch_size")
    time_chunk = None if time_chunk is None else _positive_int(time_chunk, "time_chunk")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if padding not in ("mask", "reflect"):
        raise ValueError(f"padding must be 'mask' or 'reflect', got {padding!r}")
    if acceleration is not None and not isinstance(acceleration, Acceleration):
        raise TypeError(f"acceleration must be an xgenda.config.Acceleration, got "
                        f"{type(acceleration).__name__}")
    resolve_device(device)  # a device this machine does not have fails here, not in a task
    _check_template(template)
    check_template_times(template)
    prior_obj, ref = _resolve_prior(prior)
    config = configure(sampler, guidance, window, inflation,
                       recommended=_recommended(prior_obj), **legacy)
    _check_spacing(template, prior_obj)
    overlap = _tile_overlap(tile_overlap, prior_obj.patch_size)
    variables = tuple(prior_obj.variables)
    ekman_model = _ekman_model(ekman_model, prior_obj, variables)
    inputs = _inputs(template, obs, prior_obj, config.window, ekman_model, wind, qc, strict)
    spec = _engine.BlockSpec(
        prior=ref, times=np.asarray(template["time"].values), lat=inputs.grid.lat,
        lon=inputs.grid.lon, variables=variables, members=members, seed=int(seed),
        sampler=config.sampler, guidance=config.guidance, window=config.window,
        device=str(device), batch_size=batch_size, tile_overlap=overlap, padding=padding,
        known=() if inputs.known is None else ("uwind", "vwind"),
        acceleration=acceleration or Acceleration(),
        frames=_engine.trajectory_frames(getattr(prior_obj, "frames", 1), config.window),
        inflation=config.inflation)
    data = _graph(spec, inputs, check_not_all_land(_land_mask(template, prior_obj)),
                  time_blocks(template, time_chunk) or (1,) * template.sizes["time"])
    ens = _as_dataset(data, template, spec, config, inputs.summary, prior_obj)
    ens.attrs["acceleration"] = spec.acceleration.to_json()
    guard = dict(inputs.guard)
    ens.attrs.update(obs_rejected=int(sum(s["rejected"] for s in inputs.summary)),
                     qc_threshold=json.dumps(guard.pop("qc_threshold")),
                     distribution_check=json.dumps(guard))
    if ekman_model is not None:
        own = "uwind" in variables and "vwind" in variables
        ens = recompose_currents(ens, ekman_model, wind=None if own else _winds(
            wind, inputs.sets, "the recomposition of total currents"))
    return ens


@dataclass(frozen=True)
class _Inputs:
    """What the tasks get besides the settings: routed observations and known winds."""

    grid: AnalysisGrid
    sets: list[Any]
    routed: list[Any]
    summary: list[dict[str, Any]]
    known: xr.Dataset | None
    guard: dict[str, Any]


def _check_template(template: Any) -> None:
    if not isinstance(template, (xr.Dataset, xr.DataArray)):
        raise TypeError(f"template must be an xarray Dataset or DataArray, got "
                        f"{type(template).__name__}")
    check_grid(template, need_time=True, what="template")
    if template["time"].dims != ("time",) or template.sizes["time"] < 1:
        raise ValueError("template needs a 1-D 'time' coordinate along dim 'time' with at "
                         "least one time (e.g. template.expand_dims(time=[...]))")


def _tile_overlap(tile_overlap: int | None, patch: int) -> int:
    overlap = patch // 4 if tile_overlap is None else int(tile_overlap)
    if not 0 <= overlap < patch:
        raise ValueError(f"tile_overlap must be in [0, {patch}) for a {patch}-pixel prior, "
                         f"got {tile_overlap}")
    return overlap


def _ekman_model(ekman_model: Any, prior: Any, variables: tuple[str, ...]) -> Any:
    """The Ekman model of a prior of the decomposed state (None for other priors)."""
    if ekman_model is not None and not is_decomposed_state(variables):
        raise ValueError(
            f"ekman_model recomposes total currents from residual ones, but the prior "
            f"models {list(variables)} (no 'u_res'/'v_res'); leave ekman_model out")
    return ekman_model if ekman_model is not None else getattr(prior, "ekman_model", None)


def _inputs(template: xr.Dataset | xr.DataArray, obs: Any, prior: Any, window: Window,
            ekman_model: Any, wind: xr.Dataset | None, qc: Any, strict: bool) -> _Inputs:
    """Observations routed to the analysis times, total currents made residual, then
    screened (out-of-distribution guard and quality control)."""
    variables = tuple(prior.variables)
    lat = np.asarray(template["lat"].values, dtype=np.float64)
    lon = np.asarray(template["lon"].values, dtype=np.float64)
    grid = AnalysisGrid.from_coords(lat, lon, variables)
    decomposed = is_decomposed_state(variables)
    observable = variables + (("u", "v") if decomposed and "ssh" in variables
                              and ekman_model is not None else ())
    sets = apply_window(collect(obs, observable), window, prior.normalizer.std)
    times = np.asarray(template["time"].values)
    # a window prior also uses the observations of the days around each analysis time
    frames = _engine.trajectory_frames(getattr(prior, "frames", 1), window)
    routed, summary = route(sets, _engine.halo_times(times, frames), grid, window.half_width)
    known = None
    if wind is not None and {"uwind", "vwind"} <= set(variables):
        known = _known_winds(wind, template)
    if any(v in ("u", "v") and v not in variables for s in routed for v in s.variables):
        routed = without_ekman(routed, ekman_model, _winds(wind, sets, "total-current "
                                                                        "observations"))
    routed, summary, guard = screen(routed, summary, grid, times, prior, template, qc, strict)
    if sum(s["used"] for s in summary) == 0 and known is None:
        warnings.warn("no observations fall inside the template's domain and time windows: "
                      "the result is an unconditional ensemble of the prior", UserWarning,
                      stacklevel=3)
    return _Inputs(grid, sets, routed, summary, known, guard)


def _graph(spec: _engine.BlockSpec, inputs: _Inputs, land: Any,
           blocks: tuple[int, ...]) -> da.Array:
    """(C, member, time, lat, lon) dask array: one task per block of times."""
    known = inputs.known
    token = dask.base.tokenize(spec.prior.id, spec, [s.data for s in inputs.routed], land,
                               known)
    shape = (len(spec.variables), spec.members)
    pieces = []
    start = 0
    for k, size in enumerate(blocks):
        sl = slice(start, start + size)
        block_sets = subset_for_times(inputs.routed, _engine.halo_times(spec.times[sl],
                                                                        spec.frames),
                                      spec.window.half_width)
        task = dask.delayed(_engine.run_block, pure=False)(
            replace(spec, times=spec.times[sl]), block_sets, land,
            None if known is None else known.isel(time=sl),
            dask_key_name=f"assimilate-{token}-{k}")
        pieces.append(da.from_delayed(task, shape=(*shape, size, spec.lat.size, spec.lon.size),
                                      dtype=np.float32, meta=np.empty((0,) * 5, np.float32)))
        start += size
    return da.concatenate(pieces, axis=2)


def _known_winds(wind: xr.Dataset, template: xr.Dataset | xr.DataArray) -> xr.Dataset:
    """``wind`` (uwind, vwind in m s-1) on the template's grid and at its times."""
    wind = _winds(wind, (), "winds")
    out = {}
    for v in ("uwind", "vwind"):
        scale, offset = unit_conversion(str(wind[v].attrs.get("units", "m s-1")), "m s-1",
                                        variable=v)
        out[v] = wind[v] * scale + offset if (scale, offset) != (1.0, 0.0) else wind[v]
    ds = on_grid(xr.Dataset(out), template, what="wind", target_what="the template")
    return at_times(ds, template, what="wind", reference_what="the template")


def _winds(wind: xr.Dataset | None, sets: Any, purpose: str) -> xr.Dataset:
    """The winds for the Ekman part: ``wind``, else the gridded wind observations."""
    if wind is not None:
        if not isinstance(wind, xr.Dataset) or not {"uwind", "vwind"} <= set(wind.variables):
            raise ValueError(f"wind must be a Dataset with uwind, vwind (m s-1); got "
                             f"{type(wind).__name__}")
        return wind
    for s in sets:
        if s.kind != "points" and {"uwind", "vwind"} <= set(s.variables):
            return xr.Dataset({v: s.data[v] * s.scale[v] + s.offset[v]
                               for v in ("uwind", "vwind")})
    raise ValueError(
        f"{purpose} with a prior of the decomposed state need the 10 m winds: give "
        "wind=... (uwind, vwind at the analysis times) or wind observations among obs "
        "(xgenda.currents.wind_observations)")


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _recommended(prior: Any) -> Configuration | None:
    """The prior's recommended configuration (None for priors without one)."""
    recommended = getattr(prior, "recommended", None)
    return recommended if isinstance(recommended, Configuration) else None


def _resolve_prior(prior: Any) -> tuple[Any, _engine.PriorRef]:
    """The prior object and the reference to it that travels in the task graph."""
    from xgenda.prior import cached_prior  # torch: imported once a prior is needed

    if isinstance(prior, (str, os.PathLike)):
        path = str(prior)
        return cached_prior(path), _engine.PriorRef(path)
    for attr in ("variables", "normalizer", "patch_size", "res_deg", "denoiser", "id"):
        if not hasattr(prior, attr):
            raise TypeError(f"prior must be an xgenda.Prior, a saved prior directory or "
                            f"'demo'; got {type(prior).__name__} without {attr!r} (wrap your "
                            "own denoiser with xgenda.Prior.from_denoiser)")
    return prior, _engine.PriorRef(prior)


def _check_spacing(template: xr.Dataset | xr.DataArray, prior: Any) -> None:
    if template.sizes["lat"] < 2 or template.sizes["lon"] < 2:
        raise ValueError("template needs at least 2 points along lat and lon")
    dlon, dlat = spacing_deg(template)
    plon, plat = prior.res_deg
    if abs(dlon - plon) > 0.05 * plon or abs(dlat - plat) > 0.05 * plat:
        raise ValueError(
            f"template spacing (dlon={dlon:.5g}, dlat={dlat:.5g} deg) differs from the "
            f"prior's training spacing ({plon:.5g}, {plat:.5g}); build the template at the "
            f"prior's resolution, e.g. xgenda.grid.regular(lon=..., lat=..., "
            f"res_deg={(plon, plat)}, time=...)")


def _land_mask(template: xr.Dataset | xr.DataArray, prior: Any) -> Any:
    """(H, W) bool, True on land: NaN in the template's data at its first time."""
    shape = (template.sizes["lat"], template.sizes["lon"])
    arrays = [template] if isinstance(template, xr.DataArray) else \
        list(template.data_vars.values())
    arrays = [a for a in arrays if {"lat", "lon"} <= set(a.dims)
              and np.issubdtype(a.dtype, np.floating)]
    land: Any = np.zeros(shape, dtype=bool)
    for a in arrays:
        first = a.isel({d: 0 for d in a.dims if d not in ("lat", "lon")})
        isnan = first.isnull().transpose("lat", "lon").data
        land = land | isnan
    pmask = prior.land_mask
    if pmask is not None and np.shape(pmask) == shape:
        land = land | (np.asarray(pmask) <= 0)
    return land


def _as_dataset(data: da.Array, template: xr.Dataset | xr.DataArray, spec: _engine.BlockSpec,
                config: Configuration, summary: list[dict[str, Any]], prior: Any) -> xr.Dataset:
    """The ensemble with its coordinates, CF attributes and provenance."""
    coords = {
        "member": ("member", np.arange(spec.members), {"long_name": "ensemble member",
                                                       "standard_name": "realization"}),
        "time": ("time", template["time"].values, {**TIME_ATTRS, **{
            k: v for k, v in template["time"].attrs.items() if k not in ("units", "calendar")}}),
        "lat": ("lat", template["lat"].values, {**template["lat"].attrs, **LAT_ATTRS}),
        "lon": ("lon", template["lon"].values, {**template["lon"].attrs, **LON_ATTRS}),
    }
    data_vars = {name: (("member", "time", "lat", "lon"), data[c], cf_attrs(name))
                 for c, name in enumerate(spec.variables)}
    now = _dt.datetime.now(_dt.UTC)
    attrs: dict[str, Any] = {
        "title": "xgenda posterior ensemble",
        "Conventions": "CF-1.8",
        "source": f"xgenda {__version__} generative data assimilation",
        "xgenda_version": __version__,
        "prior_id": prior.id,
        "prior_variables": list(spec.variables),
        "configuration": config.to_json(),
        "method": config.guidance.method,
        "method_params": json.dumps(config.guidance.params(), sort_keys=True),
        "sampler": config.sampler.to_json(),
        "steps": config.sampler.steps,
        "members": spec.members,
        "seed": spec.seed,
        "time_window_days": config.window.half_width,
        "tile_overlap": spec.tile_overlap,
        "observations": json.dumps(summary),
        "obs_count": int(sum(s["count"] for s in summary)),
        "obs_used": int(sum(s.get("used", s["kept"]) for s in summary)),
        "obs_dropped_outside_time": int(sum(s["outside_time"] for s in summary)),
        "obs_dropped_outside_domain": int(sum(s["outside_domain"] for s in summary)),
        "date_created": now.isoformat(timespec="seconds"),
        "history": f"{now:%Y-%m-%dT%H:%M:%SZ} xgenda.assimilate(members={spec.members}, "
                   f"seed={spec.seed}, **Configuration.from_json(configuration).kwargs())",
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)
