"""Does the offline Fréchet distance order image sets sensibly? (issue: metrics, "done when")

FD-EffNetL0@128 against the Fashion-MNIST test split (all 10,000 images) of: N training images
(real vs real), the same images blurred, N noise images, and N samples of the committed teacher.
Expected: real << teacher << noise. Writes data/results/fd_sanity.json with parameters, seeds,
code version and device.

    .venv/bin/python benchmarks/fd_sanity.py [--n 2000] [--skip-teacher]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from diffprune import pipeline
from diffprune.artifacts import code_version, device_description, write_json_atomic
from diffprune.data import load_dataset
from diffprune.fid import METRIC_NAMES, fd_with_ci, features, reference_statistics
from diffprune.paths import RESULTS_DIR

FEATURES = "effnet-l0@128"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--teacher", default="data/teachers/fashion-mnist")
    ap.add_argument("--ddim-steps", type=int, default=25)
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-teacher", action="store_true")
    a = ap.parse_args()

    start = time.perf_counter()
    mu, sigma = reference_statistics("fashion-mnist", "test", FEATURES, None, a.seed)
    train = load_dataset("fashion-mnist", "train")
    idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(a.seed))[:a.n]
    real = train.images[idx]
    blurred = torch.nn.functional.avg_pool2d(real.float(), 3, 1, 1).round().to(torch.uint8)
    noise = torch.randint(0, 256, real.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(a.seed))
    sets = {"train images": real, "train images, 3x3 blur": blurred, "uniform noise": noise}
    if not a.skip_teacher:
        s = pipeline.samples(pipeline.teacher(a.teacher), n=a.n, seed=a.seed, steps=a.ddim_steps)
        sets["teacher samples"] = pipeline.load_full_samples(s)[0]
    results = {name: fd_with_ci(features(x, FEATURES, progress=True), mu, sigma, n_boot=a.n_boot, seed=a.seed)
               for name, x in sets.items()}
    record = {"metric": METRIC_NAMES[FEATURES], "reference": "fashion-mnist test split, all 10,000 images",
              "params": vars(a), "results": results, "code_version": code_version(),
              "device": device_description(), "wall_time_s": round(time.perf_counter() - start, 1)}
    write_json_atomic(RESULTS_DIR / "fd_sanity.json", record)
    for name, r in results.items():
        print(f"{name:>24}: {r['value']:8.2f}  [{r['ci_low']:.2f}, {r['ci_high']:.2f}]")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
