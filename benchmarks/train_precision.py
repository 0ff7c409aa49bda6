"""Does the bf16 training lever change what a finetune learns? (issue "Pruning that pays in
seconds", part 3: a lever is adopted only if a finetune's FD stays equivalent to fp32's.)

RQ1's Diff-Pruning row (T = 0.05, the cpu profile's ratio, finetune and sampling) finetuned again
with `precision="bf16"` on each seed, through the study cache (so its steps are records like any
row's), against the fp32 row of the same seed: the same prune, data order, noise and sampling noise,
so the comparison is paired by seed. Reports FD and SSIM to the teacher as verdicts within the
profile's margins, the last logged training losses, and seconds per finetune step of each (from the
records, CPU one-thread runs only). Writes data/results/train_precision.json.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_precision.py [--seeds 0 1 2 3 4]
"""
from __future__ import annotations

import argparse
import csv
import io
import statistics

import torch

from diffprune import evaluation, pipeline, verdicts
from diffprune.artifacts import code_version, device_description, write_json_atomic
from diffprune.chapters import rq1
from diffprune.paths import RESULTS_DIR


def last_losses(model: pipeline.Artifact, n: int = 5) -> float:
    losses = [float(r["loss"]) for r in csv.DictReader(io.StringIO(model.result("train_log.csv")))]
    return statistics.mean(losses[-n:])


def step_seconds(model: pipeline.Artifact) -> float | None:
    """Seconds per finetune step from its record, where it ran on one CPU thread (else None)."""
    r = model.record()
    return r["wall_time_s"] / r["params"]["steps"] if r["device"].startswith("cpu") and "x1 " in r["device"] else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="default: the cpu profile's seeds")
    ap.add_argument("--precision", default="bf16", help="the lever compared with fp32")
    a = ap.parse_args()
    torch.set_num_threads(1)
    p = rq1.CHAPTER.load("cpu")  # the rows are RQ1's
    seeds = a.seeds or p.seeds
    t = pipeline.teacher(p.teacher)
    rows = {"fp32": [], a.precision: []}
    for seed in seeds:
        fp32 = evaluation.finetuned_model(p, "diff-pruning", seed, 0.05)
        lever = pipeline.finetuned(evaluation.pruned_model(p, "diff-pruning", seed, 0.05), dataset=p.dataset,
                                   steps=p.finetune_steps, batch_size=p.finetune_batch, lr=p.finetune_lr,
                                   warmup_steps=p.finetune_warmup, seed=seed, precision=a.precision)
        for name, model in (("fp32", fp32), (a.precision, lever)):
            row = evaluation.evaluate(model, p, seed, teacher=t)
            rows[name].append({**{k: row[k] for k in ("seed", "fd", "fd_low", "fd_high", "ssim", "model", "samples")},
                               "final_loss": last_losses(model), "seconds_per_step": step_seconds(model),
                               "device": model.record()["device"]})
            print(name, seed, f"FD {row['fd']:.1f}", f"SSIM {row['ssim']:.3f}", flush=True)
    found = [verdicts.across_seeds(rows[a.precision], rows["fp32"], m, p.equivalence_margins, a=a.precision,
                                   b="fp32", where=p.dataset) for m in ("fd", "ssim")]
    loss = verdicts.across_seeds([{"seed": r["seed"], "fd": r["final_loss"]} for r in rows[a.precision]],
                                 [{"seed": r["seed"], "fd": r["final_loss"]} for r in rows["fp32"]], "fd",
                                 {"fd": 0.02}, a=a.precision, b="fp32")
    out = {"what": "RQ1's Diff-Pruning T=0.05 row finetuned at another training precision, paired by seed with fp32",
           "profile": "cpu", "seeds": seeds, "rows": rows,
           "verdicts": [{**v.__dict__, "kind": str(v.kind)} for v in found],
           "final_loss": {**loss.__dict__, "kind": str(loss.kind), "metric": "mean of the last 5 logged losses",
                          "margin_rule": "2 % of fp32's"},
           "device": device_description(), "code_version": code_version()}
    write_json_atomic(RESULTS_DIR / f"train_precision_{a.precision}.json", out)
    for v in [*found, loss]:
        print(verdicts.sentence(v))


if __name__ == "__main__":
    main()
