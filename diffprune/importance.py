"""Channel importance: the five criteria of the study, and the timestep-gated Taylor gradients.

- random / reinit: torch-pruning's RandomImportance (reinit then re-initialises the weights);
- magnitude: L2 norm of the weights of a channel group;
- taylor: first-order Taylor |sum w*g| (torch-pruning multivariable=True, as the official
  baseline), gradients of L_t accumulated over every visited timestep;
- diff-pruning: sum |w*g| (multivariable=False, as the official Diff-Pruning), gradients
  accumulated only until the stopping rule of `threshold.py` fires — or, given a window [a, b) of
  timesteps instead of a threshold, from exactly those timesteps (RQ2's experiments).

A gradient method's score form can be chosen (RQ2's ablation, `SCORES`): "abs" sum |w*g| (the
diffusers scripts' Diff-Pruning), "sum" |sum w*g| (their Taylor baseline), "square" sum (w*g)^2
(the official `ddpm_exp/` code behind the paper's Table 1, for Taylor and Diff-Pruning alike).

A new criterion is added with `register` (the exercises chapter shows one in a few lines).
"""
from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable

import torch
import torch_pruning as tp

from .artifacts import DiffpruneError
from .progress import Bar
from .threshold import should_stop
from .timestep_loss import loss_at

# Lists, not tuples: `register` adds to them, and every check reads them live.
METHODS = ["random", "magnitude", "taylor", "diff-pruning", "reinit"]
GRADIENT_METHODS = ["taylor", "diff-pruning"]
_REGISTERED: dict[str, tuple[Callable[[], tp.importance.Importance], str]] = {}


def register(name: str, make: Callable[[], tp.importance.Importance], *, gradients: bool = False) -> None:
    """The extension point for a new importance criterion: `make()` returns a torch-pruning
    `Importance`, called on each group of coupled channels (see torch-pruning's
    `MagnitudeImportance` for the shape of one) and returning one score per channel; the lowest
    scores are pruned. With `gradients=True` each parameter's `.grad` holds the gradients of L_t
    summed over every visited timestep (Taylor's walk) when it is called. After `register`, `name`
    works wherever a method does: `prune`, the profiles' `methods`, the study cache (whose keys
    include a hash of the module that defines `make`, so an edited criterion is recomputed)."""
    if name in METHODS and name not in _REGISTERED:
        raise DiffpruneError(f"method {name!r} is built in; register a criterion under another name")
    module = inspect.getmodule(make)
    source = inspect.getsource(module) if module else repr(make)
    _REGISTERED[name] = (make, hashlib.sha256(source.encode()).hexdigest()[:16])
    if name not in METHODS:
        METHODS.append(name)
    if gradients and name not in GRADIENT_METHODS:
        GRADIENT_METHODS.append(name)


def fingerprint(method: str) -> str | None:
    """A registered criterion's source hash (None for a built-in method)."""
    return _REGISTERED[method][1] if method in _REGISTERED else None


SCORES = ("abs", "sum", "square")
DEFAULT_SCORE = {"taylor": "sum", "diff-pruning": "abs"}


class SquaredTaylorImportance(tp.importance.GroupTaylorImportance):
    """sum (w*g)^2 over a channel's weights, the vendored score of the official `ddpm_exp/` code,
    which torch-pruning does not offer. Computed as torch-pruning's own sum |w'*g'| with
    w' = g' = |w*g|, so that its handling of every layer kind is reused. (The vendored score keeps
    the GroupNorm terms |w*g| unsquared, and sums rather than averages over a group's layers; in a
    local ranking the latter changes nothing.)"""

    def __init__(self):
        super().__init__(multivariable=False)

    @torch.no_grad()
    def __call__(self, group):
        params = {id(w): w for dep, _ in group for w in (getattr(dep.target.module, "weight", None),)
                  if isinstance(w, torch.nn.Parameter) and w.grad is not None}
        saved = {k: (w.data, w.grad) for k, w in params.items()}
        try:
            for w in params.values():
                wg = (w.data * w.grad).abs()
                w.data, w.grad = wg, wg.clone()
            return super().__call__(group)
        finally:
            for k, w in params.items():
                w.data, w.grad = saved[k]


def criterion(method: str, score: str | None = None) -> tp.importance.Importance:
    if method in _REGISTERED:
        return _REGISTERED[method][0]()
    if method in ("random", "reinit"):
        return tp.importance.RandomImportance()
    if method == "magnitude":
        return tp.importance.MagnitudeImportance(p=2)
    if method in GRADIENT_METHODS:
        score = score or DEFAULT_SCORE[method]
        if score == "square":
            return SquaredTaylorImportance()
        if score in ("abs", "sum"):
            return tp.importance.TaylorImportance(multivariable=score == "sum")
        raise ValueError(f"unknown score {score!r}")
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


def gradients(model) -> dict[str, torch.Tensor]:
    """A copy of the accumulated gradients, {parameter name: dL/dw} (zeros where none)."""
    return {n: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
            for n, p in model.named_parameters()}


def accumulate_gradients(model, scheduler, x0: torch.Tensor, noise: torch.Tensor, *,
                         threshold: float | None, timestep_stride: int = 1,
                         window: tuple[int, int] | None = None, snapshots=(), progress: bool = True) -> dict:
    """Visit t = a, a + k, a + 2k, ... < b (default [0, 1000)) and accumulate dL_t/dw into `.grad`.

    With a threshold (Diff-Pruning) the walk stops at the first t where L_t falls below
    T * max(L_0..L_t); that t is recorded but contributes no gradient (see threshold.py).
    Returns the visited timesteps, their losses, the stop t (None if never) and how many
    timesteps contributed gradients; with `snapshots` (stages k, a < k <= b, no threshold) also
    {k: the gradients summed over the visited t < k}, so that any window between two stages is a
    difference of two snapshots and one walk serves many windows.
    """
    model.zero_grad(set_to_none=True)
    model.train(False)  # no dropout: L_t must be a deterministic function of t
    a, b = check_window(window or (0, scheduler.config.num_train_timesteps), scheduler.config.num_train_timesteps)
    pending = sorted(snapshots)
    if pending and (threshold is not None or not a < pending[0] or pending[-1] > b):
        raise DiffpruneError(f"gradient snapshots need stages in ({a}, {b}] and no threshold, got {pending}")
    saved = {}
    visited, losses = [], []
    stop_t, max_loss = None, float("-inf")
    bar = Bar(range(a, b, timestep_stride), desc="timestep gradients", disable=not progress, leave=False)
    for t in bar:
        while pending and pending[0] <= t:
            saved[pending.pop(0)] = gradients(model)
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
    saved.update({k: gradients(model) for k in pending})
    record = {"visited_t": visited, "loss_t": losses, "stop_t": stop_t,
              "grad_timesteps": len(visited) - (stop_t is not None)}
    return {**record, "snapshots": saved} if snapshots else record
