"""Compiled observations of one analysis time: a NumPy table (small, picklable)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["DERIVED", "ObservationTable"]

DERIVED: tuple[str, ...] = ("u", "v")
"""Variables a prior of the decomposed state observes through its other channels: the
total current ``u = u_geo(ssh) + u_res`` (the Ekman part is removed from the
observations beforehand), likewise ``v``."""


@dataclass
class ObservationTable:
    """The observations of one analysis time, compiled onto a grid (NumPy, picklable).

    Row ``k`` observes ``sum_q weight[k, q] * field[index[k, q]]`` where ``field`` is
    channel ``channel[k]`` of the state, its blurred copy ``blurs[blur[k]]`` when
    ``blur[k] >= 0``, or the total current ``DERIVED[derived[k]]`` (geostrophic current
    of the state's SSH plus its residual current) when ``derived[k] >= 0``; ``index``
    is a flat pixel index ``lat_index * W + lon_index``.

    Attributes
    ----------
    channel : ndarray (m,) int
        Channel (variable) of each observation.
    blur : ndarray (m,) int
        -1 for the raw state, else a position in ``blurs``.
    derived : ndarray (m,) int
        -1 for a channel of the state, else a position in :data:`DERIVED` (then
        ``channel`` is the residual current channel, whose units and std apply).
    blurs : list of (float, float)
        Blur sigmas (lat, lon) in pixels used by this table.
    index : ndarray (m, 4) int
        Flat pixel indices of the stencil.
    weight : ndarray (m, 4) float
        Stencil weights (each row sums to 1).
    value : ndarray (m,) float
        Observed values, physical units of the variable.
    error : ndarray (m,) float
        Error standard deviations, same units (> 0).
    dt_days : ndarray (m,) float
        Time of each observation minus the analysis time (days).
    source : ndarray (m,) int
        Which observation leaf each row came from (position in ``names``).
    names : list of str
        Names of the leaves.
    """

    channel: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    blur: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    blurs: list[tuple[float, float]] = field(default_factory=list)
    derived: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    index: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    value: np.ndarray = field(default_factory=lambda: np.zeros(0))
    error: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dt_days: np.ndarray = field(default_factory=lambda: np.zeros(0))
    source: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.derived.size != self.value.size:  # tables built without it observe channels
            self.derived = np.full(self.value.size, -1, np.int64)

    def __len__(self) -> int:
        return int(self.value.size)

    @classmethod
    def concat(cls, tables: Sequence[ObservationTable]) -> ObservationTable:
        """One table holding the rows of ``tables`` (blur and source lists merged)."""
        out = cls()
        blurs: list[tuple[float, float]] = []
        names: list[str] = []
        parts: dict[str, list[np.ndarray]] = {k: [] for k in (
            "channel", "blur", "derived", "index", "weight", "value", "error", "dt_days",
            "source")}
        for t in tables:
            bmap = np.array([_position(blurs, b) for b in t.blurs] + [-1], dtype=np.int64)
            smap = np.array([_position(names, n) for n in t.names] + [-1], dtype=np.int64)
            parts["blur"].append(bmap[t.blur])
            parts["source"].append(smap[t.source])
            for k in ("channel", "derived", "index", "weight", "value", "error", "dt_days"):
                parts[k].append(getattr(t, k))
        if tables:
            for k, v in parts.items():
                setattr(out, k, np.concatenate(v))
        out.blurs, out.names = blurs, names
        return out

    def select(self, rows: np.ndarray) -> ObservationTable:
        """A table with only ``rows`` (boolean mask or indices)."""
        out = ObservationTable(blurs=list(self.blurs), names=list(self.names))
        for k in ("channel", "blur", "derived", "index", "weight", "value", "error", "dt_days",
                  "source"):
            setattr(out, k, getattr(self, k)[rows])
        return out


def _position(items: list, item: object) -> int:
    if item not in items:
        items.append(item)
    return items.index(item)
