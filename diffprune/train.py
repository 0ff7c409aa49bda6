"""The training loop: teachers are trained, and pruned models finetuned, by the same loop.

DDPM epsilon-prediction (diffusers' DDPMScheduler), Adam, gradient clipping, EMA (diffusers'
EMAModel), read top to bottom in `train`. Resumable and exact: everything random at step s (the
data order of its epoch, the timesteps, the noise, dropout) is drawn from generators seeded by
(seed, s), so a run resumed from a checkpoint ends with the same weights as one that never
stopped. Checkpoints are safetensors + JSON, written atomically.

Data parallel under `accelerate launch`: every process draws step s's whole batch and noise and
takes its own slice of them; DDP averages the gradients, so each step is the one-process step up
to the order of floating-point sums (dropout masks aside). The main process alone writes; a
checkpoint holds the global state, so a run resumes under any process count.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from diffusers.training_utils import EMAModel

from . import seeds
from .artifacts import DiffpruneError, code_version, device_description, write_json_atomic
from .checkpoint import batch_indices, restore, save_checkpoint, stop_requests, stopped_at, write_log
from .levers import attention_in_fp32
from .models import DiffusionModel, accelerate_cpu
from .progress import Bar
from .timestep_loss import noise_prediction_loss


def _flag(default, help: str, **argparse):
    """A field that is also a command-line flag of `train`, `finetune` and `autoencoder` (the CLI
    generates them from these fields: one home for each default and its help)."""
    return field(default=default, metadata={"help": help, **argparse})


PRECISIONS = ("fp32", "bf16")


@dataclass
class TrainConfig:
    steps: int = _flag(10_000, "optimizer steps")
    batch_size: int = _flag(64, "global batch (split across accelerate's processes)")
    lr: float = _flag(2e-4, "Adam learning rate, constant after the warm-up (the paper's CIFAR recipe)")
    warmup_steps: int = _flag(200, "linear learning-rate warm-up steps")
    grad_clip: float = _flag(1.0, "gradient norm clip")
    # an upper bound: diffusers' EMAModel warms up as (1+s)/(10+s)
    ema_decay: float = _flag(0.9999, "decay of the weights' moving average (saved)")
    seed: int = _flag(0, "batches and noise of step s are drawn from (seed, s)")
    checkpoint_every: int = _flag(500, "steps between resumable checkpoints")
    log_every: int = _flag(50, "steps between rows of train_log.csv")
    precision: str = _flag("fp32", "bf16: forward passes under autocast, attention in fp32 (faster on CPUs with "
                           "bf16 units)", choices=PRECISIONS, diffusion_only=True)

    def validate(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise DiffpruneError(f"{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise DiffpruneError(f"lr must be > 0, got {self.lr}")
        if self.warmup_steps < 0 or self.grad_clip <= 0:
            raise DiffpruneError("warmup-steps must be >= 0 and grad-clip > 0")
        if self.seed < 0:
            raise DiffpruneError(f"seed must be >= 0, got {self.seed}")
        if not 0 <= self.ema_decay < 1:
            raise DiffpruneError(f"ema-decay must be in [0, 1), got {self.ema_decay}")
        if self.precision not in PRECISIONS:
            raise DiffpruneError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


def ema_span(steps: int, decay: float = TrainConfig.ema_decay) -> float:
    """About how many of its last steps a run's weight average spans at its end, 1 / (1 - d): diffusers'
    EMAModel decays by d = min(decay, (1 + s) / (10 + s)) at step s, so a short run averages few steps."""
    return 1 / (1 - min(decay, (1 + steps) / (10 + steps)))


def train(diffusion: DiffusionModel, images: torch.Tensor, cfg: TrainConfig, out: str | Path, *,
          run_info: dict | None = None, resume: bool = True, progress: bool = True,
          command: str | None = None):
    """Train the UNet of `diffusion` on uint8 `images` (in its space: pixels in [-1, 1], or the
    latents of its autoencoder, computed once) for cfg.steps; write checkpoints, logs and the
    model (its EMA UNet, scheduler and autoencoder) to `out`.

    Returns the EMA UNet. `run_info` (data set, source model, ...) is stored with the run and must
    match on resume; `command` is recorded in cost.json.
    """
    from accelerate import Accelerator

    cfg.validate()
    version = code_version()  # of the code that starts the run, not of whatever is checked out at its end
    out = Path(out)
    ckpt = out / "checkpoint"
    run = {"config": asdict(cfg), **(run_info or {})}
    acc = Accelerator(cpu=accelerate_cpu())  # one process unless started by `accelerate launch`
    rank, world = acc.process_index, acc.num_processes
    if cfg.batch_size % world:
        raise DiffpruneError(f"batch-size {cfg.batch_size} does not split evenly over {world} processes")
    device = acc.device  # the CPU, or this process's GPU
    model, scheduler = diffusion.unet.to(device), diffusion.scheduler
    inputs = diffusion.to_unet_space(images)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    ema = EMAModel(model.parameters(), decay=cfg.ema_decay)
    start_step, rows, wall_before, pending = restore(ckpt, model, ema, optimizer, run, cfg.steps, resume)

    n = len(inputs)
    net = acc.prepare_model(model) if world > 1 else model  # DDP: gradients averaged over processes
    mine = slice(rank * cfg.batch_size // world, (rank + 1) * cfg.batch_size // world)
    model.train()
    t0 = time.perf_counter()
    bf16 = cfg.precision == "bf16"
    fp32_attention_undo = attention_in_fp32(model) if bf16 else None
    bar = Bar(range(start_step, cfg.steps), initial=start_step, total=cfg.steps, desc="train",
               disable=not (progress and acc.is_main_process))
    with stop_requests() as requested:
        for step in bar:
            lr = cfg.lr * min(1.0, (step + 1) / max(cfg.warmup_steps, 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            x0 = inputs[batch_indices(n, cfg.batch_size, cfg.seed, step)]
            gen = seeds.generator(cfg.seed, seeds.STEP, step)
            noise = torch.randn(x0.shape, generator=gen)  # drawn on the CPU: the same on every device
            timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (x0.shape[0],), generator=gen)
            x0, noise, timesteps = x0[mine].to(device), noise[mine].to(device), timesteps[mine].to(device)
            torch.manual_seed(seeds.derived_seed(cfg.seed, seeds.STEP, step))  # dropout
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = noise_prediction_loss(net, scheduler, x0, noise, timesteps)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            ema.step(model.parameters())
            pending.append(acc.reduce(loss.detach(), "mean").item() if world > 1 else loss.item())
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps:
                wall = wall_before + time.perf_counter() - t0
                rows.append({"step": done, "loss": round(float(np.mean(pending)), 6), "lr": lr,
                             "images_seen": done * cfg.batch_size, "wall_time_s": round(wall, 2)})
                bar.set_postfix(loss=f"{rows[-1]['loss']:.4f}")
                pending = []
            if requested:
                acc.set_trigger()
            stop = acc.check_trigger() and done < cfg.steps  # every process stops at the same step
            if (done % cfg.checkpoint_every == 0 or done == cfg.steps or stop) and acc.is_main_process:
                wall = wall_before + time.perf_counter() - t0
                save_checkpoint(ckpt, model, ema, optimizer,
                                {"step": done, "run": run, "log": rows, "pending": pending, "wall_time_s": wall})
                write_log(out / "train_log.csv", rows)
            if stop:
                bar.close()
                if fp32_attention_undo is not None:
                    fp32_attention_undo()
                raise stopped_at(ckpt, done)
    bar.close()
    if fp32_attention_undo is not None:
        fp32_attention_undo()

    wall = wall_before + time.perf_counter() - t0
    ema.copy_to(model.parameters())
    model.eval().cpu()
    acc.wait_for_everyone()
    if not acc.is_main_process:
        return model
    diffusion.write_into(out)
    write_log(out / "train_log.csv", rows)
    write_json_atomic(out / "cost.json", {
        "steps": cfg.steps, "batch_size": cfg.batch_size, "images_seen": cfg.steps * cfg.batch_size,
        "wall_time_s": round(wall, 1), "device": device_description(), "code_version": version,
        # this process's share (a run resumed from a checkpoint): what a plan prices a step by
        "resumed_at_step": start_step, "wall_time_this_run_s": round(wall - wall_before, 1),
        "command": command, **({"processes": world} if world > 1 else {}), **run})
    return model
