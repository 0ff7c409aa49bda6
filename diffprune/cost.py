"""Cost of a model: parameters, multiply-accumulates (MACs) of one forward pass, measured throughput."""
from __future__ import annotations

import statistics
import time

import torch
from torch.utils import flop_counter

from .unet import image_shape


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


def _macs(run) -> int:
    with flop_counter.FlopCounterMode(display=False, custom_mapping=_EXTRA_FORMULAS) as counter:
        run()
    return counter.get_total_flops() // 2


@torch.no_grad()
def count_macs(model: torch.nn.Module) -> int:
    """MACs of one forward pass on one image (conv, linear and attention matmuls)."""
    c, h, w = image_shape(model)
    param = next(model.parameters())
    x = torch.zeros(1, c, h, w, device=param.device, dtype=param.dtype)
    t = torch.ones(1, dtype=torch.long, device=param.device)
    return _macs(lambda: model(x, t))


@torch.no_grad()
def count_decode_macs(vqvae, latent_shape: tuple[int, int, int]) -> int:
    """MACs of decoding one latent to an image (a latent model samples with its UNet, then this once)."""
    param = next(vqvae.parameters())
    z = torch.zeros(1, *latent_shape, device=param.device, dtype=param.dtype)
    return _macs(lambda: vqvae.decode(z))


def _timed(run, cuda: bool, batch_size: int, repeats: int, warmup: int) -> dict:
    """The median of `repeats` timed calls after `warmup` untimed ones."""
    times = []
    for i in range(warmup + repeats):
        start = time.perf_counter()
        run()
        if cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"batch_size": batch_size, "repeats": repeats, "threads": torch.get_num_threads(),
            "seconds_per_batch": median, "images_per_s": batch_size / median}


@torch.no_grad()
def throughput(model: torch.nn.Module, batch_size: int = 64, repeats: int = 5, warmup: int = 1,
               levers=None) -> dict:
    """Images per second through one denoising step (one UNet forward), median of `repeats`, under
    the inference `levers` (`levers.Levers`; None: the plain fp32 forward).

    Sampling cost is this forward times the number of sampler steps, so the ratio of two models'
    throughputs is their sampling speed-up.
    """
    from .levers import Levers, applied
    c, h, w = image_shape(model)
    param = next(model.parameters())
    x = torch.randn(batch_size, c, h, w, generator=torch.Generator().manual_seed(0)).to(param.device)
    t = torch.full((batch_size,), 500, dtype=torch.long, device=param.device)
    model.eval()
    if levers is None or levers == Levers():
        return _timed(lambda: model(x, t), param.is_cuda, batch_size, repeats, warmup)
    with applied(model, levers, param.device) as forward:
        return {**_timed(lambda: forward(x, t), param.is_cuda, batch_size, repeats, warmup),
                "levers": levers.params()}


@torch.no_grad()
def decode_throughput(vqvae, latent_shape: tuple[int, int, int], batch_size: int = 64, repeats: int = 5,
                      warmup: int = 1) -> dict:
    """Images per second through the autoencoder's decoder (once per sample of a latent model)."""
    param = next(vqvae.parameters())
    z = torch.randn(batch_size, *latent_shape, generator=torch.Generator().manual_seed(0)).to(param.device)
    vqvae.eval()
    return _timed(lambda: vqvae.decode(z), param.is_cuda, batch_size, repeats, warmup)


def cost_report(model, baseline=None, batch_size: int = 64, repeats: int = 5) -> dict:
    """Params, MACs and throughput of `model`; with a baseline, the measured and ideal speed-ups."""
    report = {"params": count_params(model), "macs": count_macs(model),
              "throughput": throughput(model, batch_size, repeats)}
    if baseline is not None:
        base = cost_report(baseline, None, batch_size, repeats)
        speedup = report["throughput"]["images_per_s"] / base["throughput"]["images_per_s"]
        ideal = base["macs"] / report["macs"]
        report["baseline"] = base
        report.update({"params_fraction": report["params"] / base["params"],
                       "macs_fraction": report["macs"] / base["macs"],
                       "speedup": speedup, "ideal_speedup": ideal, "speedup_over_ideal": speedup / ideal})
    return report
