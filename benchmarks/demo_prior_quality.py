"""Quality of the bundled demo prior against held-out toy-ocean truth.

Draws unconditional samples from the prior and compares them with a toy-ocean nature
run generated with a seed that training never saw:

1. per-variable mean and standard deviation (pooled over members/days and pixels):
   target std within 15 % of the truth's, and mean within 15 % of the truth's std
   (the relative difference of means is meaningless for fields with mean ~0);
2. isotropic SSH and SST spectra (Hann window, linear detrend; averaged over members /
   days): target ratio samples / truth within a factor 2 at every wavelength above 3
   grid spacings;
3. geostrophic consistency: correlation of u, v with the geostrophic currents of the
   same field's SSH, for the samples and for the truth (target: close to the truth's);
4. for a window (space-time) prior: day-to-day consistency between consecutive frames,
   the lag-1 correlation of the anomalies (about the truth's time-mean field) and the
   std of the one-day change, for the samples and for consecutive days of the truth
   (target: the change's std within 15 % of the truth's). Moments, spectra and
   geostrophy pool the frames of every window.

Writes ``benchmarks/results/<name>.md`` and ``.json`` (and a figure), ``<name>``
``demo_prior_quality`` unless ``--name`` says otherwise.

Usage::

    python benchmarks/demo_prior_quality.py [--prior DIR] [--members 64] [--steps 32]
        [--days 365] [--seed 1001] [--ocean smooth] [--name NAME]

``--ocean smooth``: the held-out truth is the ocean of ``ToyOceanParameters.smooth()``
(for a prior trained on it, such as the earlier demo priors).
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
from _common import OCEANS

import xgenda
from xgenda.config import Heun
from xgenda.diagnostics.dynamics import geostrophic_currents
from xgenda.diagnostics.spectra import isotropic_spectrum

RESULTS = Path(__file__).parent / "results"
STD_TOL = 0.15
SPECTRUM_FACTOR = 2.0


def moments(samples: xr.Dataset, truth: xr.Dataset, variables: list[str]) -> list[dict]:
    rows = []
    for v in variables:
        s, t = samples[v].values, truth[v].values
        ms, mt, ss, st = (float(np.nanmean(s)), float(np.nanmean(t)), float(np.nanstd(s)),
                          float(np.nanstd(t)))
        rows.append({"variable": v, "units": truth[v].attrs.get("units", ""),
                     "mean_samples": ms, "mean_truth": mt, "std_samples": ss, "std_truth": st,
                     "std_ratio": ss / st, "mean_diff_over_std": (ms - mt) / st,
                     "std_ok": abs(ss / st - 1) <= STD_TOL,
                     "mean_ok": abs(ms - mt) <= STD_TOL * st})
    return rows


def spectra(samples: xr.Dataset, truth: xr.Dataset, var: str, dx_km: float) -> dict:
    es = isotropic_spectrum(samples[var]).compute()
    et = isotropic_spectrum(truth[var]).compute()
    ratio = es.values / et.values
    wavelength = es.wavelength.values
    keep = wavelength > 3 * dx_km
    return {"variable": var, "wavelength_km": wavelength.tolist(),
            "spectrum_samples": es.values.tolist(), "spectrum_truth": et.values.tolist(),
            "ratio": ratio.tolist(), "min_ratio": float(ratio[keep].min()),
            "max_ratio": float(ratio[keep].max()),
            "ok": bool(np.all((ratio[keep] >= 1 / SPECTRUM_FACTOR)
                              & (ratio[keep] <= SPECTRUM_FACTOR))),
            "units": es.attrs.get("units", "")}


def geostrophic_correlation(ds: xr.Dataset) -> dict[str, float]:
    geo = geostrophic_currents(ds)
    out = {}
    for comp, name in (("u", "u_geo"), ("v", "v_geo")):
        a, b = ds[comp].values.ravel(), geo[name].values.ravel()
        ok = np.isfinite(a) & np.isfinite(b)
        out[comp] = float(np.corrcoef(a[ok], b[ok])[0, 1])
        # regression slope: does the field have the geostrophic amplitude?
        out[f"{comp}_slope"] = float(np.polyfit(b[ok], a[ok], 1)[0])
    return out


def frames_as_members(samples: xr.Dataset, variables: list[str]) -> xr.Dataset:
    """The frames of a window prior's samples as more members: (member * frame, lat, lon)."""
    out = {}
    for v in variables:
        da = samples[v].transpose("member", "frame", "lat", "lon")
        out[v] = (("member", "lat", "lon"), da.values.reshape(-1, *da.shape[2:]), da.attrs)
    return xr.Dataset(out, coords={"lat": samples.lat, "lon": samples.lon})


def day_to_day(samples: xr.Dataset, truth: xr.Dataset, variables: list[str]) -> list[dict]:
    """Lag-1 correlation of the anomalies and std of the one-day change, consecutive
    frames of the samples against consecutive days of the truth."""
    rows = []
    for v in variables:
        clim = truth[v].mean("time").values
        s = samples[v].transpose("member", "frame", "lat", "lon").values - clim
        t = truth[v].transpose("time", "lat", "lon").values - clim
        pairs = {"samples": (s[:, :-1], s[:, 1:]), "truth": (t[:-1], t[1:])}
        row: dict = {"variable": v}
        for key, (a, b) in pairs.items():
            a, b = a.ravel(), b.ravel()
            ok = np.isfinite(a) & np.isfinite(b)
            row[f"lag1_{key}"] = float(np.corrcoef(a[ok], b[ok])[0, 1])
            row[f"change_std_{key}"] = float(np.std(b[ok] - a[ok]))
        row["change_std_ratio"] = row["change_std_samples"] / row["change_std_truth"]
        row["ok"] = abs(row["change_std_ratio"] - 1) <= STD_TOL
        rows.append(row)
    return rows


def figure(samples: xr.Dataset, truth: xr.Dataset, spec: list[dict], dx_km: float,
           path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variables = list(samples.data_vars)
    fig, axes = plt.subplots(2, len(variables) + 1, figsize=(3.0 * (len(variables) + 1), 5.6))
    for k, v in enumerate(variables):
        t = truth[v].isel(time=0).values
        lo, hi = np.nanpercentile(t, [1, 99])
        axes[0, k].imshow(t, origin="lower", vmin=lo, vmax=hi, cmap="RdBu_r")
        axes[0, k].set_title(f"truth {v}")
        axes[1, k].imshow(samples[v].isel(member=0).values, origin="lower", vmin=lo, vmax=hi,
                          cmap="RdBu_r")
        axes[1, k].set_title(f"sample {v}")
    for row, s in enumerate(spec):
        ax = axes[row, -1]
        ax.loglog(s["wavelength_km"], s["spectrum_truth"], "k", label="truth")
        ax.loglog(s["wavelength_km"], s["spectrum_samples"], "C1", label="samples")
        ax.axvline(3 * dx_km, color="0.6", lw=0.8, ls="--", label="3 grid spacings")
        ax.invert_xaxis()
        ax.set_xlabel("wavelength (km)")
        ax.set_title(f"{s['variable']} spectrum")
        ax.legend(fontsize=7)
    for ax in axes[:, :-1].ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", default=None, help="prior directory (default: the demo)")
    parser.add_argument("--members", type=int, default=64)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--days", type=int, default=365, help="days of held-out truth")
    parser.add_argument("--seed", type=int, default=1001, help="seed of the held-out truth")
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--ocean", choices=sorted(OCEANS), default="default",
                        help="the toy ocean of the truth: `smooth` is "
                             "ToyOceanParameters.smooth(), the ocean of the earlier priors")
    parser.add_argument("--name", default="demo_prior_quality",
                        help="stem of the result files under benchmarks/results/")
    args = parser.parse_args(argv)
    prior = xgenda.load_demo_prior() if args.prior is None else xgenda.Prior.load(args.prior)
    variables = prior.variables

    start = time.perf_counter()
    ocean = args.ocean
    truth = xgenda.datasets.toy_ocean(days=args.days, size=prior.patch_size, seed=args.seed,
                                      **OCEANS[ocean])
    truth = truth[variables].compute()
    t_truth = time.perf_counter() - start
    start = time.perf_counter()
    samples = prior.sample(args.members, seed=args.sample_seed, sampler=Heun(steps=args.steps),
                           device="cpu", batch_size=16)
    t_sample = time.perf_counter() - start
    # samples sit on the prior's reference coordinates; put them on the truth's grid
    samples = samples.assign_coords(lat=truth.lat.values, lon=truth.lon.values)
    for name in ("lat", "lon"):
        samples[name].attrs = dict(truth[name].attrs)

    dx_km = float(np.mean(prior.spacing_km))
    consecutive = None
    if prior.frames > 1:
        consecutive = day_to_day(samples, truth, variables)
        samples = frames_as_members(samples, variables)
    rows = moments(samples, truth, variables)
    spec = [spectra(samples, truth, v, dx_km) for v in ("ssh", "sst") if v in variables]
    geo = {"samples": geostrophic_correlation(samples), "truth": geostrophic_correlation(truth)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    figure(samples, truth, spec, dx_km, RESULTS / f"{args.name}.png")

    command = "python benchmarks/demo_prior_quality.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    result = {"command": command.strip(), "name": args.name, "prior_id": prior.id,
              "frames": prior.frames, "prior_metadata": {
        k: prior.metadata.get(k) for k in ("steps", "images_seen", "final_train_loss",
                                           "final_val_loss", "wall_time_s")},
        "truth": {"days": args.days, "seed": args.seed, "size": prior.patch_size,
                  "ocean": ocean},
        "members": args.members, "steps": args.steps, "moments": rows, "spectra": spec,
        "geostrophic_correlation": geo, "day_to_day": consecutive,
        "timing_s": {"truth": round(t_truth, 1), "sampling": round(t_sample, 1)},
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version()}}
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=1))
    text = report(result)
    (RESULTS / f"{args.name}.md").write_text(text)
    print(text)
    return 0


def report(r: dict) -> str:
    def mark(ok: bool) -> str:
        return "met" if ok else "NOT met"

    lines = [
        "# Demo prior quality" if r.get("frames", 1) == 1
        else f"# Window prior quality ({r['frames']} consecutive days)", "",
        f"Command: `{r['command']}`", "",
        f"Prior `{r['prior_id']}` ({r['prior_metadata']['steps']} steps, "
        f"{r['prior_metadata']['images_seen']} images seen). {r['members']} unconditional "
        f"samples ({r['steps']} Heun steps, {r['timing_s']['sampling']} s on CPU) vs "
        f"{r['truth']['days']} days of held-out toy-ocean truth (seed {r['truth']['seed']}, "
        f"{r['truth']['size']} x {r['truth']['size']}"
        + (", the smooth ocean of `ToyOceanParameters.smooth()`"
           if r['truth'].get('ocean') == "smooth" else "") + ").", "",
        "## Mean and standard deviation (pooled over members/days and pixels)", "",
        "| variable | units | mean samples | mean truth | (diff)/std truth | std samples "
        "| std truth | std ratio | std within 15 % | mean within 15 % of std |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in r["moments"]:
        lines.append(
            f"| {m['variable']} | {m['units']} | {m['mean_samples']:.4g} | {m['mean_truth']:.4g} "
            f"| {m['mean_diff_over_std']:+.3f} | {m['std_samples']:.4g} | {m['std_truth']:.4g} "
            f"| {m['std_ratio']:.3f} | {mark(m['std_ok'])} | {mark(m['mean_ok'])} |")
    lines += ["", "## Isotropic spectra (samples / truth, wavelengths above 3 grid spacings)", "",
              "| variable | min ratio | max ratio | within a factor 2 |", "|---|---|---|---|"]
    for s in r["spectra"]:
        lines.append(f"| {s['variable']} | {s['min_ratio']:.3f} | {s['max_ratio']:.3f} | "
                     f"{mark(s['ok'])} |")
    for s in r["spectra"]:
        lines += ["", f"{s['variable']} ratio by wavelength (km): " + ", ".join(
            f"{w:.0f}: {q:.2f}" for w, q in zip(s["wavelength_km"], s["ratio"], strict=True))]
    g = r["geostrophic_correlation"]
    lines += ["", "## Geostrophic consistency", "",
              "Correlation (and regression slope) of u, v with the geostrophic currents of the "
              "same field's SSH.", "",
              "| | corr(u, u_geo) | corr(v, v_geo) | slope u | slope v |", "|---|---|---|---|---|",
              f"| samples | {g['samples']['u']:.3f} | {g['samples']['v']:.3f} | "
              f"{g['samples']['u_slope']:.3f} | {g['samples']['v_slope']:.3f} |",
              f"| truth | {g['truth']['u']:.3f} | {g['truth']['v']:.3f} | "
              f"{g['truth']['u_slope']:.3f} | {g['truth']['v_slope']:.3f} |", "",
              ""]
    if r.get("day_to_day"):
        lines += ["## Day-to-day consistency (consecutive frames vs consecutive days)", "",
                  "| variable | lag-1 corr samples | lag-1 corr truth | change std samples "
                  "| change std truth | ratio | within 15 % |", "|---|---|---|---|---|---|---|"]
        for d in r["day_to_day"]:
            lines.append(f"| {d['variable']} | {d['lag1_samples']:.3f} | {d['lag1_truth']:.3f} "
                         f"| {d['change_std_samples']:.4g} | {d['change_std_truth']:.4g} | "
                         f"{d['change_std_ratio']:.3f} | {mark(d['ok'])} |")
        lines.append("")
    lines += [f"Figure: `benchmarks/results/{r.get('name', 'demo_prior_quality')}.png` "
              "(truth and sample maps, spectra).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
