"""Consistency of a pruned model with its teacher: samples drawn from the same noise (paired by
(seed, index), never by file order) compared pixel-wise (SSIM) and by content (class agreement).

SSIM as in the paper's code: pytorch_msssim.ssim, single scale, data range 1, Gaussian window
11 with sigma 1.5, one value per pair, then the mean over pairs.
"""
from __future__ import annotations

import numpy as np
import torch
from pytorch_msssim import ssim

from .artifacts import DiffpruneError
from .fid import as_nchw
from .uncertainty import bootstrap_ci, wilson_ci


def paired(a_images, a_index, b_images, b_index) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Align two sample sets on their sample index; return the matched images and indices."""
    a_index, b_index = np.asarray(a_index), np.asarray(b_index)
    for idx in (a_index, b_index):
        if len(np.unique(idx)) != len(idx):
            raise DiffpruneError("sample indices repeat: cannot pair samples")
    common, ia, ib = np.intersect1d(a_index, b_index, return_indices=True)
    if len(common) == 0:
        raise DiffpruneError("the two sample sets share no sample index (different seeds?)")
    a, b = as_nchw(a_images)[ia], as_nchw(b_images)[ib]
    if a.shape != b.shape:
        raise DiffpruneError(f"paired samples differ in shape: {tuple(a.shape[1:])} vs {tuple(b.shape[1:])}")
    return a, b, common


def ssim_per_pair(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    x, y = a.float() / 255.0, b.float() / 255.0
    return ssim(x, y, data_range=1.0, size_average=False, win_size=11, win_sigma=1.5).numpy()


def ssim_consistency(a: torch.Tensor, b: torch.Tensor, *, n_boot: int = 1000, seed: int = 0) -> dict:
    values = ssim_per_pair(a, b)
    lo, hi = bootstrap_ci(values, n_boot=n_boot, seed=seed)
    return {"metric": "SSIM", "value": float(values.mean()), "ci_low": lo, "ci_high": hi, "n": len(values)}


def content_consistency(a: torch.Tensor, b: torch.Tensor, classifier) -> dict:
    agree = (classifier.predict(a) == classifier.predict(b))
    k, n = int(agree.sum()), len(agree)
    lo, hi = wilson_ci(k, n)
    return {"metric": "class agreement", "value": k / n, "ci_low": lo, "ci_high": hi, "n": n}
