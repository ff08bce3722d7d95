"""The end-to-end demo OSSE behind ``xgenda demo``.

One call runs what a newcomer wants to see: a toy-ocean truth and its simulated
observations (from the packaged catalog, cached), the bundled demo prior, an
ensemble assimilation of nadir SSH + cloudy L3 SST + L4 SSS, the optimal
interpolation baseline on the same observations, scores and figures, all written
to a report folder (``report.md`` + PNG figures + ``scores.csv``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["DemoReport", "run_demo", "scores_markdown"]

ASSIMILATED = ("nadir", "l3_sst", "l4_sss")
"""Observation leaves of the OSSE tree that the demo assimilates."""
WARMUP_DAYS = 14
"""Days of observations before the first analysis day (the OI time window needs them)."""


@dataclass
class DemoReport:
    """What :func:`run_demo` wrote and measured."""

    out: Path
    scores: Any  # pandas.DataFrame indexed by (method, variable)
    figures: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def markdown(self) -> Path:
        return self.out / "report.md"


def run_demo(
    out: str | os.PathLike[str] = "xgenda-demo",
    *,
    days: int = 3,
    members: int = 8,
    steps: int = 12,
    method: str = "mmps",
    device: str = "auto",
    seed: int = 0,
    prior: Any = None,
    cache_dir: str | os.PathLike[str] | None = None,
    spinup_days: int = 180,
    progress: bool | None = None,
) -> DemoReport:
    """Run the demo OSSE and write a report folder.

    Parameters
    ----------
    out : path-like
        Report folder (created; existing files in it are replaced).
    days : int
        Analysis days.
    members : int
        Ensemble members.
    steps : int
        Sampler steps of the guided diffusion.
    method : {"mmps", "sda", "dps"}
        Guidance method.
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
        Progress bars (default: when writing to a terminal).

    Returns
    -------
    DemoReport
    """
    import xgenda
    from xgenda.catalog import open_catalog
    from xgenda.diagnostics.summary import score_summary

    for name, value in (("days", days), ("members", members), ("steps", steps)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    show = _show_progress(progress)
    timings: dict[str, float] = {}

    tic = time.perf_counter()
    cat = open_catalog()
    run = {"days": WARMUP_DAYS + int(days), "size": 64, "seed": 2,
           "cache_dir": None if cache_dir is None else str(cache_dir),
           "toy_ocean_kwargs": {"spinup_days": int(spinup_days)}}
    _say(show, "toy-ocean truth and OSSE observations (cached after the first run)")
    truth_all = cat["toy_ocean_test"].read(**run)
    obs_all = cat["toy_ocean_osse"].read(**run)
    timings["data (s)"] = time.perf_counter() - tic

    prior = xgenda.load_demo_prior() if prior is None else prior
    if isinstance(prior, str | os.PathLike):
        prior = xgenda.Prior.load(prior)
    analysis = slice(WARMUP_DAYS, WARMUP_DAYS + int(days))
    truth = truth_all[list(prior.variables)].isel(time=analysis).load()
    obs = xr.DataTree.from_dict({name: obs_all[name].to_dataset() for name in ASSIMILATED})
    template = truth[["ssh"]].chunk({"time": 1})

    tic = time.perf_counter()
    _say(show, f"assimilating {days} day(s) x {members} members ({method}, {steps} steps)")
    ens = template.genda.assimilate(prior, obs, members=members, method=method, steps=steps,
                                    seed=seed, device=device)
    ens = _compute(ens, show)
    timings["assimilation (s)"] = time.perf_counter() - tic
    timings["assimilation per day per member (s)"] = timings["assimilation (s)"] / (
        int(days) * int(members))

    tic = time.perf_counter()
    _say(show, "optimal interpolation baseline (nadir SSH, L3 SST)")
    oi = xr.merge([
        xgenda.baselines.optimal_interpolation(obs_all["nadir"].to_dataset(), template, "ssh"),
        xgenda.baselines.optimal_interpolation(obs_all["l3_sst"].to_dataset(), template, "sst",
                                               max_obs=1000),
    ]).compute()
    timings["optimal interpolation (s)"] = time.perf_counter() - tic

    climatology = prior.normalizer.mean_on(truth)[list(prior.variables)].load()
    scores = score_summary({"xgenda": ens, "oi": oi, "prior_mean": climatology}, truth,
                           list(prior.variables))
    scores.to_csv(out / "scores.csv")

    _say(show, "figures")
    figures = _figures(out, ens, oi, truth, obs_all)
    report = DemoReport(out=out, scores=scores, figures=figures, timings=timings)
    _write_markdown(report, prior=prior, days=days, members=members, steps=steps,
                    method=method, ens=ens)
    return report


def _figures(out: Path, ens: xr.Dataset, oi: xr.Dataset, truth: xr.Dataset,
             obs: xr.DataTree) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    jobs = [
        ("maps_ssh.png", lambda p: ens.genda.plot.maps(truth, obs["nadir"].to_dataset(), "ssh",
                                                       save=p)),
        ("maps_sst.png", lambda p: ens.genda.plot.maps(truth, obs["l3_sst"].to_dataset(), "sst",
                                                       save=p)),
        ("maps_sss.png", lambda p: ens.genda.plot.maps(truth, obs["l4_sss"].to_dataset(), "sss",
                                                       save=p)),
        ("oi_ssh.png", lambda p: oi.genda.plot.maps(truth, obs["nadir"].to_dataset(), "ssh",
                                                    save=p)),
        ("spectrum_ssh.png", lambda p: ens.mean("member").genda.plot.spectrum(truth, "ssh",
                                                                              save=p)),
        ("spectrum_sst.png", lambda p: ens.mean("member").genda.plot.spectrum(truth, "sst",
                                                                              save=p)),
        ("spread_skill.png", lambda p: ens.genda.plot.spread_skill(truth, "ssh", save=p)),
    ]
    for name, draw in jobs:
        path = out / name
        fig = draw(path)
        plt.close(fig)
        written.append(path)
    return written


def _write_markdown(report: DemoReport, *, prior: Any, days: int, members: int, steps: int,
                    method: str, ens: xr.Dataset) -> None:
    import xgenda

    lines = [
        "# xgenda demo report", "",
        f"xgenda {xgenda.__version__}; prior `{prior.id}`; {days} analysis day(s), "
        f"{members} members, {method.upper()} guidance, {steps} steps; "
        f"assimilated: {', '.join(ASSIMILATED)}; truth: toy-ocean test run (seed 2).", "",
        scores_markdown(report.scores), "",
        "`xgenda`: the ensemble (scores of its mean; CRPS and spread/skill of the members); "
        "`oi`: optimal interpolation of nadir SSH and L3 SST (Gaussian covariance 1 deg, "
        "1 deg, 7 days, noise 5 %); `prior_mean`: the prior's climatology, what one knows "
        "without observations; `-`: not applicable, or no 0.5 crossing of the PSD score.",
        "", "## Timings", "",
    ]
    lines += [f"- {k}: {v:.1f}" for k, v in report.timings.items()]
    lines += ["", "## Figures", ""]
    lines += [f"![{p.stem}]({p.name})" for p in report.figures]
    lines += ["", "## Provenance", "", "```"]
    lines += [f"{k}: {v}" for k, v in ens.attrs.items() if k.startswith(("xgenda", "genda"))]
    lines += ["```", ""]
    report.markdown.write_text("\n".join(lines))


def scores_markdown(scores: Any) -> str:
    """A Markdown table of a :func:`~xgenda.diagnostics.summary.score_summary` frame."""
    columns = ["units", *[c for c in scores.columns if c != "units"
                          and scores[c].notna().any()]]
    lines = ["| method | variable | " + " | ".join(columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for (method, var), row in scores.iterrows():
        cells = [str(row[c]) if c == "units" else _fmt(row[c]) for c in columns]
        lines.append(f"| {method} | {var} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{value:.3g}"


def _compute(ens: xr.Dataset, show: bool) -> xr.Dataset:
    if not show:
        return ens.compute()
    from tqdm.dask import TqdmCallback

    with TqdmCallback(desc="assimilation", unit="block"):
        return ens.compute()


def _show_progress(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    import sys

    return sys.stderr.isatty()


def _say(show: bool, message: str) -> None:
    if show:
        print(f"xgenda demo: {message}", flush=True)
