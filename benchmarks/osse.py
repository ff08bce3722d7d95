"""OSSE skill benchmark: optimal interpolation vs xgenda on held-out toy-ocean runs.

Held-out toy-ocean runs (seeds 2 and 3 by default; the demo prior was trained on seed 0
and validated on seed 1001) are observed by the OSSE simulator (``toy_ocean_osse``):
nadir SSH of 4 altimeters, cloudy L3 SST and the L4 SSS product are assimilated; a
fifth altimeter and drifters are withheld for evaluation. Analysis days are spaced
``--spacing`` days apart (default 6: SSH autocorrelation 0.53 at 7 days), after a
14-day warm-up so that every method sees observations on both sides of each day.

Every method gets the same observation files over the same days:

- ``oi``: space-time optimal interpolation of nadir SSH and L3 SST (ODC baseline)
  around the training climatology (the prior normalizer's per-pixel mean: the mean
  dynamic topography for SSH), Gaussian scales fitted on the training run (seed 0),
  observations within ``2 Lt`` days; currents geostrophic from its SSH; SSS is the L4
  product. Its posterior std gives a Gaussian CRPS and a spread/skill ratio;
- ``genda``: xgenda with ``preset="genda"`` (snapshot prior, SDA, gamma 0.1, 256 DDIM
  steps), GenDA's configuration; costly, so on the first ``--genda-days`` days of each run;
- ``xgenda-fast``: MMPS, 16 Heun steps, observations of the analysis day only
  (the fast setting before the observation windows and error model);
- ``xgenda-best``: the recommended settings of :mod:`xgenda.obs.recommended`
  (per-kind windows and error growth, correlated-error inflation of L4 products,
  MMPS with 3 CG steps, churn);
- ablation rows (``--ablation``): the recommended settings with one step removed.

Every ensemble of one (method, run, day) case is cached in ``--cache-dir`` (default
``~/.cache/xgenda-bench``) so that a long run can be split and resumed. Writes
``benchmarks/results/osse.md`` and ``osse.json`` (seeds, command, machine).

Usage::

    python benchmarks/osse.py --quick
    python benchmarks/osse.py --seeds 2 3 --days-per-run 15 --members 16 --ablation
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from _common import header, run_info, write_results

RESULTS = Path(__file__).parent / "results"
WARMUP_DAYS = 14  # observations before the first analysis day
TAIL_DAYS = 8  # observations after the last analysis day (nadir windows)
RUN_DAYS = 107  # length of each nature run (days)
TRAINING_SEED = 0
VARIABLES = ("ssh", "sst", "sss", "u", "v")
SPLIT_KM = 200.0  # error split: wavelengths above / below


def method_settings(name: str, recommended: dict[str, Any]) -> dict[str, Any]:
    """The settings of each xgenda row: assimilate keywords and observation attrs."""
    rec = recommended
    best = {"kwargs": {"method": "mmps", "steps": rec["steps"], "churn": rec["churn"],
                       "guidance": dict(rec["guidance"])},
            "obs": {k: dict(v) for k, v in rec["observations"].items()}}
    if name == "genda":
        return {"kwargs": {"preset": "genda"}, "obs": {}}
    if name == "xgenda-fast":
        return {"kwargs": {"method": "mmps", "steps": 16}, "obs": {}}
    if name in ("xgenda-best", "ablation-ref"):
        return best
    if name == "no-windows":  # best, but observations of the analysis day only
        obs = {k: {a: b for a, b in v.items() if a not in ("time_window", "time_error_growth")}
               for k, v in best["obs"].items()}
        return {**best, "obs": obs}
    if name == "white-errors":  # best, but L4 errors treated as independent
        obs = {k: {a: b for a, b in v.items() if a != "error_correlation_km"}
               for k, v in best["obs"].items()}
        return {**best, "obs": obs}
    if name == "no-churn":  # best, but a deterministic sampler
        return {**best, "kwargs": {**best["kwargs"], "churn": 0.0}}
    raise ValueError(f"unknown method {name!r}")


ABLATION = ("ablation-ref", "no-windows", "white-errors", "no-churn")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (minutes on a CPU)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[2, 3],
                        help="held-out toy-ocean runs")
    parser.add_argument("--days-per-run", type=int, default=None, help="analysis days per run")
    parser.add_argument("--spacing", type=int, default=6, help="days between analysis days")
    parser.add_argument("--members", type=int, default=None, help="ensemble members")
    parser.add_argument("--genda-days", type=int, default=2,
                        help="analysis days per run for the costly GenDA preset")
    parser.add_argument("--ablation", action="store_true", help="add the ablation rows")
    parser.add_argument("--ablation-days", type=int, default=None,
                        help="analysis days per run of the ablation rows (default: all)")
    parser.add_argument("--ablation-members", type=int, default=None,
                        help="members of the ablation rows (default: --members)")
    parser.add_argument("--row-days", nargs="+", default=[], metavar="ROW=N",
                        help="analysis days per run of a row, e.g. xgenda-fast=3")
    parser.add_argument("--methods", nargs="+", default=None,
                        help="xgenda rows to run (default: genda xgenda-fast xgenda-best)")
    parser.add_argument("--cached-only", action="store_true",
                        help="score the cached cases only (the leading days of each row)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "xgenda-bench"))
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--out", default=str(RESULTS / "osse"), help="results path stem")
    args = parser.parse_args(argv)
    n_days = args.days_per_run or (1 if args.quick else 15)
    members = args.members or (4 if args.quick else 16)
    seeds = list(args.seeds[:1] if args.quick else args.seeds)
    if any(s in (TRAINING_SEED, 1001) for s in seeds):
        raise SystemExit("seeds 0 and 1001 trained and validated the demo prior: "
                         "use held-out seeds (e.g. 2 3)")
    methods = args.methods or ["genda", "xgenda-fast", "xgenda-best"]
    if args.ablation:
        methods += [m for m in ABLATION if m not in methods]

    import torch

    import xgenda

    # the device name in the results needs it; scoring cached cases does not import it
    import xgenda._runtime
    from xgenda.obs.recommended import RECOMMENDED

    if args.threads:
        torch.set_num_threads(args.threads)
    cache = Path(args.cache_dir)
    prior = xgenda.load_demo_prior()
    # one run length for every invocation: the cached cases stay valid
    run_days = max(RUN_DAYS, WARMUP_DAYS + args.spacing * (n_days - 1) + TAIL_DAYS + 1)
    row_days = {k: int(v) for k, v in (item.split("=") for item in args.row_days)}
    scales = oi_scales(cache, prior.patch_size)
    print("OI scales fitted on the training run:", scales, flush=True)

    recs: dict[str, dict[int, xr.Dataset]] = {}
    truths, drifters, withheld, observations = {}, {}, {}, {}
    wall: dict[str, float] = {}
    days_used: dict[str, dict[int, int]] = {}
    row_members: dict[str, int] = {"oi": 1}
    plan: dict[str, tuple[int, dict[str, Any]]] = {}
    for name in methods:
        limit = {"genda": args.genda_days}.get(name, n_days)
        size = members
        if name in ABLATION:
            limit = args.ablation_days or limit
            size = args.ablation_members or members
        row_members[name] = size
        plan[name] = (min(row_days.get(name, limit), n_days), method_settings(name, RECOMMENDED))
    for seed in seeds:
        truth_all, obs_all = load_run(seed, run_days, prior.patch_size, cache)
        index = [WARMUP_DAYS + args.spacing * k for k in range(n_days)]
        truths[seed] = truth_all[list(prior.variables)].isel(time=index).load()
        observations[seed] = obs_all
        drifters[seed] = obs_all["withheld/drifters"].to_dataset()
        withheld[seed] = obs_all["withheld/nadir"].to_dataset()
        tic = time.perf_counter()
        recs.setdefault("oi", {})[seed] = run_oi(obs_all, truths[seed], prior, scales)
        wall["oi"] = wall.get("oi", 0.0) + time.perf_counter() - tic
        days_used.setdefault("oi", {})[seed] = n_days

    def path_of(name: str, seed: int, k: int) -> Path:
        return case_path(cache, name, plan[name][1], row_members[name], seed,
                         truths[seed].time.values[k])

    # day-major order over runs and rows, so that a run cut short stays balanced
    if not args.cached_only:
        for k in range(n_days):
            for name in methods:
                for seed in seeds:
                    path = path_of(name, seed, k)
                    if k >= plan[name][0] or path.exists():
                        continue
                    tic = time.perf_counter()
                    ens = run_xgenda(prior, observations[seed], truths[seed].isel(time=[k])[["ssh"]],
                                     plan[name][1], row_members[name], args.device)
                    dt = time.perf_counter() - tic
                    ens.attrs["wall_s"] = dt
                    path.parent.mkdir(parents=True, exist_ok=True)
                    ens.to_netcdf(path.with_suffix(".tmp"))
                    path.with_suffix(".tmp").rename(path)
                    print(f"{name} seed {seed} day {k}: {dt:.1f} s", flush=True)
    # the cached cases of each row (with --cached-only: the leading days that are cached)
    for name in methods:
        for seed in seeds:
            parts = []
            for k in range(plan[name][0]):
                path = path_of(name, seed, k)
                if not path.exists():
                    break
                ens = xr.open_dataset(path).load()
                wall[name] = wall.get(name, 0.0) + float(ens.attrs.get("wall_s", np.nan))
                parts.append(ens)
            days_used.setdefault(name, {})[seed] = len(parts)
            if parts:
                recs.setdefault(name, {})[seed] = xr.concat(parts, "time")

    table, along = score_all(recs, truths, drifters, withheld, days_used)
    per = {k: wall[k] / (sum(days_used[k].values()) * row_members[k]) for k in wall}
    info = {
        **run_info(argv, args.device),
        "prior": prior.id, "seeds": seeds, "days_per_run": n_days, "spacing_days": args.spacing,
        "members": members, "days_used_per_run": days_used, "members_per_row": row_members,
        "oi_scales": scales,
        "recommended": RECOMMENDED,
        "settings": {m: method_settings(m, RECOMMENDED) for m in methods},
        "wall_s": wall, "wall_per_day_per_member_s": per,
        "alongtrack_ssh": along,
    }
    info["ablation"] = {
        name: {v: {c: float(table.loc[(name, v), c]) for c in ("rmse", "crps", "spread_skill")}
               for v in VARIABLES}
        for name in ABLATION if name in recs}
    write_results(args.out, info, table, _markdown)
    return 0


# -- data ------------------------------------------------------------------------------------
def load_run(seed: int, days: int, size: int, cache: Path) -> tuple[xr.Dataset, xr.DataTree]:
    """Nature run and OSSE observations of one toy-ocean seed (cached as zarr)."""
    from xgenda.catalog import open_catalog

    cat = open_catalog()
    run = {"days": days, "size": size, "seed": seed, "cache_dir": str(cache / "runs")}
    return cat["toy_ocean_test"].read(**run), cat["toy_ocean_osse"].read(**run)


def oi_scales(cache: Path, size: int, days: int = 120) -> dict[str, dict[str, float]]:
    """OI covariance scales of SSH and SST fitted on the training run (seed 0).

    The lag at which the autocorrelation of the anomaly (per-pixel time mean removed)
    falls to 1/e along x, y and time: the e-folding scales of OI's covariance
    ``exp(-(dx/Lx)^2 - (dy/Ly)^2 - (dt/Lt)^2)``.
    """
    from xgenda.grid import mean_spacing_km

    path = cache / f"oi_scales_{size}_{days}.json"
    if path.exists():
        return json.loads(path.read_text())
    truth, _ = load_run(TRAINING_SEED, days, size, cache)
    dx_km, dy_km = mean_spacing_km(truth)
    out = {}
    for var in ("ssh", "sst"):
        a = truth[var].values.astype(np.float64)
        a = a - np.nanmean(a, axis=0)
        a = np.nan_to_num(a)
        var0 = (a * a).mean()
        scales = {}
        for name, axis, step in (("Lx_km", 2, dx_km), ("Ly_km", 1, dy_km), ("Lt_days", 0, 1.0)):
            for lag in range(1, a.shape[axis]):
                head = np.take(a, range(lag, a.shape[axis]), axis=axis)
                tail = np.take(a, range(a.shape[axis] - lag), axis=axis)
                if (head * tail).mean() / var0 < math.exp(-1):
                    scales[name] = float(lag * step)
                    break
        out[var] = scales
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out))
    return out


def case_path(cache: Path, name: str, settings: dict[str, Any], members: int, seed: int,
              day: Any) -> Path:
    """Cache file of one (method, settings, members, run, day) ensemble."""
    key = json.dumps({"settings": settings, "members": members}, sort_keys=True, default=str)
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    stamp = str(np.datetime_as_string(np.datetime64(day, "D")))
    return cache / "cases" / f"{name}-{digest}" / f"seed{seed}_{stamp}.nc"


# -- methods ---------------------------------------------------------------------------------
def run_oi(obs_all: xr.DataTree, truth: xr.Dataset, prior: Any,
           scales: dict[str, dict[str, float]]) -> xr.Dataset:
    """OI of nadir SSH and L3 SST around the training climatology; L4 SSS; geostrophic u, v."""
    import xgenda

    template = truth[["ssh"]].chunk({"time": 1})
    # the per-pixel training climatology (no time dependence): the MDT for SSH
    mean = prior.normalizer.mean_on(truth[["ssh", "sst"]].isel(time=0, drop=True))
    oi = xr.merge([
        xgenda.baselines.optimal_interpolation(
            obs_all["nadir"].to_dataset(), template, "ssh", mean=mean["ssh"], **scales["ssh"]),
        xgenda.baselines.optimal_interpolation(
            obs_all["l3_sst"].to_dataset(), template, "sst", mean=mean["sst"], max_obs=1000,
            **scales["sst"]),
    ]).compute()
    geo = oi.genda.geostrophic_currents()
    l4_sss = obs_all["l4_sss"].to_dataset()["sss"].sel(time=truth.time)
    return xr.Dataset({"ssh": oi.ssh, "sst": oi.sst, "sss": l4_sss,
                       "u": geo.u_geo, "v": geo.v_geo,
                       "ssh_error": oi.ssh_error, "sst_error": oi.sst_error})


def run_xgenda(prior: Any, obs_all: xr.DataTree, template: xr.Dataset,
               settings: dict[str, Any], members: int, device: str) -> xr.Dataset:
    """The one call of :func:`xgenda.assimilate` of this benchmark (one analysis day).

    ``settings["obs"]`` maps observation node names to attrs set on them
    (``genda_time_window``, ``genda_time_error_growth``, ``genda_error_correlation_km``,
    ``genda_error_inflation``); ``settings["kwargs"]`` are keywords of assimilate.
    """
    nodes = {}
    for key in ("nadir", "l3_sst", "l4_sss"):
        ds = obs_all[key].to_dataset()
        extra = {f"genda_{a}": v for a, v in settings["obs"].get(key, {}).items()}
        nodes[key] = ds.assign_attrs({**ds.attrs, **extra})
    tree = xr.DataTree.from_dict(nodes)
    return template.chunk({"time": 1}).genda.assimilate(
        prior, tree, members=members, seed=0, device=device,
        **configuration(settings["kwargs"])).compute()


def configuration(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The configuration objects of a row's settings (kept as plain values: they key
    the case cache)."""
    from xgenda.config import MMPS, Heun, presets

    if kwargs.get("preset") == "genda":
        return presets.genda()
    return {"sampler": Heun(steps=kwargs["steps"], churn=kwargs.get("churn", 0.0)),
            "guidance": MMPS(**kwargs.get("guidance", {}))}


# -- scores ----------------------------------------------------------------------------------
def gaussian_crps(mean: np.ndarray, std: np.ndarray, truth: np.ndarray) -> float:
    """Mean CRPS of Gaussian forecasts N(mean, std^2) (Gneiting et al. 2005)."""
    from scipy.stats import norm

    z = (truth - mean) / std
    c = std * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / math.sqrt(math.pi))
    return float(np.nanmean(c))


def split_rmse(err: np.ndarray, dx_km: float, dy_km: float) -> tuple[float, float]:
    """RMSE of the error at wavelengths above and below :data:`SPLIT_KM` (Gaussian split)."""
    from scipy.ndimage import gaussian_filter

    # Gaussian low-pass with half power at SPLIT_KM
    sigma_km = math.sqrt(2 * math.log(2)) * SPLIT_KM / (2 * math.pi)
    e = np.nan_to_num(err)
    large = gaussian_filter(e, (0, sigma_km / dy_km, sigma_km / dx_km), mode="reflect")
    small = e - large
    return float(np.sqrt((large**2).mean())), float(np.sqrt((small**2).mean()))


def score_all(recs: dict[str, dict[int, xr.Dataset]], truths: dict[int, xr.Dataset],
              drifters: dict[int, xr.Dataset], withheld: dict[int, xr.Dataset],
              days_used: dict[str, dict[int, int]]) -> tuple[Any, dict]:
    """Scores per run pooled over runs (RMSE by mean square, others by day-weighted mean)."""
    import pandas as pd

    from xgenda.diagnostics.summary import score_summary
    from xgenda.grid import mean_spacing_km

    frames, along, split = [], {}, {}
    for seed, truth in truths.items():
        dx_km, dy_km = mean_spacing_km(truth)
        for name, per_seed in recs.items():
            if seed not in per_seed:
                continue
            rec = per_seed[seed]
            n = days_used[name][seed]
            t = truth.isel(time=slice(0, n))
            rec = rec.assign_coords(time=t.time)
            table = score_summary({name: rec[[v for v in VARIABLES if v in rec]]}, t,
                                  list(VARIABLES), drifters=drifters[seed]).reset_index()
            table["days"] = n
            mean = rec.mean("member") if "member" in rec.dims else rec
            for v in VARIABLES:
                row = table["variable"] == v
                lo, hi = split_rmse((mean[v] - t[v]).values, dx_km, dy_km)
                split.setdefault(name, {}).setdefault(v, []).append((n, lo, hi))
                if name == "oi" and f"{v}_error" in rec:
                    table.loc[row, "crps"] = gaussian_crps(rec[v].values,
                                                           rec[f"{v}_error"].values, t[v].values)
                    spread = float(np.sqrt(np.nanmean(rec[f"{v}_error"].values ** 2)))
                    table.loc[row, "spread_skill"] = spread / float(table.loc[row, "rmse"].iloc[0])
            s = mean.genda.diag.alongtrack_rmse_scores(withheld[seed], "ssh",
                                                       time_tolerance="12h")
            along.setdefault(name, []).append({k: float(s[k]) for k in ("mu", "sigma", "n_obs")})
            frames.append(table)
    df = pd.concat(frames)
    cols = [c for c in df.columns if c not in ("method", "variable", "units", "days")]
    rows = []
    for (name, var), g in df.groupby(["method", "variable"], sort=False):
        w = g["days"].to_numpy(float)
        row = {"method": name, "variable": var, "units": g["units"].iloc[0]}
        for c in cols:
            x = pd.to_numeric(g[c], errors="coerce").to_numpy(float)
            ok = np.isfinite(x)
            if not ok.any():
                row[c] = np.nan
            elif c == "rmse" or c.startswith("drifter_rmse"):
                row[c] = float(np.sqrt(np.sum(w[ok] * x[ok] ** 2) / w[ok].sum()))
            else:
                row[c] = float(np.sum(w[ok] * x[ok]) / w[ok].sum())
        parts = split[name][var]
        wt = np.array([p[0] for p in parts], float)
        row["rmse_gt200km"] = float(np.sqrt(np.sum(wt * np.array([p[1] for p in parts]) ** 2)
                                            / wt.sum()))
        row["rmse_lt200km"] = float(np.sqrt(np.sum(wt * np.array([p[2] for p in parts]) ** 2)
                                            / wt.sum()))
        rows.append(row)
    table = pd.DataFrame(rows).set_index(["method", "variable"])
    along_pooled = {}
    for name, items in along.items():
        n = np.array([i["n_obs"] for i in items])
        mu = np.array([i["mu"] for i in items])
        ok = n > 0
        along_pooled[name] = {
            "mu": float(np.sum(n[ok] * mu[ok]) / n[ok].sum()) if ok.any() else float("nan"),
            "n_obs": float(n.sum())}
    return table, along_pooled


def _markdown(info: dict[str, Any], table: str) -> str:
    per = info["wall_per_day_per_member_s"]
    used = info["days_used_per_run"]
    along = info["alongtrack_ssh"]
    lines = [
        *header("OSSE benchmark: OI vs xgenda on held-out runs", info),
        f"- truth: toy-ocean runs with seeds {info['seeds']} (held out: the demo prior was "
        f"trained on seed 0, validated on seed 1001), {info['days_per_run']} analysis days "
        f"per run spaced {info['spacing_days']} days apart after a {WARMUP_DAYS}-day warm-up; "
        f"prior `{info['prior']}`; {info['members']} members",
        "- analysis days per run (members) of each row: "
        + ", ".join(f"`{k}` {list(v.values())} ({info['members_per_row'][k]})"
                    for k, v in used.items()),
        "- assimilated: nadir SSH (4 altimeters), L3 SST (60 % clouds), L4 SSS; "
        "withheld: a fifth altimeter and drifters",
        f"- `oi`: ODC optimal interpolation around the training climatology (mean dynamic "
        f"topography), scales fitted on the training run {info['oi_scales']}, observations "
        "within 2 Lt days; geostrophic currents of its SSH; L4 SSS product; CRPS and "
        "spread/skill from its posterior std (Gaussian)",
        "- `genda`: SDA, gamma 0.1, 256 DDIM steps (GenDA's configuration); `xgenda-fast`: "
        "MMPS, 16 Heun steps, analysis-day observations; `xgenda-best`: the recommended "
        "settings (`xgenda/obs/recommended.py`); ablation rows: `no-windows` (best without "
        "observation windows and error growth), `white-errors` (best with white L4 errors), "
        "`no-churn` (best with a deterministic sampler)", "",
        "## Scores against the gridded truth", "",
        table, "",
        "`rmse`, `mu`, `sigma`, `lambda_km` are those of the ensemble mean (the map for OI); "
        "`rmse_gt200km` / `rmse_lt200km`: RMSE of the error field's parts at wavelengths above "
        "/ below 200 km (Gaussian split); `drifter_rmse_*` against the withheld drifters "
        "(m s-1); `-`: not applicable or no 0.5 crossing. Pooled over runs: RMSE as the root "
        "of the day-weighted mean square, other scores as day-weighted means.", "",
        *_ablation_markdown(info), "",
        "## Along the withheld altimeter (SSH)", "",
        "| method | mu | points |", "|---|---|---|",
        *[f"| {k} | {v['mu']:.3f} | {v['n_obs']:.0f} |" for k, v in along.items()], "",
        "## Cost", "",
        "| method | wall time (s) | per analysis day per member (s) |", "|---|---|---|",
        *[f"| {k} | {info['wall_s'][k]:.1f} | {per[k]:.2f} |" for k in info["wall_s"]], "",
        "OI's cost is per analysis day (it has no members). Cached cases keep the wall time "
        "of the run that computed them.", "",
    ]
    return "\n".join(lines)


def _ablation_markdown(info: dict[str, Any]) -> list[str]:
    ablation = info.get("ablation") or {}
    if not ablation:
        return []
    used = info["days_used_per_run"]
    first = next(iter(ablation))
    lines = [
        "## Ablation", "",
        f"The recommended settings (`ablation-ref`) and each with one step removed, on the "
        f"same cases ({list(used[first].values())} analysis day(s) per run, "
        f"{info['members_per_row'][first]} members): ensemble-mean RMSE, CRPS and "
        "spread/skill.", "",
        "| row | what is removed | SSH rmse | SSH crps | SSH spread/skill | u rmse | v rmse | "
        "u spread/skill | SST rmse | SSS rmse |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    removed = {"ablation-ref": "nothing", "no-windows": "observation windows and error growth",
               "white-errors": "correlated-error inflation of L4", "no-churn": "churn"}
    for name, sc in ablation.items():
        lines.append(
            f"| {name} | {removed.get(name, '')} | {sc['ssh']['rmse']:.4f} | "
            f"{sc['ssh']['crps']:.4f} | {sc['ssh']['spread_skill']:.2f} | "
            f"{sc['u']['rmse']:.4f} | {sc['v']['rmse']:.4f} | {sc['u']['spread_skill']:.2f} | "
            f"{sc['sst']['rmse']:.3f} | {sc['sss']['rmse']:.4f} |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
