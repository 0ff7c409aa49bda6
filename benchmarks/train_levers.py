"""Seconds per training step under each lever a user would try on a CPU (issue "Pruning that pays in
seconds", part 3): fp32 eager (the study's step today), bf16 autocast (attention in fp32, the
library's `--precision bf16`), bf16 with attention in bf16 too, channels-last, and torch.compile.

Each lever times the training step's arithmetic (forward, loss, backward, gradient clip, Adam) on
the Fashion-MNIST teacher's architecture at the study's batch and thread count, the levers in
alternation round by round so that a drift of the machine's speed touches them alike; the median
per lever and its speed-up against fp32, paired by round. Then torch.profiler's self CPU time by
operator over three steps of fp32 and of bf16 (attention fp32): which operators bf16 speeds up and
which hold the step back. Last, the library's own `train` loop (EMA, data indexing and logging
included) at fp32 and bf16, for the number a study run sees.
Run it alone: timings beside other work mean nothing. Writes data/results/train_levers.json.

    .venv/bin/python benchmarks/train_levers.py [--batch 64] [--threads 1] [--rounds 5] [--steps 8] [--no-compile]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

from diffprune.artifacts import code_version, device_description, write_json_atomic
from diffprune.levers import attention_in_fp32
from diffprune.models import DiffusionModel
from diffprune.paths import RESULTS_DIR
from diffprune.timestep_loss import noise_prediction_loss
from diffprune.train import TrainConfig, train
from diffprune.unet import build_unet, default_scheduler

LEVERS = {  # name: (autocast dtype, attention in fp32, channels-last, compile)
    "fp32": (None, False, False, False),
    "bf16 (attention fp32)": (torch.bfloat16, True, False, False),
    "bf16 (attention bf16)": (torch.bfloat16, False, False, False),
    "fp32 channels-last": (None, False, True, False),
    "bf16 (attention fp32) channels-last": (torch.bfloat16, True, True, False),
    "fp32 compiled": (None, False, False, True),
    "bf16 (attention fp32) compiled": (torch.bfloat16, True, False, True),
}


def stepper(lever, batch: int, size: int):
    """One training step's arithmetic under `lever`, ready to time (warmed up, compiled if asked)."""
    dtype, fp32_attention, channels_last, compiled = lever
    scheduler = default_scheduler()
    model = build_unet("small", 1, size, seed=0).train()
    if fp32_attention:
        attention_in_fp32(model)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    net = torch.compile(model) if compiled else model
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    g = torch.Generator().manual_seed(0)

    def step() -> None:
        x0 = torch.randn(batch, 1, size, size, generator=g).contiguous(memory_format=fmt)
        noise = torch.randn(batch, 1, size, size, generator=g).contiguous(memory_format=fmt)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (batch,), generator=g)
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            loss = noise_prediction_loss(net, scheduler, x0, noise, t)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    for _ in range(3):  # warm-up (and compilation)
        step()
    return step


def by_operator(step, top: int = 10) -> dict[str, float]:
    """Self CPU seconds per step by operator, over three steps."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            step()
    rows = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    return {e.key: round(e.self_cpu_time_total / 3e6, 4) for e in rows[:top]}


def loop_seconds(precision: str, batch: int, steps: int, size: int) -> float:
    """Seconds per step of the library's `train` (its own wall time over `steps` after 3 warm-up steps)."""
    images = torch.randint(0, 256, (2048, 1, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as d:
        model = DiffusionModel(build_unet("small", 1, size, seed=0), default_scheduler())
        cfg = TrainConfig(steps=3, batch_size=batch, warmup_steps=0, checkpoint_every=10_000, log_every=1,
                          precision=precision)
        train(model, images, cfg, d, progress=False)
        start = time.perf_counter()
        cfg.steps = 3 + steps
        train(model, images, cfg, d, progress=False)  # resumes at step 3
        return (time.perf_counter() - start) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64, help="the study's finetune and teacher batch")
    ap.add_argument("--threads", type=int, default=1, help="the study's jobs run one thread each")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of every lever in alternation")
    ap.add_argument("--steps", type=int, default=8, help="timed steps per lever and round (median taken)")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile levers (slow to compile)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    size = 28  # Fashion-MNIST
    levers = {k: v for k, v in LEVERS.items() if not (a.no_compile and v[3])}
    steps = {name: stepper(lever, a.batch, size) for name, lever in levers.items()}
    per_round = {name: [] for name in levers}
    for r in range(a.rounds):
        for name, step in steps.items():
            times = []
            for _ in range(a.steps):
                start = time.perf_counter()
                step()
                times.append(time.perf_counter() - start)
            per_round[name].append(statistics.median(times))
        print(f"round {r + 1}/{a.rounds}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in per_round.items()), flush=True)
    rows = []
    for name, times in per_round.items():
        speedups = [f / t for f, t in zip(per_round["fp32"], times, strict=True)]
        rows.append({"lever": name, "seconds_per_step": statistics.median(times), "per_round": times,
                     "speedup": statistics.median(speedups), "speedup_low": min(speedups),
                     "speedup_high": max(speedups)})
    operators = {name: by_operator(steps[name]) for name in ("fp32", "bf16 (attention fp32)", "bf16 (attention bf16)")}
    loop = {p: loop_seconds(p, a.batch, 3 * a.steps, size) for p in ("fp32", "bf16")}
    out = {"what": "seconds per training step of the Fashion-MNIST teacher's architecture (small preset, 1x28x28)",
           "batch": a.batch, "threads": a.threads, "rounds": a.rounds, "steps_per_round": a.steps,
           "levers": rows, "operators_seconds_per_step": operators, "train_loop_seconds_per_step": loop,
           "train_loop_speedup_bf16": loop["fp32"] / loop["bf16"],
           "load_before": os.getloadavg()[0], "device": device_description(), "code_version": code_version(),
           "torch": torch.__version__, "cpu_bf16": _cpu_flags()}
    write_json_atomic(RESULTS_DIR / "train_levers.json", out)
    for r in rows:
        print(f"{r['lever']:40s} {r['seconds_per_step']:.3f} s  x{r['speedup']:.2f} ({r['speedup_low']:.2f}-"
              f"{r['speedup_high']:.2f})")
    print(f"train loop: fp32 {loop['fp32']:.3f} s, bf16 {loop['bf16']:.3f} s per step")


def _cpu_flags() -> list[str]:
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return []
    return sorted(f for f in flags if "bf16" in f or f.startswith("amx"))


if __name__ == "__main__":
    main()
