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

import csv
import io
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
from diffusers.training_utils import EMAModel
from tqdm import tqdm

from . import seeds
from .artifacts import (
    DiffpruneError,
    atomic_dir,
    code_version,
    device_description,
    write_bytes_atomic,
    write_json_atomic,
)
from .data import to_model_range
from .models import accelerate_cpu, write_unet
from .timestep_loss import noise_prediction_loss


@dataclass
class TrainConfig:
    steps: int = 10_000
    batch_size: int = 64
    lr: float = 2e-4          # the paper's CIFAR recipe
    warmup_steps: int = 200
    grad_clip: float = 1.0
    ema_decay: float = 0.9999  # upper bound; diffusers' EMAModel warms up as (1+s)/(10+s)
    seed: int = 0
    checkpoint_every: int = 500
    log_every: int = 50

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


def batch_indices(n: int, batch_size: int, seed: int, step: int) -> torch.Tensor:
    """Indices of step `step`'s batch: epochs are seeded permutations, so any step is reproducible."""
    per_epoch = max(n // batch_size, 1)
    epoch, pos = divmod(step, per_epoch)
    perm = torch.randperm(n, generator=seeds.generator(seed, seeds.EPOCH, epoch))
    return perm[pos * batch_size:(pos + 1) * batch_size]


def save_checkpoint(ckpt: Path, model, ema: EMAModel, optimizer, state: dict) -> None:
    with atomic_dir(ckpt) as tmp:
        safetensors.torch.save_file({k: v.contiguous().cpu() for k, v in model.state_dict().items()},
                                    tmp / "model.safetensors")
        safetensors.torch.save_file({str(i): p.contiguous().cpu() for i, p in enumerate(ema.shadow_params)},
                                    tmp / "ema.safetensors")
        opt = optimizer.state_dict()
        tensors, slots = {}, {}
        for pid, s in opt["state"].items():
            slots[pid] = []
            for k, v in s.items():
                tensors[f"{pid}.{k}"] = v.contiguous().cpu()
                slots[pid].append(k)
        safetensors.torch.save_file(tensors, tmp / "optimizer.safetensors")
        state = {**state, "optimizer": {"param_groups": opt["param_groups"], "slots": slots},
                 "ema_optimization_step": ema.optimization_step}
        (tmp / "state.json").write_text(json.dumps(state))


def _load_checkpoint(ckpt: Path, model, ema: EMAModel, optimizer) -> dict:
    try:
        state = json.loads((ckpt / "state.json").read_text())
        model.load_state_dict(safetensors.torch.load_file(ckpt / "model.safetensors"), strict=True)
        device = next(model.parameters()).device
        shadow = safetensors.torch.load_file(ckpt / "ema.safetensors", device=str(device))
        ema.shadow_params = [shadow[str(i)] for i in range(len(shadow))]
        ema.optimization_step = state["ema_optimization_step"]
        tensors = safetensors.torch.load_file(ckpt / "optimizer.safetensors")
        opt_state = {int(pid): {k: tensors[f"{pid}.{k}"] for k in keys}
                     for pid, keys in state["optimizer"]["slots"].items()}
        optimizer.load_state_dict({"state": opt_state, "param_groups": state["optimizer"]["param_groups"]})
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise DiffpruneError(f"cannot resume from {ckpt}: {type(e).__name__}: {e}".splitlines()[0]) from None
    return state


# How long a run goes and how often it reports change no weight: a run may resume with others.
_NOT_IDENTITY = ("steps", "checkpoint_every", "log_every")


def _identity(run: dict) -> dict:
    return {**run, "config": {k: v for k, v in run["config"].items() if k not in _NOT_IDENTITY}}


def restore(ckpt: Path, model, ema: EMAModel, optimizer, run: dict, steps: int,
            resume: bool) -> tuple[int, list, float]:
    """Step, log rows and wall time to go on from: the checkpoint `ckpt` if resuming (it must hold
    the same run), else nothing (a checkpoint there is removed when told not to resume)."""
    out = ckpt.parent
    start_step, rows, wall_before = 0, [], 0.0
    if resume and (ckpt / "state.json").is_file():
        state = _load_checkpoint(ckpt, model, ema, optimizer)
        if _identity(state["run"]) != _identity(run):
            raise DiffpruneError(f"{out} holds a run with other parameters; pass another --out or --no-resume")
        start_step, rows, wall_before = state["step"], state["log"], state["wall_time_s"]
    elif resume is False and ckpt.exists():
        import shutil
        shutil.rmtree(ckpt)
    if start_step > steps:
        raise DiffpruneError(f"{out} is already at step {start_step} > steps {steps}")
    return start_step, rows, wall_before


def write_log(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["step", "loss", "lr", "images_seen", "wall_time_s"])
    writer.writeheader()
    writer.writerows(rows)
    write_bytes_atomic(path, buf.getvalue().encode())


def train(model, scheduler, images: torch.Tensor, cfg: TrainConfig, out: str | Path, *,
          run_info: dict | None = None, resume: bool = True, progress: bool = True,
          command: str | None = None):
    """Train `model` on `images` (uint8 pixels, or float latents of a latent model) for cfg.steps;
    write checkpoints, logs and the EMA model to `out`.

    Returns the EMA model. `run_info` (data set, source model, ...) is stored with the run and must
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
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    ema = EMAModel(model.parameters(), decay=cfg.ema_decay)
    start_step, rows, wall_before = restore(ckpt, model, ema, optimizer, run, cfg.steps, resume)

    n = len(images)
    net = acc.prepare_model(model) if world > 1 else model  # DDP: gradients averaged over processes
    mine = slice(rank * cfg.batch_size // world, (rank + 1) * cfg.batch_size // world)
    model.train()
    t0 = time.perf_counter()
    pending = []
    bar = tqdm(range(start_step, cfg.steps), initial=start_step, total=cfg.steps, desc="train",
               disable=not (progress and acc.is_main_process))
    for step in bar:
        lr = cfg.lr * min(1.0, (step + 1) / max(cfg.warmup_steps, 1))
        for group in optimizer.param_groups:
            group["lr"] = lr
        x0 = images[batch_indices(n, cfg.batch_size, cfg.seed, step)]
        x0 = x0 if x0.is_floating_point() else to_model_range(x0)  # uint8 pixels, or an LDM's latents
        gen = seeds.generator(cfg.seed, seeds.STEP, step)
        noise = torch.randn(x0.shape, generator=gen)  # drawn on the CPU: the same on every device
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (x0.shape[0],), generator=gen)
        x0, noise, timesteps = x0[mine].to(device), noise[mine].to(device), timesteps[mine].to(device)
        torch.manual_seed(seeds.derived_seed(cfg.seed, seeds.STEP, step))  # dropout
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
        if (done % cfg.checkpoint_every == 0 or done == cfg.steps) and acc.is_main_process:
            wall = wall_before + time.perf_counter() - t0
            save_checkpoint(ckpt, model, ema, optimizer,
                            {"step": done, "run": run, "log": rows, "wall_time_s": wall})
            write_log(out / "train_log.csv", rows)
    bar.close()

    wall = wall_before + time.perf_counter() - t0
    ema.copy_to(model.parameters())
    model.eval().cpu()
    acc.wait_for_everyone()
    if not acc.is_main_process:
        return model
    with atomic_dir(out / "unet") as tmp:
        write_unet(model, tmp)
    with atomic_dir(out / "scheduler") as tmp:
        scheduler.save_pretrained(tmp)
    write_log(out / "train_log.csv", rows)
    write_json_atomic(out / "cost.json", {
        "steps": cfg.steps, "batch_size": cfg.batch_size, "images_seen": cfg.steps * cfg.batch_size,
        "wall_time_s": round(wall, 1), "device": device_description(), "code_version": version,
        "command": command, **({"processes": world} if world > 1 else {}), **run})
    return model
