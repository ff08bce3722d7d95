"""Deterministic and ensemble scores against a gridded truth, per variable.

- RMSE and the Ocean Data Challenge scores (ODC 2020a): ``mu = 1 - RMS(err) / RMS(truth)``
  over the reduced dims and ``sigma`` = standard deviation over time of the daily
  score ``1 - RMS_space(err) / RMS_space(truth)``. As in the ODC, means are unweighted
  over grid points and RMS(truth) is of the field itself (pass anomalies for fields with
  a large mean, such as SST in degC, or mu will be close to 1 whatever the map).
- Ensembles (dim ``member``): mean, spread (standard deviation, ddof=1), CRPS (fair
  estimator by default), spread-skill ratio and rank histogram.

Every function takes a reconstruction and a truth (Dataset or DataArray), scores
each variable they share, and reduces over ``dims`` (default: every dim but
``member``). NaN points (land) are skipped. All functions stay lazy on dask input.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

import numpy as np
import xarray as xr

from xgenda.diagnostics._common import (
    MEMBER,
    align_time,
    as_tuple,
    check_same_grid,
    ensemble_mean,
    units_of,
)

T = TypeVar("T", xr.Dataset, xr.DataArray)

__all__ = [
    "crps",
    "ensemble_mean",
    "ensemble_spread",
    "odc_scores",
    "rank_histogram",
    "rmse",
    "scores",
    "spread_skill_ratio",
]


# ---------------------------------------------------------------------------
# pairing reconstruction and truth
# ---------------------------------------------------------------------------
def _pairs(obj: xr.Dataset | xr.DataArray, truth: xr.Dataset | xr.DataArray,
           var: str | Iterable[str] | None) -> list[tuple[Hashable, xr.DataArray, xr.DataArray]]:
    """(name, reconstruction, truth) for each variable to score, checked and aligned."""
    if isinstance(obj, xr.DataArray) and isinstance(truth, xr.DataArray):
        pairs = [(obj.name, obj, truth)]
    else:
        rec_ds = obj.to_dataset(name=obj.name or "__rec__") if isinstance(obj, xr.DataArray) \
            else obj
        tru_ds = truth.to_dataset(name=truth.name or "__truth__") \
            if isinstance(truth, xr.DataArray) else truth
        if var is None:
            names = [v for v in rec_ds.data_vars if v in tru_ds.data_vars]
            if isinstance(obj, xr.DataArray) or isinstance(truth, xr.DataArray):
                names = names or [next(iter(rec_ds.data_vars))]
            if not names:
                raise ValueError(
                    f"reconstruction (variables {sorted(map(str, rec_ds.data_vars))}) and truth "
                    f"(variables {sorted(map(str, tru_ds.data_vars))}) share no variable; "
                    "rename them or pass var=")
        else:
            names = [var] if isinstance(var, str) else list(var)
        pairs = []
        for n in names:
            for who, ds in (("reconstruction", rec_ds), ("truth", tru_ds)):
                if n not in ds.data_vars and len(ds.data_vars) != 1:
                    raise ValueError(f"{who} has no variable {n!r}; found "
                                     f"{sorted(map(str, ds.data_vars))}")
            rec = rec_ds[n] if n in rec_ds.data_vars else next(iter(rec_ds.data_vars.values()))
            tru = tru_ds[n] if n in tru_ds.data_vars else next(iter(tru_ds.data_vars.values()))
            pairs.append((n, rec, tru))
    out = []
    for name, rec, tru in pairs:
        if MEMBER in tru.dims:
            raise ValueError("truth has a 'member' dim; the truth must be a single field")
        if {"lat", "lon"} <= set(rec.dims) and {"lat", "lon"} <= set(tru.dims):
            check_same_grid(rec, tru)
            tru = tru.assign_coords(lat=rec.lat, lon=rec.lon)
        extra = set(tru.dims) - set(rec.dims)
        if extra:
            raise ValueError(f"truth of {name!r} has dims {sorted(map(str, extra))} that the "
                             f"reconstruction (dims {rec.dims}) lacks")
        rec, tru = align_time(rec, tru)
        out.append((name, rec, tru))
    return out


def _reduce_dims(da: xr.DataArray, dims: str | Iterable[str] | None) -> list[Hashable]:
    if dims is None:
        return [d for d in da.dims if d != MEMBER]
    dims = as_tuple(dims)
    missing = [d for d in dims if d not in da.dims]
    if missing:
        raise ValueError(f"cannot reduce over {missing}: {da.name!r} has dims {da.dims}")
    if MEMBER in dims:
        raise ValueError("'member' cannot be reduced over here: ensemble scores use it")
    return list(dims)


def _collect(pairs: list[tuple[Hashable, xr.DataArray, xr.DataArray]],
             fn: Callable[[xr.DataArray, xr.DataArray], xr.DataArray],
             obj: xr.Dataset | xr.DataArray, truth: xr.Dataset | xr.DataArray
             ) -> xr.Dataset | xr.DataArray:
    results = {name: fn(rec, tru) for name, rec, tru in pairs}
    if isinstance(obj, xr.DataArray) and isinstance(truth, xr.DataArray):
        return next(iter(results.values()))
    return xr.Dataset(results)


def _need_members(rec: xr.DataArray, what: str) -> int:
    if MEMBER not in rec.dims:
        raise ValueError(f"{what} needs an ensemble with a 'member' dim; {rec.name!r} has "
                         f"dims {rec.dims}")
    m = rec.sizes[MEMBER]
    if m < 2:
        raise ValueError(f"{what} needs at least 2 members, got {m}")
    return m


# ---------------------------------------------------------------------------
# deterministic scores
# ---------------------------------------------------------------------------
def rmse(obj: T, truth: xr.Dataset | xr.DataArray, var: str | None = None, *,
         dims: str | Iterable[str] | None = None) -> T:
    """Root-mean-square error of the reconstruction (ensemble mean if ``member``).

    Parameters
    ----------
    obj, truth : Dataset or DataArray
        Reconstruction and reference on the same grid (times inner-joined).
    var : str, optional
        Variable to score (default: all shared variables).
    dims : str or sequence, optional
        Dims to average over (default all but ``member``).
    """
    def one(rec: xr.DataArray, tru: xr.DataArray) -> xr.DataArray:
        err = ensemble_mean(rec) - tru
        out = np.sqrt((err**2).mean(_reduce_dims(err, dims), skipna=True))
        return out.assign_attrs(long_name=f"root-mean-square error of {rec.name}",
                                units=units_of(rec))
    return _collect(_pairs(obj, truth, var), one, obj, truth)  # type: ignore[return-value]


def odc_scores(obj: xr.Dataset | xr.DataArray, truth: xr.Dataset | xr.DataArray,
               var: str | None = None, *, dims: str | Iterable[str] | None = None
               ) -> xr.Dataset:
    """ODC ``mu`` (``1 - RMS(err)/RMS(truth)``) and ``sigma`` (std over time of the daily score).

    Returns
    -------
    Dataset
        ``<var>_mu`` and, when ``time`` is among the reduced dims, ``<var>_sigma``
        (dimensionless) per variable.
    """
    out = {}
    for name, rec, tru in _pairs(obj, truth, var):
        err = (ensemble_mean(rec) - tru)
        red = _reduce_dims(err, dims)
        mu = 1.0 - np.sqrt((err**2).mean(red)) / np.sqrt((tru.where(err.notnull())**2).mean(red))
        out[f"{name}_mu"] = mu.assign_attrs(long_name=f"ODC score mu of {name} "
                                            "(1 - RMS(err)/RMS(truth))", units="1")
        if "time" in red:
            space = [d for d in red if d != "time"]
            daily = 1.0 - np.sqrt((err**2).mean(space)) / \
                np.sqrt((tru.where(err.notnull())**2).mean(space))
            out[f"{name}_sigma"] = daily.std("time").assign_attrs(
                long_name=f"ODC score sigma of {name} (std over time of the daily score)",
                units="1")
    return xr.Dataset(out)


# ---------------------------------------------------------------------------
# ensemble statistics
# ---------------------------------------------------------------------------
def ensemble_spread(obj: T) -> T:
    """Ensemble standard deviation over ``member`` (ddof=1)."""
    if MEMBER not in obj.dims:
        raise ValueError(f"ensemble spread needs a 'member' dim; got dims {tuple(obj.dims)}")
    out = obj.std(MEMBER, ddof=1, keep_attrs=True)
    return out


def crps(obj: T, truth: xr.Dataset | xr.DataArray, var: str | None = None, *,
         dims: str | Iterable[str] | None = None, fair: bool = True) -> T:
    """Continuous ranked probability score of an ensemble (same units as the variable).

    ``CRPS = mean_i |x_i - y| - sum_ij |x_i - x_j| / (2 M (M - 1))`` with ``fair=True``
    (Ferro 2014: unbiased for the CRPS of the distribution the members are drawn from),
    or ``/ (2 M^2)`` with ``fair=False`` (the empirical-distribution CRPS of
    properscoring and xskillscore). Computed in O(M log M) from the sorted members.

    Parameters
    ----------
    obj : Dataset or DataArray
        Ensemble with dim ``member`` (at least 2 members).
    truth : Dataset or DataArray
        Reference without ``member``.
    dims : str or sequence, optional
        Dims to average the pointwise CRPS over (default all but ``member``; ``()``
        keeps the pointwise score).
    """
    def one(rec: xr.DataArray, tru: xr.DataArray) -> xr.DataArray:
        _need_members(rec, "CRPS")
        rec = rec.chunk({MEMBER: -1}) if rec.chunks is not None else rec
        point = xr.apply_ufunc(_crps_sorted, rec, tru, kwargs={"fair": fair},
                               input_core_dims=[[MEMBER], []], dask="parallelized",
                               output_dtypes=[np.float64])
        red = _reduce_dims(point, dims)
        out = point.mean(red, skipna=True) if red else point
        return out.assign_attrs(long_name=f"{'fair ' if fair else ''}CRPS of {rec.name}",
                                units=units_of(rec))
    return _collect(_pairs(obj, truth, var), one, obj, truth)  # type: ignore[return-value]


def _crps_sorted(x: np.ndarray, y: np.ndarray, *, fair: bool) -> np.ndarray:
    m = x.shape[-1]
    skill = np.abs(x - y[..., None]).mean(-1)
    xs = np.sort(x, axis=-1)
    # sum_ij |x_i - x_j| = 2 sum_i (2i - m - 1) x_(i), i = 1..m over sorted members
    weights = 2.0 * np.arange(1, m + 1) - m - 1
    pair_sum = 2.0 * (xs * weights).sum(-1)
    norm = 2.0 * m * (m - 1) if fair else 2.0 * m * m
    out = skill - pair_sum / norm
    return np.where(np.isnan(x).any(-1) | np.isnan(y), np.nan, out)


def spread_skill_ratio(obj: T, truth: xr.Dataset | xr.DataArray, var: str | None = None, *,
                       dims: str | Iterable[str] | None = None) -> T:
    """``sqrt((M+1)/M) * sqrt(mean(var_members)) / RMSE(ensemble mean)``.

    1 for a reliable ensemble (the factor corrects for the finite ensemble size M,
    Fortin et al. 2014); below 1 when the ensemble is under-dispersive.
    """
    def one(rec: xr.DataArray, tru: xr.DataArray) -> xr.DataArray:
        m = _need_members(rec, "spread-skill ratio")
        # NaN-propagating moments: land (NaN in every member) stays NaN without the
        # all-NaN-slice warnings of nan-skipping reductions
        mean = rec.mean(MEMBER, skipna=False)
        err = mean - tru
        var_m = (((rec - mean) ** 2).sum(MEMBER, skipna=False) / (m - 1)).where(err.notnull())
        red = _reduce_dims(err, dims)
        ratio = np.sqrt((m + 1) / m) * np.sqrt(var_m.mean(red)) / np.sqrt((err**2).mean(red))
        return ratio.assign_attrs(long_name=f"spread-skill ratio of {rec.name}", units="1")
    return _collect(_pairs(obj, truth, var), one, obj, truth)  # type: ignore[return-value]


# ---------------------------------------------------------------------------
# rank histogram with reproducible tie-breaking
# ---------------------------------------------------------------------------
def rank_histogram(obj: T, truth: xr.Dataset | xr.DataArray, var: str | None = None, *,
                   dims: str | Iterable[str] | None = None, seed: int = 0) -> T:
    """Rank histogram (Talagrand diagram): counts of the truth's rank among the members.

    The rank of the truth ``y`` among ``M`` members is the number of members below it;
    ties are broken uniformly at random among ``n_below .. n_below + n_equal``
    (Hamill 2001) with a draw keyed by ``seed`` and the position of each point in the
    array, so counts are identical across dask chunkings and schedulers. Points where
    the truth or any member is NaN are not counted.

    Returns
    -------
    DataArray or Dataset
        Counts (int) along dim ``rank`` = 1 .. M + 1 (xskillscore's labels), summed
        over ``dims`` (default all but ``member``).
    """
    def one(rec: xr.DataArray, tru: xr.DataArray) -> xr.DataArray:
        m = _need_members(rec, "rank histogram")
        rec = rec.chunk({MEMBER: -1}) if rec.chunks is not None else rec
        tru_b = tru.broadcast_like(rec.isel({MEMBER: 0}, drop=True))
        tru_b = tru_b.transpose(*[d for d in rec.dims if d != MEMBER])
        positions = [xr.DataArray(np.arange(tru_b.sizes[d], dtype=np.uint64), dims=d)
                     for d in tru_b.dims]
        strides = np.cumprod([1, *[tru_b.sizes[d] for d in tru_b.dims][::-1]])[:-1][::-1]
        ranks = xr.apply_ufunc(
            _ranks, rec, tru_b, *positions,
            kwargs={"seed": seed, "strides": [int(s) for s in strides]},
            input_core_dims=[[MEMBER], [], *[[] for _ in positions]],
            dask="parallelized", output_dtypes=[np.int64],
        )
        labels = xr.DataArray(np.arange(1, m + 2), dims="rank",
                              attrs={"long_name": "rank of the truth among the members"})
        red = _reduce_dims(ranks, dims)
        hist = (ranks == labels - 1).sum(red).assign_coords(rank=labels)
        return hist.assign_attrs(long_name=f"rank histogram of {rec.name}", units="count")
    return _collect(_pairs(obj, truth, var), one, obj, truth)  # type: ignore[return-value]


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _ranks(x: np.ndarray, y: np.ndarray, *pos_and_none: np.ndarray, seed: int,
           strides: list[int]) -> np.ndarray:
    index = np.zeros(np.broadcast_shapes(y.shape, *(p.shape for p in pos_and_none)),
                     dtype=np.uint64)
    for p, s in zip(pos_and_none, strides, strict=True):
        index = index + p.astype(np.uint64) * np.uint64(s)
    with np.errstate(over="ignore"):
        key = index + _splitmix64(np.asarray([seed], dtype=np.uint64))
    u = (_splitmix64(key) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    below = (x < y[..., None]).sum(-1)
    equal = (x == y[..., None]).sum(-1)
    rank = below + np.floor(u * (equal + 1)).astype(np.int64)
    bad = np.isnan(x).any(-1) | np.isnan(y)
    return np.where(bad, -1, rank)


# ---------------------------------------------------------------------------
# the tidy summary
# ---------------------------------------------------------------------------
def scores(obj: xr.Dataset | xr.DataArray, truth: xr.Dataset | xr.DataArray,
           variables: str | Iterable[str] | None = None, *,
           dims: str | Iterable[str] | None = None, fair: bool = True) -> xr.Dataset:
    """All scores of a reconstruction, one row per variable (``.to_dataframe()`` for a table).

    Returns
    -------
    Dataset (variable, ...)
        ``rmse`` (variable's units, see coord ``units``), ``mu``, ``sigma`` (when time
        is reduced) and, for ensembles, ``spread`` (mean ensemble std), ``crps``
        and ``spread_skill_ratio``. Dims not in ``dims`` are kept.
    """
    rows = []
    names = []
    units = []
    for name, rec, tru in _pairs(obj, truth, variables):
        rec.name = tru.name = name
        row = xr.Dataset({"rmse": rmse(rec, tru, dims=dims)})
        odc = odc_scores(rec, tru, dims=dims)
        row["mu"] = odc[f"{name}_mu"]
        if f"{name}_sigma" in odc:
            row["sigma"] = odc[f"{name}_sigma"]
        if MEMBER in rec.dims and rec.sizes[MEMBER] > 1:
            spread = ensemble_spread(rec).where((rec.mean(MEMBER) - tru).notnull())
            red = _reduce_dims(spread, dims)
            row["spread"] = np.sqrt((spread**2).mean(red)).assign_attrs(
                long_name="root-mean ensemble variance", units=units_of(rec))
            row["crps"] = crps(rec, tru, dims=dims, fair=fair)
            row["spread_skill_ratio"] = spread_skill_ratio(rec, tru, dims=dims)
        rows.append(row)
        names.append(str(name))
        units.append(units_of(rec))
    out = xr.concat(rows, dim="variable", join="outer", data_vars="all", coords="minimal",
                    compat="override")
    return out.assign_coords(variable=("variable", names), units=("variable", units))
