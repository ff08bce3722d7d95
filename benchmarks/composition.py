"""Composed trajectories against the exact space-time prior, on an AR(1) Gaussian field.

A window prior of ``K = 3`` days with its exact Gaussian denoiser (an AR(1)-in-time,
Gaussian-in-space field, :func:`xgenda.testing.gaussian_prior`) is composed into
trajectories of ``L = 5`` and ``7`` days (:class:`xgenda.diffusion.composition.
ComposedDenoiser`, what :class:`xgenda.config.Window` ``trajectory_days`` runs), and
sampled with the same sampler as the exact ``L``-day prior
(:class:`xgenda.testing.GaussianDenoiser` of the ``L``-day covariance):

- unconditional samples: the correlation between the centre day and the days 1, 2, 3
  away (exact: ``rho^lag``), and the variance of a day (exact: 1);
- observations of 6 pixels on the last day of the trajectory (error 0.1): for each
  day, the ensemble mean's projection on the exact Kalman posterior mean (1: the
  information reaches that day in full, 0: not at all), for the composed and the
  exact prior with the same noise.

It measures whether composing 3-day windows carries observations further than the
window, the promise of composition, for a slowly varying field (``rho = 0.985`` per
day, the toy ocean's SSH) and a faster one (``rho = 0.7``). Writes
``benchmarks/results/composition.md`` and ``.json`` (command, seeds, machine).

Usage::

    python benchmarks/composition.py
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import header, run_info

RESULTS = Path(__file__).parent / "results"
SIZE = 8  # pixels per side
LENGTH = 2.5  # spatial correlation length (pixels)
ERROR = 0.1  # observation error (prior std)
PIXELS = (np.array([1, 2, 5, 6, 3, 4]), np.array([1, 5, 2, 6, 3, 0]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000, help="samples per case")
    parser.add_argument("--steps", type=int, default=32, help="Heun steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS / "composition"))
    args = parser.parse_args(argv)

    import torch

    import xgenda._runtime  # noqa: F401 - run_info resolves the device through it

    torch.set_num_threads(1)
    info = run_info(argv, "cpu")
    tic = time.perf_counter()
    rows = []
    for rho in (0.985, 0.7):
        for days in (5, 7):
            rows.append(case(rho, days, args.samples, args.steps, args.seed))
            print(json.dumps(rows[-1]), flush=True)
    info |= {
        "seed": args.seed, "samples": args.samples, "sampler": f"Heun(steps={args.steps})",
        "grid": SIZE, "length_px": LENGTH, "error": ERROR, "window_days": 3,
        "wall_s": time.perf_counter() - tic, "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(info, indent=2))
    out.with_suffix(".md").write_text(markdown(info))
    print(out.with_suffix(".md").read_text())
    return 0


def case(rho: float, days: int, samples: int, steps: int, seed: int) -> dict[str, Any]:
    """Unconditional lag correlations and per-day posterior gains of one (rho, L)."""
    import torch

    from xgenda.config import Heun
    from xgenda.diffusion.composition import ComposedDenoiser
    from xgenda.diffusion.guidance import guided_denoiser
    from xgenda.diffusion.samplers import run_sampler
    from xgenda.testing import (
        GaussianDenoiser,
        ar1_window_covariance,
        gaussian_covariance,
        gaussian_prior,
    )

    n = SIZE * SIZE
    space = gaussian_covariance(SIZE, SIZE, LENGTH)
    _, window = gaussian_prior(SIZE, length=LENGTH, frames=3, correlation=rho)
    exact = GaussianDenoiser(ar1_window_covariance(days, rho, space))
    priors = {"composed": ComposedDenoiser(window, 3, days, 1), "exact": exact}
    sampler = Heun(steps=steps)
    centre = (days - 1) // 2

    def noise(offset: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed + offset)
        return torch.randn((samples, days, SIZE, SIZE), generator=g, dtype=torch.float64)

    row: dict[str, Any] = {"rho": rho, "days": days}
    for name, denoise in priors.items():
        x = run_sampler(sampler, denoise, noise(0), torch.Generator().manual_seed(seed + 1),
                        grad=False).numpy().reshape(samples, days, n)
        a = x[:, centre]
        lags = {}
        for lag in range(1, centre + 1):
            b = x[:, centre + lag]
            corr = (a * b).mean(0) / np.sqrt((a * a).mean(0) * (b * b).mean(0))
            lags[str(lag)] = float(corr.mean())
        row[name] = {"lag_correlation": lags, "day_variance": float(x.var(0).mean())}

    # observations on the last day
    rng = np.random.default_rng(seed)
    ii, jj = PIXELS
    pixels = (days - 1) * n + ii * SIZE + jj
    truth = np.linalg.cholesky(exact.cov) @ rng.standard_normal(days * n)
    y = truth[pixels] + ERROR * rng.standard_normal(ii.size)
    operator = np.zeros((ii.size, days * n))
    operator[np.arange(ii.size), pixels] = 1.0
    mean = exact.posterior(operator, y, np.full(ii.size, ERROR))[0].reshape(days, n)
    index = torch.as_tensor(pixels)
    yt = torch.as_tensor(y)[None].repeat(samples, 1)
    error = torch.full_like(yt, ERROR)
    for name, denoise in priors.items():
        guided = guided_denoiser(denoise, lambda v: v.reshape(v.shape[0], -1)[:, index],
                                 yt, error, "mmps", cg_steps=2 * ii.size)
        x = run_sampler(sampler, guided, noise(2), torch.Generator().manual_seed(seed + 3))
        m = x.detach().numpy().reshape(samples, days, n).mean(0)
        row[name]["gain"] = [float(m[d] @ mean[d] / (mean[d] @ mean[d])) for d in range(days)]
    return row


def markdown(info: dict[str, Any]) -> str:
    lines = [
        *header("Composed trajectories against the exact space-time prior (AR(1) Gaussian "
                "field)", info),
        f"- a window prior of {info['window_days']} days with its exact Gaussian denoiser "
        f"({info['grid']} x {info['grid']} pixels, Gaussian spatial correlation of "
        f"{info['length_px']} pixels, AR(1) in time with lag-one correlation rho), composed "
        "into trajectories of L days (`Window(trajectory_days=L)`), against the exact "
        f"L-day prior; {info['samples']} samples per case, {info['sampler']}, seed "
        f"{info['seed']}; {info['wall_s']:.0f} s",
        "",
        "## Unconditional samples: correlation of the centre day with the days after it",
        "",
        "| rho | L | lag | exact rho^lag | exact prior, sampled | composed |",
        "|---|---|---|---|---|---|",
    ]
    for r in info["rows"]:
        for lag, value in r["composed"]["lag_correlation"].items():
            lines.append(f"| {r['rho']} | {r['days']} | {lag} | {r['rho'] ** int(lag):.3f} | "
                         f"{r['exact']['lag_correlation'][lag]:.3f} | {value:.3f} |")
    lines += ["", "Variance of a day (exact: 1): " + "; ".join(
        f"rho {r['rho']}, L {r['days']}: exact prior {r['exact']['day_variance']:.3f}, "
        f"composed {r['composed']['day_variance']:.3f}" for r in info["rows"]) + ".", "",
        "## Observations on the last day: how much of the exact posterior reaches each day",
        "",
        "Projection of the ensemble mean on the exact Kalman posterior mean, day by day "
        "(1: in full; the last day is the observed one).", "",
        "| rho | L | prior | " + " | ".join(f"day {d}" for d in range(7)) + " |",
        "|---|---|---|" + "---|" * 7]
    for r in info["rows"]:
        for name in ("exact", "composed"):
            gains = [f"{g:.2f}" for g in r[name]["gain"]] + ["-"] * (7 - r["days"])
            lines.append(f"| {r['rho']} | {r['days']} | {name} | " + " | ".join(gains) + " |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
