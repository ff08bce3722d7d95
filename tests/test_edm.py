"""EDM preconditioning, loss and samplers against analytic references (Gaussian data)."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from xgenda.diffusion.edm import (  # noqa: E402
    SAMPLER_SIGMAS,
    DenoiserFunction,
    EDMPrecond,
    edm_coefficients,
    edm_loss,
    training_sigmas,
)
from xgenda.diffusion.sampling import edm_sample, karras_sigmas  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Constant(torch.nn.Module):
    """Raw network that returns ``value`` everywhere and records its inputs."""

    def __init__(self, channels: int, value: float = 1.0) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(value))
        self.channels = channels
        self.inputs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x, c_noise):
        self.inputs.append((x.detach().clone(), c_noise.detach().clone()))
        return self.scale * torch.ones(x.shape[0], self.channels, *x.shape[2:])


def gaussian_denoiser(mean: torch.Tensor, cov: torch.Tensor):
    """Optimal denoiser of N(mean, cov) on flattened fields: mu + S (S + s^2 I)^-1 (x - mu)."""
    n = cov.shape[0]

    def denoise(x, sigma):
        flat = x.reshape(x.shape[0], -1).double()
        gain = cov @ torch.linalg.inv(cov + float(sigma) ** 2 * torch.eye(n, dtype=cov.dtype))
        out = mean + (flat - mean) @ gain.T
        return out.reshape(x.shape).to(x.dtype)

    return denoise


def exact_ode_endpoint(noise, mean, cov, sigma_max):
    """Probability-flow ODE of N(mean, cov) from sigma_max to 0, solved exactly in S's eigenbasis."""
    lam, vec = torch.linalg.eigh(cov)
    x = noise.reshape(noise.shape[0], -1).double() * sigma_max
    coef = ((x - mean) @ vec) * torch.sqrt(lam / (lam + sigma_max**2))
    return (mean + coef @ vec.T).reshape(noise.shape)


@pytest.mark.parametrize("sigma_data", [0.5, 1.0])
@pytest.mark.parametrize("sigma", [0.002, 0.3, 1.0, 80.0])
def test_coefficients_match_the_edm_formulas(sigma, sigma_data):
    c_skip, c_out, c_in, c_noise = edm_coefficients(sigma, sigma_data)
    assert c_skip == pytest.approx(sigma_data**2 / (sigma**2 + sigma_data**2))
    assert c_out == pytest.approx(sigma * sigma_data / math.sqrt(sigma**2 + sigma_data**2))
    assert c_in == pytest.approx(1 / math.sqrt(sigma**2 + sigma_data**2))
    assert c_noise == pytest.approx(math.log(sigma) / 4)
    tensor = edm_coefficients(torch.tensor([sigma], dtype=torch.float64), sigma_data)
    for t, f in zip(tensor, (c_skip, c_out, c_in, c_noise), strict=True):
        assert float(t) == pytest.approx(f, rel=1e-12)


def test_precond_is_skip_plus_scaled_network_output():
    net = _Constant(channels=2, value=0.7)
    precond = EDMPrecond(net, channels=2, sigma_data=0.5, mask_channel=False)
    x = torch.randn(3, 2, 4, 4)
    sigma = torch.tensor([0.1, 1.0, 10.0])
    out = precond(x, sigma)
    c_skip, c_out, c_in, _ = edm_coefficients(sigma.reshape(-1, 1, 1, 1), 0.5)
    torch.testing.assert_close(out, c_skip * x + c_out * 0.7)
    seen_x, seen_noise = net.inputs[-1]
    torch.testing.assert_close(seen_x, c_in * x)
    torch.testing.assert_close(seen_noise, torch.log(sigma) / 4)


def test_precond_zeroes_land_at_input_and_output_and_adds_a_mask_channel():
    net = _Constant(channels=1)
    precond = EDMPrecond(net, channels=1, mask_channel=True)
    mask = torch.ones(1, 1, 4, 4)
    mask[..., :2, :2] = 0
    x = torch.randn(2, 1, 4, 4)
    x[..., :2, :2] = float("nan")
    out = precond(x, 0.5, mask)
    assert torch.isfinite(out).all()
    assert (out[..., :2, :2] == 0).all()
    seen_x, _ = net.inputs[-1]
    assert seen_x.shape[1] == 2
    assert (seen_x[:, 0, :2, :2] == 0).all()
    torch.testing.assert_close(seen_x[:, 1:], mask.expand(2, 1, 4, 4))


def test_loss_of_the_optimal_denoiser_of_standard_gaussian_data_is_one():
    # For N(0, sd^2) data, E|D* - x0|^2 = s^2 sd^2 / (s^2 + sd^2): the EDM weight makes it 1.
    sd = 0.8
    denoiser = DenoiserFunction(lambda x, s: x * sd**2 / (sd**2 + s**2), 1, sigma_data=sd)
    gen = torch.Generator().manual_seed(0)
    x0 = sd * torch.randn(4096, 1, 4, 4, generator=gen, dtype=torch.float64)
    loss = edm_loss(denoiser, x0, generator=gen)
    assert float(loss.mean()) == pytest.approx(1.0, abs=0.03)


def test_training_sigmas_follow_the_log_normal_mixed_with_the_sampler_range():
    """The distribution of ln sigma against its closed-form CDF (Kolmogorov-Smirnov), and
    the share above sigma 10: 0.2 % for EDM's log-normal alone, about 2 % with a tenth of
    the samples log-uniform over 0.002-80."""
    from scipy import stats

    n, cover = 200_000, 0.1
    low, high = (math.log(v) for v in SAMPLER_SIGMAS)
    sigma = training_sigmas(n, sigma_cover=cover, generator=torch.Generator().manual_seed(0),
                            dtype=torch.float64).numpy()
    assert sigma.min() > 0

    def cdf(log_sigma):
        flat = np.clip((log_sigma - low) / (high - low), 0.0, 1.0)
        return (1 - cover) * stats.norm.cdf(log_sigma, -1.2, 1.2) + cover * flat

    assert stats.kstest(np.log(sigma), cdf).pvalue > 1e-3
    above = 1 - cdf(math.log(10.0))
    assert above == pytest.approx(0.9 * stats.norm.sf(math.log(10.0), -1.2, 1.2)
                                  + 0.1 * (high - math.log(10.0)) / (high - low))
    assert (sigma > 10).mean() == pytest.approx(above, abs=4 * math.sqrt(above / n))
    assert 0.015 < above < 0.025
    assert stats.norm.sf(math.log(10.0), -1.2, 1.2) < 0.002
    # no cover: exactly EDM's draws from the same generator (older runs resume the same)
    edm = (torch.randn(8, generator=torch.Generator().manual_seed(1)) * 1.2 - 1.2).exp()
    torch.testing.assert_close(training_sigmas(8, generator=torch.Generator().manual_seed(1)),
                               edm, rtol=0, atol=0)
    with pytest.raises(ValueError, match="sigma_cover must be in"):
        training_sigmas(4, sigma_cover=1.5)


def test_loss_ignores_land_pixels():
    denoiser = DenoiserFunction(lambda x, s: 0.5 * x, 2)
    x0 = torch.randn(3, 2, 4, 4, dtype=torch.float64)
    x0[:, :, 0, :] = float("nan")
    other = x0.clone()
    other[:, :, 0, :] = 123.0
    mask = torch.ones(3, 1, 4, 4, dtype=torch.float64)
    mask[:, :, 0, :] = 0
    a = edm_loss(denoiser, x0, generator=torch.Generator().manual_seed(1))
    b = edm_loss(denoiser, other, mask, generator=torch.Generator().manual_seed(1))
    assert torch.isfinite(a).all()
    torch.testing.assert_close(a, b)


def test_karras_schedule_follows_its_formula_and_ends_at_zero():
    sigmas = karras_sigmas(5, sigma_min=0.01, sigma_max=10.0, rho=3.0, dtype=torch.float64)
    i = np.arange(5)
    expected = (10 ** (1 / 3) + i / 4 * (0.01 ** (1 / 3) - 10 ** (1 / 3))) ** 3
    np.testing.assert_allclose(sigmas[:-1].numpy(), expected, rtol=1e-12)
    assert sigmas[-1] == 0
    assert sigmas.shape == (6,)


def test_karras_schedule_rejects_zero_steps():
    with pytest.raises(ValueError, match="steps"):
        karras_sigmas(0)


@pytest.mark.parametrize(("solver", "steps"), [("heun", 32), ("euler", 512)])
def test_sampler_with_analytic_gaussian_denoiser_gives_the_right_mean_and_covariance(solver,
                                                                                     steps):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 4))
    cov = torch.as_tensor(a @ a.T / 4 + 0.05 * np.eye(4))
    mean = torch.tensor([1.0, -0.5, 0.0, 2.0], dtype=torch.float64)
    noise = torch.randn(20000, 1, 2, 2, generator=torch.Generator().manual_seed(1),
                        dtype=torch.float64)
    x = edm_sample(gaussian_denoiser(mean, cov), noise,
                   karras_sigmas(steps, dtype=torch.float64), solver=solver)
    flat = x.reshape(x.shape[0], -1).numpy()
    np.testing.assert_allclose(flat.mean(axis=0), mean.numpy(), atol=0.05)
    np.testing.assert_allclose(np.cov(flat.T), cov.numpy(), atol=0.08)


def test_heun_converges_at_second_order_and_euler_at_first_to_the_exact_ode_solution():
    cov = torch.diag(torch.tensor([0.01, 0.3, 1.0, 4.0], dtype=torch.float64))
    mean = torch.zeros(4, dtype=torch.float64)
    noise = torch.randn(64, 1, 2, 2, generator=torch.Generator().manual_seed(2),
                        dtype=torch.float64)
    exact = exact_ode_endpoint(noise, mean, cov, 80.0)

    def error(solver, steps):
        x = edm_sample(gaussian_denoiser(mean, cov), noise,
                       karras_sigmas(steps, dtype=torch.float64), solver=solver)
        return float((x - exact).abs().max())

    heun, euler = [error("heun", n) for n in (32, 64)], [error("euler", n) for n in (32, 64)]
    assert heun[1] < heun[0] / 3.0  # halving the step divides the error by ~4
    assert euler[0] / 2.5 < euler[1] < euler[0] / 1.6  # ... by ~2
    assert heun[1] < euler[1] / 4.0


def test_heun_skips_its_correction_on_the_last_step():
    calls = []

    def denoise(x, sigma):
        calls.append(float(sigma))
        return torch.zeros_like(x)

    edm_sample(denoise, torch.randn(1, 1, 2, 2), karras_sigmas(7), solver="heun")
    assert len(calls) == 2 * 7 - 1
    assert min(calls) > 0


def test_churn_keeps_gaussian_moments_and_uses_the_callable_noise_source():
    cov = torch.diag(torch.tensor([0.5, 2.0], dtype=torch.float64))
    mean = torch.tensor([0.3, -1.0], dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    draws = []

    def source(shape):
        draws.append(shape)
        return torch.randn(shape, generator=gen, dtype=torch.float64)

    noise = torch.randn(20000, 1, 1, 2, generator=torch.Generator().manual_seed(4),
                        dtype=torch.float64)
    x = edm_sample(gaussian_denoiser(mean, cov), noise, karras_sigmas(48, dtype=torch.float64),
                   churn=20.0, s_tmin=0.05, s_tmax=50.0, generator=source)
    flat = x.reshape(x.shape[0], -1).numpy()
    assert draws, "churn noise must come from the given source"
    np.testing.assert_allclose(flat.mean(axis=0), mean.numpy(), atol=0.05)
    np.testing.assert_allclose(flat.var(axis=0), np.diag(cov.numpy()), rtol=0.08)
