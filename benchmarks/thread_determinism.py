"""How far apart are the same samples drawn on 1 and on 2 CPU threads? (issue "One model object",
item 6: state determinism as it is)

Samples are paired by (seed, index), so two runs of the same model differ only by the order of the
BLAS sums, which the thread count changes. Draws n samples of a model with the study's sampler
on each thread count and records how many pixels differ and by how many grey levels at most.
Writes data/results/thread_determinism.json.

    .venv/bin/python benchmarks/thread_determinism.py [--model data/teachers/fashion-mnist] [--n 1000]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from diffprune import DiffusionModel
from diffprune.artifacts import code_version, device_description, write_json_atomic
from diffprune.paths import RESULTS_DIR
from diffprune.sample import sample


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="data/teachers/fashion-mnist", help="model directory")
    ap.add_argument("--n", type=int, default=1000, help="samples per thread count")
    ap.add_argument("--steps", type=int, default=25, help="DDIM steps (the cpu profile's)")
    ap.add_argument("--seed", type=int, default=0, help="noise seed")
    a = ap.parse_args()
    model = DiffusionModel.load(a.model)
    runs = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        runs[threads] = sample(model, a.n, seed=a.seed, steps=a.steps, batch_size=250, progress=True)
    diff = np.abs(runs[1].astype(int) - runs[2].astype(int))
    per_image = diff.reshape(a.n, -1).max(axis=1)
    result = {"model": a.model, "n": a.n, "steps": a.steps, "seed": a.seed, "pixels": int(diff.size),
              "pixels_differing": int((diff > 0).sum()), "max_grey_levels": int(diff.max()),
              "images_differing": int((per_image > 0).sum()), "identical": bool((diff == 0).all()),
              "code_version": code_version(), "device": device_description()}
    write_json_atomic(RESULTS_DIR / "thread_determinism.json", result, indent=1)
    print(result)


if __name__ == "__main__":
    main()
