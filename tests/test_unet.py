"""The DDPM++-style UNet: size, shapes, conditioning, configuration errors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from xgenda.diffusion.unet import Attention, UNet, UNetConfig, count_parameters  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(**kwargs) -> UNetConfig:
    values = {"in_channels": 3, "out_channels": 2, "resolution": 16, "base_channels": 8,
              "channel_mult": (1, 2), "num_blocks": 1, "attn_resolutions": (8,), "dropout": 0.0}
    return UNetConfig(**(values | kwargs))


def randomize(net: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-zero weights everywhere (the output convolutions start at zero)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    return net


def test_genda_size_has_about_ten_million_parameters():
    # GenDA: 7 channels at 128 x 128, 64 base channels, (1, 2, 2, 2), 2 blocks, attention at 16
    config = UNetConfig(in_channels=8, out_channels=7, resolution=128, base_channels=64,
                        channel_mult=(1, 2, 2, 2), num_blocks=2, attn_resolutions=(16,))
    assert count_parameters(UNet(config)) == pytest.approx(9.9e6, rel=0.05)


def test_output_has_the_input_size_and_out_channels():
    net = randomize(UNet(tiny()))
    out = net(torch.randn(2, 3, 16, 16), torch.zeros(2))
    assert out.shape == (2, 2, 16, 16)
    assert torch.isfinite(out).all()


def test_untrained_output_is_zero_so_the_denoiser_starts_as_the_skip_connection():
    net = UNet(tiny())
    assert torch.count_nonzero(net(torch.randn(2, 3, 16, 16), torch.zeros(2))) == 0


@pytest.mark.parametrize("embedding", ["positional", "fourier"])
def test_output_depends_on_the_noise_level(embedding):
    net = randomize(UNet(tiny(embedding=embedding)))
    x = torch.randn(1, 3, 16, 16)
    a, b = net(x, torch.tensor([-1.0])), net(x, torch.tensor([1.0]))
    assert (a - b).abs().max() > 1e-4


def test_attention_sits_at_the_requested_resolutions():
    without = UNet(tiny(attn_resolutions=()))
    with_attention = UNet(tiny(attn_resolutions=(8,)))
    count = sum(isinstance(m, Attention) for m in with_attention.modules())
    # the 8 x 8 level: 1 encoder block, 2 decoder blocks, plus the bottleneck's attention
    assert count == 1 + 2 + 1
    assert sum(isinstance(m, Attention) for m in without.modules()) == 1


def test_channel_multipliers_and_blocks_set_the_depth():
    small = count_parameters(UNet(tiny()))
    deeper = count_parameters(UNet(tiny(num_blocks=2)))
    wider = count_parameters(UNet(tiny(base_channels=16)))
    assert small < deeper
    assert wider > 3 * small  # parameters grow ~ quadratically with width


def test_dropout_is_active_only_in_training_mode():
    net = randomize(UNet(tiny(dropout=0.5)))
    x, c = torch.randn(1, 3, 16, 16), torch.zeros(1)
    net.eval()
    torch.testing.assert_close(net(x, c), net(x, c))
    net.train()
    assert (net(x, c) - net(x, c)).abs().max() > 0


def test_patch_size_not_a_multiple_of_the_downsampling_factor_is_refused():
    with pytest.raises(ValueError, match="multiple of the UNet's downsampling factor 4"):
        UNetConfig(resolution=30, channel_mult=(1, 2, 2))


def test_input_of_the_wrong_size_is_refused_with_a_clear_error():
    net = UNet(tiny())
    with pytest.raises(ValueError, match="downsampling factor 2"):
        net(torch.randn(1, 3, 15, 16), torch.zeros(1))


def test_unknown_embedding_is_refused():
    with pytest.raises(ValueError, match="embedding"):
        tiny(embedding="learned")


def test_config_round_trips_through_a_dict():
    config = tiny(channel_mult=(1, 2), attn_resolutions=(8, 16))
    assert UNetConfig(**config.to_dict()) == config
