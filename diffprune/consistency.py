"""Consistency of a pruned model with its teacher: samples drawn from the same noise (paired by
(seed, index), never by file order) compared pixel-wise (SSIM) and by content (class agreement).

SSIM as in the paper's code: pytorch_msssim.ssim, single scale, data range 1, Gaussian window
11 with sigma 1.5, one value per pair, then the mean over pairs.

Detail (RQ2's content-vs-detail question; the paper measures none): the same SSIM on Sobel
edge maps of the luminance, so that two samples agree in detail when their edges sit in the same
places with the same strength, whatever their flat regions do.
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


def edge_map(images: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of the luminance of uint8 NCHW images, scaled to [0, 1]."""
    x = images.float() / 255.0
    if x.shape[1] == 3:
        x = (0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]).view(1, 1, 3, 3)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
    gx = torch.nn.functional.conv2d(padded, kx)
    gy = torch.nn.functional.conv2d(padded, kx.transpose(2, 3))
    return torch.sqrt(gx ** 2 + gy ** 2) / (4 * 2 ** 0.5)  # the largest magnitude of a [0, 1] image


def _mean_with_ci(values: np.ndarray, metric: str, n_boot: int, seed: int) -> dict:
    lo, hi = bootstrap_ci(values, n_boot=n_boot, seed=seed)
    return {"metric": metric, "value": float(values.mean()), "ci_low": lo, "ci_high": hi, "n": len(values)}


def ssim_consistency(a: torch.Tensor, b: torch.Tensor, *, n_boot: int = 1000, seed: int = 0) -> dict:
    return _mean_with_ci(ssim_per_pair(a, b), "SSIM", n_boot, seed)


def detail_consistency(a: torch.Tensor, b: torch.Tensor, *, n_boot: int = 1000, seed: int = 0) -> dict:
    values = ssim(edge_map(a), edge_map(b), data_range=1.0, size_average=False, win_size=11, win_sigma=1.5)
    return _mean_with_ci(values.numpy(), "edge SSIM", n_boot, seed)


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Agreement of two labelings beyond what their class frequencies give by chance (Cohen's
    kappa): (p_o - p_e) / (1 - p_e), p_e = sum over classes of the product of their frequencies."""
    a, b = np.asarray(a), np.asarray(b)
    classes = np.union1d(a, b)
    p_o = float(np.mean(a == b))
    p_e = float(sum(np.mean(a == c) * np.mean(b == c) for c in classes))
    return (p_o - p_e) / (1 - p_e) if p_e < 1 else float("nan")


def content_consistency(a: torch.Tensor, b: torch.Tensor, classifier, *, kappa: bool = False,
                        n_boot: int = 1000, seed: int = 0) -> dict:
    """Class agreement (Wilson interval); with `kappa`, also Cohen's kappa (bootstrap over pairs)."""
    pa, pb = np.asarray(classifier.predict(a)), np.asarray(classifier.predict(b))
    agree = pa == pb
    k, n = int(agree.sum()), len(agree)
    lo, hi = wilson_ci(k, n)
    out = {"metric": "class agreement", "value": k / n, "ci_low": lo, "ci_high": hi, "n": n}
    if kappa:
        pairs = np.stack([pa, pb], axis=1)
        klo, khi = bootstrap_ci(pairs, lambda v: cohen_kappa(v[:, 0], v[:, 1]), n_boot=n_boot, seed=seed)
        out["kappa"] = {"metric": "Cohen's kappa", "value": cohen_kappa(pa, pb), "ci_low": klo, "ci_high": khi,
                        "n": n}
    return out
