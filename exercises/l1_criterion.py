"""A new importance criterion through the extension point `diffprune.importance.register`: the L1
norm of each channel's weights (the built-in `magnitude` uses the L2 norm).

Run it through the RQ1 table (the Exercises chapter, exercise 2):

    python -m diffprune book --profile smoke --chapter rq1 \
        -p extensions "[exercises/l1_criterion.py]" -p methods "[random, magnitude, l1]"

A criterion is a torch-pruning `Importance`: called on each group of coupled channels, it returns
one score per channel, and the lowest are pruned. One that needs gradients registers with
`gradients=True`; each parameter's `.grad` then holds the gradients of L_t summed over the visited
timesteps.
"""
import torch_pruning as tp

from diffprune.importance import register

register("l1", lambda: tp.importance.MagnitudeImportance(p=1))
