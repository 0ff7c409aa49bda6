"""Channel importance: the five criteria of the study, and the timestep-gated Taylor gradients.

- random / reinit: torch-pruning's RandomImportance (reinit then re-initialises the weights);
- magnitude: L2 norm of the weights of a channel group;
- taylor: first-order Taylor |sum w*g| (torch-pruning multivariable=True, as the official
  baseline), gradients of L_t accumulated over every visited timestep;
- diff-pruning: sum |w*g| (multivariable=False, as the official Diff-Pruning), gradients
  accumulated only until the stopping rule of `threshold.py` fires — or, given a window [a, b) of
  timesteps instead of a threshold, from exactly those timesteps (RQ2's experiments).
"""
from __future__ import annotations

import torch
import torch_pruning as tp
from tqdm import tqdm

from .artifacts import DiffpruneError
from .threshold import should_stop
from .timestep_loss import loss_at

METHODS = ("random", "magnitude", "taylor", "diff-pruning", "reinit")
GRADIENT_METHODS = ("taylor", "diff-pruning")


def criterion(method: str) -> tp.importance.Importance:
    if method in ("random", "reinit"):
        return tp.importance.RandomImportance()
    if method == "magnitude":
        return tp.importance.MagnitudeImportance(p=2)
    if method == "taylor":
        return tp.importance.TaylorImportance(multivariable=True)
    if method == "diff-pruning":
        return tp.importance.TaylorImportance(multivariable=False)
    raise ValueError(f"unknown method {method!r}")


def fixed_noise(images: torch.Tensor, seed: int) -> torch.Tensor:
    """The one fixed noise of an importance pass, drawn on the CPU from `seed` (the same on every device)."""
    return torch.randn(images.shape, generator=torch.Generator().manual_seed(seed)).to(images.device)


def check_window(window, num_train_timesteps: int) -> tuple[int, int]:
    """A window [a, b) of timesteps: integers with 0 <= a < b <= num_train_timesteps."""
    try:
        a, b = (int(v) for v in window)
    except (TypeError, ValueError):
        raise DiffpruneError(f"a timestep window is two integers A:B, got {window!r}") from None
    if not 0 <= a < b <= num_train_timesteps or (a, b) != tuple(window):
        raise DiffpruneError(f"timestep window {a}:{b} is not a window [A, B) with 0 <= A < B <= "
                             f"{num_train_timesteps}")
    return a, b


def accumulate_gradients(model, scheduler, x0: torch.Tensor, noise: torch.Tensor, *,
                         threshold: float | None, timestep_stride: int = 1,
                         window: tuple[int, int] | None = None, progress: bool = True) -> dict:
    """Visit t = a, a + k, a + 2k, ... < b (default [0, 1000)) and accumulate dL_t/dw into `.grad`.

    With a threshold (Diff-Pruning) the walk stops at the first t where L_t falls below
    T * max(L_0..L_t); that t is recorded but contributes no gradient (see threshold.py).
    Returns the visited timesteps, their losses, the stop t (None if never) and how many
    timesteps contributed gradients.
    """
    model.zero_grad(set_to_none=True)
    model.train(False)  # no dropout: L_t must be a deterministic function of t
    a, b = check_window(window or (0, scheduler.config.num_train_timesteps), scheduler.config.num_train_timesteps)
    visited, losses = [], []
    stop_t, max_loss = None, float("-inf")
    bar = tqdm(range(a, b, timestep_stride), desc="timestep gradients", disable=not progress, leave=False)
    for t in bar:
        loss = loss_at(model, scheduler, x0, noise, t)
        value = float(loss.detach())
        visited.append(t)
        losses.append(value)
        max_loss = max(max_loss, value)
        if threshold is not None and should_stop(value, max_loss, threshold):
            stop_t = t
            break
        loss.backward()
        bar.set_postfix(L_t=f"{value:.4f}")
    bar.close()
    return {"visited_t": visited, "loss_t": losses, "stop_t": stop_t,
            "grad_timesteps": len(visited) - (stop_t is not None)}
