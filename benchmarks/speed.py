"""Cost of guided sampling as the work grows: members, steps, domain size, dask workers.

Uses the bundled demo prior (or ``--prior``) with MMPS guidance on synthetic point
observations of SSH (the analytic test field of :mod:`xgenda.testing`) and times
``template.genda.assimilate(...).compute()`` while one factor varies at a time:

- members (one analysis day);
- sampler steps;
- domain size: the prior's patch, and larger domains covered by overlapping tiles
  denoised jointly at every step;
- dask workers: the threaded scheduler with 1 and 2 workers on 2 analysis days.

The ratio of a guided denoiser evaluation to an unguided call, per method, is measured
by ``benchmarks/guidance_cost.py`` (``results/guidance_cost.md``).
Writes ``benchmarks/results/speed.json`` and the "assimilation cost" section of
``speed.md`` (other sections: ``solver_study.py``, ``cpu_path.py``, ``speed_gpu.py``).

Usage::

    python benchmarks/speed.py [--device auto] [--prior DIR] [--steps 8]
    python benchmarks/speed.py --gpu [--members 24] [--options fp32,bf16,bf16+compile]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _sections import write_section

from xgenda.config import MMPS, Heun

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--prior", default=None)
    parser.add_argument("--steps", type=int, default=8, help="steps when steps do not vary")
    parser.add_argument("--members", type=int, default=4, help="members when they do not vary")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--gpu", action="store_true",
                        help="GPU mode: GenDA's size and the fast preset (speed_gpu.py, "
                        "which takes the other arguments)")
    raw = list(sys.argv[1:] if argv is None else argv)
    if "--gpu" in raw:
        from speed_gpu import main as gpu_main

        return gpu_main([a for a in raw if a != "--gpu"])
    args = parser.parse_args(argv)

    import dask
    import torch

    import xgenda
    from xgenda.testing import point_observations

    if args.threads:
        torch.set_num_threads(args.threads)
    prior = xgenda.load_demo_prior() if args.prior is None else xgenda.Prior.load(args.prior)
    dlon, dlat = prior.res_deg
    size = prior.patch_size

    def template(pixels: int, days: int) -> Any:
        g = xgenda.grid.regular(lon=(-65.0, -65.0 + dlon * pixels),
                                lat=(33.0, 33.0 + dlat * pixels), res_deg=(dlon, dlat),
                                time=pd.date_range("2019-01-01", periods=days, freq="D"))
        field = np.zeros((days, pixels, pixels), dtype="float32")
        return g.assign(ssh=(("time", "lat", "lon"), field)).chunk({"time": 1})

    def timed(tpl: Any, members: int, steps: int, workers: int = 1,
              prior: Any = prior) -> float:
        obs = point_observations(tpl, n=60 * tpl.sizes["time"], var="ssh", seed=1)
        obs["ssh"] = obs["ssh"] * 0.3  # m, an SSH-like amplitude
        ens = tpl.genda.assimilate(prior, obs, members=members, sampler=Heun(steps=steps),
                                   guidance=MMPS(), device=args.device, seed=0)
        tic = time.perf_counter()
        with dask.config.set(scheduler="threads", num_workers=workers):
            ens.compute()
        return time.perf_counter() - tic

    warnings.simplefilter("ignore")
    timed(template(size, 1), 1, 2)  # warm-up: model load, first-call overheads
    rows: list[dict[str, Any]] = []

    def record(factor: str, value: Any, seconds: float, members: int, steps: int,
               days: int) -> None:
        rows.append({"factor": factor, "value": value, "seconds": seconds,
                     "member_steps_per_s": members * steps * days / seconds})
        print(f"{factor}={value}: {seconds:.2f} s", flush=True)

    for m in (1, 2, 4, 8):
        record("members", m, timed(template(size, 1), m, args.steps), m, args.steps, 1)
    for s in (4, 8, 16, 32):
        record("steps", s, timed(template(size, 1), args.members, s), args.members, s, 1)
    # A prior whose normalizer holds a per-pixel (or monthly) mean field only runs on
    # its training grid; the cost of larger domains does not depend on the statistics,
    # so it is measured with the same network and scalar ones (domain-mean means).
    tiled = prior.normalizer.climatology == "none"
    tiler = prior if tiled else prior.with_normalizer(_scalar_twin(prior.normalizer))
    for pixels in (size, size + size // 2, 2 * size):
        record("domain (pixels)", f"{pixels}x{pixels}",
               timed(template(pixels, 1), args.members, args.steps, prior=tiler),
               args.members, args.steps, 1)
    for w in (1, 2):
        record("dask workers (2 days)", w, timed(template(size, 2), args.members, args.steps, w),
               args.members, args.steps, 2)

    device = str(xgenda._runtime.resolve_device(args.device))
    info = {
        "command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "device": device if device == "cpu" else torch.cuda.get_device_name(0),
        "torch_threads": torch.get_num_threads(), "prior": prior.id,
        "patch_size": size, "default_steps": args.steps, "default_members": args.members,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "speed.json").write_text(json.dumps({**info, "rows": rows}, indent=2))
    lines = [
        "## Cost of guided sampling (MMPS) as the work grows", "",
        f"- command: `{info['command']}`",
        f"- machine: {info['machine']}; device: {info['device']}; torch threads: "
        f"{info['torch_threads']}; {info['date']}",
        f"- prior `{prior.id}` ({size}x{size} patch); unless varied: {args.members} members, "
        f"{args.steps} Heun steps, one analysis day, 60 SSH point observations per day", "",
        "| factor | value | wall time (s) | member-steps per s |", "|---|---|---|---|",
        *[f"| {r['factor']} | {r['value']} | {r['seconds']:.2f} | "
          f"{r['member_steps_per_s']:.2f} |" for r in rows], "",
        "Domains larger than the patch are covered by overlapping tiles (a quarter-patch "
        "overlap) denoised jointly at every step" + ("." if tiled else
        "; this prior's normalizer holds a per-pixel mean field that exists only on its "
        "training grid, so the domain rows use the same network with scalar statistics "
        "(the cost does not depend on them).") + " Per-method ratios of a guided step to an "
        "unguided denoiser call: `guidance_cost.md`.", "",
    ]
    write_section(RESULTS / "speed.md", "assimilation cost", "\n".join(lines),
                  "Speed of xgenda")
    print("\n".join(lines))
    return 0


def _scalar_twin(normalizer: Any) -> Any:
    """Statistics without a climatology: the domain mean of each mean field, same std."""
    import xarray as xr

    from xgenda.normalize import Normalizer

    stats = normalizer.to_dataset()
    variables = list(normalizer.std)
    out = xr.Dataset(attrs={**stats.attrs, "climatology": "none"})
    for v in variables:
        out[f"{v}_mean"] = stats[f"{v}_mean"].mean().assign_attrs(stats[f"{v}_mean"].attrs)
        out[f"{v}_std"] = stats[f"{v}_std"]
    return Normalizer(out)


if __name__ == "__main__":
    sys.exit(main())
