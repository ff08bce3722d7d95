"""Time the toy-ocean nature run (xgenda.datasets.toy_ocean) and report its statistics.

For each grid size, runs the default spin-up alone, then the spin-up plus a
365-day record, so that the time of the 365 recorded days is the difference.
Runs on the CPU, and on the GPU too when torch sees one. Prints the figures and
writes ``benchmarks/results/nature_run.md`` and ``nature_run.json``.

Each run is ``SIZE:THREADS`` (torch CPU threads, 0 = torch's default); GPU runs
of every size are added when a GPU is present. Usage::

    python benchmarks/nature_run.py                  # 64:1 128:1 64:0, 365 days
    python benchmarks/nature_run.py --runs 64:1 --days 90 --no-write
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
from xgenda.datasets import toy_ocean
from xgenda.grid import EARTH_RADIUS_M, metrics

RESULTS = Path(__file__).parent / "results"


def ssh_spectrum_slope(ds, shortest_km: float = 100.0, longest_km: float = 300.0) -> float:
    """Log-log slope of the isotropic SSH wavenumber spectrum between two wavelengths."""
    f0, g = ds.attrs["f0"], ds.attrs["gravity"]
    _, dy_da = metrics(ds)
    dy = float(dy_da.mean())
    dx = EARTH_RADIUS_M * np.cos(np.deg2rad(ds.attrs["lat0"])) * np.deg2rad(
        float(ds.lon[1] - ds.lon[0]))
    n = ds.sizes["lat"]
    y = (np.arange(n) - (n - 1) / 2) * dy
    u_mean = ds["u"].mean(("lat", "lon")).values[:, None, None]
    # remove the background slope so that the field is periodic like the model's
    ssh = ds["ssh"].values.astype(float) + (f0 / g) * u_mean * y[None, :, None]
    power = (np.abs(np.fft.fft2(ssh)) ** 2).mean(axis=0)
    kmag = np.hypot(np.fft.fftfreq(n, dx)[None, :], np.fft.fftfreq(n, dy)[:, None])
    dk = 1.0 / (n * dy)
    spectrum = np.bincount(np.rint(kmag / dk).astype(int).ravel(), power.ravel())[1 : n // 2]
    k = np.arange(1, n // 2) * dk
    band = (1 / k >= shortest_km * 1e3) & (1 / k <= longest_km * 1e3)
    return float(np.polyfit(np.log(k[band]), np.log(spectrum[band]), 1)[0])


def bench(size: int, days: int, spinup_days: int, device: str, threads: int | None) -> dict:
    load = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    t0 = time.perf_counter()
    toy_ocean(days=1, size=size, seed=0, spinup_days=spinup_days, device=device,
              threads=threads, progress=False)
    spin = time.perf_counter() - t0
    t0 = time.perf_counter()
    ds = toy_ocean(days=days, size=size, seed=0, spinup_days=spinup_days, device=device,
                   threads=threads, progress=False)
    total = time.perf_counter() - t0
    speed = np.hypot(ds["u"], ds["v"])
    daily_max = speed.max(("lat", "lon"))
    ssh_std = ds["ssh"].std(("lat", "lon"))
    sst_anom = ds["sst"] - ds["sst"].mean(("time", "lon"))
    return {
        "size": size,
        "days": days,
        "spinup_days": spinup_days,
        "device": ds.attrs["device"],
        "dtype": ds.attrs["dtype"],
        "threads": threads,
        "load_average_at_start": load,
        "spinup_s": round(spin, 2),
        "total_s": round(total, 2),
        "record_s": round(total - spin, 2),
        "time_step_s_min": round(ds.attrs["time_step_s_min"], 1),
        "time_step_s_max": round(ds.attrs["time_step_s_max"], 1),
        "ssh_std_m": round(float(ssh_std.mean()), 3),
        "ssh_std_range_m": [round(float(ssh_std.min()), 3), round(float(ssh_std.max()), 3)],
        "max_speed_m_s": round(float(daily_max.mean()), 2),
        "max_speed_range_m_s": [round(float(daily_max.min()), 2),
                                round(float(daily_max.max()), 2)],
        "rms_speed_m_s": round(float(np.sqrt((speed**2).mean())), 3),
        "sst_anomaly_std_K": round(float(sst_anom.std()), 2),
        "ssh_spectrum_slope_100_300km": round(ssh_spectrum_slope(ds), 2),
    }


def machine() -> dict:
    import torch

    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "xgenda": xgenda.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    if hasattr(os, "getloadavg"):
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return info


def markdown(info: dict, rows: list[dict], command: str) -> str:
    lines = [
        "# Toy-ocean nature run benchmark",
        "",
        f"Command: `{command}`",
        "",
        "Machine: " + ", ".join(f"{k}={v}" for k, v in info.items()),
        "",
        "`record_s` is the time of the recorded days alone (total minus the spin-up run);"
        " statistics are over the recorded days (seed 0, default parameters).",
        "",
        "`threads`: torch CPU threads (None = torch's default, here all cores). `load`: the"
        " 1-minute load average when the run started (the machine is shared).",
        "",
        "| size | device | dtype | threads | load | days | spin-up (days, s) | record s "
        "| total s | dt min-max s | SSH std m | daily max speed m/s | SSH slope 100-300 km |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['device']} | {r['dtype']} | {r['threads']} "
            f"| {(r['load_average_at_start'] or ['-'])[0]} | {r['days']} "
            f"| {r['spinup_days']}, {r['spinup_s']} | {r['record_s']} | {r['total_s']} "
            f"| {r['time_step_s_min']}-{r['time_step_s_max']} "
            f"| {r['ssh_std_m']} ({r['ssh_std_range_m'][0]}-{r['ssh_std_range_m'][1]}) "
            f"| {r['max_speed_m_s']} ({r['max_speed_range_m_s'][0]}-"
            f"{r['max_speed_range_m_s'][1]}) | {r['ssh_spectrum_slope_100_300km']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=["64:1", "128:1", "64:0"],
                        help="CPU runs as SIZE:THREADS (THREADS 0 = torch's default)")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--spinup-days", type=int, default=180)
    parser.add_argument("--no-gpu", action="store_true", help="skip the GPU even if present")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    import torch

    info = machine()
    print(json.dumps(info, indent=1))
    runs = []
    for spec in args.runs:
        size, _, threads = spec.partition(":")
        runs.append((int(size), "cpu", int(threads or 1) or None))
    if torch.cuda.is_available() and not args.no_gpu:
        runs += [(size, "cuda", None) for size in dict.fromkeys(r[0] for r in runs)]
    command = "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    rows = []
    for device in dict.fromkeys(r[1] for r in runs):  # warm-up: imports, CUDA context
        toy_ocean(days=1, size=16, seed=0, spinup_days=1, device=device, progress=False)
    for size, device, threads in runs:
        row = bench(size, args.days, args.spinup_days, device, threads)
        print(json.dumps(row), flush=True)
        rows.append(row)
        if not args.no_write:  # after every run, so that a long sweep keeps what it has
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / "nature_run.json").write_text(json.dumps(
                {"command": command, "machine": info, "runs": rows}, indent=1) + "\n")
            (RESULTS / "nature_run.md").write_text(markdown(info, rows, command))
    if not args.no_write:
        print(f"wrote {RESULTS / 'nature_run.md'} and nature_run.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
