"""Run a configured sampler (:mod:`xgenda.config`) with any (guided) denoiser.

The one place where a sampler object becomes a sampling loop: EDM samplers
(:class:`~xgenda.config.Heun`, :class:`~xgenda.config.Euler`) run
:func:`~xgenda.diffusion.corrector.pc_sample` on their Karras schedule,
:class:`~xgenda.config.DPMSolver2M` runs :func:`~xgenda.diffusion.sampling.dpm_solver_2m`
on it, GenDA's
(:class:`~xgenda.config.GendaDDIM`) runs :func:`~xgenda.diffusion.vp.genda_sample`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

import numpy as np
import torch

from xgenda.config import DPMSolver2M, GendaDDIM, Sampler
from xgenda.diffusion.corrector import pc_sample
from xgenda.diffusion.sampling import Denoiser, dpm_solver_2m, karras_sigmas
from xgenda.diffusion.vp import genda_sample

__all__ = ["PerSampleNoise", "run_sampler", "sample_generator"]


def sample_generator(seed: int, member: int, time_key: int = 0) -> torch.Generator:
    """The CPU generator of one sample: the one seeding scheme of xgenda.

    Every sample draws its initial noise, then the noise of its stochastic steps, from
    a generator seeded by ``SeedSequence([seed, time_key, member])``, so it depends on
    nothing else (not the batch, the chunking or the scheduler).

    Parameters
    ----------
    seed : int
        Seed of the run (>= 0).
    member : int
        Ensemble member.
    time_key : int
        The analysis time's key (:func:`xgenda._engine.time_key`: whole seconds since
        1970, offset to be non-negative); 0 for samples tied to no time
        (:meth:`xgenda.Prior.sample`).
    """
    entropy = [int(seed), int(time_key), int(member)]
    high, low = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed((int(high) << 32) | int(low))


class PerSampleNoise:
    """``(shape) -> Tensor``: standard normal draws, each sample from its own generator.

    Stochastic samplers (churn, Langevin corrector) draw from it so that a sample's
    noise does not depend on which other samples share its batch.
    """

    def __init__(self, generators: Sequence[torch.Generator]) -> None:
        self.generators = list(generators)

    def __call__(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.stack([torch.randn(shape[1:], generator=g) for g in self.generators])


def run_sampler(sampler: Sampler, denoise: Denoiser, noise: torch.Tensor,
                generator: PerSampleNoise | torch.Generator | None = None,
                progress: bool = False, grad: bool = True) -> torch.Tensor:
    """Samples (B, C, H, W) from standard normal ``noise`` (B, C, H, W) with ``sampler``.

    Parameters
    ----------
    sampler : Heun, Euler, DPMSolver2M or GendaDDIM
        The sampler and its settings.
    denoise : callable
        ``denoise(x, sigma)`` in the EDM convention (guided or not).
    noise : Tensor (B, C, H, W)
        Standard normal draws (normalized units).
    generator : PerSampleNoise or torch.Generator, optional
        Source of the noise of stochastic steps (churn, Langevin corrector).
    progress : bool
        Show a progress bar.
    grad : bool
        Whether ``denoise`` differentiates through the network (guidance). ``False``
        (unguided sampling) runs the whole loop under ``torch.inference_mode``: no
        autograd bookkeeping at all; the same results.
    """
    with nullcontext() if grad else torch.inference_mode():
        return _run(sampler, denoise, noise, generator, progress)


def _run(sampler: Sampler, denoise: Denoiser, noise: torch.Tensor,
         generator: PerSampleNoise | torch.Generator | None, progress: bool) -> torch.Tensor:
    if isinstance(sampler, GendaDDIM):
        return genda_sample(denoise, noise, steps=sampler.steps, eta=sampler.eta,
                            progress=progress)
    sigmas = karras_sigmas(sampler.steps, sigma_min=sampler.sigma_min,
                           sigma_max=sampler.sigma_max, device=noise.device, dtype=noise.dtype)
    if isinstance(sampler, DPMSolver2M):
        return dpm_solver_2m(denoise, noise, sigmas, progress=progress)
    return pc_sample(denoise, noise, sigmas, corrector_steps=sampler.corrector_steps,
                     tau=sampler.tau, solver=sampler.solver, churn=sampler.churn,
                     generator=generator, progress=progress)
