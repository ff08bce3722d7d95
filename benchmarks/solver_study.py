"""Skill against network evaluations: solvers, steps, CG steps and sigma range of MMPS.

A small held-out toy-ocean OSSE: nature runs with seeds 4 and 5 (never used in
training: the demo prior saw seed 0, the other benchmarks use 1001 and 2), observed by
the OSSE simulator (nadir SSH of 4 altimeters, cloudy L3 SST, L4 SSS; the same
observations for every setting). Analysis days ``14, 19`` (5 days apart) of each run
give the cases. Every setting assimilates the same cases with the same members and seed;
scores are the fair CRPS and the RMSE of the ensemble mean of each variable, divided by
the prior's standard deviation of that variable and averaged over the 5 variables
(dimensionless), then averaged over the cases.

Network evaluations per member: Heun ``2 steps - 1``, DPM-Solver++(2M) ``steps``; a
guided evaluation also costs ``cg_steps`` Jacobian products, so the measured seconds per
analysis day per member are given too.

Writes ``benchmarks/results/speed_solvers.json``, the figure ``speed_solvers.png`` and the
"solver study" section of ``speed.md``.

Usage::

    python benchmarks/solver_study.py            # about 10 minutes on 2 idle CPU cores
    python benchmarks/solver_study.py --only "CG 1" --append   # add settings to the results
    python benchmarks/solver_study.py --report   # figure and table of the settings done
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _sections import write_section

RESULTS = Path(__file__).parent / "results"
WARMUP = 14
DAYS = (14, 19)
SEEDS = (4, 5)


def settings() -> list[tuple[str, Any, Any]]:
    from xgenda.config import MMPS, DPMSolver2M, Heun

    out: list[tuple[str, Any, Any]] = []
    for steps in (8, 16):  # Heun 8: today's fast preset
        out.append((f"Heun {steps}", Heun(steps=steps), MMPS()))
    for steps in (4, 6, 8, 12, 16):
        out.append((f"DPM++2M {steps}", DPMSolver2M(steps=steps), MMPS()))
    for steps in (6, 8, 12):
        out.append((f"DPM++2M {steps}, CG 1", DPMSolver2M(steps=steps), MMPS(cg_steps=1)))
    out.append(("Heun 8, CG 1", Heun(steps=8), MMPS(cg_steps=1)))
    out.append(("DPM++2M 6, sigma_max 20", DPMSolver2M(steps=6, sigma_max=20.0), MMPS()))
    return out


def evaluations(sampler: Any) -> int:
    from xgenda.config import Heun

    return 2 * sampler.steps - 1 if isinstance(sampler, Heun) else sampler.steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="dask threads")
    parser.add_argument("--only", default=None, help="run settings whose label contains this")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--append", action="store_true",
                        help="keep the rows of speed_solvers.json (replacing re-run settings)")
    parser.add_argument("--report", action="store_true",
                        help="only write the report from speed_solvers.json (settings done)")
    args = parser.parse_args(argv)
    if args.report:
        saved = json.loads((RESULTS / "speed_solvers.json").read_text())
        rows = saved.pop("rows")
        return report(saved, rows)

    import dask
    import torch
    import xarray as xr

    import xgenda
    from xgenda.catalog import open_catalog
    from xgenda.diagnostics.scores import crps

    prior = xgenda.load_demo_prior()
    variables = list(prior.variables)
    std = {v: float(prior.normalizer.std[v]) for v in variables}
    cat = open_catalog()
    cases = []
    for seed in SEEDS:
        run = {"days": max(DAYS) + 1, "size": prior.patch_size, "seed": seed,
               "cache_dir": args.cache_dir}
        truth = cat["toy_ocean_test"].read(**run)[variables].isel(time=list(DAYS)).load()
        obs = cat["toy_ocean_osse"].read(**run)
        assimilated = xr.DataTree.from_dict(
            {k: obs[k].to_dataset() for k in ("nadir", "l3_sst", "l4_sss")})
        cases.append((seed, truth, assimilated))
    rows, before = [], ""
    if args.append:
        saved = json.loads((RESULTS / "speed_solvers.json").read_text())
        rows, before = saved["rows"], saved["command"] + "; then "
    for label, sampler, guidance in settings():
        if args.only and args.only not in label:
            continue
        crps_n, rmse_n, wall = [], [], 0.0
        per_var: dict[str, list[float]] = {v: [] for v in variables}
        for _seed, truth, assimilated in cases:
            template = truth[["ssh"]].chunk({"time": 1})
            ens = template.genda.assimilate(prior, assimilated, members=args.members, seed=0,
                                            sampler=sampler, guidance=guidance)
            tic = time.perf_counter()
            with dask.config.set(scheduler="threads", num_workers=args.workers):
                ens = ens.compute()
            wall += time.perf_counter() - tic
            for t in range(truth.sizes["time"]):
                c, r = [], []
                for v in variables:
                    rec, tru = ens[v].isel(time=t), truth[v].isel(time=t)
                    score = float(crps(rec, tru)) / std[v]
                    c.append(score)
                    per_var[v].append(score)
                    err = (rec.mean("member") - tru) / std[v]
                    r.append(float(np.sqrt(float(err.pipe(np.square).mean(skipna=True)))))
                crps_n.append(float(np.mean(c)))
                rmse_n.append(float(np.mean(r)))
        n_days = sum(t.sizes["time"] for _, t, _ in cases)
        row = {"setting": label, "sampler": sampler.to_dict(), "guidance": guidance.to_dict(),
               "evaluations": evaluations(sampler), "crps": float(np.mean(crps_n)),
               "crps_se": float(np.std(crps_n, ddof=1) / np.sqrt(len(crps_n))),
               "rmse": float(np.mean(rmse_n)), "crps_cases": crps_n,
               "crps_by_variable": {v: float(np.mean(s)) for v, s in per_var.items()},
               "s_per_day_per_member": wall / (n_days * args.members)}
        rows = [r for r in rows if r["setting"] != label] + [row]
        print(f"{label}: {row['evaluations']} evaluations, CRPS {row['crps']:.4f} "
              f"+- {row['crps_se']:.4f}, RMSE {row['rmse']:.4f}, "
              f"{row['s_per_day_per_member']:.2f} s per day per member", flush=True)
        info = {"command": before + "python " + shlex.join([sys.argv[0],
                                                            *(argv or sys.argv[1:])]),
                "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared)",
                "torch": torch.__version__, "prior": prior.id, "members": args.members,
                "workers": args.workers, "nature_run_seeds": list(SEEDS),
                "analysis_days": list(DAYS), "assimilation_seed": 0,
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        RESULTS.mkdir(exist_ok=True)  # after every setting: a partial run keeps its rows
        (RESULTS / "speed_solvers.json").write_text(json.dumps({**info, "rows": rows},
                                                               indent=2))
    return report(info, rows)


def report(info: dict[str, Any], rows: list[dict[str, Any]]) -> int:
    """The figure and the "solver study" section of ``speed.md``."""
    figure(rows, RESULTS / "speed_solvers.png")
    write_section(RESULTS / "speed.md", "solver study", markdown(info, rows),
                  "Speed of xgenda")
    print(markdown(info, rows))
    return 0


def figure(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for key, ax in zip(("crps", "rmse"), axes, strict=True):
        for prefix, style in (("Heun", "o-"), ("DPM++2M", "s-")):
            line = sorted((r for r in rows if r["setting"].startswith(prefix)
                           and "," not in r["setting"]), key=lambda r: r["evaluations"])
            if line:
                ax.errorbar([r["evaluations"] for r in line], [r[key] for r in line],
                            yerr=[r["crps_se"] for r in line] if key == "crps" else None,
                            fmt=style, label=f"{prefix} (MMPS, 3 CG steps)", capsize=3)
        for r in rows:
            if "," in r["setting"]:
                ax.plot(r["evaluations"], r[key], "x", label=r["setting"])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("network evaluations per member")
        ax.set_ylabel(f"{key.upper()} / prior std (mean of 5 variables)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Skill against cost: held-out toy-ocean OSSE (seeds {list(SEEDS)}, "
                 f"days {list(DAYS)})")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def paired(row: dict[str, Any], best: dict[str, Any]) -> tuple[float, float]:
    """Mean relative CRPS difference to ``best`` over the same cases, and its standard error."""
    diff = np.asarray(row["crps_cases"]) / np.asarray(best["crps_cases"]) - 1
    if len(diff) < 2 or row is best:
        return float(diff.mean()), 0.0
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))


def verdict(rows: list[dict[str, Any]], top: dict[str, Any]) -> list[str]:
    """The fast-preset criterion: at most a third of today's fast preset's measured cost
    per analysis day per member, CRPS within 2 % of the best setting."""
    from xgenda.config import presets

    today = presets.fast()
    ref = next((r for r in rows if r["sampler"] == today["sampler"].to_dict()
                and r["guidance"] == today["guidance"].to_dict()), None)
    if ref is None:
        return ["- today's fast preset was not among the settings measured", ""]
    limit = ref["s_per_day_per_member"] / 3
    fit = [r for r in rows if r["s_per_day_per_member"] <= limit
           and r["crps"] <= 1.02 * top["crps"]]
    ok = ", ".join(r["setting"] for r in fit) if fit else "none"
    return [f"- fast-preset criterion: today's fast preset ({ref['setting']}) costs "
            f"{ref['s_per_day_per_member']:.2f} s per day per member in this run; settings at "
            f"<= {limit:.2f} s with CRPS within 2 % of the best ({top['crps']:.4f}): {ok}", ""]


def markdown(info: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    top = min(rows, key=lambda r: r["crps"])
    best = top["crps"]
    rel = {r["setting"]: paired(r, top) for r in rows}
    lines = [
        "## Network evaluations against skill (solver study)", "",
        f"- command: `{info['command']}`",
        f"- machine: {info['machine']}; torch {info['torch']}; {info['date']}",
        f"- cases: toy-ocean nature runs with seeds {info['nature_run_seeds']} (held out), "
        f"analysis days {info['analysis_days']} of each ({len(rows[0]['crps_cases'])} cases), "
        "OSSE observations (nadir SSH, L3 SST, L4 SSS) identical for every setting; "
        f"{info['members']} members, assimilation seed {info['assimilation_seed']}, "
        f"{info['workers']} dask threads; prior `{info['prior']}`",
        "- CRPS (fair) and RMSE of the ensemble mean divided by the prior std of each "
        "variable, averaged over the 5 variables and the cases; +- one standard error over "
        "the cases", "",
        "![skill against evaluations](speed_solvers.png)", "",
        *verdict(rows, top),
        f"- best CRPS: {top['setting']}; \"vs best, paired\": the mean over the cases of "
        "each case's CRPS relative to the best setting's on the same case, +- its standard "
        "error", "",
        "| setting | evaluations per member | CRPS | CRPS vs best | vs best, paired | RMSE | "
        "s per day per member |",
        "|---|---|---|---|---|---|---|",
        *[f"| {r['setting']} | {r['evaluations']} | {r['crps']:.4f} +- {r['crps_se']:.4f} | "
          f"{r['crps'] / best - 1:+.1%} | {rel[r['setting']][0]:+.1%} +- "
          f"{rel[r['setting']][1]:.1%} | {r['rmse']:.4f} | {r['s_per_day_per_member']:.2f} |"
          for r in rows], "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
