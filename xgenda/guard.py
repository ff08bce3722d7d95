"""Out-of-distribution guard: are these data what the prior was trained on?

A diffusion prior only knows the statistics of its training data. Observations
from another region, season, product or unit convention are still "assimilated",
and the result is confident nonsense (an ensemble far from the observations, with
a spread that does not cover the error). Before any computation,
:func:`check_distribution` compares the data with the prior's training
statistics and says what is wrong, with the numbers:

- per observed variable, the observations' offset from the prior's climatology
  (robust: median of ``(y - mean) / std``, in prior standard deviations) and their
  variance ratio (robust variance of the anomalies, less the observation error
  variance, over the prior variance);
- the template's region (against the normalizer's grid or the prior's reference
  patch) and season (against the normalizer's fit period).

Grid spacing and variables are checked by :func:`xgenda.assimilate` itself (errors).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from xgenda.config import QC_THRESHOLD
from xgenda.obs.compile import AnalysisGrid
from xgenda.obs.qc import (
    Innovations,
    QualityControl,
    _caller_level,
    as_quality_control,
    innovations,
    quality_control,
)

__all__ = ["DistributionShift", "GuardLimits", "OutOfDistributionError", "check_distribution",
           "screen"]


class DistributionShift(UserWarning):
    """The data are not what the prior was trained on (``strict=True`` makes it an error)."""


class OutOfDistributionError(ValueError):
    """Raised instead of :class:`DistributionShift` with ``strict=True``."""


@dataclass(frozen=True)
class GuardLimits:
    """Thresholds of the guard.

    Parameters
    ----------
    offset : float
        Largest accepted |median normalized anomaly| (prior standard deviations).
    variance_ratio : (float, float)
        Accepted range of the anomalies' variance over the prior variance.
    region_margin_deg : float
        How far (degrees) the template may extend beyond the training region.
    min_values : int
        Fewer observations of a variable than this are not judged.
    """

    offset: float = 1.0
    variance_ratio: tuple[float, float] = (0.2, 2.5)
    region_margin_deg: float = 5.0
    min_values: int = 20


_ADVICE = ("if the data are right, the prior does not describe them: fit a Normalizer on a "
           "climatology of this region and period (prior.with_normalizer("
           "xgenda.Normalizer.fit(...))), or fine-tune or train a prior for it "
           "(xgenda.train); if they are wrong, fix their units or values. Pass strict=True "
           "to make this an error")


def anomaly_statistics(table: Sequence[Innovations]) -> dict[str, dict[str, float]]:
    """Per variable: ``n``, ``offset`` and ``variance_ratio`` of the observations.

    ``offset`` is the median of ``(y - b) / s_b`` (prior standard deviations, robust to
    the gross errors that quality control removes). ``variance_ratio`` compares the
    observations' variance, less their error variance, with the prior's at the same
    places and times, climatology included: ``(var(y) - median(s_o^2)) / (var(b) +
    median(s_b^2))``, where ``var(y)`` leaves out values more than 5 scaled median
    absolute deviations from the median. A field scaled by ``k`` gives about ``k^2``.
    """
    out: dict[str, dict[str, float]] = {}
    for variable in sorted({t.variable for t in table}):
        parts = [t for t in table if t.variable == variable and t.position.size]
        if not parts:
            continue
        d = np.concatenate([t.innovation for t in parts])
        b = np.concatenate([t.background for t in parts])
        sb = np.concatenate([t.spread for t in parts])
        so = np.concatenate([t.error for t in parts])
        ok = np.isfinite(d) & np.isfinite(b) & (sb > 0)
        d, b, sb, so = d[ok], b[ok], sb[ok], so[ok]
        if d.size == 0:
            continue
        y = d + b
        mad = 1.4826 * np.median(np.abs(y - np.median(y)))
        clean = y[np.abs(y - np.median(y)) <= 5 * mad] if mad > 0 else y
        ratio = (np.var(clean) - np.median(so**2)) / (np.var(b) + np.median(sb**2))
        out[variable] = {"n": int(d.size), "offset": float(np.median(d / sb)),
                         "variance_ratio": float(max(ratio, 0.0))}
    return out


def check_distribution(prior: Any, template: Any, table: Sequence[Innovations], *,
                       strict: bool = False, limits: GuardLimits | None = None
                       ) -> dict[str, Any]:
    """Warn (or raise, ``strict``) when the data are far from the prior's training data.

    Parameters
    ----------
    prior : Prior
        Its normalizer (climatology, fit period, grid) and reference patch.
    template : Dataset or DataArray
        The analysis ``time``, ``lat``, ``lon``.
    table : sequence of Innovations
        Innovations of the observations against the prior's climatology (before
        quality control), :func:`xgenda.obs.qc.innovations`.
    strict : bool
        Raise :class:`OutOfDistributionError` instead of warning.
    limits : GuardLimits, optional

    Returns
    -------
    dict
        ``statistics`` (per variable) and ``problems`` (list of str), also recorded in
        the output attrs of :func:`xgenda.assimilate`.
    """
    limits = limits or GuardLimits()
    stats = anomaly_statistics(table)
    problems = []
    for variable, st in stats.items():
        if st["n"] < limits.min_values:
            continue
        low, high = limits.variance_ratio
        if abs(st["offset"]) > limits.offset:
            problems.append(
                f"{variable} observations are offset from the prior's climatology by "
                f"{st['offset']:+.2f} prior standard deviations (median of {st['n']}; "
                f"accepted: within +-{limits.offset:g})")
        if not low <= st["variance_ratio"] <= high:
            problems.append(
                f"{variable} observations vary {st['variance_ratio']:.2f} times as much "
                f"(variance) as the prior's fields at the same places and times (accepted: "
                f"{low:g} to {high:g})")
    problems += _region(prior, template, limits.region_margin_deg)
    problems += _season(prior, template)
    if problems:
        message = ("the data are outside what the prior was trained on: " +
                   "; ".join(problems) + ". " + _ADVICE[0].upper() + _ADVICE[1:])
        if strict:
            raise OutOfDistributionError(message)
        warnings.warn(message, DistributionShift, stacklevel=_caller_level())
    return {"statistics": stats, "problems": problems}


def screen(sets: Sequence[Any], summary: list[dict[str, Any]], grid: AnalysisGrid,
           times: Any, prior: Any, template: Any, qc: Any = QC_THRESHOLD, strict: bool = False
           ) -> tuple[list[Any], list[dict[str, Any]], dict[str, Any]]:
    """The guard, then quality control, of routed observation sets (values are read).

    Returns the sets with rejected values set to NaN, the routing summary completed
    per set with ``rejected``, ``used`` (after quality control), ``innovation_mean``,
    ``innovation_std`` and ``units`` (physical, against the background), and the
    guard's report.
    """
    control = as_quality_control(qc)
    table = innovations(sets, grid, times, prior.normalizer) if sets else []
    report = check_distribution(prior, template, table, strict=strict)
    if control is not None and control.first_guess is not None:
        table = innovations(sets, grid, times, prior.normalizer, control.first_guess)
    out, stats = quality_control(sets, table, control or QualityControl(np.inf))
    for info, st in zip(summary, stats, strict=True):
        info["used"] = max(info.get("used", info["kept"]) - st["rejected"], 0)
        info.update(rejected=st["rejected"], qc_threshold=None if control is None else
                    float(control.threshold),
                    **{k: st[k] for k in ("innovation_mean", "innovation_std", "units")})
    report["qc_threshold"] = None if control is None else float(control.threshold)
    return out, summary, report


def check_template_times(template: Any) -> None:
    """Refuse duplicated or unsorted analysis times (each would be computed as given)."""
    times = np.asarray(template["time"].values)
    if times.size > 1 and not (times[1:] > times[:-1]).all():
        dup = pd.Index(times)[pd.Index(times).duplicated()]
        what = (f"duplicated times ({', '.join(map(str, dup[:3]))})" if dup.size
                else "times out of order")
        raise ValueError(f"the template has {what}; analysis times must be strictly "
                         "increasing: use template.drop_duplicates('time').sortby('time')")


def check_not_all_land(land: Any) -> Any:
    """The land mask (H, W), refused when it covers every pixel (lazily if dask-backed)."""
    if hasattr(land, "map_blocks") and not isinstance(land, np.ndarray):
        return land.rechunk(-1).map_blocks(_refuse_all_land, dtype=bool)
    return _refuse_all_land(land)


def _refuse_all_land(land: np.ndarray) -> np.ndarray:
    if np.asarray(land).all():
        raise ValueError("the template's data are NaN everywhere at its first time, so every "
                         "pixel counts as land and nothing would be computed; give a "
                         "template whose ocean pixels are finite (e.g. zeros), or one without "
                         "data variables (xgenda.grid.regular(..., time=...))")
    return land


def _training_box(prior: Any) -> tuple[float, float, float, float] | None:
    stats = prior.normalizer.to_dataset()
    if "lat" in stats.coords and "lon" in stats.coords:
        lat, lon = stats["lat"].values, stats["lon"].values
    elif "lat" in prior.config and "lon" in prior.config:
        lat, lon = np.asarray(prior.config["lat"]), np.asarray(prior.config["lon"])
    else:
        return None
    return float(np.min(lat)), float(np.max(lat)), float(np.min(lon)), float(np.max(lon))


def _region(prior: Any, template: Any, margin: float) -> list[str]:
    box = _training_box(prior)
    if box is None:
        return []
    lat = np.asarray(template["lat"].values, dtype=float)
    lon = np.asarray(template["lon"].values, dtype=float)
    s, n, w, e = box
    if lat.min() < s - margin or lat.max() > n + margin or lon.min() < w - margin or \
            lon.max() > e + margin:
        return [f"the template ({lat.min():.2f} to {lat.max():.2f} N, {lon.min():.2f} to "
                f"{lon.max():.2f} E) lies outside the training region ({s:.2f} to {n:.2f} "
                f"N, {w:.2f} to {e:.2f} E) by more than {margin:g} degrees"]
    return []


def _season(prior: Any, template: Any) -> list[str]:
    span = prior.normalizer.to_dataset().attrs.get("fit_time_range")
    times = np.asarray(template["time"].values)
    if not span or "/" not in str(span) or not np.issubdtype(times.dtype, np.datetime64):
        return []
    start, stop = (pd.Timestamp(t) for t in str(span).split("/"))
    if stop - start >= pd.Timedelta(days=365):
        return []  # every season was seen
    seen = pd.date_range(start.normalize(), stop.normalize(), freq="D").day_of_year
    doy = pd.DatetimeIndex(times).day_of_year
    outside = ~np.isin(np.minimum(doy, 365), np.minimum(seen, 365))
    if outside.any():
        return [f"{int(outside.sum())} of {doy.size} analysis times fall in a season the "
                f"prior was not trained on (training period {start:%Y-%m-%d} to "
                f"{stop:%Y-%m-%d})"]
    return []
