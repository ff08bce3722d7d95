"""Benchmark of the OSSE observation simulator (xgenda.osse.observe).

Times ``observe`` on a 365-day nature run at 64 x 64 and 128 x 128, the whole
simulator and each instrument alone, and records the number of observations.
The nature run is :func:`xgenda.datasets.toy_ocean` when it is available, else the
synthetic :func:`xgenda.testing.ocean_dataset` (same schema); the simulator's cost
depends only on the grid and the time span, not on the fields.

Usage::

    python benchmarks/osse_simulator.py [--days 365] [--sizes 64 128] [--repeat 3]

Writes ``benchmarks/results/osse_simulator.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import xgenda
from xgenda.osse import observe

OFF = {"nadirs": 0, "withheld_nadir": None, "swot": False, "sst_cloud_cover": None,
       "l4_sigma_km": {}, "drifters": 0}
INSTRUMENTS = {
    "nadir (4 altimeters)": {**OFF, "nadirs": 4},
    "withheld nadir": {**OFF, "withheld_nadir": "hy2b"},
    "swot": {**OFF, "swot": True},
    "l3 sst (clouds)": {**OFF, "sst_cloud_cover": 0.6},
    "l4 ssh+sst+sss": {**OFF, "l4_sigma_km": None},
    "drifters (20)": {**OFF, "drifters": 20},
}


def nature_run(days: int, size: int) -> tuple[object, str]:
    try:
        from xgenda.datasets import toy_ocean
    except ImportError:
        return xgenda.testing.ocean_dataset(days, size, size, land=False), "testing.ocean_dataset"
    start = time.perf_counter()
    truth = toy_ocean(days, size=size, seed=0).load()
    return truth, f"datasets.toy_ocean ({time.perf_counter() - start:.1f} s to run)"


def best_of(repeat: int, func) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def count(tree) -> dict[str, int]:  # type: ignore[no-untyped-def]
    out = {}
    for node in tree.subtree:
        if not node.has_data:
            continue
        ds = node.to_dataset()
        var = next(v for v in ("ssh", "sst", "sss", "u") if v in ds)
        out[node.path] = int(np.isfinite(ds[var].values).sum())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    load_before = os.getloadavg()
    results = []
    for size in args.sizes:
        truth, source = nature_run(args.days, size)
        total = best_of(args.repeat, lambda: observe(truth, swot=True))  # noqa: B023
        tree = observe(truth, swot=True)
        parts = {name: best_of(args.repeat, lambda kw=kw: observe(truth, **kw))  # noqa: B023
                 for name, kw in INSTRUMENTS.items()}
        row = {"size": size, "days": args.days, "truth": source, "observe_all_s": total,
               "instruments_s": parts, "observations": count(tree)}
        results.append(row)
        print(f"{size}x{size}, {args.days} days ({source}): observe(swot=True) {total:.2f} s")
        for name, seconds in parts.items():
            print(f"    {name:<22s} {seconds:7.3f} s")
        for path, n in row["observations"].items():
            print(f"    {path:<22s} {n:>10d} observed values")

    machine = {"cpu_count": os.cpu_count(), "platform": platform.platform(),
               "processor": platform.processor() or platform.machine(),
               "python": sys.version.split()[0], "numpy": np.__version__,
               "xgenda": xgenda.__version__, "device": "cpu (numpy/scipy, no GPU used)",
               "load_average_1min_before_after": [round(load_before[0], 2),
                                                  round(os.getloadavg()[0], 2)]}
    command = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "osse_simulator.json").write_text(json.dumps(
        {"command": command, "machine": machine, "repeat": args.repeat, "results": results},
        indent=2) + "\n")
    lines = [
        "# OSSE observation simulator benchmark",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine['cpu_count']} CPU cores, {machine['platform']}, "
        f"Python {machine['python']}, numpy {machine['numpy']}, xgenda {machine['xgenda']}  ",
        f"Device: {machine['device']}. Best of {args.repeat} runs (wall clock); 1-min load "
        f"average before/after: {machine['load_average_1min_before_after']} (a shared machine: "
        "other work was running).",
        "Instrument columns: observe() with only that instrument switched on (s). The nature "
        "run time is for information (see the nature-run benchmark).",
        "",
        "| grid | days | nature run | observe(swot=True) (s) | "
        + " | ".join(INSTRUMENTS) + " |",
        "|---|---|---|---|" + "---|" * len(INSTRUMENTS),
    ]
    for r in results:
        lines.append(f"| {r['size']}x{r['size']} | {r['days']} | {r['truth']} | "
                     f"{r['observe_all_s']:.2f} | "
                     + " | ".join(f"{r['instruments_s'][k]:.3f}" for k in INSTRUMENTS) + " |")
    lines += ["", "Observed values per leaf:", "",
              "| grid | " + " | ".join(results[0]["observations"]) + " |",
              "|---|" + "---|" * len(results[0]["observations"])]
    for r in results:
        lines.append(f"| {r['size']}x{r['size']} | "
                     + " | ".join(str(n) for n in r["observations"].values()) + " |")
    (out / "osse_simulator.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'osse_simulator.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
