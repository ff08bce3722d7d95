"""``observe``: the observation simulator of an OSSE, from a nature run to a DataTree."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from xgenda._version import __version__
from xgenda.grid import check_grid, mean_spacing_km
from xgenda.osse._sampling import GriddedTruth, component_rng
from xgenda.osse.clouds import l3_observations
from xgenda.osse.drifters import drifter_observations
from xgenda.osse.l4 import DEFAULT_L4_SIGMA_KM, l4_observations
from xgenda.osse.orbits import (
    DEFAULT_CONSTELLATION,
    WITHHELD_ORBIT,
    Orbit,
    get_orbit,
    nadir_observations,
)
from xgenda.osse.swot import swot_observations
from xgenda.progress import wanted

__all__ = ["observe"]


def observe(
    truth: xr.Dataset,
    nadirs: int | Sequence[str | Orbit] = 4,
    swot: bool = False,
    sst_cloud_cover: float | None = 0.6,
    seed: int = 0,
    *,
    withheld_nadir: str | Orbit | None = WITHHELD_ORBIT,
    nadir_noise: float = 0.025,
    nadir_long_wavelength_error: float = 0.0,
    swot_pixel_km: float | None = None,
    swot_noise: float = 0.018,
    sst_noise: float = 0.3,
    cloud_options: Mapping[str, float] | None = None,
    l4_sigma_km: Mapping[str, float] | None = None,
    l4_sigma_days: float | Mapping[str, float] = 1.0,
    l4_error: Mapping[str, float] | None = None,
    drifters: int = 20,
    drifter_noise: float = 0.02,
    progress: bool | None = None,
) -> xr.DataTree:
    """Simulate the observing system of the surface ocean from a nature run.

    Parameters
    ----------
    truth : Dataset
        Nature run on (time, lat, lon) with daily (or regular) datetime64 ``time``,
        1-D ascending ``lat``/``lon`` and the canonical variables each instrument
        needs: ``ssh`` (m) for altimetry, ``sst`` (degC) for L3 SST, the L4 variables,
        ``u`` and ``v`` (m s-1) for drifters. The variables used are loaded into
        memory once: the simulator is eager, since how many observations there are
        depends on the data (land, clouds, drifters leaving the domain).
    nadirs : int or sequence of str
        Number of satellites of the default constellation (Jason-3, Sentinel-3A,
        SARAL, CryoSat-2-like orbits; 0 for none) or their names
        (see :data:`xgenda.osse.orbits.ORBITS`).
    swot : bool
        Add SWOT-like swaths (``/swot``).
    sst_cloud_cover : float or None
        Cloudy fraction of the L3 SST in [0, 1]; ``None`` skips L3 SST.
    seed : int
        Seed of every random draw; each instrument draws from ``(seed, its name)``.
    withheld_nadir : str or None
        Orbit of an independent altimeter kept apart for evaluation
        (``/withheld/nadir``); ``None`` for none.
    nadir_noise : float
        White noise std of nadir SSH (m).
    nadir_long_wavelength_error : float
        Std of a correlated along-track error, wavelengths 1000-10000 km (m).
    swot_pixel_km : float, optional
        SWOT pixel size (km); default the grid spacing, at least 2 km.
    swot_noise : float
        KaRIn error std of a 2 km pixel at mid-swath (m).
    sst_noise : float
        L3 SST retrieval error std (K).
    cloud_options : mapping, optional
        ``scale_km``, ``speed_km_day``, ``lifetime_days`` of the clouds
        (see :func:`xgenda.osse.clouds.cloud_masks`).
    l4_sigma_km : mapping, optional
        Spatial blur (km) per L4 variable; default ``{"ssh": 25, "sst": 16, "sss": 16}``
        restricted to the variables present in ``truth``; ``{}`` for no L4 products.
    l4_sigma_days : float or mapping
        Temporal blur (std, days) of the L4 products, one value or per variable.
    l4_error : mapping, optional
        Mapping error std per L4 variable (default
        :data:`xgenda.osse.l4.DEFAULT_L4_ERROR`).
    drifters : int
        Number of active drifters (``/withheld/drifters``); 0 for none.
    drifter_noise : float
        Velocity error std of the drifters (m s-1).
    progress : bool, optional
        Show a progress bar (tqdm) over the instruments; ``None`` follows
        :func:`xgenda.progress.progress_bars` (off outside it).

    Returns
    -------
    DataTree
        Leaves are observation Datasets with ``attrs["genda_obs"]``: ``/nadir`` and
        ``/swot`` (points), ``/l3_sst`` (grid), ``/l4_ssh``, ``/l4_sst``, ``/l4_sss``
        (smoothed), and under ``/withheld`` the evaluation data: ``nadir`` and
        ``drifters`` (points). The root's attrs record the settings.

    Examples
    --------
    >>> import xgenda
    >>> truth = xgenda.testing.ocean_dataset(10, 64, 64, land=False)
    >>> obs = xgenda.osse.observe(truth, nadirs=2, seed=1)
    >>> sorted(obs.children)
    ['l3_sst', 'l4_ssh', 'l4_sss', 'l4_sst', 'nadir', 'withheld']
    >>> sorted(obs["withheld"].children)
    ['drifters', 'nadir']
    """
    _check_truth(truth)
    seed = _check_seed(seed)
    orbits = _nadir_orbits(nadirs)
    withheld = get_orbit(withheld_nadir) if withheld_nadir is not None else None
    if withheld is not None and withheld.name in {o.name for o in orbits}:
        raise ValueError(
            f"the withheld altimeter {withheld.name!r} is also among the assimilated nadirs "
            f"{[o.name for o in orbits]}; evaluation needs an independent orbit (choose "
            "another withheld_nadir, or drop it from nadirs)")
    if sst_cloud_cover is not None and not 0.0 <= float(sst_cloud_cover) <= 1.0:
        raise ValueError(f"sst_cloud_cover must be a fraction in [0, 1] (or None to skip L3 "
                         f"SST), got {sst_cloud_cover}")
    for name, value in {"nadir_noise": nadir_noise, "swot_noise": swot_noise,
                        "sst_noise": sst_noise, "drifter_noise": drifter_noise,
                        "nadir_long_wavelength_error": nadir_long_wavelength_error}.items():
        if not value >= 0:
            raise ValueError(f"{name} must be a standard deviation >= 0, got {value}")
    if int(drifters) < 0:
        raise ValueError(f"drifters must be a number of drifters >= 0, got {drifters}")
    sigma_km = _l4_sigmas(truth, l4_sigma_km)
    sigma_days = (dict(l4_sigma_days) if isinstance(l4_sigma_days, Mapping)
                  else {v: float(l4_sigma_days) for v in sigma_km})
    l4_error = dict(l4_error or {})

    needed = set(sigma_km)
    if orbits or withheld is not None or swot:
        _require(truth, ("ssh",), "altimetry (nadirs, withheld_nadir, swot)")
        needed.add("ssh")
    if sst_cloud_cover is not None:
        _require(truth, ("sst",), "L3 SST (sst_cloud_cover)")
        needed.add("sst")
    if drifters:
        _require(truth, ("u", "v"), "drifters")
        needed |= {"u", "v"}
    # One load (compute, for dask or zarr-backed truths) shared by every instrument.
    truth = truth.drop_vars([v for v in truth.data_vars if v not in needed])
    truth = truth.transpose("time", "lat", "lon").compute()

    tasks: dict[str, Callable[[], xr.Dataset]] = {}
    if "ssh" in needed:
        ssh = GriddedTruth(truth, ("ssh",))
    if orbits:
        tasks["nadir"] = lambda: _nadir(ssh, orbits, seed, nadir_noise,
                                        nadir_long_wavelength_error)
    if swot:
        pixel = swot_pixel_km if swot_pixel_km is not None else max(
            2.0, min(mean_spacing_km(truth)))
        tasks["swot"] = lambda: _swot(ssh, seed, pixel, swot_noise)
    if sst_cloud_cover is not None:
        tasks["l3_sst"] = lambda: _l3(truth, seed, float(sst_cloud_cover), sst_noise,
                                      cloud_options)
    for var, sigma in sigma_km.items():
        tasks[f"l4_{var}"] = _l4_task(truth, var, seed, sigma, sigma_days.get(var, 0.0),
                                      l4_error.get(var))
    if withheld is not None:
        tasks["withheld/nadir"] = lambda: _nadir(ssh, [withheld], seed, nadir_noise,
                                                 nadir_long_wavelength_error, withheld=True)
    if drifters:
        tasks["withheld/drifters"] = lambda: _drifters(truth, seed, int(drifters),
                                                       drifter_noise)

    leaves: dict[str, xr.Dataset] = {}
    names = list(tasks)
    iterator: Any = names
    progress = wanted(progress)
    if progress:
        iterator = tqdm(names, desc="observe", unit="instrument")
    for name in iterator:
        if progress:
            iterator.set_postfix_str(name)
        leaves[name] = tasks[name]()

    settings = {
        "nadirs": [o.name for o in orbits], "withheld_nadir": withheld.name if withheld else None,
        "swot": bool(swot), "sst_cloud_cover": sst_cloud_cover, "l4_sigma_km": sigma_km,
        "l4_sigma_days": sigma_days, "drifters": int(drifters), "nadir_noise": nadir_noise,
        "sst_noise": sst_noise, "drifter_noise": drifter_noise,
    }
    root = xr.Dataset(attrs=_root_attrs(truth, seed, settings))
    tree = xr.DataTree.from_dict({"/": root, **{f"/{k}": v for k, v in leaves.items()}})
    if "withheld" in tree.children:
        tree["withheld"].attrs.update(
            genda_role="evaluation",
            comment="independent observations kept apart for evaluation; do not assimilate")
    return tree


# -- one task per instrument --------------------------------------------------------------

def _nadir(ssh: GriddedTruth, orbits: Sequence[Orbit], seed: int, noise: float,
           long_error: float, withheld: bool = False) -> xr.Dataset:
    prefix = "withheld_nadir" if withheld else "nadir"
    rngs = [component_rng(seed, f"{prefix}/{o.name}") for o in orbits]
    out = nadir_observations(ssh, orbits, rngs, noise=noise, long_wavelength_error=long_error)
    if withheld:
        out.attrs["genda_role"] = "evaluation"
    return out


def _swot(ssh: GriddedTruth, seed: int, pixel_km: float, noise: float) -> xr.Dataset:
    return swot_observations(ssh, component_rng(seed, "swot"), pixel_km=pixel_km, noise=noise)


def _l3(truth: xr.Dataset, seed: int, cover: float, noise: float,
        cloud_options: Mapping[str, float] | None) -> xr.Dataset:
    return l3_observations(truth, component_rng(seed, "l3_sst"), cover=cover, noise=noise,
                           cloud_options=cloud_options)


def _l4_task(truth: xr.Dataset, var: str, seed: int, sigma_km: float, sigma_days: float,
             error: float | None) -> Callable[[], xr.Dataset]:
    return lambda: l4_observations(truth, var, component_rng(seed, f"l4_{var}"),
                                   sigma_km=sigma_km, sigma_days=sigma_days, error=error)


def _drifters(truth: xr.Dataset, seed: int, n: int, noise: float) -> xr.Dataset:
    out = drifter_observations(GriddedTruth(truth, ("u", "v")), component_rng(seed, "drifters"),
                               n=n, velocity_noise=noise)
    out.attrs["genda_role"] = "evaluation"
    return out


# -- checks -------------------------------------------------------------------------------

def _check_truth(truth: xr.Dataset) -> None:
    if isinstance(truth, xr.DataArray):
        raise TypeError("observe needs a Dataset with the variables to observe; got a "
                        "DataArray (use da.to_dataset(name='ssh') or similar)")
    if not isinstance(truth, xr.Dataset):
        raise TypeError(f"observe needs an xarray.Dataset nature run, got {type(truth).__name__}")
    check_grid(truth, need_time=True, what="truth")
    time = truth["time"]
    if time.ndim != 1 or time.dims != ("time",):
        raise ValueError(f"truth needs a 1-D 'time' coordinate along dim 'time', got dims "
                         f"{time.dims}")
    if not np.issubdtype(time.dtype, np.datetime64):
        raise ValueError(f"truth 'time' must be datetime64 (got {time.dtype}); convert cftime "
                         "with ds.convert_calendar('standard', use_cftime=False)")
    if time.size < 2:
        raise ValueError(f"truth has {time.size} time step(s); observations are interpolated "
                         "in time between snapshots, so at least 2 are needed")
    if not np.all(np.diff(time.values) > np.timedelta64(0, "s")):
        raise ValueError("truth 'time' is not strictly increasing; sort it (ds.sortby('time'))")
    if truth.sizes["lat"] < 2 or truth.sizes["lon"] < 2:
        raise ValueError(f"truth grid is too small ({truth.sizes['lat']} x "
                         f"{truth.sizes['lon']}); at least 2 x 2 points are needed")


def _require(truth: xr.Dataset, variables: Sequence[str], what: str) -> None:
    missing = [v for v in variables if v not in truth.data_vars]
    if missing:
        raise ValueError(
            f"truth has no variable(s) {missing} needed for {what}; found "
            f"{sorted(map(str, truth.data_vars))}. Rename product variables with "
            ".genda.standardize(), or switch that instrument off")
    for v in variables:
        if set(truth[v].dims) != {"time", "lat", "lon"}:
            raise ValueError(f"truth variable {v!r} has dims {truth[v].dims}; expected "
                             "(time, lat, lon)")


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _nadir_orbits(nadirs: int | Sequence[str | Orbit]) -> list[Orbit]:
    if isinstance(nadirs, bool):
        raise TypeError("nadirs must be a number of satellites or a list of their names, "
                        f"got {nadirs!r}")
    if isinstance(nadirs, int | np.integer):
        if not 0 <= nadirs <= len(DEFAULT_CONSTELLATION):
            raise ValueError(
                f"nadirs={nadirs}: choose 0 to {len(DEFAULT_CONSTELLATION)} satellites of the "
                f"default constellation {list(DEFAULT_CONSTELLATION)}, or pass their names")
        return [get_orbit(n) for n in DEFAULT_CONSTELLATION[: int(nadirs)]]
    if isinstance(nadirs, str):
        nadirs = [nadirs]
    orbits = [get_orbit(n) for n in nadirs]
    names = [o.name for o in orbits]
    if len(set(names)) != len(names):
        raise ValueError(f"nadirs lists a satellite twice: {names}")
    return orbits


def _l4_sigmas(truth: xr.Dataset, l4_sigma_km: Mapping[str, float] | None) -> dict[str, float]:
    if l4_sigma_km is None:
        out = {v: s for v, s in DEFAULT_L4_SIGMA_KM.items() if v in truth.data_vars}
    else:
        out = {str(v): float(s) for v, s in l4_sigma_km.items()}
    _require(truth, list(out), "L4 products (l4_sigma_km)")
    for v, s in out.items():
        if not s > 0:
            raise ValueError(f"l4_sigma_km[{v!r}] must be a positive blur in km, got {s}")
    return out


def _root_attrs(truth: xr.Dataset, seed: int, settings: dict[str, Any]) -> dict[str, Any]:
    time = truth["time"].values
    return {
        "title": "xgenda OSSE observations",
        "source": f"xgenda {__version__} observation simulator (xgenda.osse.observe)",
        "seed": seed,
        "settings": json.dumps(settings),
        "truth_time_coverage_start": str(np.datetime_as_string(time[0], unit="s")),
        "truth_time_coverage_end": str(np.datetime_as_string(time[-1], unit="s")),
        "truth_title": str(truth.attrs.get("title", "")),
        "Conventions": "CF-1.8",
    }
