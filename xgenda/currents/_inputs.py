"""Input checks shared by the Ekman fit and the current decomposition.

Each helper either returns its input aligned on a reference (same grid, same
times) or raises an error that says what was wrong and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from xgenda.currents.stress import wind_stress
from xgenda.diagnostics.dynamics import geostrophic_currents
from xgenda.grid import check_grid

WIND_VARS = ("uwind", "vwind")
STRESS_VARS = ("tau_x", "tau_y")


def require_variables(ds: Any, names: Iterable[str], what: str, hint: str = "") -> None:
    """Raise unless ``ds`` is a Dataset holding all ``names``."""
    names = tuple(names)
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"{what} must be an xarray.Dataset with variables {list(names)}, "
                        f"got {type(ds).__name__}")
    missing = [n for n in names if n not in ds.variables]
    if missing:
        raise ValueError(
            f"{what} lacks variable(s) {missing}; it has {sorted(map(str, ds.data_vars))}. "
            f"Expected {list(names)}{'; ' + hint if hint else ''}"
        )


def has_wind(ds: xr.Dataset) -> bool:
    """Whether ``ds`` carries 10 m winds or wind stress."""
    return all(n in ds.variables for n in WIND_VARS) or \
        all(n in ds.variables for n in STRESS_VARS)


def forcing(
    wind: xr.Dataset, *, predictor: str, drag: Any, rho_air: float, what: str = "wind"
) -> tuple[xr.DataArray, xr.DataArray]:
    """The regressor of the Ekman model: wind stress (N m-2) or the 10 m wind (m s-1).

    ``wind`` holds ``uwind``/``vwind`` (10 m wind), or ``tau_x``/``tau_y`` (stress,
    used as given) when the predictor is the stress.
    """
    if predictor == "stress":
        if isinstance(wind, xr.Dataset) and all(n in wind.variables for n in STRESS_VARS):
            return wind["tau_x"], wind["tau_y"]
        require_variables(wind, WIND_VARS, what,
                          "give 10 m winds uwind, vwind (m s-1) or the stress tau_x, tau_y "
                          "(N m-2); run .genda.standardize() to rename u10/v10")
        return wind_stress(wind["uwind"], wind["vwind"], rho_air=rho_air, drag=drag)
    if predictor == "wind":
        require_variables(wind, WIND_VARS, what,
                          "this Ekman model regresses on the 10 m wind, so give uwind, vwind "
                          "(m s-1); run .genda.standardize() to rename u10/v10")
        return wind["uwind"], wind["vwind"]
    raise ValueError(f"predictor must be 'stress' or 'wind', got {predictor!r}")


def same_grid(a: xr.Dataset | xr.DataArray, b: xr.Dataset | xr.DataArray) -> bool:
    """Whether ``a`` and ``b`` have the same ``lat``/``lon`` (up to float rounding).

    The tolerance is a thousandth of the grid spacing, so float32 coordinates match
    their float64 originals.
    """
    for name in ("lat", "lon"):
        x, y = np.asarray(a[name].values, float), np.asarray(b[name].values, float)
        if x.shape != y.shape:
            return False
        spacing = np.min(np.abs(np.diff(x))) if x.size > 1 else 1.0
        if not np.allclose(x, y, rtol=0, atol=max(1e-3 * spacing, 1e-9)):
            return False
    return True


def on_grid(obj: xr.Dataset, target: xr.Dataset | xr.DataArray, *, what: str,
            target_what: str) -> xr.Dataset:
    """``obj`` on the ``lat``/``lon`` of ``target``: relabelled when the grids agree up to
    rounding (so that xarray alignment drops nothing), regridded bilinearly otherwise
    (curvilinear sources included)."""
    if not isinstance(obj, xr.Dataset):
        raise TypeError(f"{what} must be an xarray.Dataset, got {type(obj).__name__}")
    regular = all(n in obj.coords and obj[n].dims == (n,) for n in ("lat", "lon"))
    if regular:
        check_grid(obj, what=what)
        if same_grid(obj, target):
            return obj.assign_coords(lat=target["lat"], lon=target["lon"])
    elif not all(n in obj.coords for n in ("lat", "lon")):
        check_grid(obj, what=what)  # raises the error that names what is missing
    grid_a, grid_b = _describe_grid(obj), _describe_grid(target)
    try:
        from xgenda.regrid import regrid
    except ImportError as err:
        raise ValueError(
            f"{what} is on another grid ({grid_a}) than {target_what} ({grid_b}) and "
            "xgenda.regrid is not available to regrid it; put it on the same grid first, "
            f"e.g. {what}.interp(lat=..., lon=...)"
        ) from err
    out = regrid(obj, target, method="bilinear")
    return out.assign_coords(lat=target["lat"], lon=target["lon"])


def _describe_grid(obj: xr.Dataset | xr.DataArray) -> str:
    lat, lon = obj["lat"].values, obj["lon"].values
    size = f"{lat.size} lat x {lon.size} lon" if lat.ndim == 1 else f"curvilinear {lat.shape}"
    return (f"{size}, lat {lat.min():.4g}..{lat.max():.4g}, "
            f"lon {lon.min():.4g}..{lon.max():.4g}")


def at_times(obj: xr.Dataset, reference: xr.Dataset | xr.DataArray, *, what: str,
             reference_what: str) -> xr.Dataset:
    """``obj`` at the times of ``reference`` (exact labels); a clear error when it lacks some.

    An ``obj`` without a ``time`` dim (a steady wind) is returned as is and broadcasts.
    """
    if "time" not in obj.dims:
        return obj
    if "time" not in reference.dims:
        if "time" in reference.coords and reference["time"].ndim == 0:
            return obj.sel(time=reference["time"].values)
        raise ValueError(
            f"{what} has a 'time' dim but {reference_what} has no time; give "
            f"{reference_what} a time coordinate or select one time of {what}"
        )
    wanted = reference.indexes["time"]
    have = obj.indexes["time"]
    missing = wanted.difference(have)
    if len(missing):
        raise ValueError(
            f"{what} does not cover the times of {reference_what}: {reference_what} spans "
            f"{_time_span(wanted)} ({len(wanted)} times), {what} spans {_time_span(have)} "
            f"({len(have)} times); {len(missing)} time(s) are missing, first {missing[0]}. "
            f"Give {what} at the same times (e.g. {what}.interp(time=...) or "
            f"{what}.resample(time='1D').mean()) or restrict {reference_what} to the common "
            "period"
        )
    if len(have) == len(wanted) and have.equals(wanted):
        return obj
    return obj.sel(time=wanted)


def _time_span(index: pd.Index) -> str:
    if len(index) == 0:
        return "no time"
    return f"{index.min()} .. {index.max()}"


def geostrophic_part(
    ds: xr.Dataset, ssh: str, defined: xr.DataArray
) -> tuple[xr.DataArray, xr.DataArray]:
    """Geostrophic ``u_geo``, ``v_geo`` of ``ds[ssh]``, set to 0 where they are undefined
    (near the equator, next to land or the domain edge) but ``defined`` is not NaN.

    The zero fill keeps ``u = u_geo + u_ek + u_res`` true wherever the current is
    defined: what geostrophy cannot explain there goes to the other parts.
    """
    geo = geostrophic_currents(ds[[ssh]], ssh=ssh)
    out = []
    for name in ("u_geo", "v_geo"):
        part = geo[name].fillna(0.0).where(defined.notnull())
        part.attrs = {**geo[name].attrs,
                      "comment": "geostrophic current of the sea surface height; set to 0 "
                                 "where it is undefined (near the equator, at land and "
                                 "domain edges) but the current is defined"}
        out.append(part.rename(name))
    return out[0], out[1]
