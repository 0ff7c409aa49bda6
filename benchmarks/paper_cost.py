"""What would the `paper` profile's run cost here? (issue: past one machine, part 3)

The paper finetunes `google/ddpm-cifar10-32` pruned at ratio 0.3 for 100K steps of batch 128 and
samples 50,000 images with 100 DDIM steps. The hub weights cannot be fetched here, and timing does
not depend on them: this builds the same architecture (the hub model's UNet2DModel config) with
random weights, prunes it with magnitude pruning at the paper's ratio (every criterion gives the
same structure at one ratio), and measures on this machine the median seconds of one finetune step
(forward, backward, Adam) and of one sampling step, each at batch 128, dense and pruned. Writes
data/results/paper_cost.json with the extrapolated hours. Run it alone.

    .venv/bin/python benchmarks/paper_cost.py [--batch 128] [--repeats 3] [--threads 2]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from diffprune.artifacts import code_version, device_description, write_json_atomic
from diffprune.cost import count_macs, count_params
from diffprune.paths import RESULTS_DIR
from diffprune.prune import prune
from diffprune.timestep_loss import noise_prediction_loss
from diffprune.unet import build_unet, default_scheduler

PAPER = {"ratio": 0.3, "finetune_steps": 100_000, "batch": 128, "n_samples": 50_000, "ddim_steps": 100}


def _median(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def timings(model, batch: int, repeats: int) -> dict:
    scheduler = default_scheduler()
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(batch, 3, 32, 32, generator=g) * 2 - 1
    noise = torch.randn(x0.shape, generator=g)
    t = torch.randint(0, 1000, (batch,), generator=g)
    opt = torch.optim.Adam(model.parameters(), lr=2e-4)

    def train_step():
        loss = noise_prediction_loss(model.train(), scheduler, x0, noise, t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @torch.no_grad()
    def sample_step():
        model.eval()(x0, t)

    return {"params": count_params(model), "macs": count_macs(model),
            "seconds_per_finetune_step": _median(train_step, repeats),
            "seconds_per_sampling_step": _median(sample_step, repeats)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=PAPER["batch"], help="images per step (the paper's: 128)")
    ap.add_argument("--repeats", type=int, default=3, help="timed steps after one warm-up (median kept)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(), help="CPU threads")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dense = build_unet("ddpm-cifar10-32", 3, 32)
    pruned, _ = prune(copy.deepcopy(dense), "magnitude", PAPER["ratio"], progress=False)
    rows = {"dense": timings(dense, a.batch, a.repeats), "pruned": timings(pruned, a.batch, a.repeats)}
    scale = PAPER["batch"] / a.batch  # per-image time taken as constant when --batch is not 128
    ft = rows["pruned"]["seconds_per_finetune_step"] * scale
    per_image_step = rows["pruned"]["seconds_per_sampling_step"] / a.batch
    out = {"device": device_description(), "threads": a.threads, "code_version": code_version(),
           "batch": a.batch, "repeats": a.repeats, "paper": PAPER, **rows,
           "macs_fraction": rows["pruned"]["macs"] / rows["dense"]["macs"],
           "hours_finetune_pruned": ft * PAPER["finetune_steps"] / 3600,
           "hours_sample_pruned": per_image_step * PAPER["n_samples"] * PAPER["ddim_steps"] / 3600}
    write_json_atomic(RESULTS_DIR / "paper_cost.json", out)
    print({k: (round(v, 2) if isinstance(v, float) else v) for k, v in out.items() if k not in ("dense", "pruned")})
    print("dense", rows["dense"], "\npruned", rows["pruned"])


if __name__ == "__main__":
    main()
