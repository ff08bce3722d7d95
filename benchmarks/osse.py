"""OSSE skill benchmark: optimal interpolation vs xgenda (GenDA preset and fast preset).

A held-out toy-ocean run (the catalog's ``toy_ocean_test``, seed 2, never used for
training the demo prior) is observed by the OSSE simulator (``toy_ocean_osse``):
nadir SSH of 4 altimeters, cloudy L3 SST and L4 SSS are assimilated; a fifth
altimeter and drifters are withheld for evaluation. Three reconstructions of the same
analysis days are scored against the truth and the withheld data:

- ``oi``: optimal interpolation of nadir SSH and L3 SST (Gaussian covariance 1 deg,
  1 deg, 7 days, noise 5 %, the ODC baseline), currents geostrophic from its SSH,
  and the L4 SSS product as the baseline for SSS;
- ``genda``: xgenda with ``preset="genda"`` (SDA, gamma 0.1, 256 DDIM steps on the
  VP cosine schedule), GenDA's configuration;
- ``fast``: xgenda with MMPS guidance and few Heun steps.

Writes ``benchmarks/results/osse.md`` and ``osse.json`` (machine, device, command).
``--quick`` runs on a CPU in minutes; the full mode is meant for a GPU.

Usage::

    python benchmarks/osse.py --quick
    python benchmarks/osse.py --days 30 --members 24 --device cuda
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import xarray as xr
from _common import header, run_info, write_results

RESULTS = Path(__file__).parent / "results"
WARMUP_DAYS = 14  # observations before the first analysis day (OI time window)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small CPU run (minutes)")
    parser.add_argument("--days", type=int, default=None, help="analysis days")
    parser.add_argument("--members", type=int, default=None, help="ensemble members")
    parser.add_argument("--fast-steps", type=int, default=16, help="Heun steps of the fast preset")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--prior", default=None, help="prior directory (default: demo prior)")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--out", default=str(RESULTS / "osse"), help="results path stem")
    args = parser.parse_args(argv)
    days = args.days or (2 if args.quick else 30)
    members = args.members or (4 if args.quick else 24)

    import torch

    import xgenda
    from xgenda.catalog import open_catalog
    from xgenda.diagnostics.summary import score_summary

    if args.threads:
        torch.set_num_threads(args.threads)
    prior = xgenda.load_demo_prior() if args.prior is None else xgenda.Prior.load(args.prior)
    run = {"days": WARMUP_DAYS + days, "size": prior.patch_size, "seed": 2,
           "cache_dir": args.cache_dir}
    cat = open_catalog()
    truth_all = cat["toy_ocean_test"].read(**run)
    obs_all = cat["toy_ocean_osse"].read(**run)
    truth = truth_all[list(prior.variables)].isel(
        time=slice(WARMUP_DAYS, WARMUP_DAYS + days)).load()
    template = truth[["ssh"]].chunk({"time": 1})
    assimilated = xr.DataTree.from_dict(
        {k: obs_all[k].to_dataset() for k in ("nadir", "l3_sst", "l4_sss")})
    drifters = obs_all["withheld/drifters"].to_dataset()
    withheld = obs_all["withheld/nadir"].to_dataset()

    recs: dict[str, xr.Dataset] = {}
    wall: dict[str, float] = {}
    tic = time.perf_counter()
    oi = xr.merge([
        xgenda.baselines.optimal_interpolation(obs_all["nadir"].to_dataset(), template, "ssh"),
        xgenda.baselines.optimal_interpolation(obs_all["l3_sst"].to_dataset(), template, "sst",
                                               max_obs=1000),
    ]).compute()
    geo = oi.genda.geostrophic_currents()
    l4_sss = obs_all["l4_sss"].to_dataset()["sss"].sel(time=truth.time)
    recs["oi"] = xr.Dataset({"ssh": oi.ssh, "sst": oi.sst, "sss": l4_sss,
                             "u": geo.u_geo, "v": geo.v_geo})
    wall["oi"] = time.perf_counter() - tic

    runs = {"genda": {"preset": "genda"},
            "fast": {"method": "mmps", "steps": args.fast_steps}}
    for name, kwargs in runs.items():
        tic = time.perf_counter()
        ens = template.genda.assimilate(prior, assimilated, members=members, seed=0,
                                        device=args.device, **kwargs).compute()
        wall[name] = time.perf_counter() - tic
        recs[name] = ens
        print(f"{name}: {wall[name]:.1f} s ({wall[name] / (days * members):.2f} s per day "
              "per member)", flush=True)

    table = score_summary(recs, truth, list(prior.variables), drifters=drifters)
    along = {}
    for name, rec in recs.items():
        mean = rec.mean("member") if "member" in rec.dims else rec
        s = mean.genda.diag.alongtrack_rmse_scores(withheld, "ssh", time_tolerance="12h")
        along[name] = {k: float(s[k]) for k in ("mu", "sigma", "n_obs")}

    info = {
        **run_info(argv, args.device),
        "prior": prior.id, "days": days, "members": members, "fast_steps": args.fast_steps,
        "wall_s": wall,
        "wall_per_day_per_member_s": {k: v / (days * (members if k != "oi" else 1))
                                      for k, v in wall.items()},
        "alongtrack_ssh": along,
    }
    write_results(args.out, info, table, _markdown)
    return 0


def _markdown(info: dict[str, Any], table: str) -> str:
    per = info["wall_per_day_per_member_s"]
    along = info["alongtrack_ssh"]
    lines = [
        *header("OSSE benchmark: OI vs xgenda", info),
        f"- truth: toy-ocean test run (seed 2, held out from training), "
        f"{info['days']} analysis day(s); prior `{info['prior']}`; {info['members']} members",
        "- assimilated: nadir SSH (4 altimeters), L3 SST (60 % clouds), L4 SSS; "
        "withheld: a fifth altimeter and drifters",
        "- `oi`: ODC optimal interpolation of nadir SSH and L3 SST, geostrophic currents of "
        "its SSH, L4 SSS product; `genda`: SDA, gamma 0.1, 256 DDIM steps (GenDA's "
        f"configuration); `fast`: MMPS, {info['fast_steps']} Heun steps", "",
        "## Scores against the gridded truth", "",
        table, "",
        "`rmse`, `mu`, `sigma`, `lambda_km` are those of the ensemble mean; `drifter_rmse_*` "
        "against the withheld drifters (m s-1); `-`: not applicable or no 0.5 crossing.", "",
        "## Along the withheld altimeter (SSH)", "",
        "| method | mu | sigma | points |", "|---|---|---|---|",
        *[f"| {k} | {v['mu']:.3f} | {v['sigma']:.3f} | {v['n_obs']:.0f} |"
          for k, v in along.items()], "",
        "(`nan` with 0 points: the withheld altimeter did not pass over the box during the "
        "analysis days; use more `--days`.)", "",
        "## Cost", "",
        "| method | wall time (s) | per analysis day per member (s) |", "|---|---|---|",
        *[f"| {k} | {info['wall_s'][k]:.1f} | {per[k]:.2f} |" for k in info["wall_s"]], "",
        "OI's cost is per analysis day (it has no members).", "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
