"""Train the two priors of the currents benchmark: total currents vs decomposed currents.

Both are trained on the same toy-ocean run with winds (seed 0, 1095 days, written by
``scripts/make_demo_training_data.py --winds``), with the same network and settings
(``benchmarks/configs/currents_prior.yaml``), on the same training days:

- ``direct``: channels ``ssh, sst, sss, u, v, uwind, vwind``: the total current is
  learned as it is;
- ``decomposed``: GenDA's state ``ssh, sst, sss, u_res, v_res, uwind, vwind``: an
  Ekman model is fitted on the training days (``xgenda.currents.fit_ekman`` on the
  current minus its geostrophic part), the prior learns the residual current, and the
  Ekman model is saved with the prior.

``benchmarks/osse_currents.py`` then compares the total currents the two priors
reconstruct. Writes ``benchmarks/results/currents_priors_<which>.json`` (for the
decomposed prior with the Ekman fit: ``angle_median_deg`` is counterclockwise from the
wind, so -45 is the toy ocean's ``angle_truth_deg`` = 45 degrees to the right).

Usage::

    python scripts/make_demo_training_data.py /tmp/windy/toy.zarr --winds
    python benchmarks/currents_priors.py decomposed --data /tmp/windy/toy.zarr \\
        --output /tmp/windy/prior_decomposed --checkpoint-dir /tmp/windy/ckpt_decomposed
    python benchmarks/currents_priors.py direct --data /tmp/windy/toy.zarr \\
        --output /tmp/windy/prior_direct --checkpoint-dir /tmp/windy/ckpt_direct
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
import xarray as xr
import yaml

HERE = Path(__file__).parent
CONFIG = HERE / "configs" / "currents_prior.yaml"
RESULTS = HERE / "results"
STATES = {
    "direct": ["ssh", "sst", "sss", "u", "v", "uwind", "vwind"],
    "decomposed": ["ssh", "sst", "sss", "u_res", "v_res", "uwind", "vwind"],
}
VAL_FRACTION = 0.1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=sorted(STATES))
    parser.add_argument("--data", required=True, help="toy-ocean zarr store with winds")
    parser.add_argument("--output", required=True, help="directory of the trained prior")
    parser.add_argument("--checkpoint-dir", required=True)
    parser.add_argument("--steps", type=int, default=None, help="override the config's steps")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)

    import xgenda
    from xgenda.currents import fit_ekman, training_state

    ds = xr.open_zarr(args.data, consolidated=False)
    if "uwind" not in ds:
        raise SystemExit(f"{args.data} has no winds: write it with "
                         "scripts/make_demo_training_data.py --winds")
    times = ds.indexes["time"]
    n_val = int(np.ceil(VAL_FRACTION * times.size))
    train_time = [str(times[0].date()), str(times[-n_val - 1].date())]
    val_time = [str(times[-n_val].date()), str(times[-1].date())]

    cfg = yaml.safe_load(CONFIG.read_text())
    cfg.update(variables=STATES[args.which], train_time=train_time, val_time=val_time,
               checkpoint_dir=args.checkpoint_dir, progress=args.progress)
    if args.steps:
        cfg["steps"] = args.steps

    info: dict = {"which": args.which, "data": args.data, "train_time": train_time,
                  "val_time": val_time, "config": str(CONFIG.relative_to(HERE.parent))}
    model = None
    data = ds
    tic = time.perf_counter()
    if args.which == "decomposed":
        # Ekman fit on the training days only; the toy ocean's Ekman current is linear in
        # the 10 m wind, so the wind (not the stress) is the predictor here
        model = fit_ekman(ds, time_range=tuple(train_time), subtract_geostrophic=True,
                          predictor="wind")
        c = model.coefficients
        info["ekman_fit"] = {
            "amplitude_median": float(c["amplitude"].median()),
            "angle_median_deg": float(c["angle"].median()),
            "amplitude_truth": float(ds.attrs["ekman_amplitude"]),
            "angle_truth_deg": float(ds.attrs["ekman_angle_deg"]),
            "units": str(c["amplitude"].attrs.get("units", "")),
        }
        print("Ekman fit:", info["ekman_fit"], flush=True)
        state_store = Path(args.output).with_name(Path(args.output).name + "_state.zarr")
        if not state_store.exists():
            state = training_state(ds, model).chunk({"time": 1, "lat": -1, "lon": -1})
            tmp = state_store.with_name(state_store.name + ".partial")
            state.to_zarr(tmp, mode="w", consolidated=False)
            os.replace(tmp, state_store)
        data = xr.open_zarr(state_store, consolidated=False)
        info["state_store"] = str(state_store)
    info["prepare_s"] = time.perf_counter() - tic

    tic = time.perf_counter()
    prior = xgenda.train(data, cfg)
    info["train_s"] = time.perf_counter() - tic
    if model is not None:
        prior.ekman_model = model
    prior.save(args.output)
    meta = prior.metadata
    info.update(prior=prior.id, output=args.output, steps=meta.get("steps"),
                images_seen=meta.get("images_seen"),
                final_train_loss=meta.get("final_train_loss"),
                final_val_loss=meta.get("final_val_loss"),
                machine=f"{platform.machine()}, {os.cpu_count()} CPU cores",
                date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                command="python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"currents_priors_{args.which}.json"
    out.write_text(json.dumps(info, indent=2, default=str))
    print(json.dumps(info, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
