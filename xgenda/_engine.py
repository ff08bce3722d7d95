"""The work of one dask task of :func:`xgenda.assimilate`: a block of analysis times.

A task gets a :class:`BlockSpec` (small, picklable: coordinates, settings and a
reference to the prior, never the network itself), the observation sets of its
block and the land mask. It loads the prior once per process
(:func:`xgenda._runtime.cached_prior`), compiles the observations into an
operator, and samples every (time, member) pair of the block in batches.

Each pair draws its noise from its own generator seeded by
``SeedSequence([seed, time key, member])``, and the guidance solves each sample's
system separately, so a sample does not depend on the batch it is computed in,
the chunking, or the scheduler.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xgenda._determinism import deterministic
from xgenda.obs.collect import ObservationSet, to_days
from xgenda.obs.compile import AnalysisGrid, compile_tables

__all__ = ["BlockSpec", "PriorRef", "run_block", "sample_batches", "sample_seed"]

_TIME_OFFSET = 2**40  # keeps seed entropy non-negative for times before 1970


def sample_seed(seed: int, time: Any, member: int) -> int:
    """The 64-bit torch seed of one (time, member) sample of a run seeded ``seed``.

    ``time`` is a datetime64 (or a number of days); the key is its whole number of
    seconds since 1970, so any sub-daily analysis time has its own noise.
    """
    seconds = int(np.round(float(to_days(np.asarray([time]))[0]) * 86400.0))
    entropy = [int(seed), seconds + _TIME_OFFSET, int(member)]
    a, b = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return (int(a) << 32) | int(b)


class PriorRef:
    """A picklable reference to a prior that never pickles a torch module.

    A path (or ``"demo"``) travels as a string and is loaded once per process. An
    in-memory prior is used as is inside its own process; pickled to another
    process, it travels as its parts (config, normalizer statistics, weights or
    denoiser function) and is rebuilt once per process.
    """

    def __init__(self, prior: Any) -> None:
        # a prior that knows the directory it was loaded from travels as that path
        path = getattr(prior, "path", None) if not isinstance(prior, str) else None
        if path is not None and (Path(path) / "config.json").exists():
            self.id = prior.id
            self._prior = str(path)
            return
        self._prior = prior
        self.id = str(prior) if isinstance(prior, str) else prior.id

    def get(self) -> Any:
        from xgenda._runtime import cached_prior

        if isinstance(self._prior, str):
            return cached_prior(self._prior)
        return self._prior

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        if isinstance(self._prior, str):
            return PriorRef, (self._prior,)
        p = self._prior
        parts = {"config": p.config, "stats": p.normalizer.to_dataset(),
                 "weights": getattr(p, "_weights", None),
                 "denoise_fn": getattr(p, "_denoise_fn", None),
                 "land_mask": p.land_mask, "metadata": p.metadata, "id": p.id}
        return _rebuilt, (parts,)

    def __dask_tokenize__(self) -> str:
        return self.id


_REBUILT: dict[str, Any] = {}
_LOCK = threading.Lock()


def _rebuilt(parts: dict[str, Any]) -> PriorRef:
    from xgenda.normalize import Normalizer
    from xgenda.prior import Prior

    with _LOCK:
        prior = _REBUILT.get(parts["id"])
        if prior is None:
            prior = Prior(parts["config"], Normalizer(parts["stats"]), weights=parts["weights"],
                          denoise_fn=parts["denoise_fn"], land_mask=parts["land_mask"],
                          metadata=parts["metadata"])
            _REBUILT[parts["id"]] = prior
    return PriorRef(prior)


@dataclass(frozen=True)
class BlockSpec:
    """Everything a task needs besides its observations and the land mask."""

    prior: PriorRef
    times: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    variables: tuple[str, ...]
    members: int
    seed: int
    steps: int
    method: str
    params: dict[str, Any]
    sampler: dict[str, Any]
    time_window: float
    device: str = "auto"
    batch_size: int | None = None
    tile_overlap: int = 0
    padding: str = "mask"
    time_error_growth: float = 0.0
    known: tuple[str, ...] = ()


def _mean_fields(prior: Any, spec: BlockSpec) -> np.ndarray:
    """Normalizer mean on the block's grid (T or 1, C, H, W), physical units."""
    import xarray as xr

    like = xr.Dataset(coords={"time": ("time", spec.times), "lat": ("lat", spec.lat),
                              "lon": ("lon", spec.lon)})
    means = prior.normalizer.mean_on(like)
    fields = []
    for v in spec.variables:
        da = means[v]
        da = da.transpose(*[d for d in ("time", "lat", "lon") if d in da.dims])
        da = da.expand_dims({d: like.sizes[d] for d in ("lat", "lon") if d not in da.dims})
        values = np.asarray(da.transpose(..., "lat", "lon").values, dtype=np.float64)
        fields.append(values if values.ndim == 3 else values[None])
    steps = max(f.shape[0] for f in fields)
    return np.stack([np.broadcast_to(f, (steps, *f.shape[1:])) for f in fields], axis=1)


@deterministic  # the same bits whichever process or thread runs the block
def run_block(spec: BlockSpec, sets: Sequence[ObservationSet], land: np.ndarray,
              known: Any = None) -> np.ndarray:
    """Posterior samples of one block in physical units, (C, members, T, H, W) float32.

    Parameters
    ----------
    spec : BlockSpec
    sets : sequence of ObservationSet
        Observations of this block (routed at graph-building time).
    land : ndarray (H, W) bool
        True on land (NaN in the output, never observed).
    known : Dataset, optional
        Values of the channels ``spec.known`` at the block's times on the analysis grid
        (physical units; NaN where unknown): conditioning inputs, see
        :class:`KnownChannels`.
    """
    import torch

    from xgenda._runtime import resolve_device
    from xgenda._tiling import TiledDenoiser
    from xgenda.diffusion.guidance import guided_denoiser
    from xgenda.obs.operators import ObservationOperator, TotalCurrent

    prior = spec.prior.get()
    device = resolve_device(spec.device)
    land = np.asarray(land, dtype=bool)
    grid = AnalysisGrid.from_coords(spec.lat, spec.lon, spec.variables, land)
    tables = compile_tables(sets, grid, spec.times, spec.time_window)
    mean = _mean_fields(prior, spec)
    std = np.array([prior.normalizer.std[v] for v in spec.variables])
    currents = None
    if any((t.derived >= 0).any() for t in tables):
        currents = TotalCurrent.for_grid(spec.lat, spec.lon, spec.variables, std, land,
                                         device=device)

    height, width = grid.shape
    patch = prior.patch_size
    canvas = (max(height, patch), max(width, patch))
    ocean = np.ones(canvas, dtype=np.float32)
    ocean[:height, :width] = ~land
    if prior.land_mask is not None and canvas == (patch, patch) == (height, width):
        ocean = ocean * (np.asarray(prior.land_mask) > 0)
    mask = None if ocean.all() else torch.as_tensor(ocean, device=device)
    tiled = TiledDenoiser(prior.denoiser(device), canvas, patch, spec.tile_overlap, mask)

    channels = len(spec.variables)
    fixed = [spec.variables.index(v) for v in spec.known]
    if fixed:
        values = np.stack([np.asarray(known[v].transpose("time", "lat", "lon").values,
                                      dtype=np.float64) for v in spec.known], axis=1)
        values = (values - mean[:, fixed]) / std[fixed][None, :, None, None]
    out = np.empty((channels, spec.members, len(spec.times), height, width), np.float32)
    for batch in sample_batches(len(spec.times), spec.members, spec.batch_size):
        # only this batch's times: the padding, hence the arithmetic, of a sample must
        # not depend on which other times share its block
        times = sorted({k for k, _ in batch})
        op = ObservationOperator([tables[k] for k in times],
                                 [times.index(k) for k, _ in batch], (height, width), std,
                                 mean=mean[times] if mean.shape[0] > 1 else mean,
                                 mask=~land, padding=spec.padding,  # type: ignore[arg-type]
                                 time_error_growth=spec.time_error_growth, device=device,
                                 currents=currents)
        guided = guided_denoiser(tiled, op, op.y, op.error, spec.method, **spec.params)
        gens = [torch.Generator().manual_seed(sample_seed(spec.seed, spec.times[k], m))
                for k, m in batch]
        noise = torch.stack([torch.randn((channels, *canvas), generator=g) for g in gens])
        if fixed:
            guided = KnownChannels(guided, fixed, np.where(land, np.nan, values[[k for k, _ in batch]]),
                                   noise[:, fixed], device)
        x = _sample(guided, noise.to(device), spec, _PerSampleNoise(gens))
        x = x[..., :height, :width].double().cpu().numpy()
        _check_divergence(x, ~land, spec)
        for b, (k, m) in enumerate(batch):
            phys = mean[min(k, mean.shape[0] - 1)] + std[:, None, None] * x[b]
            out[:, m, k] = np.where(land[None], np.nan, phys)
    return out


class KnownChannels:
    """A denoiser conditioned on channels whose values are given (hard conditioning).

    At every call the given channels of the noisy state are replaced by their known
    values noised to the current level with each sample's own initial noise
    (``known + sigma * noise``), and the denoised estimate of those channels by the
    known values: the sampler ends exactly on them, and the other channels are
    denoised knowing them (inpainting by replacement along the probability-flow ODE).
    Pixels where a known value is NaN are left to the sampler.

    Parameters
    ----------
    denoise : callable
        ``denoise(x, sigma)`` (guided or not).
    channels : sequence of int
        Positions of the known channels.
    values : ndarray (B, k, H, W)
        Known values, normalized units; NaN where unknown.
    noise : Tensor (B, k, H', W')
        The samples' initial standard normal noise of those channels (H' >= H).
    """

    def __init__(self, denoise: Any, channels: Sequence[int], values: np.ndarray,
                 noise: Any, device: Any) -> None:
        import torch

        self.denoise = denoise
        self.channels = list(channels)
        given = np.isfinite(values)
        self.values = torch.as_tensor(np.nan_to_num(values), dtype=torch.float32, device=device)
        self.given = torch.as_tensor(given, device=device)
        height, width = values.shape[-2:]
        self.noise = noise[..., :height, :width].to(device)

    def __call__(self, x: Any, sigma: Any) -> Any:
        import torch

        height, width = self.values.shape[-2:]
        level = sigma.reshape(-1, 1, 1, 1) if sigma.ndim else sigma
        x = x.clone()
        part = x[:, self.channels, :height, :width]
        noised = (self.values + level * self.noise).to(x.dtype)
        x[:, self.channels, :height, :width] = torch.where(self.given, noised, part)
        out = self.denoise(x, sigma).clone()
        part = out[:, self.channels, :height, :width]
        out[:, self.channels, :height, :width] = torch.where(
            self.given, self.values.to(out.dtype), part)
        return out


#: Normalized values beyond this many prior standard deviations mean the sampler diverged.
DIVERGENCE = 50.0


def _check_divergence(x: np.ndarray, ocean: np.ndarray, spec: BlockSpec) -> None:
    """Warn when samples (B, C, H, W, normalized) left any plausible range."""
    values = x[..., ocean]
    if np.isfinite(values).all() and np.abs(values).max(initial=0.0) <= DIVERGENCE:
        return
    import warnings

    hint = "use more steps (SDA and DPS need 64 or more with dense observations), " \
        "a smaller guidance strength, or method='mmps'" if spec.method in ("sda", "dps") \
        else "use more steps or check the observation errors"
    warnings.warn(
        f"the {spec.method!r} sampler diverged ({spec.steps} steps): samples reach "
        f"{np.nanmax(np.abs(values)):.3g} prior standard deviations (or NaN); {hint}",
        RuntimeWarning, stacklevel=2)


def sample_batches(times: int, members: int,
                   batch_size: int | None) -> list[list[tuple[int, int]]]:
    """Batches of (time, member) pairs of a block.

    ``None``: one batch per time with all its members. A ``batch_size`` smaller than
    ``members`` splits each time's members into batches of that size; a larger one
    groups ``batch_size // members`` whole times per batch. As long as a batch holds
    one time, a sample's batch does not depend on how times are chunked into blocks,
    so results are bitwise identical for any chunking; batches of several times are
    faster on a GPU and give the same results up to float32 rounding.
    """
    if batch_size is None or batch_size <= members:
        size = members if batch_size is None else batch_size
        return [[(k, m) for m in range(start, min(start + size, members))]
                for k in range(times) for start in range(0, members, size)]
    group = batch_size // members
    return [[(k, m) for k in range(start, min(start + group, times)) for m in range(members)]
            for start in range(0, times, group)]


class _PerSampleNoise:
    """``(shape) -> Tensor``: standard normal draws, each sample from its own generator."""

    def __init__(self, generators: Sequence[Any]) -> None:
        self.generators = list(generators)

    def __call__(self, shape: tuple[int, ...]) -> Any:
        import torch

        return torch.stack([torch.randn(shape[1:], generator=g) for g in self.generators])


def _sample(guided: Any, noise: Any, spec: BlockSpec, noise_source: _PerSampleNoise) -> Any:
    from xgenda.diffusion.corrector import pc_sample
    from xgenda.diffusion.sampling import karras_sigmas
    from xgenda.diffusion.vp import genda_sample

    options = dict(spec.sampler)
    if options.get("name") == "genda":
        return genda_sample(guided, noise, steps=spec.steps, eta=options.get("eta", 1e-3))
    sigmas = karras_sigmas(spec.steps, sigma_min=options.get("sigma_min", 0.002),
                           sigma_max=options.get("sigma_max", 80.0), device=noise.device,
                           dtype=noise.dtype)
    return pc_sample(guided, noise, sigmas, corrector_steps=options.get("corrector_steps", 0),
                     tau=options.get("tau", 0.1), solver=options.get("solver", "heun"),
                     churn=options.get("churn", 0.0), generator=noise_source)
