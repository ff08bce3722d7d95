"""Evaluation against withheld along-track altimetry (Ocean Data Challenge 2021a).

The map (the ensemble mean for an ensemble) is interpolated linearly in space and
time to the withheld track points with :func:`xgenda.regrid.sample_points`; then

- RMSE scores: the daily score ``1 - RMS(err)/RMS(obs)`` over the points of each day,
  ``mu = 1 - RMS(err)/RMS(obs)`` over all points and ``sigma`` = standard deviation of
  the daily score over days;
- the along-track PSD score: tracks are cut into segments of ``segment_km`` (1000 km
  in the ODC) of evenly spaced points, Welch spectra (Hann window, mean removed) of
  the observations and of the error are averaged over segments, and ``lambda_x`` is
  the wavelength (km) where ``1 - PSD(err)/PSD(obs)`` first falls below 0.5.

Tracks are the ``(platform, pass_number)`` groups when the observations carry them
(as :func:`xgenda.osse.observe` writes them), else runs of points without a time gap
longer than ``max_gap_s``; a track is also broken where two consecutive points are
more than twice the typical spacing apart. Segments holding a NaN (of the
observation or the interpolated map, e.g. on land or outside the map's time span)
are left out. Geometry is read from the coordinates; values stay lazy on dask.
"""

from __future__ import annotations

from typing import Any

import dask
import dask.array
import numpy as np
import scipy.signal
import xarray as xr

from xgenda.diagnostics._common import MEMBER, get_var, units_of
from xgenda.diagnostics.spectra import _first_crossing
from xgenda.grid import EARTH_RADIUS_M
from xgenda.regrid import sample_points

__all__ = ["alongtrack_psd_score", "alongtrack_rmse_scores", "alongtrack_scores",
           "sample_alongtrack", "track_segments"]


def _as_dataset(tracks: Any) -> xr.Dataset:
    if isinstance(tracks, xr.Dataset):
        return tracks
    if hasattr(tracks, "to_dataset"):  # a DataTree node
        return tracks.to_dataset()
    raise TypeError("tracks must be a point-observation Dataset (dim 'obs'; coords time, "
                    f"lat, lon) or a DataTree node holding one, got {type(tracks).__name__}")


def sample_alongtrack(obj: xr.Dataset | xr.DataArray, tracks: Any, var: str = "ssh", *,
                      time_tolerance: Any = None) -> xr.Dataset:
    """Observed and mapped values at the track points.

    Returns
    -------
    Dataset (obs,)
        ``observed`` (the withheld values) and ``mapped`` (the map or ensemble mean
        interpolated there), with the tracks' coordinates.
    """
    trk = _as_dataset(tracks)
    if "obs" not in trk.dims:
        raise ValueError(f"tracks have no 'obs' dim (dims {tuple(trk.dims)}); along-track "
                         "evaluation needs point observations")
    observed = get_var(trk, var, what="tracks")
    field = get_var(obj, var, what="map")
    if MEMBER in field.dims:
        field = field.mean(MEMBER, keep_attrs=True)
    mapped = sample_points(field, trk, time_tolerance=time_tolerance)
    out = xr.Dataset({"observed": observed.variable, "mapped": mapped.variable},
                     coords=trk.coords)
    out["observed"].attrs = {"long_name": f"withheld {var} observations", "units": units_of(observed)}
    out["mapped"].attrs = {"long_name": f"{var} map interpolated to the tracks",
                        "units": units_of(field)}
    return out


def alongtrack_rmse_scores(obj: xr.Dataset | xr.DataArray, tracks: Any, var: str = "ssh", *,
                           time_tolerance: Any = None, freq: str = "1D") -> xr.Dataset:
    """ODC 2021a RMSE scores along withheld tracks.

    Returns
    -------
    Dataset
        ``mu`` and ``sigma`` (dimensionless), ``rmse`` (units of ``var``), ``n_obs``,
        and along dim ``time`` (one per ``freq`` bin): ``score_t`` and ``rmse_t``.
    """
    pts = sample_alongtrack(obj, tracks, var, time_tolerance=time_tolerance)
    ok = pts["observed"].notnull() & pts["mapped"].notnull()
    err = (pts["mapped"] - pts["observed"]).where(ok)
    ref = pts["observed"].where(ok)
    day = xr.DataArray(pts["time"].to_index().floor(freq), dims="obs", name="time")
    rms_err_t = np.sqrt((err**2).groupby(day).mean())
    rms_ref_t = np.sqrt((ref**2).groupby(day).mean())
    score_t = 1.0 - rms_err_t / rms_ref_t
    units = units_of(pts["observed"])
    out = xr.Dataset({
        "mu": (1.0 - np.sqrt((err**2).mean()) / np.sqrt((ref**2).mean())).assign_attrs(
            long_name="along-track score mu (1 - RMS(err)/RMS(obs))", units="1"),
        "sigma": score_t.std("time").assign_attrs(
            long_name="along-track score sigma (std over days of the daily score)", units="1"),
        "rmse": np.sqrt((err**2).mean()).assign_attrs(long_name="along-track RMSE",
                                                      units=units),
        "n_obs": ok.sum().assign_attrs(long_name="points used", units="1"),
        "score_t": score_t.assign_attrs(long_name="daily along-track score", units="1"),
        "rmse_t": rms_err_t.assign_attrs(long_name="daily along-track RMSE", units=units),
    })
    return out


# ---------------------------------------------------------------------------
# segments and Welch spectra
# ---------------------------------------------------------------------------
def _distance_km(lat0: np.ndarray, lon0: np.ndarray, lat1: np.ndarray, lon1: np.ndarray
                 ) -> np.ndarray:
    p0, p1 = np.deg2rad(lat0), np.deg2rad(lat1)
    dlat, dlon = p1 - p0, np.deg2rad(lon1 - lon0)
    h = np.sin(dlat / 2) ** 2 + np.cos(p0) * np.cos(p1) * np.sin(dlon / 2) ** 2
    return 2.0 * EARTH_RADIUS_M / 1000.0 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def track_segments(tracks: Any, *, segment_km: float = 1000.0, overlap: float = 0.25,
                   max_gap_s: float | None = None) -> tuple[np.ndarray, float]:
    """Indices (along ``obs``) of the along-track segments used for Welch spectra.

    Returns
    -------
    segments : ndarray of int (n_segments, npt)
        Each row lists ``npt = int(segment_km / dx)`` consecutive points of one track.
    dx : float
        Typical (median) spacing between consecutive points, in km.

    Raises
    ------
    ValueError
        When no track is long enough for one segment.
    """
    trk = _as_dataset(tracks)
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    n = trk.sizes.get("obs", 0)
    if n < 2:
        raise ValueError(f"along-track PSD needs track points; got {n}")
    seconds = (trk["time"].values - trk["time"].values.min()) / np.timedelta64(1, "s")
    group_keys = [trk[c].values for c in ("platform", "pass_number") if c in trk.variables]
    key = np.zeros(n, dtype=np.int64)
    for values in group_keys:
        key = key * (n + 1) + np.unique(values, return_inverse=True)[1]
    order = np.lexsort((seconds, key))
    lat, lon = trk["lat"].values[order], trk["lon"].values[order]
    step = _distance_km(lat[:-1], lon[:-1], lat[1:], lon[1:])
    same = key[order][1:] == key[order][:-1]
    dt = np.diff(seconds[order])
    if not np.any(same):
        raise ValueError("every track has a single point; along-track PSD needs tracks")
    dx = float(np.median(step[same & (step > 0)])) if np.any(same & (step > 0)) else np.nan
    gap_s = max_gap_s if max_gap_s is not None else 10.0 * float(np.median(dt[same]))
    breaks = ~same | (dt > gap_s) | (step > 2.0 * dx) | (step <= 0.0)
    npt = int(segment_km / dx)
    if npt < 8:
        raise ValueError(f"segment_km={segment_km:g} km holds only {npt} points at the "
                         f"{dx:.3g} km track spacing; use segments of at least {8 * dx:.0f} km")
    starts = np.concatenate([[0], np.flatnonzero(breaks) + 1])
    ends = np.concatenate([np.flatnonzero(breaks) + 1, [n]])
    hop = max(1, int(npt * (1.0 - overlap)))
    rows = [np.arange(s0, s0 + npt) for s, e in zip(starts, ends, strict=True)
            for s0 in range(s, e - npt + 1, hop)]
    if not rows:
        longest = int((ends - starts).max())
        raise ValueError(
            f"too few points for along-track Welch segments: a segment of {segment_km:g} km "
            f"needs {npt} consecutive points at {dx:.3g} km spacing, but the longest "
            f"continuous track piece has {longest} points ({longest * dx:.0f} km). Pass a "
            "smaller segment_km (at most the domain's extent) or longer tracks")
    return order[np.stack(rows)], dx


def alongtrack_psd_score(obj: xr.Dataset | xr.DataArray, tracks: Any, var: str = "ssh", *,
                         segment_km: float = 1000.0, overlap: float = 0.25,
                         max_gap_s: float | None = None, time_tolerance: Any = None
                         ) -> xr.Dataset:
    """Along-track PSD score and its effective resolution ``lambda_x`` (km).

    Parameters
    ----------
    obj : Dataset or DataArray
        Map (dims ``time``, ``lat``, ``lon``; ensemble mean taken over ``member``).
    tracks : Dataset
        Withheld point observations of ``var`` (dim ``obs``).
    segment_km : float
        Segment length (1000 km in the ODC; smaller for small domains).
    overlap : float
        Fraction of overlap between consecutive segments of a track (0.25 in the ODC).

    Returns
    -------
    Dataset
        Along ``wavenumber`` (cycles km-1, coord ``wavelength`` in km): ``psd_obs``,
        ``psd_err``, ``psd_score``; scalars ``lambda_x`` (km) and ``n_segments``.
    """
    pts = sample_alongtrack(obj, tracks, var, time_tolerance=time_tolerance)
    segments, dx = track_segments(pts, segment_km=segment_km, overlap=overlap,
                                  max_gap_s=max_gap_s)
    npt = segments.shape[1]
    nfreq = npt // 2 + 1
    k = np.fft.rfftfreq(npt, d=dx)

    def welch(obs: np.ndarray, mapped: np.ndarray) -> np.ndarray:
        o, m = obs[segments], mapped[segments]
        keep = np.isfinite(o).all(1) & np.isfinite(m).all(1)
        if not keep.any():
            raise ValueError(f"all {len(segments)} along-track segments hold NaN (land or "
                             "points outside the map's time span); no PSD can be computed")
        _, p_obs = scipy.signal.welch(o[keep], fs=1.0 / dx, nperseg=npt, noverlap=0,
                                      window="hann", detrend="constant", axis=-1)
        _, p_err = scipy.signal.welch(m[keep] - o[keep], fs=1.0 / dx, nperseg=npt,
                                      noverlap=0, window="hann", detrend="constant", axis=-1)
        return np.stack([p_obs.mean(0), p_err.mean(0),
                         np.full(nfreq, float(keep.sum()))])

    o_data, m_data = pts["observed"].data, pts["mapped"].data
    if hasattr(o_data, "dask") or hasattr(m_data, "dask"):
        result = dask.array.from_delayed(dask.delayed(welch)(o_data, m_data), (3, nfreq),
                                         dtype=float)
    else:
        result = welch(np.asarray(o_data), np.asarray(m_data))
    units = units_of(pts["observed"])
    coords = {"wavenumber": ("wavenumber", k, {"long_name": "along-track wavenumber",
                                               "units": "cycles km-1"})}
    psd_obs = xr.DataArray(result[0], dims="wavenumber", coords=coords)
    psd_err = xr.DataArray(result[1], dims="wavenumber", coords=coords)
    score = (1.0 - psd_err / psd_obs).isel(wavenumber=slice(1, None))
    wavelength = 1.0 / score.wavenumber
    lam = xr.apply_ufunc(_first_crossing, score, wavelength,
                         input_core_dims=[["wavenumber"], ["wavenumber"]],
                         dask="parallelized", output_dtypes=[float])
    with np.errstate(divide="ignore"):
        wl = np.where(k > 0, 1.0 / np.where(k > 0, k, 1.0), np.inf)
    ds = xr.Dataset({
        "psd_obs": psd_obs.assign_attrs(long_name="along-track PSD of the observations",
                                        units=f"({units})2 km"),
        "psd_err": psd_err.assign_attrs(long_name="along-track PSD of map - observations",
                                        units=f"({units})2 km"),
        "psd_score": score.assign_attrs(long_name="along-track PSD score", units="1"),
        "lambda_x": lam.assign_attrs(long_name="along-track effective resolution "
                                     "(wavelength where the PSD score crosses 0.5)",
                                     units="km"),
        "n_segments": xr.DataArray(result[2, 0]).assign_attrs(
            long_name="segments without NaN used", units="1"),
    })
    ds = ds.assign_coords(wavelength=("wavenumber", wl, {"long_name": "wavelength",
                                                          "units": "km"}))
    ds.attrs = {"segment_km": float(segment_km), "segment_points": int(npt),
                "track_spacing_km": float(dx), "overlap": float(overlap)}
    return ds


def alongtrack_scores(obj: xr.Dataset | xr.DataArray, tracks: Any, var: str = "ssh", *,
                      segment_km: float = 1000.0, overlap: float = 0.25,
                      time_tolerance: Any = None) -> xr.Dataset:
    """The ODC 2021a leaderboard numbers: ``mu``, ``sigma`` and ``lambda_x`` (km).

    Combines :func:`alongtrack_rmse_scores` and :func:`alongtrack_psd_score`.
    """
    rmse = alongtrack_rmse_scores(obj, tracks, var, time_tolerance=time_tolerance)
    psd = alongtrack_psd_score(obj, tracks, var, segment_km=segment_km, overlap=overlap,
                               time_tolerance=time_tolerance)
    return xr.merge([rmse, psd], combine_attrs="no_conflicts")
