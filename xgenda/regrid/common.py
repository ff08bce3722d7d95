"""Pieces shared by the regridding backends: longitude frames, dask chunking, output assembly.

Every backend computes its geometry (weights, indices, masks) once from the source and
target coordinates, then applies it to any number of fields on that source grid. The
helpers here turn user objects into the Dataset of variables a backend regrids and put
the result back together with the untouched variables, CF coordinate attributes and the
original dtypes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from xgenda.grid import LAT_ATTRS, LON_ATTRS

_TEMP_NAME = "__xgenda_regrid__"


@dataclass(frozen=True)
class LonFrame:
    """The longitude frame of a source grid: positions measured eastward from its west edge.

    Mapping any longitude into ``[west, west + 360)`` puts targets given in another
    convention (0..360 vs -180..180) next to the source values they fall on, without
    reordering the source.

    Parameters
    ----------
    west, east : float
        West and east edges of the source domain in degrees east.
    periodic : bool
        True when the source wraps around the globe in longitude.
    """

    west: float
    east: float
    periodic: bool

    @classmethod
    def from_edges(cls, west: float, east: float) -> LonFrame:
        # A small slack absorbs rounding in edges computed from 1/12 deg centres.
        return cls(west=float(west), east=float(east), periodic=bool(east - west >= 360.0 - 1e-6))

    def map(self, lon: np.ndarray) -> np.ndarray:
        """Longitudes (degrees east, any convention) moved into ``[west, west + 360)``."""
        lon = np.asarray(lon, dtype=float)
        # Shift by whole turns only, so values already in the frame stay bit-identical
        # (a target on the outermost source centre must not round its way outside).
        return lon - 360.0 * np.floor((lon - self.west) / 360.0)

    def inside(self, mapped: np.ndarray) -> np.ndarray:
        """Whether mapped longitudes fall within the source domain (its cell edges)."""
        mapped = np.asarray(mapped, dtype=float)
        if self.periodic:
            return np.ones(mapped.shape, dtype=bool)
        return mapped <= self.east + 1e-9


def is_dask(var: xr.DataArray | xr.Variable) -> bool:
    """Whether a variable is backed by a dask array."""
    return hasattr(var.data, "dask")


def single_chunk(ds: xr.Dataset, dims: Sequence[Hashable]) -> xr.Dataset:
    """Rechunk dask variables to a single chunk along ``dims`` (the core dims of a regrid).

    Numpy-backed variables are left alone, so numpy input stays numpy.
    """
    updates = {}
    for name, var in ds.data_vars.items():
        core = {d: -1 for d in dims if d in var.dims}
        if core and is_dask(var) and any(len(var.chunksizes[d]) > 1 for d in core):
            updates[name] = var.chunk(core)
    return ds.assign(updates) if updates else ds


def to_dataset(obj: xr.Dataset | xr.DataArray) -> tuple[xr.Dataset, Hashable | None]:
    """A Dataset view of ``obj`` and the name to turn the result back into a DataArray."""
    if isinstance(obj, xr.Dataset):
        return obj, None
    name = obj.name if obj.name is not None and obj.name not in obj.coords else _TEMP_NAME
    return obj.to_dataset(name=name), name


def from_dataset(
    ds: xr.Dataset, like: xr.Dataset | xr.DataArray, name: Hashable | None
) -> xr.Dataset | xr.DataArray:
    """Undo :func:`to_dataset`: the same type as ``like``."""
    if isinstance(like, xr.Dataset):
        return ds
    da = ds[name]
    return da.rename(like.name) if name == _TEMP_NAME else da


def split_spatial(
    ds: xr.Dataset, spatial_dims: tuple[Hashable, Hashable]
) -> tuple[list[Hashable], list[Hashable]]:
    """Names of data variables to regrid (on both spatial dims) and to keep unchanged (on none).

    Variables on only one of the two dims (cell bounds, zonal sections) have no meaning
    on the target grid and are left out of the result.
    """
    regrid, keep = [], []
    for name, var in ds.data_vars.items():
        n = sum(d in var.dims for d in spatial_dims)
        if n == 2:
            regrid.append(name)
        elif n == 0:
            keep.append(name)
    return regrid, keep


def target_coords(target_lat: xr.DataArray, target_lon: xr.DataArray) -> dict[str, xr.Variable]:
    """1-D ``lat``/``lon`` coordinates of the target with CF attributes."""
    lat = xr.Variable("lat", np.asarray(target_lat.values), {**target_lat.attrs, **LAT_ATTRS})
    lon = xr.Variable("lon", np.asarray(target_lon.values), {**target_lon.attrs, **LON_ATTRS})
    return {"lat": lat, "lon": lon}


def regrid_object(
    obj: xr.Dataset | xr.DataArray,
    spatial_dims: tuple[Hashable, Hashable],
    regrid_vars: Callable[[xr.Dataset], xr.Dataset],
    target_lat: xr.DataArray,
    target_lon: xr.DataArray,
) -> xr.Dataset | xr.DataArray:
    """Regrid the spatial variables of ``obj`` with ``regrid_vars`` and reassemble.

    Parameters
    ----------
    obj : Dataset or DataArray
        Source object on ``spatial_dims``.
    spatial_dims : (str, str)
        Source dims of the horizontal grid, e.g. ``("lat", "lon")`` or ``("y", "x")``.
    regrid_vars : callable
        Takes a Dataset of the variables to regrid (spatial dims single-chunk) and returns
        them on dims ``lat``, ``lon`` of the target.
    target_lat, target_lon : DataArray
        1-D target coordinates (degrees north / east).

    Returns
    -------
    Dataset or DataArray
        Same type as ``obj``: regridded variables in their original dim order (with
        ``lat``, ``lon`` in place of the source spatial dims), original dtypes for
        floating variables, attrs kept; variables without spatial dims and coordinates
        off the spatial dims kept unchanged.
    """
    ds, name = to_dataset(obj)
    to_regrid, keep = split_spatial(ds, spatial_dims)
    if not to_regrid:
        raise ValueError(
            f"nothing to regrid: no data variable has both dims {spatial_dims}; "
            f"variables and their dims: { {str(k): v.dims for k, v in ds.data_vars.items()} }"
        )
    source = single_chunk(ds[to_regrid], spatial_dims)
    # Only the grid itself travels: other coords on the spatial dims (masks, cell areas,
    # bounds) describe the source grid and are dropped rather than guessed on the target.
    drop = [c for c in source.coords
            if set(source[c].dims) & set(spatial_dims) and c not in ("lat", "lon", *spatial_dims)]
    source = source.drop_vars(drop)
    out = regrid_vars(source)

    rename = dict(zip(spatial_dims, ("lat", "lon"), strict=True))
    coords = target_coords(target_lat, target_lon)
    out = out.drop_vars([c for c in ("lat", "lon") if c in out.coords]).assign_coords(coords)
    for var in to_regrid:
        src = ds[var]
        da = out[var]
        if np.issubdtype(src.dtype, np.floating) and da.dtype != src.dtype:
            da = da.astype(src.dtype)
        order = [rename.get(d, d) for d in src.dims]
        out[var] = da.transpose(*order)
        out[var].attrs = dict(src.attrs)
        out[var].encoding = {}

    keep_coords = {c: ds.coords[c] for c in ds.coords
                   if not set(ds[c].dims) & set(spatial_dims) and c not in ("lat", "lon")}
    result = xr.Dataset(
        {v: out[v] if v in to_regrid else ds[v] for v in ds.data_vars if v in to_regrid + keep},
        coords={**keep_coords, **coords},
        attrs=dict(ds.attrs),
    )
    return from_dataset(result, obj, name)
