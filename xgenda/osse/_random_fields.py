"""Smooth random fields that move and evolve in time (clouds, mapping errors).

Fields are drawn in Fourier space on a grid padded by a few correlation lengths
(so the periodic wrap-around of the FFT does not correlate opposite edges), then each
day's Fourier coefficients follow an AR(1) process, multiplied by a phase ramp
that translates the field: ``c[t+1] = rho * shift * c[t] + sqrt(1 - rho^2) * xi[t+1]``.
Stationary, unit variance, with correlation length ``length_km``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import fft


def evolving_field(
    nt: int,
    ny: int,
    nx: int,
    dx_km: float,
    dy_km: float,
    rng: np.random.Generator,
    *,
    length_km: float,
    lifetime_days: float = np.inf,
    velocity_km_day: tuple[float, float] = (0.0, 0.0),
    dt_days: float = 1.0,
    spectrum: Literal["gaussian", "matern"] = "gaussian",
) -> np.ndarray:
    """Unit-variance random fields, array (nt, ny, nx).

    Parameters
    ----------
    nt, ny, nx : int
        Number of times and grid size.
    dx_km, dy_km : float
        Grid spacing in km.
    length_km : float
        Correlation length (km): ``exp(-r^2 / length^2)`` for the Gaussian spectrum,
        the scale of a smooth but ragged Matern-like (power law k^-4) spectrum otherwise.
    lifetime_days : float
        e-folding time of the AR(1) evolution (inf: frozen pattern that only moves).
    velocity_km_day : (float, float)
        Eastward and northward drift of the pattern (km per day).
    dt_days : float
        Time between consecutive fields (days).
    """
    # Pad by a few correlation lengths (at most doubling the domain) so that opposite
    # edges of the periodic FFT grid are uncorrelated.
    py = fft.next_fast_len(ny + min(ny, int(np.ceil(4 * length_km / dy_km))), real=True)
    px = fft.next_fast_len(nx + min(nx, int(np.ceil(4 * length_km / dx_km))), real=True)
    ky = np.fft.fftfreq(py, d=dy_km)[:, None]  # cycles per km
    kx = np.fft.rfftfreq(px, d=dx_km)[None, :]
    k2 = (2 * np.pi) ** 2 * (kx**2 + ky**2)
    kx_full = np.fft.fftfreq(px, d=dx_km)[None, :]
    k2_full = (2 * np.pi) ** 2 * (kx_full**2 + ky**2)
    if spectrum == "gaussian":
        amplitude, full = (np.exp(-k * length_km**2 / 8.0) for k in (k2, k2_full))
    elif spectrum == "matern":
        amplitude, full = (1.0 / (1.0 + k * length_km**2) for k in (k2, k2_full))
    else:
        raise ValueError(f"spectrum must be 'gaussian' or 'matern', got {spectrum!r}")
    # Variance of irfft2(A * rfft2(white)) is sum(A^2) / N over the full grid: normalise to one.
    amplitude = amplitude / np.sqrt(np.sum(full**2) / (py * px))
    rho = float(np.exp(-dt_days / lifetime_days)) if np.isfinite(lifetime_days) else 1.0
    innovation = np.sqrt(max(1.0 - rho**2, 0.0))
    shift = rho * np.exp(
        -2j * np.pi * (kx * velocity_km_day[0] + ky * velocity_km_day[1]) * dt_days)
    out = np.empty((nt, ny, nx))
    coeff = fft.rfft2(rng.standard_normal((py, px)))
    for t in range(nt):
        if t > 0:
            coeff *= shift
            if innovation > 0:
                coeff += innovation * fft.rfft2(rng.standard_normal((py, px)))
        out[t] = fft.irfft2(amplitude * coeff, s=(py, px))[:ny, :nx]
    return out
