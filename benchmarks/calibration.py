"""Calibration of the demo prior's recommended configuration on a validation run.

``--search reliability`` searches observation-error inflation x sampler churn
(:func:`xgenda.calibration.reliability_grid`) around the hand-tuned windows;
``--search inflation`` searches the inflation of the ensemble's anomalies above and
below 200 km (:func:`xgenda.calibration.inflation_grid`) around the prior's own
recommended configuration, with one assimilation for the whole grid;
``--search config --against truth`` tries named changes of the prior's recommended
sampler, guidance and windows (:data:`VARIANTS`, combined with ``+``), one assimilation
each, every one with its best inflation of the ``--large`` x ``--small`` grid. All run
on the OSSE observations of a
toy-ocean run that is neither the training run's training days nor a benchmark run
(seed 1001 validated the demo prior; seeds 2-5 are held out for the benchmarks).
Each setting assimilates the nadir SSH, L3 SST and L4 SSS of a few analysis days
minus a withheld fifth of the nadir and L3 points, and is scored at those and at the
run's withheld drifters (currents). The winner has the lowest mean
``|spread/skill - 1|`` among the settings within ``--crps-tolerance`` of the lowest
CRPS. ``--update-prior`` writes it into the demo prior's config.json
(``metadata["recommended"]``), or into that of ``--prior DIR`` (a saved prior to
calibrate instead of the bundled one). ``--ocean smooth``: the validation run is of the
smooth toy ocean of the earlier priors (``ToyOceanParameters.smooth()``), for a prior
trained on it.

    python benchmarks/calibration.py --days 2 --members 8 --update-prior
    python benchmarks/calibration.py --search inflation --days 8 --members 16 \
        --large 1.0 1.2 1.4 1.6 1.8 2.0 --small 0.9 1.0 1.1 --update-prior
    python benchmarks/calibration.py --search config --against truth --days 8 \
        --members 16 --variants recommended nadir-7d steps-32 nadir-7d+steps-32
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from _common import OCEANS, header, run_info

RESULTS = Path(__file__).parent / "results"
HELD_OUT = (2, 3, 4, 5)  # the OSSE benchmark's runs
WARMUP_DAYS = 14  # observations before the first analysis day
TAIL_DAYS = 8  # observations after the last analysis day (nadir windows)
SPACING = 5  # days between analysis days
NODES = ("nadir", "l3_sst", "l4_sss")  # what benchmarks/osse.py assimilates
# the hand-tuned windows of the OSSE benchmark, in physical units: half-width (days)
# and persistence error growth (units of the variable per day)
WINDOWS = {"points": (5.0, "ssh", 0.1), "grid": (1.0, "sst", 0.2)}


def _kind(config: Any, kind: str, growth: float | None = None, **changes: Any) -> Any:
    """``config`` with the window of one kind of observations changed: its fields in
    ``changes``, its error growth multiplied by ``growth``."""
    window = config.window
    current = getattr(window, kind)
    if current is None:
        raise SystemExit(f"the recommended configuration has no {kind!r} window to change")
    if growth is not None:
        changes["error_growth"] = (current.error_growth or 0.0) * growth
    return replace(config, window=replace(window, **{kind: replace(current, **changes)}))


#: Named changes of a configuration tried by ``--search config`` (``a+b`` applies both).
VARIANTS: dict[str, Callable[[Any], Any]] = {
    "recommended": lambda c: c,
    "nadir-3d": lambda c: _kind(c, "points", half_width=3.0),
    "nadir-7d": lambda c: _kind(c, "points", half_width=7.0),
    "nadir-10d": lambda c: _kind(c, "points", half_width=10.0),
    "nadir-growth-x0.7": lambda c: _kind(c, "points", growth=0.7),
    "nadir-growth-x1.4": lambda c: _kind(c, "points", growth=1.4),
    "l3-2d": lambda c: _kind(c, "grid", half_width=2.0),
    "steps-32": lambda c: replace(c, sampler=replace(c.sampler, steps=32)),
    "churn-2": lambda c: replace(c, sampler=replace(c.sampler, churn=2.0)),
    "churn-10": lambda c: replace(c, sampler=replace(c.sampler, churn=10.0)),
    "mmps-1": lambda c: replace(c, guidance=replace(c.guidance, cg_steps=1)),
    "mmps-5-sym": lambda c: replace(c, guidance=replace(c.guidance, cg_steps=5,
                                                         symmetrize=True)),
    "mmps-6-cap": lambda c: replace(c, guidance=replace(c.guidance, cg_steps=6,
                                                         cg_sigma_max=1.0)),
    "mmps-5-sym-cap10": lambda c: replace(c, guidance=replace(
        c.guidance, cg_steps=5, symmetrize=True, cg_sigma_max=10.0)),
    "mmps-3-sym-cap10": lambda c: replace(c, guidance=replace(
        c.guidance, cg_steps=3, symmetrize=True, cg_sigma_max=10.0)),
    "steps-8": lambda c: replace(c, sampler=replace(c.sampler, steps=8)),
}


def variant(config: Any, name: str) -> Any:
    """``config`` changed by the :data:`VARIANTS` named in ``name`` (joined by ``+``)."""
    for part in name.split("+"):
        if part not in VARIANTS:
            raise SystemExit(f"unknown variant {part!r}; choose from {sorted(VARIANTS)}")
        config = VARIANTS[part](config)
    return config


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
    parser.add_argument("--search", choices=("reliability", "inflation", "config"),
                        default="reliability")
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
    parser.add_argument("--variants", nargs="+", default=["recommended"],
                        help=f"--search config: names from {sorted(VARIANTS)}, or several "
                             "joined with '+'")
    parser.add_argument("--withhold", type=float, default=0.2)
    parser.add_argument("--crps-tolerance", type=float, default=0.0,
                        help="relative CRPS slack within which spread/skill decides "
                             "(default 0: the lowest CRPS, a proper score, wins)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "xgenda-bench"))
    parser.add_argument("--prior", default=None,
                        help="directory of a saved prior to calibrate (default: the demo prior)")
    parser.add_argument("--ocean", choices=sorted(OCEANS), default="default",
                        help="the toy ocean of the validation run")
    parser.add_argument("--update-prior", action="store_true",
                        help="write the winner into the prior's config.json")
    parser.add_argument("--reselect", default=None, metavar="JSON",
                        help="choose the winner of a saved inflation search against the "
                             "truth (its .json) anew with --crps-tolerance: no assimilation")
    parser.add_argument("--out", default=str(RESULTS / "calibration"), help="results stem")
    args = parser.parse_args(argv)
    if args.reselect:
        return reselect(args, argv)
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
    prior = xgenda.load_demo_prior() if args.prior is None else xgenda.Prior.load(args.prior)
    n_run = WARMUP_DAYS + SPACING * (args.days - 1) + TAIL_DAYS + 1
    run = {"days": max(n_run, 40), "size": prior.patch_size, "seed": args.seed,
           "cache_dir": str(Path(args.cache_dir) / "runs"),
           "toy_ocean_kwargs": dict(OCEANS[args.ocean])}
    cat = open_catalog()
    truth, obs_all = cat["toy_ocean_test"].read(**run), cat["toy_ocean_osse"].read(**run)
    days = [WARMUP_DAYS + SPACING * k for k in range(args.days)]
    template = truth[["ssh"]].isel(time=days).chunk({"time": 1})
    obs = xr.DataTree.from_dict({k: obs_all[k].to_dataset() for k in NODES})
    drifters = obs_all["withheld/drifters"].to_dataset()

    if args.search in ("inflation", "config"):
        base = prior.recommended
        if base is None:
            raise SystemExit("the demo prior records no recommended configuration to start from")
        grid = inflation_grid(base, args.large, args.small)
    else:
        base = base_configuration(prior.normalizer.std)
        grid = reliability_grid(base, args.inflations, args.churns)
    info = run_info(argv, "cpu")
    tic = time.perf_counter()
    if args.search == "config":
        if args.against != "truth":
            raise SystemExit("--search config scores against the gridded truth: "
                             "give --against truth")
        candidates = {name: variant(base, name) for name in args.variants}
        winner, rows = config_search(prior, template, obs, truth, candidates,
                                     (args.large, args.small), args.members,
                                     args.crps_tolerance)
    elif args.against == "truth":
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
    _write(Path(args.out), info, rows)
    if args.update_prior:
        ocean = "" if args.ocean == "default" else f" ({args.ocean} ocean)"
        _update_prior(winner, f"benchmarks/calibration.py --search {args.search} --against "
                              f"{args.against} on toy-ocean seed {args.seed}{ocean} (prior "
                              f"{prior.id}; {Path(args.out).name}.md)", args.search,
                      args.prior)
    return 0


def reselect(args: argparse.Namespace, argv: list[str] | None) -> int:
    """The winner of a saved inflation search (``--search inflation --against truth``)
    chosen anew with ``--crps-tolerance``, written as a new result (and, with
    ``--update-prior``, into the prior): its scores are reused, not recomputed."""
    import xgenda._runtime  # noqa: F401 - run_info resolves the device through it
    from xgenda.config import Inflation, from_json

    saved = json.loads(Path(args.reselect).read_text())
    if saved.get("search") != "inflation" or saved.get("against") != "truth":
        raise SystemExit(f"{args.reselect} is not an inflation search against the truth "
                         "(--search inflation --against truth)")
    rows = saved["scores"]
    best = _best(rows, args.crps_tolerance)
    base = from_json(json.dumps(saved["base"]))
    winner = replace(base, inflation=Inflation(rows[best]["large"], rows[best]["small"],
                                               base.inflation.wavelength_km))
    info = {k: v for k, v in saved.items() if k != "scores"}
    info.update(run_info(argv, "cpu"), crps_tolerance=args.crps_tolerance,
                best=json.loads(winner.to_json()), reselected_from=str(args.reselect),
                search_command=saved["command"])
    rows = _ordered(rows, best, ["large", "small"])
    _write(Path(args.out), info, rows)
    if args.update_prior:
        _update_prior(winner, f"benchmarks/calibration.py --reselect {Path(args.reselect).name}"
                              f" --crps-tolerance {args.crps_tolerance:g} (prior "
                              f"{saved['prior']}; {Path(args.out).name}.md)", "inflation",
                      args.prior)
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
    ens, reference = _ensemble(prior, template, obs, truth, grid[0], members)
    rows = [{"large": config.inflation.large, "small": config.inflation.small,
             **_truth_row(_inflate(ens, config.inflation), reference, prior)}
            for config in grid]
    best = _best(rows, tolerance)
    return grid[best], _ordered(rows, best, ["large", "small"])


def config_search(prior: Any, template: Any, obs: Any, truth: Any,
                  candidates: dict[str, Any], inflations: tuple[list[float], list[float]],
                  members: int, tolerance: float) -> tuple[Any, list[dict[str, Any]]]:
    """Score named configurations against the validation run's gridded truth.

    Each candidate assimilates every observation once (the same members' seed for all:
    their differences are not sampling noise alone) and keeps the inflation of its
    anomalies (``large`` x ``small`` above and below 200 km) with the lowest score, as
    :func:`truth_search`. The winner is chosen among these rows as there. ``days_better``
    and ``paired`` compare each candidate's daily score with the first candidate's:
    the days on which it is lower, and the mean relative difference with its standard
    error over the days (negative: better).
    """
    from xgenda.calibration import check_stable, inflation_grid

    rows, configs, daily = [], [], []
    for name, config in candidates.items():
        check_stable(config)
        tic = time.perf_counter()
        ens, reference = _ensemble(prior, template, obs, truth, config, members)
        seconds = time.perf_counter() - tic
        grid = inflation_grid(config, *inflations)
        options = [_truth_row(_inflate(ens, g.inflation), reference, prior, per_day=True)
                   for g in grid]
        k = _best(options, tolerance)
        row = {"variant": name, "large": grid[k].inflation.large,
               "small": grid[k].inflation.small, **options[k], "assimilation_s": seconds}
        daily.append(np.asarray(row.pop("daily_score")))
        rows.append(row)
        configs.append(grid[k])
        print(f"{name}: score {row['score']:.4f} with large {row['large']}, small "
              f"{row['small']} ({seconds:.0f} s)", flush=True)
    for row, day in zip(rows, daily, strict=True):
        relative = day / daily[0] - 1
        row["days_better"] = f"{int((relative < 0).sum())}/{relative.size}"
        row["paired"] = (f"{100 * relative.mean():+.1f} % +- "
                         f"{100 * relative.std(ddof=1) / np.sqrt(relative.size):.1f}"
                         if relative.size > 1 else "")
    best = _best(rows, tolerance)
    return configs[best], _ordered(rows, best, ["variant", "large", "small", "days_better",
                                                "paired"])


def _ensemble(prior: Any, template: Any, obs: Any, truth: Any, config: Any,
              members: int) -> tuple[Any, Any]:
    """One assimilation with ``config`` and no inflation, and the truth at its times."""
    import xgenda
    from xgenda.config import Inflation

    plain = replace(config, inflation=Inflation())
    ens = xgenda.assimilate(template, prior, obs, members=members, seed=0, device="cpu",
                            **plain.kwargs()).compute()
    return ens, truth[list(prior.variables)].sel(time=ens.time).load()


def _inflate(ens: Any, inflation: Any) -> Any:
    from xgenda._inflation import inflate_dataset

    return inflate_dataset(ens, inflation)


def _truth_row(ens: Any, reference: Any, prior: Any, per_day: bool = False) -> dict[str, Any]:
    """Scores of ``ens`` against ``reference``: per variable fair CRPS, RMSE of the
    mean and spread/skill; ``score`` the mean CRPS in units of the prior's std and
    ``reliability`` the mean ``|spread/skill - 1|``; with ``per_day`` also
    ``daily_score``, the score of each analysis day."""
    from xgenda.diagnostics.scores import crps, rmse, spread_skill_ratio

    row: dict[str, Any] = {}
    normalized, reliability, daily = [], [], []
    for v in prior.variables:
        c = float(crps(ens[v], reference[v]))
        ss = float(spread_skill_ratio(ens[v], reference[v]))
        row[f"crps_{v}"] = c
        row[f"rmse_{v}"] = float(rmse(ens[v].mean("member"), reference[v]))
        row[f"spread_skill_{v}"] = ss
        normalized.append(c / prior.normalizer.std[v])
        reliability.append(abs(ss - 1))
        if per_day:
            spatial = [d for d in ens[v].dims if d not in ("member", "time")]
            daily.append(crps(ens[v], reference[v], dims=spatial).values
                         / prior.normalizer.std[v])
    row["score"] = float(np.mean(normalized))
    row["reliability"] = float(np.mean(reliability))
    if per_day:
        row["daily_score"] = np.mean(daily, axis=0)
    return row


def _best(rows: list[dict[str, Any]], tolerance: float) -> int:
    """The lowest mean reliability among the rows within ``tolerance`` of the lowest score."""
    scores = np.array([r["score"] for r in rows])
    near = np.flatnonzero(scores <= scores.min() * (1 + tolerance))
    return int(near[np.argmin([rows[i]["reliability"] for i in near])])


def _ordered(rows: list[dict[str, Any]], best: int, first: list[str]) -> list[dict[str, Any]]:
    for i, row in enumerate(rows):
        row["best"] = i == best
    order = [*first, "score", "reliability"]
    return [{k: r[k] for k in order + sorted(set(r) - {*order, "best"}) + ["best"]}
            for r in rows]


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


SEARCHED = {
    "reliability": "- searched: observation-error inflation x churn around the base ",
    "inflation": "- searched: the inflation of the ensemble's anomalies above (`large`) and "
                 "below (`small`) 200 km, one assimilation for all, around the prior's "
                 "recommended configuration ",
    "config": "- searched: named changes (`variant`, see `VARIANTS` in "
              "`benchmarks/calibration.py`) of the sampler, guidance and windows, one "
              "assimilation each with the members' seed 0, every one with its best "
              "inflation of the anomalies above (`large`) and below (`small`) 200 km; "
              "`days_better`: the analysis days on which its score is lower than the first "
              "row's, `paired`: the mean relative difference of the daily score from the "
              "first row's, with its standard error (negative: better); around the "
              "prior's recommended configuration ",
}


def _write(out: Path, info: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Write the results ``out``.json (info and scores) and ``out``.md, and print the latter."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({**info, "scores": rows}, indent=2,
                                                   default=float))
    out.with_suffix(".md").write_text(_markdown(info, rows))
    print(out.with_suffix(".md").read_text())


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
        SEARCHED[info.get("search", "reliability")] + f"`{json.dumps(info['base'])}`",
        f"- selection: lowest mean |spread/skill - 1| among the settings whose CRPS score "
        f"is within {info['crps_tolerance']:.1%} of the lowest (0 %: the lowest CRPS of the "
        "ensemble dressed with the observation error wins)"
        + (f"; chosen anew from the scores of `{info['reselected_from']}`, computed by "
           f"`{info['search_command']}`" if info.get("reselected_from") else ""),
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


def _update_prior(config: Any, source: str, search: str, directory: str | None) -> None:
    """Write ``config`` and where it came from into the config.json of the prior in
    ``directory`` (default: the bundled demo prior) (``metadata["recommended"]``,
    ``metadata["recommended_source"]``). The inflation search starts from the prior's
    recommendation, whose source is kept before it."""
    from xgenda.prior import demo_prior_path

    path = Path(directory or demo_prior_path()) / "config.json"
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
