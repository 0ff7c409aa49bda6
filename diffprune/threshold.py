"""The stopping rule of Diff-Pruning (paper Eq. 8): which timesteps are informative.

t runs upward from 0; the loss L_t of each visited t is compared with the largest loss seen so
far, and gradient accumulation stops at the first t with L_t < T * max(L_0..L_t).

Off-by-one: we follow `ddpm_exp/prune.py` of the official code, the path that produced the
paper's numbers: the rule is tested *before* backward(), so the stopping t contributes no
gradient. (The root `ddpm_prune.py` calls backward() first and so includes it.) With T = 0 the
rule never fires and every visited t contributes.
"""
from __future__ import annotations

from collections.abc import Sequence

DEFAULT = 0.05  # T where none is given: the official diffusers scripts' default (ddpm_exp's is 0.01)


def should_stop(loss: float, max_loss: float, threshold: float) -> bool:
    """True when `loss` is uninformative: below T times the largest loss seen so far (itself included)."""
    return loss < threshold * max(max_loss, loss)


def stop_index(losses: Sequence[float], threshold: float) -> int | None:
    """Index of the first loss at which the rule fires, or None if it never does."""
    max_loss = float("-inf")
    for i, loss in enumerate(losses):
        max_loss = max(max_loss, loss)
        if should_stop(loss, max_loss, threshold):
            return i
    return None


def stop_times(t: Sequence[int], losses: Sequence[float], thresholds: Sequence[float]) -> dict[float, int | None]:
    """The stop t of each threshold on one L_t curve visited at timesteps `t` (None: never fires)."""
    out = {}
    for T in thresholds:
        i = stop_index(losses, T)
        out[T] = None if i is None else t[i]
    return out
