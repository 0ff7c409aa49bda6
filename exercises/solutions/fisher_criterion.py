"""Exercise 2, a solution: a Fisher-style criterion, sum over a channel's weights of (w * g)^2 with
the gradients of L_t over every visited timestep (Taylor's walk).

    python -m diffprune book --profile smoke --chapter rq1 \
        -p extensions "[exercises/solutions/fisher_criterion.py]" -p methods "[magnitude, fisher]"
"""
import torch
import torch_pruning as tp

from diffprune.importance import register


class FisherImportance(tp.importance.GroupMagnitudeImportance):
    """torch-pruning's magnitude importance on w * g instead of w, squared (p = 2)."""

    def __init__(self):
        super().__init__(p=2)

    @torch.no_grad()
    def __call__(self, group):
        weights = [dep.target.module.weight for dep, _ in group
                   if isinstance(getattr(dep.target.module, "weight", None), torch.nn.Parameter)]
        saved = [w.data for w in weights]
        try:
            for w in weights:
                if w.grad is not None:
                    w.data = w.data * w.grad
            return super().__call__(group)
        finally:
            for w, data in zip(weights, saved, strict=True):
                w.data = data


register("fisher", FisherImportance, gradients=True)
