"""Predictor-corrector sampling: EDM steps followed by Langevin corrections.

After each predictor step to the noise level ``sigma`` (Heun or Euler on the
Karras schedule, :func:`xgenda.diffusion.sampling.edm_sample`), ``corrector_steps``
Langevin Monte-Carlo steps at that level pull the state towards the (guided)
distribution of ``x0 + sigma n`` (Song et al. 2021; SDA's corrector)::

    eps = (x - D(x, sigma)) / sigma,   delta = tau / mean(eps^2),
    x <- x - delta sigma eps + sqrt(2 delta) sigma z,     z ~ N(0, I)

(``-eps / sigma`` is the score). ``delta`` adapts per sample so that ``tau`` is a
signal-to-noise ratio independent of the noise level.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from tqdm.auto import tqdm

from xgenda.diffusion.sampling import Denoiser, NoiseSource, edm_sample

__all__ = ["langevin_correct", "pc_sample"]


def _draw(generator: torch.Generator | NoiseSource | None, like: torch.Tensor) -> torch.Tensor:
    if callable(generator) and not isinstance(generator, torch.Generator):
        return generator(tuple(like.shape)).to(device=like.device, dtype=like.dtype)
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


def langevin_correct(denoise: Denoiser, x: torch.Tensor, sigma: torch.Tensor, steps: int,
                     tau: float = 0.1,
                     generator: torch.Generator | NoiseSource | None = None) -> torch.Tensor:
    """``steps`` Langevin corrections of ``x`` (B, C, H, W) at noise level ``sigma``.

    Parameters
    ----------
    denoise : callable
        ``denoise(x, sigma)`` (guided or not).
    sigma : 0-d Tensor
        Noise level (> 0).
    tau : float
        Step size as a signal-to-noise ratio (> 0).
    generator : torch.Generator or callable, optional
        Source of the Langevin noise (a callable ``(shape) -> Tensor`` for per-sample
        seeding).
    """
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    dims = tuple(range(1, x.ndim))
    with torch.no_grad():
        for _ in range(int(steps)):
            eps = (x - denoise(x, sigma)) / sigma
            delta = tau / eps.square().mean(dim=dims, keepdim=True).clamp_min(1e-12)
            z = _draw(generator, x)
            x = x - delta * sigma * eps + (2 * delta).sqrt() * sigma * z
    return x


def pc_sample(denoise: Denoiser, noise: torch.Tensor, sigmas: torch.Tensor,
              corrector_steps: int = 1, tau: float = 0.1,
              solver: Literal["heun", "euler"] = "heun", churn: float = 0.0,
              generator: torch.Generator | NoiseSource | None = None,
              progress: bool = False) -> torch.Tensor:
    """EDM sampling with Langevin corrector steps after each step with ``sigma > 0``.

    Parameters
    ----------
    denoise : callable
        ``denoise(x, sigma)`` (guided or not).
    noise : Tensor (B, C, H, W)
        Standard normal draws (the sampler multiplies them by ``sigmas[0]``).
    sigmas : Tensor (steps + 1,)
        Noise levels ending with 0 (:func:`~xgenda.diffusion.sampling.karras_sigmas`).
    corrector_steps : int
        Langevin steps after each predictor step (0: plain :func:`edm_sample`).
    tau : float
        Langevin step size (signal-to-noise ratio).
    solver, churn
        As in :func:`~xgenda.diffusion.sampling.edm_sample` (``churn`` is the total
        over all steps).
    generator : torch.Generator or callable, optional
        Source of churn and Langevin noise.
    """
    if corrector_steps < 0:
        raise ValueError(f"corrector_steps must be >= 0, got {corrector_steps}")
    if corrector_steps == 0:
        return edm_sample(denoise, noise, sigmas, solver=solver, churn=churn,
                          generator=generator, progress=progress)
    sigmas = sigmas.to(device=noise.device, dtype=noise.dtype)
    steps = sigmas.numel() - 1
    indices = range(steps)
    if progress:
        indices = tqdm(indices, desc="sampling (predictor-corrector)", unit="step")
    x = noise * sigmas[0]
    for i in indices:
        s, s_next = sigmas[i], sigmas[i + 1]
        # one predictor step; churn per step is the same as in a full edm_sample run
        x = edm_sample(denoise, x / s, sigmas[i:i + 2], solver=solver,
                       churn=min(churn / steps, math.sqrt(2.0) - 1.0), generator=generator)
        if float(s_next) > 0:
            x = langevin_correct(denoise, x, s_next, corrector_steps, tau, generator)
    return x
