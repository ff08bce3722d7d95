"""Small synthetic datasets and helpers for tests, docs and users' own tests.

Everything here is deterministic and tiny: regular and curvilinear CF Datasets
with land (NaN), optionally dask-chunked, and :func:`raise_if_dask_computes` to
prove that an operation stays lazy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from xgenda.grid import LAT_ATTRS, LON_ATTRS, TIME_ATTRS
from xgenda.variables import VARIABLES

__all__ = [
    "analytic_field",
    "ar1_window_covariance",
    "curvilinear_dataset",
    "ocean_dataset",
    "point_observations",
    "raise_if_dask_computes",
]


@contextlib.contextmanager
def raise_if_dask_computes(max_computes: int = 0) -> Iterator[None]:
    """Context manager that raises if dask computes more than ``max_computes`` times.

    Examples
    --------
    >>> ds = ocean_dataset(chunks={"time": 1})
    >>> with raise_if_dask_computes():
    ...     out = ds + 1  # lazy: fine
    """
    import dask

    class _CountingScheduler:
        def __init__(self) -> None:
            self.count = 0

        def __call__(self, dsk, keys, **kwargs):  # type: ignore[no-untyped-def]
            self.count += 1
            if self.count > max_computes:
                raise RuntimeError(
                    f"dask computed {self.count} time(s), at most {max_computes} allowed"
                )
            return dask.get(dsk, keys, **kwargs)

    with dask.config.set(scheduler=_CountingScheduler()):
        yield


def analytic_field(lat: np.ndarray, lon: np.ndarray, t: float | np.ndarray = 0.0) -> np.ndarray:
    """A smooth analytic field used across tests: ``sin(4 lat) cos(3 lon) + 0.01 t``.

    ``lat``, ``lon`` in degrees (converted to radians inside), ``t`` in days.
    """
    lat2, lon2 = np.meshgrid(np.deg2rad(lat), np.deg2rad(lon), indexing="ij")
    base = np.sin(4 * lat2) * np.cos(3 * lon2)
    return base[None] + 0.01 * np.asarray(t, dtype=float).reshape(-1, 1, 1)


def ocean_dataset(
    nt: int = 4,
    ny: int = 16,
    nx: int = 20,
    *,
    lon: tuple[float, float] = (-65.0, -55.0),
    lat: tuple[float, float] = (33.0, 43.0),
    variables: tuple[str, ...] = ("ssh", "sst", "sss", "u", "v"),
    land: bool = True,
    seed: int = 0,
    chunks: Mapping[str, int] | None = None,
    start: str = "2020-01-01",
) -> xr.Dataset:
    """A tiny CF Dataset on a regular grid with canonical variables.

    Fields are smooth analytic patterns plus small seeded noise, scaled to
    plausible ocean values (SSH ~0.3 m, SST 10-25 degC, SSS ~35, currents ~0.5 m/s).
    With ``land=True`` a corner of the domain is NaN in every variable.

    Parameters
    ----------
    nt, ny, nx : int
        Sizes of ``time``, ``lat``, ``lon``.
    chunks : mapping, optional
        Dask chunks (e.g. ``{"time": 1}``); ``None`` gives numpy-backed data.
    """
    rng = np.random.default_rng(seed)
    dlon = (lon[1] - lon[0]) / nx
    dlat = (lat[1] - lat[0]) / ny
    lons = lon[0] + dlon * (np.arange(nx) + 0.5)
    lats = lat[0] + dlat * (np.arange(ny) + 0.5)
    times = pd.date_range(start, periods=nt, freq="D")
    base = analytic_field(lats, lons, np.arange(nt))
    scale = {"ssh": (0.0, 0.3), "sst": (18.0, 4.0), "sss": (35.5, 0.5), "u": (0.0, 0.5),
             "v": (0.0, 0.5), "uwind": (5.0, 3.0), "vwind": (0.0, 3.0)}
    data_vars = {}
    for k, name in enumerate(variables):
        offset, amp = scale.get(name, (0.0, 1.0))
        shifted = np.roll(base, k * 2, axis=-1)
        field = offset + amp * (shifted + 0.05 * rng.standard_normal(base.shape))
        if land:
            field[:, : max(1, ny // 4), : max(1, nx // 5)] = np.nan
        attrs = dict(VARIABLES[name].attrs) if name in VARIABLES else {}
        data_vars[name] = (("time", "lat", "lon"), field, attrs)
    ds = xr.Dataset(
        data_vars,
        coords={
            "time": ("time", times, TIME_ATTRS),
            "lat": ("lat", lats, LAT_ATTRS),
            "lon": ("lon", lons, LON_ATTRS),
        },
        attrs={"title": "xgenda synthetic test dataset", "Conventions": "CF-1.8"},
    )
    return ds.chunk(dict(chunks)) if chunks is not None else ds


def curvilinear_dataset(
    nt: int = 2, ny: int = 18, nx: int = 22, *, rotation_deg: float = 10.0, seed: int = 0
) -> xr.Dataset:
    """A tiny Dataset on a rotated (curvilinear) grid with 2-D ``lat``/``lon`` coords.

    Dims are ``(time, y, x)``; ``ssh`` is :func:`analytic_field` evaluated at the
    2-D positions (no noise), so regridded values can be checked against the formula.
    """
    del seed  # deterministic; the argument keeps the signature of ocean_dataset
    j, i = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    th = np.deg2rad(rotation_deg)
    x = (i - nx / 2) * 0.5
    y = (j - ny / 2) * 0.5
    lon2d = -60.0 + np.cos(th) * x - np.sin(th) * y
    lat2d = 38.0 + np.sin(th) * x + np.cos(th) * y
    times = pd.date_range("2020-01-01", periods=nt, freq="D")
    lat_r, lon_r = np.deg2rad(lat2d), np.deg2rad(lon2d)
    ssh = np.stack([np.sin(4 * lat_r) * np.cos(3 * lon_r) + 0.01 * t for t in range(nt)])
    return xr.Dataset(
        {"ssh": (("time", "y", "x"), ssh, dict(VARIABLES["ssh"].attrs))},
        coords={
            "time": ("time", times, TIME_ATTRS),
            "lat": (("y", "x"), lat2d, LAT_ATTRS),
            "lon": (("y", "x"), lon2d, LON_ATTRS),
        },
    )


def point_observations(
    ds: xr.Dataset, n: int = 200, *, var: str = "ssh", error: float = 0.02, seed: int = 0,
    platform: str = "synthetic",
) -> xr.Dataset:
    """Random point observations inside ``ds``'s domain and time span (dim ``obs``).

    Values are NaN-free samples of :func:`analytic_field` (exact, no noise), so
    interpolation can be checked against the formula; ``<var>_error`` is ``error``.
    """
    rng = np.random.default_rng(seed)
    lat = rng.uniform(float(ds.lat.min()), float(ds.lat.max()), n)
    lon = rng.uniform(float(ds.lon.min()), float(ds.lon.max()), n)
    t0 = ds.time.values[0]
    span = (ds.time.values[-1] - t0) / np.timedelta64(1, "s")
    secs = np.sort(rng.uniform(0, span, n))
    time = t0 + (secs * 1e9).astype("timedelta64[ns]")
    days = secs / 86400.0
    lat_r, lon_r = np.deg2rad(lat), np.deg2rad(lon)
    value = np.sin(4 * lat_r) * np.cos(3 * lon_r) + 0.01 * days
    attrs = dict(VARIABLES[var].attrs) if var in VARIABLES else {}
    err_attrs = {"long_name": f"{var} observation error standard deviation",
                 "units": attrs.get("units", "1")}
    out = xr.Dataset(
        {
            var: ("obs", value, attrs),
            f"{var}_error": ("obs", np.full(n, error), err_attrs),
            "platform": ("obs", np.full(n, platform)),
        },
        coords={"time": ("obs", time), "lat": ("obs", lat, LAT_ATTRS),
                "lon": ("obs", lon, LON_ATTRS)},
        attrs={"genda_obs": "points"},
    )
    return out


class GaussianDenoiser:
    """Exact denoiser of a Gaussian prior ``N(mean, cov)`` of states (C, H, W).

    ``D(x, sigma) = mean + cov (cov + sigma^2 I)^-1 (x - mean)`` on flattened states,
    through the eigendecomposition of ``cov``. Differentiable (torch), picklable
    (the torch copies are rebuilt per process), usable with
    :meth:`xgenda.Prior.from_denoiser` to test guidance against Kalman posteriors.

    Parameters
    ----------
    cov : ndarray (n, n)
        Covariance of the flattened state, ``n = C * H * W``.
    mean : ndarray (n,), optional
        Mean of the flattened state (default 0).
    """

    def __init__(self, cov: np.ndarray, mean: np.ndarray | None = None) -> None:
        cov = np.asarray(cov, dtype=np.float64)
        self.cov = 0.5 * (cov + cov.T)
        self.mean = np.zeros(len(cov)) if mean is None else np.asarray(mean, np.float64)
        lam, vec = np.linalg.eigh(self.cov)
        self._eig = (np.clip(lam, 0.0, None), vec)
        self._torch: dict = {}

    def __getstate__(self) -> dict:
        return {"cov": self.cov, "mean": self.mean, "_eig": self._eig, "_torch": {}}

    def __call__(self, x, sigma):  # type: ignore[no-untyped-def]
        import torch

        key = (str(x.device), x.dtype)
        if key not in self._torch:
            lam, vec = self._eig
            # normal tensors even when first called under inference mode: the cache is
            # reused by guided (differentiated) calls
            with torch.inference_mode(False):
                self._torch[key] = tuple(torch.as_tensor(a, device=x.device, dtype=x.dtype)
                                         for a in (lam, vec, self.mean))
        lam, vec, mean = self._torch[key]
        batch = x.shape[0]
        s2 = torch.as_tensor(sigma, device=x.device, dtype=x.dtype).reshape(-1, 1) ** 2
        coef = lam / (lam + s2)
        flat = x.reshape(batch, -1) - mean
        return ((flat @ vec) * coef @ vec.T + mean).reshape(x.shape)

    def posterior(self, operator: np.ndarray, y: np.ndarray,
                  error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact (Kalman) posterior mean (n,) and covariance (n, n) given ``y = H x + e``.

        Parameters
        ----------
        operator : ndarray (m, n)
            Linear observation matrix ``H``.
        y, error : ndarray (m,)
            Observations and error standard deviations.
        """
        h = np.asarray(operator, dtype=np.float64)
        s = self.cov
        innovation_cov = h @ s @ h.T + np.diag(np.asarray(error, np.float64) ** 2)
        gain = np.linalg.solve(innovation_cov, h @ s).T
        mean = self.mean + gain @ (np.asarray(y, np.float64) - h @ self.mean)
        cov = s - gain @ h @ s
        return mean, 0.5 * (cov + cov.T)


def gaussian_covariance(ny: int, nx: int, length: float, variance: float = 1.0,
                        nugget: float = 1e-4) -> np.ndarray:
    """Squared-exponential covariance (ny*nx, ny*nx) of a field on a pixel grid.

    ``variance * exp(-d^2 / (2 length^2))`` with ``d`` in pixels, plus ``nugget``
    times the variance on the diagonal (keeps it well conditioned).
    """
    j, i = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    pos = np.stack([j.ravel(), i.ravel()], axis=1).astype(float)
    d2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1)
    return variance * (np.exp(-0.5 * d2 / length**2) + nugget * np.eye(ny * nx))


def ar1_window_covariance(frames: int, correlation: float, space: np.ndarray) -> np.ndarray:
    """Covariance of ``frames`` consecutive days of an AR(1)-in-time field, frame-major.

    ``cov[(f, p), (g, q)] = correlation^|f - g| space[p, q]``: each day is
    ``N(0, space)`` and day ``f + 1`` is ``correlation`` times day ``f`` plus
    independent innovation (stationary). Flattened index ``f * n + p``.

    Parameters
    ----------
    frames : int
        Number of days K.
    correlation : float
        Lag-one correlation, in (-1, 1).
    space : ndarray (n, n)
        Covariance of one day (e.g. :func:`gaussian_covariance`).
    """
    lags = np.abs(np.arange(frames)[:, None] - np.arange(frames)[None, :])
    return np.kron(float(correlation) ** lags, np.asarray(space, dtype=np.float64))


def gaussian_prior(size: int = 8, *, length: float = 2.5, variable: str = "ssh",
                   mean: float = 0.0, std: float = 1.0, res_deg: float = 0.25,
                   lat0: float = 35.0, lon0: float = -60.0, frames: int = 1,
                   correlation: float = 0.0):  # type: ignore[no-untyped-def]
    """A one-variable :class:`xgenda.Prior` with an exact Gaussian denoiser.

    The normalized state on a ``size`` x ``size`` patch is ``N(0, K)`` with ``K`` from
    :func:`gaussian_covariance`; physical values are ``mean + std * x``. With
    ``frames > 1`` the prior is a window prior of that many consecutive days of an
    AR(1)-in-time field with lag-one ``correlation``
    (:func:`ar1_window_covariance`).

    Returns
    -------
    prior : Prior
        From :meth:`xgenda.Prior.from_denoiser`, one variable, ``size`` x ``size``
        patches at ``res_deg`` spacing starting at (``lat0``, ``lon0``).
    denoiser : GaussianDenoiser
        The prior's denoiser (for its covariance and :meth:`~GaussianDenoiser.posterior`).
    """
    from xgenda.normalize import Normalizer
    from xgenda.prior import Prior

    units = VARIABLES[variable].units if variable in VARIABLES else "1"
    stats = xr.Dataset(
        {f"{variable}_mean": ((), float(mean), {"units": units}),
         f"{variable}_std": ((), float(std), {"units": units})},
        attrs={"climatology": "none", "fit_variables": [variable]},
    )
    cov = gaussian_covariance(size, size, length)
    if frames != 1:
        cov = ar1_window_covariance(frames, correlation, cov)
    denoiser = GaussianDenoiser(cov)
    lat = lat0 + res_deg * (np.arange(size) + 0.5)
    lon = lon0 + res_deg * (np.arange(size) + 0.5)
    prior = Prior.from_denoiser(denoiser, [variable], Normalizer(stats), size,
                                (res_deg, res_deg), lat=lat, lon=lon, frames=frames)
    return prior, denoiser
