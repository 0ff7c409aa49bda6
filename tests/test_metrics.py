import numpy as np
import pytest
import torch

from diffprune import DiffpruneError, fid
from diffprune.consistency import (
    cohen_kappa,
    content_consistency,
    detail_consistency,
    edge_map,
    paired,
    ssim_consistency,
    ssim_per_pair,
)
from diffprune.data import load_dataset
from diffprune.uncertainty import bootstrap_ci, mean_ci, wilson_ci


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist-5k", "test").images[:120]


def _blur(x):
    return torch.nn.functional.avg_pool2d(x.float(), 5, 1, 2).round().to(torch.uint8)


def _noise(x, sigma, seed=0):
    n = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)) * sigma
    return (x.float() + n).clamp(0, 255).round().to(torch.uint8)


@pytest.fixture(scope="module")
def feats(digits):
    f = lambda x: fid.features(x)  # noqa: E731
    return {"real": f(digits[:60]), "other": f(digits[60:]), "blur": f(_blur(digits[60:])),
            "noise": f(_noise(digits[60:], 60)), "noise_more": f(_noise(digits[60:], 120))}


def test_fd_of_a_set_with_itself_is_zero(feats):
    mu, sigma = fid.statistics(feats["real"])
    assert fid.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-6)


def test_fd_grows_with_blur_and_noise(feats):
    ref = fid.statistics(feats["real"])
    d = {k: fid.frechet_distance(*fid.statistics(v), *ref) for k, v in feats.items() if k != "real"}
    assert d["other"] < d["blur"] and d["other"] < d["noise"] < d["noise_more"]


@pytest.mark.parametrize("n, d", [(300, 32), (40, 64)])  # more images than dimensions, and fewer
def test_replicates_equal_pytorch_fid_on_the_resampled_set(n, d):
    rng = np.random.default_rng(0)
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    feats = rng.standard_normal((n, d)) @ mix + 0.3
    mu, sigma = fid.statistics(rng.standard_normal((5 * d, d)) @ mix)
    replicate = fid._Replicates(feats, mu, sigma)
    counts = np.bincount(rng.integers(0, n, n), minlength=n)
    for c in (np.ones(n, dtype=int), counts):
        expected = fid.frechet_distance(*fid.statistics(np.repeat(feats, c, axis=0)), mu, sigma)
        assert replicate(c) == pytest.approx(expected, rel=1e-6)


def test_the_reference_root_is_computed_once_per_reference(monkeypatch):
    rng = np.random.default_rng(0)
    a, b = (fid.statistics(rng.standard_normal((100, 8)))[1] for _ in range(2))
    calls = []
    eigh = np.linalg.eigh
    monkeypatch.setattr(np.linalg, "eigh", lambda m: calls.append(m.shape) or eigh(m))
    fid._ROOTS.clear()
    roots = [fid._root(s) for s in (a, a.copy(), b, a)]
    assert len(calls) == 2 and roots[0] is roots[1] is roots[3] and roots[2] is not roots[0]
    assert np.allclose(roots[0] @ roots[0], a, atol=1e-10)


def test_bootstrap_interval_brackets_the_estimate(feats):
    mu, sigma = fid.statistics(feats["real"])
    r = fid.fd_with_ci(feats["noise"], mu, sigma, n_boot=30)
    # pytorch-fid's distance, through the eigenvalue form (its sqrtm of a d x d product costs seconds)
    assert r["value"] == pytest.approx(fid.frechet_distance(*fid.statistics(feats["noise"]), mu, sigma), rel=1e-6)
    assert r["ci_low"] < r["value"] < r["ci_high"] and r["n"] == 60
    assert r["bootstrap_bias"] > 0  # resampled sets repeat images: their FD is larger


@pytest.mark.parametrize("seed", range(3))
def test_fd_infinity_lands_closer_to_the_known_distance_than_the_raw_estimate(seed):
    # samples from N(m, I) against the exact statistics of N(0, I): the true FD is |m|^2 = 1, and the
    # n-sample estimate is biased upward by the poorer covariance of few samples
    d, n = 32, 300
    rng = np.random.default_rng(seed)
    m = np.zeros(d)
    m[0] = 1.0
    feats = rng.standard_normal((n, d)) + m
    raw = fid.frechet_distance(*fid.statistics(feats), np.zeros(d), np.eye(d))
    inf = fid.fd_infinity(feats, np.zeros(d), np.eye(d), seed=seed)
    assert raw - 1 > 0.02  # the bias this corrects
    assert abs(inf["value"] - 1) < abs(raw - 1) / 2
    assert inf["spread_low"] <= inf["value"] <= inf["spread_high"] and inf["slope"] > 0
    assert inf["sizes"][-1] == n  # the whole set is the last point of the fit


def test_fd_infinity_is_not_used_with_fewer_samples_than_dimensions():
    # the study's case (n = 1,000 samples, d = 1,280 features) in small: N(m, I) with |m|^2 = 1 again.
    # Below d the bias does not fall as 1/n: the fit misses the distance measured at n and leaves most
    # of the bias, so the page must not show it (and above d, as in the test before, it may)
    d, n = 128, 100
    rng = np.random.default_rng(0)
    m = np.zeros(d)
    m[0] = 1.0
    feats = rng.standard_normal((n, d)) + m
    raw = fid.frechet_distance(*fid.statistics(feats), np.zeros(d), np.eye(d))
    inf = fid.fd_infinity(feats, np.zeros(d), np.eye(d))
    assert inf["value"] - 1 > 0.5 * (raw - 1)  # most of the bias is left
    assert abs(fid.fd_infinity_at(inf, n) - raw) > 0.1 * raw  # the fit does not describe the sizes it came from
    assert not fid.fd_infinity_applies(inf, d) and fid.fd_infinity_applies(inf, inf["sizes"][0] - 1)
    from diffprune.chapters import teachers
    fd = {"value": raw, "ci_low": raw - 1, "ci_high": raw + 1, "n": n, "bootstrap_bias": 0.1}
    row = {"dataset": "gauss", "fd": fd,
           "reference_images": 10_000, "dimensions": d, "metric": "FD", "fd_infinity": inf,
           "kid": {"value": 0.01, "std": 0.001}}
    assert teachers.distance_table([row])["FD∞ (spread over subset draws)"].iloc[0] == "not shown: n ≤ d"
    assert "FD∞ is not shown" in teachers.residual_bias([row]) and "not estimated" in teachers.residual_bias([row])


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    d = 16
    ref = rng.standard_normal((400, d))
    same = fid.kid(rng.standard_normal((300, d)), ref, subsets=20, seed=0)
    shifted = fid.kid(rng.standard_normal((300, d)) + 0.5, ref, subsets=20, seed=0)
    assert abs(same["value"]) < 3 * same["std"] + 1e-3  # unbiased: no floor above zero
    assert shifted["value"] > 10 * max(same["value"], same["std"]) and same["subset_size"] == 300


def test_gray_and_nhwc_inputs(digits):
    a = fid.features(digits[:4])
    b = fid.features(digits[:4].permute(0, 2, 3, 1).numpy())
    assert a.shape == (4, 1280) and np.allclose(a, b)


def test_inception_offline_names_the_file(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    fid.extractor.cache_clear()
    with pytest.raises(DiffpruneError, match=fid.INCEPTION_FILE):
        fid.extractor("inception")


def test_ssim_of_identical_images_is_one_and_drops_with_noise(digits):
    assert np.allclose(ssim_per_pair(digits[:5], digits[:5]), 1.0)
    assert ssim_per_pair(digits[:5], _noise(digits[:5], 40)).max() < 0.9


def test_edge_map_is_zero_on_flat_images_and_peaks_on_edges():
    flat = torch.full((1, 3, 8, 8), 77, dtype=torch.uint8)
    assert edge_map(flat).abs().max() < 1e-6 and edge_map(flat).shape == (1, 1, 8, 8)
    step = torch.zeros(1, 1, 8, 8, dtype=torch.uint8)
    step[..., 4:] = 255
    e = edge_map(step)
    assert e.max() <= 1.0 and e[0, 0, :, 3:5].min() > 0.5 and e[0, 0, :, :2].max() < 1e-6


def test_detail_ignores_a_brightness_shift_that_pixel_ssim_sees(digits):
    x = digits[:20]
    brighter = (x.int() + 40).clamp(max=255).to(torch.uint8)  # the same edges where x < 215
    same = detail_consistency(x, x, n_boot=20)
    assert same["value"] == pytest.approx(1.0) and same["metric"] == "edge SSIM" and same["n"] == 20
    shifted, blurred = detail_consistency(x, brighter, n_boot=20), detail_consistency(x, _blur(x), n_boot=20)
    assert ssim_consistency(x, brighter, n_boot=20)["value"] < 0.95 < shifted["value"]
    assert blurred["value"] < shifted["value"] - 0.2  # blur moves and weakens the edges


def test_pairing_is_by_index_not_by_order(digits):
    a_idx = np.array([0, 1, 2, 3])
    b_images, b_idx = digits[:4].flip(0), a_idx[::-1].copy()  # same samples, stored in reverse
    x, y, common = paired(digits[:4], a_idx, b_images, b_idx)
    assert torch.equal(x, y) and list(common) == [0, 1, 2, 3]
    r = ssim_consistency(x, y, n_boot=50)
    assert r["value"] == pytest.approx(1.0)
    with pytest.raises(DiffpruneError, match="share no sample"):
        paired(digits[:2], [0, 1], digits[:2], [5, 6])


def test_content_consistency_counts_agreement(digits):
    class Parity:
        def predict(self, x):
            return (x.float().mean(dim=(1, 2, 3)) > 30).long()
    r = content_consistency(digits[:20], digits[:20], Parity())
    assert r["value"] == 1.0 and r["ci_low"] < 1.0 and r["n"] == 20


def test_kappa_removes_the_agreement_that_class_frequencies_give_by_chance():
    # both judges answer class 0 for 90% of the images, independently: 82% raw agreement, kappa 0
    a = np.array([0] * 9 + [1]) .repeat(10)
    b = np.tile(np.array([0] * 9 + [1]), 10)
    assert np.mean(a == b) == pytest.approx(0.82) and cohen_kappa(a, b) == pytest.approx(0.0)
    assert cohen_kappa(a, a) == 1.0
    assert cohen_kappa(np.array([0, 1, 0, 1]), np.array([1, 0, 1, 0])) == pytest.approx(-1.0)

    class Constant:  # one class for everything: agreement 1, no information, kappa undefined
        def predict(self, x):
            return np.zeros(len(x), dtype=int)
    x = torch.zeros(6, 1, 8, 8, dtype=torch.uint8)
    r = content_consistency(x, x, Constant(), kappa=True, n_boot=20)
    assert r["value"] == 1.0 and np.isnan(r["kappa"]["value"])


def test_intervals_bracket_their_estimates():
    x = np.random.default_rng(0).normal(5, 1, 50)
    lo, hi = bootstrap_ci(x, n_boot=200)
    assert lo < x.mean() < hi
    m = mean_ci([1.0, 2.0, 3.0])
    assert m["ci_low"] < m["mean"] == 2.0 < m["ci_high"]
    lo, hi = wilson_ci(7, 10)
    assert lo < 0.7 < hi and 0 <= lo and hi <= 1


def test_a_reference_root_does_not_depend_on_the_threads_of_its_first_caller():
    """The root of a reference covariance is cached per process: computed first by a caller with two
    BLAS threads, it must equal the one a one-thread study job computes (LAPACK's eigh rounds
    differently on more threads; the study's records are compared bit for bit across processes)."""
    from threadpoolctl import threadpool_limits
    x = np.random.default_rng(0).standard_normal((64, 512))
    sigma = np.cov(x, rowvar=False)
    with threadpool_limits(2, user_api="blas"):
        two = np.linalg.eigh(sigma)[0]
    with threadpool_limits(1, user_api="blas"):
        if np.array_equal(two, np.linalg.eigh(sigma)[0]):
            pytest.skip("this machine's eigh rounds alike on one and two threads: nothing to tell apart")
    roots = []
    for threads in (2, 1):
        fid._ROOTS.clear()
        with threadpool_limits(threads, user_api="blas"):
            roots.append(fid._root(sigma).copy())
    fid._ROOTS.clear()
    assert np.array_equal(*roots)
