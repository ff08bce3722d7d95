"""Per-variable standardization: :class:`Normalizer` (fit / apply / invert).

The diffusion engine works on dimensionless fields ``(x - mean) / std``. The
mean is a scalar, a per-pixel field or a per-calendar-month field (a
climatology); the std is one scalar per variable, the std of the anomaly about
that mean, so every channel has unit variance. The statistics live in an
:class:`xarray.Dataset` (``norm.stats``) that round-trips through netCDF and is
stored next to a trained prior.

Only :meth:`Normalizer.fit` computes; :meth:`~Normalizer.apply`,
:meth:`~Normalizer.invert` and :meth:`~Normalizer.mean_on` stay lazy on
dask-backed data.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Literal, TypeVar

import numpy as np
import xarray as xr

from xgenda._version import __version__
from xgenda.grid import check_grid, select_time_range

T = TypeVar("T", xr.Dataset, xr.DataArray)
Climatology = Literal["month", "pixel"] | None

_CLIMATOLOGIES = ("none", "month", "pixel")
_SPATIAL = ("lat", "lon")
# Attributes that describe physical values and become wrong once normalized.
_PHYSICAL_ATTRS = ("units", "units_original", "valid_min", "valid_max", "valid_range",
                   "actual_range")

__all__ = ["Normalizer"]


class Normalizer:
    """Standardize ocean variables to zero mean and unit variance, and back.

    Build one with :meth:`fit` (or :meth:`from_dataset` / :meth:`open`); the
    statistics are the Dataset :attr:`stats`, with variables ``<var>_mean``
    (scalar, ``(lat, lon)`` or ``(month, lat, lon)``) and ``<var>_std``
    (scalar), in the physical units of the data.

    Parameters
    ----------
    stats : Dataset
        Statistics as produced by :meth:`to_dataset`.

    Examples
    --------
    >>> from xgenda.testing import ocean_dataset
    >>> ds = ocean_dataset()
    >>> norm = Normalizer.fit(ds, climatology="pixel")
    >>> dsn = norm.apply(ds)            # or ds.genda.normalize(norm)
    >>> back = norm.invert(dsn)         # or dsn.genda.denormalize(norm)
    """

    def __init__(self, stats: xr.Dataset) -> None:
        self._stats = _validated(stats)

    # -- construction -----------------------------------------------------
    @classmethod
    def fit(
        cls,
        ds: xr.Dataset | xr.DataArray,
        climatology: Climatology = None,
        time_range: tuple[Any, Any] | slice | None = None,
        variables: Sequence[str] | None = None,
    ) -> Normalizer:
        """Fit the statistics of ``ds`` (the only step that computes).

        Parameters
        ----------
        ds : Dataset or DataArray
            Training data in physical units, dims ``(..., time, lat, lon)``; a
            DataArray is fitted under its name. NaN (land, gaps) are skipped.
        climatology : {None, "month", "pixel"}
            ``None``: one scalar mean per variable. ``"pixel"``: a mean field
            ``(lat, lon)`` over every other dim. ``"month"``: a mean field for
            each calendar month ``(month, lat, lon)`` (``time.dt.month``).
            Land pixels keep a NaN mean.
        time_range : (start, end) or slice, optional
            Restrict the fit to these times (e.g. the training years,
            ``("2010", "2017")``); both ends included, as in ``.sel``.
        variables : sequence of str, optional
            Variables to fit. Default: every floating-point data variable (for
            ``"pixel"``/``"month"``, those with ``lat`` and ``lon`` dims).

        Returns
        -------
        Normalizer
        """
        kind = _check_climatology(climatology)
        ds = _as_dataset(ds, what="data to fit")
        if time_range is not None:
            ds = select_time_range(ds, time_range)
        names = _fit_variables(ds, kind, variables)

        lazy: dict[str, xr.DataArray] = {}
        for name in names:
            da = ds[name]
            mean = _fit_mean(da, kind)
            anomaly = da - _mean_on_own_grid(mean, da, kind)
            lazy[f"{name}_mean"] = mean.reset_coords(drop=True)
            lazy[f"{name}_std"] = anomaly.std().reset_coords(drop=True)
        with warnings.catch_warnings():
            # Land pixels are NaN at every time step: their mean is NaN by design.
            warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
            warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
            stats = xr.Dataset(lazy).compute()  # one compute for every statistic

        for name in names:
            stats[f"{name}_mean"].attrs = _stat_attrs(ds[name], name, kind, "mean")
            stats[f"{name}_std"].attrs = _stat_attrs(ds[name], name, kind, "std")
        for dim in _SPATIAL:
            if dim in stats.coords:
                stats[dim].attrs = dict(ds[dim].attrs)
        if "month" in stats.coords:
            stats["month"].attrs = {"long_name": "calendar month", "units": "1"}


        stats.attrs = {
            "title": "xgenda normalization statistics",
            "climatology": kind,
            "fit_time_range": _time_span(ds),
            "fit_variables": list(names),
            "xgenda_version": __version__,
            "Conventions": "CF-1.8",
        }
        return cls(stats)

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> Normalizer:
        """A Normalizer from the Dataset written by :meth:`to_dataset` (loaded into memory)."""
        return cls(ds.load())

    @classmethod
    def open(cls, path: str | os.PathLike[str], engine: str | None = None) -> Normalizer:
        """Read a Normalizer written by :meth:`to_netcdf`."""
        with xr.open_dataset(path, engine=engine) as ds:
            return cls.from_dataset(ds.load())

    def to_dataset(self) -> xr.Dataset:
        """The statistics as a Dataset (a copy; see :meth:`from_dataset`)."""
        return self._stats.copy(deep=True)

    def to_netcdf(self, path: str | os.PathLike[str], engine: str | None = None) -> None:
        """Write the statistics to a netCDF file (any xarray engine: netcdf4, scipy)."""
        ds = self.to_dataset()
        # netCDF-3 (scipy) has no list-of-strings attributes. (The scipy writer also
        # stores global attributes as Python attributes, so none may be named 'variables'.)
        ds.attrs["fit_variables"] = ",".join(self.variables)
        ds.to_netcdf(path, engine=engine)  # type: ignore[call-overload]

    # -- properties -------------------------------------------------------
    @property
    def stats(self) -> xr.Dataset:
        """The statistics Dataset (``<var>_mean``, ``<var>_std``; do not modify in place)."""
        return self._stats

    @property
    def variables(self) -> list[str]:
        """Names of the fitted variables, in fit order."""
        return list(self._stats.attrs["fit_variables"])

    @property
    def climatology(self) -> Climatology:
        """The kind of mean: ``None``, ``"month"`` or ``"pixel"``."""
        kind = self._stats.attrs["climatology"]
        return None if kind == "none" else kind

    @property
    def std(self) -> dict[str, float]:
        """Scalar std of each variable (physical units), ``{var: std}``."""
        return {v: float(self._stats[f"{v}_std"]) for v in self.variables}

    def __repr__(self) -> str:
        stds = ", ".join(f"{v}: {s:.4g}" for v, s in self.std.items())
        span = self._stats.attrs.get("fit_time_range") or "no time axis"
        return (f"<xgenda.Normalizer climatology={self.climatology!r} "
                f"fit on {span}; std {{{stds}}}>")

    # -- transforms -------------------------------------------------------
    def apply(self, obj: T) -> T:
        """Physical -> normalized: ``(x - mean) / std`` (lazy on dask).

        Parameters
        ----------
        obj : Dataset or DataArray
            Data in the fit units, dims ``(..., time, lat, lon)`` or patched
            ``(patch, ..., y, x)`` with ``lat(patch, y)``, ``lon(patch, x)``;
            extra dims (``member``...) broadcast. A Dataset must hold every
            fitted variable (others pass through unchanged); a DataArray is
            normalized as the variable of its name. ``lat``/``lon`` may be a
            subgrid of the fit grid (pixel/month climatology).

        Returns
        -------
        Dataset or DataArray
            Normalized data, attrs ``units="1"`` and ``normalized=1``.
        """
        return self._transform(obj, forward=True)

    def invert(self, obj: T) -> T:
        """Normalized -> physical: ``x * std + mean`` (lazy on dask); see :meth:`apply`."""
        return self._transform(obj, forward=False)

    def mean_on(self, like: xr.Dataset | xr.DataArray) -> xr.Dataset:
        """The fitted means broadcast onto ``like``'s ``time``/``lat``/``lon``.

        Parameters
        ----------
        like : Dataset or DataArray
            Carries the target coordinates (a grid, an L4 product, gridded
            observations). A ``"month"`` climatology needs ``time``;
            ``"pixel"``/``"month"`` need ``lat``/``lon`` on the fit grid (a subgrid
            is fine).

        Returns
        -------
        Dataset
            One variable per fitted variable, in physical units.
        """
        targets = [like.coords[c] for c in ("time", "lat", "lon") if c in like.coords]
        out = {}
        for name in self.variables:
            mean = self._mean_for(name, like, dtype=np.dtype("float64"))
            mean = xr.broadcast(mean, *targets)[0]
            order = [d for d in like.dims if d in mean.dims]
            mean = mean.transpose(*order, ...)
            mean.attrs = {k: v for k, v in self._stats[f"{name}_mean"].attrs.items()
                          if k in ("units", "standard_name", "long_name")}
            out[name] = mean
        return xr.Dataset(out, coords={c.name: c for c in targets})

    # -- internals --------------------------------------------------------
    def _transform(self, obj: T, *, forward: bool) -> T:
        if isinstance(obj, xr.DataArray):
            name = obj.name
            if name not in self.variables:
                raise ValueError(
                    f"Normalizer was fitted on {sorted(self.variables)}; DataArray is named "
                    f"{name!r}: rename it to one of them (da.rename('ssh'))"
                )
            return self._transform_one(obj, str(name), forward)
        missing = [v for v in self.variables if v not in obj.data_vars]
        if missing:
            raise ValueError(
                f"Normalizer was fitted on {sorted(self.variables)}; dataset is missing "
                f"{', '.join(repr(m) for m in missing)}"
            )
        new = {v: self._transform_one(obj[v], v, forward) for v in self.variables}
        return obj.assign(new)

    def _transform_one(self, da: xr.DataArray, name: str, forward: bool) -> xr.DataArray:
        dtype = da.dtype if np.issubdtype(da.dtype, np.floating) else np.dtype("float64")
        mean = self._mean_for(name, da, dtype=dtype)
        std = np.asarray(self._stats[f"{name}_std"].values, dtype=dtype)
        out = (da - mean) / std if forward else da * std + mean
        stat_attrs = self._stats[f"{name}_mean"].attrs
        attrs = {k: v for k, v in da.attrs.items()
                 if k not in (*_PHYSICAL_ATTRS, "normalized", "normalization")}
        if forward:
            attrs.update(units="1", normalized=1,
                         normalization=f"(x - mean) / std, {self._stats.attrs['climatology']} "
                                       "climatology")
        else:
            if "units" in stat_attrs:
                attrs["units"] = stat_attrs["units"]
            if "standard_name" in stat_attrs:
                attrs.setdefault("standard_name", stat_attrs["standard_name"])
        out.attrs = attrs
        out.encoding = {}
        return out.rename(da.name)

    def _mean_for(self, name: str, obj: xr.Dataset | xr.DataArray,
                  dtype: np.dtype[Any]) -> xr.DataArray:
        """The mean of ``name`` indexed onto ``obj``'s coordinates (broadcastable)."""
        mean = self._stats[f"{name}_mean"].astype(dtype)
        kind = self._stats.attrs["climatology"]
        if kind == "none":
            return mean.reset_coords(drop=True)
        mean = _onto_grid(mean, obj, what=f"{name!r} normalization")
        if kind == "month":
            mean = _onto_months(mean, obj, name)
        return mean


def _validated(stats: xr.Dataset) -> xr.Dataset:
    attrs = dict(stats.attrs)
    for key in ("climatology", "fit_variables"):
        if key not in attrs:
            raise ValueError(
                f"normalization statistics lack the {key!r} attribute; build them with "
                "Normalizer.fit(...) or read a file written by Normalizer.to_netcdf"
            )
    names = attrs["fit_variables"]
    names = [s for s in names.split(",") if s] if isinstance(names, str) else \
        [str(s) for s in np.atleast_1d(names)]
    attrs["fit_variables"] = names
    _check_climatology(None if attrs["climatology"] == "none" else attrs["climatology"])
    for name in names:
        for stat in ("mean", "std"):
            if f"{name}_{stat}" not in stats.data_vars:
                raise ValueError(f"normalization statistics lack {name}_{stat!s}; "
                                 f"found {sorted(map(str, stats.data_vars))}")
        _check_std(name, float(stats[f"{name}_std"]))
    out = stats.copy()
    out.attrs = attrs
    return out


def _check_climatology(climatology: Any) -> str:
    kind = "none" if climatology is None else climatology
    if kind not in _CLIMATOLOGIES:
        raise ValueError(
            f"unknown climatology {climatology!r}; expected None (one scalar mean), "
            "'pixel' (a mean per grid point) or 'month' (a mean per grid point and "
            "calendar month)"
        )
    return str(kind)


def _check_std(name: str, std: float) -> None:
    if not np.isfinite(std) or std <= 0:
        what = "zero" if std == 0 else f"non-finite ({std})"
        raise ValueError(
            f"variable {name!r} has {what} standard deviation about its mean in the fit "
            "data (constant or all-NaN field), so it cannot be normalized; leave it out "
            "with Normalizer.fit(..., variables=[...])"
        )


def _as_dataset(obj: xr.Dataset | xr.DataArray, what: str) -> xr.Dataset:
    if isinstance(obj, xr.Dataset):
        return obj
    if obj.name is None:
        raise ValueError(f"{what} is an unnamed DataArray; name it after its variable "
                         "(da.rename('ssh'))")
    return obj.to_dataset()


def _fit_variables(ds: xr.Dataset, kind: str, variables: Sequence[str] | None) -> list[str]:
    if variables is None:
        names = [str(n) for n, v in ds.data_vars.items()
                 if np.issubdtype(v.dtype, np.floating)
                 and (kind == "none" or set(_SPATIAL) <= set(v.dims))]
        if not names:
            raise ValueError(f"no floating-point variable to fit in {sorted(map(str, ds))}"
                             + ("" if kind == "none" else " with dims lat and lon"))
        return names
    if isinstance(variables, str):
        variables = [variables]
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        raise ValueError(f"variables {missing} are not in the data; found "
                         f"{sorted(map(str, ds.data_vars))}")
    for v in variables:
        if kind != "none" and not set(_SPATIAL) <= set(ds[v].dims):
            raise ValueError(f"climatology={kind!r} needs dims lat and lon; variable {v!r} "
                             f"has dims {ds[v].dims}")
    return list(variables)


def _fit_mean(da: xr.DataArray, kind: str) -> xr.DataArray:
    if kind == "none":
        return da.mean()

    check_grid(da, what=f"variable {da.name!r}")
    others = [d for d in da.dims if d not in _SPATIAL]
    if kind == "pixel":
        return da.mean(dim=others) if others else da
    if "time" not in da.dims:
        raise ValueError(
            f"climatology='month' needs a 'time' dim; variable {da.name!r} has dims "
            f"{da.dims}. Use climatology='pixel' for data without a time axis"
        )
    return da.groupby("time.month").mean(dim=others).transpose("month", *_SPATIAL)


def _mean_on_own_grid(mean: xr.DataArray, da: xr.DataArray, kind: str) -> xr.DataArray:
    if kind == "month":
        return mean.sel(month=da["time"].dt.month).drop_vars("month")
    return mean


def _stat_attrs(da: xr.DataArray, name: str, kind: str, stat: str) -> dict[str, Any]:
    label = da.attrs.get("long_name", name)
    where = {"none": "", "pixel": " at each grid point", "month": " by calendar month"}[kind]
    attrs: dict[str, Any] = {}
    if stat == "mean":
        attrs["long_name"] = f"mean of {label}{where}"
        if "standard_name" in da.attrs:
            attrs["standard_name"] = da.attrs["standard_name"]
        attrs["cell_methods"] = "time: mean" + (" within years" if kind == "month" else "")
    else:
        attrs["long_name"] = f"standard deviation of the anomaly of {label} about its mean"
    if "units" in da.attrs:
        attrs["units"] = da.attrs["units"]
    return attrs


def _time_span(ds: xr.Dataset) -> str:
    if "time" not in ds.coords or ds["time"].size == 0:
        return ""
    times = ds["time"].values.ravel()
    return f"{_time_str(times.min())}/{_time_str(times.max())}"


def _time_str(value: Any) -> str:
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value, unit="s"))
    return str(value)


def _label_indices(fit: np.ndarray, values: np.ndarray, dim: str) -> np.ndarray:
    """Positions of coordinate ``values`` on the fit coordinate ``fit`` (any shape)."""
    fit = np.asarray(fit, dtype=float)
    values = np.asarray(values, dtype=float)
    step = float(np.min(np.abs(np.diff(fit)))) if fit.size > 1 else 1.0
    pos = np.clip(np.searchsorted(fit, values), 0, fit.size - 1)
    left = np.clip(pos - 1, 0, fit.size - 1)
    nearest = np.where(np.abs(fit[left] - values) < np.abs(fit[pos] - values), left, pos)
    bad = ~(np.abs(fit[nearest] - values) <= 1e-6 * step)
    if bad.any():
        raise ValueError(
            f"the data's {dim!r} values (e.g. {values[bad].ravel()[0]:.6g}) are not on the "
            f"grid the Normalizer was fitted on ({dim} {fit[0]:.6g} .. {fit[-1]:.6g}, "
            f"{fit.size} points); regrid onto that grid or a subgrid of it first "
            f"(norm.stats.{dim} holds it)"
        )
    return nearest


def _onto_grid(mean: xr.DataArray, obj: xr.Dataset | xr.DataArray, what: str) -> xr.DataArray:
    """Select the mean field at ``obj``'s lat/lon labels (1-D grid or patched 2-D coords)."""
    for dim in _SPATIAL:
        if dim not in obj.coords:
            raise ValueError(f"{what} needs a {dim!r} coordinate to index the per-pixel mean; "
                             f"found coords {sorted(map(str, obj.coords))}")
    indexers: dict[Hashable, Any] = {}
    for dim in _SPATIAL:
        coord = obj.coords[dim]
        fit = mean[dim].values
        if coord.dims == (dim,) and coord.size == fit.size and np.array_equal(coord.values, fit):
            continue  # the fit grid itself: nothing to select
        idx = _label_indices(fit, coord.values, dim)
        indexers[dim] = xr.Variable(coord.dims, idx)
    out = mean.isel(indexers) if indexers else mean
    return out.drop_vars([c for c in _SPATIAL if c in out.coords])


def _onto_months(mean: xr.DataArray, obj: xr.Dataset | xr.DataArray,
                 name: str) -> xr.DataArray:
    """The month climatology at each of ``obj``'s times, chunked like ``obj``."""
    if "time" not in obj.coords:
        raise ValueError(f"a month climatology needs a 'time' coordinate to normalize {name!r}; "
                         f"found coords {sorted(map(str, obj.coords))}")
    months = obj.coords["time"].dt.month
    fitted = set(mean["month"].values.tolist())
    absent = sorted(set(np.unique(months.values).tolist()) - fitted)
    if absent:
        raise ValueError(
            f"the month climatology of {name!r} has no statistics for month(s) {absent}: "
            f"the fit data cover months {sorted(fitted)}; fit on data that span every month"
        )
    chunks = _time_chunks(obj)
    if chunks is None:
        return mean.sel(month=months).drop_vars("month")
    # Gather from a single-chunk dask copy so that the (time, lat, lon) field is never
    # materialized, then align its chunks with the data's.
    gathered = mean.chunk().sel(month=months).drop_vars("month")
    return gathered.chunk({"time": chunks}) if "time" in gathered.dims else gathered


def _time_chunks(obj: xr.Dataset | xr.DataArray) -> tuple[int, ...] | None:
    try:
        chunks: Mapping[Any, tuple[int, ...]] = obj.chunksizes
    except ValueError:  # a Dataset whose variables disagree on chunks
        return None
    if not chunks:
        return None
    return tuple(chunks["time"]) if "time" in chunks else None
