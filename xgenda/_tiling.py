"""Denoising a domain larger than the prior's patch with overlapping tiles.

A prior is trained on square ``patch`` x ``patch`` fields. On a larger canvas,
:class:`TiledDenoiser` cuts the noisy state into overlapping tiles, denoises them
all in one batch and averages the overlapping outputs with smooth weights (a
squared-sine bump per tile, normalized by their sum). Because this happens at
every sampling step, the tiles keep agreeing as the noise falls and the final
field has no seams; guidance sees the whole canvas, so an observation guides
every tile it touches.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional as F

__all__ = ["TiledDenoiser", "tile_starts", "tile_weights"]


def tile_starts(length: int, patch: int, overlap: int) -> list[int]:
    """Start indices of tiles of size ``patch`` covering ``length`` pixels.

    Tiles overlap by at least ``overlap`` pixels and are spread evenly, the first at 0
    and the last ending at ``length``.
    """
    if patch > length:
        raise ValueError(f"patch {patch} is larger than the canvas ({length} pixels)")
    if not 0 <= overlap < patch:
        raise ValueError(f"tile overlap must be in [0, {patch}), got {overlap}")
    if length == patch:
        return [0]
    count = math.ceil((length - patch) / (patch - overlap)) + 1
    return [round(k * (length - patch) / (count - 1)) for k in range(count)]


def tile_weights(patch: int) -> np.ndarray:
    """Blending weights (patch, patch): a smooth bump, largest in the tile centre, > 0."""
    w = np.sin(np.pi * (np.arange(patch) + 0.5) / patch) ** 2
    return np.outer(w, w)


class TiledDenoiser:
    """``D(x, sigma)`` on a canvas of any size >= the patch, from a patch denoiser.

    Parameters
    ----------
    denoiser : callable
        ``denoiser(x (N, C, P, P), sigma, mask (N, 1, P, P) or None)``.
    canvas : (int, int)
        (H, W) of the states, each >= ``patch``.
    patch : int
        Tile size P the denoiser works on.
    overlap : int
        Minimum overlap of neighbouring tiles (pixels).
    mask : Tensor (H, W), optional
        1 over ocean, 0 over land (``None``: all ocean).
    """

    def __init__(self, denoiser: Callable[..., torch.Tensor], canvas: tuple[int, int],
                 patch: int, overlap: int, mask: torch.Tensor | None = None) -> None:
        self.denoiser = denoiser
        self.canvas = (int(canvas[0]), int(canvas[1]))
        self.patch = int(patch)
        self.starts = [(i, j) for i in tile_starts(self.canvas[0], patch, overlap)
                       for j in tile_starts(self.canvas[1], patch, overlap)]
        self.mask = mask
        self._weights: dict[tuple[str, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def tiles(self) -> int:
        return len(self.starts)

    def _blend(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = (str(like.device), like.dtype)
        if key not in self._weights:
            w = torch.as_tensor(tile_weights(self.patch), device=like.device, dtype=like.dtype)
            total = torch.zeros(self.canvas, device=like.device, dtype=like.dtype)
            for i, j in self.starts:
                total[i:i + self.patch, j:j + self.patch] += w
            self._weights[key] = (w, total)
        return self._weights[key]

    def _tile_mask(self, batch: int, like: torch.Tensor) -> torch.Tensor | None:
        if self.mask is None:
            return None
        mask = self.mask.to(device=like.device, dtype=like.dtype)
        p = self.patch
        tiles = torch.stack([mask[i:i + p, j:j + p] for i, j in self.starts])  # (T, P, P)
        return tiles[:, None].repeat_interleave(batch, dim=0)

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Denoised canvas (B, C, H, W) from the noisy one (B, C, H, W)."""
        if self.tiles == 1:
            mask = None if self.mask is None else \
                self.mask.to(device=x.device, dtype=x.dtype)[None, None]
            return self.denoiser(x, sigma, mask)
        batch, p = x.shape[0], self.patch
        tiles = torch.cat([x[:, :, i:i + p, j:j + p] for i, j in self.starts])
        denoised = self.denoiser(tiles, sigma, self._tile_mask(batch, x))
        weight, total = self._blend(x)
        height, width = self.canvas
        pieces = denoised.split(batch)
        out = sum(F.pad(weight * piece, (j, width - j - p, i, height - i - p))
                  for (i, j), piece in zip(self.starts, pieces, strict=True))
        return out / total
