"""The work of one dask task of :func:`xgenda.assimilate`: a block of analysis times.

A task gets a :class:`BlockSpec` (small, picklable: coordinates, settings and a
reference to the prior, never the network itself), the observation sets of its
block and the land mask. It loads the prior once per process
(:func:`xgenda.prior.cached_prior`), compiles the observations into an
operator, and samples every (time, member) pair of the block in batches.

Each pair draws its noise from its own generator seeded by
``SeedSequence([seed, time key, member])``
(:func:`xgenda.diffusion.samplers.sample_generator`), and the guidance solves each sample's
system separately, so a sample does not depend on the batch it is computed in,
the chunking, or the scheduler.

A window prior (:attr:`xgenda.Prior.frames` ``K > 1``) models ``K`` consecutive days
at once: analysis time ``t`` samples the window of days ``t - h ... t + h``
(``h = (K - 1) // 2``, a centred sliding window) guided by every observation of
those days on the frame of its own day (:func:`block_observations`), and keeps the
centre frame. A block therefore needs the observations of ``h`` days around its
times (:func:`halo_times`). With :class:`~xgenda.config.Window` ``trajectory_days``
``L > K`` the state is a trajectory of ``L`` days whose denoiser is composed from the
prior's ``L - K + 1`` overlapping windows
(:class:`xgenda.diffusion.composition.ComposedDenoiser`); ``frames`` and ``h`` are
then those of the trajectory.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from xgenda._batching import device_batch_size, guided_probe
from xgenda._determinism import deterministic
from xgenda._inflation import inflate
from xgenda._runtime import resolve_device
from xgenda.config import Acceleration, Guidance, Inflation, Sampler, Window
from xgenda.normalize import Normalizer
from xgenda.obs.collect import ObservationSet, to_days
from xgenda.obs.compile import AnalysisGrid, compile_tables
from xgenda.obs.table import DERIVED, ObservationTable

if TYPE_CHECKING:
    from xgenda.obs.operators import ObservationOperator, TotalCurrent

# torch, and the modules built on it, are imported where a block runs: the command line
# and graph building (xgenda.assimilate) import this module without torch

__all__ = ["BlockObservations", "BlockSpec", "PriorRef", "block_observations", "frame_offsets",
           "halo_times", "run_block", "sample_batches", "time_key", "trajectory_frames"]

_TIME_OFFSET = 2**40  # keeps seed entropy non-negative for times before 1970


def time_key(time: Any) -> int:
    """The seeding key of an analysis time (datetime64, or a number of days).

    Its whole number of seconds since 1970, offset to stay non-negative before 1970,
    so any sub-daily analysis time has its own noise
    (:func:`xgenda.diffusion.samplers.sample_generator`).
    """
    return int(np.round(float(to_days(np.asarray([time]))[0]) * 86400.0)) + _TIME_OFFSET


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
        from xgenda.prior import cached_prior

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


def _rebuilt(parts: dict[str, Any]) -> PriorRef:
    from xgenda.prior import Prior, remember_prior

    def build() -> Prior:
        return Prior(parts["config"], Normalizer(parts["stats"]), weights=parts["weights"],
                     denoise_fn=parts["denoise_fn"], land_mask=parts["land_mask"],
                     metadata=parts["metadata"])

    return PriorRef(remember_prior(("id", parts["id"]), build))


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
    sampler: Sampler
    guidance: Guidance
    window: Window
    device: str = "auto"
    batch_size: int | None = None
    tile_overlap: int = 0
    padding: str = "mask"
    known: tuple[str, ...] = ()
    acceleration: Acceleration = field(default_factory=Acceleration)
    frames: int = 1
    inflation: Inflation = field(default_factory=Inflation)

    def __post_init__(self) -> None:
        if self.frames > 1 and self.known:
            raise ValueError(
                f"known channels {list(self.known)} (winds given with wind=...) cannot "
                f"condition a window prior ({self.frames} frames) yet; leave wind out, or "
                "use a snapshot prior")


#: Half-width (days) of the slot of a window prior's frame: each observation goes to the
#: frame of its own day, the half-open interval [day - 0.5, day + 0.5) of the frame's time.
FRAME_SLOT = 0.5


def frame_offsets(frames: int) -> np.ndarray:
    """Day of each frame of a window of ``frames`` days relative to its centre,
    ``-h ... h`` with ``h = (frames - 1) // 2``."""
    half = (int(frames) - 1) // 2
    return np.arange(-half, half + 1)


def shift_days(times: np.ndarray, days: int) -> np.ndarray:
    """``times`` moved by a whole number of ``days`` (datetime64, or numbers of days)."""
    times = np.asarray(times)
    if np.issubdtype(times.dtype, np.datetime64):
        return times + np.timedelta64(int(days), "D")
    return times + days


def trajectory_frames(window_frames: int, window: Window) -> int:
    """Days of the state sampled for each analysis time: the prior's window of
    ``window_frames`` days, or the longer trajectory composed from it that
    ``window.trajectory_days`` asks for."""
    days = window.trajectory_days
    if days is None or days == window_frames:
        return int(window_frames)
    if window_frames == 1:
        raise ValueError(
            f"Window(trajectory_days={days}) composes the windows of a window prior into a "
            "longer trajectory, but this prior is a snapshot prior (frames == 1), whose days "
            "are independent; leave trajectory_days out, or use a window prior")
    if days < window_frames:
        raise ValueError(
            f"Window(trajectory_days={days}) is shorter than the prior's window of "
            f"{window_frames} days; give at least {window_frames} (or leave it out)")
    return int(days)


def halo_times(times: np.ndarray, frames: int) -> np.ndarray:
    """The days whose observations the analysis ``times`` use: the times themselves
    for a snapshot prior, every day of their windows (sorted, unique) for a window
    prior of ``frames`` days."""
    if frames == 1:
        return np.asarray(times)
    return np.unique(np.concatenate([shift_days(times, int(o))
                                     for o in frame_offsets(frames)]))


def _mean_fields(prior: Any, spec: BlockSpec) -> np.ndarray:
    """Normalizer mean on the block's grid (T or 1, C, H, W), physical units."""
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

    from xgenda.diffusion.composition import ComposedDenoiser
    from xgenda.diffusion.guidance import guided_denoiser
    from xgenda.diffusion.samplers import PerSampleNoise, run_sampler, sample_generator

    prior = spec.prior.get()
    window_frames = int(getattr(prior, "frames", 1))
    frames = trajectory_frames(window_frames, spec.window)  # the days of a sample's state
    if frames != spec.frames:
        raise ValueError(f"the block was built for a state of {spec.frames} day(s), but "
                         f"the prior {spec.prior.id} ({window_frames} frame(s)) and "
                         f"{spec.window!r} give {frames}")
    device = resolve_device(spec.device)
    land = np.asarray(land, dtype=bool)
    mean = _mean_fields(prior, spec)
    std = np.array([prior.normalizer.std[v] for v in spec.variables])
    # the state of a window prior: K frames of the variables, one normalizer for all
    state_mean = mean if frames == 1 else _window_mean(prior, spec)
    state_std = std if frames == 1 else np.tile(std, frames)
    observed = block_observations(sets, spec.lat, spec.lon, spec.variables, land, spec.times,
                                  spec.window, state_std, state_mean, padding=spec.padding,
                                  device=device, frames=frames)

    height, width = observed.grid.shape
    tiled, canvas = _tiled_denoiser(prior, land, spec.tile_overlap, device, spec.acceleration)
    channels = len(spec.variables)
    if frames > window_frames:  # a trajectory composed from the prior's windows
        tiled = ComposedDenoiser(tiled, window_frames, frames, channels)
    centre = (frames - 1) // 2 * channels  # first channel of the centre frame
    fixed = [spec.variables.index(v) for v in spec.known]
    if fixed:
        values = _known_values(known, spec.known, mean[:, fixed], std[fixed])
    out = np.empty((channels, spec.members, len(spec.times), height, width), np.float32)
    batch_size = spec.batch_size
    if batch_size is None:  # on CUDA: times x members sized to the free memory (CPU: None)
        probe = guided_probe(tiled, observed, spec.guidance, (frames * channels, *canvas),
                             device)
        key = (spec.prior.id, frames, channels, canvas, spec.guidance, spec.acceleration)
        batch_size = device_batch_size(device, key, probe, len(spec.times), spec.members)
    for batch in sample_batches(len(spec.times), spec.members, batch_size):
        # only this batch's times: the padding, hence the arithmetic, of a sample must
        # not depend on which other times share its block
        times = sorted({k for k, _ in batch})
        op = observed.operator(times, [times.index(k) for k, _ in batch])
        guided = guided_denoiser(tiled, op, op.y, op.error, spec.guidance.method,
                                 **spec.guidance.params())
        gens = [sample_generator(spec.seed, m, time_key(spec.times[k])) for k, m in batch]
        noise = torch.stack([torch.randn((frames * channels, *canvas), generator=g)
                             for g in gens])
        if fixed:
            given = np.where(land, np.nan, values[[k for k, _ in batch]])
            guided = KnownChannels(guided, fixed, given, noise[:, fixed], device)
        # unguided: no autograd at all (guided denoisers differentiate through the network)
        x = run_sampler(spec.sampler, guided, noise.to(device), PerSampleNoise(gens),
                        grad=spec.guidance.method != "none")
        x = x[..., :height, :width].double().cpu().numpy()
        _check_divergence(x, ~land, spec)
        x = x[:, centre:centre + channels]  # the analysis is the window's centre day
        for b, (k, m) in enumerate(batch):
            phys = mean[min(k, mean.shape[0] - 1)] + std[:, None, None] * x[b]
            out[:, m, k] = np.where(land[None], np.nan, phys)
    # every member of a time is in this block: the inflation sees the whole ensemble
    return inflate(out, ~land, spec.lat, spec.lon, spec.inflation, axis=1)


def _window_mean(prior: Any, spec: BlockSpec) -> np.ndarray:
    """Normalizer mean of every frame of the windows of the block's times,
    (T or 1, K * C, H, W) frame-major, physical units."""
    parts = [_mean_fields(prior, replace(spec, times=shift_days(spec.times, int(o))))
             for o in frame_offsets(spec.frames)]
    steps = max(p.shape[0] for p in parts)
    return np.concatenate([np.broadcast_to(p, (steps, *p.shape[1:])) for p in parts], axis=1)


@dataclass(frozen=True)
class BlockObservations:
    """The observations of a block compiled on its analysis grid: one table per time.

    Built by :func:`block_observations`; :meth:`operator` gives the observation
    operator of any subset of the block's times, the same way for the sampler
    (:func:`run_block`, normalized units) and for scoring ensembles at observations
    (:func:`xgenda.calibrate`, physical units: ``std`` of ones and no mean).
    """

    grid: AnalysisGrid
    tables: list[ObservationTable]
    std: np.ndarray
    mean: np.ndarray | None
    window: Window
    currents: TotalCurrent | None
    padding: str
    device: Any
    dtype: Any

    def operator(self, times: Sequence[int], sample_time: Sequence[int]) -> ObservationOperator:
        """The operator of the block's times ``times`` (indices), sample ``b`` at
        ``times[sample_time[b]]``."""
        from xgenda.obs.operators import ObservationOperator

        mean = self.mean
        if mean is not None and mean.shape[0] > 1:
            mean = mean[list(times)]
        return ObservationOperator([self.tables[k] for k in times], sample_time,
                                   self.grid.shape, self.std, mean=mean, mask=~self.grid.land,
                                   padding=self.padding,  # type: ignore[arg-type]
                                   time_error_growth=self.window.error_growth,
                                   device=self.device, dtype=self.dtype,
                                   currents=self.currents)


def block_observations(sets: Sequence[ObservationSet], lat: np.ndarray, lon: np.ndarray,
                       variables: Sequence[str], land: np.ndarray, times: np.ndarray,
                       window: Window, std: Sequence[float] | np.ndarray,
                       mean: np.ndarray | None = None, *, padding: str = "mask",
                       device: Any = "cpu", dtype: Any = None,
                       frames: int = 1) -> BlockObservations:
    """The observation pipeline of a block: analysis grid, tables, total-current map.

    For a window prior (``frames`` K > 1) the state of analysis time ``t`` is the
    window of days ``t + o``, ``o`` in :func:`frame_offsets`, channel ``f * C + c``
    holding variable ``c`` of frame ``f``. An observation at time ``tau`` goes to the
    frame of its own day, ``f = round(tau - t) + h``, for ``t - h - 0.5 <= tau <
    t + h + 0.5`` (half-open days about each frame's time); its set's time window
    (if narrower than that day) and error growth then apply to its distance from
    the frame's time, never from ``t``. Observations beyond the window's days that a
    set's own window reaches go to the nearest edge frame (the first or the last), with
    their distance from that frame's time.

    Parameters
    ----------
    sets : sequence of ObservationSet
    lat, lon : ndarray (H,), (W,)
        Grid coordinates (degrees).
    variables : sequence of str
        The state's channels.
    land : ndarray (H, W) bool
        True on land (never observed).
    times : ndarray (T,)
        Analysis times.
    window : Window
        Observation-window settings (half width, error growth).
    std : array (K * C,)
        Normalizer std of each channel of the state (physical units); ones for
        physical states.
    mean : ndarray (T or 1, K * C, H, W), optional
        Normalizer mean fields of the state's channels (physical units); None for
        physical states.
    dtype : torch.dtype, optional
        Of the operators (float32 by default).
    frames : int
        K, the frames of the prior's state (1: a snapshot prior).
    """
    import torch

    from xgenda.obs.operators import TotalCurrent

    land = np.asarray(land, dtype=bool)
    grid = AnalysisGrid.from_coords(lat, lon, tuple(variables), land)
    if frames == 1:
        tables = compile_tables(sets, grid, times, window.half_width)
    else:
        tables = _window_tables(sets, grid, times, window.half_width, frames)
    dtype = torch.float32 if dtype is None else dtype
    std = np.asarray(std, dtype=np.float64)
    currents = None
    if any((t.derived >= 0).any() for t in tables):
        currents = TotalCurrent.for_grid(lat, lon, variables, std, land, device=device,
                                         dtype=dtype)
    return BlockObservations(grid, tables, std, mean, window, currents, padding, device, dtype)


def _window_tables(sets: Sequence[ObservationSet], grid: AnalysisGrid, times: np.ndarray,
                   half_width: float, frames: int) -> list[ObservationTable]:
    """One table per analysis time holding the observations of every frame of its window,
    each on the channels of its frame (see :func:`block_observations`)."""
    channels = len(grid.variables)
    # each set's own window, narrowed to the frame's day: an observation is used once,
    # on its own day, with its distance from that day
    slot = [replace(s, time_window=min(half_width if s.time_window is None
                                       else float(s.time_window), FRAME_SLOT)) for s in sets]
    per_frame = []
    last = frames - 1
    for f, offset in enumerate(frame_offsets(frames)):
        shifted = shift_days(times, int(offset))
        if f in (0, last):
            # an edge frame also takes what the sets' own windows reach beyond the
            # window's days, at its distance from the edge frame's time
            tables = compile_tables(sets, grid, shifted, half_width)
            tables = [t.select(t.dt_days < FRAME_SLOT if f == 0 else t.dt_days >= -FRAME_SLOT)
                      for t in tables]
        else:
            tables = compile_tables(slot, grid, shifted, min(half_width, FRAME_SLOT))
        per_frame.append([_on_frame(t, f, channels) for t in tables])
    return [ObservationTable.concat(parts) for parts in zip(*per_frame, strict=True)]


def _on_frame(table: ObservationTable, frame: int, channels: int) -> ObservationTable:
    """``table``'s rows moved to the channels of ``frame`` of a window state."""
    if (table.derived >= 0).any():
        raise ValueError(
            f"total-current observations ({', '.join(DERIVED)}) of a decomposed state cannot "
            "guide a window prior yet; give them to a snapshot prior, or leave them out")
    return replace(table, channel=table.channel + frame * channels)


def _tiled_denoiser(prior: Any, land: np.ndarray, overlap: int, device: Any,
                    acceleration: Acceleration | None = None) -> tuple[Any, tuple[int, int]]:
    """The prior's denoiser over the analysis grid (tiled if larger than its patch), and
    the canvas (H', W') it works on: the grid, padded up to one patch if smaller. Its
    network runs as ``acceleration`` asks (:func:`xgenda.diffusion.edm.accelerate`)."""
    import torch

    from xgenda._tiling import TiledDenoiser
    from xgenda.diffusion.edm import accelerate

    height, width = land.shape
    patch = prior.patch_size
    canvas = (max(height, patch), max(width, patch))
    ocean = np.ones(canvas, dtype=np.float32)
    ocean[:height, :width] = ~land
    if prior.land_mask is not None and canvas == (patch, patch) == (height, width):
        ocean = ocean * (np.asarray(prior.land_mask) > 0)
    mask = None if ocean.all() else torch.as_tensor(ocean, device=device)
    denoiser = accelerate(prior.denoiser(device), acceleration or Acceleration())
    return TiledDenoiser(denoiser, canvas, patch, overlap, mask), canvas


def _known_values(known: Any, names: Sequence[str], mean: np.ndarray, std: np.ndarray
                  ) -> np.ndarray:
    """Known channels (T, k, H, W) in normalized units, from physical ``known``."""
    values = np.stack([np.asarray(known[v].transpose("time", "lat", "lon").values,
                                  dtype=np.float64) for v in names], axis=1)
    return (values - mean) / std[None, :, None, None]


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
    method = spec.guidance.method
    hint = "use more steps (SDA and DPS need 64 or more with dense observations), " \
        "a smaller guidance strength, or guidance=MMPS()" if method in ("sda", "dps") \
        else "use more steps or check the observation errors"
    finite = np.abs(values[np.isfinite(values)])
    if finite.size == 0:
        reach = "only NaN"
    else:
        reach = f"{finite.max():.3g} prior standard deviations"
        reach += " and NaN" if finite.size < values.size else ""
    warnings.warn(
        f"the {method!r} sampler diverged ({spec.sampler.steps} steps): samples reach "
        f"{reach}; {hint}", RuntimeWarning, stacklevel=2)


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
