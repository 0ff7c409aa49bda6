"""Where does a pruned model's speed-up fall short of the MACs ideal, and what closes it? (issue:
pruning that pays in seconds)

For each model pair — the study's teacher and its Diff-Pruning prune at the study's ratio (from the
study cache), and each of the profile's `speed_architectures` (random weights) with its magnitude
prune at that ratio — and each batch size, at one thread count: the seconds per denoising step
under each lever a user would try (inference mode, channels_last, the library's bf16 autocast with
attention in fp32 (`levers.Levers`), diffusers' classic attention processor against its default
SDPA one, torch.compile), each the median of `--repeats` after warm-up, unpruned and pruned timed
in alternation, with the speed-up *in the same setting* and its share of the MACs ideal; and, at
the largest batch, torch.profiler's self CPU time by operator, unpruned against pruned — the
operators whose time shrinks less than the MACs are the gap. Run it alone: timings on a busy
machine mean nothing. Writes data/results/speed_levers.json.

    .venv/bin/python benchmarks/speed_levers.py [--models teacher ddpm-cifar10-32] [--batch 1 64]
                                                [--threads 2] [--repeats 15] [--no-compile]
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import time

import torch

from diffprune.artifacts import code_version, device_description, write_json_atomic
from diffprune.chapters import rq3, speed
from diffprune.cost import count_macs
from diffprune.levers import Levers, applied
from diffprune.paths import RESULTS_DIR
from diffprune.unet import image_shape, load_unet


def _inputs(model, batch: int):
    c, h, w = image_shape(model)
    x = torch.randn(batch, c, h, w, generator=torch.Generator().manual_seed(0))
    return x, torch.full((batch,), 500, dtype=torch.long)


def seconds_per_step(models: dict, batch: int, repeats: int, *, mode=torch.no_grad, channels_last=False,
                     warmup=2, forwards: dict | None = None) -> dict[str, float]:
    """Median seconds per forward of each model (or of its `forwards[label]`), the models timed in
    alternation so that a drift of the machine's speed affects them alike."""
    inputs = {}
    for label, model in models.items():
        x, t = _inputs(model, batch)
        if channels_last:
            model, x = model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
        inputs[label] = ((forwards or {}).get(label, model), x, t)
    times = {label: [] for label in models}
    with mode():
        for i in range(warmup + repeats):
            for label, (model, x, t) in inputs.items():
                start = time.perf_counter()
                model(x, t)
                if i >= warmup:
                    times[label].append(time.perf_counter() - start)
    return {label: statistics.median(v) for label, v in times.items()}


def by_operator(model, batch: int, top: int = 12) -> dict[str, float]:
    """Self CPU seconds per operator over one forward pass (after a warm-up pass)."""
    from torch.profiler import ProfilerActivity, profile
    x, t = _inputs(model, batch)
    with torch.no_grad():
        model(x, t)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            model(x, t)
    rows = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    return {e.key: e.self_cpu_time_total / 1e6 for e in rows[:top]}


def under(levers: Levers, models: dict, batch: int, repeats: int) -> dict[str, float]:
    """`seconds_per_step` with every model's forward under the library's inference `levers`."""
    with contextlib.ExitStack() as stack:
        forwards = {label: stack.enter_context(applied(m, levers, "cpu")) for label, m in models.items()}
        return seconds_per_step(models, batch, repeats, forwards=forwards)


def classic_attention(model):
    from diffusers.models.attention_processor import Attention, AttnProcessor
    m = copy.deepcopy(model)
    for module in m.modules():
        if isinstance(module, Attention):
            module.set_processor(AttnProcessor())
    return m


LEVERS = {"no_grad (baseline)": {}, "inference_mode": {"mode": torch.inference_mode},
          "channels_last": {"channels_last": True}}
BASELINE = "no_grad (baseline)"


def pairs(p: dict, names: list[str]) -> dict[str, tuple]:
    """Per model name: (unpruned, pruned at the study's ratio), loaded from the study cache."""
    specs = {label: (m, base) for label, _, m, base in speed.speed_models(p)}
    ratio = speed.study_ratio(p)
    pruned_of = {base: label for label, (_, base) in specs.items() if label != base}
    pruned_of["teacher"] = f"r={ratio:g}"
    out = {}
    for name in names:
        if name not in specs or specs[name][1] != name:
            raise SystemExit(f"--models {name}: not one of {', '.join(k for k, (_, b) in specs.items() if k == b)}")
        out[name] = tuple(load_unet(specs[label][0].path).eval() for label in (name, pruned_of[name]))
    return out


def timed(unpruned, pruned, batch: int, repeats: int, compile_: bool) -> dict[str, dict[str, float]]:
    """Each lever's seconds per step for the pair: {lever: {"unpruned": s, "pruned": s}}."""
    models = {"unpruned": unpruned, "pruned": pruned}
    out = {name: seconds_per_step(models, batch, repeats, **kw) for name, kw in LEVERS.items()}
    out["bf16 autocast (attention fp32)"] = under(Levers(precision="bf16"), models, batch, repeats)
    out["bf16 + channels_last"] = under(Levers(precision="bf16", channels_last=True), models, batch, repeats)
    out["classic attention (not SDPA)"] = seconds_per_step(
        {label: classic_attention(m) for label, m in models.items()}, batch, repeats)
    if compile_:
        with contextlib.suppress(Exception):  # a missing compiler is a finding, not a crash
            out["torch.compile"] = seconds_per_step(
                {label: torch.compile(copy.deepcopy(m)) for label, m in models.items()}, batch, repeats, warmup=3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu", choices=["cpu", "smoke"], help="whose teacher, prune and architectures")
    ap.add_argument("--models", nargs="+", default=None,
                    help="'teacher' and/or names of the profile's speed_architectures (default: all)")
    ap.add_argument("--batch", nargs="+", type=int, default=[1, 64], help="batch sizes")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile (minutes to compile on 2 cores)")
    a = ap.parse_args()
    if min(a.batch) < 1 or a.repeats < 1 or a.threads < 1:
        raise SystemExit("--batch, --repeats and --threads must be >= 1")
    torch.set_num_threads(a.threads)
    p = rq3.CHAPTER.load(a.profile)
    models = pairs(p, a.models or ["teacher", *p["speed_architectures"]])
    rows, operators = [], {}
    for name, (unpruned, pruned) in models.items():
        ideal = count_macs(unpruned) / count_macs(pruned)
        for batch in sorted(a.batch):
            r = timed(unpruned, pruned, batch, a.repeats, not a.no_compile)
            rows.append({"model": name, "batch": batch, "ideal_speedup": ideal, "levers": {lever: {
                "unpruned_s": v["unpruned"], "pruned_s": v["pruned"], "speedup": v["unpruned"] / v["pruned"],
                "of_ideal": v["unpruned"] / v["pruned"] / ideal,
                "pruned_vs_baseline": r[BASELINE]["pruned"] / v["pruned"]} for lever, v in r.items()}})
            print(f"{name}, batch {batch}: MACs ideal {ideal:.2f}x")
            for lever, v in rows[-1]["levers"].items():
                print(f"  {lever:30s} unpruned {v['unpruned_s'] * 1e3:8.1f} ms  pruned {v['pruned_s'] * 1e3:8.1f} ms  "
                      f"speed-up {v['speedup']:.2f}x ({v['of_ideal']:.2f} of ideal)")
        ops_u, ops_p = by_operator(unpruned, max(a.batch)), by_operator(pruned, max(a.batch))
        operators[name] = {k: {"unpruned_s": v, "pruned_s": ops_p.get(k),
                               "shrink": v / ops_p[k] if ops_p.get(k) else None} for k, v in ops_u.items()}
    out = {"profile": a.profile, "ratio": speed.study_ratio(p), "threads": a.threads, "repeats": a.repeats,
           "operators_batch": max(a.batch), "rows": rows, "operators": operators, "compiled": not a.no_compile,
           "code_version": code_version(), "device": device_description(), "torch": torch.__version__,
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_json_atomic(RESULTS_DIR / "speed_levers.json", out)


if __name__ == "__main__":
    main()
