"""Inference levers: how a UNet's forward pass runs — its precision, memory layout, compilation and
cuDNN's algorithm search — without changing the function it computes beyond rounding.

A pruned model exists to be faster; whether it is depends on how the forward runs as much as on its
MACs (RQ3, "Measured speed"). Each lever is a field of `Levers`, a flag of `sample` and of the speed
step, and part of their records (only where it is not the default, so earlier keys stay valid).
The gap filled here: diffusers' pipelines take a dtype but no autocast with attention kept in fp32,
no channels-last input, and compile nothing themselves.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import torch

from .artifacts import DiffpruneError

PRECISIONS = ("fp32", "bf16", "fp16")


class _FullPrecisionAttention:
    """An attention processor that runs its wrapped one outside autocast, in fp32: under CPU
    autocast the bf16 SDPA backward of the study's 8-wide heads is 4x slower than fp32, while bf16
    makes the convolutions 3x faster (benchmarks/train_levers.py); diffusers has no such processor."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None):
        # the inner processor's own arguments, named: diffusers passes a processor only those it names
        with torch.autocast(hidden_states.device.type, enabled=False):
            return self.inner(attn, hidden_states.float(), encoder_hidden_states, attention_mask,
                              None if temb is None else temb.float())


def attention_in_fp32(model) -> Callable[[], None]:
    """Wrap every attention layer's processor in `_FullPrecisionAttention`; returns the undo."""
    from diffusers.models.attention_processor import Attention
    layers = [m for m in model.modules() if isinstance(m, Attention)]
    before = [m.processor for m in layers]
    for m in layers:
        m.set_processor(_FullPrecisionAttention(m.processor))

    def undo() -> None:
        for m, proc in zip(layers, before, strict=True):
            m.set_processor(proc)
    return undo


@dataclass(frozen=True)
class Levers:
    precision: str = "fp32"        # bf16 / fp16: the forward under autocast, attention kept in fp32
    channels_last: bool = False    # NHWC memory layout for the convolutions
    compile: bool = False          # torch.compile (on CUDA in "reduce-overhead" mode: CUDA graphs)
    cudnn_benchmark: bool = False  # let cuDNN time its algorithms for each shape (CUDA only)

    def check(self, device: str | torch.device) -> None:
        """One clear error for a lever that cannot work on `device`."""
        kind = torch.device(device).type
        if self.precision not in PRECISIONS:
            raise DiffpruneError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.precision == "fp16" and kind != "cuda":
            raise DiffpruneError("fp16 autocast is a GPU lever; on a CPU use bf16")
        if self.cudnn_benchmark and kind != "cuda":
            raise DiffpruneError("cudnn-benchmark is a GPU lever (cuDNN); this device is the CPU")

    def params(self) -> dict:
        """The levers that differ from the default (what a record's key includes)."""
        default = Levers()
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) != getattr(default, f.name)}

    @classmethod
    def of(cls, params: dict | None) -> Levers:
        return cls(**(params or {}))

    def describe(self) -> str:
        on = [k.replace("_", "-") for k, v in asdict(self).items() if v is True]
        return " + ".join([self.precision, *on])


@contextlib.contextmanager
def applied(unet, levers: Levers, device: str | torch.device):
    """`unet` prepared for `levers` on `device`; yields the forward to call, `forward(x, t)` with
    x in the model's layout (converted here) and an output in fp32. Restores the model after."""
    levers.check(device)
    kind = torch.device(device).type
    undo = attention_in_fp32(unet) if levers.precision != "fp32" else None
    fmt = torch.channels_last if levers.channels_last else torch.contiguous_format
    unet.to(memory_format=fmt)
    net = unet
    if levers.compile:
        net = torch.compile(unet, mode="reduce-overhead" if kind == "cuda" else None)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(levers.precision)
    before = torch.backends.cudnn.benchmark

    def forward(x: torch.Tensor, t: torch.Tensor):
        with torch.autocast(kind, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            out = net(x.contiguous(memory_format=fmt), t).sample
        return out.float().contiguous()

    torch.backends.cudnn.benchmark = levers.cudnn_benchmark or before
    try:
        yield forward
    finally:
        torch.backends.cudnn.benchmark = before
        unet.to(memory_format=torch.contiguous_format)
        if undo is not None:
            undo()
