"""Derived seeds: one independent random stream per (seed, purpose, index).

Drawing each step's or each sample's randomness from its own stream makes runs resumable and
samples pairable: nothing depends on how much randomness was consumed before.
"""
from __future__ import annotations

import numpy as np
import torch

STEP, EPOCH, SAMPLE = 0, 1, 2


def derived_seed(seed: int, purpose: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, purpose, index]).generate_state(1)[0])


def generator(seed: int, purpose: int, index: int) -> torch.Generator:
    return torch.Generator().manual_seed(derived_seed(seed, purpose, index))
