"""A compact UNet of the DDPM++ / SongUNet family (Song et al. 2021; Karras et al. 2022).

The network maps a preconditioned noisy state and the noise level to the raw
output ``F`` that :class:`xgenda.diffusion.edm.EDMPrecond` turns into a denoiser:

- noise embedding: sinusoidal ("positional") or random Fourier features of
  ``c_noise``, then a 2-layer MLP to ``4 * base_channels`` features;
- encoder: a 3x3 input conv, then per level ``num_blocks`` residual blocks at
  ``base_channels * channel_mult[level]`` channels, and a downsampling residual
  block between levels (average pooling);
- decoder: per level (coarsest first) ``num_blocks + 1`` residual blocks, each
  fed the matching encoder activation (skip connection), and an upsampling
  residual block (nearest neighbour) between levels; two extra blocks at the
  bottleneck;
- residual blocks: GroupNorm -> SiLU -> conv3x3, add the projected embedding,
  GroupNorm -> SiLU -> dropout -> conv3x3, sum with the (projected) input scaled
  by sqrt(1/2); single-head self-attention after the block where the spatial
  resolution is in ``attn_resolutions``.

Output convolutions start at zero, so the untrained denoiser is ``c_skip x``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["UNet", "UNetConfig", "count_parameters"]


@dataclass
class UNetConfig:
    """Architecture of :class:`UNet`.

    Parameters
    ----------
    in_channels, out_channels : int
        Input channels (variables + 1 with a mask channel) and output channels.
    resolution : int
        Side of the square input patches (pixels); decides where attention sits.
    base_channels : int
        Channels at the finest level.
    channel_mult : tuple of int
        Channel multiplier per level; the input is downsampled by
        ``2 ** (len(channel_mult) - 1)``.
    num_blocks : int
        Residual blocks per level in the encoder (the decoder has one more).
    attn_resolutions : tuple of int
        Spatial sizes (pixels) at which self-attention follows the blocks.
    dropout : float
        Dropout probability inside residual blocks.
    embedding : {"positional", "fourier"}
        Noise embedding: sinusoidal features, or random Fourier features.
    """

    in_channels: int = 6
    out_channels: int = 5
    resolution: int = 64
    base_channels: int = 64
    channel_mult: tuple[int, ...] = (1, 2, 2, 2)
    num_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (16,)
    dropout: float = 0.1
    embedding: Literal["positional", "fourier"] = "positional"
    fourier_scale: float = 16.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.channel_mult = tuple(int(m) for m in self.channel_mult)
        self.attn_resolutions = tuple(int(r) for r in self.attn_resolutions)
        if self.embedding not in ("positional", "fourier"):
            raise ValueError(f"embedding must be 'positional' or 'fourier', got {self.embedding!r}")
        if not self.channel_mult or min(self.channel_mult) < 1:
            raise ValueError(f"channel_mult must be positive integers, got {self.channel_mult}")
        if self.base_channels < 4 or self.num_blocks < 1:
            raise ValueError("base_channels must be >= 4 and num_blocks >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        factor = self.downsampling
        if self.resolution % factor:
            raise ValueError(
                f"patch size {self.resolution} is not a multiple of the UNet's downsampling "
                f"factor {factor} (2 ** (len(channel_mult) - 1) with channel_mult="
                f"{self.channel_mult}); use a patch size like "
                f"{max(factor, self.resolution // factor * factor)} or fewer levels"
            )

    @property
    def downsampling(self) -> int:
        """Total downsampling factor of the encoder."""
        return 2 ** (len(self.channel_mult) - 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (tuples as lists)."""
        out = asdict(self)
        out["channel_mult"] = list(self.channel_mult)
        out["attn_resolutions"] = list(self.attn_resolutions)
        return out


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _zero(conv: nn.Conv2d) -> nn.Conv2d:
    """``conv`` with zero weights and bias (a block that starts as the identity)."""
    nn.init.zeros_(conv.weight)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=min(32, max(1, channels // 4)), num_channels=channels, eps=1e-6)


class NoiseEmbedding(nn.Module):
    """Features of ``c_noise`` (B,) -> (B, channels): sinusoidal or random Fourier."""

    freqs: torch.Tensor

    def __init__(self, channels: int, kind: str = "positional", scale: float = 16.0) -> None:
        super().__init__()
        self.kind = kind
        half = channels // 2
        if kind == "fourier":
            # fixed random frequencies, stored as a buffer so they are saved with the weights
            g = torch.Generator().manual_seed(0)
            self.register_buffer("freqs", torch.randn(half, generator=g) * scale * 2 * math.pi)
        else:
            # geometric frequencies 1 .. 1/10000 as in Transformer positional encodings
            freqs = (1.0 / 10000.0) ** (torch.arange(half, dtype=torch.float32) / half)
            self.register_buffer("freqs", freqs)

    def forward(self, c_noise: torch.Tensor) -> torch.Tensor:
        arg = c_noise.reshape(-1, 1).to(self.freqs.dtype) * self.freqs.reshape(1, -1)
        return torch.cat([arg.cos(), arg.sin()], dim=1)


class Attention(nn.Module):
    """Single-head self-attention over the pixels of a feature map."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = _norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = _zero(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)
        out = F.scaled_dot_product_attention(q.transpose(1, 2)[:, None], k.transpose(1, 2)[:, None],
                                             v.transpose(1, 2)[:, None])[:, 0]
        out = out.transpose(1, 2).reshape(b, c, h, w)
        return (x + self.proj(out)) * math.sqrt(0.5)


class ResBlock(nn.Module):
    """Residual block conditioned on the noise embedding, optionally resampling."""

    def __init__(self, in_ch: int, out_ch: int, emb_ch: int, dropout: float,
                 resample: Literal["none", "down", "up"] = "none", attention: bool = False) -> None:
        super().__init__()
        self.resample = resample
        self.norm0 = _norm(in_ch)
        self.conv0 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.affine = nn.Linear(emb_ch, out_ch)
        self.norm1 = _norm(out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv1 = _zero(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch or resample != "none" else None
        self.attn = Attention(out_ch) if attention else None

    def _resample(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample == "down":
            return F.avg_pool2d(x, 2)
        if self.resample == "up":
            return F.interpolate(x, scale_factor=2.0, mode="nearest")
        return x

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv0(self._resample(F.silu(self.norm0(x))))
        h = h + self.affine(emb)[:, :, None, None].to(h.dtype)
        h = self.conv1(self.dropout(F.silu(self.norm1(h))))
        skip = self._resample(x)
        if self.skip is not None:
            skip = self.skip(skip)
        out = (h + skip) * math.sqrt(0.5)
        return self.attn(out) if self.attn is not None else out


class UNet(nn.Module):
    """DDPM++-style UNet: ``F = net(x_in (B, in, H, W), c_noise (B,)) -> (B, out, H, W)``.

    Parameters
    ----------
    config : UNetConfig or dict
        Architecture (see :class:`UNetConfig`).

    Examples
    --------
    >>> net = UNet(UNetConfig(in_channels=8, out_channels=7, resolution=128))
    >>> count_parameters(net)  # GenDA's size, ~9.9 M  # doctest: +SKIP
    """

    def __init__(self, config: UNetConfig | dict[str, Any]) -> None:
        super().__init__()
        if isinstance(config, dict):
            config = UNetConfig(**config)
        self.config = config
        base = config.base_channels
        emb_ch = 4 * base
        self.embed = NoiseEmbedding(base, config.embedding, config.fourier_scale)
        self.embed_mlp = nn.Sequential(nn.Linear(base, emb_ch), nn.SiLU(), nn.Linear(emb_ch, emb_ch))

        self.conv_in = nn.Conv2d(config.in_channels, base, 3, padding=1)
        self.encoder = nn.ModuleList()
        skip_channels = [base]
        ch, res = base, config.resolution
        for level, mult in enumerate(config.channel_mult):
            if level > 0:
                res //= 2
                self.encoder.append(ResBlock(ch, ch, emb_ch, config.dropout, resample="down"))
                skip_channels.append(ch)
            for _ in range(config.num_blocks):
                out = base * mult
                self.encoder.append(ResBlock(ch, out, emb_ch, config.dropout,
                                             attention=res in config.attn_resolutions))
                ch = out
                skip_channels.append(ch)

        self.middle = nn.ModuleList([
            ResBlock(ch, ch, emb_ch, config.dropout, attention=True),
            ResBlock(ch, ch, emb_ch, config.dropout),
        ])

        self.decoder = nn.ModuleList()
        for level in reversed(range(len(config.channel_mult))):
            out = base * config.channel_mult[level]
            for _ in range(config.num_blocks + 1):
                self.decoder.append(ResBlock(ch + skip_channels.pop(), out, emb_ch, config.dropout,
                                             attention=res in config.attn_resolutions))
                ch = out
            if level > 0:
                res *= 2
                self.decoder.append(ResBlock(ch, ch, emb_ch, config.dropout, resample="up"))

        self.norm_out = _norm(ch)
        self.conv_out = _zero(nn.Conv2d(ch, config.out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        """Raw network output.

        Parameters
        ----------
        x : Tensor (B, in_channels, H, W)
            Preconditioned input; H and W multiples of the downsampling factor.
        c_noise : Tensor (B,)
            Noise conditioning ``ln(sigma) / 4``.
        """
        factor = self.config.downsampling
        if x.shape[-1] % factor or x.shape[-2] % factor:
            raise ValueError(f"input of size {tuple(x.shape[-2:])} is not a multiple of the "
                             f"UNet's downsampling factor {factor}")
        emb = F.silu(self.embed_mlp(self.embed(c_noise)))
        h = self.conv_in(x)
        skips = [h]
        for block in self.encoder:
            h = block(h, emb)
            skips.append(h)
        for block in self.middle:
            h = block(h, emb)
        for block in self.decoder:
            if block.resample == "up":
                h = block(h, emb)
            else:
                h = block(torch.cat([h, skips.pop()], dim=1), emb)
        return self.conv_out(F.silu(self.norm_out(h)))
