"""DPM-Solver++(2M) and the sampler dispatch against the exact flow of Gaussian data."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from xgenda.config import DPMSolver2M, Euler, Heun, configure, from_json  # noqa: E402
from xgenda.diffusion.samplers import run_sampler  # noqa: E402
from xgenda.diffusion.sampling import dpm_solver_2m, edm_sample, karras_sigmas  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MEAN = torch.tensor([0.5, -1.0], dtype=torch.float64).reshape(1, 2, 1, 1)
STD = torch.tensor([0.3, 1.5], dtype=torch.float64).reshape(1, 2, 1, 1)
SIGMA_MAX = 80.0


class Counting:
    """Exact denoiser of N(MEAN, STD^2) per pixel: mu + s^2 / (s^2 + sigma^2) (x - mu)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        s2 = STD.to(x.dtype) ** 2
        return MEAN.to(x.dtype) + s2 / (s2 + sigma**2) * (x - MEAN.to(x.dtype))


def exact_flow(noise: torch.Tensor) -> torch.Tensor:
    """The probability-flow ODE's end point from ``x_T = sigma_max noise``.

    ``dx/dsigma = (x - D) / sigma`` gives ``x - mu`` proportional to
    ``sqrt(s^2 + sigma^2)``, so ``x0 = mu + (sigma_max noise - mu) s / sqrt(s^2 + sigma_max^2)``.
    """
    return MEAN + (SIGMA_MAX * noise - MEAN) * STD / (STD**2 + SIGMA_MAX**2).sqrt()


def _noise(n: int = 64, size: int = 8, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn((n, 2, size, size), generator=gen, dtype=torch.float64)


def _error(sampler, steps: int, noise: torch.Tensor) -> float:
    sigmas = karras_sigmas(steps, sigma_max=SIGMA_MAX, dtype=torch.float64)
    x = sampler(Counting(), noise, sigmas)
    return float((x - exact_flow(noise)).abs().max())


def test_dpm_solver_converges_at_second_order_to_the_exact_flow():
    noise = _noise(8)
    errors = [_error(dpm_solver_2m, n, noise) for n in (8, 16, 32, 64)]
    assert all(b < a for a, b in itertools.pairwise(errors))
    # second order: doubling the steps divides the error by about 4 (asymptotically)
    assert errors[-2] / errors[-1] > 3.0
    # (maximum over 1024 values per channel, data standard deviations 0.3 and 1.5)
    assert errors[-1] < 0.02


def test_dpm_solver_beats_euler_and_matches_heun_at_equal_evaluations():
    noise = _noise(8)
    dpm = _error(dpm_solver_2m, 32, noise)  # 32 evaluations
    euler = _error(lambda d, x, s: edm_sample(d, x, s, solver="euler"), 32, noise)
    heun = _error(lambda d, x, s: edm_sample(d, x, s, solver="heun"), 16, noise)  # 31
    # about 6x and 4x smaller on this problem
    assert dpm < euler / 5
    assert dpm < heun / 2


@pytest.mark.parametrize("steps", [64, 128])
def test_dpm_solver_samples_have_the_data_mean_and_variance(steps):
    noise = _noise(256, 16, seed=1)  # 65536 samples per channel
    sigmas = karras_sigmas(steps, sigma_max=SIGMA_MAX, dtype=torch.float64)
    x = dpm_solver_2m(Counting(), noise, sigmas)
    mean = x.mean(dim=(0, 2, 3)).numpy()
    std = x.std(dim=(0, 2, 3)).numpy()
    n = x[:, 0].numel()
    expected_std = (STD.flatten() * SIGMA_MAX / (STD.flatten() ** 2 + SIGMA_MAX**2).sqrt()).numpy()
    # 5 standard errors of the mean; the standard deviation to 1 % (at 24 steps the
    # discretization error is still about 4 %, at 64 under 1 %: second order)
    np.testing.assert_allclose(mean, MEAN.flatten().numpy(),
                               atol=5 * float(STD.max()) / np.sqrt(n))
    np.testing.assert_allclose(std, expected_std, rtol=0.01)


def test_dpm_solver_uses_one_evaluation_per_step():
    denoise = Counting()
    run_sampler(DPMSolver2M(steps=10), denoise, _noise(2, 4).float())
    assert denoise.calls == 10
    denoise = Counting()
    run_sampler(Heun(steps=10), denoise, _noise(2, 4).float())
    assert denoise.calls == 19


def test_run_sampler_dispatches_to_the_solver_on_the_karras_schedule():
    noise = _noise(2, 4)
    config = DPMSolver2M(steps=7, sigma_min=0.01, sigma_max=SIGMA_MAX)
    got = run_sampler(config, Counting(), noise)
    sigmas = karras_sigmas(7, sigma_min=0.01, sigma_max=SIGMA_MAX, dtype=torch.float64)
    torch.testing.assert_close(got, dpm_solver_2m(Counting(), noise, sigmas), rtol=0, atol=0)


def test_one_step_is_the_denoiser_at_sigma_max():
    noise = _noise(2, 4)
    got = dpm_solver_2m(Counting(), noise, karras_sigmas(1, sigma_max=SIGMA_MAX,
                                                         dtype=torch.float64))
    torch.testing.assert_close(got, Counting()(SIGMA_MAX * noise, torch.tensor(SIGMA_MAX)))


def test_dpm_solver_rejects_a_schedule_that_does_not_end_at_zero():
    with pytest.raises(ValueError, match="end with 0"):
        dpm_solver_2m(Counting(), _noise(1, 2), torch.tensor([2.0, 1.0]))
    with pytest.raises(ValueError, match="decrease"):
        dpm_solver_2m(Counting(), _noise(1, 2), torch.tensor([1.0, 2.0, 0.0]))


def test_dpm_solver_config_round_trips_and_validates():
    config = DPMSolver2M(steps=6, sigma_min=0.01, sigma_max=40.0)
    assert json.loads(config.to_json()) == {"type": "DPMSolver2M", "steps": 6,
                                            "sigma_min": 0.01, "sigma_max": 40.0}
    assert from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        DPMSolver2M(steps=0)
    with pytest.raises(ValueError, match="sigma_max"):
        DPMSolver2M(sigma_min=1.0, sigma_max=0.5)


def test_legacy_steps_apply_to_a_dpm_solver_base_and_other_options_are_refused():
    from xgenda.config.legacy import _sampler

    base = DPMSolver2M(steps=6)
    assert _sampler(None, base, {"steps": 9}) == DPMSolver2M(steps=9)
    assert _sampler(None, base, {"solver": "euler"}) == Euler(steps=6)
    with pytest.raises(ValueError, match="DPM-Solver"):
        _sampler(None, base, {"churn": 1.0})
    assert configure(DPMSolver2M(steps=5)).sampler == DPMSolver2M(steps=5)
