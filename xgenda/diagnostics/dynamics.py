"""Surface dynamics on the sphere: geostrophic currents, vorticity, strain, divergence,
and comparison of currents with drifters.

Derivatives are centred differences in grid-index space divided by the local
spacings of :func:`xgenda.grid.metrics` (``dx = R cos(lat) dlon``, ``dy = R dlat``),
one-sided at the domain edges; a NaN neighbour (land) makes the derivative NaN, so
no difference crosses a coastline. Spherical metric terms (``tan(lat)/R``) are
included in vorticity, divergence and strain.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Literal

import numpy as np
import xarray as xr

from xgenda.diagnostics._common import MEMBER, get_var
from xgenda.grid import EARTH_RADIUS_M, GRAVITY, check_grid, coriolis, metrics
from xgenda.regrid import sample_points
from xgenda.variables import cf_attrs

__all__ = [
    "divergence",
    "drifter_errors",
    "geostrophic_currents",
    "strain_rate",
    "vorticity",
]


def _d_index(da: xr.DataArray, dim: str) -> xr.DataArray:
    """d(da)/d(index) along ``dim``: centred inside, one-sided at the two edges."""
    if da.sizes[dim] < 2:
        raise ValueError(f"a derivative along {dim!r} needs at least 2 points, got "
                         f"{da.sizes[dim]}")
    if da.chunks is not None:
        da = da.chunk({dim: -1})
    centred = (da.shift({dim: -1}) - da.shift({dim: 1})) / 2.0
    forward = da.shift({dim: -1}) - da
    backward = da - da.shift({dim: 1})
    n = da.sizes[dim]
    index = xr.DataArray(np.arange(n), dims=dim)
    return xr.where(index == 0, forward, xr.where(index == n - 1, backward, centred))


def _ddx(da: xr.DataArray) -> xr.DataArray:
    dx, _ = metrics(da)
    return _d_index(da, "lon") / dx


def _ddy(da: xr.DataArray) -> xr.DataArray:
    _, dy = metrics(da)
    return _d_index(da, "lat") / dy


def _tan_over_r(da: xr.DataArray) -> xr.DataArray:
    return np.tan(np.deg2rad(da["lat"])) / EARTH_RADIUS_M


def geostrophic_currents(
    obj: xr.Dataset | xr.DataArray,
    ssh: str = "ssh",
    *,
    equator_band_deg: float = 5.0,
) -> xr.Dataset:
    """Surface geostrophic currents from sea surface height on the sphere.

    ``u = -(g / f) dssh/dy``, ``v = (g / f) dssh/dx`` with ``f = 2 Omega sin(lat)``
    (:func:`xgenda.grid.coriolis`), ``dx = R cos(lat) dlon``, ``dy = R dlat``.

    Parameters
    ----------
    obj : Dataset or DataArray
        SSH (m) with dims ``lat``, ``lon`` (any others, e.g. ``time``, ``member``, kept).
    ssh : str
        Name of the SSH variable in a Dataset.
    equator_band_deg : float
        Currents are NaN where ``|lat| < equator_band_deg`` (f -> 0 there).

    Returns
    -------
    Dataset
        ``u_geo`` and ``v_geo`` in m s-1 with CF attrs.

    Examples
    --------
    >>> import xgenda
    >>> ds = xgenda.testing.ocean_dataset(nt=1, land=False)
    >>> cur = ds.genda.geostrophic_currents()
    >>> cur.u_geo.attrs["units"]
    'm s-1'
    """
    eta = get_var(obj, ssh, what="SSH input")
    check_grid(eta, what="SSH input")
    units = eta.attrs.get("units", "m")
    if units not in ("m", "meter", "meters", "metre", "metres"):
        raise ValueError(f"SSH must be in m for geostrophic currents, got units {units!r}; "
                         "run .genda.standardize() first")
    f = coriolis(eta["lat"])
    g_over_f = (GRAVITY / f).where(np.abs(eta["lat"]) >= equator_band_deg)
    u = -g_over_f * _ddy(eta)
    v = g_over_f * _ddx(eta)
    u = u.transpose(*eta.dims)
    v = v.transpose(*eta.dims)
    note = (f"geostrophic balance from {eta.name or 'ssh'} on the sphere; NaN within "
            f"{equator_band_deg:g} deg of the equator")
    u.attrs = {**cf_attrs("u_geo"), "comment": note}
    v.attrs = {**cf_attrs("v_geo"), "comment": note}
    return xr.Dataset({"u_geo": u, "v_geo": v})


def _currents(obj: xr.Dataset, u: str, v: str) -> tuple[xr.DataArray, xr.DataArray]:
    """``u``, ``v`` of ``obj``, or geostrophic currents when only ``ssh`` is present."""
    if not isinstance(obj, xr.Dataset):
        raise TypeError("vorticity, strain and divergence need a Dataset with currents "
                        f"{u!r}, {v!r} (or 'ssh' to derive geostrophic ones)")
    if u in obj.data_vars and v in obj.data_vars:
        check_grid(obj)
        return obj[u], obj[v]
    if "ssh" in obj.data_vars:
        geo = geostrophic_currents(obj)
        return geo["u_geo"], geo["v_geo"]
    raise ValueError(f"dataset has neither currents {u!r}, {v!r} nor 'ssh'; found "
                     f"{sorted(map(str, obj.data_vars))}")


def _over_f(da: xr.DataArray, normalize: bool, band: float) -> xr.DataArray:
    if not normalize:
        return da
    f = coriolis(da["lat"])
    return (da / f).where(np.abs(da["lat"]) >= band)


def vorticity(obj: xr.Dataset, u: str = "u", v: str = "v", *, normalize: bool = True,
              equator_band_deg: float = 5.0) -> xr.DataArray:
    """Relative vorticity ``zeta = dv/dx - du/dy + u tan(lat)/R`` (divided by f by default).

    Uses ``u``, ``v`` (m s-1) when present, else geostrophic currents from ``ssh``.

    Returns
    -------
    DataArray
        ``zeta / f`` (dimensionless; NaN near the equator) or ``zeta`` in s-1.
    """
    uu, vv = _currents(obj, u, v)
    zeta = _ddx(vv) - _ddy(uu) + uu * _tan_over_r(uu)
    out = _over_f(zeta, normalize, equator_band_deg).transpose(*uu.dims)
    out.name = "vorticity_over_f" if normalize else "vorticity"
    out.attrs = ({"long_name": "relative vorticity divided by the Coriolis parameter",
                  "units": "1"} if normalize else
                 {"standard_name": "ocean_relative_vorticity",
                  "long_name": "relative vorticity", "units": "s-1"})
    return out


def divergence(obj: xr.Dataset, u: str = "u", v: str = "v", *, normalize: bool = False,
               equator_band_deg: float = 5.0) -> xr.DataArray:
    """Horizontal divergence ``du/dx + dv/dy - v tan(lat)/R`` (s-1, or over f)."""
    uu, vv = _currents(obj, u, v)
    div = _ddx(uu) + _ddy(vv) - vv * _tan_over_r(vv)
    out = _over_f(div, normalize, equator_band_deg).transpose(*uu.dims)
    out.name = "divergence_over_f" if normalize else "divergence"
    out.attrs = {"long_name": "horizontal divergence" + (" divided by f" if normalize else ""),
                 "units": "1" if normalize else "s-1"}
    return out


def strain_rate(obj: xr.Dataset, u: str = "u", v: str = "v", *, normalize: bool = False,
                equator_band_deg: float = 5.0) -> xr.DataArray:
    """Strain rate ``sqrt(sn^2 + ss^2)`` on the sphere (s-1, or over f).

    Normal strain ``sn = du/dx - dv/dy - v tan(lat)/R`` and shear strain
    ``ss = dv/dx + du/dy + u tan(lat)/R``.
    """
    uu, vv = _currents(obj, u, v)
    tr = _tan_over_r(uu)
    sn = _ddx(uu) - _ddy(vv) - vv * tr
    ss = _ddx(vv) + _ddy(uu) + uu * tr
    out = _over_f(np.sqrt(sn**2 + ss**2), normalize, equator_band_deg).transpose(*uu.dims)
    out.name = "strain_rate_over_f" if normalize else "strain_rate"
    out.attrs = {"long_name": "strain rate" + (" divided by f" if normalize else ""),
                 "units": "1" if normalize else "s-1"}
    return out


def drifter_errors(
    obj: xr.Dataset,
    drifters: xr.Dataset,
    u: str = "u",
    v: str = "v",
    *,
    drifter_u: str | None = None,
    drifter_v: str | None = None,
    member: Literal["mean", "each"] = "mean",
) -> xr.Dataset:
    """Error-vector statistics of modelled currents against drifter velocities.

    The currents (``u``, ``v`` or geostrophic from ``ssh``; for an ensemble the
    ensemble mean, or each member with ``member="each"``) are interpolated linearly in space and time to the
    drifter positions (:func:`xgenda.regrid.sample_points`); with error vector
    ``e = U_model - U_drifter``:

    - ``rmse_u``, ``rmse_v``: RMS of the components (m s-1);
    - ``rmse_vector``: ``sqrt(mean |e|^2)`` (m s-1);
    - ``speed_bias``: ``mean(|U_model| - |U_drifter|)`` (m s-1);
    - ``magnitude_error``: ``mean(|e|)`` (m s-1), the mean error-vector magnitude;
    - ``angle_error``: mean absolute direction difference (degrees, in [0, 180]);
    - ``n_obs``: drifter observations used (both finite).

    Parameters
    ----------
    obj : Dataset
        Gridded currents (dims ``time``, ``lat``, ``lon``, optional ``member``).
    drifters : Dataset
        Point observations (dim ``obs``; coords ``time``, ``lat``, ``lon``) with
        velocities ``drifter_u``/``drifter_v`` (default ``u``/``v``).
    member : {"mean", "each"}
        Score the ensemble mean (default) or every member (statistics keep ``member``).
    """
    uu, vv = _currents(obj, u, v)
    du, dv = drifter_u or u, drifter_v or v
    for name in (du, dv):
        if name not in drifters.data_vars:
            raise ValueError(f"drifter dataset has no velocity {name!r}; found "
                             f"{sorted(map(str, drifters.data_vars))} (pass drifter_u=, "
                             "drifter_v=)")
    if member not in ("mean", "each"):
        raise ValueError(f"member must be 'mean' or 'each', got {member!r}")
    model = xr.Dataset({"u": uu, "v": vv})
    if MEMBER in model.dims and member == "mean":
        model = model.mean(MEMBER)
    at = sample_points(model, drifters).reset_coords(drop=True)
    um, vm = at["u"], at["v"]
    ud = xr.DataArray(drifters[du].data, dims="obs")
    vd = xr.DataArray(drifters[dv].data, dims="obs")
    ok = um.notnull() & vm.notnull() & ud.notnull() & vd.notnull()
    um, vm, ud, vd = um.where(ok), vm.where(ok), ud.where(ok), vd.where(ok)
    eu, ev = um - ud, vm - vd
    angle = np.rad2deg(np.arctan2(vm, um) - np.arctan2(vd, ud))
    angle = np.abs((angle + 180.0) % 360.0 - 180.0)
    stats: dict[Hashable, xr.DataArray] = {
        "rmse_u": np.sqrt((eu**2).mean("obs")),
        "rmse_v": np.sqrt((ev**2).mean("obs")),
        "rmse_vector": np.sqrt((eu**2 + ev**2).mean("obs")),
        "speed_bias": (np.hypot(um, vm) - np.hypot(ud, vd)).mean("obs"),
        "magnitude_error": np.hypot(eu, ev).mean("obs"),
        "angle_error": angle.mean("obs"),
        "n_obs": ok.sum("obs"),
    }
    units = dict.fromkeys(stats, "m s-1") | {"angle_error": "degree", "n_obs": "1"}
    for k, da in stats.items():
        da.attrs = {"long_name": str(k).replace("_", " ") + " against drifters",
                    "units": units[str(k)]}
    return xr.Dataset(stats)
