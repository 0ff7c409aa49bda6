"""Checkpoints of a training run, shared by both training loops (the UNet's in `train`, the
autoencoder's in `autoencoder`): the batch of a step, safetensors + JSON checkpoints written
atomically, resuming from one only when it holds the same run, a stop asked for by a signal, and the
loss log.
"""
from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import safetensors.torch
import torch
from diffusers.training_utils import EMAModel

from . import seeds
from .artifacts import DiffpruneError, atomic_dir, write_bytes_atomic


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


# Fields added to the config later, with the value every run before them had: an older checkpoint
# resumes as the same run.
_ADDED = {"precision": "fp32"}


def _identity(run: dict) -> dict:
    config = {**_ADDED, **run["config"]}
    return {**run, "config": {k: v for k, v in config.items() if k not in _NOT_IDENTITY}}


def restore(ckpt: Path, model, ema: EMAModel, optimizer, run: dict, steps: int,
            resume: bool) -> tuple[int, list, float, list]:
    """Step, log rows, wall time and the losses since the last log row to go on from: the checkpoint
    `ckpt` if resuming (it must hold the same run), else nothing (a checkpoint there is removed when
    told not to resume)."""
    out = ckpt.parent
    start_step, rows, wall_before, pending = 0, [], 0.0, []
    if resume and (ckpt / "state.json").is_file():
        state = _load_checkpoint(ckpt, model, ema, optimizer)
        if _identity(state["run"]) != _identity(run):
            raise DiffpruneError(f"{out} holds a run with other parameters; pass another --out or --no-resume")
        start_step, rows, wall_before = state["step"], state["log"], state["wall_time_s"]
        pending = state.get("pending", [])  # checkpoints before it was kept: the next row averages fewer
    elif resume is False and ckpt.exists():
        import shutil
        shutil.rmtree(ckpt)
    if start_step > steps:
        raise DiffpruneError(f"{out} is already at step {start_step} > steps {steps}")
    return start_step, rows, wall_before, pending


@contextmanager
def stop_requests():
    """While a training loop runs, SIGINT (Ctrl-C) and SIGTERM (`kill`) ask it to stop at the end of
    the step under way, after a checkpoint of it, so a stopped run loses no finished step (a second
    signal stops at once). Yields the list the signals are noted in; the loop checks it each step.
    Outside the main thread (where handlers cannot be set) nothing is installed."""
    requested: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return

    def note(signum, frame):
        if requested:
            raise KeyboardInterrupt
        requested.append(signum)
        print(f"\n{signal.Signals(signum).name}: stopping after this step's checkpoint "
              "(again to stop at once)", file=sys.stderr)

    previous = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def forwarded_stops():
    """`kill -TERM` reaches only the process it names: while a pool of workers runs (`study --jobs`), the
    parent passes it on to them, so each training run under way stops after its checkpoint as it does in
    one process (Ctrl-C reaches the workers already: a terminal signals its whole process group)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum, frame):
        print(f"\n{signal.Signals(signum).name}: passed on to the jobs running (again to stop them at once)",
              file=sys.stderr)
        for child in multiprocessing.active_children():
            os.kill(child.pid, signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


_stopped_here = False  # in a pool's worker: a job of it was stopped


def pool_worker() -> None:
    """A pool worker's initializer: SIGTERM interrupts it as Ctrl-C does, where no training loop (which
    stops after a checkpoint) is under way: atomic writes leave no half-written artifact."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def unless_stopped(fn, *args):
    """Run a pool worker's job unless an earlier job of this worker was stopped: a pool keeps handing its
    workers the jobs queued for them after a stop, and the stop is meant for the whole command."""
    global _stopped_here
    if _stopped_here:
        raise KeyboardInterrupt("not started: the command was stopped")
    try:
        return fn(*args)
    except KeyboardInterrupt:
        _stopped_here = True
        raise


def stopped_at(ckpt: Path, step: int) -> KeyboardInterrupt:
    """What a loop raises once it checkpointed step `step` on a requested stop."""
    return KeyboardInterrupt(f"stopped at step {step}; {ckpt} resumes it (run the same command again)")


def write_log(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["step", "loss", "lr", "images_seen", "wall_time_s"])
    writer.writeheader()
    writer.writerows(rows)
    write_bytes_atomic(path, buf.getvalue().encode())
