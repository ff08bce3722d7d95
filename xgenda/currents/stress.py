"""Wind stress from 10 m winds with a bulk formula.

The Ekman regression of :mod:`xgenda.currents.ekman` is made on the surface wind
stress ``tau = rho_air * Cd(|U|) * |U| * U`` (N m-2) computed here from the 10 m
wind ``U = (uwind, vwind)`` (m s-1). The drag coefficient is either the
neutral-stability formula of Large & Pond (1981) or a constant.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import xarray as xr

from xgenda.variables import unit_conversion

__all__ = ["RHO_AIR", "drag_coefficient", "wind_stress"]

RHO_AIR = 1.22
"""Default density of air at the sea surface (kg m-3)."""

DragSpec = Literal["large_pond"] | float

TAU_ATTRS = {
    "tau_x": {"standard_name": "surface_downward_eastward_stress",
              "long_name": "eastward surface wind stress", "units": "N m-2"},
    "tau_y": {"standard_name": "surface_downward_northward_stress",
              "long_name": "northward surface wind stress", "units": "N m-2"},
}
"""CF attributes of the wind-stress components."""


def drag_coefficient(speed: xr.DataArray, drag: DragSpec = "large_pond") -> xr.DataArray:
    """Neutral 10 m drag coefficient ``Cd`` (dimensionless) as a function of wind speed.

    Parameters
    ----------
    speed : DataArray
        10 m wind speed ``|U|`` in m s-1, any dims.
    drag : "large_pond" or float
        ``"large_pond"``: Large & Pond (1981), ``1e3 Cd = 1.2`` for ``|U| < 11 m s-1``
        and ``0.49 + 0.065 |U|`` for ``11 <= |U| <= 25 m s-1``. Their fit was made for
        4-25 m s-1: below 4 m s-1 the constant 1.2e-3 is kept, and above 25 m s-1 the
        value at 25 m s-1. A float is used as a constant ``Cd`` (e.g. ``1.3e-3``).

    Returns
    -------
    DataArray
        ``Cd`` with the dims of ``speed``; lazy on dask-backed input.
    """
    if isinstance(drag, str):
        if drag != "large_pond":
            raise ValueError(
                f"unknown drag formula {drag!r}; use drag='large_pond' (Large & Pond 1981) "
                "or a constant drag coefficient such as drag=1.3e-3"
            )
        high_wind = 1e-3 * (0.49 + 0.065 * np.minimum(speed, 25.0))
        cd = xr.where(speed < 11.0, 1.2e-3, high_wind)
    else:
        cd_value = float(drag)
        if not np.isfinite(cd_value) or cd_value <= 0:
            raise ValueError(f"a constant drag coefficient must be positive, got drag={drag!r}")
        cd = xr.full_like(speed, cd_value)
    cd.attrs = {"long_name": "neutral 10 m drag coefficient", "units": "1"}
    return cd


def wind_stress(
    uwind: xr.DataArray,
    vwind: xr.DataArray,
    rho_air: float = RHO_AIR,
    drag: DragSpec = "large_pond",
) -> tuple[xr.DataArray, xr.DataArray]:
    """Surface wind stress from the 10 m wind by the bulk formula ``rho_air Cd |U| U``.

    Parameters
    ----------
    uwind, vwind : DataArray
        Eastward and northward 10 m wind (m s-1; other speed units in
        ``attrs["units"]`` are converted), same dims, e.g. ``(time, lat, lon)``.
    rho_air : float
        Air density in kg m-3.
    drag : "large_pond" or float
        Drag coefficient, see :func:`drag_coefficient`.

    Returns
    -------
    tau_x, tau_y : DataArray
        Eastward and northward stress in N m-2 with CF attributes, dims of the wind;
        lazy on dask-backed input. NaN where the wind is NaN.

    Examples
    --------
    >>> u = xr.DataArray([5.0, 20.0], dims="x", attrs={"units": "m s-1"})
    >>> tx, ty = wind_stress(u, 0 * u)
    >>> [round(float(t), 4) for t in tx]
    [0.0366, 0.8735]
    """
    if not (np.isfinite(rho_air) and rho_air > 0):
        raise ValueError(f"rho_air must be a positive density in kg m-3, got {rho_air!r}")
    uwind = _in_m_per_s(uwind, "uwind")
    vwind = _in_m_per_s(vwind, "vwind")
    speed = (uwind**2 + vwind**2) ** 0.5
    factor = rho_air * drag_coefficient(speed, drag) * speed
    tau_x = (factor * uwind).rename("tau_x")
    tau_y = (factor * vwind).rename("tau_y")
    tau_x.attrs = dict(TAU_ATTRS["tau_x"])
    tau_y.attrs = dict(TAU_ATTRS["tau_y"])
    return tau_x, tau_y


def _in_m_per_s(wind: xr.DataArray, name: str) -> xr.DataArray:
    if not isinstance(wind, xr.DataArray):
        raise TypeError(f"{name} must be an xarray.DataArray of 10 m wind in m s-1, "
                        f"got {type(wind).__name__}")
    units = wind.attrs.get("units")
    if units is None:
        return wind
    scale, offset = unit_conversion(str(units), "m s-1", variable=name)
    return wind if (scale, offset) == (1.0, 0.0) else wind * scale + offset
