"""Cost of a model: parameters and multiply-accumulates (MACs) of one forward pass."""
from __future__ import annotations

import torch
from torch.utils import flop_counter


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# torch-pruning's count_ops_and_params misses diffusers' attention matmuls, and FlopCounterMode has
# no formula for the CPU kernel of scaled_dot_product_attention; this mapping fills that gap with
# torch's own SDPA formula, so the attention matmuls are counted on every device.
def _sdpa_cpu_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape)


_EXTRA_FORMULAS = {}
if hasattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu"):
    _EXTRA_FORMULAS[torch.ops.aten._scaled_dot_product_flash_attention_for_cpu] = _sdpa_cpu_flops


def sample_shape(model) -> tuple[int, int, int]:
    size = model.config.sample_size
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    return (model.config.in_channels, h, w)


@torch.no_grad()
def count_macs(model: torch.nn.Module) -> int:
    """MACs of one forward pass on one image (conv, linear and attention matmuls)."""
    c, h, w = sample_shape(model)
    param = next(model.parameters())
    x = torch.zeros(1, c, h, w, device=param.device, dtype=param.dtype)
    t = torch.ones(1, dtype=torch.long, device=param.device)
    with flop_counter.FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS) as counter:
        model(x, t)
    return counter.get_total_flops() // 2
