"""GPU speed at GenDA's size: an analysis day of the GenDA and the fast preset.

GenDA's configuration: a ~10 M-parameter U-Net (64 base channels, (1, 2, 2, 2), 2 blocks,
attention at 16 px) with random weights (the cost does not depend on them), 7 channels at
128 x 128, 24 members; observations: 2000 random grid points per sample, error 0.1.
Each preset runs one analysis day in batches of (time x member) samples sized to the
device memory as the engine sizes them when ``batch_size`` is None (the peak memory of one
sample is measured first; :func:`xgenda._batching.batch_size_for`), with the network in
float32, bf16 autocast, and bf16 + ``torch.compile`` (+ CUDA graphs on a GPU)
(:class:`xgenda.config.Acceleration`). Reports seconds per analysis day, member-steps per
second, the network's achieved FLOP rate against the measured bf16 (and float32) matmul
peak, and the peak memory per member.

Writes ``benchmarks/results/speed_gpu.json`` and the "gpu" section of ``speed.md``, with
the device's name. ``--tiny --device cpu`` is a smoke test of the script (nothing written).

Usage::

    python benchmarks/speed.py --gpu            # = python benchmarks/speed_gpu.py
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


def matmul_peak(device: Any, dtype: Any, size: int) -> float:
    """Median TFLOP/s of a ``size`` x ``size`` matmul in ``dtype`` on ``device``."""
    import torch

    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    rates = []
    for _ in range(6):
        _sync(device)
        tic = time.perf_counter()
        for _ in range(4):
            a @ b
        _sync(device)
        rates.append(4 * 2 * size**3 / (time.perf_counter() - tic) / 1e12)
    return statistics.median(rates[1:])


def evaluations(sampler: Any) -> int:
    """Network evaluations per sample (Heun: ``2 steps - 1``; the others: ``steps``)."""
    from xgenda.config import Heun

    return 2 * sampler.steps - 1 if isinstance(sampler, Heun) else sampler.steps


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--members", type=int, default=24)
    parser.add_argument("--tiny", action="store_true", help="smoke test: small net, 2 steps")
    parser.add_argument("--options", default="fp32,bf16,bf16+compile",
                        help="comma-separated: fp32, bf16, bf16+compile, compile")
    args = parser.parse_args(argv)

    import torch

    from xgenda._batching import batch_size_for, free_bytes
    from xgenda._runtime import resolve_device
    from xgenda.config import Acceleration, GendaDDIM, presets
    from xgenda.diffusion.edm import EDMPrecond, accelerate
    from xgenda.diffusion.guidance import guided_denoiser
    from xgenda.diffusion.samplers import run_sampler
    from xgenda.diffusion.unet import UNet, UNetConfig, count_parameters

    device = resolve_device(args.device)
    on_gpu = device.type == "cuda"
    name = torch.cuda.get_device_name(device) if on_gpu else f"cpu ({platform.processor()})"
    channels, size = (2, 32) if args.tiny else (7, 128)
    config = UNetConfig(in_channels=channels + 1, out_channels=channels, resolution=size,
                        base_channels=8 if args.tiny else 64, channel_mult=(1, 2, 2, 2),
                        num_blocks=1 if args.tiny else 2, attn_resolutions=(16,), dropout=0.0)
    net = UNet(config)
    params = count_parameters(net)
    base = EDMPrecond(net, channels, 1.0, mask_channel=True).to(device).eval()
    base.requires_grad_(False)
    fast = presets.fast()
    runs = {"genda": (GendaDDIM(steps=2 if args.tiny else 256), presets.genda()["guidance"]),
            "fast": (fast["sampler"] if not args.tiny else type(fast["sampler"])(steps=2),
                     fast["guidance"])}
    n_obs = 200 if args.tiny else 2000
    gen = torch.Generator().manual_seed(0)
    idx = torch.randperm(channels * size * size, generator=gen)[:n_obs].to(device)

    def day(sampler: Any, guidance: Any, den: Any, batch: int) -> float:
        """Seconds for ``args.members`` samples of one day in batches of ``batch``."""
        _sync(device)
        tic = time.perf_counter()
        for start in range(0, args.members, batch):
            b = min(batch, args.members - start)
            y = torch.zeros(b, n_obs, device=device)
            guided = guided_denoiser(den, lambda x: x.flatten(1)[:, idx], y,
                                     torch.full((b, n_obs), 0.1, device=device),
                                     guidance.method, **guidance.params())
            noise = torch.randn((b, channels, size, size), generator=gen).to(device)
            run_sampler(sampler, guided, noise)
        _sync(device)
        return time.perf_counter() - tic

    peak32 = matmul_peak(device, torch.float32, 1024 if args.tiny else 8192)
    peak16 = matmul_peak(device, torch.bfloat16, 1024 if args.tiny else 8192)
    rows = []
    for option in args.options.split(","):
        options = Acceleration(bf16="bf16" in option, compile="compile" in option,
                               cuda_graphs="compile" in option and on_gpu)
        den = accelerate(base, options)
        for preset, (sampler, guidance) in runs.items():
            one = type(sampler)(steps=2)
            # memory of one sample (one guided step), then batches sized to the device
            if on_gpu:
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device) if on_gpu else 0
            day_one = args.members
            args.members, kept = 2, args.members
            day(one, guidance, den, 2)  # warm-up (compiles)
            args.members = kept
            per_sample = ((torch.cuda.max_memory_allocated(device) - before) / 2) if on_gpu \
                else float("nan")
            if on_gpu:
                # the engine's arithmetic (xgenda._batching): the members of the day in
                # even batches that fill 80 % of the free memory
                batch = batch_size_for(free_bytes(device), max(per_sample, 1), 1, day_one)
            else:
                batch = day_one
            seconds = day(sampler, guidance, den, batch)
            counter = CountFlops()
            short = type(sampler)(steps=2)
            with counter:
                args.members, kept = 1, args.members
                day(short, guidance, base, 1)
                args.members = kept
            flops_day = counter.total / evaluations(short) * \
                evaluations(sampler) * args.members
            rate = flops_day / seconds / 1e12
            rows.append({"preset": preset, "option": option, "sampler": sampler.to_dict(),
                         "guidance": guidance.to_dict(), "batch": batch,
                         "s_per_analysis_day": seconds,
                         "member_steps_per_s": args.members * sampler.steps / seconds,
                         "tflop_per_s": rate, "fraction_of_bf16_peak": rate / peak16,
                         "fraction_of_fp32_peak": rate / peak32,
                         "peak_memory_per_member_mib": per_sample / 2**20})
            print(f"{preset} [{option}]: {seconds:.2f} s per analysis day ({args.members} "
                  f"members, batch {batch}), {rate:.2f} TFLOP/s = {rate / peak16:.1%} of bf16 "
                  f"peak, {per_sample / 2**20:.0f} MiB per member", flush=True)
    if args.tiny:
        return 0
    info = {"command": "python " + " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
            "device": name, "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
            "torch": torch.__version__, "parameters": params, "members": args.members,
            "shape": [channels, size, size], "observations_per_sample": n_obs,
            "bf16_matmul_peak_tflop_per_s": peak16, "fp32_matmul_peak_tflop_per_s": peak32,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "speed_gpu.json").write_text(json.dumps({**info, "rows": rows}, indent=2))
    lines = [
        f"## GPU: an analysis day at GenDA's size on {name}", "",
        f"- command: `{info['command']}`; torch {info['torch']}; {info['date']}",
        f"- {params / 1e6:.1f} M-parameter U-Net (random weights), {channels} x {size} x "
        f"{size}, {args.members} members, {n_obs} observations per sample; matmul peak "
        f"bf16 {peak16:.0f} TFLOP/s, float32 {peak32:.0f} TFLOP/s (measured)", "",
        "| preset | network | batch | s per analysis day | member-steps per s | TFLOP/s | "
        "of bf16 peak | MiB per member |", "|---|---|---|---|---|---|---|---|",
        *[f"| {r['preset']} | {r['option']} | {r['batch']} | {r['s_per_analysis_day']:.2f} | "
          f"{r['member_steps_per_s']:.0f} | {r['tflop_per_s']:.2f} | "
          f"{r['fraction_of_bf16_peak']:.1%} | {r['peak_memory_per_member_mib']:.0f} |"
          for r in rows], "",
    ]
    write_section(RESULTS / "speed.md", "gpu", "\n".join(lines), "Speed of xgenda")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
