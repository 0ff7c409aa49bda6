"""Structural pruning of a diffusers UNet2DModel with torch-pruning.

What torch-pruning lacks for diffusers' UNets, and this module adds:
- attention: q/k/v are pruned head-consistently (`num_heads`), otherwise widths stop splitting
  into heads and the forward fails;
- Downsample2D / Upsample2D / Attention keep width attributes that torch-pruning does not update
  (`unet.sync_widths`);
- a pruning is recorded as torch-pruning's pruning history, which `unet.apply_pruning_history`
  replays on a dense model built from the config: how a pruned model is reloaded without pickle.
GroupNorm layers are pruned group-consistently by torch-pruning itself, so a ratio is honoured
only when each group can lose the same number of channels: the report gives the real fractions.
"""
from __future__ import annotations

import importlib.metadata
import math
import time

import torch
import torch_pruning as tp
from diffusers.models.attention_processor import Attention

from .artifacts import DiffpruneError, code_version, device_description
from .cost import count_macs, count_params
from .importance import (
    DEFAULT_SCORE,
    GRADIENT_METHODS,
    METHODS,
    SCORES,
    accumulate_gradients,
    check_window,
    criterion,
    fixed_noise,
)
from .threshold import DEFAULT as DEFAULT_THRESHOLD
from .unet import example_inputs, sync_widths


def widths(model) -> dict[str, int]:
    """Output width of each block (its last resnet) and of the time embedding."""
    out = {"time_embedding": model.time_embedding.linear_1.out_features}
    for prefix, blocks in (("down_blocks", model.down_blocks), ("up_blocks", model.up_blocks)):
        for i, block in enumerate(blocks):
            out[f"{prefix}.{i}"] = block.resnets[-1].conv2.out_channels
    out["mid_block"] = model.mid_block.resnets[-1].conv2.out_channels
    return out


def validate(method: str, ratio: float, threshold: float, timestep_stride: int, score: str | None = None,
             round_to: int = 1) -> None:
    if method not in METHODS:
        raise DiffpruneError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if score is not None and (method not in GRADIENT_METHODS or score not in SCORES):
        raise DiffpruneError(f"a score form ({', '.join(SCORES)}) is chosen only for a gradient method "
                             f"({', '.join(GRADIENT_METHODS)}), got {score!r} for {method!r}")
    if not (isinstance(ratio, (int, float)) and 0 < ratio < 1):
        raise DiffpruneError(f"ratio must be in (0, 1), got {ratio}")
    if not (math.isfinite(threshold) and 0 <= threshold < 1):
        raise DiffpruneError(f"threshold must be in [0, 1), got {threshold}")
    if int(timestep_stride) != timestep_stride or timestep_stride < 1:
        raise DiffpruneError(f"timestep stride must be an integer >= 1, got {timestep_stride}")
    if not isinstance(round_to, int) or round_to < 1:
        raise DiffpruneError(f"round-to must be an integer >= 1, got {round_to}")


def _heads(model) -> dict:
    heads = {}
    for m in model.modules():
        if isinstance(m, Attention):
            for layer in (m.to_q, m.to_k, m.to_v):
                heads[layer] = m.heads
    return heads


def _reinitialise(model, seed: int) -> None:
    # Fresh default initialisation at the pruned widths: the "scratch" baseline's starting point.
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for m in model.modules():
            if m is not model and hasattr(m, "reset_parameters"):
                m.reset_parameters()


def _pruner(model, method: str, ratio: float, score: str | None = None, round_to: int = 1) -> tp.pruner.MetaPruner:
    # local, uniform ratio; attention pruned head-consistently; the output conv keeps its channels
    options = dict(importance=criterion(method, score), pruning_ratio=ratio, ignored_layers=[model.conv_out],
                   num_heads=_heads(model))
    pruner = tp.pruner.MetaPruner(model, example_inputs(model), **options)
    if round_to == 1:
        return pruner
    return tp.pruner.MetaPruner(model, example_inputs(model), pruning_ratio_dict=_rounded(pruner, ratio, round_to),
                                **options)


def _rounded(pruner: tp.pruner.MetaPruner, ratio: float, round_to: int) -> dict:
    """A ratio per group that keeps a multiple of `round_to` channels: the uniform prune's own width
    where it is one already, else that width rounded to the nearest multiple (at least `round_to`),
    so that rounding changes only the widths it must. The gap it fills: torch-pruning's own `round_to`
    rounds the whole width while it prunes a GroupNorm's (or attention's) channel groups one group at
    a time, so with 8 GroupNorm groups it prunes none of their layers (MACs x0.99 at ratio 0.25). Here
    the kept channels per group are rounded to a multiple of round_to / gcd(round_to, groups), which
    keeps the groups even and the whole width a multiple of `round_to`."""
    out = {}
    for group in pruner.DG.get_all_groups(ignored_layers=pruner.ignored_layers,
                                          root_module_types=pruner.root_module_types):
        module, fn = group[0].dep.target.module, group[0].dep.handler
        width = (pruner.DG.get_out_channels(module) if pruner.DG.is_out_channel_pruning_fn(fn)
                 else pruner.DG.get_in_channels(module))
        groups = pruner._get_channel_groups(group)
        size, step = width // groups, round_to // math.gcd(round_to, groups)
        uniform = int(size * (1 - ratio))  # what torch-pruning keeps per group at the uniform ratio
        keep = min(size, max(step, math.floor(uniform / step + 0.5) * step))  # halves up
        out[module] = 1 - (keep + 0.5) / size  # so that int(size * (1 - r)) is `keep`
    return out


def channel_scores(model, method: str, score: str | None = None) -> dict[str, list[float]]:
    """The importance of every channel of every group torch-pruning would rank, from the gradients
    now in `.grad` (gradient methods), without pruning: {root layer of the group: scores}."""
    pruner = _pruner(model, method, 0.5, score)
    return {pruner.DG._module2name[group[0].dep.target.module]: pruner.estimate_importance(group).tolist()
            for group in pruner.DG.get_all_groups(ignored_layers=pruner.ignored_layers,
                                                  root_module_types=pruner.root_module_types)}


def removed_channels(history) -> dict[str, list[int]]:
    """{root layer: removed output channels} of a pruning history (torch-pruning's records)."""
    return {name: sorted(idxs) for name, is_out, idxs in history if is_out}


def prune(model, method: str, ratio: float, *, scheduler=None, images: torch.Tensor | None = None,
          threshold: float = DEFAULT_THRESHOLD, timestep_stride: int = 1, window: tuple[int, int] | None = None,
          gradients: dict[str, torch.Tensor] | None = None, score: str | None = None, seed: int = 0,
          round_to: int = 1, progress: bool = True) -> tuple[torch.nn.Module, dict]:
    """Prune `model` in place by channel ratio `ratio` with `method`; return it and a report.

    `images` (pixels in [-1, 1]) is the one fixed batch the gradient methods need; the noise is
    drawn once from `seed`. A `window` [a, b) takes the gradients from exactly those timesteps, in
    place of Diff-Pruning's threshold rule; `gradients` are those of the window already summed
    (e.g. a difference of `accumulate_gradients` snapshots), so no walk is made. The model keeps
    its pruning history in `model.pruning_history`; the report lists the removed channels. `score`
    picks a gradient method's score form (`importance.SCORES`; default the method's own).
    `round_to` > 1 keeps a multiple of it in every pruned width (`_rounded`); 1 is the paper's
    uniform ratio.
    """
    validate(method, ratio, threshold, timestep_stride, score, round_to)
    if window is not None:
        if method not in GRADIENT_METHODS:
            raise DiffpruneError(f"a timestep window needs a gradient method ({', '.join(GRADIENT_METHODS)})")
        window = check_window(window, scheduler.config.num_train_timesteps)
    if gradients is not None and window is None:
        raise DiffpruneError("precomputed gradients need the window they were summed over")
    if method in GRADIENT_METHODS and images is None and gradients is None:
        raise DiffpruneError(f"method {method!r} needs data: pass a dataset")
    if getattr(model, "pruning_history", None):
        raise DiffpruneError("model is already pruned; prune its dense teacher instead")
    start = time.perf_counter()
    before = {"params": count_params(model), "macs": count_macs(model), "widths": widths(model)}
    report = {"method": method, "ratio": ratio, "seed": seed,
              "threshold": threshold if method == "diff-pruning" and window is None else None,
              "window": list(window) if window else None,
              "timestep_stride": timestep_stride if method in GRADIENT_METHODS else None,
              "batch_size": None if images is None else int(images.shape[0]),
              "gradients": "precomputed" if gradients is not None else None,
              "score": score or DEFAULT_SCORE.get(method), "round_to": round_to}

    if gradients is not None:
        for name, param in model.named_parameters():
            param.grad = gradients[name].to(param.device, param.dtype).clone()
        record = {"visited_t": list(range(*window, timestep_stride)), "loss_t": None, "stop_t": None,
                  "grad_timesteps": len(range(*window, timestep_stride))}
    elif method in GRADIENT_METHODS:
        noise = fixed_noise(images, seed)
        record = accumulate_gradients(model, scheduler, images, noise, threshold=report["threshold"],
                                      timestep_stride=timestep_stride, window=window, progress=progress)
    else:
        record = {"visited_t": [], "loss_t": [], "stop_t": None, "grad_timesteps": 0}
    report.update(record)

    pruner = _pruner(model, method, ratio, score, round_to)
    with torch.random.fork_rng():
        torch.manual_seed(seed)  # RandomImportance draws from the global generator
        pruner.step()
    sync_widths(model)
    model.zero_grad(set_to_none=True)
    if method == "reinit":
        _reinitialise(model, seed)
    model.pruning_history = pruner.pruning_history()

    after = {"params": count_params(model), "macs": count_macs(model), "widths": widths(model)}
    report.update({
        "params_before": before["params"], "params_after": after["params"],
        "macs_before": before["macs"], "macs_after": after["macs"],
        "params_fraction": after["params"] / before["params"],
        "macs_fraction": after["macs"] / before["macs"],
        "widths_before": before["widths"], "widths_after": after["widths"],
        "removed": removed_channels(model.pruning_history),
        "wall_time_s": round(time.perf_counter() - start, 3),
        "code_version": code_version(), "device": device_description(),
        "torch_pruning": importlib.metadata.version("torch-pruning"),
    })
    return model, report
