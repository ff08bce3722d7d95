"""Square patches of the (lat, lon) plane and their seamless reassembly.

:func:`patch` cuts a domain into ``size`` x ``size`` tiles with stride
``size - overlap``; the last tile in each direction is aligned to the far edge,
so every pixel is covered whatever the domain size. :func:`unpatch` stitches
tiles back with separable blending weights (1 in the tile interior, a squared
sine ramp across the ``overlap`` pixels at each edge, strictly positive), divided
by the summed weights: where tiles agree the original is reproduced, and where
they differ the result passes smoothly from one to the other, without seams.

Both are lazy on dask: each works block by block along the non-spatial dims
(``time``, ``member``), with ``lat``/``lon`` (``patch``/``y``/``x``) in one chunk.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, TypeVar

import numpy as np
import xarray as xr

from xgenda.grid import check_grid

T = TypeVar("T", xr.Dataset, xr.DataArray)

__all__ = ["blending_weights", "patch", "patch_origins", "unpatch"]

_ORIGIN_ATTRS = {
    "patch_i0": {"long_name": "lat index of the patch origin in the full grid", "units": "1"},
    "patch_j0": {"long_name": "lon index of the patch origin in the full grid", "units": "1"},
}


def patch_origins(n: int, size: int, overlap: int = 0) -> np.ndarray:
    """Start indices of the patches along one axis of length ``n``.

    Starts step by ``size - overlap``; one more start at ``n - size`` is added
    when needed so that the last patch ends on the far edge.

    Examples
    --------
    >>> patch_origins(10, 4, 1).tolist()
    [0, 3, 6]
    >>> patch_origins(11, 4, 1).tolist()
    [0, 3, 6, 7]
    """
    _check_sizes(size, overlap, {"axis": n})
    starts = list(range(0, n - size + 1, size - overlap))
    if starts[-1] + size < n:
        starts.append(n - size)
    return np.asarray(starts, dtype=np.int64)


def blending_weights(size: int, overlap: int = 0) -> np.ndarray:
    """Blending weight of one patch, shape ``(size, size)``, in (0, 1].

    The separable product of 1-D windows equal to 1 in the interior and to
    ``sin^2(pi/2 (k + 1/2) / overlap)`` on the ``k``-th of the ``overlap`` pixels
    from each edge. Two patches overlapping by exactly ``overlap`` pixels then
    have weights summing to 1 (``sin^2 + cos^2``); with ``overlap = 0`` the
    weight is 1 everywhere.
    """
    _check_sizes(size, overlap, {})
    w = np.ones(size)
    if overlap:
        ramp = np.sin(0.5 * np.pi * (np.arange(overlap) + 0.5) / overlap) ** 2
        w[:overlap] = np.minimum(w[:overlap], ramp)
        w[size - overlap:] = np.minimum(w[size - overlap:], ramp[::-1])
    return np.outer(w, w)


def patch(
    obj: T,
    size: int,
    overlap: int = 0,
    max_nan_fraction: float = 1.0,
    drop: bool = True,
    mask: xr.DataArray | None = None,
) -> T:
    """Cut the (lat, lon) plane into square patches along a new leading ``patch`` dim.

    Parameters
    ----------
    obj : Dataset or DataArray
        Data with 1-D ``lat``, ``lon`` coordinates (dims ``(..., lat, lon)``).
    size : int
        Patch side in grid points.
    overlap : int
        Grid points shared by neighbouring patches (``0 <= overlap < size``).
    max_nan_fraction : float
        Patches whose fraction of invalid pixels exceeds this are dropped (or
        flagged, see ``drop``). The default 1.0 keeps every patch.
    drop : bool
        Drop the patches over ``max_nan_fraction``; with ``False`` keep them and
        flag them ``False`` in the coordinate ``patch_valid``.
    mask : DataArray (lat, lon) of bool, optional
        True where data are valid (ocean), False on land, like NEMO's ``tmask``.
        Without it, a pixel is invalid when any variable with ``lat``/``lon`` is
        NaN at the first index of every other dim (the first time step): a land
        mask. On dask-backed data that is one small compute of that single
        slice, and only when ``max_nan_fraction < 1``; pass ``mask`` to stay
        fully lazy.

    Returns
    -------
    Dataset or DataArray
        Variables with ``lat``, ``lon`` replaced by ``y``, ``x`` and a leading
        ``patch`` dim; coords ``patch`` (number of the patch among all patches
        of the domain), ``patch_i0``, ``patch_j0`` (origin indices, whose attrs
        also hold what :func:`unpatch` needs), ``patch_valid``, ``lat(patch, y)``
        and ``lon(patch, x)``. Variables without ``lat``/``lon`` pass through.

    Examples
    --------
    >>> from xgenda.testing import ocean_dataset
    >>> p = patch(ocean_dataset(ny=16, nx=20), size=8, overlap=2)
    >>> dict(p.sizes)
    {'patch': 9, 'time': 4, 'y': 8, 'x': 8}
    """
    check_grid(obj, what="data to patch")
    taken = [d for d in ("patch", "y", "x") if d in obj.dims]
    if taken:
        raise ValueError(f"data to patch already have dims {taken}; rename them first "
                         "(patch adds 'patch', 'y', 'x')")
    nlat, nlon = obj.sizes["lat"], obj.sizes["lon"]
    _check_sizes(size, overlap, {"lat": nlat, "lon": nlon})
    if not 0.0 <= max_nan_fraction <= 1.0:
        raise ValueError(f"max_nan_fraction must lie in [0, 1], got {max_nan_fraction}")

    i_start, j_start = patch_origins(nlat, size, overlap), patch_origins(nlon, size, overlap)
    i0 = np.repeat(i_start, j_start.size)
    j0 = np.tile(j_start, i_start.size)
    number = np.arange(i0.size)
    valid = np.ones(i0.size, dtype=bool)
    if max_nan_fraction < 1.0:
        invalid = _invalid_mask(obj, mask)
        rows, cols = _patch_index(i0, size), _patch_index(j0, size)
        fraction = invalid[rows[:, :, None], cols[:, None, :]].mean(axis=(1, 2))
        valid = fraction <= max_nan_fraction
        if drop:
            i0, j0, number, valid = i0[valid], j0[valid], number[valid], valid[valid]

    rows, cols = _patch_index(i0, size), _patch_index(j0, size)
    out = _map_variables(obj, lambda v: _cut(v, rows, cols))
    grid_attrs = {"patch_size": size, "patch_overlap": overlap}
    out = out.assign_coords(
        patch=("patch", number, {"long_name": "patch number in the domain", "units": "1"}),
        patch_i0=("patch", i0, {**_ORIGIN_ATTRS["patch_i0"], **grid_attrs,
                                "grid_lat": obj["lat"].values}),
        patch_j0=("patch", j0, {**_ORIGIN_ATTRS["patch_j0"], **grid_attrs,
                                "grid_lon": obj["lon"].values}),
        patch_valid=("patch", valid, {"long_name": "patch has at most max_nan_fraction "
                                                   "invalid pixels",
                                      "max_nan_fraction": max_nan_fraction}),
        lat=(("patch", "y"), obj["lat"].values[rows], obj["lat"].attrs),
        lon=(("patch", "x"), obj["lon"].values[cols], obj["lon"].attrs),
    )
    return out


def unpatch(obj: T) -> T:
    """Stitch patches from :func:`patch` back onto the full grid with blending weights.

    Each pixel is the weighted mean of the finite values of the patches that
    cover it (weights :func:`blending_weights`); pixels covered by no patch
    (dropped ones) or NaN in every covering patch are NaN. Every patch present
    is used: to leave out patches flagged by ``patch_valid``, select them away
    first (``p.isel(patch=p.patch_valid)``).

    Parameters
    ----------
    obj : Dataset or DataArray
        Patched data, dims ``(patch, ..., y, x)``, with the ``patch_i0``,
        ``patch_j0`` coordinates (and their attrs) written by :func:`patch`.

    Returns
    -------
    Dataset or DataArray
        Dims ``(..., lat, lon)`` on the full grid. Variables with a ``patch``
        dim but no ``y``/``x`` are dropped; others pass through.
    """
    for name in ("patch_i0", "patch_j0"):
        if name not in obj.coords or "patch_size" not in obj.coords[name].attrs:
            raise ValueError(
                f"object has no patch metadata (coordinate {name!r} with attrs from "
                "xgenda.patches.patch); unpatch needs the output of .genda.patch(...), "
                "with its patch_i0/patch_j0 coordinates kept"
            )
    meta = obj.coords["patch_i0"].attrs
    size, overlap = int(meta["patch_size"]), int(meta["patch_overlap"])
    grid_lat = np.asarray(meta["grid_lat"])
    grid_lon = np.asarray(obj.coords["patch_j0"].attrs["grid_lon"])
    i0 = np.asarray(obj.coords["patch_i0"].values, dtype=np.int64)
    j0 = np.asarray(obj.coords["patch_j0"].values, dtype=np.int64)
    if obj.sizes.get("y") != size or obj.sizes.get("x") != size:
        raise ValueError(f"patches are {obj.sizes.get('y')} x {obj.sizes.get('x')} but their "
                         f"metadata say size={size}; was the y/x extent changed?")
    weight = blending_weights(size, overlap)
    shape = (grid_lat.size, grid_lon.size)
    lat_attrs = obj["lat"].attrs if "lat" in obj.coords else {}
    lon_attrs = obj["lon"].attrs if "lon" in obj.coords else {}

    def stitch(v: xr.DataArray) -> xr.DataArray | None:
        if "patch" not in v.dims:
            return v
        if not {"y", "x"} <= set(v.dims):
            return None
        return _stitch(v, i0, j0, weight, shape)

    body = obj.drop_vars(["patch", "patch_i0", "patch_j0", "patch_valid", "lat", "lon"],
                         errors="ignore")
    out = _map_variables(body, stitch)
    return out.assign_coords(lat=("lat", grid_lat, lat_attrs), lon=("lon", grid_lon, lon_attrs))


# -- helpers ------------------------------------------------------------------
def _check_sizes(size: int, overlap: int, extents: dict[str, int]) -> None:
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"patch size must be an integer >= 1, got {size!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, int | np.integer) or overlap < 0:
        raise ValueError(f"overlap must be an integer >= 0, got {overlap!r}")
    if overlap >= size:
        raise ValueError(f"overlap ({overlap}) must be smaller than the patch size ({size}) "
                         "so that patches advance")
    for dim, n in extents.items():
        if size > n:
            raise ValueError(f"patch size {size} is larger than the domain ({dim} has {n} "
                             f"points); choose size <= {n} or a larger domain")


def _patch_index(starts: np.ndarray, size: int) -> np.ndarray:
    """Grid indices covered by each patch, shape (n_patch, size)."""
    return starts[:, None] + np.arange(size)[None, :]


def _map_variables(obj: T, func: Any) -> T:
    """Apply ``func`` to each data variable and non-index coordinate (None drops it)."""
    if isinstance(obj, xr.DataArray):
        tmp = "__xgenda_array__"
        out = _map_variables(obj.to_dataset(name=tmp), func)[tmp]
        return out.rename(obj.name)
    names = [n for n in obj.variables if n not in obj.indexes]
    coords = [n for n in names if n in obj.coords]
    ds = obj.reset_coords(coords)
    new: dict[Hashable, xr.DataArray] = {}
    for name in names:
        out = func(ds[name])
        if out is not None:
            new[name] = out
    keep = xr.Dataset(new, attrs=obj.attrs)
    keep = keep.assign_coords({n: v for n, v in ds.coords.items() if n in keep.dims})
    return keep.set_coords([c for c in coords if c in keep])


def _cut(v: xr.DataArray, rows: np.ndarray, cols: np.ndarray) -> xr.DataArray:
    has_lat, has_lon = "lat" in v.dims, "lon" in v.dims
    if not (has_lat or has_lon):
        return v.drop_vars(["lat", "lon"], errors="ignore")
    if not (has_lat and has_lon):
        # 1-D along lat or lon (e.g. a metric term): plain indexing is cheap.
        dim, idx, new = ("lat", rows, "y") if has_lat else ("lon", cols, "x")
        out = v.drop_vars(["lat", "lon"], errors="ignore").isel({dim: xr.Variable(
            ("patch", new), idx)})
        return out.transpose("patch", ...)
    v = v.drop_vars(["lat", "lon"], errors="ignore")
    if v.chunks is not None:
        v = v.chunk({"lat": -1, "lon": -1})
    out = xr.apply_ufunc(
        _extract, v,
        input_core_dims=[["lat", "lon"]],
        output_core_dims=[["patch", "y", "x"]],
        kwargs={"i0": rows[:, 0], "j0": cols[:, 0], "size": rows.shape[1]},
        dask="parallelized",
        output_dtypes=[v.dtype],
        dask_gufunc_kwargs={"output_sizes": {"patch": rows.shape[0], "y": rows.shape[1],
                                             "x": cols.shape[1]}},
        keep_attrs=True,
    )
    return out.transpose("patch", ...)


def _extract(a: np.ndarray, i0: np.ndarray, j0: np.ndarray, size: int) -> np.ndarray:
    """Patches of ``a[..., lat, lon]`` as ``(..., patch, y, x)``."""
    # Copying basic slices is several times faster than one fancy-indexing gather;
    # patch-major memory matches the final (patch, ..., y, x) order.
    out = np.empty((i0.size, *a.shape[:-2], size, size), dtype=a.dtype)
    for k in range(i0.size):
        out[k] = a[..., i0[k]:i0[k] + size, j0[k]:j0[k] + size]
    return np.moveaxis(out, 0, -3)


def _stitch(v: xr.DataArray, i0: np.ndarray, j0: np.ndarray, weight: np.ndarray,
            shape: tuple[int, int]) -> xr.DataArray:
    dtype = v.dtype if np.issubdtype(v.dtype, np.floating) else np.dtype("float64")
    v = v.drop_vars(["lat", "lon"], errors="ignore")
    if v.chunks is not None:
        v = v.chunk({"patch": -1, "y": -1, "x": -1})
    return xr.apply_ufunc(
        _blend, v,
        input_core_dims=[["patch", "y", "x"]],
        output_core_dims=[["lat", "lon"]],
        kwargs={"i0": i0, "j0": j0, "weight": weight, "shape": shape, "dtype": dtype},
        dask="parallelized",
        output_dtypes=[dtype],
        dask_gufunc_kwargs={"output_sizes": {"lat": shape[0], "lon": shape[1]}},
        keep_attrs=True,
    )


def _blend(a: np.ndarray, i0: np.ndarray, j0: np.ndarray, weight: np.ndarray,
           shape: tuple[int, int], dtype: np.dtype[Any]) -> np.ndarray:
    """Weighted mean of the finite patch values ``a[..., patch, y, x]`` on the full grid."""
    lead = a.shape[:-3]
    total = np.zeros((*lead, *shape))
    wsum = np.zeros((*lead, *shape))
    ny, nx = weight.shape
    for k in range(a.shape[-3]):
        block = a[..., k, :, :]
        window = (..., slice(i0[k], i0[k] + ny), slice(j0[k], j0[k] + nx))
        finite = np.isfinite(block)
        if finite.all():
            total[window] += block * weight
            wsum[window] += weight
        else:
            total[window] += np.where(finite, block * weight, 0.0)
            wsum[window] += np.where(finite, weight, 0.0)
    out = np.full(total.shape, np.nan)
    np.divide(total, wsum, out=out, where=wsum > 0)
    return out.astype(dtype, copy=False)


def _invalid_mask(obj: xr.Dataset | xr.DataArray, mask: xr.DataArray | None) -> np.ndarray:
    """Boolean (lat, lon) array, True where a pixel counts as invalid (land)."""
    nlat, nlon = obj.sizes["lat"], obj.sizes["lon"]
    if mask is not None:
        if set(mask.dims) != {"lat", "lon"}:
            raise ValueError(f"mask must have dims ('lat', 'lon'), got {mask.dims}")
        m = mask.transpose("lat", "lon")
        if m.shape != (nlat, nlon):
            raise ValueError(f"mask has shape {m.shape} but the data grid is {(nlat, nlon)}")
        return ~np.asarray(m.values, dtype=bool)
    ds = obj.to_dataset(name="__data__") if isinstance(obj, xr.DataArray) else obj
    first = {}
    for name, v in ds.data_vars.items():
        if {"lat", "lon"} <= set(v.dims) and np.issubdtype(v.dtype, np.floating):
            first[name] = v.isel({d: 0 for d in v.dims if d not in ("lat", "lon")})
    if not first:
        return np.zeros((nlat, nlon), dtype=bool)
    # The land mask is time-invariant: one (lat, lon) slice per variable, one compute.
    sample = xr.Dataset(first).compute()
    invalid = np.zeros((nlat, nlon), dtype=bool)
    for v in sample.data_vars.values():
        invalid |= np.isnan(v.transpose("lat", "lon").values)
    return invalid
