"""EDM preconditioning and training loss (Karras et al. 2022, "Elucidating ...").

The denoiser is written around a raw network ``F``:

    D(x, sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma))

    c_skip = sd^2 / (sigma^2 + sd^2)        c_out  = sigma sd / sqrt(sigma^2 + sd^2)
    c_in   = 1 / sqrt(sigma^2 + sd^2)       c_noise = ln(sigma) / 4

with ``sd = sigma_data``, the standard deviation of the (normalized) data: 1 for
standardized fields. Training draws ``ln sigma ~ N(P_mean, P_std^2)`` and weights
the squared error by ``(sigma^2 + sd^2) / (sigma sd)^2``, which makes the loss of
the optimal denoiser O(1) at every noise level.

Land is handled with a mask (1 over ocean, 0 over land): land pixels are zeroed at
the input, the mask is given to the network as an extra channel, the output is 0
on land, and land pixels do not enter the loss.
"""

from __future__ import annotations

import copy
import math
import threading
import weakref
from collections.abc import Callable
from typing import Any, overload

import torch

from xgenda.config import Heun

__all__ = ["SAMPLER_SIGMAS", "DenoiserFunction", "EDMPrecond", "accelerate", "edm_coefficients",
           "edm_loss", "ocean_mask", "training_sigmas"]


@overload
def edm_coefficients(sigma: torch.Tensor, sigma_data: float = 1.0
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]: ...


@overload
def edm_coefficients(sigma: float, sigma_data: float = 1.0
                     ) -> tuple[float, float, float, float]: ...


def edm_coefficients(
    sigma: torch.Tensor | float, sigma_data: float = 1.0
) -> tuple[torch.Tensor | float, torch.Tensor | float, torch.Tensor | float, torch.Tensor | float]:
    """EDM preconditioning coefficients ``(c_skip, c_out, c_in, c_noise)``.

    Parameters
    ----------
    sigma : Tensor or float
        Noise level(s) (> 0), normalized data units.
    sigma_data : float
        Standard deviation of the normalized data.

    Returns
    -------
    tuple
        ``c_skip = sd^2/(s^2+sd^2)``, ``c_out = s sd/sqrt(s^2+sd^2)``,
        ``c_in = 1/sqrt(s^2+sd^2)``, ``c_noise = ln(s)/4``; tensors if ``sigma``
        is a tensor, floats otherwise.
    """
    if isinstance(sigma, torch.Tensor):
        total = sigma**2 + sigma_data**2
        return (sigma_data**2 / total, sigma * sigma_data / total.sqrt(),
                1.0 / total.sqrt(), sigma.log() / 4.0)
    s = float(sigma)
    total_f = s**2 + sigma_data**2
    return (sigma_data**2 / total_f, s * sigma_data / math.sqrt(total_f),
            1.0 / math.sqrt(total_f), math.log(s) / 4.0)


def ocean_mask(x: torch.Tensor) -> torch.Tensor:
    """Mask (B, 1, H, W): 1 where every channel of ``x`` (B, C, H, W) is finite, else 0."""
    return torch.isfinite(x).all(dim=1, keepdim=True).to(
        x.dtype if x.is_floating_point() else torch.float32)


class EDMPrecond(torch.nn.Module):
    """EDM-preconditioned denoiser ``D(x, sigma)`` around a raw network ``F``.

    Parameters
    ----------
    net : torch.nn.Module
        ``net(x_in, c_noise) -> F`` with ``x_in`` (B, channels + mask_channel, H, W),
        ``c_noise`` (B,) and output (B, channels, H, W).
    channels : int
        Number of data channels (variables).
    sigma_data : float
        Standard deviation of the normalized data (1.0 for standardized fields).
    mask_channel : bool
        Whether ``net`` takes the ocean mask as an extra last input channel.
    """

    def __init__(self, net: torch.nn.Module, channels: int, sigma_data: float = 1.0,
                 mask_channel: bool = True) -> None:
        super().__init__()
        if sigma_data <= 0:
            raise ValueError(f"sigma_data must be > 0, got {sigma_data}")
        self.net = net
        self.channels = int(channels)
        self.sigma_data = float(sigma_data)
        self.mask_channel = bool(mask_channel)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """Denoised estimate of ``x0`` from ``x = x0 + sigma n``.

        Parameters
        ----------
        x : Tensor (B, C, H, W)
            Noisy state in normalized units (NaN allowed on land).
        sigma : Tensor (B,), 0-d Tensor or float
            Noise level(s), > 0.
        mask : Tensor (B or 1, 1, H, W), optional
            1 over ocean, 0 over land; ``None`` means all ocean.

        Returns
        -------
        Tensor (B, C, H, W)
            ``D(x, sigma)`` in normalized units, 0 on land, dtype of ``x``.
        """
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"x must have shape (B, {self.channels}, H, W), got {tuple(x.shape)}")
        batch = x.shape[0]
        sigma = torch.as_tensor(sigma, device=x.device, dtype=x.dtype).reshape(-1)
        if sigma.numel() == 1:
            sigma = sigma.expand(batch)
        elif sigma.numel() != batch:
            raise ValueError(f"sigma must be a scalar or have {batch} entries, got {sigma.numel()}")
        if mask is None:
            mask = torch.ones((1, 1, *x.shape[-2:]), device=x.device, dtype=x.dtype)
        mask = mask.to(device=x.device, dtype=x.dtype).expand(batch, 1, *x.shape[-2:])
        x = torch.where(mask > 0, x, torch.zeros((), device=x.device, dtype=x.dtype))
        c_skip, c_out, c_in, c_noise = edm_coefficients(sigma.reshape(-1, 1, 1, 1),
                                                        self.sigma_data)
        x_in = c_in * x
        if self.mask_channel:
            x_in = torch.cat([x_in, mask], dim=1)
        net_dtype = next(self.net.parameters()).dtype
        out = self.net(x_in.to(net_dtype), c_noise.reshape(-1).to(net_dtype))
        denoised = c_skip * x + c_out * out.to(x.dtype)
        return denoised * mask


#: The noise levels the default samplers run over (:class:`xgenda.config.Heun`
#: ``sigma_min``, ``sigma_max``): what ``sigma_cover`` of the training loss spans.
SAMPLER_SIGMAS = (Heun().sigma_min, Heun().sigma_max)


def training_sigmas(batch: int, *, p_mean: float = -1.2, p_std: float = 1.2,
                    sigma_cover: float = 0.0,
                    sigma_range: tuple[float, float] = SAMPLER_SIGMAS,
                    generator: torch.Generator | None = None, device: Any = None,
                    dtype: Any = None) -> torch.Tensor:
    """Noise levels (batch,) of a training batch.

    ``ln sigma ~ N(p_mean, p_std^2)`` (EDM's log-normal), mixed with probability
    ``sigma_cover`` with ``ln sigma`` uniform over ``ln sigma_range``: the log-normal
    of EDM's defaults draws sigma > 10 in 0.2 % of samples while sampling starts at
    80, and the uniform part covers the sampler's whole range. ``sigma_cover = 0``
    draws exactly what EDM's log-normal alone draws from ``generator``.
    """
    if not 0.0 <= sigma_cover <= 1.0:
        raise ValueError(f"sigma_cover must be in [0, 1], got {sigma_cover}")
    low, high = (math.log(float(v)) for v in sigma_range)
    if not low < high:
        raise ValueError(f"sigma_range must be (low, high) with 0 < low < high, got "
                         f"{sigma_range}")
    log_sigma = torch.randn(batch, generator=generator, device=device, dtype=dtype)
    log_sigma = log_sigma * p_std + p_mean
    if sigma_cover > 0:
        pick = torch.rand(batch, generator=generator, device=device, dtype=dtype)
        flat = low + (high - low) * torch.rand(batch, generator=generator, device=device,
                                               dtype=dtype)
        log_sigma = torch.where(pick < sigma_cover, flat, log_sigma)
    return log_sigma.exp()


def edm_loss(
    precond: torch.nn.Module,
    x0: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    p_mean: float = -1.2,
    p_std: float = 1.2,
    sigma_cover: float = 0.0,
    sigma_range: tuple[float, float] = SAMPLER_SIGMAS,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """EDM denoising loss of each sample, averaged over its ocean pixels.

    ``sigma`` from :func:`training_sigmas` (``ln sigma ~ N(p_mean, p_std^2)``, mixed
    with a log-uniform over ``sigma_range`` with probability ``sigma_cover``),
    ``x = x0 + sigma n``, and the loss is
    ``(sigma^2 + sd^2)/(sigma sd)^2 |D(x, sigma) - x0|^2`` averaged over channels
    and ocean pixels of each sample.

    Parameters
    ----------
    precond : EDMPrecond
        The denoiser (has ``sigma_data``).
    x0 : Tensor (B, C, H, W)
        Clean normalized samples; NaN marks land.
    mask : Tensor (B, 1, H, W), optional
        Ocean mask; default: pixels where every channel of ``x0`` is finite.
    p_mean, p_std : float
        Log-normal noise distribution.
    sigma_cover, sigma_range : float, (float, float)
        Share of the batch drawn log-uniform over ``sigma_range`` instead.
    generator : torch.Generator, optional
        Seeded source of the noise levels and noise.

    Returns
    -------
    Tensor (B,)
        Weighted loss per sample (0 for a sample without ocean pixels).
    """
    if mask is None:
        mask = ocean_mask(x0)
    valid = (mask > 0) & torch.isfinite(x0)
    x0 = torch.where(valid, x0, torch.zeros((), device=x0.device, dtype=x0.dtype))
    batch = x0.shape[0]
    sigma = training_sigmas(batch, p_mean=p_mean, p_std=p_std, sigma_cover=sigma_cover,
                            sigma_range=sigma_range, generator=generator, device=x0.device,
                            dtype=x0.dtype)
    noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    s = sigma.reshape(-1, 1, 1, 1)
    denoised = precond(x0 + s * noise, sigma, mask)
    sd = float(precond.sigma_data)  # type: ignore[arg-type]
    weight = (s**2 + sd**2) / (s * sd) ** 2
    err = weight * (denoised.to(x0.dtype) - x0) ** 2 * valid
    count = valid.sum(dim=(1, 2, 3)).clamp_min(1)
    return err.sum(dim=(1, 2, 3)) / count


class DenoiserFunction(torch.nn.Module):
    """A user's ``denoise(x, sigma)`` callable with the :class:`EDMPrecond` interface.

    Lets an analytic or externally trained denoiser stand in for a network
    (see :meth:`xgenda.Prior.from_denoiser`).

    Parameters
    ----------
    fn : callable
        ``fn(x (B, C, H, W), sigma) -> (B, C, H, W)`` estimate of ``E[x0 | x]``; ``sigma``
        is a 0-d tensor or a (B, 1, 1, 1) tensor of per-sample noise levels.
    channels : int
        Number of channels C.
    sigma_data : float
        Standard deviation of the normalized data.
    """

    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], channels: int,
                 sigma_data: float = 1.0) -> None:
        super().__init__()
        self.fn = fn
        self.channels = int(channels)
        self.sigma_data = float(sigma_data)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """``fn(x, sigma)``, zeroed where ``mask`` is 0.

        ``sigma`` reaches ``fn`` as a 0-d tensor, or as (B, 1, 1, 1) when it has one
        value per sample (as in training), so that it broadcasts against ``x``.
        """
        sigma = torch.as_tensor(sigma, device=x.device, dtype=x.dtype)
        if sigma.numel() > 1:
            sigma = sigma.reshape(-1, 1, 1, 1)
        elif sigma.ndim:
            sigma = sigma.reshape(())
        if mask is not None:
            x = torch.where(mask > 0, x, torch.zeros((), device=x.device, dtype=x.dtype))
        out = self.fn(x, sigma)
        return out * mask if mask is not None else out


class _NetworkOptions(torch.nn.Module):
    """A raw network run under bf16 autocast and/or on channels-last tensors.

    The output has the input's dtype, so the preconditioning around it stays in float32.
    """

    def __init__(self, net: torch.nn.Module, bf16: bool, channels_last: bool) -> None:
        super().__init__()
        self.net = net
        self.bf16 = bool(bf16)
        self.channels_last = bool(channels_last)

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = self.net(x, c_noise)
        return out.to(dtype).contiguous()


_ACCELERATED: weakref.WeakKeyDictionary[torch.nn.Module, dict[Any, torch.nn.Module]] = \
    weakref.WeakKeyDictionary()
_ACCELERATED_LOCK = threading.Lock()


def accelerate(denoiser: torch.nn.Module, options: Any) -> torch.nn.Module:
    """``denoiser`` with its raw network run as ``options`` asks.

    Parameters
    ----------
    denoiser : EDMPrecond or DenoiserFunction
        The prior's denoiser (:meth:`xgenda.Prior.denoiser`).
    options : xgenda.config.Acceleration
        bf16 autocast, ``torch.compile`` (with CUDA graphs), channels-last.

    Returns
    -------
    torch.nn.Module
        An :class:`EDMPrecond` around the same weights (a copy for channels-last) with
        the same interface, or ``denoiser`` itself when no option is on or when it is a
        user's function (:class:`DenoiserFunction`, no network to accelerate). Built
        once per denoiser and options, so a compiled network compiles once per process.

    Raises
    ------
    ValueError
        ``cuda_graphs`` on a denoiser that is not on a CUDA device.
    """
    if not options.enabled or not isinstance(denoiser, EDMPrecond):
        return denoiser
    device = next(denoiser.parameters()).device
    if options.cuda_graphs and device.type != "cuda":
        raise ValueError(f"cuda_graphs=True needs the prior on a CUDA device, got {device}; "
                         "use Acceleration(compile=True) on a CPU")
    with _ACCELERATED_LOCK:
        done = _ACCELERATED.setdefault(denoiser, {})
        if options not in done:
            net = denoiser.net
            if options.channels_last:
                net = copy.deepcopy(net).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            wrapped: Any = _NetworkOptions(net, options.bf16, options.channels_last)
            if options.compile:
                mode = "reduce-overhead" if options.cuda_graphs else None
                wrapped = torch.compile(wrapped, dynamic=False, mode=mode)
            fast = EDMPrecond(wrapped, denoiser.channels, denoiser.sigma_data,
                              denoiser.mask_channel).eval()
            fast.requires_grad_(False)
            done[options] = fast
        return done[options]
