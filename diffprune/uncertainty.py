"""Confidence intervals: bootstrap for any statistic, t-intervals over seeds, Wilson for rates."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats


def bootstrap_ci(values: np.ndarray, statistic: Callable[[np.ndarray], float] = np.mean, *,
                 n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic` over the rows of `values`."""
    values = np.asarray(values)
    rng = np.random.default_rng(seed)
    reps = [statistic(values[rng.integers(0, len(values), len(values))]) for _ in range(n_boot)]
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def mean_ci(values: Sequence[float], level: float = 0.95) -> dict:
    """Mean and Student-t interval, e.g. of one metric over seeds."""
    x = np.asarray(values, dtype=float)
    mean = float(x.mean())
    if len(x) < 2:
        return {"mean": mean, "ci_low": math.nan, "ci_high": math.nan, "n": len(x)}
    half = float(stats.t.ppf((1 + level) / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": len(x)}


def wilson_ci(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (well-behaved near 0 and 1)."""
    if n == 0:
        return math.nan, math.nan
    z = stats.norm.ppf((1 + level) / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half
