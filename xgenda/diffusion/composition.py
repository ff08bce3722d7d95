"""A trajectory of ``L`` days denoised by a window prior of ``K < L`` days.

The composition of score-based data assimilation (Rozet & Louppe 2023): a prior of
``K = 2k + 1`` consecutive days models a Markov chain of order ``k`` well, and the
score of a longer trajectory is assembled from the scores of its ``L - K + 1``
overlapping windows. Day ``i`` takes the centre of the window centred on it; the
first ``k`` days take the first window's, the last ``k`` the last window's. In EDM
form the denoiser ``D(x, sigma) = x + sigma^2 score`` is assembled the same way.

Every window of every sample goes through the network in one batch, so one call of
the trajectory's denoiser costs ``L - K + 1`` window evaluations. The assembly is
made of slices and concatenations: it is differentiable, and guidance (which
differentiates the denoiser) works on the whole trajectory unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["ComposedDenoiser", "composition_sources"]


def composition_sources(window_frames: int, frames: int) -> list[tuple[int, int]]:
    """``(window, frame in that window)`` giving each day of a trajectory of ``frames``
    days composed from windows of ``window_frames`` days; window ``j`` covers days
    ``j ... j + window_frames - 1``."""
    k = (window_frames - 1) // 2
    last = frames - window_frames
    out = []
    for day in range(frames):
        window = min(max(day - k, 0), last)
        out.append((window, day - window))
    return out


class ComposedDenoiser:
    """``D(x, sigma)`` of ``frames`` consecutive days from a denoiser of windows.

    Parameters
    ----------
    denoise : callable
        ``denoise(x (N, window_frames * channels, H, W), sigma) -> same shape``, the
        window prior's denoiser, frame-major channels.
    window_frames : int
        ``K``, odd, the days of the prior's windows.
    frames : int
        ``L``, odd, ``L >= K``, the days of the trajectory.
    channels : int
        Variables of one day.
    """

    def __init__(self, denoise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 window_frames: int, frames: int, channels: int) -> None:
        if window_frames % 2 == 0 or frames % 2 == 0 or not 1 <= window_frames <= frames:
            raise ValueError(f"a trajectory of {frames} days cannot be composed from windows "
                             f"of {window_frames} days: both odd, the trajectory at least as "
                             "long as the window")
        self.denoise = denoise
        self.window_frames = int(window_frames)
        self.frames = int(frames)
        self.channels = int(channels)
        self.sources = composition_sources(self.window_frames, self.frames)

    @property
    def windows(self) -> int:
        """Window evaluations per call and sample, ``L - K + 1``."""
        return self.frames - self.window_frames + 1

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Denoised trajectories (B, L * C, H, W) from the noisy ones."""
        c, k = self.channels, self.window_frames
        if x.shape[1] != self.frames * c:
            raise ValueError(f"expected {self.frames} days x {c} channels = "
                             f"{self.frames * c} channels, got {x.shape[1]}")
        if self.windows == 1:
            return self.denoise(x, sigma)
        batch = x.shape[0]
        windows = torch.cat([x[:, j * c:(j + k) * c] for j in range(self.windows)])
        if isinstance(sigma, torch.Tensor) and sigma.numel() > 1:  # one per sample
            sigma = sigma.reshape(-1).repeat(self.windows)
        denoised = self.denoise(windows, sigma).split(batch)
        return torch.cat([denoised[j][:, f * c:(f + 1) * c] for j, f in self.sources], dim=1)
