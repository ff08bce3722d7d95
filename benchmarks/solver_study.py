"""Skill against network evaluations: solvers, steps, CG steps and sigma range of MMPS.

A small held-out toy-ocean OSSE: nature runs with seeds 4 and 5 (never used in
training: the demo prior saw seed 0, the other benchmarks use 1001 and 2), observed by
the OSSE simulator (nadir SSH of 4 altimeters, cloudy L3 SST, L4 SSS; the same
observations for every setting). Analysis days ``14, 17, 20, 23`` of each run give 8
cases. Every setting assimilates the same cases with the same 8 members and seed (a
paired comparison); scores are the fair CRPS and the RMSE of the ensemble mean of each
variable, divided by the prior's standard deviation of that variable and averaged over
the 5 variables (dimensionless), then averaged over the cases.

Network evaluations per member: Heun ``2 steps - 1``, DPM-Solver++(2M) and Euler
``steps``; a guided evaluation also costs ``cg_steps`` Jacobian products, so the measured
wall and CPU seconds per analysis day per member are given too. The settings run in turn
on each nature run, so that a change of the shared machine's load falls on all alike.

The fast-preset criterion: at most a third of the cost of the reference fast setting,
MMPS with 16 Heun steps (the fast configuration when the criterion was set, the OSSE
benchmark's ``xgenda-fast`` row), measured in the same run (wall and CPU seconds), with
a paired CRPS within 2 % of the best setting's.

Writes ``benchmarks/results/speed_solvers.json``, the figure ``speed_solvers.png`` and the
"solver study" section of ``speed.md``.

Usage (``PYTHONPATH=.`` from the repository root)::

    python benchmarks/solver_study.py            # about 15 minutes on 2 CPU cores
    python benchmarks/solver_study.py --only "CG 1" --append   # add settings to the results
    python benchmarks/solver_study.py --exact "Heun 16" "Heun 8" --append  # re-run these
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
#: The setting whose cost the fast preset must cut to a third: MMPS with 16 Heun steps.
REFERENCE = "Heun 16"
WARMUP = 14
DAYS = (14, 17, 20, 23)
SEEDS = (4, 5)


def settings() -> list[tuple[str, Any, Any]]:
    """The settings compared: the reference fast setting and cheap candidates near the knee."""
    from xgenda.config import MMPS, DPMSolver2M, Euler, Heun

    out: list[tuple[str, Any, Any]] = []
    for steps in (16, 8, 4, 6):  # Heun 16: the reference
        out.append((f"Heun {steps}", Heun(steps=steps), MMPS()))
    out.append(("DPM++2M 6, CG 1", DPMSolver2M(steps=6), MMPS(cg_steps=1)))
    out.append(("DPM++2M 6, sigma_max 20, CG 1", DPMSolver2M(steps=6, sigma_max=20.0),
                MMPS(cg_steps=1)))
    for steps in (8, 10, 12):
        for cg in (3, 1):
            label = f"DPM++2M {steps}" + ("" if cg == 3 else f", CG {cg}")
            out.append((label, DPMSolver2M(steps=steps), MMPS(cg_steps=cg)))
    for steps in (8, 10):
        for cg in (3, 1):
            label = f"DPM++2M {steps}, sigma_max 20" + ("" if cg == 3 else f", CG {cg}")
            out.append((label, DPMSolver2M(steps=steps, sigma_max=20.0), MMPS(cg_steps=cg)))
    out.append(("Euler 8, churn 3", Euler(steps=8, churn=3.0), MMPS()))
    return out


def evaluations(sampler: Any) -> int:
    """Network evaluations per member (Heun: ``2 steps - 1``; the others: ``steps``)."""
    from xgenda.config import Heun

    return 2 * sampler.steps - 1 if isinstance(sampler, Heun) else sampler.steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="dask threads")
    parser.add_argument("--only", default=None, help="run settings whose label contains this")
    parser.add_argument("--exact", nargs="+", default=None, metavar="LABEL",
                        help="run the settings with exactly these labels")
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
    chosen = [s for s in settings() if (not args.only or args.only in s[0])
              and (not args.exact or s[0] in args.exact)]
    if not chosen:
        raise SystemExit(f"no setting matches --only {args.only!r} / --exact {args.exact}; "
                         f"settings: {[s[0] for s in settings()]}")
    done: dict[str, dict[str, Any]] = {
        label: {"crps": [], "rmse": [], "wall": 0.0, "cpu": 0.0,
                "by_var": {v: [] for v in variables}} for label, _, _ in chosen}
    info: dict[str, Any] = {}
    # cases outside, settings inside: a change of the shared machine's load during the
    # run falls on every setting alike
    for n_case, (seed, truth, assimilated) in enumerate(cases, 1):
        for label, sampler, guidance in chosen:
            acc = done[label]
            template = truth[["ssh"]].chunk({"time": 1})
            ens = template.genda.assimilate(prior, assimilated, members=args.members, seed=0,
                                            sampler=sampler, guidance=guidance)
            tic, cpu = time.perf_counter(), time.process_time()
            with dask.config.set(scheduler="threads", num_workers=args.workers):
                ens = ens.compute()
            acc["wall"] += time.perf_counter() - tic
            acc["cpu"] += time.process_time() - cpu
            for t in range(truth.sizes["time"]):
                c, r = [], []
                for v in variables:
                    rec, tru = ens[v].isel(time=t), truth[v].isel(time=t)
                    score = float(crps(rec, tru)) / std[v]
                    c.append(score)
                    acc["by_var"][v].append(score)
                    err = (rec.mean("member") - tru) / std[v]
                    r.append(float(np.sqrt(float(err.pipe(np.square).mean(skipna=True)))))
                acc["crps"].append(float(np.mean(c)))
                acc["rmse"].append(float(np.mean(r)))
            member_days = len(acc["crps"]) * args.members
            print(f"seed {seed}: {label}: CRPS {np.mean(acc['crps'][-truth.sizes['time']:]):.4f}"
                  f", {acc['wall'] / member_days:.2f} s per day per member so far", flush=True)
        fresh = [_row(label, sampler, guidance, done[label], args.members)
                 for label, sampler, guidance in chosen]
        names = {r["setting"] for r in fresh}
        rows = [r for r in rows if r["setting"] not in names] + fresh
        info = {"command": before + "python " + shlex.join([sys.argv[0],
                                                            *(argv or sys.argv[1:])]),
                "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared)",
                "torch": torch.__version__, "prior": prior.id, "members": args.members,
                "workers": args.workers, "nature_run_seeds": list(SEEDS[:n_case]),
                "analysis_days": list(DAYS), "assimilation_seed": 0,
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        RESULTS.mkdir(exist_ok=True)  # after every nature run: a partial run keeps its rows
        (RESULTS / "speed_solvers.json").write_text(json.dumps({**info, "rows": rows},
                                                               indent=2))
    return report(info, rows)


def _row(label: str, sampler: Any, guidance: Any, acc: dict[str, Any],
         members: int) -> dict[str, Any]:
    """One setting's scores and costs over the cases done so far."""
    crps_n = acc["crps"]
    member_days = len(crps_n) * members
    return {"setting": label, "sampler": sampler.to_dict(), "guidance": guidance.to_dict(),
            "evaluations": evaluations(sampler), "crps": float(np.mean(crps_n)),
            "crps_se": float(np.std(crps_n, ddof=1) / np.sqrt(len(crps_n))),
            "rmse": float(np.mean(acc["rmse"])), "crps_cases": crps_n,
            "crps_by_variable": {v: float(np.mean(x)) for v, x in acc["by_var"].items()},
            "s_per_day_per_member": acc["wall"] / member_days,
            "cpu_s_per_day_per_member": acc["cpu"] / member_days}


def report(info: dict[str, Any], rows: list[dict[str, Any]]) -> int:
    """The figure and the "solver study" section of ``speed.md``."""
    figure(rows, RESULTS / "speed_solvers.png")
    write_section(RESULTS / "speed.md", "solver study", markdown(info, rows),
                  "Speed of xgenda")
    print(markdown(info, rows))
    return 0


def family(label: str) -> str:
    """A setting's label without its number of steps: ``"DPM++2M 8, CG 1"`` ->
    ``"DPM++2M, CG 1"`` (the settings of one family form a line of the figure)."""
    head, _, rest = label.partition(",")
    name = head.rsplit(" ", 1)[0]
    return name + ("," + rest if rest else "")


def figure(rows: list[dict[str, Any]], path: Path) -> None:
    """CRPS against evaluations and against CPU seconds (with the fast-preset criterion's
    box), RMSE against evaluations; settings far off the best (diverged) are named only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = min(r["crps"] for r in rows)
    shown = [r for r in rows if r["crps"] <= 2 * best]
    off = [r for r in rows if r not in shown]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), constrained_layout=True)
    families = list(dict.fromkeys(family(r["setting"]) for r in shown))
    panels = (("evaluations", "crps", "network evaluations per member"),
              ("cpu_s_per_day_per_member", "crps", "CPU s per analysis day per member"),
              ("evaluations", "rmse", "network evaluations per member"))
    for (x, key, xlabel), ax in zip(panels, axes, strict=True):
        for i, name in enumerate(families):
            line = sorted((r for r in shown if family(r["setting"]) == name),
                          key=lambda r: r["evaluations"])
            ax.errorbar([r.get(x, np.nan) for r in line], [r[key] for r in line],
                        yerr=[r["crps_se"] for r in line] if key == "crps" else None,
                        fmt="os^vD<>"[i % 7] + "-", capsize=3,
                        label=name + ("" if "CG" in name else ", CG 3"))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{key.upper()} / prior std (mean of 5 variables)")
        ax.grid(alpha=0.3)
    ref = next((r for r in rows if r["setting"] == REFERENCE), None)
    if ref is not None and "cpu_s_per_day_per_member" in ref:
        ax = axes[1]
        ax.axvline(ref["cpu_s_per_day_per_member"] / 3, color="k", ls="--", lw=1,
                   label=f"a third of the reference's ({REFERENCE}) cost")
        ax.axhline(1.02 * best, color="k", ls=":", lw=1, label="best CRPS + 2 %")
        ax.legend(fontsize=7)
    axes[0].legend(fontsize=7)
    note = "; off scale: " + ", ".join(f"{r['setting']} (CRPS {r['crps']:.2f})"
                                       for r in off) if off else ""
    fig.suptitle(f"Skill against cost: held-out toy-ocean OSSE (seeds {list(SEEDS)}, "
                 f"days {list(DAYS)}), MMPS{note}")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def paired(row: dict[str, Any], best: dict[str, Any]) -> tuple[float, float]:
    """Mean relative CRPS difference to ``best`` over the same cases, and its standard error."""
    diff = np.asarray(row["crps_cases"]) / np.asarray(best["crps_cases"]) - 1
    if len(diff) < 2 or row is best:
        return float(diff.mean()), 0.0
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))


def verdict(rows: list[dict[str, Any]], top: dict[str, Any]) -> list[str]:
    """The fast-preset criterion: at most a third of the reference setting's cost per
    analysis day per member measured in the same run (wall and CPU seconds both), and a
    paired CRPS within 2 % of the best setting's."""
    from xgenda.config import presets

    ref = next((r for r in rows if r["setting"] == REFERENCE), None)
    if ref is None:
        return [f"- the reference setting ({REFERENCE}) was not among the settings measured",
                ""]
    fast = presets.fast()
    now = next((r["setting"] for r in rows if r["sampler"] == fast["sampler"].to_dict()
                and r["guidance"] == fast["guidance"].to_dict()), None)
    wall, cpu = ref["s_per_day_per_member"] / 3, ref["cpu_s_per_day_per_member"] / 3
    fit = [r for r in rows if r["s_per_day_per_member"] <= wall
           and r["cpu_s_per_day_per_member"] <= cpu and paired(r, top)[0] <= 0.02]
    cheap = [r for r in rows if r["s_per_day_per_member"] <= wall
             and r["cpu_s_per_day_per_member"] <= cpu]
    closest = min(cheap, key=lambda r: paired(r, top)[0]) if cheap else None
    lines = [f"- fast-preset criterion: the reference ({ref['setting']}, MMPS: the fast "
             "configuration when the criterion was set) costs "
             f"{ref['s_per_day_per_member']:.2f} s ({ref['cpu_s_per_day_per_member']:.2f} CPU "
             f"s) per day per member in this run; settings at <= {wall:.2f} s and <= "
             f"{cpu:.2f} CPU s with a paired CRPS within 2 % of the best ({top['setting']}, "
             f"{top['crps']:.4f}): " + (", ".join(r["setting"] for r in fit) or "**none**")]
    if closest is not None and not fit:
        d, se = paired(closest, top)
        lines.append(f"- closest within the cost: {closest['setting']}, {d:+.1%} +- {se:.1%} "
                     "(paired)")
    lines.append(f"- `presets.fast()` is now: {now or 'a setting not in this table'}")
    return [*lines, ""]


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
        "the cases; cost: wall and CPU (process) seconds of the dask computation per analysis "
        "day per member, the settings run in turn on each nature run so that the shared "
        "machine's load falls on all alike", "",
        "![skill against evaluations](speed_solvers.png)", "",
        *verdict(rows, top),
        f"- best CRPS: {top['setting']}; \"vs best, paired\": the mean over the cases of "
        "each case's CRPS relative to the best setting's on the same case, +- its standard "
        "error", "",
        "| setting | evaluations per member | CRPS | CRPS vs best | vs best, paired | RMSE | "
        "s per day per member | CPU s per day per member |",
        "|---|---|---|---|---|---|---|---|",
        *[f"| {r['setting']} | {r['evaluations']} | {r['crps']:.4f} +- {r['crps_se']:.4f} | "
          f"{r['crps'] / best - 1:+.1%} | {rel[r['setting']][0]:+.1%} +- "
          f"{rel[r['setting']][1]:.1%} | {r['rmse']:.4f} | {r['s_per_day_per_member']:.2f} | "
          f"{r.get('cpu_s_per_day_per_member', float('nan')):.2f} |"
          for r in rows], "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
