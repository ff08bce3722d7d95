"""Benchmark of the diagnostics and of the optimal-interpolation baseline.

Times, on a nature run of ``--days`` days at ``--size`` x ``--size``:

- the isotropic spectrum, the PSD-score effective resolution and the
  wavenumber-frequency effective resolution of a reconstruction;
- the tidy ``scores`` table of an 8-member ensemble (CRPS, spread-skill, ...);
- the rank histogram;
- optimal interpolation of the simulated nadir altimetry (``max_obs`` per analysis
  time), and its ODC 2021a along-track scores against the withheld altimeter.

The nature run is :func:`xgenda.datasets.toy_ocean` when it is available, else the
synthetic :func:`xgenda.testing.ocean_dataset`. Usage::

    python benchmarks/diagnostics.py [--days 60] [--size 64] [--max-obs 2000]

Writes ``benchmarks/results/diagnostics.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

import xgenda
from xgenda.baselines import optimal_interpolation


def nature_run(days: int, size: int) -> tuple[xr.Dataset, str]:
    try:
        from xgenda.datasets import toy_ocean
    except ImportError:
        return xgenda.testing.ocean_dataset(days, size, size, land=False), "testing.ocean_dataset"
    return toy_ocean(days, size=size, seed=0).load(), "datasets.toy_ocean"


def timed(func: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = func()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--max-obs", type=int, default=2000)
    args = parser.parse_args()

    truth, source = nature_run(args.days, args.size)
    truth = truth[["ssh"]]
    rng = np.random.default_rng(0)
    ens = xr.concat([truth + 0.02 * rng.standard_normal(truth.ssh.shape) for _ in range(8)],
                    dim="member").chunk({"time": 10})
    rec = ens.mean("member")
    rows: dict[str, float] = {}
    _, rows["isotropic spectrum"] = timed(lambda: rec.genda.diag.isotropic_spectrum("ssh")
                                          .compute())
    lam, rows["effective resolution (isotropic)"] = timed(
        lambda: float(rec.genda.diag.effective_resolution(truth, "ssh")))
    lt, rows["effective resolution (lon, time)"] = timed(
        lambda: rec.genda.diag.effective_resolution(truth, "ssh", kind="lon_time").compute())
    _, rows["scores table, 8 members"] = timed(lambda: ens.genda.diag.scores(truth).compute())
    _, rows["rank histogram, 8 members"] = timed(
        lambda: ens.genda.diag.rank_histogram(truth, "ssh").compute())

    obs = xgenda.osse.observe(truth, nadirs=4,
                              sst_cloud_cover=None, l4_sigma_km={}, drifters=0, seed=0)
    nadir = obs["nadir"].to_dataset()
    oi, rows["optimal interpolation"] = timed(
        lambda: optimal_interpolation(nadir, truth.chunk({"time": 5}),
                                      max_obs=args.max_obs).compute())
    extent = float(truth.genda.diag.isotropic_spectrum("ssh").wavelength.max())
    at, rows["along-track scores"] = timed(lambda: oi.genda.diag.alongtrack_scores(
        obs["withheld/nadir"].to_dataset(), "ssh", segment_km=0.8 * extent,
        time_tolerance="12h").compute())

    meta = {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "cpu_count": os.cpu_count(), "machine": platform.machine(),
        "python": platform.python_version(), "device": "cpu", "nature_run": source,
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
        "days": args.days, "size": args.size, "max_obs": args.max_obs,
        "nadir_obs": int(nadir.sizes["obs"]),
    }
    skill = {"synthetic ensemble effective resolution (km)": lam,
             "lambda_x, lambda_t (deg, days)": [float(lt.lambda_x), float(lt.lambda_t)],
             "OI along-track mu": float(at.mu), "OI along-track sigma": float(at.sigma),
             "OI along-track lambda_x (km)": float(at.lambda_x),
             "along-track segment (km)": float(at.attrs["segment_km"])}
    lines = ["# Diagnostics and OI benchmark", "",
             *(f"- {k}: {v}" for k, v in meta.items()), "", "| step | seconds |", "|---|---|",
             *(f"| {k} | {v:.2f} |" for k, v in rows.items()), "",
             *(f"- {k}: {v}" for k, v in skill.items())]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "diagnostics.md").write_text(text)
    (out / "diagnostics.json").write_text(json.dumps(
        {"meta": meta, "seconds": rows, "skill": skill}, indent=2, default=float))


if __name__ == "__main__":
    main()
