"""GenDA's sampler: DDIM on the variance-preserving cosine schedule of SDA.

GenDA (Martin et al. 2025) samples with the VP process of score-based data
assimilation (Rozet & Louppe 2023)::

    x_t = mu(t) x0 + sigma(t) eps,   mu(t) = cos^2(w t),  w = acos(sqrt(eta)),
    sigma(t) = sqrt(1 - mu(t)^2 + eta^2),       t from 1 to 0,

whose EDM-equivalent noise level is ``s = sigma / mu`` (1000 at t = 1 for
``eta = 1e-3``). An EDM denoiser ``D`` gives the noise estimate
``eps = (x / mu - D(x / mu, s)) mu / sigma`` and each of the ``steps`` uniform
steps in ``t`` is the deterministic DDIM update::

    x <- r x + (sigma(t - dt) - r sigma(t)) eps,   r = mu(t - dt) / mu(t).

Guidance enters through the denoiser: SDA's ``eps~ = eps - sigma grad_x log p`` is
the same as using the guided denoiser ``D + s^2 grad log p`` of
:func:`xgenda.diffusion.guidance.sda` (with ``gamma = 0.1`` in GenDA), so
:func:`genda_sample` takes any (guided) EDM denoiser.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from xgenda.config import GendaDDIM
from xgenda.diffusion.sampling import Denoiser

__all__ = ["genda_sample", "vp_schedule"]


def vp_schedule(eta: float = GendaDDIM.eta) -> tuple[Callable[[torch.Tensor], torch.Tensor],
                                            Callable[[torch.Tensor], torch.Tensor]]:
    """``mu(t)`` and ``sigma(t)`` of the VP cosine schedule (t in [0, 1]).

    Parameters
    ----------
    eta : float
        Smallest signal scale (``mu(1) = eta``) and noise floor (``sigma(0) = eta``).
    """
    if not 0 < eta < 1:
        raise ValueError(f"eta must lie in (0, 1), got {eta}")
    w = math.acos(math.sqrt(eta))

    def mu(t: torch.Tensor) -> torch.Tensor:
        return torch.cos(w * t) ** 2

    def sigma(t: torch.Tensor) -> torch.Tensor:
        return (1 - mu(t) ** 2 + eta**2).sqrt()

    return mu, sigma


def genda_sample(denoise: Denoiser, noise: torch.Tensor, steps: int = GendaDDIM.steps,
                 eta: float = GendaDDIM.eta, progress: bool = False) -> torch.Tensor:
    """Sample with GenDA's DDIM sampler from an EDM-style (guided) denoiser.

    Parameters
    ----------
    denoise : callable
        ``denoise(x (B, C, H, W), s 0-d Tensor) -> E[x0 | x0 + s n]`` (EDM convention);
        guided or not.
    noise : Tensor (B, C, H, W)
        Standard normal draws; the initial VP state is ``sigma(1) noise``.
    steps : int
        Uniform steps in ``t`` from 1 to 0 (GenDA: 256).
    eta : float
        Schedule parameter (GenDA: 1e-3).
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    Tensor (B, C, H, W)
        The VP state at ``t = 0`` (``mu(0) = 1``), as GenDA returns it.
    """
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    mu, sigma = vp_schedule(eta)
    times = torch.linspace(1.0, 0.0, int(steps) + 1, dtype=torch.float64)
    indices = range(int(steps))
    if progress:
        indices = tqdm(indices, desc="sampling (GenDA DDIM)", unit="step")
    dtype, device = noise.dtype, noise.device
    with torch.no_grad():
        x = noise * sigma(times[0]).to(dtype)
        for i in indices:
            t, t_next = times[i], times[i + 1]
            m, s = mu(t), sigma(t)
            m_next, s_next = mu(t_next), sigma(t_next)
            level = (s / m).to(device=device, dtype=dtype)
            x0 = denoise(x / m.to(dtype), level)
            eps = (x - m.to(dtype) * x0) / s.to(dtype)
            r = m_next / m
            x = r.to(dtype) * x + (s_next - r * s).to(dtype) * eps
    return x
