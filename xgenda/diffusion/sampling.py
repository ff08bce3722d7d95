"""Noise schedule and ODE/SDE samplers of EDM (Karras et al. 2022).

The sampler is independent of the network: it takes any callable
``denoise(x, sigma)`` that returns an estimate of ``E[x0 | x_sigma]`` (the EDM
denoiser, a guided denoiser, an analytic Gaussian one) and integrates the
probability-flow ODE

    dx / dsigma = (x - D(x, sigma)) / sigma

from ``sigma_max`` down to 0 on the Karras schedule, with Euler or Heun steps and
optional stochastic "churn" (Karras et al. 2022, Algorithm 2), or with the
multistep DPM-Solver++(2M) (Lu et al. 2022), one evaluation per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch

__all__ = ["Denoiser", "NoiseSource", "dpm_solver_2m", "edm_sample", "karras_sigmas"]

#: ``denoise(x [B, C, H, W], sigma 0-d tensor) -> [B, C, H, W]`` estimate of ``E[x0 | x]``.
Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: ``noise(shape) -> Tensor`` of standard normal draws, for per-sample seeded churn noise.
NoiseSource = Callable[[tuple[int, ...]], torch.Tensor]


def karras_sigmas(
    steps: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 7.0,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Noise levels of the Karras et al. (2022) schedule, with a final 0.

    ``sigma_i = (s_max^(1/rho) + i / (steps - 1) (s_min^(1/rho) - s_max^(1/rho)))^rho``
    for ``i = 0 .. steps - 1``, then ``sigma_steps = 0``.

    Parameters
    ----------
    steps : int
        Number of solver steps (>= 1); the result has ``steps + 1`` entries.
    sigma_min, sigma_max : float
        Smallest and largest non-zero noise levels (normalized data units).
    rho : float
        Schedule curvature; 7 concentrates steps at low noise.
    device, dtype
        Placement of the result (default: CPU, ``torch.get_default_dtype()``).

    Returns
    -------
    Tensor (steps + 1,)
        Decreasing noise levels ending with 0.
    """
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not 0 < sigma_min <= sigma_max:
        raise ValueError(f"need 0 < sigma_min <= sigma_max, got {sigma_min} and {sigma_max}")
    steps = int(steps)
    # float64 so that the small sigmas at the end of the schedule are exact
    ramp = torch.linspace(0.0, 1.0, steps, dtype=torch.float64) if steps > 1 else \
        torch.zeros(1, dtype=torch.float64)
    lo, hi = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    sigmas = torch.cat([sigmas, torch.zeros(1, dtype=torch.float64)])
    return sigmas.to(device=device, dtype=dtype or torch.get_default_dtype())


def _draw(generator: torch.Generator | NoiseSource | None, like: torch.Tensor) -> torch.Tensor:
    if callable(generator) and not isinstance(generator, torch.Generator):
        eps = generator(tuple(like.shape))
        return eps.to(device=like.device, dtype=like.dtype)
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


def edm_sample(
    denoise: Denoiser,
    noise: torch.Tensor,
    sigmas: torch.Tensor,
    solver: Literal["heun", "euler"] = "heun",
    churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = math.inf,
    s_noise: float = 1.0,
    generator: torch.Generator | NoiseSource | None = None,
    progress: bool = False,
    callback: Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Integrate the EDM probability-flow ODE (or SDE with churn) from noise to data.

    Parameters
    ----------
    denoise : callable
        ``denoise(x, sigma) -> x0_hat`` with ``x`` of shape (B, C, H, W) and ``sigma``
        a 0-d tensor (same device and dtype as ``x``); returns an estimate of
        ``E[x0 | x]`` (unguided or guided). The loop runs under ``torch.no_grad()``:
        a denoiser that differentiates through the network (guidance) must wrap its
        own computation in ``torch.enable_grad()`` and return a detached tensor.
    noise : Tensor (B, C, H, W)
        Standard normal draws; the initial state is ``noise * sigmas[0]``.
    sigmas : Tensor (steps + 1,)
        Decreasing noise levels ending with 0, e.g. :func:`karras_sigmas`.
    solver : {"heun", "euler"}
        Heun's 2nd-order method (its correction is skipped on the last step, to
        sigma = 0) or plain Euler.
    churn : float
        Total stochasticity ``S_churn`` of Algorithm 2: at each step with
        ``s_tmin <= sigma <= s_tmax`` the noise level is raised to
        ``sigma (1 + gamma)``, ``gamma = min(churn / steps, sqrt(2) - 1)``, by adding
        fresh noise scaled by ``s_noise``. 0 gives the deterministic ODE sampler.
    s_tmin, s_tmax, s_noise : float
        Range of noise levels where churn applies and scale of its fresh noise.
    generator : torch.Generator or callable, optional
        Source of the churn noise: a seeded ``torch.Generator`` on ``noise``'s
        device, or a callable ``generator(shape) -> Tensor`` of standard normal
        draws (lets callers seed each member separately). Unused when ``churn=0``.
    progress : bool
        Show a tqdm bar over the steps.
    callback : callable, optional
        ``callback(i, sigma, x, denoised)`` after step ``i`` with the noise level
        of that step, the updated state and the denoiser's estimate.

    Returns
    -------
    Tensor (B, C, H, W)
        Samples at sigma = 0, same dtype and device as ``noise``.
    """
    if solver not in ("heun", "euler"):
        raise ValueError(f"solver must be 'heun' or 'euler', got {solver!r}")
    if sigmas.ndim != 1 or sigmas.numel() < 2:
        raise ValueError("sigmas must be a 1-D tensor with at least 2 entries (ending with 0)")
    if churn < 0:
        raise ValueError(f"churn must be >= 0, got {churn}")
    sigmas = sigmas.to(device=noise.device, dtype=noise.dtype)
    steps = sigmas.numel() - 1
    indices = range(steps)
    if progress:
        from tqdm.auto import tqdm

        indices = tqdm(indices, desc="sampling", unit="step")
    with torch.no_grad():
        x = noise * sigmas[0]
        for i in indices:
            s, s_next = sigmas[i], sigmas[i + 1]
            gamma = 0.0
            if churn > 0 and s_tmin <= float(s) <= s_tmax:
                gamma = min(churn / steps, math.sqrt(2.0) - 1.0)
            s_hat = s * (1.0 + gamma)
            if gamma > 0:
                x = x + (s_hat**2 - s**2).sqrt() * s_noise * _draw(generator, x)
            denoised = denoise(x, s_hat)
            slope = (x - denoised) / s_hat
            x_next = x + (s_next - s_hat) * slope
            if solver == "heun" and float(s_next) > 0:
                denoised_next = denoise(x_next, s_next)
                slope_next = (x_next - denoised_next) / s_next
                x_next = x + (s_next - s_hat) * 0.5 * (slope + slope_next)
            x = x_next
            if callback is not None:
                callback(i, s_hat, x, denoised)
    return x


def dpm_solver_2m(
    denoise: Denoiser,
    noise: torch.Tensor,
    sigmas: torch.Tensor,
    progress: bool = False,
) -> torch.Tensor:
    """DPM-Solver++(2M): the second-order multistep solver of the probability-flow ODE.

    Lu et al. (2022, "DPM-Solver++", Algorithm 2) in the EDM parametrization
    ``x = x0 + sigma n`` (``alpha = 1``, half log-SNR ``lambda = -ln sigma``). With
    ``D_i = D(x_i, sigma_i)`` and ``h_i = ln(sigma_i / sigma_{i+1})``::

        x_{i+1} = (sigma_{i+1} / sigma_i) x_i + (1 - sigma_{i+1} / sigma_i) D'_i
        D'_i = (1 + 1 / (2 r_i)) D_i - 1 / (2 r_i) D_{i-1},   r_i = h_{i-1} / h_i

    with ``D'_0 = D_0`` (a first-order first step) and ``x_steps = D_{steps-1}`` on the
    last step, to ``sigma = 0``. One denoiser evaluation per step (Heun: two).

    Parameters
    ----------
    denoise : callable
        ``denoise(x, sigma)`` (guided or not; see :func:`edm_sample`).
    noise : Tensor (B, C, H, W)
        Standard normal draws; the initial state is ``noise * sigmas[0]``.
    sigmas : Tensor (steps + 1,)
        Decreasing positive noise levels ending with 0, e.g. :func:`karras_sigmas`.
    progress : bool
        Show a tqdm bar over the steps.

    Returns
    -------
    Tensor (B, C, H, W)
        Samples at sigma = 0, same dtype and device as ``noise``.
    """
    if sigmas.ndim != 1 or sigmas.numel() < 2:
        raise ValueError("sigmas must be a 1-D tensor with at least 2 entries (ending with 0)")
    levels = sigmas.detach().double().cpu()
    if float(levels[-1]) != 0 or not bool((levels[:-1] > 0).all()) or \
            not bool((levels[1:] < levels[:-1]).all()):
        raise ValueError("sigmas must decrease strictly, be positive and end with 0, got "
                         f"{levels.tolist()}")
    sigmas = sigmas.to(device=noise.device, dtype=noise.dtype)
    steps = sigmas.numel() - 1
    indices = range(steps)
    if progress:
        from tqdm.auto import tqdm

        indices = tqdm(indices, desc="sampling (DPM-Solver++ 2M)", unit="step")
    with torch.no_grad():
        x = noise * sigmas[0]
        previous: torch.Tensor | None = None
        h_previous = 0.0
        for i in indices:
            s, s_next = sigmas[i], sigmas[i + 1]
            denoised = denoise(x, s)
            if float(levels[i + 1]) == 0.0:
                x = denoised
                break
            h = math.log(float(levels[i]) / float(levels[i + 1]))
            estimate = denoised
            if previous is not None:
                r = h_previous / h
                estimate = (1.0 + 0.5 / r) * denoised - (0.5 / r) * previous
            ratio = s_next / s
            x = ratio * x + (1.0 - ratio) * estimate
            previous, h_previous = denoised, h
    return x
