"""Native regridding from curvilinear grids (2-D ``lat``/``lon``) onto regular grids.

The geometry is computed once per source/target pair with scipy, then applied to every
field (and every time slice) as a gather plus a weighted sum:

- ``nearest``: :class:`scipy.spatial.cKDTree` on 3-D unit-sphere coordinates, so
  distances are true chord lengths whatever the latitude.
- ``bilinear``: a :class:`scipy.spatial.Delaunay` triangulation of the source points in
  the (lon, lat) plane and barycentric weights on the triangle around each target
  point: linear in lon and lat, so fields linear in lon/lat are reproduced exactly.

Triangulating in the lon/lat plane suits regional grids; grids that wrap around the
globe (tripolar ORCA-like grids) are refused with a pointer to the xesmf backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable
from typing import Any

import numpy as np
import xarray as xr
from scipy.spatial import ConvexHull, Delaunay, cKDTree

from xgenda.regrid.common import regrid_object

# Triangles whose longest edge exceeds this multiple of the typical one bridge gaps
# (concave coastlines of the coordinate mask, holes) and are treated as outside.
_LONG_EDGE_FACTOR = 3.0


def unit_sphere(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """3-D unit vectors ``(..., 3)`` of points given in degrees north / east."""
    la, lo = np.deg2rad(lat), np.deg2rad(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


class CurvilinearRegridder:
    """Regrid fields from a curvilinear grid onto a regular lat/lon grid (native backend).

    Parameters
    ----------
    source_lat, source_lon : DataArray (y, x)
        2-D source cell centres (degrees north / east) on the same two dims.
    target_lat, target_lon : DataArray
        1-D target cell centres (degrees north / east, any longitude convention).
    method : {"bilinear", "nearest"}
        Interpolation method.

    Notes
    -----
    Targets outside the source domain are NaN: for ``bilinear`` those outside the
    triangulated source points (or in a triangle bridging a gap between them), for
    ``nearest`` those outside the convex hull of the source points and farther than half
    a typical source spacing from every one of them. Source points with NaN coordinates
    are ignored.
    """

    def __init__(
        self,
        source_lat: xr.DataArray,
        source_lon: xr.DataArray,
        target_lat: xr.DataArray,
        target_lon: xr.DataArray,
        method: str,
    ) -> None:
        if method not in ("bilinear", "nearest"):
            raise NotImplementedError(
                f"method={method!r} is not available for curvilinear sources with the native "
                "backend (it needs cell corners on the sphere); install xesmf "
                "(conda install -c conda-forge xesmf) and pass backend='xesmf', or use "
                "method='bilinear' / 'nearest'"
            )
        self.method = method
        self.dims: tuple[Hashable, Hashable] = tuple(source_lat.dims)  # type: ignore[assignment]
        self.target_lat = target_lat
        self.target_lon = target_lon
        self.source_shape = source_lat.shape
        lat = np.asarray(source_lat.values, dtype=float)
        lon = np.asarray(source_lon.values, dtype=float)
        valid = np.isfinite(lat) & np.isfinite(lon)
        if valid.sum() < 3:
            raise ValueError("curvilinear source has fewer than 3 points with finite lat/lon")
        self.reference_lon = float(np.median(lon[valid]))
        src_lon = self._unwrap(lon)
        span = np.ptp(src_lon[valid])
        if span > 355.0:
            raise NotImplementedError(
                f"the curvilinear source spans {span:.0f} degrees of longitude (a global grid); "
                "the native backend triangulates in the lon/lat plane and handles regional "
                "grids only: install xesmf (conda install -c conda-forge xesmf) and pass "
                "backend='xesmf'"
            )
        flat_valid = np.flatnonzero(valid.ravel())
        points = np.column_stack([src_lon[valid], lat[valid]])

        tlat, tlon = np.meshgrid(np.asarray(target_lat.values, dtype=float),
                                 self._unwrap(np.asarray(target_lon.values, dtype=float)),
                                 indexing="ij")
        queries = np.column_stack([tlon.ravel(), tlat.ravel()])
        self.target_shape = tlat.shape

        # scipy searches every triangle for a point outside the hull: rule those out first.
        in_hull = _inside_convex_hull(points, queries)
        self.weights: np.ndarray | None
        if method == "bilinear":
            self.index, self.weights, inside = _barycentric_weights(
                points, queries, in_hull, lat[valid], lon[valid])
            self.index = flat_valid[self.index]
        else:
            xyz = unit_sphere(lat[valid], lon[valid])
            tree = cKDTree(xyz)
            distance, nearest = tree.query(unit_sphere(tlat.ravel(), tlon.ravel()))
            spacing = np.median(tree.query(xyz, k=2)[0][:, 1])
            # Half a spacing beyond the outermost points, as for cell edges on regular grids.
            inside = in_hull | (distance <= 0.5 * spacing + 1e-12)
            self.index = flat_valid[nearest][:, None]
            self.weights = None
        self.inside = inside
        if not inside.any():
            t_lat, t_lon = np.asarray(target_lat.values), np.asarray(target_lon.values)
            raise ValueError(
                "target grid lies entirely outside the curvilinear source: target lat "
                f"[{t_lat.min():.4g}, {t_lat.max():.4g}], lon [{t_lon.min():.4g}, "
                f"{t_lon.max():.4g}]; source lat [{np.nanmin(lat):.4g}, {np.nanmax(lat):.4g}], "
                f"lon [{np.nanmin(lon):.4g}, {np.nanmax(lon):.4g}] (degrees)"
            )

    def _unwrap(self, lon: np.ndarray) -> np.ndarray:
        """Longitudes within 180 degrees of the source's median longitude."""
        return lon - 360.0 * np.floor((lon - self.reference_lon + 180.0) / 360.0)

    # -- application --------------------------------------------------------
    def __call__(self, obj: xr.Dataset | xr.DataArray) -> xr.Dataset | xr.DataArray:
        return regrid_object(obj, self.dims, self._regrid_vars, self.target_lat, self.target_lon)

    def _regrid_vars(self, ds: xr.Dataset) -> xr.Dataset:
        nlat, nlon = self.target_shape
        out = {}
        for name, var in ds.data_vars.items():
            dtype = var.dtype if np.issubdtype(var.dtype, np.floating) else np.dtype(float)
            out[name] = xr.apply_ufunc(
                self._apply,
                var,
                input_core_dims=[list(self.dims)],
                output_core_dims=[["lat", "lon"]],
                dask="parallelized",
                output_dtypes=[dtype],
                dask_gufunc_kwargs={"output_sizes": {"lat": nlat, "lon": nlon}},
                kwargs={"dtype": dtype},
                keep_attrs=True,
            )
        return xr.Dataset(out)

    def _apply(self, values: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """Regrid an array whose last two axes are the source (y, x) dims."""
        lead = values.shape[:-2]
        flat = values.reshape(*lead, -1)
        gathered = flat[..., self.index]  # (..., n_target, k)
        if self.weights is None:
            result = np.where(self.inside, gathered[..., 0], np.nan)
        else:
            # A NaN vertex (land) makes the target NaN: no blending of land into ocean.
            result = np.sum(gathered * self.weights, axis=-1)
        return result.reshape(*lead, *self.target_shape).astype(dtype, copy=False)


def _single_threaded_blas() -> contextlib.AbstractContextManager[Any]:
    """Run LAPACK single-threaded while scipy builds the triangulation's transforms.

    scipy factorises one 2 x 2 matrix per triangle through LAPACK; with a threaded
    OpenBLAS on a busy machine each tiny call waits on the thread pool, which made
    building weights for a few hundred points take seconds instead of milliseconds.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _barycentric_weights(
    points: np.ndarray, queries: np.ndarray, in_hull: np.ndarray, lat: np.ndarray,
    lon: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices ``(n, 3)`` and barycentric weights ``(n, 3)`` of the triangle around each query.

    Weights are NaN for queries outside the triangulation or in a triangle that bridges a
    gap (see ``_LONG_EDGE_FACTOR``); the third return value says which queries are inside.
    """
    with _single_threaded_blas():
        triangulation = Delaunay(points)
        simplex = np.full(len(queries), -1)
        simplex[in_hull] = triangulation.find_simplex(queries[in_hull])
        transform = triangulation.transform
    good = _short_triangles(triangulation, lat, lon)
    inside = (simplex >= 0) & good[np.maximum(simplex, 0)]
    s = np.maximum(simplex, 0)
    # scipy's affine transform maps a point to its first two barycentric coordinates.
    b = np.einsum("nij,nj->ni", transform[s, :2, :], queries - transform[s, 2, :])
    weights = np.column_stack([b, 1.0 - b.sum(axis=1)])
    weights[~inside] = np.nan
    return triangulation.simplices[s], weights, inside


def _inside_convex_hull(points: np.ndarray, queries: np.ndarray, block: int = 65536) -> np.ndarray:
    """Whether each 2-D query point lies in the convex hull of ``points`` (or on it)."""
    equations = ConvexHull(points).equations  # rows (nx, ny, offset); inside: n.x + c <= 0
    scale = 1e-9 * (1.0 + np.abs(points).max())
    inside = np.empty(len(queries), dtype=bool)
    for start in range(0, len(queries), block):
        q = queries[start:start + block]
        inside[start:start + block] = np.all(
            q @ equations[:, :2].T + equations[:, 2] <= scale, axis=1)
    return inside


def _short_triangles(triangulation: Any, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Whether each triangle's longest edge (on the sphere) is of typical size."""
    xyz = unit_sphere(lat, lon)[triangulation.simplices]  # (n_tri, 3, 3)
    edges = np.stack([np.linalg.norm(xyz[:, i] - xyz[:, (i + 1) % 3], axis=-1)
                      for i in range(3)], axis=-1)
    longest = edges.max(axis=1)
    return longest <= _LONG_EDGE_FACTOR * np.median(longest)
