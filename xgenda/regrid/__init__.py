"""Regridding onto regular lat/lon grids, and sampling gridded fields at point observations.

:func:`regrid` (``ds.genda.regrid(target)``) moves fields from a regular or curvilinear
source grid onto the 1-D ``lat``/``lon`` grid of any target object, with one of two
backends:

- ``"xesmf"``: ESMF weights on the sphere (any source grid, every method). xesmf and
  ESMF come from conda-forge (``conda install -c conda-forge xesmf``), so this backend
  is optional.
- ``"native"``: maintained pure-Python libraries. Regular sources use xarray's
  ``interp`` (bilinear), nearest-index lookup (nearest) and xarray-regrid's overlap
  weights (conservative); curvilinear sources use scipy (k-d tree on the sphere for
  nearest, Delaunay barycentric weights for bilinear).

Each algorithm has its own module behind this front: :mod:`xgenda.regrid.regular`,
:mod:`xgenda.regrid.curvilinear`, :mod:`xgenda.regrid.esmf` (xesmf, imported only when
used), :mod:`xgenda.regrid.points` (sampling at points) and the shared pieces in
:mod:`xgenda.regrid.common`.

``backend="auto"`` takes xesmf when it imports and the native backend otherwise.
:class:`Regridder` computes the weights once for a source/target pair and applies them
to any number of fields. Both stay lazy on dask input (chunk along ``time``/``member``;
the spatial dims are rechunked to one chunk).

:func:`sample_points` (``ds.genda.sample_points(obs)``) is the locstream counterpart:
values of a gridded field interpolated at point observations along dim ``obs``.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Literal, TypeVar, overload

import numpy as np
import xarray as xr

from xgenda.grid import check_grid
from xgenda.regrid.curvilinear import CurvilinearRegridder
from xgenda.regrid.esmf import XesmfRegridder
from xgenda.regrid.points import sample_points
from xgenda.regrid.regular import RegularRegridder

__all__ = ["BACKENDS", "METHODS", "Regridder", "regrid", "sample_points", "xesmf_available"]

METHODS = ("bilinear", "nearest", "conservative")
"""Regridding methods."""
BACKENDS = ("auto", "xesmf", "native")
"""Regridding backends."""

T = TypeVar("T", xr.Dataset, xr.DataArray)


def xesmf_available() -> bool:
    """Whether xesmf (and ESMF underneath it) can be imported."""
    try:
        import xesmf  # noqa: F401
    except ImportError:
        return False
    return True


def source_grid_dims(obj: xr.Dataset | xr.DataArray) -> tuple[Hashable, Hashable] | None:
    """The ``(y, x)`` dims of a curvilinear grid (2-D ``lat``/``lon``), or None if regular.

    Raises the errors of :func:`xgenda.grid.check_grid` for grids that are neither.
    """
    lat, lon = obj.coords.get("lat"), obj.coords.get("lon")
    if lat is not None and lon is not None and lat.ndim == 2 and lon.ndim == 2:
        if lat.dims != lon.dims:
            raise ValueError(
                f"curvilinear source has 'lat' on dims {lat.dims} but 'lon' on dims "
                f"{lon.dims}; 2-D lat/lon must share the same two dims, e.g. ('y', 'x')"
            )
        if min(lat.shape) < 2:
            raise ValueError(f"curvilinear source grid has shape {lat.shape}; need >= 2 x 2")
        return lat.dims
    check_grid(obj, what="source")
    return None


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


class Regridder:
    """Regridding weights from one source grid to one target grid, reusable on many fields.

    Parameters
    ----------
    source_grid : Dataset or DataArray
        Anything on the source grid: 1-D ascending ``lat``/``lon`` (degrees north /
        east) or 2-D ``lat``/``lon`` coordinates on two dims such as ``(y, x)``.
    target_grid : Dataset or DataArray
        Anything with 1-D ascending ``lat``/``lon`` coordinates, e.g.
        :func:`xgenda.grid.regular`. Its longitudes may use either the -180..180 or
        the 0..360 convention; the output carries the target's own values.
    method : {"bilinear", "nearest", "conservative"}
        ``bilinear``: linear in lat and lon between the surrounding source points;
        ``nearest``: value of the nearest source point; ``conservative``: area-weighted
        mean of the overlapping source cells, NaN (land) cells left out of the mean.
    backend : {"auto", "xesmf", "native"}
        ``auto`` picks xesmf when it imports, else the native backend.
    **kwargs
        Options of :class:`xesmf.Regridder` for the xesmf backend (the native backend
        takes none).

    Notes
    -----
    Target points outside the source domain are NaN; a target entirely outside it is an
    error. With the native backend ``bilinear`` is NaN beyond the outermost source cell
    centres, ``nearest`` beyond the outermost cell edges and ``conservative`` where a
    target cell's centre lies beyond the outermost source centres; a target cell partly
    over the edge averages its covered part. ``bilinear`` and ``nearest`` give NaN next to
    NaN source points (land is not blended into ocean). Conservative regridding of
    curvilinear sources needs the xesmf backend. The weights are built from the grid
    coordinates, so dask-backed 2-D ``lat``/``lon`` coordinates are loaded (once, when
    the Regridder is built); the data stay lazy.

    Examples
    --------
    >>> import xgenda
    >>> ds = xgenda.testing.ocean_dataset()
    >>> target = xgenda.grid.regular(lon=(-64, -56), lat=(34, 42), res_deg=0.5)
    >>> regridder = Regridder(ds, target, method="bilinear", backend="native")
    >>> regridder(ds).ssh.sizes["lat"]
    16
    """

    def __init__(
        self,
        source_grid: xr.Dataset | xr.DataArray,
        target_grid: xr.Dataset | xr.DataArray,
        method: Literal["bilinear", "nearest", "conservative"] = "bilinear",
        backend: Literal["auto", "xesmf", "native"] = "auto",
        **kwargs: Any,
    ) -> None:
        _check_choice("method", method, METHODS)
        _check_choice("backend", backend, BACKENDS)
        if not isinstance(target_grid, xr.Dataset | xr.DataArray):
            raise TypeError(
                f"target must be an xarray Dataset or DataArray with 1-D 'lat'/'lon' "
                f"(e.g. xgenda.grid.regular(...)), got {type(target_grid).__name__}"
            )
        check_grid(target_grid, what="target grid")
        self.source_dims = source_grid_dims(source_grid)
        self.method = method
        self.backend = ("xesmf" if xesmf_available() else "native") if backend == "auto" \
            else backend
        self._source_lat = source_grid["lat"].copy(deep=False)
        self._source_lon = source_grid["lon"].copy(deep=False)
        target_lat, target_lon = target_grid["lat"], target_grid["lon"]
        self.target_grid = xr.Dataset(coords={"lat": target_lat.variable,
                                              "lon": target_lon.variable})
        self._impl = self._build(target_lat, target_lon, kwargs)

    @property
    def curvilinear(self) -> bool:
        """Whether the source grid is curvilinear (2-D ``lat``/``lon``)."""
        return self.source_dims is not None

    def _build(self, target_lat: xr.DataArray, target_lon: xr.DataArray,
               kwargs: dict[str, Any]) -> Any:
        if self.backend == "xesmf":
            return XesmfRegridder(self._source_lat, self._source_lon, target_lat, target_lon,
                                  self.method, **kwargs)
        if kwargs:
            raise TypeError(f"the native backend takes no extra options; got {sorted(kwargs)}")
        if self.curvilinear:
            return CurvilinearRegridder(self._source_lat, self._source_lon, target_lat,
                                        target_lon, self.method)
        return RegularRegridder(self._source_lat.values, self._source_lon.values, target_lat,
                                target_lon, self.method)

    @overload
    def __call__(self, obj: xr.Dataset) -> xr.Dataset: ...

    @overload
    def __call__(self, obj: xr.DataArray) -> xr.DataArray: ...

    def __call__(self, obj: xr.Dataset | xr.DataArray) -> xr.Dataset | xr.DataArray:
        """Regrid ``obj``, which must be on this regridder's source grid.

        Parameters
        ----------
        obj : Dataset or DataArray
            Fields on the source grid, e.g. dims ``(time, lat, lon)`` or ``(time, y, x)``.

        Returns
        -------
        Dataset or DataArray
            Same type, spatial dims replaced by the target ``lat``/``lon`` (CF attrs);
            variables without spatial dims and non-spatial coordinates kept; attrs and
            floating dtypes kept. Dask input gives dask output, nothing computed.
        """
        self._check_same_grid(obj)
        return self._impl(obj)

    def _check_same_grid(self, obj: xr.Dataset | xr.DataArray) -> None:
        for name, ref in (("lat", self._source_lat), ("lon", self._source_lon)):
            c = obj.coords.get(name)
            if c is None or c.shape != ref.shape or not np.allclose(
                    np.asarray(c.values, float), np.asarray(ref.values, float), equal_nan=True):
                raise ValueError(
                    f"object's {name!r} coordinate differs from the source grid this Regridder "
                    "was built for; build a new Regridder (or call xgenda.regrid.regrid) for "
                    "data on another grid"
                )

    def __repr__(self) -> str:
        kind = "curvilinear" if self.curvilinear else "regular"
        src = "x".join(map(str, self._source_lat.shape if self.curvilinear
                           else (self._source_lat.size, self._source_lon.size)))
        tgt = f"{self.target_grid.sizes['lat']}x{self.target_grid.sizes['lon']}"
        return (f"Regridder(method={self.method!r}, backend={self.backend!r}, "
                f"{kind} {src} -> regular {tgt})")


@overload
def regrid(obj: xr.Dataset, target: xr.Dataset | xr.DataArray, method: str = ...,
           backend: str = ..., **kwargs: Any) -> xr.Dataset: ...


@overload
def regrid(obj: xr.DataArray, target: xr.Dataset | xr.DataArray, method: str = ...,
           backend: str = ..., **kwargs: Any) -> xr.DataArray: ...


def regrid(
    obj: xr.Dataset | xr.DataArray,
    target: xr.Dataset | xr.DataArray,
    method: Literal["bilinear", "nearest", "conservative"] | str = "bilinear",
    backend: Literal["auto", "xesmf", "native"] | str = "auto",
    **kwargs: Any,
) -> xr.Dataset | xr.DataArray:
    """Regrid ``obj`` onto the ``lat``/``lon`` grid of ``target``.

    Parameters
    ----------
    obj : Dataset or DataArray
        Fields with dims e.g. ``(time, lat, lon)`` on a regular grid (1-D ascending
        ``lat`` in degrees north, ``lon`` in degrees east) or ``(time, y, x)`` with 2-D
        ``lat``/``lon`` coordinates (curvilinear). May be dask-backed.
    target : Dataset or DataArray
        Carries the target 1-D ``lat``/``lon`` (e.g. :func:`xgenda.grid.regular`); its
        data and other coordinates are ignored.
    method : {"bilinear", "nearest", "conservative"}
        See :class:`Regridder`.
    backend : {"auto", "xesmf", "native"}
        See :class:`Regridder`.
    **kwargs
        Options of :class:`xesmf.Regridder` (xesmf backend only).

    Returns
    -------
    Dataset or DataArray
        Same type as ``obj`` on the target grid; lazy when ``obj`` is dask-backed.
        Points outside the source domain are NaN (see :class:`Regridder`).

    Raises
    ------
    ValueError
        Unknown method or backend; source or target without usable ``lat``/``lon``;
        target entirely outside the source domain.
    NotImplementedError
        Conservative regridding of a curvilinear source with the native backend.
    ImportError
        ``backend="xesmf"`` without xesmf installed.

    Examples
    --------
    >>> import xgenda
    >>> ds = xgenda.testing.ocean_dataset()
    >>> coarse = xgenda.grid.regular(lon=(-65, -55), lat=(33, 43), res_deg=1.0)
    >>> out = ds.genda.regrid(coarse, method="conservative", backend="native")
    >>> out.ssh.dims
    ('time', 'lat', 'lon')
    """
    return Regridder(obj, target, method=method, backend=backend, **kwargs)(obj)  # type: ignore[arg-type]
