"""Where does a pruned model's speed-up fall short of the MACs ideal, and what closes the gap?
(issue RQ3, part 2)

For the teacher and its Diff-Pruning prune at the study's ratio (from the study cache), at one
batch size and thread count: (1) torch.profiler's self CPU time by operator, teacher against
pruned — the operators whose time shrinks less than the MACs are the gap; (2) the seconds per
denoising step under each lever a user would try — inference mode, channels_last, the library's
bf16 autocast (attention kept in fp32, `levers.Levers`), diffusers' classic attention processor
against its default SDPA one, torch.compile — each the median of
`--repeats` after warm-up, teacher and pruned timed in alternation, with its speed-up and share
of the MACs ideal. Run it alone: timings on a busy machine mean nothing. Writes
data/results/speed_levers.json.

    .venv/bin/python benchmarks/speed_levers.py [--batch 64] [--threads 2] [--repeats 15] [--no-compile]
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu", choices=["cpu", "smoke"], help="whose teacher and prune")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile (minutes to compile on 2 cores)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    p = rq3.CHAPTER.load(a.profile)
    ratio = min(p["tradeoff_ratios"], key=lambda r: abs(r - p["ratio"]))
    models = {label: load_unet(m.path).eval() for label, r, m in speed.speed_models(p) if r in (0.0, ratio)}
    teacher, pruned = models["teacher"], models[f"r={ratio:g}"]
    ideal = count_macs(teacher) / count_macs(pruned)

    levers = {"no_grad (baseline)": {}, "inference_mode": {"mode": torch.inference_mode},
              "channels_last": {"channels_last": True}}
    results = {name: seconds_per_step(models, a.batch, a.repeats, **kw) for name, kw in levers.items()}
    results["bf16 autocast (attention fp32)"] = under(Levers(precision="bf16"), models, a.batch, a.repeats)
    results["bf16 + channels_last"] = under(Levers(precision="bf16", channels_last=True), models, a.batch, a.repeats)
    results["classic attention (not SDPA)"] = seconds_per_step(
        {label: classic_attention(m) for label, m in models.items()}, a.batch, a.repeats)
    if not a.no_compile:
        with contextlib.suppress(Exception):  # a missing compiler is a finding, not a crash
            results["torch.compile"] = seconds_per_step(
                {label: torch.compile(copy.deepcopy(m)) for label, m in models.items()}, a.batch, a.repeats, warmup=3)
    table = {name: {"teacher_s": r["teacher"], "pruned_s": r[f"r={ratio:g}"],
                    "speedup": r["teacher"] / r[f"r={ratio:g}"],
                    "of_ideal": r["teacher"] / r[f"r={ratio:g}"] / ideal,
                    "pruned_vs_baseline": results["no_grad (baseline)"][f"r={ratio:g}"] / r[f"r={ratio:g}"]}
             for name, r in results.items()}
    ops_t, ops_p = by_operator(teacher, a.batch), by_operator(pruned, a.batch)
    operators = {k: {"teacher_s": v, "pruned_s": ops_p.get(k), "shrink": v / ops_p[k] if ops_p.get(k) else None}
                 for k, v in ops_t.items()}
    out = {"profile": a.profile, "ratio": ratio, "batch": a.batch, "threads": a.threads, "repeats": a.repeats,
           "ideal_speedup": ideal, "levers": table, "operators": operators,
           "code_version": code_version(), "device": device_description(), "torch": torch.__version__,
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_json_atomic(RESULTS_DIR / "speed_levers.json", out)
    print(f"MACs ideal {ideal:.2f}x at ratio {ratio:g}, batch {a.batch}, {a.threads} threads")
    for name, r in table.items():
        print(f"{name:30s} teacher {r['teacher_s'] * 1e3:8.1f} ms  pruned {r['pruned_s'] * 1e3:8.1f} ms  "
              f"speed-up {r['speedup']:.2f}x ({r['of_ideal']:.2f} of ideal)")
    for k, r in operators.items():
        shrink = f"{r['shrink']:.2f}x" if r["shrink"] else "-"
        print(f"{k:40s} teacher {r['teacher_s'] * 1e3:8.1f} ms  shrinks {shrink}")


if __name__ == "__main__":
    main()
