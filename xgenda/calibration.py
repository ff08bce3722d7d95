"""Calibration of an assimilation against withheld observations.

:func:`calibrate` withholds a seeded fraction of the point and gridded
observations, assimilates the rest with each of a list of configurations, and
scores each ensemble at the withheld observations within half a day of an
analysis time: CRPS (fair, Ferro 2014, of the members dressed with the observation
error: each member a Gaussian of the observation's error std, so that an ensemble of
the state is compared with noisy observations on equal terms; Saetra et al. 2004,
Grimit et al. 2006 for the closed form), RMSE of the ensemble mean, spread and the spread-skill
ratio ``sqrt(spread^2 + error^2) / RMSE`` (1 for a reliable ensemble, the observation
error counted in). Three searches are built in: :func:`search_grid` (guidance
strength x sampler steps), :func:`reliability_grid` (observation-error inflation x
sampler churn, optionally x strength) and :func:`inflation_grid` (the ensemble's
anomaly inflation by scale), the last two tuning the spread of the ensemble.
Configurations that differ only in their :class:`~xgenda.config.Inflation` share one
assimilation: the inflation is applied to its ensemble afterwards, exactly as
:func:`xgenda.assimilate` applies it. The winner has the lowest ``|spread/skill - 1|`` among
the settings whose CRPS (averaged over variables in units of the prior's std) is
within ``crps_tolerance`` of the lowest. Only stable settings are searched: MMPS
with more than :data:`MAX_PLAIN_CG_STEPS` conjugate-gradient steps diverges on a
learned prior unless they are limited to low noise levels (:func:`check_stable`).
All settings share the same seed, so they are compared on the same random draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np
import torch
import xarray as xr

from xgenda._engine import block_observations
from xgenda._inflation import inflate_dataset
from xgenda.assimilation import _resolve_prior, assimilate
from xgenda.config import (
    MMPS,
    SDA,
    Configuration,
    Euler,
    Guidance,
    Heun,
    Inflation,
    Sampler,
    Window,
)
from xgenda.config.legacy import LEGACY
from xgenda.currents import is_decomposed_state
from xgenda.obs import collect
from xgenda.variables import units_of

__all__ = ["MAX_PLAIN_CG_SIGMA", "MAX_PLAIN_CG_STEPS", "MAX_SYMMETRIC_CG_SIGMA", "STRENGTHS",
           "Calibration", "calibrate", "check_stable", "inflation_grid", "reliability_grid",
           "search_grid", "split_observations"]

#: The strength searched for each guidance by default: (parameter, values).
STRENGTHS: dict[str, tuple[str, tuple[float, ...]]] = {
    "sda": ("gamma", (0.01, 0.1, 1.0)),
    "dps": ("zeta", (0.3, 1.0, 3.0)),
    "mmps": ("cg_steps", (1, 2, 3)),
}

#: Most conjugate-gradient steps of MMPS at every noise level: the learned denoiser's
#: Jacobian is not symmetric (nor positive semi-definite) at high noise, and more
#: iterations of the solve amplify that error until samples diverge.
MAX_PLAIN_CG_STEPS = 3
#: Highest ``cg_sigma_max`` for more CG steps on the symmetrized Jacobian: 5 or 10 steps
#: are stable on the demo prior with 8 and 16 sampler steps; without the limit, or with
#: 20, members reached 3-12 prior stds (``tests/test_guidance.py``, the demo prior's
#: model card, ``benchmarks/results/calibration_cap.md``).
MAX_SYMMETRIC_CG_SIGMA = 10.0
#: Highest ``cg_sigma_max`` for more CG steps on the plain (non-symmetric) Jacobian.
MAX_PLAIN_CG_SIGMA = 0.5


def check_stable(config: Configuration) -> None:
    """Raise ValueError for a configuration known to diverge on a learned prior.

    MMPS with more than :data:`MAX_PLAIN_CG_STEPS` conjugate-gradient steps needs them
    limited to low noise levels: ``cg_sigma_max`` at most
    :data:`MAX_SYMMETRIC_CG_SIGMA` with ``symmetrize=True``, at most
    :data:`MAX_PLAIN_CG_SIGMA` without.
    """
    g = config.guidance
    if not isinstance(g, MMPS) or g.cg_steps <= MAX_PLAIN_CG_STEPS:
        return
    limit = MAX_SYMMETRIC_CG_SIGMA if g.symmetrize else MAX_PLAIN_CG_SIGMA
    if g.cg_sigma_max is None or g.cg_sigma_max > limit:
        raise ValueError(
            f"MMPS(cg_steps={g.cg_steps}, symmetrize={g.symmetrize}, cg_sigma_max="
            f"{g.cg_sigma_max}) diverges on a learned prior; search cg_steps <= "
            f"{MAX_PLAIN_CG_STEPS}, or limit the steps to low noise levels: "
            f"MMPS(symmetrize=True, cg_sigma_max={MAX_SYMMETRIC_CG_SIGMA:g}) or "
            f"MMPS(cg_sigma_max={MAX_PLAIN_CG_SIGMA:g})")


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
    grid = [Configuration(replace(sampler, steps=int(n)), replace(guidance, **{name: value}),
                          window) for n in steps for value in values]
    for config in grid:
        check_stable(config)
    return grid


def reliability_grid(base: Configuration | None = None,
                     inflations: Sequence[float] = (1.0, 1.5, 2.0),
                     churns: Sequence[float] = (0.0, 5.0, 10.0),
                     strengths: Sequence[float] | None = None) -> list[Configuration]:
    """Configurations that differ only in error inflation, churn and (optionally) strength.

    These set the spread of the ensemble: a larger observation-error inflation
    (:class:`xgenda.config.Window` ``error_inflation``) lets the members fit the
    observations less tightly, a larger churn (the EDM sampler's stochasticity)
    re-injects noise along the trajectory, and the guidance strength trades the fit
    against the prior.

    Parameters
    ----------
    base : Configuration, optional
        Everything else (default ``Configuration(Heun(steps=16), MMPS())``); its sampler
        must be :class:`~xgenda.config.Heun` or :class:`~xgenda.config.Euler` (churn).
    inflations : sequence of float
        Factors (> 0) on the observation error std.
    churns : sequence of float
        Values of the sampler's ``churn`` (>= 0).
    strengths : sequence, optional
        Values of the guidance strength (:data:`STRENGTHS` names it); None keeps the
        base's.

    Returns
    -------
    list of Configuration
        Inflation-major, then churn, then strength.
    """
    base = Configuration(Heun(steps=16), MMPS()) if base is None else base
    if not isinstance(base, Configuration):
        raise TypeError(f"base must be an xgenda.config.Configuration, got {base!r}")
    if not isinstance(base.sampler, (Heun, Euler)):
        raise ValueError(f"churn is a setting of the Heun and Euler samplers; the base "
                         f"configuration has {base.sampler!r}")
    if not tuple(inflations) or not tuple(churns) or (strengths is not None
                                                      and not tuple(strengths)):
        raise ValueError("give at least one inflation, one churn and (if any) one strength")
    guidances: list[Guidance] = [base.guidance]
    if strengths is not None:
        if base.guidance.method not in STRENGTHS:
            raise ValueError(f"calibration tunes the strength of SDA, DPS or MMPS guidance, "
                             f"got {base.guidance!r}")
        name, _ = STRENGTHS[base.guidance.method]
        guidances = [replace(base.guidance, **{name: value}) for value in strengths]
    grid = [Configuration(replace(base.sampler, churn=float(churn)), g,
                          replace(base.window, error_inflation=float(factor)))
            for factor in inflations for churn in churns for g in guidances]
    for config in grid:
        check_stable(config)
    return grid


def inflation_grid(base: Configuration | None = None,
                   large: Sequence[float] = (1.0, 1.25, 1.5, 1.75, 2.0),
                   small: Sequence[float] = (1.0,),
                   wavelength_km: float | None = None) -> list[Configuration]:
    """Configurations that differ only in the inflation of the ensemble's anomalies.

    The factors on the anomalies above and below ``wavelength_km``
    (:class:`xgenda.config.Inflation`) widen the ensemble without moving its mean; all
    of them share one assimilation in :func:`calibrate`, so a fine grid costs little.

    Parameters
    ----------
    base : Configuration, optional
        Everything else (default ``Configuration(Heun(steps=16), MMPS())``).
    large, small : sequence of float
        Factors (> 0) on the large-scale and small-scale anomalies.
    wavelength_km : float, optional
        Split wavelength (default the base's).

    Returns
    -------
    list of Configuration
        Large-major, then small.
    """
    base = Configuration(Heun(steps=16), MMPS()) if base is None else base
    if not isinstance(base, Configuration):
        raise TypeError(f"base must be an xgenda.config.Configuration, got {base!r}")
    if not tuple(large) or not tuple(small):
        raise ValueError("give at least one large-scale and one small-scale factor")
    split = base.inflation.wavelength_km if wavelength_km is None else wavelength_km
    grid = [replace(base, inflation=Inflation(float(a), float(b), split))
            for a in large for b in small]
    for config in grid:
        check_stable(config)
    return grid


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
        (physical units except the ratio), ``count_<var>``, ``score`` (mean CRPS /
        prior std) and ``reliability`` (mean ``|spread/skill - 1|`` over variables);
        coordinates ``churn`` and ``error_inflation`` where they vary.
        ``table.set_index(configuration=["steps", "gamma"]).unstack()`` lays a
        :func:`search_grid` out as steps x strength.
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
    crps_tolerance: float = 0.0,
    evaluation: Any = None,
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
        (0.01, 0.1, 1) x (16, 32) Heun steps; :func:`reliability_grid` tunes the
        spread). Each must be stable (:func:`check_stable`).
    members : int
        Ensemble size of each trial (>= 2).
    withhold : float
        Fraction of observations withheld.
    seed : int
        Seed of the split and of the assimilations.
    crps_tolerance : float
        Relative slack (>= 0) on the CRPS score: among the settings whose ``score`` is
        at most ``(1 + crps_tolerance)`` times the lowest, the one with the lowest
        ``reliability`` (mean ``|spread/skill - 1|``) wins. 0: the lowest CRPS wins.
    evaluation : Dataset, DataTree or list, optional
        Independent observations that are never assimilated, scored with the withheld
        ones (e.g. drifters, whose currents no assimilated observation measures).
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
    if isinstance(crps_tolerance, bool) or not np.isfinite(crps_tolerance) or \
            crps_tolerance < 0:
        raise ValueError(f"crps_tolerance must be a finite number >= 0 (a relative slack on "
                         f"the CRPS), got {crps_tolerance!r}")
    for config in configurations:
        check_stable(config)
    for key in ("sampler", "guidance", "window", "inflation", "members", "seed", *LEGACY):
        if key in assimilate_kwargs:
            raise ValueError(f"{key!r} is set by calibrate (through its configurations); "
                             "remove it from the arguments")
    prior_obj, _ = _resolve_prior(prior)
    variables = tuple(prior_obj.variables)
    kept, withheld = split_observations(collect(obs, variables), withhold, seed)
    withheld = withheld + collect(evaluation, variables)
    if not withheld or sum(_count(s) for s in withheld) == 0:
        raise ValueError("no point or gridded observations to withhold: calibration scores "
                         "the ensembles at withheld observations")
    scores: dict[str, np.ndarray] = {}
    for indices in _shared_runs(configurations, variables):
        # a lone setting runs as it is; a shared run samples without inflation
        plain = configurations[indices[0]] if len(indices) == 1 else \
            replace(configurations[indices[0]], inflation=Inflation())
        ens = assimilate(template, prior, kept, members=members, seed=seed,
                         **plain.kwargs(), **assimilate_kwargs).compute()
        for i in indices:
            inflated = ens if plain == configurations[i] else \
                inflate_dataset(ens, configurations[i].inflation)
            for key, score in _scores(inflated, withheld, prior_obj).items():
                scores.setdefault(key, np.full(len(configurations), np.nan))[i] = score
    table = _table(scores, configurations, variables, withhold, seed, members, kept, withheld)
    best = configurations[_select(table["score"].values, table["reliability"].values,
                                  float(crps_tolerance))]
    table.attrs["best"] = best.to_json()
    table.attrs["crps_tolerance"] = float(crps_tolerance)
    return Calibration(best.kwargs(), table)


def _shared_runs(configurations: Sequence[Configuration],
                 variables: tuple[str, ...]) -> list[list[int]]:
    """Indices of the configurations grouped by one assimilation each: those that differ
    only in their inflation share one (not for a decomposed state, whose total currents
    are recomposed after the engine's inflation)."""
    if is_decomposed_state(variables):
        return [[i] for i in range(len(configurations))]
    groups: dict[str, list[int]] = {}
    for i, config in enumerate(configurations):
        groups.setdefault(replace(config, inflation=Inflation()).to_json(), []).append(i)
    return list(groups.values())


def _select(score: np.ndarray, reliability: np.ndarray, tolerance: float) -> int:
    """Index of the most reliable setting among those within ``tolerance`` of the best
    CRPS score (the best CRPS itself when none has a finite reliability)."""
    if not np.isfinite(score).any():
        raise ValueError("no configuration gave a finite score (every ensemble diverged or "
                         "no withheld observation fell in the domain)")
    low = np.nanmin(score)
    near = np.isfinite(score) & (score <= low * (1 + tolerance))
    candidates = np.flatnonzero(near & np.isfinite(reliability))
    if not candidates.size:
        return int(np.nanargmin(score))
    return int(candidates[np.argmin(reliability[candidates])])


def _count(s: Any) -> int:
    return int(sum(np.isfinite(np.asarray(s.data[v].values, float)).sum() for v in s.variables))


def _scores(ens: xr.Dataset, withheld: Sequence[Any], prior: Any) -> dict[str, float]:
    """CRPS, RMSE, spread, spread-skill per variable at the withheld observations within
    half a day of an analysis time, compared with their own errors (the library's
    default window: no growth, no inflation, which are settings under test). The CRPS
    is that of the members dressed with the observation error (:func:`_dressed_crps`)."""
    predicted, observed, errors = _at_observations(ens, withheld, Window())
    out: dict[str, float] = {}
    normalized = []
    reliability = []
    for v, pred in predicted.items():
        y, err = observed[v], errors[v]
        out[f"count_{v}"] = float(y.size)
        if y.size == 0:
            continue
        value = _dressed_crps(pred, y, err)
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
        reliability.append(abs(out[f"spread_skill_{v}"] - 1))
    out["score"] = float(np.mean(normalized)) if normalized else np.nan
    out["reliability"] = float(np.mean(reliability)) if reliability else np.nan
    return out


def _dressed_crps(members: np.ndarray, y: np.ndarray, error: np.ndarray) -> float:
    """Mean fair CRPS of the ensembles ``members`` (M, n) dressed with Gaussian errors of
    std ``error`` (n,), at the observations ``y`` (n,).

    With ``A(d, s) = E|d + s Z| = d (2 Phi(d/s) - 1) + 2 s phi(d/s)``:
    ``CRPS = mean_m A(y - x_m, s) - sum_{m != k} A(x_m - x_k, sqrt(2) s) / (2 M (M - 1))``,
    the fair CRPS (Ferro 2014) when ``s`` is 0.
    """
    from scipy.stats import norm

    def expected_abs(d: np.ndarray, s: np.ndarray) -> np.ndarray:
        s = np.broadcast_to(s, d.shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = d / s
            out = d * (2 * norm.cdf(z) - 1) + 2 * s * norm.pdf(z)
        return np.where(s > 0, out, np.abs(d))

    m = members.shape[0]
    error = np.asarray(error, dtype=np.float64)
    skill = expected_abs(y[None] - members, error[None]).mean(axis=0)
    pairs = np.zeros_like(skill)
    for k in range(m):
        pairs += expected_abs(members - members[k], np.sqrt(2) * error[None]).sum(axis=0)
    # the self-pairs (m == k) are A(0, sqrt(2) s); the fair sum leaves them out
    pairs -= m * expected_abs(np.zeros_like(error), np.sqrt(2) * error)
    return float(np.mean(skill - pairs / (2 * m * (m - 1))))


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
    churn = [float(getattr(c.sampler, "churn", np.nan)) for c in configurations]
    inflation = [c.window.error_inflation for c in configurations]
    large = [c.inflation.large for c in configurations]
    small = [c.inflation.small for c in configurations]
    for name, values in (("churn", churn), ("error_inflation", inflation),
                         ("inflation_large", large), ("inflation_small", small)):
        if len(set(values)) > 1:
            coords[name] = ("configuration", values)
    return xr.Dataset(
        data_vars, coords=coords,
        attrs={"title": "xgenda guidance calibration", "withheld_fraction": withhold,
               "seed": seed, "members": members,
               "kept_observations": int(sum(_count(s) for s in kept)),
               "withheld_observations": int(sum(_count(s) for s in withheld))})


_LONG_NAMES = {"crps": "fair CRPS of the error-dressed ensemble at withheld observations",
               "rmse": "RMSE of the ensemble mean at withheld observations",
               "spread": "ensemble spread at withheld observations",
               "spread_skill": "spread-skill ratio (observation error included)",
               "count": "number of withheld observations",
               "score": "mean CRPS over variables in prior std units",
               "reliability": "mean |spread/skill - 1| over variables"}
