"""Smooth random fields that move and evolve in time (clouds, mapping errors).

Fields are drawn in Fourier space on a grid padded to twice the domain (so the
periodic wrap-around of the FFT does not correlate opposite edges), then each
day's Fourier coefficients follow an AR(1) process, multiplied by a phase ramp
that translates the field: ``c[t+1] = rho * shift * c[t] + sqrt(1 - rho^2) * xi[t+1]``.
Stationary, unit variance, with correlation length ``length_km``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np


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
    py, px = 2 * ny, 2 * nx
    ky = np.fft.fftfreq(py, d=dy_km)[:, None]  # cycles per km
    kx = np.fft.fftfreq(px, d=dx_km)[None, :]
    k2 = (2 * np.pi) ** 2 * (kx**2 + ky**2)
    if spectrum == "gaussian":
        amplitude = np.exp(-k2 * length_km**2 / 8.0)
    elif spectrum == "matern":
        amplitude = 1.0 / (1.0 + k2 * length_km**2)
    else:
        raise ValueError(f"spectrum must be 'gaussian' or 'matern', got {spectrum!r}")
    # Variance of ifft2(A * fft2(white)) is sum(A^2) / N: normalise to one.
    amplitude = amplitude / np.sqrt(np.sum(amplitude**2) / (py * px))
    rho = float(np.exp(-dt_days / lifetime_days)) if np.isfinite(lifetime_days) else 1.0
    innovation = np.sqrt(max(1.0 - rho**2, 0.0))
    shift = np.exp(-2j * np.pi * (kx * velocity_km_day[0] + ky * velocity_km_day[1]) * dt_days)
    out = np.empty((nt, ny, nx))
    coeff = np.fft.fft2(rng.standard_normal((py, px)))
    for t in range(nt):
        if t > 0:
            coeff = rho * shift * coeff
            if innovation > 0:
                coeff = coeff + innovation * np.fft.fft2(rng.standard_normal((py, px)))
        out[t] = np.fft.ifft2(amplitude * coeff).real[:ny, :nx]
    return out
