"""Quality control of observations: gross errors rejected before guidance, and counted.

Operational assimilation checks each observation's *innovation* ``d = y - b``
against what the background ``b`` allows: with background spread ``s_b`` and
observation error ``s_o``, an observation whose normalized innovation

    |d| / sqrt(s_b^2 + s_o^2)

exceeds a threshold is a gross error (a spike, a wrong unit, a misplaced track)
and is rejected. Here the background is the prior's climatology: its normalizer
mean (per pixel and month where it was fitted so) and its standard deviation,
or, given, a first-guess ensemble (its member mean and spread). Rejected values
are set to NaN in the routed observation sets, so no analysis uses them; the
counts and the innovation statistics (physical units) go into the summary that
:func:`xgenda.assimilate` writes into its output attrs.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import xarray as xr

from xgenda.config import QC_THRESHOLD
from xgenda.grid import wrap_lon
from xgenda.obs.collect import ObservationSet, to_days
from xgenda.obs.compile import AnalysisGrid, _values_and_errors
from xgenda.variables import units_of

__all__ = ["Innovations", "QualityControl", "innovations", "quality_control"]

#: A warning is raised when a set loses more than this fraction of its values.
REJECTED_WARNING = 0.1


@dataclass(frozen=True)
class QualityControl:
    """Settings of the gross-error check (``assimilate(..., qc=QualityControl(...))``).

    Parameters
    ----------
    threshold : float
        Largest accepted normalized innovation ``|y - b| / sqrt(s_b^2 + s_o^2)``
        (dimensionless, default 5: a clean Gaussian observation is rejected with
        probability 6e-7).
    first_guess : Dataset, optional
        An ensemble (dims ``member``, ``time``, ``lat``, ``lon``; the prior's
        variables in physical units) on the analysis grid, e.g. an unconditional
        or earlier ensemble: its member mean and spread replace the climatology
        (nearest time).
    """

    threshold: float = QC_THRESHOLD
    first_guess: xr.Dataset | None = None

    def __post_init__(self) -> None:
        if isinstance(self.threshold, bool) or not float(self.threshold) > 0:
            raise ValueError(f"the quality-control threshold must be a positive number of "
                             f"standard deviations, got {self.threshold!r}")
        fg = self.first_guess
        if fg is not None and (not isinstance(fg, xr.Dataset) or "member" not in fg.dims):
            raise ValueError("first_guess must be an ensemble Dataset with a 'member' dim "
                             "(e.g. the output of xgenda.assimilate)")


def as_quality_control(qc: Any) -> QualityControl | None:
    """``None`` (off), a threshold, or a :class:`QualityControl`."""
    if qc is None or isinstance(qc, QualityControl):
        return qc
    if isinstance(qc, (int, float, np.integer, np.floating)) and not isinstance(qc, bool):
        return QualityControl(threshold=float(qc))
    raise TypeError(f"qc must be None (no quality control), a threshold in standard "
                    f"deviations or an xgenda.obs.qc.QualityControl, got {qc!r}")


@dataclass(frozen=True)
class Innovations:
    """Innovations of one variable of one observation set (finite, in-domain values).

    Attributes
    ----------
    set_index : int
        Position of the set.
    variable : str
    position : ndarray of int
        Flat positions of the values in the set's ``variable`` (dims ``obs``, or
        ``time, lat, lon`` for gridded sets).
    innovation : ndarray
        ``y - b`` (physical units of the variable).
    background : ndarray
        ``b`` (physical units).
    spread : ndarray
        Background spread ``s_b`` (physical units).
    error : ndarray
        Observation error ``s_o`` (physical units).
    total : int
        Values of the variable in the set (routed).
    nan : int
        Of these, NaN (never used).
    """

    set_index: int
    variable: str
    position: np.ndarray
    innovation: np.ndarray
    background: np.ndarray
    spread: np.ndarray
    error: np.ndarray
    total: int
    nan: int

    @property
    def normalized(self) -> np.ndarray:
        """Normalized innovations ``d / sqrt(s_b^2 + s_o^2)``."""
        return self.innovation / np.sqrt(self.spread**2 + self.error**2)


def _nearest(axis: np.ndarray, values: np.ndarray) -> np.ndarray:
    if axis.size == 1:
        return np.zeros(values.shape, np.int64)
    return np.clip(np.rint(np.interp(values, axis, np.arange(axis.size))), 0,
                   axis.size - 1).astype(np.int64)


def _background(normalizer: Any, grid: AnalysisGrid, times: Any, variable: str,
                first_guess: xr.Dataset | None) -> tuple[np.ndarray, np.ndarray]:
    """Background mean and spread (T, H, W) of ``variable`` at the analysis times."""
    shape = (len(np.atleast_1d(times)), *grid.shape)
    if first_guess is not None and variable in first_guess:
        fg = first_guess[variable].sel(time=np.atleast_1d(times), method="nearest")
        fg = fg.transpose("member", "time", "lat", "lon")
        mean = np.asarray(fg.mean("member").values, dtype=np.float64)
        spread = np.asarray(fg.std("member", ddof=1).values, dtype=np.float64) \
            if fg.sizes["member"] > 1 else np.zeros(shape)
        return np.broadcast_to(mean, shape), np.broadcast_to(spread, shape)
    like = xr.Dataset(coords={"time": ("time", np.atleast_1d(times)),
                              "lat": ("lat", grid.lat), "lon": ("lon", grid.lon)})
    mean = normalizer.mean_on(like)[variable]
    mean = mean.expand_dims([d for d in ("time", "lat", "lon") if d not in mean.dims])
    mean = np.asarray(mean.transpose("time", "lat", "lon").values, dtype=np.float64)
    spread = np.full(shape, float(normalizer.std[variable]))
    return np.broadcast_to(mean, shape), spread


def innovations(sets: Sequence[ObservationSet], grid: AnalysisGrid, times: Any,
                normalizer: Any, first_guess: xr.Dataset | None = None) -> list[Innovations]:
    """Innovations of every variable the normalizer knows, in every set (values are read).

    Each observation is compared with the background at the nearest analysis time
    and the nearest grid pixel; values outside the grid are left out (counted by
    :func:`~xgenda.obs.compile.route`).
    """
    days = to_days(np.atleast_1d(times))
    order = np.argsort(days)
    out = []
    for k, s in enumerate(sets):
        for v in s.variables:
            if v not in normalizer.variables:
                continue  # e.g. a total current of a decomposed state: no climatology
            mean, spread = _background(normalizer, grid, np.atleast_1d(times)[order], v,
                                       first_guess)
            out.append(_one(k, s, v, grid, days[order], mean, spread))
    return out


def _one(k: int, s: ObservationSet, v: str, grid: AnalysisGrid, days: np.ndarray,
         mean: np.ndarray, spread: np.ndarray) -> Innovations:
    ds = s.data
    if s.kind == "points":
        values, errors = _values_and_errors(s, v, ds)
        lat = np.asarray(ds["lat"].values, dtype=np.float64)
        lon = np.asarray(ds["lon"].values, dtype=np.float64)
        t = to_days(ds["time"].values)
        inside = grid.contains(lat, lon)
    else:
        names = [v] + ([f"{v}_error"] if f"{v}_error" in ds else [])
        sub = ds[names]
        if "time" not in sub[v].dims:
            sub = sub.expand_dims("time")
        sub = sub.transpose("time", "lat", "lon", ...)
        values, errors = _values_and_errors(s, v, sub)
        lat1 = np.asarray(sub["lat"].values, dtype=np.float64)
        lon1 = np.asarray(sub["lon"].values, dtype=np.float64)
        t1 = to_days(np.atleast_1d(sub["time"].values))
        t, lat, lon = (a.reshape(-1) for a in np.meshgrid(t1, lat1, lon1, indexing="ij"))
        values, errors = values.reshape(-1), errors.reshape(-1)
        inside = grid.contains(lat, lon)
    finite = np.isfinite(values)
    position = np.flatnonzero(finite & inside)
    it = _nearest(days, t[position])
    ii = _nearest(grid.lat, lat[position])
    jj = _nearest(grid.lon, wrap_lon(lon[position]))
    background = mean[it, ii, jj]
    err = np.where(np.isfinite(errors[position]), errors[position], 0.0)
    return Innovations(k, v, position, values[position] - background, background,
                       spread[it, ii, jj], err,
                       int(values.size), int((~finite).sum()))


def quality_control(sets: Sequence[ObservationSet], table: Sequence[Innovations],
                    qc: QualityControl) -> tuple[list[ObservationSet], list[dict[str, Any]]]:
    """Reject gross errors: their values become NaN in the returned sets.

    Parameters
    ----------
    sets : sequence of ObservationSet
        Routed sets.
    table : sequence of Innovations
        Their innovations (:func:`innovations`).
    qc : QualityControl

    Returns
    -------
    sets : list of ObservationSet
        With rejected values set to NaN.
    stats : list of dict
        Per set: ``checked`` (finite, in-domain values compared with the background),
        ``rejected``, ``nan`` (NaN values), ``innovation_mean`` and ``innovation_std``
        (per variable, physical units, of the accepted values) and ``units``.
    """
    out = list(sets)
    stats: list[dict[str, Any]] = [
        {"checked": 0, "rejected": 0, "nan": 0, "innovation_mean": {}, "innovation_std": {},
         "units": {}} for _ in sets]
    for inn in table:
        s = out[inn.set_index]
        z = inn.normalized
        bad = np.isfinite(z) & (np.abs(z) > qc.threshold)
        info = stats[inn.set_index]
        info["checked"] += int(inn.position.size)
        info["rejected"] += int(bad.sum())
        info["nan"] += inn.nan
        kept = inn.innovation[~bad & np.isfinite(inn.innovation)]
        info["innovation_mean"][inn.variable] = float(kept.mean()) if kept.size else None
        info["innovation_std"][inn.variable] = float(kept.std()) if kept.size > 1 else None
        info["units"][inn.variable] = str(_units(inn.variable))
        if bad.any():
            out[inn.set_index] = replace(s, data=_without(s, inn.variable,
                                                          inn.position[bad]))
        if inn.position.size and bad.mean() > REJECTED_WARNING:
            d = inn.innovation[bad]
            warnings.warn(
                f"quality control rejected {int(bad.sum())} of {inn.position.size} "
                f"{inn.variable!r} observations of {s.name!r} ({100 * bad.mean():.0f} %): "
                f"their innovations (observation minus the prior's climatology) reach "
                f"{np.abs(d).max():.3g} {_units(inn.variable)} against a spread of "
                f"{float(np.median(inn.spread)):.3g}; check the units and values of these "
                f"observations (a wrong unit such as cm labelled m looks like this), or "
                f"raise the threshold (qc={qc.threshold:g}) if the prior's climatology "
                "does not describe this region", UserWarning, stacklevel=_caller_level())
    return out, stats


def _caller_level() -> int:
    """``stacklevel`` of the first frame outside xgenda: the warning points at user code."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("xgenda"):
        frame, level = frame.f_back, level + 1
    return level


def _units(variable: str) -> str:
    return units_of(variable)


def _without(s: ObservationSet, variable: str, flat: np.ndarray) -> xr.Dataset:
    """The set's data with the values at flat positions ``flat`` set to NaN."""
    ds = s.data
    da = ds[variable]
    if s.kind == "points":
        dims: tuple[str, ...] = ("obs",)
    else:
        dims = ("time", "lat", "lon") if "time" in da.dims else ("lat", "lon")
    ordered = da.transpose(*dims, ...)
    mask = np.zeros(ordered.shape, dtype=bool).reshape(-1)
    mask[flat] = True
    keep = xr.DataArray(~mask.reshape(ordered.shape), dims=ordered.dims)
    values = ordered.where(keep).transpose(*da.dims).astype(np.result_type(da.dtype,
                                                                          np.float32))
    return ds.assign({variable: values.assign_attrs(da.attrs)})
