"""How long does a Fréchet distance with its bootstrap interval take, and is the faster
replicate exact? (issue RQ3, part 4: "≤ 20 s on 1,000 samples without changing the value")

On n random features of 1,280 dimensions (the EfficientNet-Lite0 width) against reference
statistics of 10,000: times pytorch-fid's value, one bootstrap replicate the way it was computed
before (d x d product and eigvalsh: `before_replicate`), one replicate of `fid._Replicates`, and the
whole `fd_with_ci`; checks the two replicate forms agree. Writes data/results/fd_speed.json.

    .venv/bin/python benchmarks/fd_speed.py [--n 1000] [--n-boot 200] [--threads 2]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from diffprune import fid
from diffprune.artifacts import code_version, device_description, write_json_atomic
from diffprune.paths import RESULTS_DIR


def before_replicate(feats, counts, mu2, root2, tr2) -> float:
    """The replicate of the previous code: covariance of the repeated set, A S A, eigvalsh of d x d."""
    mu1, sigma1 = fid.statistics(np.repeat(feats, counts, axis=0))
    eig = np.linalg.eigvalsh(root2 @ sigma1 @ root2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + tr2 - 2 * np.sqrt(np.clip(eig, 0, None)).sum())


def timed(fn, repeats: int = 1):
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    return out, (time.perf_counter() - start) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="sample features")
    ap.add_argument("--dims", type=int, default=1280)
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(a.seed)
    mix = rng.standard_normal((a.dims, a.dims)) / np.sqrt(a.dims)
    feats = rng.standard_normal((a.n, a.dims)) @ mix + 0.3
    mu, sigma = fid.statistics(rng.standard_normal((10_000, a.dims)) @ mix)

    value, t_value = timed(lambda: fid.frechet_distance(*fid.statistics(feats), mu, sigma))
    w, v = np.linalg.eigh(sigma)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    replicate, t_setup = timed(lambda: fid._Replicates(feats, mu, sigma))
    draws = [np.bincount(rng.integers(0, a.n, a.n), minlength=a.n) for _ in range(5)]
    old = [timed(lambda c=c: before_replicate(feats, c, mu, root, np.trace(sigma))) for c in draws]
    new = [timed(lambda c=c: replicate(c)) for c in draws]
    rel = max(abs(o - n) / o for (o, _), (n, _) in zip(old, new, strict=True))
    result, t_total = timed(lambda: fid.fd_with_ci(feats, mu, sigma, n_boot=a.n_boot, seed=a.seed))
    out = {
        "n": a.n, "dims": a.dims, "n_boot": a.n_boot, "threads": a.threads, "seed": a.seed,
        "pytorch_fid_value_s": round(t_value, 2), "replicates_setup_s": round(t_setup, 2),
        "before_replicate_s": round(float(np.median([t for _, t in old])), 3),
        "replicate_s": round(float(np.median([t for _, t in new])), 4),
        "before_fd_with_ci_s_estimated": round(t_value + a.n_boot * float(np.median([t for _, t in old])), 1),
        "fd_with_ci_s": round(t_total, 1), "max_relative_difference": rel,
        "value_unchanged": result["value"] == value,
        "code_version": code_version(), "device": device_description(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_json_atomic(RESULTS_DIR / "fd_speed.json", out)
    for k, val in out.items():
        print(f"{k:32s} {val}")


if __name__ == "__main__":
    main()
