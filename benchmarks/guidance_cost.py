"""Cost of guided sampling: each guidance method against the unguided denoiser.

For a UNet denoiser (untrained weights of a configurable size: the cost of a call
does not depend on the weights) and synthetic observations (1 % of the pixels as
points, an L4-like blurred SSH product), measures per method:

- the cost of one guided denoiser evaluation relative to one unguided call;
- members x steps per second of a full sampling run (Heun on the Karras schedule,
  or GenDA's DDIM for the ``genda`` row);
- peak memory: the process's peak resident set (each method runs in a fresh
  process) on CPU, ``torch.cuda.max_memory_allocated`` on a GPU.

It also records how far SDA and DPS ensembles are from the exact Kalman posterior of
a Gaussian prior, where MMPS is exact (the correctness test of the engine).

Writes ``benchmarks/results/guidance_cost.md`` and ``.json``.

Usage::

    python benchmarks/guidance_cost.py [--size 64] [--channels 5] [--members 8]
        [--steps 4] [--base-channels 32] [--device auto] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from xgenda.config import DPS, MMPS, SDA, GendaDDIM, Guidance, Heun, NoGuidance, presets

RESULTS = Path(__file__).parent / "results"
#: (label, guidance, sampler class): the timed run uses ``--steps`` steps of the sampler.
METHODS: list[tuple[str, Guidance, type[Heun] | type[GendaDDIM]]] = [
    ("none", NoGuidance(), Heun),
    ("sda (detach)", SDA(detach=True), Heun),
    ("sda", SDA(), Heun),
    ("dps", DPS(), Heun),
    ("mmps cg=1", MMPS(cg_steps=1), Heun),
    ("mmps cg=3", MMPS(cg_steps=3), Heun),
    ("mmps cg=5", MMPS(cg_steps=5), Heun),
    ("genda (sda, DDIM)", presets.genda()["guidance"], GendaDDIM),
]


def _problem(args: argparse.Namespace, device: Any) -> tuple[Any, Any]:
    """A UNet denoiser and an observation operator of the benchmark size."""
    import torch

    from xgenda.diffusion.edm import EDMPrecond
    from xgenda.diffusion.unet import UNet, UNetConfig
    from xgenda.obs.operators import ObservationOperator
    from xgenda.obs.table import ObservationTable

    torch.manual_seed(0)
    size, channels = args.size, args.channels
    config = UNetConfig(in_channels=channels + 1, out_channels=channels, resolution=size,
                        base_channels=args.base_channels, channel_mult=(1, 2, 2, 2),
                        num_blocks=2, attn_resolutions=(size // 4,), dropout=0.0)
    net = EDMPrecond(UNet(config), channels).to(device).eval().requires_grad_(False)
    # EDMPrecond's output layer starts at zero: perturb it so the network is exercised
    for p in net.parameters():
        p.add_(0.01 * torch.randn_like(p))
    rng = np.random.default_rng(0)
    n_points = max(1, size * size // 100)
    fi, fj = rng.uniform(0, size - 1, n_points), rng.uniform(0, size - 1, n_points)
    i0 = np.clip(np.floor(fi).astype(int), 0, size - 2)
    j0 = np.clip(np.floor(fj).astype(int), 0, size - 2)
    di, dj = fi - i0, fj - j0
    points = ObservationTable(
        channel=np.zeros(n_points, int), blur=np.full(n_points, -1), blurs=[],
        index=np.stack([i0 * size + j0, i0 * size + j0 + 1, (i0 + 1) * size + j0,
                        (i0 + 1) * size + j0 + 1], axis=1),
        weight=np.stack([(1 - di) * (1 - dj), (1 - di) * dj, di * (1 - dj), di * dj], 1),
        value=rng.standard_normal(n_points), error=np.full(n_points, 0.1),
        dt_days=np.zeros(n_points), source=np.zeros(n_points, int), names=["points"])
    pix = np.arange(0, size * size, 7)
    one = np.zeros((pix.size, 4))
    one[:, 0] = 1.0
    l4 = ObservationTable(
        channel=np.zeros(pix.size, int), blur=np.zeros(pix.size, int), blurs=[(3.0, 3.0)],
        index=np.stack([pix, 0 * pix, 0 * pix, 0 * pix], 1), weight=one,
        value=rng.standard_normal(pix.size), error=np.full(pix.size, 0.2),
        dt_days=np.zeros(pix.size), source=np.zeros(pix.size, int), names=["l4"])
    table = ObservationTable.concat([points, l4])
    op = ObservationOperator([table], [0] * args.members, (size, size), [1.0] * channels,
                             device=device)
    return net, op


def _measure(label: str, guidance: Guidance, sampler_kind: type[Heun] | type[GendaDDIM],
             args: argparse.Namespace, queue: Any) -> None:
    import torch

    from xgenda._runtime import resolve_device
    from xgenda.diffusion.guidance import guided_denoiser
    from xgenda.diffusion.samplers import run_sampler

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    net, op = _problem(args, device)

    def denoise(x: Any, sigma: Any) -> Any:
        return net(x, sigma)

    guided = guided_denoiser(denoise, op, op.y, op.error, guidance.method, **guidance.params())
    sampler = sampler_kind(steps=args.steps)
    shape = (args.members, args.channels, args.size, args.size)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1)).to(device)
    sigma = torch.tensor(2.0, device=device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def once(fn: Any) -> float:
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - t0

    def unguided_call() -> Any:
        with torch.no_grad():
            return denoise(x, sigma)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    once(unguided_call)  # warm-up
    once(lambda: guided(x, sigma))
    # interleaved pairs: the ratio of each pair cancels slow drifts of a shared machine
    pairs = [(once(unguided_call), once(lambda: guided(x, sigma)))
             for _ in range(args.repeat)]
    unguided = float(np.median([u for u, _ in pairs]))
    call = float(np.median([g for _, g in pairs]))
    ratio = float(np.median([g / u for u, g in pairs]))
    sync()
    t0 = time.perf_counter()
    run_sampler(sampler, guided, x)
    sync()
    run = time.perf_counter() - t0
    evaluations = args.steps if isinstance(sampler, GendaDDIM) else 2 * args.steps - 1
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
        peak_kind = "CUDA max_memory_allocated"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peak_kind = "process peak RSS"
    queue.put({"method": label, "unguided_call_s": unguided, "guided_call_s": call,
               "relative_cost": ratio, "run_s": run,
               "denoiser_evaluations": evaluations,
               "member_steps_per_s_run": args.members * args.steps / run,
               # from the median call time: robust to the load of a shared machine
               "member_steps_per_s": args.members * args.steps / (evaluations * call),
               "peak_memory_mib": peak, "peak_memory_kind": peak_kind,
               "device": str(device), "torch_threads": torch.get_num_threads()})


def _exactness(members: int = 1000) -> list[dict[str, Any]]:
    """Distance of guided ensembles from the Kalman posterior of a Gaussian prior."""
    import torch

    from xgenda.diffusion.guidance import guided_denoiser
    from xgenda.diffusion.samplers import run_sampler
    from xgenda.obs.operators import ObservationOperator
    from xgenda.obs.table import ObservationTable
    from xgenda.testing import GaussianDenoiser, gaussian_covariance

    n, m = 8, 10
    rng = np.random.default_rng(0)
    denoiser = GaussianDenoiser(gaussian_covariance(n, n, 2.5))
    pix = rng.choice(n * n, m, replace=False)
    h = np.eye(n * n)[pix]
    err = np.full(m, 0.1)
    truth = np.linalg.cholesky(denoiser.cov) @ rng.standard_normal(n * n)
    y = h @ truth + err * rng.standard_normal(m)
    one = np.zeros((m, 4))
    one[:, 0] = 1
    table = ObservationTable(channel=np.zeros(m, int), blur=np.full(m, -1), blurs=[],
                             index=np.stack([pix, 0 * pix, 0 * pix, 0 * pix], 1), weight=one,
                             value=y, error=err, dt_days=np.zeros(m),
                             source=np.zeros(m, int), names=["points"])
    mean, cov = denoiser.posterior(h, y, err)
    rows = []
    for label, guidance in [("mmps cg=20", MMPS(cg_steps=20)), ("mmps cg=3", MMPS(cg_steps=3)),
                            ("sda gamma=0.1", SDA(gamma=0.1)), ("dps zeta=1", DPS(zeta=1.0))]:
        op = ObservationOperator([table], [0] * members, (n, n), [1.0])
        guided = guided_denoiser(denoiser, op, op.y, op.error, guidance.method,
                                 **guidance.params())
        noise = torch.randn(members, 1, n, n, generator=torch.Generator().manual_seed(1))
        x = run_sampler(Heun(steps=32), guided, noise).reshape(members, -1).double().numpy()
        rows.append({"method": label, **_distance(x, mean, cov)})
    # the same statistics for exact posterior samples from the same draws: the floor set by
    # sampling noise
    noise = torch.randn(members, n * n, generator=torch.Generator().manual_seed(1)).double()
    exact = mean + noise.numpy() @ np.linalg.cholesky(cov + 1e-12 * np.eye(n * n)).T
    rows.append({"method": "exact samples (reference)", **_distance(exact, mean, cov)})
    return rows


def _distance(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> dict[str, float]:
    sd = np.sqrt(np.diag(cov))
    ratio = x.var(0, ddof=1) / np.diag(cov)
    error = np.abs(x.mean(0) - mean) / sd
    return {"mean_error_max_in_std": float(error.max()),
            "mean_error_max_in_standard_errors": float(error.max() * math.sqrt(len(x))),
            "variance_ratio_min": float(ratio.min()), "variance_ratio_max": float(ratio.max())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=5)
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4, help="sampler steps of the timed run")
    parser.add_argument("--base-channels", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=str(RESULTS / "guidance_cost"))
    args = parser.parse_args(argv)

    ctx = mp.get_context("spawn")
    rows = []
    for label, guidance, sampler_kind in METHODS:
        queue = ctx.Queue()
        proc = ctx.Process(target=_measure, args=(label, guidance, sampler_kind, args, queue))
        proc.start()
        row = queue.get()
        proc.join()
        rows.append(row)
        print(f"{label:18s} x{row['relative_cost']:5.2f} of an unguided call, "
              f"{row['member_steps_per_s']:7.2f} member-steps/s, "
              f"peak {row['peak_memory_mib']:.0f} MiB", flush=True)
    import torch

    torch.set_num_threads(1)  # tiny problem: threads only add overhead
    exact = _exactness()
    for r in exact:
        print(f"{r['method']:14s} mean error <= {r['mean_error_max_in_std']:.3f} posterior std, "
              f"variance ratio {r['variance_ratio_min']:.2f}-{r['variance_ratio_max']:.2f}")

    machine = {"cpu_count": os.cpu_count(), "platform": platform.platform(),
               "python": sys.version.split()[0], "torch": torch.__version__,
               "device": rows[0]["device"], "torch_threads": rows[0]["torch_threads"],
               "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
               "load_average": os.getloadavg()}
    command = "python benchmarks/guidance_cost.py " + " ".join(argv if argv is not None
                                                                else sys.argv[1:])
    setup = {k: getattr(args, k) for k in ("size", "channels", "members", "steps",
                                           "base_channels", "repeat")}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(
        {"command": command.strip(), "machine": machine, "setup": setup, "cost": rows,
         "exactness": exact}, indent=2))
    lines = [
        "# Guidance cost", "",
        f"Command: `{command.strip()}`", "",
        f"Machine: {machine['cpu_count']} CPUs, {machine['platform']}, Python "
        f"{machine['python']}, torch {machine['torch']}, device `{machine['device']}`"
        + (f" ({machine['gpu']})" if machine["gpu"] else "")
        + f", {machine['torch_threads']} torch threads, load average "
          f"{machine['load_average'][0]:.1f} at the end (timings on a shared machine are "
          "indicative).", "",
        f"Setup: UNet denoiser (base {args.base_channels} channels, multipliers (1, 2, 2, 2), "
        f"2 blocks, attention at {args.size // 4} px) on {args.channels} x {args.size} x "
        f"{args.size} states, {args.members} members; {args.size * args.size // 100} point "
        f"observations (bilinear) + {math.ceil(args.size * args.size / 7)} pixels of an "
        "L4-like product (Gaussian blur, 3 px). Relative cost: one guided denoiser "
        "evaluation over one unguided call (no gradients), median of interleaved pairs. "
        f"Member-steps/s: {args.members} members x {args.steps} steps (Heun: 2 steps - 1 "
        "denoiser evaluations; GenDA DDIM: 1 per step) over their time, from the median "
        "call time, and as measured over one full run (sensitive to the load).", "",
        "| method | relative cost of a guided step | member-steps / s | member-steps / s "
        "(one full run) | peak memory (MiB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['method']} | {r['relative_cost']:.2f} | "
                     f"{r['member_steps_per_s']:.2f} | {r['member_steps_per_s_run']:.2f} | "
                     f"{r['peak_memory_mib']:.0f} |")
    lines += ["", f"Peak memory: {rows[0]['peak_memory_kind']} of a fresh process per method "
              "(includes the Python interpreter and torch).", "",
              "## Distance from the exact posterior (Gaussian prior, 8 x 8, 10 observations, "
              "1000 members, 32 Heun steps)", "",
              "MMPS with enough conjugate-gradient steps is exact for a Gaussian prior and "
              "linear observations. One standard error of the mean of 1000 members is 0.032 "
              "posterior std, of a variance ratio 0.045; the last row applies the same "
              "statistics to exact posterior samples made from the same random draws (the "
              "floor set by sampling noise over 64 correlated pixels).", "",
              "| method | max mean error (posterior std) | (standard errors) | variance ratio "
              "min | max |",
              "|---|---:|---:|---:|---:|"]
    for r in exact:
        lines.append(f"| {r['method']} | {r['mean_error_max_in_std']:.3f} | "
                     f"{r['mean_error_max_in_standard_errors']:.1f} | "
                     f"{r['variance_ratio_min']:.2f} | {r['variance_ratio_max']:.2f} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
