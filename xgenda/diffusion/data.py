"""Random training patches read straight from an xarray Dataset.

Each batch picks ``batch`` random ``(time, lat offset, lon offset)`` positions,
selects those patches with ``isel`` and computes only them (one dask compute per
batch), so a zarr- or dask-backed Dataset of any size is never loaded whole.
Patches with too little ocean (NaN land) are redrawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import dask
import dask.array as dsa
import numpy as np
import pandas as pd
import xarray as xr

if TYPE_CHECKING:
    from xgenda.normalize import Normalizer

__all__ = ["PatchSampler", "check_training_data"]


def check_training_data(ds: xr.Dataset, variables: Sequence[str], patch_size: int) -> None:
    """Raise a clear error if ``ds`` cannot give ``patch_size`` patches of ``variables``.

    Parameters
    ----------
    ds : Dataset
        Training data, dims ``(time, lat, lon)``.
    variables : sequence of str
        Channels the prior models.
    patch_size : int
        Side of the square patches (pixels).
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"training data must be an xarray.Dataset, got {type(ds).__name__}")
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        raise ValueError(f"variables {missing} are missing from the training dataset, which has "
                         f"{sorted(map(str, ds.data_vars))}; rename them "
                         "(ds.genda.standardize()) or choose `variables` in the config")
    for v in variables:
        if set(ds[v].dims) != {"time", "lat", "lon"}:
            raise ValueError(f"variable {v!r} has dims {ds[v].dims}; training needs "
                             "(time, lat, lon) (select one level/member first)")
    ny, nx = ds.sizes["lat"], ds.sizes["lon"]
    if patch_size > min(ny, nx):
        raise ValueError(f"patch size {patch_size} is larger than the grid ({ny} x {nx} "
                         "lat x lon); use a smaller patch_size")


class PatchSampler:
    """Draws random normalized patches (B, C, P, P) from a Dataset.

    Parameters
    ----------
    ds : Dataset
        Physical-unit data with dims ``(time, lat, lon)`` (numpy- or dask-backed).
    variables : sequence of str
        Channel order.
    patch_size : int
        Side of square patches (pixels).
    normalizer : Normalizer or None
        Statistics applied to each patch after it is computed; ``None`` for data
        that are already normalized.
    time_index : array of int
        Positions along ``time`` this sampler may draw from (training or validation).
    min_ocean_fraction : float
        Patches whose fraction of ocean pixels (all channels finite) is below this
        are redrawn.

    Notes
    -----
    The normalizer's means are evaluated once on the data's grid (for a monthly
    climatology: one field per fitted month), so each batch is normalized in numpy.
    """

    def __init__(self, ds: xr.Dataset, variables: Sequence[str], patch_size: int,
                 normalizer: Normalizer | None, time_index: np.ndarray,
                 min_ocean_fraction: float = 0.5) -> None:
        check_training_data(ds, variables, patch_size)
        if len(time_index) == 0:
            raise ValueError("no time step to draw patches from")
        self.ds = ds[list(variables)].transpose("time", "lat", "lon")
        self.variables = list(variables)
        self.patch_size = int(patch_size)
        self.time_index = np.asarray(time_index, dtype=np.int64)
        self.min_ocean_fraction = float(min_ocean_fraction)
        self._arrays = [self.ds[v].data for v in self.variables]
        self._mean, self._std, self._month_slot = _normalization(self.ds, self.variables,
                                                                 normalizer)

    def sample(self, rng: np.random.Generator, batch: int, max_rounds: int = 20) -> np.ndarray:
        """A batch of normalized patches, float32 (B, C, P, P), NaN on land.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of the patch positions (its state advances).
        batch : int
            Number of patches.
        max_rounds : int
            Redraw rounds for patches with too little ocean before giving up.
        """
        kept: list[np.ndarray] = []
        for _ in range(max_rounds):
            patches = self._draw(rng, batch - len(kept))
            ocean = np.isfinite(patches).all(axis=1).mean(axis=(1, 2))
            good = ocean >= max(self.min_ocean_fraction, 1e-9)
            kept.extend(patches[good])
            if len(kept) >= batch:
                return np.stack(kept[:batch])
        raise ValueError(
            f"after {max_rounds} rounds only {len(kept)} of {batch} patches had at least "
            f"{self.min_ocean_fraction:.0%} ocean: the training data are NaN (land or missing) "
            "almost everywhere. Check the data, or lower min_ocean_fraction in the config"
        )

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        size = self.patch_size
        ny, nx = self.ds.sizes["lat"], self.ds.sizes["lon"]
        times = rng.choice(self.time_index, size=n)
        j0 = rng.integers(0, ny - size + 1, size=n)
        i0 = rng.integers(0, nx - size + 1, size=n)
        pieces = [a[int(t), int(j):int(j) + size, int(i):int(i) + size]
                  for t, j, i in zip(times, j0, i0, strict=True) for a in self._arrays]
        raw = _compute_stack(pieces).reshape(n, len(self._arrays), size, size)
        out = np.empty(raw.shape, dtype=np.float32)
        for k, (t, j, i) in enumerate(zip(times, j0, i0, strict=True)):
            mean = self._mean[:, self._month_slot[t], j:j + size, i:i + size]
            out[k] = (raw[k] - mean) / self._std
        return out

    def first_patch_coords(self) -> dict[str, Any]:
        """``lat``/``lon`` of the patch at the grid's lower-left corner (degrees)."""
        size = self.patch_size
        return {"lat": self.ds["lat"].values[:size], "lon": self.ds["lon"].values[:size]}


def _normalization(ds: xr.Dataset, variables: list[str], normalizer: Normalizer | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means (C, M, ny, nx), stds (C, 1, 1) and each time's month slot in [0, M)."""
    ny, nx, nt = ds.sizes["lat"], ds.sizes["lon"], ds.sizes["time"]
    channels = len(variables)
    if normalizer is None:
        return (np.zeros((channels, 1, ny, nx), np.float32), np.ones((channels, 1, 1), np.float32),
                np.zeros(nt, np.int64))
    grid = xr.Dataset(coords={"lat": ds["lat"], "lon": ds["lon"]})
    slots = np.zeros(nt, np.int64)
    if normalizer.climatology == "month":
        months = np.asarray(normalizer.stats["month"].values, dtype=int)
        grid = grid.assign_coords(time=pd.to_datetime([f"2001-{m:02d}-15" for m in months]))
        data_months = ds["time"].dt.month.values
        absent = sorted(set(data_months.tolist()) - set(months.tolist()))
        if absent:
            raise ValueError(f"the Normalizer's month climatology has no statistics for "
                             f"month(s) {absent} present in the training data")
        slots = np.searchsorted(months, data_months)
    means = normalizer.mean_on(grid)
    mean = np.stack([np.broadcast_to(means[v].transpose(..., "lat", "lon").values,
                                     (len(grid.get("time", [0])), ny, nx))
                     for v in variables]).astype(np.float32)
    std = np.array([normalizer.std[v] for v in variables], np.float32).reshape(-1, 1, 1)
    return mean, std, slots


def _compute_stack(arrays: list[Any]) -> np.ndarray:
    """Stack patch arrays, computing every dask-backed one in a single call."""
    if any(hasattr(a, "dask") for a in arrays):
        return np.asarray(dask.compute(dsa.stack(arrays))[0])
    return np.stack([np.asarray(a) for a in arrays])
