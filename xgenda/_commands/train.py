"""``xgenda train --config FILE``: train a diffusion prior (see :class:`xgenda.TrainConfig`)."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

HELP = "Train a diffusion prior from a config file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE",
                        help="YAML file of TrainConfig keys (data, output, checkpoint_dir, ...)")
    parser.add_argument("--data", metavar="PATH", help="zarr store / netCDF file (overrides "
                        "the config's data)")
    parser.add_argument("--output", metavar="DIR", help="where to save the prior (overrides "
                        "the config's output)")
    parser.add_argument("--checkpoint-dir", metavar="DIR", help="checkpoint directory "
                        "(overrides the config's checkpoint_dir)")
    parser.add_argument("--steps", type=int, help="total optimizer steps (overrides the config)")
    parser.add_argument("--max-minutes", type=float, help="stop after this wall time, saving "
                        "a checkpoint and the prior")
    parser.add_argument("--init-from", metavar="DIR", help="start from the network weights of "
                        "this saved prior (fine-tuning; overrides the config's init_from)")
    parser.add_argument("--device", help="auto, cpu, cuda, cuda:N (overrides the config)")
    parser.add_argument("--export-only", action="store_true", help="do not train: save the EMA "
                        "weights of the checkpoint in checkpoint_dir as a prior in output")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (log lines "
                        "only)")


def run(args: argparse.Namespace) -> int:
    from xgenda.training import TrainConfig, export_checkpoint, train

    cfg = TrainConfig.from_yaml(args.config)
    overrides: dict[str, Any] = {"data": args.data, "output": args.output,
                                 "checkpoint_dir": args.checkpoint_dir, "steps": args.steps,
                                 "max_minutes": args.max_minutes, "device": args.device,
                                 "init_from": args.init_from}
    values = cfg.to_dict()
    values.update({k: v for k, v in overrides.items() if v is not None})
    if args.no_progress:
        values["progress"] = False
    cfg = TrainConfig.from_dict(values)
    if cfg.output is None:
        raise ValueError("no output directory: set `output` in the config or pass --output")
    if args.export_only:
        if cfg.checkpoint_dir is None:
            raise ValueError("--export-only needs checkpoint_dir (config or --checkpoint-dir)")
        prior = export_checkpoint(cfg.checkpoint_dir, cfg.output, cfg.data)
        print(f"exported {prior} (step {prior.metadata['steps']}) to {cfg.output}")
        return 0

    def stop(signum: int, frame: Any) -> None:
        # SIGTERM becomes KeyboardInterrupt so that training writes its checkpoint first
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        prior = train(None, cfg)
    except KeyboardInterrupt:
        print("training interrupted; rerun the same command to resume"
              + (f" from {cfg.checkpoint_dir}" if cfg.checkpoint_dir else ""), file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    meta = prior.metadata
    print(f"trained {prior}: {meta['steps']} steps, {meta['images_seen']} images, "
          f"train loss {meta['final_train_loss']}, validation loss {meta['final_val_loss']}, "
          f"{meta['wall_time_s']} s; saved to {cfg.output}")
    return 0
