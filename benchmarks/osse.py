"""OSSE skill benchmark: OI, a learned regression and xgenda on held-out toy-ocean runs.

Held-out toy-ocean runs (seeds 2 and 3 by default; the demo priors were trained on
seeds 0 and 10-39, the UNet on seeds 0 and 1001) are observed by the OSSE simulator
(``toy_ocean_osse``):
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
- ``unet``: the learned regression baseline (GenDA's comparison,
  :mod:`xgenda.baselines.regression`): a UNet mapping the day's gridded observations
  (nadir SSH within 5 days binned to pixels and their count, L3 SST and its mask, L4
  SSS, the land mask) to the 5 standardized variables, trained on the days of a
  toy-ocean run with seed 0 (the prior's training run) with early stopping on a run
  with seed 1001, single-threaded within a bounded number of epochs; its weights are
  cached. Deterministic: no CRPS or spread/skill;
- ``xgenda-default``: ``assimilate(template, prior, obs)`` with no configuration
  argument and the observations as the simulator writes them: whatever xgenda's
  defaults (and the prior's) are when the row is run;
- ``xgenda-best``: the recommended windows, sampler and guidance
  (:data:`xgenda.obs.recommended.RECOMMENDED`: per-kind windows and error growth,
  correlated-error inflation of L4 products, MMPS with 3 CG steps, churn) spelled out,
  with no global error inflation and no ensemble inflation; rows with settings (this
  one, ``xgenda-fast`` and the ablation) never take the prior's recommended
  :class:`~xgenda.config.Inflation`;
- ``genda``: xgenda with ``preset="genda"`` (snapshot prior, SDA, gamma 0.1, 256 DDIM
  steps, white errors), GenDA's configuration; costly, so on the first ``--genda-days``
  days of each run;
- ``xgenda-fast`` (on request): MMPS, 16 Heun steps, observations of the analysis day
  only, white errors;
- ablation rows (``--ablation``): the recommended configuration (``ablation-ref``) with
  one step removed;
- ``composed-5``, ``composed-7`` (on request): xgenda's defaults with the prior's
  recommended configuration, its window of ``K`` days composed into a trajectory of 5
  or 7 days (:class:`xgenda.config.Window` ``trajectory_days``), compared day by day with
  ``xgenda-default``;
  ``--extra-prior NAME=PATH`` adds a row ``prior-NAME``: xgenda's defaults with another
  saved prior on the same grid (with the configuration that prior recommends), compared
  day by day with ``xgenda-default``. Results on the smooth ocean of the earlier priors
  (``ToyOceanParameters.smooth()``, then the default): ``osse_snapshot_vs_window.md``
  (the snapshot prior against the window prior of 3 days) and ``osse_smooth.md`` (the
  window prior's training stages 3-6 and its guidance); on today's default ocean,
  ``osse.md`` (the bundled priors, fine-tuned for it, against the base window prior of
  the smooth ocean as ``prior-smooth``) and ``osse_rough_preview.md`` (6 days, before
  the switch of the default).

The results end with the targets of the skill benchmark for ``xgenda-default`` (met or
not, computed from the scores). Every ensemble of one (method, run, day) case is cached
in ``--cache-dir`` (default ``~/.cache/xgenda-bench``) so that a long run can be split
and resumed; a case's key holds :data:`CACHE_VERSION`, the row's settings (for
``xgenda-default``: the default configuration and the prior), the members, the prior's
id and the run's attributes, so a case computed otherwise is never reused. Writes
``benchmarks/results/osse.md`` and ``osse.json`` (seeds, command, machine).

Usage::

    python benchmarks/osse.py --quick --out /tmp/osse-quick
    python benchmarks/osse.py                      # 2 runs x 15 days, 16 members
    python benchmarks/osse.py --methods unet       # the cheap rows: oi and unet
    python benchmarks/osse.py --ablation
    python benchmarks/osse.py --ocean smooth     # ToyOceanParameters.smooth() everywhere

The toy ocean is the default one (``ToyOceanParameters()``, whose SSH spectrum falls as
about ``k^-4.6``); ``--ocean smooth`` runs every part on the smooth ocean of the earlier
priors and results: the held-out runs, the training run of OI's scales and of the UNet,
and the UNet's validation run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from _common import OCEANS, header, ocean_tag, run_info, write_results

from xgenda.baselines import RegressionSettings, RegressionUNet

RESULTS = Path(__file__).parent / "results"
WARMUP_DAYS = 14  # observations before the first analysis day
TAIL_DAYS = 8  # observations after the last analysis day (nadir windows)
RUN_DAYS = 107  # length of each nature run (days)
TRAINING_SEED = 0
VALIDATION_SEED = 1001  # the demo prior's validation run: early stopping of the UNet
UNET_CACHE_VERSION = 2  # bump when a change of this script changes the trained UNet
CACHE_VERSION = 3  # bump when a change of this script changes what a cached case holds
DEFAULT_ROWS = ("unet", "xgenda-default", "xgenda-best", "genda")
UNET_TRAIN_DAYS = 730  # days of the training run (seed 0) of the regression baseline
NADIR_WINDOW_DAYS = 5.0  # nadir observations within this many days feed the UNet
# at most about 9 minutes of one CPU thread (16 epochs over 720 pairs)
UNET_SETTINGS = RegressionSettings(base_channels=16, channel_mult=(1, 2, 2), num_blocks=1,
                                   max_epochs=16, patience=4, batch_size=8,
                                   learning_rate=2e-3, seed=0)
VARIABLES = ("ssh", "sst", "sss", "u", "v")
SPLIT_KM = 200.0  # error split: wavelengths above / below


def method_settings(name: str, recommended: dict[str, Any]) -> dict[str, Any]:
    """The settings of each xgenda row: assimilate keywords (the window as a dict) and
    observation attrs (``genda_<key>`` on the observation nodes)."""
    rec = recommended
    window = dict(rec["window"])
    best = {"kwargs": {"method": "mmps", "steps": rec["steps"], "churn": rec["churn"],
                       "guidance": dict(rec["guidance"]), "window": window},
            "obs": {}}
    if name == "genda":  # GenDA's configuration: white errors
        return {"kwargs": {"preset": "genda"}, "obs": {"l4_sss": {"error_correlation_km": 0.0}}}
    if name == "xgenda-default" or name.startswith("prior-"):
        return {"kwargs": {}, "obs": {}}  # no configuration: the defaults
    if name in COMPOSED:  # the defaults, with a trajectory composed of the prior's windows
        return {"kwargs": {}, "obs": {}, "trajectory_days": COMPOSED[name]}
    if name == "xgenda-fast":  # analysis-day observations, white errors
        return {"kwargs": {"method": "mmps", "steps": 16, "window": {"type": "Window"}},
                "obs": {"l4_sss": {"error_correlation_km": 0.0}}}
    if name == "ablation-ref":  # the recommended configuration, spelled out
        return best
    if name == "xgenda-best":  # the recommended settings before calibration: no inflation
        return {**best, "kwargs": {**best["kwargs"],
                                   "window": {**window, "error_inflation": 1.0}}}
    if name == "no-windows":  # the analysis day's observations only
        return {**best, "kwargs": {**best["kwargs"], "window": {
            **window, "points": None, "grid": None, "smoothed": None}}}
    if name == "white-errors":  # L4 errors treated as independent (0 overrides the
        # correlation length the L4 product records, used by default)
        return {**best, "obs": {"l4_sss": {"error_correlation_km": 0.0}}}
    if name == "no-churn":  # a deterministic sampler
        return {**best, "kwargs": {**best["kwargs"], "churn": 0.0}}
    raise ValueError(f"unknown method {name!r}")


ABLATION = ("ablation-ref", "no-windows", "white-errors", "no-churn")
#: rows composing the window prior's windows into a longer trajectory (its days)
COMPOSED = {"composed-5": 5, "composed-7": 7}
ROWS = (*DEFAULT_ROWS, "xgenda-fast", *ABLATION, *COMPOSED)


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
                        help="analysis days per run of a row, e.g. xgenda-best=3")
    parser.add_argument("--methods", nargs="+", default=None,
                        help="rows besides oi (default: " + " ".join(DEFAULT_ROWS) + ")")
    parser.add_argument("--extra-prior", nargs="+", default=[], metavar="NAME=PATH",
                        help="a row prior-NAME: xgenda's defaults with the saved prior PATH "
                             "(e.g. a space-time prior, against the snapshot demo prior)")
    parser.add_argument("--cached-only", action="store_true",
                        help="score the cached cases only (the leading days of each row)")
    parser.add_argument("--ocean", choices=sorted(OCEANS), default="default",
                        help="the toy ocean of every run (OI's scales, the UNet's training, "
                             "the truth): `smooth` is ToyOceanParameters.smooth(), the "
                             "ocean of the earlier priors")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "xgenda-bench"))
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--out", default=str(RESULTS / "osse"), help="results path stem")
    args = parser.parse_args(argv)
    n_days = args.days_per_run or (1 if args.quick else 15)
    members = args.members or (4 if args.quick else 16)
    seeds = list(args.seeds[:1] if args.quick else args.seeds)
    if any(s in (TRAINING_SEED, VALIDATION_SEED) for s in seeds):
        raise SystemExit(f"seeds {TRAINING_SEED} and {VALIDATION_SEED} trained and validated "
                         "the demo prior and the UNet: use held-out seeds (e.g. 2 3)")
    methods = [m for m in (args.methods or DEFAULT_ROWS) if m != "oi"]
    if args.ablation:
        methods += [m for m in ABLATION if m not in methods]
    extra = dict(item.split("=", 1) for item in args.extra_prior)
    methods += [f"prior-{k}" for k in extra if f"prior-{k}" not in methods]
    unknown = [m for m in methods if m not in ROWS and not m.startswith("prior-")]
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; rows are oi (always), {', '.join(ROWS)} "
                         "and prior-NAME (--extra-prior)")

    import torch

    import xgenda

    # the device name in the results needs it; scoring cached cases does not import it
    import xgenda._runtime
    from xgenda.obs.recommended import RECOMMENDED

    if args.threads:
        torch.set_num_threads(args.threads)
    cache = Path(args.cache_dir)
    prior = xgenda.load_demo_prior()
    row_prior = dict.fromkeys(methods, prior)
    if "genda" in row_prior:  # GenDA's kind of prior: one day
        row_prior["genda"] = xgenda.load_demo_prior(snapshot=True)
    for key, path in extra.items():
        row_prior[f"prior-{key}"] = xgenda.Prior.load(path)
    # one run length for every invocation: the cached cases stay valid
    run_days = max(RUN_DAYS, WARMUP_DAYS + args.spacing * (n_days - 1) + TAIL_DAYS + 1)
    row_days = {k: int(v) for k, v in (item.split("=") for item in args.row_days)}
    ocean = OCEANS[args.ocean]
    scales = oi_scales(cache, prior.patch_size, ocean)
    print("OI scales fitted on the training run:", scales, flush=True)
    unet, unet_info = None, None
    if "unet" in methods:
        unet, unet_info = unet_model(cache, prior, ocean)
        print("UNet:", unet_info, flush=True)
    xgenda_rows = [m for m in methods if m != "unet"]

    recs: dict[str, dict[int, xr.Dataset]] = {}
    truths, drifters, withheld, observations, run_keys = {}, {}, {}, {}, {}
    wall: dict[str, float] = {}
    days_used: dict[str, dict[int, int]] = {}
    row_members: dict[str, int] = {"oi": 1, "unet": 1}
    plan: dict[str, tuple[int, dict[str, Any]]] = {}
    for name in xgenda_rows:
        limit = {"genda": args.genda_days}.get(name, n_days)
        size = members
        if name in ABLATION:
            limit = args.ablation_days or limit
            size = args.ablation_members or members
        row_members[name] = size
        settings = method_settings(name, RECOMMENDED)
        if not settings["kwargs"]:
            # the defaults are whatever xgenda and the prior say today: they key the cache
            settings = {**settings, "defaults": default_configuration(row_prior[name])}
        plan[name] = (min(row_days.get(name, limit), n_days), settings)
    for seed in seeds:
        truth_all, obs_all = load_run(seed, run_days, prior.patch_size, cache, ocean)
        run_keys[seed] = run_key(truth_all, obs_all)
        index = [WARMUP_DAYS + args.spacing * k for k in range(n_days)]
        truths[seed] = truth_all[list(prior.variables)].isel(time=index).load()
        observations[seed] = obs_all
        drifters[seed] = obs_all["withheld/drifters"].to_dataset()
        withheld[seed] = obs_all["withheld/nadir"].to_dataset()
        tic = time.perf_counter()
        recs.setdefault("oi", {})[seed] = run_oi(obs_all, truths[seed], prior, scales)
        wall["oi"] = wall.get("oi", 0.0) + time.perf_counter() - tic
        days_used.setdefault("oi", {})[seed] = n_days
        if unet is not None:
            tic = time.perf_counter()
            recs.setdefault("unet", {})[seed] = run_unet(unet, obs_all, truths[seed], prior)
            wall["unet"] = wall.get("unet", 0.0) + time.perf_counter() - tic
            days_used.setdefault("unet", {})[seed] = n_days

    def path_of(name: str, seed: int, k: int) -> Path:
        return case_path(cache, name, plan[name][1], row_members[name], row_prior[name].id,
                         run_keys[seed], seed, truths[seed].time.values[k])

    # day-major order over runs and rows, so that a run cut short stays balanced
    if not args.cached_only:
        for k in range(n_days):
            for name in xgenda_rows:
                for seed in seeds:
                    path = path_of(name, seed, k)
                    if k >= plan[name][0] or path.exists():
                        continue
                    tic = time.perf_counter()
                    ens = run_xgenda(row_prior[name], observations[seed],
                                     truths[seed].isel(time=[k])[["ssh"]],
                                     plan[name][1], row_members[name], args.device)
                    dt = time.perf_counter() - tic
                    ens.attrs["wall_s"] = dt
                    path.parent.mkdir(parents=True, exist_ok=True)
                    ens.to_netcdf(path.with_suffix(".tmp"))
                    path.with_suffix(".tmp").rename(path)
                    print(f"{name} seed {seed} day {k}: {dt:.1f} s", flush=True)
    # the cached cases of each row (with --cached-only: the leading days that are cached)
    for name in xgenda_rows:
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
        "prior": prior.id, "ocean": args.ocean, "seeds": seeds, "days_per_run": n_days,
        "spacing_days": args.spacing,
        "members": members, "days_used_per_run": days_used, "members_per_row": row_members,
        "oi_scales": scales, "unet": unet_info,
        "extra_priors": {f"prior-{k}": {"path": v, "id": row_prior[f"prior-{k}"].id}
                         for k, v in extra.items()},
        "recommended": RECOMMENDED,
        "settings": {m: plan[m][1] for m in xgenda_rows},
        "wall_s": wall, "wall_per_day_per_member_s": per,
        "alongtrack_ssh": along,
        "cache_version": CACHE_VERSION,
    }
    info["ablation"] = {
        name: {v: {c: float(table.loc[(name, v), c]) for c in ("rmse", "crps", "spread_skill")}
               for v in VARIABLES}
        for name in ABLATION if name in recs}
    info["targets"] = targets(table, "xgenda-default")
    info["targets_extra"] = {name: targets(table, name) for name in recs
                             if name.startswith("prior-")}
    info["paired"] = {name: paired_days(recs, truths, days_used, "xgenda-default", name)
                      for name in recs if (name.startswith("prior-") or name in COMPOSED)
                      and "xgenda-default" in recs}
    write_results(args.out, info, table, _markdown)
    return 0


# -- data ------------------------------------------------------------------------------------
def load_run(seed: int, days: int, size: int, cache: Path, ocean: dict[str, float]
             ) -> tuple[xr.Dataset, xr.DataTree]:
    """Nature run and OSSE observations of one toy-ocean seed (cached as zarr); ``ocean``:
    parameters of the toy ocean other than its defaults (:data:`OCEANS`)."""
    from xgenda.catalog import open_catalog

    cat = open_catalog()
    run = {"days": days, "size": size, "seed": seed, "cache_dir": str(cache / "runs"),
           "toy_ocean_kwargs": dict(ocean)}
    return cat["toy_ocean_test"].read(**run), cat["toy_ocean_osse"].read(**run)


def oi_scales(cache: Path, size: int, ocean: dict[str, float], days: int = 120
              ) -> dict[str, dict[str, float]]:
    """OI covariance scales of SSH and SST fitted on the training run (seed 0).

    The lag at which the autocorrelation of the anomaly (per-pixel time mean removed)
    falls to 1/e along x, y and time: the e-folding scales of OI's covariance
    ``exp(-(dx/Lx)^2 - (dy/Ly)^2 - (dt/Lt)^2)``.
    """
    from xgenda.grid import mean_spacing_km

    path = cache / f"oi_scales_{size}_{days}_{ocean_tag(ocean)}.json"
    if path.exists():
        return json.loads(path.read_text())
    truth, _ = load_run(TRAINING_SEED, days, size, cache, ocean)
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


def run_key(truth: xr.Dataset, obs: xr.DataTree) -> str:
    """Digest of what made a run: the nature run's and the simulator's attributes."""
    text = json.dumps([truth.attrs, obs.attrs], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def case_path(cache: Path, name: str, settings: dict[str, Any], members: int, prior_id: str,
              run: str, seed: int, day: Any) -> Path:
    """Cache file of one (method, settings, members, prior, run, day) ensemble.

    The key holds :data:`CACHE_VERSION`: a case written by a version of this script
    whose cases mean something else is not found (so not reused) under the new key.
    """
    key = json.dumps({"version": CACHE_VERSION, "settings": settings, "members": members,
                      "prior": prior_id, "run": run}, sort_keys=True, default=str)
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    stamp = str(np.datetime_as_string(np.datetime64(day, "D")))
    return cache / "cases" / f"{name}-{digest}" / f"seed{seed}_{stamp}.nc"


def default_configuration(prior: Any) -> dict[str, str]:
    """What decides the ``xgenda-default`` row: xgenda's version and default configuration,
    and the prior (whose id covers its configuration) with the text files it ships."""
    import xgenda
    from xgenda.config import presets

    files = {}
    if prior.path is not None and Path(prior.path).is_dir():
        for f in sorted(Path(prior.path).iterdir()):
            if f.is_file() and f.suffix in (".json", ".yaml", ".yml", ".toml"):
                files[f.name] = hashlib.sha1(f.read_bytes()).hexdigest()[:12]
    return {"xgenda": xgenda.__version__, "defaults": repr(presets.default()),
            "prior": prior.id, "prior_files": json.dumps(files, sort_keys=True)}


def unet_model(cache: Path, prior: Any, ocean: dict[str, float]
               ) -> tuple[RegressionUNet, dict[str, Any]]:
    """The regression baseline, trained on seed 0 with early stopping on seed 1001 (cached).

    Training pairs are the days of a :data:`UNET_TRAIN_DAYS`-day run (seed 0: the prior's
    training run) whose nadir window lies inside the run; validation pairs those of a
    :data:`RUN_DAYS`-day run with seed 1001. Targets are standardized by the prior's
    normalizer. Trained on one torch thread, deterministic (seeded). The weights and the
    training record are cached under a key of every setting.
    """
    from xgenda.baselines.regression import INPUT_CHANNELS

    runs = {TRAINING_SEED: UNET_TRAIN_DAYS, VALIDATION_SEED: RUN_DAYS}
    loaded = {seed: load_run(seed, days, prior.patch_size, cache, ocean)
              for seed, days in runs.items()}
    key = json.dumps({"version": UNET_CACHE_VERSION, "settings": UNET_SETTINGS.to_dict(),
                      "runs": {str(s): [d, run_key(*loaded[s])] for s, d in runs.items()},
                      "nadir_window_days": NADIR_WINDOW_DAYS, "prior": prior.id},
                     sort_keys=True)
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    path = cache / "unet" / f"unet-{digest}.pt"
    record = path.with_suffix(".json")
    if path.exists() and record.exists():
        return RegressionUNet.load(path), json.loads(record.read_text())
    pairs = {}
    margin = math.ceil(NADIR_WINDOW_DAYS)
    for seed, (truth, obs) in loaded.items():
        t = truth[list(prior.variables)].isel(time=slice(margin, runs[seed] - margin)).load()
        x = unet_inputs(obs, t, prior).values
        y = prior.normalizer.apply(t).to_array("variable").transpose(
            "time", "variable", "lat", "lon").values
        pairs[seed] = (x, y)
    model = RegressionUNet(len(INPUT_CHANNELS), len(prior.variables), prior.patch_size,
                           list(prior.variables), UNET_SETTINGS)
    threads = torch_threads(1)
    tic, cpu = time.perf_counter(), time.process_time()
    try:
        model.fit(*pairs[TRAINING_SEED], *pairs[VALIDATION_SEED])
    finally:
        torch_threads(threads)
    info = {"train_s": time.perf_counter() - tic, "train_cpu_s": time.process_time() - cpu,
            "threads": 1,
            "train_pairs": int(pairs[TRAINING_SEED][0].shape[0]),
            "valid_pairs": int(pairs[VALIDATION_SEED][0].shape[0]),
            "epochs": len(model.history["valid"]),
            "best_epoch": int(model.history["best_epoch"][0]),
            "valid_loss": min(model.history["valid"]), "settings": UNET_SETTINGS.to_dict(),
            "train_days": UNET_TRAIN_DAYS, "nadir_window_days": NADIR_WINDOW_DAYS,
            "cache_key": digest}
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path.with_suffix(".tmp"))
    path.with_suffix(".tmp").rename(path)
    record.write_text(json.dumps(info, indent=2))
    return model, info


def torch_threads(n: int) -> int:
    """Set torch's intra-op threads to ``n``; return the previous number."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    return before


def unet_inputs(obs_all: xr.DataTree, template: xr.Dataset, prior: Any) -> xr.DataArray:
    """The regression baseline's inputs: the assimilated observations gridded per day."""
    from xgenda.baselines import regression_inputs

    return regression_inputs(
        template, prior.normalizer, nadir=obs_all["nadir"].to_dataset(),
        l3_sst=obs_all["l3_sst"].to_dataset(), l4_sss=obs_all["l4_sss"].to_dataset(),
        land_mask=prior.land_mask, nadir_window_days=NADIR_WINDOW_DAYS)


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


def run_unet(model: RegressionUNet, obs_all: xr.DataTree, truth: xr.Dataset,
             prior: Any) -> xr.Dataset:
    """The regression baseline's map of each analysis day (deterministic)."""
    from xgenda.baselines import regression_analysis

    return regression_analysis(model, unet_inputs(obs_all, truth, prior), prior.normalizer)


def run_xgenda(prior: Any, obs_all: xr.DataTree, template: xr.Dataset,
               settings: dict[str, Any], members: int, device: str) -> xr.Dataset:
    """The one call of :func:`xgenda.assimilate` of this benchmark (one analysis day).

    ``settings["obs"]`` maps observation node names to attrs set on them
    (``genda_time_window``, ``genda_time_error_growth``, ``genda_error_correlation_km``,
    ``genda_error_inflation``); ``settings["kwargs"]`` are keywords of assimilate (none:
    xgenda's defaults).
    """
    nodes = {}
    for key in ("nadir", "l3_sst", "l4_sss"):
        ds = obs_all[key].to_dataset()
        extra = {f"genda_{a}": v for a, v in settings["obs"].get(key, {}).items()}
        nodes[key] = ds.assign_attrs({**ds.attrs, **extra})
    tree = xr.DataTree.from_dict(nodes)
    config = configuration(settings["kwargs"])
    if "trajectory_days" in settings:  # the prior's window, composed into a trajectory; the
        # rest of its recommended configuration fills what the call leaves open
        from xgenda.config import Window

        window = prior.recommended.window if prior.recommended else Window()
        config = {"window": replace(window, trajectory_days=settings["trajectory_days"])}
    return template.chunk({"time": 1}).genda.assimilate(
        prior, tree, members=members, seed=0, device=device, **config).compute()


def configuration(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The configuration objects of a row's settings (kept as plain values: they key
    the case cache). Every row with settings spells out its window and its inflation
    (none unless the settings give one), so that the prior's recommended configuration
    reaches the defaults row alone."""
    from xgenda.config import MMPS, Heun, Inflation, from_dict, presets

    if not kwargs:
        return {}
    if kwargs.get("preset") == "genda":
        return presets.genda()
    inflation = from_dict(kwargs["inflation"]) if "inflation" in kwargs else Inflation()
    return {"sampler": Heun(steps=kwargs["steps"], churn=kwargs.get("churn", 0.0)),
            "guidance": MMPS(**kwargs.get("guidance", {})),
            "window": from_dict(kwargs["window"]), "inflation": inflation}


# -- scores ----------------------------------------------------------------------------------
def gaussian_crps(mean: np.ndarray, std: np.ndarray, truth: np.ndarray) -> float:
    """Mean CRPS of Gaussian forecasts N(mean, std^2) (Gneiting et al. 2005)."""
    from scipy.stats import norm

    z = (truth - mean) / std
    c = std * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / math.sqrt(math.pi))
    return float(np.nanmean(c))


def split_rmse(err: np.ndarray, dx_km: float, dy_km: float) -> tuple[float, float]:
    """RMSE of the error at wavelengths above and below :data:`SPLIT_KM` (Gaussian split, transfer 1/2 at the split)."""
    from scipy.ndimage import gaussian_filter

    # Gaussian low-pass with transfer 1/2 at SPLIT_KM (both parts pass half of a wave there)
    sigma_km = math.sqrt(2 * math.log(2)) * SPLIT_KM / (2 * math.pi)
    e = np.nan_to_num(err)
    large = gaussian_filter(e, (0, sigma_km / dy_km, sigma_km / dx_km), mode="reflect")
    small = e - large
    return float(np.sqrt((large**2).mean())), float(np.sqrt((small**2).mean()))


def split_spread(anomalies: np.ndarray, dx_km: float, dy_km: float) -> tuple[float, float]:
    """Ensemble variance above and below :data:`SPLIT_KM` of the members' anomalies
    (member, ...), with the (M+1)/M factor of the spread/skill ratio."""
    m = anomalies.shape[0]
    parts = np.array([split_rmse(a, dx_km, dy_km) for a in anomalies]) ** 2  # (M, 2)
    lo, hi = parts.sum(axis=0) / (m - 1) * (m + 1) / m
    return float(lo), float(hi)


def score_all(recs: dict[str, dict[int, xr.Dataset]], truths: dict[int, xr.Dataset],
              drifters: dict[int, xr.Dataset], withheld: dict[int, xr.Dataset],
              days_used: dict[str, dict[int, int]]) -> tuple[Any, dict]:
    """Scores per run pooled over runs (RMSE by mean square, others by day-weighted mean)."""
    import pandas as pd

    from xgenda.diagnostics.summary import score_summary
    from xgenda.grid import mean_spacing_km

    frames, along, split, spread_split = [], {}, {}, {}
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
                if "member" in rec.dims and rec.sizes["member"] > 1:
                    spread_split.setdefault(name, {}).setdefault(v, []).append(
                        (n, *split_spread((rec[v] - mean[v]).values, dx_km, dy_km)))
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
        if var in spread_split.get(name, {}):
            sp = spread_split[name][var]
            ws = np.array([p[0] for p in sp], float)
            for k, band in ((1, "gt200km"), (2, "lt200km")):
                var_band = np.sum(ws * np.array([p[k] for p in sp])) / ws.sum()
                row[f"spread_skill_{band}"] = float(np.sqrt(var_band) / row[f"rmse_{band}"])
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


def targets(table: Any, row: str) -> list[dict[str, Any]]:
    """The must-show numbers of the skill benchmark for ``row``, met or not.

    Each target compares one score of ``row`` with a reference (OI's, the UNet's, the L4
    product's: OI's SSS row, or a range); ``met`` is None where a side was not measured.
    """

    def score(method: str, var: str, col: str) -> float:
        if (method, var) not in table.index or col not in table.columns:
            return float("nan")
        return float(table.loc[(method, var), col])

    items: list[tuple[str, str, str, float, Any, str]] = [
        ("SSH RMSE <= 0.85 x OI's", "ssh", "rmse", 0.85 * score("oi", "ssh", "rmse"), None,
         "<="),
        ("SSH effective resolution <= OI's (km)", "ssh", "lambda_km",
         score("oi", "ssh", "lambda_km"), None, "<="),
    ]
    for v in ("u", "v"):
        items.append((f"{v} RMSE <= 0.75 x OI's", v, "rmse", 0.75 * score("oi", v, "rmse"),
                      None, "<="))
        items.append((f"{v} RMSE < the UNet's", v, "rmse", score("unet", v, "rmse"), None, "<"))
    items += [
        ("SST RMSE < OI's", "sst", "rmse", score("oi", "sst", "rmse"), None, "<"),
        ("SSS RMSE < the L4 product's", "sss", "rmse", score("oi", "sss", "rmse"), None, "<"),
    ]
    for v in ("ssh", "u", "v"):
        items.append((f"{v.upper() if v == 'ssh' else v} spread/skill in [0.85, 1.15]", v,
                      "spread_skill", float("nan"), (0.85, 1.15), "in"))
    for v in ("ssh", "sst"):
        items.append((f"{v.upper()} CRPS < OI's", v, "crps", score("oi", v, "crps"), None, "<"))
    out = []
    for label, var, col, ref, span, op in items:
        value = score(row, var, col)
        if op == "in":
            met = bool(span[0] <= value <= span[1]) if math.isfinite(value) else None
            reference: Any = list(span)
        else:
            ok = math.isfinite(value) and math.isfinite(ref)
            met = (bool(value <= ref) if op == "<=" else bool(value < ref)) if ok else None
            reference = ref
        out.append({"target": label, "variable": var, "score": col, "value": value,
                    "reference": reference, "met": met})
    return out


def _targets_markdown(info: dict[str, Any]) -> list[str]:
    used = info["days_used_per_run"]
    rows = {"xgenda-default": info["targets"], **info.get("targets_extra", {})}
    rows = {k: v for k, v in rows.items() if k in used and sum(used[k].values())}
    lines = ["## Targets of the skill benchmark", ""]
    if not rows:
        return [*lines, "The `xgenda-default` row was not run: no targets to check.", ""]
    names = list(rows)
    lines += [", ".join(f"`{k}`" for k in names) + " (xgenda's defaults"
              + (", with the prior of each row" if len(names) > 1 else "")
              + ") against the references, computed from the scores below.", "",
              "| target | " + " | ".join(names) + " | reference |",
              "|---|" + "---|" * (len(names) + 1)]
    word = {True: "met", False: "not met", None: "not measured"}
    for k, t in enumerate(rows[names[0]]):
        ref = t["reference"]
        ref_text = f"{ref[0]}-{ref[1]}" if isinstance(ref, list) else f"{ref:.4g}"
        cells = [f"{rows[n][k]['value']:.4g} ({word[rows[n][k]['met']]})" for n in names]
        lines.append(f"| {t['target']} | " + " | ".join(cells) + f" | {ref_text} |")
    lines += ["", "Targets met: " + ", ".join(
        f"`{n}` {sum(t['met'] is True for t in rows[n])} of {len(rows[n])}" for n in names)
        + ".", ""]
    return lines


def _markdown(info: dict[str, Any], table: str) -> str:
    per = info["wall_per_day_per_member_s"]
    used = info["days_used_per_run"]
    along = info["alongtrack_ssh"]
    lines = [
        *header("OSSE benchmark: OI, a regression UNet and xgenda on held-out runs", info),
        f"- truth: toy-ocean runs with seeds {info['seeds']}"
        + (" of the smooth ocean (`ToyOceanParameters.smooth()`)"
           if info.get("ocean") == "smooth" else "")
        + " (held out: the demo priors were "
        f"trained on seeds 0 and 10-39), {info['days_per_run']} analysis days "
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
        *_unet_markdown(info),
        "- `xgenda-default`: `assimilate(template, prior, obs)` with no configuration "
        "argument (xgenda's defaults and the prior's when run); `genda`: SDA, gamma 0.1, "
        "256 DDIM steps, white errors (GenDA's configuration); `xgenda-fast`: MMPS, 16 Heun "
        "steps, analysis-day observations, white errors; `xgenda-best`: the recommended "
        "windows, sampler and guidance of `xgenda.obs.recommended` spelled out, with no "
        "global error inflation and no ensemble inflation; "
        "ablation rows: `ablation-ref` (the recommended configuration spelled out), "
        "`no-windows` (without observation windows and error growth), `white-errors` (with "
        "white L4 errors), `no-churn` (with a deterministic sampler)",
        *[f"- `{k}`: xgenda's defaults with the prior `{v['id']}` ({v['path']})"
          for k, v in info.get("extra_priors", {}).items()], "",
        *_targets_markdown(info),
        "## Scores against the gridded truth", "",
        table, "",
        "`rmse`, `mu`, `sigma`, `lambda_km` are those of the ensemble mean (the map for OI); "
        "`spread_skill_gt200km` / `spread_skill_lt200km`: the spread/skill ratio of those parts "
        "(the members' anomalies about the ensemble mean split the same way); "
        "`rmse_gt200km` / `rmse_lt200km`: RMSE of the error field's parts at wavelengths above "
        "/ below 200 km (Gaussian split, transfer 1/2 at the split); `drifter_rmse_*` against the withheld drifters "
        "(m s-1); `-`: not applicable or no 0.5 crossing. Pooled over runs: RMSE as the root "
        "of the day-weighted mean square, other scores as day-weighted means.", "",
        *_ablation_markdown(info), "",
        *_paired_markdown(info),
        "## Along the withheld altimeter (SSH)", "",
        "| method | mu | points |", "|---|---|---|",
        *[f"| {k} | {v['mu']:.3f} | {v['n_obs']:.0f} |" for k, v in along.items()], "",
        "## Cost", "",
        "| method | wall time (s) | per analysis day per member (s) |", "|---|---|---|",
        *[f"| {k} | {info['wall_s'][k]:.1f} | {per[k]:.2f} |" for k in info["wall_s"]], "",
        "OI's and the UNet's costs are per analysis day (they have no members; the UNet's "
        "training is not included). Cached cases keep the wall time of the run that "
        "computed them.", "",
    ]
    return "\n".join(lines)


def _unet_markdown(info: dict[str, Any]) -> list[str]:
    u = info.get("unet")
    if not u:
        return []
    s = u["settings"]
    return [
        f"- `unet`: regression baseline (GenDA's comparison): a UNet ({s['base_channels']} "
        f"base channels, levels {s['channel_mult']}) mapping the day's gridded observations "
        f"(nadir SSH within {u['nadir_window_days']:g} days binned to pixels and their count, "
        "L3 SST and its mask, L4 SSS, land mask) to the 5 standardized variables; trained on "
        f"{u['train_pairs']} days of a {u['train_days']}-day run with seed 0, early stopping "
        f"on {u['valid_pairs']} days of seed 1001 (best epoch {u['best_epoch'] + 1} of "
        f"{u['epochs']}, validation MSE {u['valid_loss']:.3f} in standardized units), "
        f"{u['train_cpu_s']:.0f} s of CPU on {u['threads']} thread ({u['train_s']:.0f} s wall "
        "on the shared machine); deterministic: no CRPS or "
        "spread/skill"]


def paired_days(recs: dict[str, dict[int, xr.Dataset]], truths: dict[int, xr.Dataset],
                days_used: dict[str, dict[int, int]], base: str, other: str) -> dict[str, Any]:
    """Day-by-day comparison of two rows on the days both have: per variable, the mean
    and standard error over days of ``other``'s relative change of the ensemble-mean RMSE
    and of the CRPS against ``base`` (negative: ``other`` is better), and how many days
    ``other`` wins."""
    from xgenda.diagnostics.scores import crps, rmse

    changes: dict[str, dict[str, list[float]]] = {}
    for seed, truth in truths.items():
        if seed not in recs[base] or seed not in recs[other]:
            continue
        n = min(days_used[base][seed], days_used[other][seed])
        for k in range(n):
            t = truth.isel(time=k)
            a, b = (recs[row][seed].isel(time=k) for row in (base, other))
            for v in VARIABLES:
                score = changes.setdefault(v, {"rmse": [], "crps": []})
                ra, rb = (float(rmse(e[v], t[v])) for e in (a, b))
                score["rmse"].append(rb / ra - 1)
                ca, cb = (float(crps(e[v], t[v])) for e in (a, b))
                score["crps"].append(cb / ca - 1)
    out: dict[str, Any] = {}
    for v, score in changes.items():
        out[v] = {}
        for key, values in score.items():
            x = np.asarray(values)
            out[v][key] = {"mean": float(x.mean()), "se": float(x.std(ddof=1) / np.sqrt(x.size)),
                           "wins": int((x < 0).sum()), "days": int(x.size)}
    return out


def _paired_markdown(info: dict[str, Any]) -> list[str]:
    paired = info.get("paired") or {}
    lines: list[str] = []
    for name, per_var in paired.items():
        if not per_var:
            continue
        days = next(iter(per_var.values()))["rmse"]["days"]
        lines += [
            f"## `{name}` against `xgenda-default`, day by day", "",
            f"Relative change of `{name}`'s ensemble-mean RMSE and CRPS against "
            f"`xgenda-default`'s on the same {days} analysis days (same observations and "
            "seeds): mean +- standard error over days (negative: better), and the days it "
            "wins.", "",
            "| variable | RMSE change | days better (RMSE) | CRPS change | days better (CRPS) |",
            "|---|---|---|---|---|",
            *[f"| {v} | {100 * d['rmse']['mean']:+.1f} % +- {100 * d['rmse']['se']:.1f} | "
              f"{d['rmse']['wins']} / {d['rmse']['days']} | {100 * d['crps']['mean']:+.1f} % +- "
              f"{100 * d['crps']['se']:.1f} | {d['crps']['wins']} / {d['crps']['days']} |"
              for v, d in per_var.items()], ""]
    return lines


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
