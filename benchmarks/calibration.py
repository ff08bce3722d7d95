"""Calibration of the demo prior's recommended configuration on a validation run.

``--search reliability`` searches observation-error inflation x sampler churn
(:func:`xgenda.calibration.reliability_grid`) around the hand-tuned windows;
``--search inflation`` searches the inflation of the ensemble's anomalies above and
below 200 km (:func:`xgenda.calibration.inflation_grid`) around the prior's own
recommended configuration, with one assimilation for the whole grid. Both run on the
OSSE observations of a
toy-ocean run that is neither the training run's training days nor a benchmark run
(seed 1001 validated the demo prior; seeds 2-5 are held out for the benchmarks).
Each setting assimilates the nadir SSH, L3 SST and L4 SSS of a few analysis days
minus a withheld fifth of the nadir and L3 points, and is scored at those and at the
run's withheld drifters (currents). The winner has the lowest mean
``|spread/skill - 1|`` among the settings within ``--crps-tolerance`` of the lowest
CRPS. ``--update-prior`` writes it into the demo prior's config.json
(``metadata["recommended"]``).

    python benchmarks/calibration.py --days 2 --members 8 --update-prior
    python benchmarks/calibration.py --search inflation --days 8 --members 16 \
        --large 1.0 1.2 1.4 1.6 1.8 2.0 --small 0.9 1.0 1.1 --update-prior
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import header, run_info

RESULTS = Path(__file__).parent / "results"
HELD_OUT = (2, 3, 4, 5)  # the OSSE benchmark's runs
WARMUP_DAYS = 14  # observations before the first analysis day
TAIL_DAYS = 8  # observations after the last analysis day (nadir windows)
SPACING = 5  # days between analysis days
NODES = ("nadir", "l3_sst", "l4_sss")  # what benchmarks/osse.py assimilates
# the hand-tuned windows of the OSSE benchmark, in physical units: half-width (days)
# and persistence error growth (units of the variable per day)
WINDOWS = {"points": (5.0, "ssh", 0.1), "grid": (1.0, "sst", 0.2)}


def base_configuration(std: dict[str, float]) -> Any:
    """The starting point: 16 Heun steps, MMPS with 3 CG steps, the per-kind windows of
    :data:`WINDOWS` with their growth divided by the prior's std (normalized units)."""
    from xgenda.config import MMPS, Configuration, Heun, KindWindow, Window

    kinds = {kind: KindWindow(half_width=w, error_growth=g / std[v])
             for kind, (w, v, g) in WINDOWS.items()}
    return Configuration(Heun(steps=16, churn=5.0), MMPS(cg_steps=3), Window(**kinds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1001, help="toy-ocean validation run")
    parser.add_argument("--days", type=int, default=2, help="analysis days")
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--search", choices=("reliability", "inflation"), default="reliability")
    parser.add_argument("--against", choices=("withheld", "truth"), default="withheld",
                        help="score at withheld observations (xgenda.calibrate), or, for "
                             "--search inflation, against the validation run's gridded truth "
                             "with every observation assimilated")
    parser.add_argument("--inflations", type=float, nargs="+", default=[1.0, 1.4, 1.8])
    parser.add_argument("--large", type=float, nargs="+", default=[1.0, 1.25, 1.5, 1.75, 2.0],
                        help="--search inflation: factors on the anomalies above 200 km")
    parser.add_argument("--small", type=float, nargs="+", default=[1.0],
                        help="--search inflation: factors on the anomalies below 200 km")
    parser.add_argument("--churns", type=float, nargs="+", default=[5.0, 10.0])
    parser.add_argument("--withhold", type=float, default=0.2)
    parser.add_argument("--crps-tolerance", type=float, default=0.0,
                        help="relative CRPS slack within which spread/skill decides "
                             "(default 0: the lowest CRPS, a proper score, wins)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "xgenda-bench"))
    parser.add_argument("--update-prior", action="store_true",
                        help="write the winner into the demo prior's config.json")
    parser.add_argument("--out", default=str(RESULTS / "calibration"), help="results stem")
    args = parser.parse_args(argv)
    if args.seed in HELD_OUT:
        raise SystemExit(f"seeds {HELD_OUT} are held out for benchmarks/osse.py; calibrate "
                         "on the validation run (seed 1001)")
    if args.seed == 0:
        raise SystemExit("the cached seed-0 runs are the demo prior's training days; use 1001")

    import torch
    import xarray as xr

    import xgenda
    from xgenda.calibration import inflation_grid, reliability_grid
    from xgenda.catalog import open_catalog

    if args.threads:
        torch.set_num_threads(args.threads)
    prior = xgenda.load_demo_prior()
    n_run = WARMUP_DAYS + SPACING * (args.days - 1) + TAIL_DAYS + 1
    run = {"days": max(n_run, 40), "size": prior.patch_size, "seed": args.seed,
           "cache_dir": str(Path(args.cache_dir) / "runs")}
    cat = open_catalog()
    truth, obs_all = cat["toy_ocean_test"].read(**run), cat["toy_ocean_osse"].read(**run)
    days = [WARMUP_DAYS + SPACING * k for k in range(args.days)]
    template = truth[["ssh"]].isel(time=days).chunk({"time": 1})
    obs = xr.DataTree.from_dict({k: obs_all[k].to_dataset() for k in NODES})
    drifters = obs_all["withheld/drifters"].to_dataset()

    if args.search == "inflation":
        base = prior.recommended
        if base is None:
            raise SystemExit("the demo prior records no recommended configuration to start from")
        grid = inflation_grid(base, args.large, args.small)
    else:
        base = base_configuration(prior.normalizer.std)
        grid = reliability_grid(base, args.inflations, args.churns)
    info = run_info(argv, "cpu")
    tic = time.perf_counter()
    if args.against == "truth":
        if args.search != "inflation":
            raise SystemExit("--against truth scores the inflation search (one assimilation)")
        winner, rows = truth_search(prior, template, obs, truth, grid, args.members,
                                    args.crps_tolerance)
    else:
        best, table = xgenda.calibrate(template, prior, obs, grid, members=args.members,
                                       withhold=args.withhold, seed=0, device="cpu",
                                       crps_tolerance=args.crps_tolerance,
                                       evaluation=drifters)
        winner = xgenda.config.Configuration(**best)
        rows = _rows(table)
    wall = time.perf_counter() - tic
    info.update(seed=args.seed, analysis_days=[str(t)[:10] for t in template.time.values],
                members=args.members, withhold=args.withhold, wall_s=round(wall, 1),
                crps_tolerance=args.crps_tolerance, base=json.loads(base.to_json()),
                search=args.search, against=args.against,
                best=json.loads(winner.to_json()), prior=prior.id)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({**info, "scores": rows}, indent=2,
                                                   default=float))
    out.with_suffix(".md").write_text(_markdown(info, rows))
    print(out.with_suffix(".md").read_text())
    if args.update_prior:
        _update_prior(winner, f"benchmarks/calibration.py --search {args.search} --against "
                              f"{args.against} on toy-ocean seed {args.seed} (prior {prior.id}; "
                              f"{Path(args.out).name}.md)", args.search)
    return 0


def truth_search(prior: Any, template: Any, obs: Any, truth: Any, grid: list[Any],
                 members: int, tolerance: float) -> tuple[Any, list[dict[str, Any]]]:
    """Score each inflation of one ensemble against the validation run's gridded truth.

    Every observation is assimilated once with the grid's common configuration and no
    inflation; each setting's ensemble is that one inflated by
    :func:`xgenda._inflation.inflate_dataset` (what the engine applies). Scores per
    variable: fair CRPS, RMSE of the mean and spread/skill over the analysis days, as in
    ``benchmarks/osse.py``. The lowest mean CRPS in units of the prior's std wins; with a
    tolerance, the lowest mean ``|spread/skill - 1|`` among the settings within it.
    """
    from dataclasses import replace

    import xgenda
    from xgenda._inflation import inflate_dataset
    from xgenda.config import Inflation
    from xgenda.diagnostics.scores import crps, rmse, spread_skill_ratio

    plain = replace(grid[0], inflation=Inflation())
    ens = xgenda.assimilate(template, prior, obs, members=members, seed=0, device="cpu",
                            **plain.kwargs()).compute()
    reference = truth[list(prior.variables)].sel(time=ens.time).load()
    rows = []
    for config in grid:
        inflated = inflate_dataset(ens, config.inflation)
        row: dict[str, Any] = {"large": config.inflation.large,
                               "small": config.inflation.small}
        normalized, reliability = [], []
        for v in prior.variables:
            c = float(crps(inflated[v], reference[v]))
            ss = float(spread_skill_ratio(inflated[v], reference[v]))
            row[f"crps_{v}"] = c
            row[f"rmse_{v}"] = float(rmse(inflated[v].mean("member"), reference[v]))
            row[f"spread_skill_{v}"] = ss
            normalized.append(c / prior.normalizer.std[v])
            reliability.append(abs(ss - 1))
        row["score"] = float(np.mean(normalized))
        row["reliability"] = float(np.mean(reliability))
        rows.append(row)
    scores = np.array([r["score"] for r in rows])
    near = np.flatnonzero(scores <= scores.min() * (1 + tolerance))
    best = int(near[np.argmin([rows[i]["reliability"] for i in near])])
    for i, row in enumerate(rows):
        row["best"] = i == best
    order = ["large", "small", "score", "reliability"]
    rows = [{k: r[k] for k in order + sorted(set(r) - {*order, "best"}) + ["best"]}
            for r in rows]
    return grid[best], rows


def _rows(table: Any) -> list[dict[str, Any]]:
    columns = ["score", "reliability"] + [f"{k}_{v}" for v in ("ssh", "sst", "u", "v")
                                          for k in ("crps", "rmse", "spread_skill", "count")
                                          if f"{k}_{v}" in table]
    rows = []
    for i in range(table.sizes["configuration"]):
        row = table.isel(configuration=i)
        config = json.loads(str(row.configuration.values))
        inflation = config.get("inflation", {})
        entry = {"error_inflation": float(config["window"]["error_inflation"]),
                 "churn": float(config["sampler"]["churn"]),
                 "large": float(inflation.get("large", 1.0)),
                 "small": float(inflation.get("small", 1.0))}
        entry.update({c: float(row[c]) for c in columns})
        entry["best"] = str(row.configuration.values) == table.attrs["best"]
        rows.append(entry)
    return rows


def _markdown(info: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    lines = header("Calibration of the demo prior's recommended configuration", info)
    lines += [
        f"- validation run: toy-ocean seed {info['seed']} (the demo prior's validation "
        f"seed; the benchmark runs {list(HELD_OUT)} are not used), analysis days "
        f"{info['analysis_days']}, {info['members']} members, seed 0; prior "
        f"`{info['prior']}`; {info['wall_s']:.0f} s in all",
        (f"- assimilated: {', '.join(NODES)} minus a withheld {info['withhold']:.0%} of the "
         "nadir and L3 SST observations; scored at those (SSH, SST) and at the run's "
         "withheld drifters (u, v), within half a day of an analysis time, with their "
         "own errors" if info.get("against", "withheld") == "withheld" else
         f"- assimilated: all of {', '.join(NODES)}; scored against the validation run's "
         "gridded truth of every variable on the analysis days (fair CRPS, RMSE of the "
         "mean, spread/skill as in `benchmarks/osse.py`)"),
        ("- searched: observation-error inflation x churn around the base "
         if info.get("search", "reliability") == "reliability" else
         "- searched: the inflation of the ensemble's anomalies above (`large`) and below "
         "(`small`) 200 km, one assimilation for all, around the prior's recommended "
         "configuration ") + f"`{json.dumps(info['base'])}`",
        f"- selection: lowest mean |spread/skill - 1| among the settings whose CRPS score "
        f"is within {info['crps_tolerance']:.0%} of the lowest (0 %: the lowest CRPS of the "
        "ensemble dressed with the observation error wins)",
        f"- winner: `{json.dumps(info['best'])}`",
        f"- churn: EDM adds noise `gamma = min(churn / steps, sqrt(2) - 1)` per step, so "
        f"at {info['base']['sampler']['steps']} steps every churn above "
        f"{info['base']['sampler']['steps'] * (math.sqrt(2) - 1):.1f} is the same sampler "
        "(identical rows)", "",
    ]
    names = list(rows[0])
    lines += ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r[n]) for n in names) + " |")
    lines += ["", "`score`: mean over variables of the fair CRPS in units of the prior's "
              "std; `reliability`: mean over variables of |spread/skill - 1|; "
              "spread/skill counts the observation error in (1: reliable; < 1: "
              "under-dispersed).", ""]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "**yes**" if value else ""
    if isinstance(value, float) and value.is_integer() and abs(value) > 10:
        return str(int(value))
    return f"{value:.4g}" if isinstance(value, float) and np.isfinite(value) else str(value)


def _update_prior(config: Any, source: str, search: str) -> None:
    """Write ``config`` and where it came from into the bundled demo prior's config.json
    (``metadata["recommended"]``, ``metadata["recommended_source"]``). The inflation
    search starts from the prior's recommendation, whose source is kept before it."""
    from xgenda.prior import demo_prior_path

    path = Path(demo_prior_path()) / "config.json"
    document = json.loads(path.read_text())
    earlier = document["metadata"].get("recommended_source")
    if search == "inflation" and earlier:
        source = f"{earlier.split('; inflation: ')[0]}; inflation: {source}"
    document["metadata"]["recommended"] = json.loads(config.to_json())
    document["metadata"]["recommended_source"] = source
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote the recommended configuration into {path}")


if __name__ == "__main__":
    sys.exit(main())
