"""Peak memory per member of a guided analysis at 64x64 and 128x128, and the cost of a
global daily analysis at 1/12 deg extrapolated from the measured per-tile cost.

Each measurement runs in a fresh process (``--child``): one analysis day with MMPS and
the fast preset's sampler on the bundled demo prior (128x128 is covered by its 64x64
tiles with scalar statistics, as in ``speed.py``), and reports the process's peak
resident memory. The peak per member is the slope between 1 and 4 members.

Writes ``benchmarks/results/speed_scale.json`` and the "scale-out" section of
``speed.md``.

Usage::

    python benchmarks/scale_memory.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _sections import write_section

RESULTS = Path(__file__).parent / "results"
#: Ocean fraction of the globe and its area on a 1/12 deg grid (4320 x 2160 cells).
OCEAN_FRACTION = 0.71
GLOBAL_CELLS = 4320 * 2160


def child(pixels: int, members: int) -> dict[str, Any]:
    import warnings

    import dask
    import numpy as np
    import pandas as pd
    from speed import _scalar_twin

    import xgenda
    from xgenda.config import MMPS, presets
    from xgenda.testing import point_observations

    warnings.simplefilter("ignore")
    prior = xgenda.load_demo_prior()
    if pixels != prior.patch_size:
        prior = prior.with_normalizer(_scalar_twin(prior.normalizer))
    dlon, dlat = prior.res_deg
    g = xgenda.grid.regular(lon=(-65.0, -65.0 + dlon * pixels), lat=(33.0, 33.0 + dlat * pixels),
                            res_deg=(dlon, dlat), time=pd.date_range("2019-01-01", periods=1))
    tpl = g.assign(ssh=(("time", "lat", "lon"), np.zeros((1, pixels, pixels), "float32")))
    obs = point_observations(tpl, n=60, var="ssh", seed=1)
    obs["ssh"] = obs["ssh"] * 0.3
    sampler = presets.fast()["sampler"]
    tic = time.perf_counter()
    with dask.config.set(scheduler="synchronous"):
        tpl.genda.assimilate(prior, obs, members=members, sampler=sampler, guidance=MMPS(),
                             device="cpu", seed=0).compute()
    seconds = time.perf_counter() - tic
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    return {"pixels": pixels, "members": members, "peak_bytes": peak, "seconds": seconds,
            "sampler": sampler.to_dict()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, type=int, metavar=("PIXELS", "MEMBERS"))
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    runs = []
    for pixels in (64, 128):
        for members in (1, 4):
            out = subprocess.run([sys.executable, __file__, "--child", str(pixels),
                                  str(members)], capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(runs[-1], flush=True)
    rows = []
    for pixels in (64, 128):
        one, four = (r for r in runs if r["pixels"] == pixels)
        rows.append({"pixels": pixels, "peak_1_member_mib": one["peak_bytes"] / 2**20,
                     "peak_4_members_mib": four["peak_bytes"] / 2**20,
                     "per_member_mib": (four["peak_bytes"] - one["peak_bytes"]) / 3 / 2**20,
                     "s_per_member_day": four["seconds"] / 4})
    # one 64x64 analysis is one tile: the per-tile cost; tiles overlap by a quarter patch
    tile = rows[0]["s_per_member_day"]
    stride = 64 - 16
    tiles = OCEAN_FRACTION * GLOBAL_CELLS / stride**2
    info = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared)",
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "sampler": runs[0]["sampler"], "tiles_global_1_12deg": tiles,
            "per_tile_member_day_s": tile,
            "global_day_24_members_core_hours": tiles * 24 * tile / 3600}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "speed_scale.json").write_text(json.dumps({**info, "runs": runs, "rows": rows},
                                                         indent=2))
    lines = [
        "## Scale-out: memory per member and a global daily analysis", "",
        f"- command: `{info['command']}`", f"- machine: {info['machine']}; {info['date']}",
        f"- one analysis day, MMPS, sampler `{json.dumps(info['sampler'])}`, demo prior, one "
        "process per measurement (synchronous scheduler, one torch thread)", "",
        "| domain | peak RSS, 1 member (MiB) | peak RSS, 4 members (MiB) | per member (MiB) | "
        "s per member-day |", "|---|---|---|---|---|",
        *[f"| {r['pixels']}x{r['pixels']} | {r['peak_1_member_mib']:.0f} | "
          f"{r['peak_4_members_mib']:.0f} | {r['per_member_mib']:.1f} | "
          f"{r['s_per_member_day']:.2f} |" for r in rows], "",
        f"A global daily analysis at 1/12 deg: {OCEAN_FRACTION:.0%} of 4320 x 2160 cells in "
        f"64x64 tiles overlapping by 16 px (stride {stride}): about {tiles:,.0f} tiles. At "
        f"the measured {tile:.2f} s per tile per member-day on one core of this machine, 24 "
        f"members cost {info['global_day_24_members_core_hours']:,.0f} core-hours per "
        "analysis day (tiles of a joint domain are denoised together, so this is the cost "
        "of independent tiles; joint tiling adds the overlap once more per neighbour).", "",
    ]
    write_section(RESULTS / "speed.md", "scale-out", "\n".join(lines), "Speed of xgenda")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
