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
    xgenda.assimilate.resume_to_zarr(ens, "analysis.zarr")
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import types
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from xgenda.grid import check_grid, spacing_deg, time_blocks
from xgenda.stream import missing_times, resume_to_zarr  # re-exported: older import path

__all__ = ["assimilate", "missing_times", "resume_to_zarr"]

_SAMPLERS = ("heun", "euler")
_PRESETS = (None, "genda")


def assimilate(
    template: xr.Dataset | xr.DataArray,
    prior: Any,
    obs: Any = None,
    members: int = 24,
    method: str | None = None,
    steps: int | None = None,
    gamma: float | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    device: str = "auto",
    time_window: float | str | np.timedelta64 | _dt.timedelta = 0.5,
    preset: str | None = None,
    tile_overlap: int | None = None,
    *,
    time_chunk: int | None = None,
    guidance: Mapping[str, Any] | None = None,
    solver: str = "heun",
    churn: float = 0.0,
    corrector_steps: int = 0,
    tau: float = 0.1,
    time_error_growth: float = 0.0,
    padding: str = "mask",
    ekman_model: Any = None,
    wind: xr.Dataset | None = None,
    qc: Any = 5.0,
    strict: bool = False,
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
    method : {"mmps", "sda", "dps", "none"}, optional
        Guidance (default ``"mmps"``; ``"sda"`` with ``preset="genda"``).
    steps : int, optional
        Sampler steps (default 32; 256 with ``preset="genda"``).
    gamma : float, optional
        Guidance strength: SDA's ``gamma`` (default 0.1) or DPS's ``zeta`` (default 1).
    seed : int
        Random seed; sample (time, member) draws from ``(seed, time, member)``.
    batch_size : int, optional
        Samples (time x member pairs) per network call inside a block. Default: all
        members of one time. Smaller values split the members of a time; values of at
        least ``members`` batch ``batch_size // members`` whole times together (faster
        on a GPU; results then match other chunkings to float32 rounding rather than
        bit for bit).
    device : str
        ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    time_window : float, str or timedelta
        Half-width of the window of observation times used for each analysis time,
        days if a number (default 0.5: a daily snapshot); ``"12h"`` works too.
    preset : {None, "genda"}
        ``"genda"``: GenDA's configuration (SDA, gamma 0.1, gradient through the
        denoiser, 256 DDIM steps on the VP cosine schedule with eta = 1e-3).
    tile_overlap : int, optional
        Overlap (pixels) of the tiles on a domain larger than the prior's patch
        (default a quarter of the patch).
    time_chunk : int, optional
        Analysis times per block (default: the template's time chunks, else 1).
    guidance : mapping, optional
        Other guidance parameters: ``detach`` (sda), ``cg_steps``, ``float64``,
        ``jacobian`` (mmps); see :mod:`xgenda.diffusion.guidance`.
    solver : {"heun", "euler"}
        EDM solver on the Karras schedule.
    churn : float
        Stochasticity of the EDM sampler (Karras et al. ``S_churn``).
    corrector_steps : int
        Langevin corrector steps after each predictor step.
    tau : float
        Langevin step size.
    time_error_growth : float
        Observation error growth with time distance to the analysis, in normalized
        units per day: ``err^2 -> err^2 + (growth |dt|)^2``.
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

    Returns
    -------
    Dataset
        One variable per prior variable, dims ``(member, time, lat, lon)``, physical
        units with CF attributes, dask-backed (one chunk per block of times); attrs
        record the provenance (xgenda version, prior id, method and parameters, seed,
        observation summary, creation time).

    Examples
    --------
    >>> ens = template.genda.assimilate(prior, obs, members=16, method="mmps")  # doctest: +SKIP
    >>> ens.to_zarr("analysis.zarr")                                           # doctest: +SKIP
    """
    import dask
    import dask.array as da

    from xgenda import _engine
    from xgenda.diffusion.guidance import DEFAULTS, METHODS
    from xgenda.diffusion.vp import GENDA
    from xgenda.obs import AnalysisGrid, collect, route, subset_for_times

    # -- arguments ------------------------------------------------------------------
    if preset not in _PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected None or 'genda'")
    method = method or (GENDA["method"] if preset == "genda" else "mmps")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    if preset == "genda" and method != "sda":
        raise ValueError(f"preset='genda' uses SDA guidance; got method={method!r}")
    steps = _positive_int(GENDA["steps"] if preset == "genda" and steps is None
                          else 32 if steps is None else steps, "steps")
    members = _positive_int(members, "members")
    if batch_size is not None:
        batch_size = _positive_int(batch_size, "batch_size")
    if time_chunk is not None:
        time_chunk = _positive_int(time_chunk, "time_chunk")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    window = _days(time_window)
    params = _guidance_params(method, gamma, guidance, preset, DEFAULTS)
    if solver not in _SAMPLERS:
        raise ValueError(f"solver must be one of {_SAMPLERS}, got {solver!r}")
    if churn < 0 or corrector_steps < 0 or int(corrector_steps) != corrector_steps:
        raise ValueError("churn must be >= 0 and corrector_steps a non-negative integer")
    if tau <= 0 or time_error_growth < 0:
        raise ValueError("tau must be > 0 and time_error_growth >= 0")
    if padding not in ("mask", "reflect"):
        raise ValueError(f"padding must be 'mask' or 'reflect', got {padding!r}")
    from xgenda._runtime import resolve_device

    resolve_device(device)  # a device this machine does not have fails here, not in a task

    # -- template and prior ---------------------------------------------------------
    if not isinstance(template, (xr.Dataset, xr.DataArray)):
        raise TypeError(f"template must be an xarray Dataset or DataArray, got "
                        f"{type(template).__name__}")
    check_grid(template, need_time=True, what="template")
    if template["time"].dims != ("time",) or template.sizes["time"] < 1:
        raise ValueError("template needs a 1-D 'time' coordinate along dim 'time' with at "
                         "least one time (e.g. template.expand_dims(time=[...]))")
    from xgenda.guard import check_not_all_land, check_template_times

    check_template_times(template)
    prior_obj, ref = _resolve_prior(prior)
    variables = tuple(prior_obj.variables)
    lat = np.asarray(template["lat"].values, dtype=np.float64)
    lon = np.asarray(template["lon"].values, dtype=np.float64)
    _check_spacing(template, prior_obj)
    patch = prior_obj.patch_size
    overlap = patch // 4 if tile_overlap is None else int(tile_overlap)
    if not 0 <= overlap < patch:
        raise ValueError(f"tile_overlap must be in [0, {patch}) for a {patch}-pixel prior, "
                         f"got {tile_overlap}")
    times = np.asarray(template["time"].values)
    grid = AnalysisGrid.from_coords(lat, lon, variables)

    # -- current decomposition and observations ---------------------------------------
    from xgenda.currents import is_decomposed_state

    decomposed = is_decomposed_state(variables)
    if ekman_model is not None and not decomposed:
        raise ValueError(
            f"ekman_model recomposes total currents from residual ones, but the prior "
            f"models {list(variables)} (no 'u_res'/'v_res'); leave ekman_model out")
    ekman_model = ekman_model if ekman_model is not None else \
        getattr(prior_obj, "ekman_model", None)
    observable = variables + (("u", "v") if decomposed and "ssh" in variables
                              and ekman_model is not None else ())
    sets = collect(obs, observable)
    routed, summary = route(sets, times, grid, window)
    known = None
    if wind is not None and {"uwind", "vwind"} <= set(variables):
        known = _known_winds(wind, template)
    if any(v in ("u", "v") and v not in variables for s in routed for v in s.variables):
        from xgenda.currents.state import without_ekman

        routed = without_ekman(routed, ekman_model, _winds(wind, sets, "total-current "
                                                                        "observations"))
    from xgenda.guard import screen

    routed, summary, guard = screen(routed, summary, grid, times, prior_obj, template, qc,
                                    strict)
    kept = sum(s["used"] for s in summary)
    if kept == 0 and known is None:
        warnings.warn("no observations fall inside the template's domain and time windows: "
                      "the result is an unconditional ensemble of the prior", UserWarning,
                      stacklevel=2)

    # -- graph --------------------------------------------------------------------------
    land = check_not_all_land(_land_mask(template, prior_obj))
    sampler = {"name": "genda", "eta": GENDA["eta"]} if preset == "genda" else \
        {"name": "edm", "solver": solver, "churn": float(churn),
         "corrector_steps": int(corrector_steps), "tau": float(tau)}
    spec = _engine.BlockSpec(
        prior=ref, times=times, lat=lat, lon=lon, variables=variables, members=members,
        seed=int(seed), steps=steps, method=method, params=params, sampler=sampler,
        time_window=window, device=str(device), batch_size=batch_size, tile_overlap=overlap,
        padding=padding, time_error_growth=float(time_error_growth),
        known=() if known is None else ("uwind", "vwind"))
    blocks = time_blocks(template, time_chunk) or (1,) * template.sizes["time"]
    token = dask.base.tokenize(ref.id, spec, [s.data for s in routed], land, known)
    pieces = []
    start = 0
    for k, size in enumerate(blocks):
        sl = slice(start, start + size)
        block_spec = _replace(spec, times=times[sl])
        block_sets = subset_for_times(routed, times[sl], window)
        task = dask.delayed(_engine.run_block, pure=False)(
            block_spec, block_sets, land, None if known is None else known.isel(time=sl),
            dask_key_name=f"assimilate-{token}-{k}")
        pieces.append(da.from_delayed(task, shape=(len(variables), members, size, lat.size,
                                                   lon.size), dtype=np.float32,
                                      meta=np.empty((0,) * 5, np.float32)))
        start += size
    data = da.concatenate(pieces, axis=2)
    ens = _as_dataset(data, template, variables, members, spec, summary, preset, prior_obj)
    ens.attrs.update(obs_rejected=int(sum(s["rejected"] for s in summary)),
                     qc_threshold=json.dumps(guard.pop("qc_threshold")),
                     distribution_check=json.dumps(guard))
    if ekman_model is not None:
        from xgenda.currents import recompose_currents

        own = "uwind" in variables and "vwind" in variables
        ens = recompose_currents(ens, ekman_model, wind=None if own else
                                 _winds(wind, sets, "the recomposition of total currents"))
    return ens


def _known_winds(wind: xr.Dataset, template: xr.Dataset | xr.DataArray) -> xr.Dataset:
    """``wind`` (uwind, vwind in m s-1) on the template's grid and at its times."""
    from xgenda.currents._inputs import at_times, on_grid
    from xgenda.variables import unit_conversion

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


def _days(window: Any) -> float:
    import pandas as pd

    if isinstance(window, (int, float, np.integer, np.floating)) and not isinstance(window,
                                                                                   bool):
        days = float(window)
    else:
        try:
            days = pd.Timedelta(window) / pd.Timedelta(days=1)
        except (ValueError, TypeError) as err:
            raise ValueError(f"time_window must be a number of days, a timedelta or a string "
                             f"like '12h', got {window!r}") from err
    if not days > 0:
        raise ValueError(f"time_window must be > 0, got {window!r}")
    return days


def _guidance_params(method: str, gamma: float | None, guidance: Mapping[str, Any] | None,
                     preset: str | None, defaults: dict[str, dict[str, Any]]) -> dict[str, Any]:
    params = dict(guidance or {})
    unknown = set(params) - set(defaults[method])
    if unknown:
        raise ValueError(f"guidance parameters {sorted(unknown)} do not apply to method "
                         f"{method!r}, which takes {sorted(defaults[method])}")
    if gamma is not None:
        if method == "sda":
            params["gamma"] = float(gamma)
        elif method == "dps":
            params["zeta"] = float(gamma)
        else:
            raise ValueError(f"gamma sets the strength of sda (gamma) and dps (zeta); method "
                             f"{method!r} has none (mmps takes guidance={{'cg_steps': ...}})")
    if preset == "genda":
        params.setdefault("gamma", 0.1)
        params.setdefault("detach", False)
    for key in ("gamma", "zeta"):
        if key in params and not params[key] >= 0:
            raise ValueError(f"{key} must be >= 0, got {params[key]}")
    return {**defaults[method], **params}


def _resolve_prior(prior: Any) -> tuple[Any, Any]:
    from xgenda._engine import PriorRef
    from xgenda._runtime import cached_prior

    if isinstance(prior, (str, os.PathLike)):
        path = str(prior)
        return cached_prior(path), PriorRef(path)
    for attr in ("variables", "normalizer", "patch_size", "res_deg", "denoiser", "id"):
        if not hasattr(prior, attr):
            raise TypeError(f"prior must be an xgenda.Prior, a saved prior directory or "
                            f"'demo'; got {type(prior).__name__} without {attr!r} (wrap your "
                            "own denoiser with xgenda.Prior.from_denoiser)")
    return prior, PriorRef(prior)


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


def _replace(spec: Any, **changes: Any) -> Any:
    from dataclasses import replace

    return replace(spec, **changes)


def _as_dataset(data: Any, template: xr.Dataset | xr.DataArray, variables: tuple[str, ...],
                members: int, spec: Any, summary: list[dict[str, Any]], preset: str | None,
                prior: Any) -> xr.Dataset:
    from xgenda import __version__
    from xgenda.grid import LAT_ATTRS, LON_ATTRS, TIME_ATTRS
    from xgenda.variables import cf_attrs

    coords = {
        "member": ("member", np.arange(members), {"long_name": "ensemble member",
                                                  "standard_name": "realization"}),
        "time": ("time", template["time"].values, {**TIME_ATTRS, **{
            k: v for k, v in template["time"].attrs.items() if k not in ("units", "calendar")}}),
        "lat": ("lat", template["lat"].values, {**template["lat"].attrs, **LAT_ATTRS}),
        "lon": ("lon", template["lon"].values, {**template["lon"].attrs, **LON_ATTRS}),
    }
    data_vars = {}
    for c, name in enumerate(variables):
        var_attrs = cf_attrs(name)
        data_vars[name] = (("member", "time", "lat", "lon"), data[c], var_attrs)
    used = sum(s.get("used", s["kept"]) for s in summary)
    attrs: dict[str, Any] = {
        "title": "xgenda posterior ensemble",
        "Conventions": "CF-1.8",
        "source": f"xgenda {__version__} generative data assimilation",
        "xgenda_version": __version__,
        "prior_id": prior.id,
        "prior_variables": list(variables),
        "method": spec.method,
        "method_params": json.dumps(spec.params, sort_keys=True),
        "sampler": json.dumps(spec.sampler, sort_keys=True),
        "preset": preset or "none",
        "steps": spec.steps,
        "members": members,
        "seed": spec.seed,
        "time_window_days": spec.time_window,
        "tile_overlap": spec.tile_overlap,
        "observations": json.dumps(summary),
        "obs_count": int(sum(s["count"] for s in summary)),
        "obs_used": int(used),
        "obs_dropped_outside_time": int(sum(s["outside_time"] for s in summary)),
        "obs_dropped_outside_domain": int(sum(s["outside_domain"] for s in summary)),
        "date_created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "history": f"{_dt.datetime.now(_dt.UTC):%Y-%m-%dT%H:%M:%SZ} "
                   f"xgenda.assimilate(method={spec.method!r}, members={members}, "
                   f"steps={spec.steps}, seed={spec.seed})",
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


class _CallableModule(types.ModuleType):
    """``xgenda.assimilate`` is both this module and its main function.

    Importing the submodule binds the name ``assimilate`` on the ``xgenda`` package to
    the module, shadowing the function of the same name; making the module callable
    keeps ``xgenda.assimilate(...)`` working either way.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> xr.Dataset:
        return assimilate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
