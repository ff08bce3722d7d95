"""Speed options of sampling: inference mode, bf16 autocast, channels-last, torch.compile.

Each option is checked against the default float32 eager network: inference mode gives
the same bits, channels-last and compile the same values to float32 rounding, bf16 a
posterior mean within a stated fraction of the prior standard deviation.
"""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from xgenda.config import Acceleration, DPMSolver2M, Heun, from_json  # noqa: E402
from xgenda.diffusion.edm import DenoiserFunction, EDMPrecond, accelerate  # noqa: E402
from xgenda.diffusion.guidance import guided_denoiser  # noqa: E402
from xgenda.diffusion.samplers import run_sampler  # noqa: E402
from xgenda.diffusion.unet import UNet, UNetConfig  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_denoiser(seed: int = 0) -> EDMPrecond:
    config = UNetConfig(in_channels=3, out_channels=2, resolution=16, base_channels=8,
                        channel_mult=(1, 2), num_blocks=1, attn_resolutions=(8,), dropout=0.0)
    net = UNet(config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    return EDMPrecond(net, 2, 1.0, mask_channel=True).eval().requires_grad_(False)


def _noise(shape: tuple[int, ...], seed: int = 1) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


class Recording:
    """A denoiser that records whether autograd is off (inference mode) when it is called."""

    def __init__(self, denoise) -> None:
        self.denoise = denoise
        self.inference: list[bool] = []

    def __call__(self, x, sigma):
        self.inference.append(torch.is_inference_mode_enabled())
        return self.denoise(x, sigma)


def test_unguided_sampling_in_inference_mode_gives_the_same_bits():
    den = tiny_denoiser()
    noise = _noise((3, 2, 16, 16))
    for sampler in (Heun(steps=4), DPMSolver2M(steps=4)):
        plain, fast = Recording(den), Recording(den)
        a = run_sampler(sampler, plain, noise)
        b = run_sampler(sampler, fast, noise, grad=False)
        assert torch.equal(a, b)
        assert fast.inference
        assert all(fast.inference)
        assert not any(plain.inference)


def test_guided_sampling_keeps_autograd_for_the_jacobian_products():
    den = tiny_denoiser()
    calls: list[tuple[bool, bool]] = []

    def network(x, sigma):
        calls.append((torch.is_grad_enabled(), torch.is_inference_mode_enabled()))
        return den(x, sigma)

    idx = torch.arange(0, 512, 7)
    guided = guided_denoiser(network, lambda x: x.flatten(1)[:, idx],
                             torch.zeros(2, idx.numel()), torch.full((2, idx.numel()), 0.1),
                             "mmps")
    x = run_sampler(DPMSolver2M(steps=3), guided, _noise((2, 2, 16, 16)))
    assert torch.isfinite(x).all()
    assert calls
    assert all(grad and not inference for grad, inference in calls)


def test_channels_last_gives_the_eager_values_to_float32_rounding():
    den = tiny_denoiser()
    fast = accelerate(den, Acceleration(channels_last=True))
    x, sigma = 2.0 * _noise((4, 2, 16, 16)), torch.tensor(2.0)
    torch.testing.assert_close(fast(x, sigma), den(x, sigma), rtol=1e-5, atol=1e-5)
    # the prior's cached module is left in its own memory format (a copy is converted)
    assert den.net.conv_in.weight.is_contiguous()
    assert fast.net.net.conv_in.weight.is_contiguous(memory_format=torch.channels_last)


def test_default_options_and_user_functions_are_returned_unchanged():
    den = tiny_denoiser()
    assert accelerate(den, Acceleration()) is den
    fn = DenoiserFunction(lambda x, s: x / (1 + s**2), 2)
    assert accelerate(fn, Acceleration(bf16=True)) is fn
    # built once per denoiser and options
    assert accelerate(den, Acceleration(bf16=True)) is accelerate(den, Acceleration(bf16=True))


def test_acceleration_validates_and_round_trips():
    options = Acceleration(bf16=True, compile=True)
    assert json.loads(options.to_json()) == {"type": "Acceleration", "bf16": True,
                                             "compile": True, "channels_last": False,
                                             "cuda_graphs": False}
    assert from_json(options.to_json()) == options
    with pytest.raises(ValueError, match="needs compile=True"):
        Acceleration(cuda_graphs=True)
    with pytest.raises(ValueError, match="bf16 must be True or False"):
        Acceleration(bf16=1)
    with pytest.raises(ValueError, match="CUDA device"):
        accelerate(tiny_denoiser(), Acceleration(compile=True, cuda_graphs=True))


@pytest.mark.slow
def test_bf16_posterior_mean_matches_float32_within_a_tenth_of_the_prior_std():
    """MMPS posterior of the demo prior from 60 point observations (error 0.3 prior std).

    Tolerance: the bf16 ensemble mean differs from the float32 one by less than 0.1 prior
    standard deviations (RMS over the domain) and by less than a tenth of the ensemble
    spread (measured: about 0.03 and 0.03).
    """
    import xgenda

    prior = xgenda.load_demo_prior(snapshot=True)  # a state of one day: 5 channels
    den = prior.denoiser("cpu")
    channels, size = len(prior.variables), prior.patch_size
    gen = torch.Generator().manual_seed(0)
    truth = run_sampler(DPMSolver2M(steps=12), den, _noise((1, channels, size, size), 5),
                        grad=False)
    idx = torch.randperm(channels * size * size, generator=gen)[:60]
    members = 4
    y = (truth.flatten(1)[:, idx] + 0.3 * torch.randn(1, 60, generator=gen)).repeat(members, 1)
    error = torch.full((members, 60), 0.3)
    noise = _noise((members, channels, size, size), 1)
    means, spread = [], None
    for options in (Acceleration(), Acceleration(bf16=True)):
        net = accelerate(den, options)
        guided = guided_denoiser(lambda x, s, net=net: net(x, s),
                                 lambda x: x.flatten(1)[:, idx], y, error, "mmps")
        x = run_sampler(DPMSolver2M(steps=6), guided, noise)
        means.append(x.mean(0))
        spread = x.std(0).square().mean().sqrt() if spread is None else spread
    diff = float((means[0] - means[1]).square().mean().sqrt())
    assert diff < 0.1
    assert diff < 0.1 * float(spread)
    assert diff > 0  # bf16 did change the arithmetic


@pytest.mark.slow
def test_compiled_network_gives_the_eager_values_and_gradients():
    """torch.compile (inductor on the CPU): values and input gradients to 1e-4."""
    den = tiny_denoiser()
    fast = accelerate(den, Acceleration(compile=True))
    x, sigma = 2.0 * _noise((2, 2, 16, 16)), torch.tensor(1.5)
    with torch.no_grad():
        torch.testing.assert_close(fast(x, sigma), den(x, sigma), rtol=1e-4, atol=1e-4)
    grads = []
    for module in (den, fast):
        xg = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(module(xg, sigma).square().sum(), xg)
        grads.append(grad)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-4)
