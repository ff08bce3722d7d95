"""Calibration of the guidance against withheld observations.

:func:`calibrate` withholds a seeded fraction of the point and gridded
observations, assimilates the rest with each setting of a small grid (guidance
strength x sampler steps), and scores each ensemble at the withheld observations:
CRPS (fair, Ferro 2014), RMSE of the ensemble mean, spread and the spread-skill
ratio ``sqrt(spread^2 + error^2) / RMSE`` (1 for a reliable ensemble, the
observation error counted in). The setting with the lowest CRPS (averaged over
variables in units of the prior's std) wins. All settings share the same seed, so
they are compared on the same random draws.
"""

from __future__ import annotations

import itertools
import json
import sys
import types
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np
import xarray as xr

__all__ = ["Calibration", "calibrate", "split_observations"]

#: Strength grid of each method: (parameter name, values).
DEFAULT_STRENGTHS: dict[str, tuple[str, tuple[float, ...]]] = {
    "sda": ("gamma", (0.01, 0.1, 1.0)),
    "dps": ("zeta", (0.3, 1.0, 3.0)),
    "mmps": ("cg_steps", (1, 3, 5)),
}


class Calibration(NamedTuple):
    """Result of :func:`calibrate`.

    Attributes
    ----------
    best : dict
        Keyword arguments for :func:`xgenda.assimilate` (``method``, ``steps`` and
        ``gamma`` or ``guidance``) of the best setting.
    table : Dataset
        Scores of every setting, dims ``(steps, <strength>)``: ``crps_<var>``,
        ``rmse_<var>``, ``spread_<var>``, ``spread_skill_<var>`` (physical units
        except the ratio), ``count_<var>`` and ``score`` (mean CRPS / prior std).
    """

    best: dict[str, Any]
    table: xr.Dataset


def split_observations(sets: Sequence[Any], fraction: float, seed: int = 0,
                       kinds: Sequence[str] = ("points", "grid")
                       ) -> tuple[list[Any], list[Any]]:
    """Split observation sets into (kept, withheld) with a seeded random fraction.

    Point sets are split along ``obs``; gridded sets pixel by pixel (withheld pixels
    become NaN in the kept copy, and the other way round). Sets of other kinds
    (smoothed products) are all kept.

    Parameters
    ----------
    sets : sequence of ObservationSet
        From :func:`xgenda.obs.collect`.
    fraction : float
        Fraction (0, 1) of the observations of each set to withhold.
    seed : int
        Seed of the split; set ``k`` draws from ``(seed, k)``.
    kinds : sequence of str
        Kinds of sets to split.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"withhold fraction must be in (0, 1), got {fraction}")
    kept, withheld = [], []
    for k, s in enumerate(sets):
        if s.kind not in kinds:
            kept.append(s)
            continue
        rng = np.random.default_rng([int(seed), k])
        if s.kind == "points":
            out = rng.random(s.data.sizes["obs"]) < fraction
            kept.append(replace(s, data=s.data.isel(obs=np.flatnonzero(~out))))
            withheld.append(replace(s, data=s.data.isel(obs=np.flatnonzero(out))))
        else:
            shape = tuple(s.data.sizes[d] for d in ("time", "lat", "lon"))
            out = xr.DataArray(rng.random(shape) < fraction, dims=("time", "lat", "lon"))
            values = {v: s.data[v] for v in s.variables}
            kept.append(replace(s, data=s.data.assign({v: da.where(~out)
                                                       for v, da in values.items()})))
            withheld.append(replace(s, data=s.data.assign({v: da.where(out)
                                                           for v, da in values.items()})))
    return kept, withheld


def calibrate(
    template: xr.Dataset | xr.DataArray,
    prior: Any,
    obs: Any,
    *,
    method: str = "sda",
    strengths: Sequence[float] | None = None,
    steps: Sequence[int] = (16, 32),
    members: int = 8,
    withhold: float = 0.2,
    seed: int = 0,
    **assimilate_kwargs: Any,
) -> Calibration:
    """Choose the guidance strength and step count that best predict withheld observations.

    Parameters
    ----------
    template : Dataset or DataArray
        Analysis grid and times (see :func:`xgenda.assimilate`).
    prior : Prior, path or "demo"
        The diffusion prior.
    obs : DataTree, Dataset or list
        Observations; a ``withhold`` fraction of the point and gridded ones is kept
        apart for scoring.
    method : {"sda", "dps", "mmps"}
        Guidance to calibrate.
    strengths : sequence, optional
        Values of the method's strength: SDA's ``gamma``, DPS's ``zeta`` or MMPS's
        ``cg_steps`` (defaults in :data:`DEFAULT_STRENGTHS`).
    steps : sequence of int
        Sampler step counts to try.
    members : int
        Ensemble size of each trial (>= 2).
    withhold : float
        Fraction of observations withheld.
    seed : int
        Seed of the split and of the assimilations.
    **assimilate_kwargs
        Other arguments of :func:`xgenda.assimilate` (``device``, ``time_window``...).

    Returns
    -------
    Calibration
        ``(best, table)``: keyword arguments of the best setting for
        :func:`xgenda.assimilate`, and the scores of every setting.
    """
    from xgenda.assimilate import _resolve_prior, assimilate
    from xgenda.obs import collect

    if method not in DEFAULT_STRENGTHS:
        raise ValueError(f"calibrate tunes 'sda', 'dps' or 'mmps', got method={method!r}")
    if int(members) != members or members < 2:
        raise ValueError(f"members must be an integer >= 2 to score an ensemble, got {members}")
    for key in ("method", "steps", "gamma", "members", "seed", "preset"):
        if key in assimilate_kwargs:
            raise ValueError(f"{key!r} is set by calibrate; remove it from the arguments")
    name, default = DEFAULT_STRENGTHS[method]
    values = tuple(default if strengths is None else strengths)
    steps = tuple(int(s) for s in steps)
    if not values or not steps:
        raise ValueError("give at least one strength and one step count")
    prior_obj, _ = _resolve_prior(prior)
    variables = tuple(prior_obj.variables)
    kept, withheld = split_observations(collect(obs, variables), withhold, seed)
    if not withheld or sum(_count(s) for s in withheld) == 0:
        raise ValueError("no point or gridded observations to withhold: calibration scores "
                         "the ensembles at withheld observations")
    guidance = dict(assimilate_kwargs.pop("guidance", None) or {})

    scores: dict[str, np.ndarray] = {}
    for (i, n_steps), (j, value) in itertools.product(enumerate(steps), enumerate(values)):
        kwargs = dict(assimilate_kwargs)
        if name == "cg_steps":
            kwargs["guidance"] = {**guidance, "cg_steps": int(value)}
        else:
            kwargs["gamma"] = float(value)
            if guidance:
                kwargs["guidance"] = guidance
        ens = assimilate(template, prior, kept, members=members, method=method,
                         steps=n_steps, seed=seed, **kwargs).compute()
        for key, score in _scores(ens, withheld, prior_obj, kwargs).items():
            scores.setdefault(key, np.full((len(steps), len(values)), np.nan))[i, j] = score
    table = _table(scores, steps, name, values, variables, method, withhold, seed, members,
                   kept, withheld)
    i, j = (int(k) for k in np.unravel_index(np.nanargmin(table["score"].values),
                                             table["score"].shape))
    best: dict[str, Any] = {"method": method, "steps": steps[i]}
    if name == "cg_steps":
        best["guidance"] = {**guidance, "cg_steps": int(values[j])}
    else:
        best["gamma"] = float(values[j])
        if guidance:
            best["guidance"] = guidance
    table.attrs["best"] = json.dumps(best)
    return Calibration(best, table)


def _count(s: Any) -> int:
    return int(sum(np.isfinite(np.asarray(s.data[v].values, float)).sum() for v in s.variables))


def _scores(ens: xr.Dataset, withheld: Sequence[Any], prior: Any,
            kwargs: Mapping[str, Any]) -> dict[str, float]:
    """CRPS, RMSE, spread, spread-skill per variable at the withheld observations."""
    from xgenda.diagnostics.scores import crps

    predicted, observed, errors = _at_observations(ens, withheld, kwargs)
    out: dict[str, float] = {}
    normalized = []
    for v, pred in predicted.items():
        y, err = observed[v], errors[v]
        out[f"count_{v}"] = float(y.size)
        if y.size == 0:
            continue
        members = xr.DataArray(pred, dims=("member", "obs"), name=v)
        truth = xr.DataArray(y, dims="obs", name=v)
        value = float(crps(members, truth))
        mean = pred.mean(axis=0)
        rmse = float(np.sqrt(np.mean((mean - y) ** 2)))
        m = pred.shape[0]
        spread = float(np.sqrt(np.mean(pred.var(axis=0, ddof=1)) * (m + 1) / m))
        out[f"crps_{v}"] = value
        out[f"rmse_{v}"] = rmse
        out[f"spread_{v}"] = spread
        out[f"spread_skill_{v}"] = float(np.sqrt(spread**2 + np.mean(err**2)) / rmse) \
            if rmse > 0 else np.nan
        normalized.append(value / prior.normalizer.std[v])
    out["score"] = float(np.mean(normalized)) if normalized else np.nan
    return out


def _at_observations(ens: xr.Dataset, withheld: Sequence[Any], kwargs: Mapping[str, Any]
                     ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray],
                                dict[str, np.ndarray]]:
    """Ensemble equivalents (member, n), values (n,) and errors (n,) per variable."""
    import torch

    from xgenda.assimilate import _days
    from xgenda.obs import AnalysisGrid, compile_tables
    from xgenda.obs.operators import ObservationOperator

    variables = [str(v) for v in ens.data_vars]
    values = np.stack([ens[v].transpose("member", "time", "lat", "lon").values
                       for v in variables], axis=2)  # (member, time, C, H, W)
    land = ~np.isfinite(values[0, 0]).all(axis=0)
    grid = AnalysisGrid.from_coords(ens.lat.values, ens.lon.values, variables, land)
    window = _days(kwargs.get("time_window", 0.5))
    tables = compile_tables(withheld, grid, ens.time.values, window)
    predicted: dict[str, list[np.ndarray]] = {v: [] for v in variables}
    observed: dict[str, list[np.ndarray]] = {v: [] for v in variables}
    errors: dict[str, list[np.ndarray]] = {v: [] for v in variables}
    members = values.shape[0]
    for k, table in enumerate(tables):
        if not len(table):
            continue
        op = ObservationOperator([table], [0] * members, grid.shape, [1.0] * len(variables),
                                 mask=~land, dtype=torch.float64)
        state = torch.as_tensor(np.nan_to_num(values[:, k]))
        pred = op(state).numpy()
        for c, v in enumerate(variables):
            rows = table.channel == c
            predicted[v].append(pred[:, rows])
            observed[v].append(table.value[rows])
            errors[v].append(table.error[rows])

    def cat(parts: list[np.ndarray], axis: int) -> np.ndarray:
        return np.concatenate(parts, axis=axis) if parts else np.zeros((members, 0)
                                                                       if axis else 0)

    return ({v: cat(p, 1) for v, p in predicted.items()},
            {v: cat(p, 0) for v, p in observed.items()},
            {v: cat(p, 0) for v, p in errors.items()})


def _table(scores: dict[str, np.ndarray], steps: tuple[int, ...], name: str,
           values: tuple[float, ...], variables: tuple[str, ...], method: str,
           withhold: float, seed: int, members: int, kept: Sequence[Any],
           withheld: Sequence[Any]) -> xr.Dataset:
    from xgenda.variables import units_of

    data_vars = {}
    for key, arr in scores.items():
        var = next((v for v in variables if key.endswith(f"_{v}")), None)
        units = units_of(var) if var else "1"
        kind = key[: -len(var) - 1] if var else key
        attrs = {"long_name": {"crps": "fair CRPS at withheld observations",
                               "rmse": "RMSE of the ensemble mean at withheld observations",
                               "spread": "ensemble spread at withheld observations",
                               "spread_skill": "spread-skill ratio (observation error "
                                               "included)",
                               "count": "number of withheld observations",
                               "score": "mean CRPS over variables in prior std units"}[kind],
                 "units": units if kind in ("crps", "rmse", "spread") else "1"}
        if var:
            attrs["variable"] = var
        data_vars[key] = (("steps", name), arr, attrs)
    return xr.Dataset(
        data_vars, coords={"steps": ("steps", np.asarray(steps)),
                           name: (name, np.asarray(values))},
        attrs={"title": "xgenda guidance calibration", "method": method,
               "withheld_fraction": withhold, "seed": seed, "members": members,
               "kept_observations": int(sum(_count(s) for s in kept)),
               "withheld_observations": int(sum(_count(s) for s in withheld))})


class _CallableModule(types.ModuleType):
    """``xgenda.calibrate`` is both this module and its main function (see assimilate)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Calibration:
        return calibrate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
