"""Speed of the diffusion prior: training throughput and sampler cost.

For two sizes, the demo prior (5 x 64 x 64) and GenDA's (7 x 128 x 128, ~9.9 M
parameters), measures

- training throughput in images/s: one optimizer step = EDM loss forward, backward,
  gradient clipping and Adam, timed over a few steps after a warm-up step;
- sampler cost in seconds per member per step (one Heun step = two network
  evaluations, except the last step), from an unconditional sampling run.

Writes ``benchmarks/results/prior_speed.md`` and ``.json``.

Usage::

    python benchmarks/prior_speed.py [--device cpu|cuda] [--threads N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from xgenda._runtime import resolve_device
from xgenda.diffusion.edm import EDMPrecond, edm_loss
from xgenda.diffusion.sampling import edm_sample, karras_sigmas
from xgenda.diffusion.unet import UNet, UNetConfig, count_parameters

RESULTS = Path(__file__).parent / "results"


def demo_unet() -> dict:
    """Architecture of the bundled demo prior (read from its train config when present)."""
    config = Path(__file__).parents[1] / "xgenda" / "assets" / "demo_prior" / "train_config.yaml"
    if config.exists():
        import yaml

        return dict(yaml.safe_load(config.read_text())["unet"])
    return {"base_channels": 16, "channel_mult": [1, 2, 4, 4], "num_blocks": 1,
            "attn_resolutions": [16], "dropout": 0.0}


SIZES = {
    "demo (5 x 64 x 64)": {"channels": 5, "resolution": 64, "unet": demo_unet(),
                           "batch": 16, "members": 8},
    "GenDA (7 x 128 x 128)": {"channels": 7, "resolution": 128,
                              "unet": {"base_channels": 64, "channel_mult": [1, 2, 2, 2],
                                       "num_blocks": 2, "attn_resolutions": [16],
                                       "dropout": 0.0},
                              "batch": 4, "members": 2},
}


def build(size: dict, device: torch.device) -> EDMPrecond:
    config = UNetConfig(in_channels=size["channels"] + 1, out_channels=size["channels"],
                        resolution=size["resolution"], **size["unet"])
    return EDMPrecond(UNet(config), size["channels"]).to(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_throughput(size: dict, device: torch.device, steps: int) -> float:
    model = build(size, device)
    on_gpu = device.type == "cuda"
    if on_gpu:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    gen = torch.Generator(device).manual_seed(0)
    res, batch = size["resolution"], size["batch"]
    x = torch.randn(batch, size["channels"], res, res, device=device, generator=gen)
    times = []
    for _ in range(steps + 1):  # the first step warms up (allocations, kernels)
        sync(device)
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_gpu):
            loss = edm_loss(model, x, generator=gen).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        sync(device)
        times.append(time.perf_counter() - start)
    return batch / (sum(times[1:]) / steps)


def sampler_cost(size: dict, device: torch.device, steps: int) -> float:
    model = build(size, device).eval().requires_grad_(False)
    # non-zero output weights, so that the cost is that of a trained network
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1e-3)
    res, members = size["resolution"], size["members"]
    noise = torch.randn(members, size["channels"], res, res, device=device)
    edm_sample(model, noise[:1], karras_sigmas(2, device=device))  # warm-up
    sync(device)
    start = time.perf_counter()
    edm_sample(model, noise, karras_sigmas(steps, device=device))
    sync(device)
    return (time.perf_counter() - start) / (members * steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="torch CPU thread counts to measure (default: all CPUs of the "
                             "process)")
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    train_steps, sample_steps = (2, 3) if args.quick else (4, 6)
    rows = []
    for threads in args.threads or [torch.get_num_threads()]:
        torch.set_num_threads(threads)
        for name, size in SIZES.items():
            params = count_parameters(build(size, torch.device("cpu")).net)
            ips = training_throughput(size, device, train_steps)
            cost = sampler_cost(size, device, sample_steps)
            rows.append({"size": name, "parameters": params, "batch": size["batch"],
                         "threads": threads, "train_images_per_s": ips,
                         "sampler_s_per_member_step": cost, "members": size["members"],
                         "unet": size["unet"]})
            print(f"{name}, {threads} thread(s): {params / 1e6:.2f} M parameters, training "
                  f"{ips:.2f} images/s (batch {size['batch']}), sampler {cost:.4f} s per "
                  "member per Heun step")
    machine = {"device": str(device), "cpu": platform.processor() or platform.machine(),
               "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
               "torch": torch.__version__, "python": platform.python_version(),
               "load_average": os.getloadavg()}
    if device.type == "cuda":
        machine["gpu"] = torch.cuda.get_device_name(device)
    command = "python benchmarks/prior_speed.py " + " ".join(argv if argv is not None
                                                             else sys.argv[1:])
    write_results(rows, machine, command.strip(), device)
    return 0


def write_results(rows: list[dict], machine: dict, command: str, device: torch.device) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "" if device.type == "cpu" else f"_{device.type}"
    (RESULTS / f"prior_speed{suffix}.json").write_text(
        json.dumps({"command": command, "machine": machine, "results": rows}, indent=2))
    lines = [
        "# Diffusion prior speed", "",
        f"Command: `{command}`", "",
        f"Machine: {machine['cpu_count']} CPUs ({machine['cpu']}), device `{machine['device']}`"
        + (f" ({machine['gpu']})" if "gpu" in machine else "")
        + f", torch {machine['torch']}; load average "
        f"at the end {', '.join(f'{v:.1f}' for v in machine['load_average'])} (a shared "
        "machine: other work competes for the CPUs, so treat the figures as lower bounds).", "",
        "| size | parameters | torch threads | training images/s (batch) "
        "| sampler s per member per step |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['size']} | {r['parameters'] / 1e6:.2f} M | {r['threads']} | "
                     f"{r['train_images_per_s']:.2f} ({r['batch']}) | "
                     f"{r['sampler_s_per_member_step']:.4f} |")
    lines += ["", "Training step: EDM loss forward, backward, gradient clipping, Adam "
              "(bf16 autocast and channels_last on CUDA only). Sampler: Heun steps on the "
              "Karras schedule, two network evaluations per step; members sampled in one "
              "batch. Seconds per member for a full sampling run = figure x steps.", ""]
    (RESULTS / f"prior_speed{suffix}.md").write_text("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
