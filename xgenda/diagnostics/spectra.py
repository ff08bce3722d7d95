"""Power spectra, PSD scores and effective resolution (built on xrft).

Conventions
-----------
- Spectra over ``lat``/``lon`` are in cycles per km: positions are grid indices times
  the domain-mean spacing of :func:`xgenda.grid.mean_spacing_km` (``dx`` at the
  mean latitude), so a box spanning many degrees of latitude is treated as a plane
  with one spacing. The wavenumber-frequency spectrum (ODC 2020a) uses ``lon`` in
  degrees and ``time`` in days, hence cycles/degree and cycles/day.
- Normalization is a power spectral *density*: the 2-D PSD summed over all
  wavenumbers times ``dk dl`` equals the mean square of the (detrended, windowed and
  window-corrected) field (Parseval). The isotropic spectrum ``E(k)`` is ``2 pi k``
  times the azimuthal mean of the 2-D PSD, so that ``sum E dk`` recovers the same
  variance (up to the corners beyond the Nyquist circle, which are dropped).
- Before the transform each slice is detrended (a least-squares plane over the
  transformed dims, ``detrend="linear"``, or its mean, ``"constant"``) using its finite
  points only, then NaN (land, clouds) is set to 0 and a Hann window is applied.
  The PSD is divided by the windowed ocean fraction ``sum(w^2 mask) / sum(w^2)`` so
  that a partly-land box keeps the variance per ocean area. Zeros on land still leak
  some power across wavenumbers: prefer ocean-only boxes for slopes; PSD *scores*
  are ratios in which the common mask largely cancels.
- xrft needs the transformed dims in one dask chunk: they are rechunked here,
  lazily, so callers may pass data chunked along any dim.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Literal

import numpy as np
import scipy.signal
import xarray as xr
import xrft

from xgenda.diagnostics._common import (
    MEMBER,
    align_time,
    check_same_grid,
    ensemble_mean,
    get_var,
    require_dims,
    units_of,
)
from xgenda.grid import check_grid, mean_spacing_km, spacing_deg

Average = Literal["all"] | str | Sequence[str] | None
Detrend = Literal["linear", "constant"] | None

__all__ = [
    "effective_resolution",
    "isotropic_spectrum",
    "power_spectrum",
    "psd_score",
    "spectral_slope",
    "wavenumber_frequency_spectrum",
    "wavenumber_spectrum",
]

_MIN_POINTS = 4


# ---------------------------------------------------------------------------
# the one place that talks to xrft
# ---------------------------------------------------------------------------
def power_spectrum(
    da: xr.DataArray,
    steps: Mapping[str, float],
    *,
    window: str | None = "hann",
    detrend: Detrend = "linear",
    units: Mapping[str, str] | None = None,
) -> xr.DataArray:
    """Power spectral density of ``da`` over the dims of ``steps`` (lazy on dask).

    This is where xrft's requirements are met: non-index coordinates on the
    transformed dims are dropped, those dims are rechunked to one chunk, their
    coordinates are replaced by evenly spaced positions ``index * step``, NaN is
    handled (see module notes) and the window energy is corrected.

    Parameters
    ----------
    da : DataArray
        Field with the dims named in ``steps`` (any others are kept).
    steps : mapping of dim -> float
        Sample spacing along each transformed dim (in the unit the wavenumbers
        should be the inverse of: km, degrees, days).
    window : str or None
        ``scipy.signal.windows`` name (default ``"hann"``) or None.
    detrend : {"linear", "constant", None}
        Trend removed from each slice over the transformed dims, using finite points.
    units : mapping of dim -> str, optional
        Units of each ``freq_<dim>`` output coordinate (e.g. ``"cycles km-1"``).

    Returns
    -------
    DataArray
        Dims ``freq_<dim>`` (xrft naming, centred at 0) plus the untransformed dims.
    """
    dims = list(steps)
    require_dims(da, dims)
    for d in dims:
        if da.sizes[d] < _MIN_POINTS:
            raise ValueError(f"a spectrum over {d!r} needs at least {_MIN_POINTS} points; "
                             f"{da.name!r} has {da.sizes[d]}")
    clash = [c for c in da.coords if c not in dims and set(da[c].dims) & set(dims)]
    da = da.drop_vars(clash + [d for d in dims if d in da.coords])
    if da.chunks is not None:
        da = da.chunk(dict.fromkeys(dims, -1))
    da = da.assign_coords({d: np.arange(da.sizes[d]) * float(steps[d]) for d in dims})
    da = da.transpose(*[d for d in da.dims if d not in dims], *dims)

    ocean = da.notnull()
    filled = xr.apply_ufunc(
        _detrend_fill, da, kwargs={"ndim": len(dims), "kind": detrend},
        input_core_dims=[dims], output_core_dims=[dims], dask="parallelized",
        output_dtypes=[np.float64],
    ).assign_coords({d: da[d] for d in dims})

    with warnings.catch_warnings():
        # true_phase/true_amplitude are fixed by power_spectrum itself; nothing else warns
        warnings.simplefilter("ignore", FutureWarning)
        ps = xrft.power_spectrum(filled, dim=dims, detrend=None, window=window,
                                 window_correction=window is not None, scaling="density")
    weight = _window_energy(da, dims, window)
    fraction = (ocean * weight).sum(dims) / weight.sum()
    ps = ps / fraction.where(fraction > 0)
    for d in dims:
        ps[f"freq_{d}"].attrs = {"long_name": f"wavenumber along {d}",
                                 "units": (units or {}).get(d, "1")}
    return ps


def _window_energy(da: xr.DataArray, dims: list[str], window: str | None) -> xr.DataArray:
    out = xr.DataArray(1.0)
    for d in dims:
        n = da.sizes[d]
        w = scipy.signal.windows.get_window(window, n, fftbins=True) if window else np.ones(n)
        out = out * xr.DataArray(w**2, dims=d, coords={d: da[d]})
    return out


def _detrend_fill(x: np.ndarray, *, ndim: int, kind: Detrend) -> np.ndarray:
    """Remove a least-squares plane (or mean) over the last ``ndim`` axes using finite
    points only, then set non-finite points to 0."""
    core = x.shape[x.ndim - ndim:]
    flat = x.reshape((*x.shape[: x.ndim - ndim], -1)).astype(np.float64)
    ok = np.isfinite(flat)
    y = np.where(ok, flat, 0.0)
    if kind is None:
        return y.reshape(x.shape)
    if kind not in ("linear", "constant"):
        raise ValueError(f"detrend must be 'linear', 'constant' or None, got {kind!r}")
    cols = [np.ones(int(np.prod(core)))]
    if kind == "linear":
        grids = np.meshgrid(*[np.linspace(-1.0, 1.0, n) for n in core], indexing="ij")
        cols += [g.ravel() for g in grids]
    basis = np.stack(cols, axis=-1)                                   # (n, p)
    weighted = ok[..., None] * basis                                  # (..., n, p)
    normal = np.einsum("...np,nq->...pq", weighted, basis)
    rhs = np.einsum("...n,np->...p", y, basis)
    coef = np.einsum("...pq,...q->...p", np.linalg.pinv(normal), rhs)
    trend = np.einsum("...p,np->...n", coef, basis)
    return np.where(ok, y - trend, 0.0).reshape(x.shape)


def _average(ps: xr.DataArray, average: Average, keep: Sequence[Hashable]) -> xr.DataArray:
    if average is None:
        return ps
    if average == "all":
        dims = [d for d in ps.dims if d not in keep]
    else:
        dims = [average] if isinstance(average, str) else list(average)
        require_dims(ps, dims, what="spectrum")
    return ps.mean(dims, skipna=True) if dims else ps


def _even_step(da: xr.DataArray, dim: str) -> float:
    values = da[dim].values
    if np.issubdtype(values.dtype, np.datetime64):
        steps = np.diff(values) / np.timedelta64(1, "D")
    else:
        steps = np.diff(np.asarray(values, dtype=float))
    if steps.size == 0 or not np.allclose(steps, steps[0], rtol=1e-3):
        raise ValueError(f"a spectrum over {dim!r} needs evenly spaced {dim!r} values; "
                         f"{da.name!r} has steps in [{steps.min():g}, {steps.max():g}]. "
                         "Regrid or resample onto a regular axis first")
    return float(abs(steps[0]))


# ---------------------------------------------------------------------------
# public spectra
# ---------------------------------------------------------------------------
def wavenumber_spectrum(
    obj: xr.Dataset | xr.DataArray,
    var: str | None = None,
    *,
    window: str | None = "hann",
    detrend: Detrend = "linear",
    average: Average = "all",
) -> xr.DataArray:
    """2-D wavenumber PSD over ``lat``/``lon`` in cycles/km.

    Parameters
    ----------
    obj : Dataset or DataArray
        Field(s) with dims ``lat``, ``lon`` (and e.g. ``time``, ``member``).
    var : str, optional
        Variable of a Dataset.
    window, detrend
        See :func:`power_spectrum`.
    average : "all", str, sequence of str or None
        Dims to average the spectrum over; ``"all"`` (default) averages every
        dim but the wavenumbers, None keeps them all.

    Returns
    -------
    DataArray (freq_lat, freq_lon)
        PSD in ``units**2 km2``; ``sum(psd) * dk * dl`` is the field's mean square.
    """
    da = get_var(obj, var)
    check_grid(da)
    dx, dy = mean_spacing_km(da)
    _even_step(da, "lat"), _even_step(da, "lon")
    ps = power_spectrum(da, {"lat": dy, "lon": dx}, window=window, detrend=detrend,
                        units={"lat": "cycles km-1", "lon": "cycles km-1"})
    ps = _average(ps, average, keep=("freq_lat", "freq_lon"))
    ps.name = f"{da.name}_psd" if da.name is not None else "psd"
    ps.attrs = {"long_name": f"2-D wavenumber power spectral density of {da.name}",
                "units": f"({units_of(da)})2 km2", "window": str(window),
                "detrend": str(detrend)}
    return ps


def isotropic_spectrum(
    obj: xr.Dataset | xr.DataArray,
    var: str | None = None,
    *,
    window: str | None = "hann",
    detrend: Detrend = "linear",
    average: Average = "all",
    nfactor: int = 4,
) -> xr.DataArray:
    """Isotropic wavenumber spectrum ``E(k)`` over ``lat``/``lon``, k in cycles/km.

    ``E(k) = 2 pi k <PSD>_annulus`` (azimuthal mean of :func:`wavenumber_spectrum`
    in ``min(ny, nx) / nfactor`` rings, xrft's binning), truncated at the smaller
    Nyquist wavenumber, so ``sum(E) dk`` is the variance inside the Nyquist circle.

    Returns
    -------
    DataArray (freq_r)
        ``E`` in ``units**2 km``, with coordinate ``wavelength`` (km).

    Examples
    --------
    >>> import xgenda
    >>> ds = xgenda.testing.ocean_dataset(nt=2, ny=32, nx=32, land=False)
    >>> e = ds.genda.diag.isotropic_spectrum("ssh")
    >>> e.dims
    ('freq_r',)
    """
    ps = wavenumber_spectrum(obj, var, window=window, detrend=detrend, average=None)
    kmax = min(float(ps.freq_lat.max()), float(ps.freq_lon.max()))
    with warnings.catch_warnings():
        # truncate=True would drop NaN bins with .dropna (computes dask): we cut by coordinate
        warnings.simplefilter("ignore", FutureWarning)
        iso = xrft.isotropize(ps, ["freq_lat", "freq_lon"], nfactor=nfactor, truncate=False)
    iso = 2.0 * np.pi * iso
    keep = (iso.freq_r.values > 0) & (iso.freq_r.values <= kmax * (1 + 1e-9))
    iso = iso.isel(freq_r=np.flatnonzero(keep))
    iso = _average(iso, average, keep=("freq_r",))
    iso = iso.assign_coords(wavelength=("freq_r", 1.0 / iso.freq_r.values,
                                        {"long_name": "wavelength", "units": "km"}))
    iso.freq_r.attrs = {"long_name": "isotropic wavenumber", "units": "cycles km-1"}
    iso.name = ps.name
    iso.attrs = {**ps.attrs, "long_name": f"isotropic power spectral density of "
                 f"{ps.attrs['long_name'].split(' of ')[-1]}",
                 "units": ps.attrs["units"].replace("km2", "km")}
    return iso


def wavenumber_frequency_spectrum(
    obj: xr.Dataset | xr.DataArray,
    var: str | None = None,
    *,
    window: str | None = "hann",
    detrend: Detrend = "linear",
    average: Average = "all",
) -> xr.DataArray:
    """Wavenumber-frequency PSD over (``time``, ``lon``) as in ODC 2020a.

    ``lon`` is in degrees and ``time`` in days, so ``freq_lon`` is in cycles/degree
    and ``freq_time`` in cycles/day; by default the spectrum is averaged over
    ``lat`` and every other dim.

    Returns
    -------
    DataArray (freq_time, freq_lon)
        PSD in ``units**2 degree day``.
    """
    da = get_var(obj, var)
    check_grid(da, need_time=True)
    require_dims(da, ["time", "lon"])
    dlon, _ = spacing_deg(da)
    dt = _even_step(da, "time")
    _even_step(da, "lon")
    ps = power_spectrum(da, {"time": dt, "lon": dlon}, window=window, detrend=detrend,
                        units={"time": "cycles day-1", "lon": "cycles degree-1"})
    ps = _average(ps, average, keep=("freq_time", "freq_lon"))
    ps.name = f"{da.name}_psd" if da.name is not None else "psd"
    ps.attrs = {"long_name": f"wavenumber-frequency power spectral density of {da.name}",
                "units": f"({units_of(da)})2 degree day", "window": str(window),
                "detrend": str(detrend)}
    return ps


def spectral_slope(spectrum: xr.DataArray, fmin: float, fmax: float,
                   dim: str = "freq_r") -> xr.DataArray:
    """Least-squares slope of ``log10(spectrum)`` against ``log10(k)`` for fmin <= k <= fmax.

    Parameters
    ----------
    spectrum : DataArray
        A spectrum with wavenumber dim ``dim`` (e.g. from :func:`isotropic_spectrum`).
    fmin, fmax : float
        Wavenumber range, in the units of ``dim``.
    """
    k = spectrum[dim]
    sel = spectrum.isel({dim: np.flatnonzero((k.values >= fmin) & (k.values <= fmax))})
    if sel.sizes[dim] < 2:
        raise ValueError(f"fewer than 2 wavenumbers of {dim!r} lie in [{fmin:g}, {fmax:g}]; "
                         f"the spectrum covers [{float(k.min()):g}, {float(k.max()):g}]")
    logk = np.log10(sel[dim].values)

    def fit(y: np.ndarray) -> np.ndarray:
        return np.polyfit(logk, np.log10(y).T, 1)[0]

    out = xr.apply_ufunc(lambda y: fit(y.reshape(-1, y.shape[-1])).reshape(y.shape[:-1]),
                         sel, input_core_dims=[[dim]], dask="parallelized",
                         output_dtypes=[float])
    out.name = "spectral_slope"
    out.attrs = {"long_name": f"log-log slope of the spectrum in [{fmin:g}, {fmax:g}]",
                 "units": "1"}
    return out


# ---------------------------------------------------------------------------
# PSD scores and effective resolution
# ---------------------------------------------------------------------------
def _error_and_truth(obj: xr.Dataset | xr.DataArray, truth: xr.Dataset | xr.DataArray,
                     var: str | None, member: Literal["mean", "each"]
                     ) -> tuple[xr.DataArray, xr.DataArray]:
    rec = get_var(obj, var, what="reconstruction")
    tru = get_var(truth, var if var is not None else rec.name, what="truth")
    check_grid(rec, what="reconstruction")
    check_grid(tru, what="truth")
    check_same_grid(rec, tru)
    if member not in ("mean", "each"):
        raise ValueError(f"member must be 'mean' or 'each', got {member!r}")
    if MEMBER in tru.dims:
        raise ValueError("truth has a 'member' dim; the truth must be a single field")
    rec = ensemble_mean(rec) if member == "mean" else rec
    rec, tru = align_time(rec, tru)
    tru = tru.assign_coords(lat=rec.lat, lon=rec.lon)
    both = rec.notnull() & tru.notnull()
    err = (rec - tru).where(both)
    # truth shares the error's mask so that both spectra see the same land
    tru = tru.where(both)
    err.name, tru.name = rec.name, rec.name
    err.attrs = tru.attrs = {"units": units_of(rec)}
    return err, tru


def psd_score(
    obj: xr.Dataset | xr.DataArray,
    truth: xr.Dataset | xr.DataArray,
    var: str | None = None,
    *,
    kind: Literal["isotropic", "lon_time"] = "isotropic",
    member: Literal["mean", "each"] = "mean",
    fold: bool = False,
    **spectrum_kwargs: object,
) -> xr.DataArray:
    """PSD score ``1 - PSD(reconstruction - truth) / PSD(truth)``.

    Parameters
    ----------
    obj : Dataset or DataArray
        Reconstruction (dims ``lat``, ``lon``, optional ``time``, ``member``).
    truth : Dataset or DataArray
        Reference on the same grid (times are inner-joined).
    kind : {"isotropic", "lon_time"}
        Isotropic wavenumber score (k in cycles/km) or the ODC 2020a
        (``time``, ``lon``) score (cycles/day, cycles/degree), restricted to
        positive wavenumbers and frequencies (``fold=True`` sums the two
        propagation directions instead).
    member : {"mean", "each"}
        Score the ensemble mean (default), or average the error spectra of the members.
    **spectrum_kwargs
        ``window``, ``detrend``, ``average`` (and ``nfactor`` for isotropic).
    """
    err, tru = _error_and_truth(obj, truth, var, member)
    if kind == "isotropic":
        ps_err = isotropic_spectrum(err, **spectrum_kwargs)  # type: ignore[arg-type]
        ps_tru = isotropic_spectrum(tru, **spectrum_kwargs)  # type: ignore[arg-type]
    elif kind == "lon_time":
        ps_err = _quadrant(wavenumber_frequency_spectrum(err, **spectrum_kwargs), fold)  # type: ignore[arg-type]
        ps_tru = _quadrant(wavenumber_frequency_spectrum(tru, **spectrum_kwargs), fold)  # type: ignore[arg-type]
    else:
        raise ValueError(f"kind must be 'isotropic' or 'lon_time', got {kind!r}")
    if ps_err.sizes != ps_tru.sizes:
        # e.g. member='each' with average=None keeps a member dim only in the error
        ps_err, ps_tru = xr.broadcast(ps_err, ps_tru)
    score = 1.0 - ps_err / ps_tru
    score.name = "psd_score"
    score.attrs = {"long_name": "PSD score 1 - PSD(err)/PSD(truth)", "units": "1",
                   "kind": kind}
    return score


def _quadrant(ps: xr.DataArray, fold: bool) -> xr.DataArray:
    k, w = ps.freq_lon.values, ps.freq_time.values
    pos = ps.isel(freq_lon=np.flatnonzero(k > 0), freq_time=np.flatnonzero(w > 0))
    if not fold:
        return pos
    other = ps.isel(freq_lon=np.flatnonzero(k < 0)[::-1], freq_time=np.flatnonzero(w > 0))
    n = min(pos.sizes["freq_lon"], other.sizes["freq_lon"])
    other = other.isel(freq_lon=slice(0, n)).assign_coords(freq_lon=pos.freq_lon[:n])
    return pos.isel(freq_lon=slice(0, n)) + other


def effective_resolution(
    obj: xr.Dataset | xr.DataArray,
    truth: xr.Dataset | xr.DataArray,
    var: str | None = None,
    *,
    kind: Literal["isotropic", "lon_time"] = "isotropic",
    **score_kwargs: object,
) -> xr.DataArray | xr.Dataset:
    """Effective resolution: the wavelength where the PSD score crosses 0.5.

    Scanning from the largest wavelength towards smaller ones, the first fall of
    the score below 0.5 is located by linear interpolation in log-wavelength.
    When the score never drops below 0.5 the smallest resolved wavelength is
    returned (the map resolves all it can); when it starts below 0.5, NaN.

    For ``kind="lon_time"`` (ODC 2020a) the 0.5 contour of the (frequency,
    wavenumber) score is located along every row and column of the grid of
    wavelengths and the shortest spatial (degrees) and temporal (days) scales on
    it are returned.

    Returns
    -------
    DataArray
        ``effective_resolution`` in km (kind "isotropic"), lazy on dask input; or
    Dataset
        ``lambda_x`` (degree) and ``lambda_t`` (days) for kind "lon_time".
    """
    score = psd_score(obj, truth, var, kind=kind, **score_kwargs)  # type: ignore[arg-type]
    if kind == "isotropic":
        lam = xr.apply_ufunc(_first_crossing, score, score.wavelength,
                             input_core_dims=[["freq_r"], ["freq_r"]], vectorize=True,
                             dask="parallelized", output_dtypes=[float])
        lam.name = "effective_resolution"
        lam.attrs = {"long_name": "effective resolution (wavelength where the PSD score "
                     "crosses 0.5)", "units": "km"}
        return lam
    lx, lt = xr.apply_ufunc(
        _contour_minima, score, 1.0 / score.freq_time, 1.0 / score.freq_lon,
        input_core_dims=[["freq_time", "freq_lon"], ["freq_time"], ["freq_lon"]],
        output_core_dims=[[], []], vectorize=True, dask="parallelized",
        output_dtypes=[float, float],
    )
    return xr.Dataset({
        "lambda_x": lx.assign_attrs(long_name="shortest zonal wavelength resolved",
                                    units="degree"),
        "lambda_t": lt.assign_attrs(long_name="shortest period resolved", units="days"),
    })


def _interp_log(s0: float, s1: float, lam0: float, lam1: float) -> float:
    t = (s0 - 0.5) / (s0 - s1)
    return float(np.exp(np.log(lam0) + t * (np.log(lam1) - np.log(lam0))))


def _first_crossing(score: np.ndarray, wavelength: np.ndarray) -> float:
    ok = np.isfinite(score) & np.isfinite(wavelength)
    order = np.argsort(wavelength[ok])[::-1]
    s, lam = score[ok][order], wavelength[ok][order]
    if s.size == 0 or s[0] < 0.5:
        return np.nan
    below = np.flatnonzero(s < 0.5)
    if below.size == 0:
        return float(lam[-1])
    i = below[0]
    return _interp_log(s[i - 1], s[i], lam[i - 1], lam[i])


def _contour_minima(score: np.ndarray, period: np.ndarray, wavelength: np.ndarray
                    ) -> tuple[float, float]:
    xs: list[float] = []
    ts: list[float] = []
    s = score - 0.5
    for i in range(s.shape[0]):  # along wavelength at fixed period
        for j in np.flatnonzero(np.sign(s[i, :-1]) * np.sign(s[i, 1:]) < 0):
            xs.append(_interp_log(score[i, j], score[i, j + 1], wavelength[j], wavelength[j + 1]))
            ts.append(period[i])
    for j in range(s.shape[1]):  # along period at fixed wavelength
        for i in np.flatnonzero(np.sign(s[:-1, j]) * np.sign(s[1:, j]) < 0):
            ts.append(_interp_log(score[i, j], score[i + 1, j], period[i], period[i + 1]))
            xs.append(wavelength[j])
    if not xs:
        return np.nan, np.nan
    return float(np.min(xs)), float(np.min(ts))
