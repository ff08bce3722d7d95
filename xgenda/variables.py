"""Canonical variables, their CF attributes and units, and :func:`standardize`.

xgenda speaks of ``ssh``, ``sst``, ``sss``, ``u``, ``v`` (and optional winds
``uwind``, ``vwind``). :func:`standardize` maps common product names onto these
(GLORYS, DUACS, GHRSST, SMOS/SMAP, ERA5), converts units with pint (the
cf-xarray unit registry) and puts coordinates into the conventions of
:mod:`xgenda.grid`. Conversions are affine maps applied with plain arithmetic,
so dask-backed data stay lazy.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import xarray as xr

from xgenda.grid import LAT_ATTRS, LON_ATTRS, TIME_ATTRS, wrap_lon

T = TypeVar("T", xr.Dataset, xr.DataArray)


@dataclass(frozen=True)
class Variable:
    """A canonical variable: name, CF attributes, units and the names products use for it."""

    name: str
    standard_name: str
    long_name: str
    units: str
    aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def attrs(self) -> dict[str, str]:
        return {"standard_name": self.standard_name, "long_name": self.long_name,
                "units": self.units}


VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        Variable("ssh", "sea_surface_height_above_geoid", "sea surface height", "m",
                 ("zos", "adt", "sla", "ssh_mod", "sossheig", "SSH", "sea_surface_height")),
        Variable("sst", "sea_surface_temperature", "sea surface temperature", "degC",
                 ("thetao", "analysed_sst", "sea_surface_temperature", "tos", "votemper",
                  "SST", "temp")),
        Variable("sss", "sea_surface_salinity", "sea surface salinity", "1e-3",
                 ("so", "sos", "SSS", "sea_surface_salinity", "vosaline", "salt")),
        Variable("u", "eastward_sea_water_velocity", "eastward surface current", "m s-1",
                 ("uo", "ugos", "vozocrtx", "uas_ocean", "ssu")),
        Variable("v", "northward_sea_water_velocity", "northward surface current", "m s-1",
                 ("vo", "vgos", "vomecrty", "ssv")),
        Variable("uwind", "eastward_wind", "eastward 10 m wind", "m s-1",
                 ("u10", "uas", "eastward_wind", "u10m")),
        Variable("vwind", "northward_wind", "northward 10 m wind", "m s-1",
                 ("v10", "vas", "northward_wind", "v10m")),
    )
}
"""Canonical variables by name."""

CURRENT_PARTS: dict[str, dict[str, str]] = {
    "u_geo": {"standard_name": "surface_geostrophic_eastward_sea_water_velocity",
              "long_name": "eastward geostrophic current", "units": "m s-1"},
    "v_geo": {"standard_name": "surface_geostrophic_northward_sea_water_velocity",
              "long_name": "northward geostrophic current", "units": "m s-1"},
    "u_ek": {"long_name": "eastward Ekman current (linear response to the wind)",
             "units": "m s-1"},
    "v_ek": {"long_name": "northward Ekman current (linear response to the wind)",
             "units": "m s-1"},
    "u_res": {"long_name": "eastward residual current (u - u_geo - u_ek)", "units": "m s-1"},
    "v_res": {"long_name": "northward residual current (v - v_geo - v_ek)", "units": "m s-1"},
}
"""CF attributes of the parts of the surface current (:mod:`xgenda.currents`): CF has
standard names for the geostrophic part only."""


def cf_attrs(name: str) -> dict[str, str]:
    """CF attributes of a canonical variable or a current part (empty for other names)."""
    if name in VARIABLES:
        return dict(VARIABLES[name].attrs)
    return dict(CURRENT_PARTS.get(name, {}))


def units_of(name: str, default: str = "1") -> str:
    """Canonical units of a variable or current part (``default`` for other names)."""
    return cf_attrs(name).get("units", default)

_COORD_ALIASES = {
    "lat": ("latitude", "nav_lat", "lat_rho", "LATITUDE", "Latitude", "y_lat"),
    "lon": ("longitude", "nav_lon", "lon_rho", "LONGITUDE", "Longitude", "x_lon"),
    "time": ("time_counter", "TIME", "Time", "t"),
}
_DEPTH_DIMS = ("depth", "deptht", "lev", "z", "level", "DEPTH")

# Salinity is dimensionless; products write it in many equivalent ways.
_SALINITY_UNITS = {"1e-3", "0.001", "psu", "PSU", "pss-78", "PSS-78", "g/kg", "g kg-1",
                   "g kg**-1", "1", "practical_salinity_unit"}


def canonical_name(name: str) -> str | None:
    """The canonical variable a product name stands for, or ``None``."""
    if name in VARIABLES:
        return name
    for var in VARIABLES.values():
        if name in var.aliases:
            return var.name
    return None


def unit_conversion(from_units: str, to_units: str, *, variable: str = "") -> tuple[float, float]:
    """``(scale, offset)`` such that ``value_to = value_from * scale + offset``.

    Raises
    ------
    ValueError
        When a unit cannot be parsed or the two are not convertible.
    """
    if from_units == to_units:
        return 1.0, 0.0
    if to_units == "1e-3" and from_units.strip() in _SALINITY_UNITS:
        return 1.0, 0.0
    import pint
    from cf_xarray.units import units as ureg

    what = f" of {variable!r}" if variable else ""
    try:
        q0 = ureg.Quantity(0.0, from_units)
        q1 = ureg.Quantity(1.0, from_units)
        a = float(q0.to(to_units).magnitude)
        b = float(q1.to(to_units).magnitude)
    except (pint.errors.UndefinedUnitError, ValueError, AssertionError) as err:
        raise ValueError(
            f"unknown units {from_units!r}{what}: cannot parse them as CF/UDUNITS units; "
            f"set .attrs['units'] to a valid unit convertible to {to_units!r}"
        ) from err
    except pint.errors.DimensionalityError as err:
        raise ValueError(
            f"units {from_units!r}{what} cannot be converted to {to_units!r}; "
            "check the variable's units attribute"
        ) from err
    return b - a, a


def standardize(obj: T, *, surface_only: bool = True) -> T:
    """Canonical names, units, coordinates and CF attributes.

    - variables named as in GLORYS (``zos``, ``thetao``, ``so``, ``uo``, ``vo``), DUACS
      (``adt``, ``sla``, ``ugos``, ``vgos``), GHRSST (``analysed_sst`` in K),
      SMOS/SMAP (``sss``) or ERA5 (``u10``, ``v10``) become ``ssh``, ``sst``, ``sss``,
      ``u``, ``v``, ``uwind``, ``vwind``; unknown variables pass through untouched
      (a product name is not renamed onto a canonical name that is already present);
    - units are converted to the canonical ones (K -> degC, cm -> m, cm/s -> m s-1);
    - ``latitude``/``nav_lat``/... become ``lat``, ``longitude``/... ``lon``,
      ``time_counter`` ``time``; lon is wrapped into [-180, 180) and sorted, lat sorted
      ascending (1-D grids); with ``surface_only`` the top level of a depth dim is kept.

    Lazy on dask-backed input.

    Parameters
    ----------
    obj : Dataset or DataArray
        Data in product conventions.

    Returns
    -------
    Dataset or DataArray
        The same data in xgenda conventions.
    """
    is_da = isinstance(obj, xr.DataArray)
    ds = obj.to_dataset(name=obj.name if obj.name is not None else "__da__") if is_da else obj

    ds = _rename_coords(ds)
    renames: dict[str, str] = {}
    for name in ds.data_vars:
        target = canonical_name(str(name))
        if target and target != name and target not in ds.data_vars and \
                target not in renames.values():
            renames[str(name)] = target
    ds = ds.rename(renames)

    if surface_only:
        for dim in _DEPTH_DIMS:
            if dim in ds.dims:
                ds = ds.isel({dim: 0}, drop=False)
                if dim in ds.coords:
                    ds = ds.reset_coords(dim, drop=True)

    new_vars = {}
    for name in ds.data_vars:
        if name in VARIABLES:
            new_vars[name] = _to_canonical_units(ds[name], VARIABLES[str(name)], renames)
    ds = ds.assign(new_vars)
    ds = _normalize_coords(ds)

    if is_da:
        (name,) = ds.data_vars
        da = ds[name]
        return da.rename(obj.name if name == "__da__" else name)  # type: ignore[return-value]
    return ds  # type: ignore[return-value]


def _rename_coords(ds: xr.Dataset) -> xr.Dataset:
    mapping = {}
    present = set(ds.variables) | set(ds.dims)
    for canonical, aliases in _COORD_ALIASES.items():
        if canonical in present:
            continue
        for alias in aliases:
            if alias in present:
                mapping[alias] = canonical
                break
    return ds.rename(mapping) if mapping else ds


def _to_canonical_units(da: xr.DataArray, var: Variable, renames: dict[str, str]) -> xr.DataArray:
    source = next((k for k, v in renames.items() if v == var.name), var.name)
    units = da.attrs.get("units")
    attrs = {k: v for k, v in da.attrs.items() if k not in ("units", "standard_name",
                                                               "long_name")}
    if source == "sla":
        attrs["comment"] = "renamed from DUACS sla (sea level anomaly, not absolute)"
    if units is None:
        warnings.warn(
            f"variable {source!r} has no units attribute; assuming {var.units!r} "
            f"for {var.name!r}. Set .attrs['units'] to silence this warning.",
            UserWarning, stacklevel=4,
        )
        out = da
    else:
        scale, offset = unit_conversion(str(units), var.units, variable=source)
        out = da if (scale, offset) == (1.0, 0.0) else da * scale + offset
        if units != var.units:
            attrs["units_original"] = str(units)
    out = out.astype(da.dtype) if np.issubdtype(da.dtype, np.floating) else out
    out.attrs = {**attrs, **var.attrs}
    out.encoding = da.encoding
    return out


def _shift_lon_bounds(ds: xr.Dataset, lon: xr.DataArray, shift: xr.DataArray) -> xr.Dataset:
    """Move each cell's longitude bounds by the multiple of 360 its centre moved."""
    names = {str(lon.attrs["bounds"])} if "bounds" in lon.attrs else set()
    names |= {"lon_bnds", "lon_bounds", "longitude_bnds", "longitude_bounds"}
    for name in sorted(n for n in names if n in ds.variables):
        bounds = ds[name]
        if set(lon.dims) <= set(bounds.dims):
            moved = (bounds + shift).assign_attrs(bounds.attrs)
            ds = ds.assign_coords({name: moved}) if name in ds.coords else \
                ds.assign({name: moved})
    return ds


def _normalize_coords(ds: xr.Dataset) -> xr.Dataset:
    if "lon" in ds.coords:
        lon = ds["lon"]
        lon_vals = np.asarray(lon.values, dtype=float)
        if np.any((lon_vals < -180) | (lon_vals >= 180)):
            wrapped = wrap_lon(lon_vals)
            ds = ds.assign_coords(lon=(lon.dims, wrapped, lon.attrs))
            ds = _shift_lon_bounds(ds, lon, xr.DataArray(wrapped - lon_vals, dims=lon.dims))
        if ds["lon"].ndim == 1 and ds["lon"].dims == ("lon",) and \
                not np.all(np.diff(ds["lon"].values) > 0):
            ds = ds.sortby("lon")
        ds["lon"].attrs = {**ds["lon"].attrs, **LON_ATTRS}
    if "lat" in ds.coords:
        if ds["lat"].ndim == 1 and ds["lat"].dims == ("lat",) and \
                not np.all(np.diff(ds["lat"].values) > 0):
            ds = ds.sortby("lat")
        ds["lat"].attrs = {**ds["lat"].attrs, **LAT_ATTRS}
    if "time" in ds.coords:
        ds["time"].attrs = {**TIME_ATTRS, **{k: v for k, v in ds["time"].attrs.items()
                                              if k not in ("units", "calendar")}}
    return ds
