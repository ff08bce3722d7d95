"""The optimization loop behind :func:`xgenda.train` (see :mod:`xgenda.training`)."""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from xgenda.diffusion.checkpoint import TrainingState, write_checkpoint
from xgenda.diffusion.edm import EDMPrecond, edm_loss
from xgenda.diffusion.unet import UNet, UNetConfig, count_parameters
from xgenda.progress import wanted

__all__ = ["run_training"]

_RECENT = 100  # steps averaged into the reported training loss


def run_training(cfg: Any, unet_config: UNetConfig, normalizer: Any, train_data: Any,
                 val_data: Any, device: torch.device, state: TrainingState | None,
                 info: dict[str, Any], init_weights: Mapping[str, torch.Tensor] | None = None
                 ) -> dict[str, Any]:
    """Train (or continue training) and return the EMA weights and the run's figures.

    The caller seeds torch's global generator (weight init, dropout) inside a fork.
    ``init_weights`` (a network state dict) start the network and its EMA when no
    ``state`` is resumed.
    """
    channels = len(train_data.variables)
    net = UNet(unet_config)
    precond = EDMPrecond(net, channels, cfg.sigma_data, cfg.mask_channel).to(device)
    ema = copy.deepcopy(precond).eval().requires_grad_(False)
    on_gpu = device.type == "cuda"
    memory_format = torch.channels_last if on_gpu and cfg.channels_last else \
        torch.contiguous_format
    precond.to(memory_format=memory_format)  # type: ignore[call-overload]
    ema.to(memory_format=memory_format)  # type: ignore[call-overload]
    optimizer = torch.optim.Adam(precond.parameters(), lr=cfg.lr, betas=cfg.adam_betas,
                                 weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    loss_gen = torch.Generator(device).manual_seed(cfg.seed)
    ny, nx = train_data.ds.sizes["lat"], train_data.ds.sizes["lon"]
    fixed_domain = ny == nx == cfg.patch_size
    land_seen = np.zeros((ny, nx), np.float32) if fixed_domain else None
    step, images, elapsed_before = 0, 0, 0.0
    recent: deque[float] = deque(maxlen=_RECENT)
    val_history: list[list[float]] = []
    if state is None and init_weights is not None:
        net.load_state_dict(init_weights)
        ema.net.load_state_dict(init_weights)
    if state is not None:
        net.load_state_dict(state.model)
        ema.net.load_state_dict(state.ema)
        optimizer.load_state_dict(state.optimizer)
        rng.bit_generator.state = state.numpy_rng
        torch.set_rng_state(state.torch_rng)
        loss_gen.set_state(state.loss_rng.to(loss_gen.get_state().device))
        step, images = state.step, state.images_seen
        elapsed_before = float(state.info.get("elapsed_s", 0.0))
        recent.extend(state.info.get("recent_losses", []))
        val_history = [list(v) for v in state.info.get("val_history", [])]
        if land_seen is not None and state.land_seen is not None:
            land_seen = state.land_seen.astype(np.float32)
    info["parameters"] = count_parameters(net)
    model: Any = torch.compile(precond) if cfg.compile else precond
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_gpu and cfg.bf16)

    def snapshot() -> TrainingState:
        now = elapsed_before + time.perf_counter() - start
        info.update(elapsed_s=now, recent_losses=list(recent), val_history=val_history,
                    train_loss=_mean(recent), val_loss=val_history[-1][1] if val_history else None)
        return TrainingState(
            step=step, images_seen=images, model=_cpu(net.state_dict()),
            ema=_cpu(ema.net.state_dict()), optimizer=optimizer.state_dict(),
            numpy_rng=dict(rng.bit_generator.state), torch_rng=torch.get_rng_state(),
            loss_rng=loss_gen.get_state(), land_seen=land_seen,
            normalizer_stats=normalizer.to_dataset(), info=dict(info))

    def save() -> None:
        if cfg.checkpoint_dir is not None:
            write_checkpoint(cfg.checkpoint_dir, snapshot())

    bar = _progress(cfg, step)
    start = time.perf_counter()
    first_step = step
    try:
        while step < cfg.steps:
            batch = train_data.sample(rng, cfg.batch_size)
            if land_seen is not None:
                np.maximum(land_seen, np.isfinite(batch).all(axis=1).any(axis=0), out=land_seen)
            x = torch.from_numpy(batch).to(device).contiguous(memory_format=memory_format)
            lr = cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup_steps))
            for group in optimizer.param_groups:
                group["lr"] = lr
            precond.train()
            with autocast:
                loss = edm_loss(model, x, p_mean=cfg.p_mean, p_std=cfg.p_std,
                                sigma_cover=cfg.sigma_cover, generator=loss_gen).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(precond.parameters(), cfg.grad_clip)
            optimizer.step()
            _update_ema(ema, precond, min(cfg.ema_decay, (1 + step) / (10 + step)))
            step += 1
            images += cfg.batch_size
            recent.append(loss.item())
            rate = (step - first_step) * cfg.batch_size / (time.perf_counter() - start)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{_mean(recent):.4f}", img_s=f"{rate:.1f}")
            if cfg.log_every and step % cfg.log_every == 0:
                _log(bar, f"step {step}/{cfg.steps} loss {_mean(recent):.4f} lr {lr:.2e} "
                          f"{rate:.1f} img/s")
            if val_data is not None and cfg.val_every and step % cfg.val_every == 0:
                val_history.append([step, _validate(ema, val_data, cfg, device, autocast)])
                _log(bar, f"step {step} validation loss (EMA) {val_history[-1][1]:.4f}")
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                save()
            if cfg.max_minutes is not None and \
                    time.perf_counter() - start > 60.0 * cfg.max_minutes:
                _log(bar, f"stopping after {cfg.max_minutes} min at step {step}")
                break
    except KeyboardInterrupt:
        save()
        _log(bar, f"interrupted at step {step}; checkpoint written to {cfg.checkpoint_dir}")
        raise
    finally:
        if bar is not None:
            bar.close()
    if val_data is not None and cfg.val_every and (not val_history or val_history[-1][0] != step):
        val_history.append([step, _validate(ema, val_data, cfg, device, autocast)])
    final = snapshot()
    if cfg.checkpoint_dir is not None:
        write_checkpoint(cfg.checkpoint_dir, final)
    return {"ema": final.ema, "step": step, "images_seen": images,
            "train_loss": final.info["train_loss"], "val_loss": final.info["val_loss"],
            "val_history": val_history, "parameters": info["parameters"],
            "elapsed_s": final.info["elapsed_s"], "land_seen": land_seen}


def _validate(ema: EDMPrecond, data: Any, cfg: Any, device: torch.device, autocast: Any) -> float:
    """EMA loss on fixed validation patches and noise (comparable across calls)."""
    rng = np.random.default_rng([cfg.seed, 7])
    gen = torch.Generator(device).manual_seed(cfg.seed + 7)
    losses = []
    with torch.no_grad(), autocast:
        for _ in range(cfg.val_batches):
            x = torch.from_numpy(data.sample(rng, cfg.batch_size)).to(device)
            # the log-normal alone (no sigma_cover): losses compare across training stages
            losses.append(float(edm_loss(ema, x, p_mean=cfg.p_mean, p_std=cfg.p_std,
                                         generator=gen).mean()))
    return float(np.mean(losses))


@torch.no_grad()
def _update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
        p_ema.lerp_(p.detach(), 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)


def _cpu(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}


def _mean(values: Any) -> float | None:
    values = list(values)
    return float(np.mean(values)) if values else None


def _progress(cfg: Any, step: int) -> Any:
    if not wanted(None, default=cfg.progress):  # a progress_bars() context wins
        return None

    return tqdm(total=cfg.steps, initial=step, desc="training", unit="step")


def _log(bar: Any, message: str) -> None:
    if bar is not None:
        bar.write(message)
    else:
        print(message, flush=True)
