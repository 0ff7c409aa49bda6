"""Where does a pruned model's speed-up fall short of the MACs ideal, and what closes it? (issue:
pruning that pays in seconds)

For each model pair — the study's teacher and each of the profile's `speed_architectures` (random
weights), each with its prune at the study's ratio, and the teacher also pruned at `--rounding-ratio`
with round-to 1 and 8 (all by magnitude: every method gives the same widths at a uniform ratio) — at
each batch size and CPU thread count: the seconds per denoising step under each lever a user would
try (inference mode, channels_last, the library's bf16 autocast with attention in fp32
(`levers.Levers`), diffusers' classic attention processor against its default SDPA one,
torch.compile at the most threads), each the median of `--repeats` after warm-up, unpruned and
pruned timed in alternation, with the speed-up *in the same setting* and its share of the MACs
ideal; and, at the largest batch and the most threads, torch.profiler's self CPU time by operator,
unpruned against pruned — the operators whose time shrinks less than the MACs are the gap. Run it
alone: timings on a busy machine mean nothing. Writes data/results/speed_levers.json (`--device
cuda`: speed_levers_cuda.json, with the GPU's own levers — fp16 autocast, cuDNN's algorithm search,
torch.compile with CUDA graphs — a batch large enough to fill the GPU, and the operators' self CUDA
time).

    .venv/bin/python benchmarks/speed_levers.py [--models teacher ddpm-cifar10-32] [--batch 1 64]
                                                [--threads 1 2] [--rounding-ratio 0.35]
                                                [--repeats 15] [--no-compile]
    .venv/bin/python benchmarks/speed_levers.py --device cuda    # on a machine with a GPU
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
    device = next(model.parameters()).device
    x = torch.randn(batch, c, h, w, generator=torch.Generator().manual_seed(0))
    return x.to(device), torch.full((batch,), 500, dtype=torch.long, device=device)


def _synchronize(model) -> None:
    """Wait for the GPU's queued kernels: a CUDA forward returns before its work is done."""
    if next(model.parameters()).is_cuda:
        torch.cuda.synchronize()


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
                _synchronize(models[label])
                start = time.perf_counter()
                model(x, t)
                _synchronize(models[label])
                if i >= warmup:
                    times[label].append(time.perf_counter() - start)
    return {label: statistics.median(v) for label, v in times.items()}


def by_operator(model, batch: int, top: int = 12) -> dict[str, float]:
    """Self seconds per operator over one forward pass (after a warm-up pass): CPU time, or on a GPU
    the kernels' own CUDA time."""
    from torch.profiler import ProfilerActivity, profile
    x, t = _inputs(model, batch)
    cuda = x.is_cuda
    own = (lambda e: getattr(e, "self_device_time_total", None) or e.self_cuda_time_total) if cuda else (
        lambda e: e.self_cpu_time_total)
    with torch.no_grad():
        model(x, t)
        _synchronize(model)
        with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
            model(x, t)
            _synchronize(model)
    rows = sorted(prof.key_averages(), key=lambda e: -own(e))
    return {e.key: own(e) / 1e6 for e in rows[:top] if own(e) > 0}


def under(levers: Levers, models: dict, batch: int, repeats: int, warmup: int = 2) -> dict[str, float]:
    """`seconds_per_step` with every model's forward under the library's inference `levers`."""
    with contextlib.ExitStack() as stack:
        forwards = {label: stack.enter_context(applied(m, levers, next(m.parameters()).device))
                    for label, m in models.items()}
        return seconds_per_step(models, batch, repeats, forwards=forwards, warmup=warmup)


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


def pairs(p, names: list[str], rounding_ratio: float | None) -> dict[str, tuple]:
    """Per pair name: (unpruned, pruned, the prune's spec: what the book checks its record against) from
    the study cache — each named model at the study's ratio,
    and with `rounding_ratio` the teacher also at that ratio with round-to 1 and 8 (at the study's
    ratio every width of the teacher is already a multiple of 8: the same model). Each is pruned by magnitude: a
    uniform ratio gives every method the same widths, so the same speed, and magnitude needs no data
    (a GPU machine without the data sets times the same structures)."""
    dense = speed.unpruned_models(p)
    out = {}
    for name in names:
        if name not in dense:
            raise SystemExit(f"--models {name}: not one of {', '.join(dense)}")
        rounded = f"{name} r={rounding_ratio:g}"
        settings = [(name, speed.study_ratio(p), 1)] + (
            [(rounded, rounding_ratio, 1), (f"{rounded}, round-to 8", rounding_ratio, 8)]
            if rounding_ratio and name == "teacher" else [])
        for label, ratio, round_to in settings:
            spec = {"of": name, "method": "magnitude", "ratio": ratio, "seed": 0, "round_to": round_to}
            pruned = speed.levers_prune(dense, spec)
            out[label] = (*(load_unet(m.path).eval() for m in (dense[name], pruned)), spec)
    return out


GPU_LEVERS = {"cudnn.benchmark": Levers(cudnn_benchmark=True),
              "fp16 autocast (attention fp32)": Levers(precision="fp16"),
              "fp16 + channels_last + cudnn.benchmark": Levers(precision="fp16", channels_last=True,
                                                               cudnn_benchmark=True)}


def timed(unpruned, pruned, batch: int, repeats: int, compile_: bool) -> dict[str, dict[str, float]]:
    """Each lever's seconds per step for the pair: {lever: {"unpruned": s, "pruned": s}}."""
    models = {"unpruned": unpruned, "pruned": pruned}
    cuda = next(unpruned.parameters()).is_cuda
    out = {name: seconds_per_step(models, batch, repeats, **kw) for name, kw in LEVERS.items()}
    out["bf16 autocast (attention fp32)"] = under(Levers(precision="bf16"), models, batch, repeats)
    out["bf16 + channels_last"] = under(Levers(precision="bf16", channels_last=True), models, batch, repeats)
    for name, levers in GPU_LEVERS.items() if cuda else ():
        out[name] = under(levers, models, batch, repeats)
    out["classic attention (not SDPA)"] = seconds_per_step(
        {label: classic_attention(m) for label, m in models.items()}, batch, repeats)
    if compile_:
        with contextlib.suppress(Exception):  # a missing compiler is a finding, not a crash
            # on a GPU in "reduce-overhead" mode (CUDA graphs: the launches of a launch-bound step)
            out["torch.compile"] = under(Levers(compile=True), models, batch, repeats, warmup=3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu", choices=["cpu", "smoke"], help="whose teacher, prune and architectures")
    ap.add_argument("--models", nargs="+", default=None,
                    help="'teacher' and/or names of the profile's speed_architectures (default: all)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to time")
    ap.add_argument("--batch", nargs="+", type=int, default=None,
                    help="batch sizes (default: 1 64; on cuda 1 64 512, the last to fill the GPU)")
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2],
                    help="CPU thread counts (on cuda: of the host, the last one)")
    ap.add_argument("--rounding-ratio", type=float, default=0.35,
                    help="also time the teacher pruned at this ratio with round-to 1 and 8 (0: not)")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile (minutes to compile on 2 cores)")
    a = ap.parse_args()
    a.batch = a.batch or ([1, 64, 512] if a.device == "cuda" else [1, 64])
    if min(a.batch) < 1 or a.repeats < 1 or min(a.threads) < 1:
        raise SystemExit("--batch, --repeats and --threads must be >= 1")
    if not 0 <= a.rounding_ratio < 1:
        raise SystemExit("--rounding-ratio must be in [0, 1)")
    threads = sorted(set(a.threads)) if a.device == "cpu" else [a.threads[-1]]
    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: this machine has no GPU")
    p = rq3.CHAPTER.load(a.profile)
    models = {name: (unpruned.to(a.device), pruned.to(a.device), spec) for name, (unpruned, pruned, spec) in
              pairs(p, a.models or ["teacher", *p.speed_architectures], a.rounding_ratio or None).items()}
    rows, operators = [], {}
    for name, (unpruned, pruned, spec) in models.items():
        ideal = count_macs(unpruned) / count_macs(pruned)
        for th, batch in ((th, batch) for th in threads for batch in sorted(a.batch)):
            torch.set_num_threads(th)
            # compiled at the most threads only: minutes of compiling per setting on 2 cores
            r = timed(unpruned, pruned, batch, a.repeats, not a.no_compile and th == threads[-1])
            rows.append({"model": name, "prune": spec, "batch": batch, "threads": th, "ideal_speedup": ideal,
                         "levers": {lever: {
                "unpruned_s": v["unpruned"], "pruned_s": v["pruned"], "speedup": v["unpruned"] / v["pruned"],
                "of_ideal": v["unpruned"] / v["pruned"] / ideal,
                "pruned_vs_baseline": r[BASELINE]["pruned"] / v["pruned"]} for lever, v in r.items()}})
            print(f"{name}, batch {batch}, {th} threads: MACs ideal {ideal:.2f}x")
            for lever, v in rows[-1]["levers"].items():
                print(f"  {lever:30s} unpruned {v['unpruned_s'] * 1e3:8.1f} ms  pruned {v['pruned_s'] * 1e3:8.1f} ms  "
                      f"speed-up {v['speedup']:.2f}x ({v['of_ideal']:.2f} of ideal)")
        torch.set_num_threads(threads[-1])
        ops_u, ops_p = by_operator(unpruned, max(a.batch)), by_operator(pruned, max(a.batch))
        operators[name] = {k: {"unpruned_s": v, "pruned_s": ops_p.get(k),
                               "shrink": v / ops_p[k] if ops_p.get(k) else None} for k, v in ops_u.items()}
    out = {"profile": a.profile, "ratio": speed.study_ratio(p), "threads": threads, "repeats": a.repeats,
           "on": a.device,
           "operators_batch": max(a.batch), "rows": rows, "operators": operators, "compiled": not a.no_compile,
           "code_version": code_version(), "device": device_description(), "torch": torch.__version__,
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_json_atomic(RESULTS_DIR / f"speed_levers{'_cuda' if a.device == 'cuda' else ''}.json", out)


if __name__ == "__main__":
    main()
