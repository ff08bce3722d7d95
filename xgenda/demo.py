"""The end-to-end demo OSSE behind ``xgenda demo``.

One call runs what a newcomer wants to see: a toy-ocean truth and its simulated
observations (from the packaged catalog, cached), the bundled demo prior, an
ensemble assimilation of nadir SSH + cloudy L3 SST + L4 SSS, the optimal
interpolation baseline on the same observations, scores and figures, all written
to a report folder (``report.md`` + PNG figures + ``scores.csv``).

The report says in words what the numbers show (who wins, by how much, whether the
ensemble spread is calibrated) and flags a failed run at its top: a diverged sampler,
observations that are absent from the analysis period, or an ensemble mean worse than
the prior mean (:data:`FAILURE_CHECKS`).
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as md
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from xgenda._files import hidden_sibling, swap_in
from xgenda._optional import require
from xgenda._runtime import resolve_device
from xgenda._version import __version__
from xgenda.baselines.oi import optimal_interpolation
from xgenda.catalog import open_catalog
from xgenda.config import GUIDANCE, Heun
from xgenda.diagnostics.plots import display_units
from xgenda.diagnostics.summary import score_summary
from xgenda.progress import dask_progress, on_terminal

__all__ = ["FAILURE_CHECKS", "GLOSSARY", "DemoReport", "glossary_markdown",
           "observation_failures", "run_demo", "score_failures", "scores_markdown", "verdict"]

ASSIMILATED = ("nadir", "l3_sst", "l4_sss")
"""Observation leaves of the OSSE tree that the demo assimilates."""
WARMUP_DAYS = 14
"""Days of observations before the first analysis day (the OI time window needs them)."""
SPREAD_SKILL_TARGET = (0.8, 1.2)
"""Spread/skill ratios inside this range count as a calibrated ensemble."""
DIVERGED_FACTOR = 5.0
"""An ensemble mean whose RMSE exceeds this many times the prior mean's has diverged."""
FAILURE_CHECKS = (
    "observations: an assimilated observation set has no finite value in the analysis period",
    "diverged: the ensemble has non-finite values over the ocean, or an RMSE more than "
    f"{DIVERGED_FACTOR:g} times that of the prior mean",
    "worse than the prior mean: the ensemble mean has a larger RMSE than the prior mean "
    "(what one knows without observations) on some variable",
)
"""What makes a demo run fail (banner at the top of the report, non-zero exit)."""
GLOSSARY = {
    "units": ("-", "units of the variable (salinity on the practical scale, g kg-1)", "-"),
    "rmse": ("variable's units", "root-mean-square error of the (ensemble-mean) map against "
             "the truth, over all days and ocean points", "lower is better, 0 is perfect"),
    "mu": ("1", "ODC score 1 - RMS(error) / RMS(truth)", "higher is better, 1 is perfect"),
    "sigma": ("1", "standard deviation over the days of the daily mu score",
              "lower is steadier"),
    "lambda_km": ("km", "effective resolution: the wavelength where the PSD score "
                  "1 - PSD(error) / PSD(truth) crosses 0.5", "lower is better (finer scales)"),
    "crps": ("variable's units", "continuous ranked probability score of the members "
             "(mean absolute error of a probabilistic forecast)", "lower is better"),
    "spread_skill": ("1", "ensemble spread over the RMSE of the ensemble mean, with the "
                     "finite-ensemble factor sqrt((M+1)/M)",
                     f"{SPREAD_SKILL_TARGET[0]}-{SPREAD_SKILL_TARGET[1]} is calibrated; "
                     "below is over-confident (too little spread)"),
}
"""Column of the score table -> (units, meaning, better direction)."""
METHODS = {
    "xgenda": "the ensemble (scores of its mean; CRPS and spread/skill of the members)",
    "oi": "optimal interpolation of nadir SSH and L3 SST (Gaussian covariance 1 deg, 1 deg, "
          "7 days, noise 5 %), u and v the geostrophic currents of its SSH, SSS the L4 product",
    "prior_mean": "the prior's climatology, what one knows without observations",
}
"""Rows of the score table."""


@dataclass
class DemoReport:
    """What :func:`run_demo` wrote and measured."""

    out: Path
    scores: Any  # pandas.DataFrame indexed by (method, variable); None if the run stopped early
    figures: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def markdown(self) -> Path:
        return self.out / "report.md"

    @property
    def failed(self) -> bool:
        return bool(self.failures)


def run_demo(
    out: str | os.PathLike[str] = "xgenda-demo",
    *,
    days: int = 3,
    members: int = 8,
    steps: int | None = None,
    method: str = "mmps",
    device: str = "auto",
    seed: int = 0,
    prior: Any = None,
    cache_dir: str | os.PathLike[str] | None = None,
    spinup_days: int = 180,
    progress: bool | None = None,
    overwrite: bool = False,
    allow_failure: bool = False,
    day: int | None = None,
    command: Sequence[str] | None = None,
) -> DemoReport:
    """Run the demo OSSE and write a report folder.

    The folder is written next to ``out`` under a hidden name and moved into place at
    the end, so an error leaves nothing behind and an existing report stays intact
    until the new one is complete.

    Parameters
    ----------
    out : path-like
        Report folder; it must not exist unless ``overwrite``.
    days : int
        Analysis days.
    members : int
        Ensemble members.
    steps : int, optional
        Sampler steps of the guided diffusion. Default: those of the prior's
        recommended configuration (:attr:`xgenda.Prior.recommended`; 32 without one).
    method : {"mmps", "sda", "dps"}
        Guidance method. The demo runs the prior's recommended configuration (sampler,
        guidance, observation windows and ensemble inflation) with this method's guidance
        and ``steps``.
    device : str
        ``"auto"`` (GPU when present), ``"cpu"``, ``"cuda"``.
    seed : int
        Seed of the ensemble.
    prior : Prior or path, optional
        Default: the bundled demo prior (:func:`xgenda.load_demo_prior`).
    cache_dir : path-like, optional
        Where the catalog caches the toy-ocean truth and observations
        (default ``$XGENDA_CACHE`` or ``~/.cache/xgenda``).
    spinup_days : int
        Spin-up of the toy-ocean nature run (part of its cache key).
    progress : bool, optional
        Stage messages and progress bars (default: when a person watches, see
        :func:`xgenda.progress.on_terminal`).
    overwrite : bool
        Replace an existing report folder.
    allow_failure : bool
        Run every stage even when the observations are absent from the analysis
        period (otherwise the report stops at the failure banner).
    day : int, optional
        Draw the maps of this analysis day only (1 = the first); default every day.
    command : sequence of str, optional
        Command line recorded in the report (default ``sys.argv``).

    Returns
    -------
    DemoReport
        ``failures`` lists the failed checks (:data:`FAILURE_CHECKS`); the report
        shows them in a banner at its top.
    """
    for name, value in (("days", days), ("members", members), ("steps", steps)):
        if value is not None and int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if day is not None and not 1 <= int(day) <= int(days):
        raise ValueError(f"day must be between 1 and days={days}, got {day}")
    # Fail before any computation when a package of the figures or data is missing.
    require("matplotlib", "xgenda demo")
    require("intake", "xgenda demo")
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"the report folder {out} exists; pass --overwrite "
                              "(overwrite=True) to replace it, or choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = hidden_sibling(out)
    tmp.mkdir()
    try:
        report = _run(tmp, out, days=int(days), members=int(members),
                      steps=None if steps is None else int(steps),
                      method=method, device=device, seed=int(seed), prior=prior,
                      cache_dir=cache_dir, spinup_days=int(spinup_days),
                      show=on_terminal() if progress is None else bool(progress),
                      allow_failure=allow_failure, day=day,
                      command=list(sys.argv if command is None else command))
        if out.exists():
            swap_in(tmp, out)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def _configuration(prior: Any, steps: int | None, method: str) -> tuple[Any, Any]:
    """The demo's sampler and guidance: the prior's recommended ones, with ``steps``
    sampler steps and ``method``'s guidance when they differ from it."""
    rec = prior.recommended
    sampler = Heun() if rec is None else rec.sampler
    if steps is not None:
        sampler = replace(sampler, steps=steps)
    if rec is not None and rec.guidance.method == method:
        return sampler, rec.guidance
    return sampler, GUIDANCE[method]()


def _run(tmp: Path, out: Path, *, days: int, members: int, steps: int | None, method: str,
         device: str, seed: int, prior: Any, cache_dir: Any, spinup_days: int, show: bool,
         allow_failure: bool, day: int | None, command: list[str]) -> DemoReport:
    from xgenda.prior import Prior, load_demo_prior  # torch: once the demo runs

    timings: dict[str, float] = {}
    settings = {"days": days, "members": members, "steps": steps, "method": method,
                "seed": seed, "command": command, "device": device}
    report = DemoReport(out=out, scores=None, timings=timings)

    with _stage(timings, "data", show, "toy-ocean truth and OSSE observations "
                "(cached after the first run)"):
        cat = open_catalog()
        run = {"days": WARMUP_DAYS + days, "size": 64, "seed": 2,
               "cache_dir": None if cache_dir is None else str(cache_dir),
               "toy_ocean_kwargs": {"spinup_days": spinup_days}}
        truth_all = cat["toy_ocean_test"].read(**run)
        obs_all = cat["toy_ocean_osse"].read(**run)
        prior = load_demo_prior() if prior is None else prior
        if isinstance(prior, str | os.PathLike):
            prior = Prior.load(prior)
        variables = list(prior.variables)
        truth = truth_all[variables].isel(time=slice(WARMUP_DAYS, WARMUP_DAYS + days)).load()
        obs = xr.DataTree.from_dict({name: obs_all[name].to_dataset() for name in ASSIMILATED})
        report.failures += observation_failures(obs, truth.time.values[0],
                                                truth.time.values[-1])
    settings["prior"] = prior
    sampler, guidance = _configuration(prior, steps, method)
    settings["steps"] = sampler.steps
    settings["configuration"] = (
        "the prior's recommended configuration (`Prior.recommended`)"
        if prior.recommended is not None else "xgenda's defaults")
    if report.failures and not allow_failure:
        _write_markdown(report, tmp, settings, ens=None)
        return report

    template = truth[["ssh"]].chunk({"time": 1})
    with _stage(timings, "assimilation", show,
                f"assimilating {days} day(s) x {members} members ({method}, "
                f"{sampler.steps} steps)"):
        # the window and the inflation are left open: the prior's recommended ones
        ens = template.genda.assimilate(prior, obs, members=members, sampler=sampler,
                                        guidance=guidance, seed=seed, device=device)
        with dask_progress("assimilation", show):
            ens = ens.compute()
    timings["assimilation per day per member"] = timings["assimilation"] / (days * members)

    with _stage(timings, "optimal interpolation", show,
                "optimal interpolation baseline (nadir SSH, L3 SST)"):
        with dask_progress("optimal interpolation", show):
            oi = xr.merge([
                optimal_interpolation(obs["nadir"].to_dataset(), template, "ssh"),
                optimal_interpolation(obs["l3_sst"].to_dataset(), template, "sst",
                                      max_obs=1000),
            ]).compute()
        oi = _with_all_variables(oi, obs_all["l4_sss"].to_dataset(), truth)

    with _stage(timings, "scores", show, "scores against the truth"):
        climatology = prior.normalizer.mean_on(truth)[variables].load()
        scores = _scores({"xgenda": ens, "oi": oi, "prior_mean": climatology}, truth,
                         variables, show)
        scores.to_csv(tmp / "scores.csv")
        report.scores = scores
        report.failures += score_failures(scores, ens, truth)

    with _stage(timings, "figures", show, "figures"):
        days_drawn = range(days) if day is None else [int(day) - 1]
        names = _figures(tmp, ens, oi, truth, obs_all, days_drawn)
        report.figures = [out / n for n in names]
    _write_markdown(report, tmp, settings, ens=ens)
    return report


@contextmanager
def _stage(timings: dict[str, float], name: str, show: bool, message: str) -> Iterator[None]:
    if show:
        print(f"xgenda demo: {message}", flush=True)
    tic = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - tic


def _with_all_variables(oi: xr.Dataset, l4_sss: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """OI rows for every variable: u, v geostrophic from the OI SSH, SSS the L4 product."""
    geo = oi.genda.geostrophic_currents()
    extra = {"sss": l4_sss["sss"].sel(time=truth.time).drop_vars(
        [c for c in l4_sss["sss"].coords if c not in ("time", "lat", "lon")]),
        "u": geo["u_geo"].assign_attrs(truth["u"].attrs),
        "v": geo["v_geo"].assign_attrs(truth["v"].attrs)}
    return oi.assign({k: v for k, v in extra.items() if k in truth.data_vars})


def _scores(recs: Mapping[str, xr.Dataset], truth: xr.Dataset, variables: list[str],
            show: bool) -> Any:
    frames = [score_summary({name: rec}, truth, variables)
              for name, rec in tqdm(recs.items(), desc="scores", unit="method",
                                    total=len(recs), disable=not show)]
    return pd.concat(frames)


# -- failure checks ----------------------------------------------------------------------
def observation_failures(obs: xr.DataTree | Mapping[str, xr.Dataset], start: Any, end: Any,
                         *, margin_hours: float = 12.0) -> list[str]:
    """Observation sets with no finite value within ``margin_hours`` of the analysis period.

    Parameters
    ----------
    obs : DataTree or mapping of name to Dataset
        Point (dim ``obs``, coord ``time``) or gridded (dim ``time``) observation sets;
        the value variables are the data variables not ending in ``_error``.
    start, end : datetime64
        First and last analysis time.
    margin_hours : float
        Observations this close to the period count (h).

    Returns
    -------
    list of str
        One message per empty set; empty when every set observes the period.
    """
    leaves = {name: node.to_dataset() for name, node in obs.children.items()} \
        if isinstance(obs, xr.DataTree) else dict(obs)
    if not leaves:
        return ["observations: no observation set was given"]
    margin = np.timedelta64(round(margin_hours * 3600), "s")
    lo = np.datetime64(start, "ns") - margin
    hi = np.datetime64(end, "ns") + margin
    failures = []
    for name, ds in leaves.items():
        count = 0
        for v in [v for v in ds.data_vars if not str(v).endswith("_error")
                  and str(v) != "platform"]:
            da = ds[v]
            if "time" in da.coords:
                t = da["time"].values.astype("datetime64[ns]")
                da = da.where(xr.DataArray((t >= lo) & (t <= hi), dims=da["time"].dims))
            count += int(np.isfinite(da.values).sum())
        if count == 0:
            failures.append(f"observations: '{name}' has no finite value between "
                            f"{np.datetime_as_string(lo, 'm')} and "
                            f"{np.datetime_as_string(hi, 'm')}")
    return failures


def score_failures(scores: Any, ens: xr.Dataset, truth: xr.Dataset) -> list[str]:
    """Diverged ensembles and ensemble means worse than the prior mean.

    Parameters
    ----------
    scores : pandas.DataFrame
        A :func:`~xgenda.diagnostics.summary.score_summary` frame with the methods
        ``xgenda`` and ``prior_mean``.
    ens : Dataset
        The ensemble (dims ``member``, ``time``, ``lat``, ``lon``).
    truth : Dataset
        The truth; its finite points are the ocean.

    Returns
    -------
    list of str
        One message per failed check and variable (:data:`FAILURE_CHECKS`).
    """
    failures = []
    for var in [v for v in truth.data_vars if v in ens.data_vars]:
        unit = display_units(str(scores.loc[("xgenda", var)].get("units", "")))
        ocean = np.isfinite(truth[var])
        bad = int((~np.isfinite(ens[var]) & ocean).sum())
        ours = float(scores.loc[("xgenda", var), "rmse"])
        prior = float(scores.loc[("prior_mean", var), "rmse"])
        if bad or not np.isfinite(ours) or ours > DIVERGED_FACTOR * prior:
            what = f"{bad} non-finite values over the ocean" if bad else \
                f"RMSE {ours:.3g} {unit} against {prior:.3g} {unit} for the prior mean"
            failures.append(f"diverged: the {var} ensemble diverged ({what}); try more "
                            "sampler steps")
        elif ours > prior:
            failures.append(f"worse than the prior mean: {var} RMSE {ours:.3g} {unit} "
                            f"against {prior:.3g} {unit} for the prior mean")
    return failures


# -- words and tables ----------------------------------------------------------------------
def verdict(scores: Any, *, against: str = "oi", ours: str = "xgenda") -> str:
    """One paragraph, computed from the scores: who wins on each variable and by how
    much, and whether the ensemble spread is calibrated."""
    variables = [v for (m, v) in scores.index if m == ours]
    wins, losses, parts = [], [], []
    for var in variables:
        a = float(scores.loc[(ours, var), "rmse"])
        unit = display_units(str(scores.loc[(ours, var), "units"]))
        if (against, var) not in scores.index or not np.isfinite(a):
            continue
        b = float(scores.loc[(against, var), "rmse"])
        if not np.isfinite(b):
            continue
        winner, loser = (ours, against) if a < b else (against, ours)
        lo, hi = min(a, b), max(a, b)
        gap = 100.0 * (hi - lo) / hi if hi > 0 else 0.0
        (wins if winner == ours else losses).append(var)
        parts.append(f"{var.upper()}: {winner} (RMSE {lo:.3g} {unit} against {hi:.3g} "
                     f"{unit} for {loser}, {gap:.0f} % lower)")
    text = [f"{ours} has the lower RMSE on {_words(wins)}, {against} on {_words(losses)}. "
            + "; ".join(parts) + "."] if parts else [f"No variable has both {ours} and "
                                                     f"{against} scores."]
    if "spread_skill" in scores.columns:
        ratios = {v: float(scores.loc[(ours, v), "spread_skill"]) for v in variables}
        ratios = {v: r for v, r in ratios.items() if np.isfinite(r)}
        lo, hi = SPREAD_SKILL_TARGET
        ok = [v for v, r in ratios.items() if lo <= r <= hi]
        small = [v for v, r in ratios.items() if r < lo]
        large = [v for v, r in ratios.items() if r > hi]
        listed = ", ".join(f"{v.upper()} {r:.2f}" for v, r in ratios.items())
        if ratios:
            sentence = (f"The ensemble spread is calibrated (spread/skill within {lo}-{hi}) "
                        f"on {_words(ok)}")
            if small:
                sentence += f"; too small (over-confident) on {_words(small)}"
            if large:
                sentence += f"; too large on {_words(large)}"
            text.append(f"{sentence} (spread/skill: {listed}).")
    return " ".join(text)


def _words(names: Sequence[str]) -> str:
    names = [n.upper() for n in names]
    if not names:
        return "no variable"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def scores_markdown(scores: Any) -> str:
    """A Markdown table of a :func:`~xgenda.diagnostics.summary.score_summary` frame."""
    columns = ["units", *[c for c in scores.columns if c != "units"
                          and scores[c].notna().any()]]
    lines = ["| method | variable | " + " | ".join(columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for (method, var), row in scores.iterrows():
        cells = [display_units(str(row[c])) if c == "units" else _fmt(row[c]) for c in columns]
        lines.append(f"| {method} | {var} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def glossary_markdown(columns: Sequence[str]) -> str:
    """A Markdown table of the meaning, units and better direction of score columns."""
    lines = ["| column | units | meaning | better |", "|---|---|---|---|"]
    lines += [f"| {c} | {GLOSSARY[c][0]} | {GLOSSARY[c][1]} | {GLOSSARY[c][2]} |"
              for c in columns if c in GLOSSARY]
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{value:.3g}"


# -- figures and report --------------------------------------------------------------------
def _figures(out: Path, ens: xr.Dataset, oi: xr.Dataset, truth: xr.Dataset,
             obs: xr.DataTree, days: Sequence[int]) -> list[str]:
    nadir, l3_sst = obs["nadir"].to_dataset(), obs["l3_sst"].to_dataset()
    l4_sss = obs["l4_sss"].to_dataset()
    mean = ens.mean("member")
    jobs: list[tuple[str, Any]] = []
    for d in days:
        jobs += [
            (f"maps_ssh_day{d + 1}.png", lambda p, d=d: ens.genda.plot.maps(
                truth, nadir, "ssh", time=d, save=p)),
            (f"maps_sst_day{d + 1}.png", lambda p, d=d: ens.genda.plot.maps(
                truth, l3_sst, "sst", time=d, save=p)),
            (f"maps_sss_day{d + 1}.png", lambda p, d=d: ens.genda.plot.maps(
                truth, l4_sss, "sss", time=d, save=p)),
            (f"oi_ssh_day{d + 1}.png", lambda p, d=d: oi.genda.plot.maps(
                truth, nadir, "ssh", time=d, save=p)),
        ]
    jobs += [
        ("spectrum_ssh.png", lambda p: mean.genda.plot.spectrum(truth, "ssh", save=p)),
        ("spectrum_sst.png", lambda p: mean.genda.plot.spectrum(truth, "sst", save=p)),
        ("spread_skill.png", lambda p: ens.genda.plot.spread_skill(truth, "ssh", save=p)),
    ]
    for name, draw in jobs:
        draw(out / name)  # figures are built without pyplot: nothing to close
    return [name for name, _ in jobs]


def _provenance(settings: Mapping[str, Any], report: DemoReport, out: Path) -> list[str]:
    prior = settings["prior"]
    versions = []
    for pkg in ("numpy", "xarray", "dask", "torch", "intake", "matplotlib"):
        try:
            versions.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:  # pragma: no cover - all are dependencies
            versions.append(f"{pkg} (not installed)")
    card = Path(prior.path) / "MODEL_CARD.md" if getattr(prior, "path", None) else None
    card_link = "no model card"
    if card is not None and card.exists():  # relative, so the link works where the report is
        card_link = f"[model card]({Path(os.path.relpath(card.resolve(), out.resolve())).as_posix()})"
    device = resolve_device(settings["device"])
    gpu = ""
    if device.type == "cuda":
        import torch

        gpu = f" ({torch.cuda.get_device_name(device)})"
    lines = [
        f"- command: `{' '.join(settings['command'])}`",
        f"- created: {_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- packages: xgenda {__version__}, Python {platform.python_version()}, "
        + ", ".join(versions),
        f"- prior: `{prior.id}` ({card_link})",
        f"- machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPU cores",
        f"- device: {device}{gpu}",
        "- wall time: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.timings.items()),
    ]
    return lines


def _write_markdown(report: DemoReport, folder: Path, settings: Mapping[str, Any],
                    ens: xr.Dataset | None) -> None:
    s = settings
    lines = ["# xgenda demo report", ""]
    if report.failures:
        lines += ["> **FAILED.** This run did not pass its checks; do not read its numbers "
                  "as results:", ">"]
        lines += [f"> - {f}" for f in report.failures]
        lines += [""]
    lines += [
        f"{s['days']} analysis day(s), {s['members']} members, {s['method'].upper()} "
        f"guidance, {s['steps']} sampler steps, seed {s['seed']}; assimilated: "
        f"{', '.join(ASSIMILATED)}; truth: toy-ocean test run (seed 2). Sampler, guidance, "
        f"observation windows and ensemble inflation: {s['configuration']}.", "",
    ]
    if report.scores is not None:
        scores = report.scores
        lines += ["## Verdict", "", verdict(scores), "", "## Scores", "",
                  scores_markdown(scores), ""]
        lines += [f"- `{k}`: {v}" for k, v in METHODS.items()]
        lines += ["- `-`: not applicable, or no 0.5 crossing of the PSD score", "",
                  "### Columns", "",
                  glossary_markdown(["units", *[c for c in scores.columns
                                                if c != "units" and scores[c].notna().any()]]),
                  ""]
    lines += ["## Provenance", "", *_provenance(settings, report, report.out), ""]
    if report.figures:
        lines += ["## Figures", ""]
        lines += [f"![{p.stem}]({p.name})" for p in report.figures]
        lines += [""]
    if ens is not None:
        lines += ["### Ensemble attributes", "", "```"]
        lines += [f"{k}: {v}" for k, v in ens.attrs.items()
                  if k in ("xgenda_version", "prior_id", "method", "method_params", "sampler",
                           "steps", "members", "seed", "obs_count", "obs_used")]
        lines += ["```", ""]
    (folder / "report.md").write_text("\n".join(lines))
