"""SSH spectral slope of the toy ocean over 4-16 grid spacings: default and smooth damping.

Runs ``xgenda.datasets.toy_ocean`` with the default parameters (weak grid-scale
hyperviscosity, also ``ToyOceanParameters.rough()``) and with
``ToyOceanParameters.smooth()`` (strong: the earlier default) for each seed,
``--spinup-days`` (180) then ``--days`` (120) daily snapshots, on one CPU thread,
plus, for the first seed, the default ocean with each ``--sweep`` hyperviscous time,
and fits a log-log least-squares line to the isotropic SSH wavenumber spectrum
(:func:`xgenda.diagnostics.spectra.isotropic_spectrum`, Hann window, linear
detrend, averaged over every day) between 4 and 16 zonal grid spacings (55-220 km
at 64 x 64; Gulf Stream altimetry gives slopes of about -4 to -5). It also checks
that each run is sane: SSH standard deviation, daily maximum speed, time steps.
Prints the figures and writes ``benchmarks/results/toy_ocean_slope.md``, ``.json``
and ``.png`` (the spectra with ``k^-4`` and ``k^-5`` references;
``toy_ocean_slope_SIZE.*`` for another size than 64). Usage::

    python benchmarks/toy_ocean_slope.py                  # size 64, seeds 0 1, sweep
    python benchmarks/toy_ocean_slope.py --size 128 --seeds 0 --sweep
    python benchmarks/toy_ocean_slope.py --seeds 0 --days 60 --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import nature_run
import numpy as np
import xarray as xr

from xgenda.datasets import ToyOceanParameters, toy_ocean
from xgenda.diagnostics.spectra import isotropic_spectrum
from xgenda.grid import EARTH_RADIUS_M

RESULTS = Path(__file__).parent / "results"
SETTINGS = {"default": ToyOceanParameters(), "smooth": ToyOceanParameters.smooth()}
BAND_SPACINGS = (4, 16)


def zonal_spacing_km(ds: xr.Dataset) -> float:
    """Zonal grid spacing of a toy-ocean run on its beta-plane, km."""
    dlon = np.deg2rad(float(ds.lon[1] - ds.lon[0]))
    return EARTH_RADIUS_M * np.cos(np.deg2rad(ds.attrs["lat0"])) * dlon / 1e3


def ssh_slope(spectrum: xr.DataArray, spacing_km: float,
              band: tuple[float, float] = BAND_SPACINGS) -> tuple[float, int]:
    """Log-log least-squares slope of ``E(k)`` over wavelengths ``band`` grid spacings long.

    Returns the slope and the number of wavenumber bins in the band.
    """
    wavelength = spectrum.wavelength.values
    inside = ((wavelength >= band[0] * spacing_km * (1 - 1e-9))
              & (wavelength <= band[1] * spacing_km * (1 + 1e-9)))
    if inside.sum() < 3:
        raise ValueError(f"only {inside.sum()} spectral bins between {band[0]} and {band[1]} "
                         "grid spacings; use a larger grid")
    k, e = spectrum.freq_r.values[inside], spectrum.values[inside]
    return float(np.polyfit(np.log(k), np.log(e), 1)[0]), int(inside.sum())


def run(name: str, parameters: ToyOceanParameters, size: int, seed: int, days: int,
        spinup_days: int) -> tuple[dict, xr.DataArray]:
    t0 = time.perf_counter()
    ds = toy_ocean(days=days, size=size, seed=seed, spinup_days=spinup_days,
                   parameters=parameters, device="cpu", threads=1, progress=False)
    seconds = time.perf_counter() - t0
    spacing = zonal_spacing_km(ds)
    spectrum = isotropic_spectrum(ds["ssh"]).compute()
    slope, bins = ssh_slope(spectrum, spacing)
    ssh_std = ds["ssh"].std(("lat", "lon"))
    daily_max = np.hypot(ds["u"], ds["v"]).max(("lat", "lon"))
    row = {
        "setting": name,
        "hyperviscous_hours": parameters.hyperviscous_hours,
        "drag_days": parameters.drag_days,
        "size": size,
        "seed": seed,
        "days": days,
        "spinup_days": spinup_days,
        "band_km": [round(BAND_SPACINGS[0] * spacing, 1), round(BAND_SPACINGS[1] * spacing, 1)],
        "band_bins": bins,
        "ssh_slope_4_16_dx": round(slope, 2),
        "ssh_std_m": round(float(ssh_std.mean()), 3),
        "max_speed_m_s": round(float(daily_max.mean()), 2),
        "max_speed_range_m_s": [round(float(daily_max.min()), 2),
                                round(float(daily_max.max()), 2)],
        "time_step_s_min": round(ds.attrs["time_step_s_min"], 1),
        "time_step_s_max": round(ds.attrs["time_step_s_max"], 1),
        "finite": bool(np.isfinite(ds["ssh"].values).all()),
        "run_s": round(seconds, 1),
    }
    return row, spectrum


def machine() -> dict:
    """The nature-run benchmark's machine description, with the date and the load."""
    info = {**nature_run.machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if hasattr(os, "getloadavg"):
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return info


def markdown(info: dict, rows: list[dict], command: str, figure_name: str) -> str:
    lines = [
        "# Toy-ocean SSH spectral slope over 4-16 grid spacings",
        "",
        f"Command: `{command}`",
        "",
        "Machine: " + ", ".join(f"{k}={v}" for k, v in info.items()),
        "",
        "Slope: log-log least-squares fit of the isotropic SSH spectrum "
        "(`xgenda.diagnostics.spectra.isotropic_spectrum`, Hann window, linear detrend, mean "
        "over the recorded days) between 4 and 16 zonal grid spacings. `default` is "
        "`ToyOceanParameters()` (also `.rough()`: the ocean of the demo priors), `smooth` is "
        "`ToyOceanParameters.smooth()` (the earlier default), `sweep` the default with "
        "another `hyperviscous_hours`;"
        " every other parameter is the default. One CPU thread.",
        "",
        "| setting | hyperviscous h | seed | size | days (spin-up) | band km (bins) "
        "| SSH slope | SSH std m | daily max speed m/s | dt min-max s | run s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['setting']} | {r['hyperviscous_hours']:g} | {r['seed']} | {r['size']} "
            f"| {r['days']} ({r['spinup_days']}) | {r['band_km'][0]}-{r['band_km'][1]} "
            f"({r['band_bins']}) | {r['ssh_slope_4_16_dx']} | {r['ssh_std_m']} "
            f"| {r['max_speed_m_s']} ({r['max_speed_range_m_s'][0]}-"
            f"{r['max_speed_range_m_s'][1]}) | {r['time_step_s_min']}-{r['time_step_s_max']} "
            f"| {r['run_s']} |"
        )
    lines += ["", f"![SSH spectra]({figure_name})"]
    return "\n".join(lines) + "\n"


def figure(spectra: dict[tuple[str, int], xr.DataArray], rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    colours = {"default": "tab:red", "smooth": "tab:blue"}
    band_km = rows[0]["band_km"]
    for (name, seed), e in spectra.items():
        if name not in colours:
            continue
        slope = next(r["ssh_slope_4_16_dx"] for r in rows
                     if r["setting"] == name and r["seed"] == seed)
        ax.loglog(e.freq_r, e, color=colours[name], alpha=1.0 if seed == rows[0]["seed"] else 0.4,
                  label=f"{name}, seed {seed} (slope {slope})")
    anchor_k = 1.0 / band_km[1]
    first = next(iter(spectra.values()))
    anchor_e = float(first.interp(freq_r=anchor_k))
    k = np.array([1.0 / band_km[1], 1.0 / band_km[0]])
    for power, style in ((-4, ":"), (-5, "--")):
        ax.loglog(k, anchor_e * (k / anchor_k) ** power, "k" + style, label=f"k^{power}")
    ax.axvspan(1.0 / band_km[1], 1.0 / band_km[0], color="0.9", zorder=0,
               label=f"4-16 grid spacings ({band_km[0]:.0f}-{band_km[1]:.0f} km)")
    ax.set_xlabel("wavenumber (cycles/km)")
    ax.set_ylabel("SSH spectral density (m2 km)")
    ax.set_title(f"Toy-ocean SSH spectra, {rows[0]['size']} x {rows[0]['size']}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--spinup-days", type=int, default=180)
    parser.add_argument("--sweep", type=float, nargs="*", default=[6.0, 24.0, 96.0, 300.0],
                        help="other hyperviscous_hours of the default ocean, first seed only")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    info = machine()
    print(json.dumps(info, indent=1))
    command = "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    rows, spectra = [], {}
    runs = [(name, parameters, seed) for name, parameters in SETTINGS.items()
            for seed in args.seeds]
    runs += [("sweep", ToyOceanParameters(hyperviscous_hours=hours), args.seeds[0])
             for hours in args.sweep]
    for name, parameters, seed in runs:
        row, spectrum = run(name, parameters, args.size, seed, args.days, args.spinup_days)
        print(json.dumps(row), flush=True)
        rows.append(row)
        if name in SETTINGS:
            spectra[name, seed] = spectrum
    if not args.no_write:
        stem = RESULTS / ("toy_ocean_slope" + ("" if args.size == 64 else f"_{args.size}"))
        RESULTS.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".json").write_text(json.dumps(
            {"command": command, "machine": info, "runs": rows}, indent=1) + "\n")
        stem.with_suffix(".md").write_text(markdown(info, rows, command, stem.name + ".png"))
        figure(spectra, rows, stem.with_suffix(".png"))
        print(f"wrote {stem}.md, .json and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
