"""Member-steps per second of the sampler's network path, variant by variant, and the
fraction of the machine's measured float32 matmul peak that it reaches.

One block's work as the engine does it (:mod:`xgenda._engine`): the bundled demo prior
(or ``--prior``), ``--members`` members of ``--times`` analysis times, ``--steps`` Heun
steps, on :data:`xgenda._determinism.BLOCK_THREADS` torch threads (the engine's setting).
Variants:

- ``unguided-before``: prior sampling with autograd disabled by ``no_grad`` (before);
- ``unguided-after``: the whole loop in ``torch.inference_mode`` (the engine's default
  for ``NoGuidance`` now);
- ``guided``: MMPS (3 CG steps) on 60 point observations per time, one batch per time
  (the default);
- ``guided-batched``: the same with the times of the block in one batch;
- ``guided-channels-last``, ``guided-bf16``: :class:`xgenda.config.Acceleration` options.

The peak is the median rate of a 2048 x 2048 float32 matmul on the same thread count;
network FLOPs are counted by ``torch.utils.flop_counter`` over one run (forward and,
for guidance, backward passes).

Usage::

    python benchmarks/cpu_path.py                       # all variants, writes results
    python benchmarks/cpu_path.py --variant guided --no-write   # one variant (timing pairs)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _flops import CountFlops
from _sections import write_section

RESULTS = Path(__file__).parent / "results"
VARIANTS = ("unguided-before", "unguided-after", "guided", "guided-batched",
            "guided-channels-last", "guided-bf16")


def matmul_peak(threads: int, size: int = 2048, repeats: int = 5) -> float:
    """Median GFLOP/s of a float32 ``size`` x ``size`` matmul on ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    rates = []
    for _ in range(repeats):
        tic = time.perf_counter()
        a @ b
        rates.append(2 * size**3 / (time.perf_counter() - tic) / 1e9)
    return statistics.median(rates)


def workload(prior: Any, variant: str, members: int, times: int, steps: int) -> Any:
    """A function that runs one block of the variant and returns its member-steps."""
    import torch

    from xgenda.config import Acceleration, Heun
    from xgenda.diffusion.edm import accelerate
    from xgenda.diffusion.guidance import guided_denoiser
    from xgenda.diffusion.samplers import run_sampler

    options = {"guided-channels-last": Acceleration(channels_last=True),
               "guided-bf16": Acceleration(bf16=True)}.get(variant, Acceleration())
    den = accelerate(prior.denoiser("cpu"), options)
    channels, size = len(prior.variables), prior.patch_size
    gen = torch.Generator().manual_seed(0)
    idx = torch.randperm(channels * size * size, generator=gen)[:60]
    y = 0.5 * torch.randn(times, 60, generator=gen)
    noise = torch.randn((times * members, channels, size, size), generator=gen)
    sampler = Heun(steps=steps)
    batches = [list(range(times * members))] if variant == "guided-batched" or \
        not variant.startswith("guided") else \
        [list(range(t * members, (t + 1) * members)) for t in range(times)]

    def run() -> int:
        for batch in batches:
            if variant.startswith("unguided"):
                run_sampler(sampler, den, noise[batch], grad=variant == "unguided-before")
                continue
            rows = torch.tensor(batch) // members
            guided = guided_denoiser(den, lambda x: x.flatten(1)[:, idx], y[rows],
                                     torch.full((len(batch), 60), 0.3), "mmps")
            run_sampler(sampler, guided, noise[batch])
        return times * members * steps

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=VARIANTS, action="append",
                        help="variant(s) to run (default: all)")
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--times", type=int, default=2, help="analysis times per block")
    parser.add_argument("--steps", type=int, default=8, help="Heun steps")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prior", default=None, help="prior directory (default: demo prior)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    import torch

    import xgenda
    from xgenda._determinism import BLOCK_THREADS

    torch.set_num_threads(BLOCK_THREADS)
    prior = xgenda.load_demo_prior() if args.prior is None else xgenda.Prior.load(args.prior)
    variants = args.variant or list(VARIANTS)
    peak = matmul_peak(BLOCK_THREADS) if not args.no_write else float("nan")
    rows = []
    for variant in variants:
        run = workload(prior, variant, args.members, args.times, args.steps)
        run()  # warm-up
        seconds = []
        for _ in range(args.repeats):
            tic = time.perf_counter()
            work = run()
            seconds.append(time.perf_counter() - tic)
        median = statistics.median(seconds)
        flops = float("nan")
        if not args.no_write:
            counter = CountFlops()
            # inference mode hides its operations from the counter: count the same
            # arithmetic with autograd merely disabled
            counted = run if variant != "unguided-after" else \
                workload(prior, "unguided-before", args.members, args.times, args.steps)
            with counter:
                counted()
            flops = counter.total
        rate = flops / median / 1e9
        rows.append({"variant": variant, "seconds": median, "member_steps_per_s": work / median,
                     "gflop_per_s": rate, "fraction_of_peak": rate / peak})
        print(f"{variant}: {median:.2f} s, {work / median:.2f} member-steps/s, "
              f"{rate:.1f} GFLOP/s ({rate / peak:.1%} of peak)", flush=True)
    if args.no_write:
        return 0
    info = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared)",
            "torch": torch.__version__, "torch_threads": BLOCK_THREADS, "prior": prior.id,
            "members": args.members, "times": args.times, "steps": args.steps,
            "seeds": "torch.Generator seed 0 (noise, observations)",
            "matmul_peak_gflop_per_s": peak,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "speed_cpu.json").write_text(json.dumps({**info, "rows": rows}, indent=2))
    lines = [
        "## CPU path of the sampler: member-steps per second and fraction of matmul peak", "",
        f"- command: `{info['command']}`",
        f"- machine: {info['machine']}; torch {info['torch']} on {BLOCK_THREADS} thread "
        f"(the engine's block setting); {info['date']}",
        f"- prior `{prior.id}` ({prior.patch_size}x{prior.patch_size}); {args.members} members "
        f"x {args.times} times, {args.steps} Heun steps; guided: MMPS, 60 point "
        "observations per time", f"- float32 matmul peak (2048^2, same threads): "
        f"{peak:.1f} GFLOP/s", "",
        "| variant | s per block | member-steps per s | GFLOP/s | fraction of float32 peak |",
        "|---|---|---|---|---|",
        *[f"| {r['variant']} | {r['seconds']:.2f} | {r['member_steps_per_s']:.2f} | "
          f"{r['gflop_per_s']:.1f} | {r['fraction_of_peak']:.1%} |" for r in rows], "",
    ]
    write_section(RESULTS / "speed.md", "cpu path", "\n".join(lines), "Speed of xgenda")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
