"""Calibration of the guidance against withheld observations.

:func:`calibrate` withholds a seeded fraction of the point and gridded
observations, assimilates the rest with each of a list of configurations
(:func:`search_grid` by default: guidance strength x sampler steps), and scores
each ensemble at the withheld observations:
CRPS (fair, Ferro 2014), RMSE of the ensemble mean, spread and the spread-skill
ratio ``sqrt(spread^2 + error^2) / RMSE`` (1 for a reliable ensemble, the
observation error counted in). The setting with the lowest CRPS (averaged over
variables in units of the prior's std) wins. All settings share the same seed, so
they are compared on the same random draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np
import torch
import xarray as xr

from xgenda._engine import block_observations
from xgenda.assimilation import _resolve_prior, assimilate
from xgenda.config import SDA, Configuration, Guidance, Heun, Sampler, Window
from xgenda.config.legacy import LEGACY
from xgenda.diagnostics.scores import crps
from xgenda.obs import collect
from xgenda.variables import units_of

__all__ = ["STRENGTHS", "Calibration", "calibrate", "search_grid", "split_observations"]

#: The strength searched for each guidance by default: (parameter, values).
STRENGTHS: dict[str, tuple[str, tuple[float, ...]]] = {
    "sda": ("gamma", (0.01, 0.1, 1.0)),
    "dps": ("zeta", (0.3, 1.0, 3.0)),
    "mmps": ("cg_steps", (1, 3, 5)),
}


def search_grid(guidance: Guidance | None = None, strengths: Sequence[float] | None = None,
                steps: Sequence[int] = (16, 32), sampler: Sampler | None = None,
                window: Window | None = None) -> list[Configuration]:
    """Configurations that differ only in guidance strength and sampler steps.

    These two are the settings whose effect is documented and stable: the strength
    trades the fit to the observations against the prior, the steps trade cost
    against discretization error. Everything else stays as in ``guidance``,
    ``sampler`` and ``window``.

    Parameters
    ----------
    guidance : SDA, DPS or MMPS, optional
        The guidance to tune (default ``SDA()``).
    strengths : sequence, optional
        Values of its strength: SDA's ``gamma``, DPS's ``zeta`` or MMPS's
        ``cg_steps`` (default: :data:`STRENGTHS`).
    steps : sequence of int
        Sampler step counts.
    sampler, window : optional
        The rest of the configuration (default ``Heun()``, ``Window()``).

    Returns
    -------
    list of Configuration
        Steps-major: ``steps[0]`` with every strength first.
    """
    guidance = SDA() if guidance is None else guidance
    if guidance.method not in STRENGTHS:
        raise ValueError(f"calibration tunes SDA, DPS or MMPS guidance, got {guidance!r}")
    name, default = STRENGTHS[guidance.method]
    values = tuple(default if strengths is None else strengths)
    if not values or not tuple(steps):
        raise ValueError("give at least one strength and one step count")
    sampler = Heun() if sampler is None else sampler
    window = Window() if window is None else window
    return [Configuration(replace(sampler, steps=int(n)), replace(guidance, **{name: value}),
                          window) for n in steps for value in values]


class Calibration(NamedTuple):
    """Result of :func:`calibrate`.

    Attributes
    ----------
    best : dict
        Keyword arguments for :func:`xgenda.assimilate` (``sampler``, ``guidance``,
        ``window``) of the best configuration.
    table : Dataset
        Scores of every configuration along dim ``configuration`` (its JSON form;
        coordinates ``steps``, ``guidance`` and the strength, e.g. ``gamma``):
        ``crps_<var>``, ``rmse_<var>``, ``spread_<var>``, ``spread_skill_<var>``
        (physical units except the ratio), ``count_<var>`` and ``score`` (mean CRPS /
        prior std). ``table.set_index(configuration=["steps", "gamma"]).unstack()``
        lays a :func:`search_grid` out as steps x strength.
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
    configurations: Sequence[Configuration] | None = None,
    *,
    members: int = 8,
    withhold: float = 0.2,
    seed: int = 0,
    **assimilate_kwargs: Any,
) -> Calibration:
    """Choose the configuration that best predicts withheld observations.

    Parameters
    ----------
    template : Dataset or DataArray
        Analysis grid and times (see :func:`xgenda.assimilate`).
    prior : Prior, path or "demo"
        The diffusion prior.
    obs : DataTree, Dataset or list
        Observations; a ``withhold`` fraction of the point and gridded ones is kept
        apart for scoring.
    configurations : sequence of Configuration, optional
        The candidates (default :func:`search_grid`: SDA's ``gamma`` in
        (0.01, 0.1, 1) x (16, 32) Heun steps).
    members : int
        Ensemble size of each trial (>= 2).
    withhold : float
        Fraction of observations withheld.
    seed : int
        Seed of the split and of the assimilations.
    **assimilate_kwargs
        Other arguments of :func:`xgenda.assimilate` (``device``, ``batch_size``...).

    Returns
    -------
    Calibration
        ``(best, table)``: keyword arguments of the best configuration for
        :func:`xgenda.assimilate`, and the scores of every configuration.
    """
    configurations = list(search_grid() if configurations is None else configurations)
    if not configurations or not all(isinstance(c, Configuration) for c in configurations):
        raise ValueError("configurations must be a non-empty list of xgenda.config."
                         "Configuration (e.g. xgenda.calibration.search_grid(...))")
    if isinstance(members, bool) or int(members) != members or members < 2:
        raise ValueError(f"members must be an integer >= 2 to score an ensemble, got {members}")
    for key in ("sampler", "guidance", "window", "members", "seed", *LEGACY):
        if key in assimilate_kwargs:
            raise ValueError(f"{key!r} is set by calibrate (through its configurations); "
                             "remove it from the arguments")
    prior_obj, _ = _resolve_prior(prior)
    variables = tuple(prior_obj.variables)
    kept, withheld = split_observations(collect(obs, variables), withhold, seed)
    if not withheld or sum(_count(s) for s in withheld) == 0:
        raise ValueError("no point or gridded observations to withhold: calibration scores "
                         "the ensembles at withheld observations")
    scores: dict[str, np.ndarray] = {}
    for i, config in enumerate(configurations):
        ens = assimilate(template, prior, kept, members=members, seed=seed,
                         **config.kwargs(), **assimilate_kwargs).compute()
        for key, score in _scores(ens, withheld, prior_obj, config.window).items():
            scores.setdefault(key, np.full(len(configurations), np.nan))[i] = score
    table = _table(scores, configurations, variables, withhold, seed, members, kept, withheld)
    best = configurations[int(np.nanargmin(table["score"].values))]
    table.attrs["best"] = best.to_json()
    return Calibration(best.kwargs(), table)


def _count(s: Any) -> int:
    return int(sum(np.isfinite(np.asarray(s.data[v].values, float)).sum() for v in s.variables))


def _scores(ens: xr.Dataset, withheld: Sequence[Any], prior: Any,
            window: Window) -> dict[str, float]:
    """CRPS, RMSE, spread, spread-skill per variable at the withheld observations."""
    predicted, observed, errors = _at_observations(ens, withheld, window)
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


def _at_observations(ens: xr.Dataset, withheld: Sequence[Any], window: Window
                     ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray],
                                dict[str, np.ndarray]]:
    """Ensemble equivalents (member, n), values (n,) and errors (n,) per variable."""
    variables = [str(v) for v in ens.data_vars]
    values = np.stack([ens[v].transpose("member", "time", "lat", "lon").values
                       for v in variables], axis=2)  # (member, time, C, H, W)
    land = ~np.isfinite(values[0, 0]).all(axis=0)
    # the sampler's own pipeline, on physical states (std of ones, no mean)
    pipeline = block_observations(withheld, ens.lat.values, ens.lon.values, variables, land,
                                  ens.time.values, window, np.ones(len(variables)),
                                  dtype=torch.float64)
    predicted: dict[str, list[np.ndarray]] = {v: [] for v in variables}
    observed: dict[str, list[np.ndarray]] = {v: [] for v in variables}
    errors: dict[str, list[np.ndarray]] = {v: [] for v in variables}
    members = values.shape[0]
    for k, table in enumerate(pipeline.tables):
        if not len(table):
            continue
        op = pipeline.operator([k], [0] * members)
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


def _table(scores: dict[str, np.ndarray], configurations: Sequence[Configuration],
           variables: tuple[str, ...], withhold: float, seed: int, members: int,
           kept: Sequence[Any], withheld: Sequence[Any]) -> xr.Dataset:
    """The scores along dim ``configuration``, with the settings as coordinates."""
    data_vars = {}
    for key, arr in scores.items():
        var = next((v for v in variables if key.endswith(f"_{v}")), None)
        kind = key[: -len(var) - 1] if var else key
        attrs = {"long_name": _LONG_NAMES[kind],
                 "units": units_of(var) if var and kind in ("crps", "rmse", "spread") else "1"}
        if var:
            attrs["variable"] = var
        data_vars[key] = ("configuration", arr, attrs)
    coords: dict[str, Any] = {
        "configuration": ("configuration", [c.to_json() for c in configurations]),
        "steps": ("configuration", [c.sampler.steps for c in configurations]),
        "guidance": ("configuration", [c.guidance.method for c in configurations])}
    for name, _ in STRENGTHS.values():
        values = [getattr(c.guidance, name, np.nan) for c in configurations]
        if not np.isnan(values).all():
            coords[name] = ("configuration", values)
    return xr.Dataset(
        data_vars, coords=coords,
        attrs={"title": "xgenda guidance calibration", "withheld_fraction": withhold,
               "seed": seed, "members": members,
               "kept_observations": int(sum(_count(s) for s in kept)),
               "withheld_observations": int(sum(_count(s) for s in withheld))})


_LONG_NAMES = {"crps": "fair CRPS at withheld observations",
               "rmse": "RMSE of the ensemble mean at withheld observations",
               "spread": "ensemble spread at withheld observations",
               "spread_skill": "spread-skill ratio (observation error included)",
               "count": "number of withheld observations",
               "score": "mean CRPS over variables in prior std units"}
