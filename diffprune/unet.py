"""The denoising UNet: presets, and loading/saving dense and pruned UNets without pickle.

A model directory is either a UNet directory (`config.json` + safetensors weights, diffusers'
`save_pretrained` layout) or a pipeline-style directory holding `unet/` (and `scheduler/`).
A *pruned* UNet directory additionally holds `pruning.json`: torch-pruning's pruning history.
Its `config.json` is the dense config; loading builds the dense model, replays the history and
loads the weights (diffusers' `save_pretrained` alone cannot describe a pruned model: reloading
it fails or silently re-initialises at full width). `diffprune.json` records the sha256 of the
weights so a truncated or tampered file is caught.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import safetensors
import safetensors.torch
import torch
import torch_pruning as tp
from diffusers import DDPMScheduler, UNet2DModel
from diffusers.models.attention_processor import Attention
from diffusers.models.downsampling import Downsample2D
from diffusers.models.upsampling import Upsample2D

from .artifacts import DiffpruneError, sha256_file, write_json_atomic

WEIGHTS = "diffusion_pytorch_model.safetensors"
HISTORY = "pruning.json"
MANIFEST = "diffprune.json"

# Small UNets for the study. norm_num_groups=8 keeps GroupNorm from rounding pruning ratios
# away (with 32 groups, 32-channel layers cannot be pruned at all); attention_head_dim=8 gives
# multi-head attention (4-8 heads) so head-consistent pruning is exercised.
PRESETS = {
    "small": dict(layers_per_block=1, block_out_channels=(32, 64, 64), norm_num_groups=8,
                  attention_head_dim=8, dropout=0.1,
                  down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
                  up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D")),
    "tiny": dict(layers_per_block=1, block_out_channels=(16, 32), norm_num_groups=4,
                 attention_head_dim=4, dropout=0.0,
                 down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                 up_block_types=("AttnUpBlock2D", "UpBlock2D")),
    # google/ddpm-cifar10-32's unet/config.json (the keys that set the architecture, 35.7 M
    # parameters): the paper's model, built here with random weights where only its size matters
    "ddpm-cifar10-32": dict(layers_per_block=2, block_out_channels=(128, 256, 256, 256), norm_num_groups=32,
                            norm_eps=1e-6, attention_head_dim=None, downsample_padding=0, flip_sin_to_cos=False,
                            freq_shift=1,
                            down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
                            up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D")),
}


def build_unet(preset: str, channels: int, size: int, seed: int = 0, **overrides) -> UNet2DModel:
    if preset not in PRESETS:
        raise DiffpruneError(f"unknown model preset {preset!r}; choose one of {', '.join(PRESETS)}")
    cfg = {**PRESETS[preset], **overrides}
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return UNet2DModel(sample_size=size, in_channels=channels, out_channels=channels, **cfg)


def default_scheduler() -> DDPMScheduler:
    """The DDPM schedule of the paper's CIFAR-10 model: 1000 linear betas from 1e-4 to 0.02."""
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4,
                         beta_end=0.02, clip_sample=False)


def _unet_dir(path: Path) -> Path:
    return path / "unet" if (path / "unet" / "config.json").is_file() else path


def looks_local(name: str) -> bool:
    return os.path.isabs(name) or name.startswith((".", "~")) or os.path.exists(name) or name.count("/") != 1


def load_unet(path: str | os.PathLike) -> UNet2DModel:
    """Load a dense or pruned UNet from a local directory, or a dense one from the hub."""
    name = str(path)
    local = Path(name).expanduser()
    if not local.exists():
        if looks_local(name):
            raise DiffpruneError(f"model directory not found: {name}")
        return _from_hub(name)
    d = _unet_dir(local)
    if not (d / "config.json").is_file():
        raise DiffpruneError(f"{name} is not a model directory (no config.json or unet/config.json)")
    _check_weights(d)
    if not (d / HISTORY).is_file():
        try:
            return UNet2DModel.from_pretrained(d)
        except (OSError, ValueError, RuntimeError, safetensors.SafetensorError) as e:
            raise DiffpruneError(f"cannot load model from {d}: {_first_line(e)}") from None
    try:
        config = UNet2DModel.load_config(d)
        history = json.loads((d / HISTORY).read_text())
        model = UNet2DModel.from_config(config)
        apply_pruning_history(model, history)
        state = safetensors.torch.load_file(d / WEIGHTS)
        model.load_state_dict(state, strict=True)
    except (OSError, ValueError, RuntimeError, KeyError, IndexError, AttributeError, TypeError,
            safetensors.SafetensorError) as e:
        raise DiffpruneError(f"pruned model in {d} does not fit its config: {_first_line(e)}") from None
    model.pruning_history = history
    return model.eval()


def _hub_reachable() -> bool:
    # huggingface_hub retries each file for ~25 s when its host cannot be resolved; a DNS
    # look-up first turns "offline" into an immediate, clear error.
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants
    if constants.HF_HUB_OFFLINE:
        return True  # the local cache is consulted
    try:
        socket.getaddrinfo(urlparse(constants.ENDPOINT).hostname, 443)
        return True
    except OSError:
        return False


def _from_hub(name: str) -> UNet2DModel:
    from diffusers.utils import logging as diffusers_logging
    from huggingface_hub.utils import logging as hub_logging
    hint = "save it with save_pretrained on a machine with a network and pass that directory"
    if not _hub_reachable():
        raise DiffpruneError(f"cannot load {name!r}: the Hugging Face hub is unreachable (offline?); {hint}")
    diffusers_logging.set_verbosity_error()
    hub_logging.set_verbosity_error()
    for subfolder in (None, "unet"):  # model repositories keep the UNet at the root, pipelines in unet/
        try:
            return UNet2DModel.from_pretrained(name, subfolder=subfolder)
        except OSError as e:
            error = e
    raise DiffpruneError(f"cannot load {name!r} from the Hugging Face hub ({_first_line(error)}); {hint}")


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"


def _check_weights(d: Path) -> None:
    manifest = d / MANIFEST
    if not manifest.is_file():
        return
    expected = json.loads(manifest.read_text()).get("weights_sha256")
    weights = d / WEIGHTS
    if not weights.is_file():
        raise DiffpruneError(f"weights file missing: {weights}")
    if expected and sha256_file(weights) != expected:
        raise DiffpruneError(f"weights file {weights} is corrupt or was modified (sha256 mismatch)")


def load_scheduler(path: str | os.PathLike | None) -> DDPMScheduler:
    """The training noise schedule stored beside a model, else the paper's default."""
    if path is not None:
        p = Path(path).expanduser()
        for d in (p / "scheduler", p):
            if (d / "scheduler_config.json").is_file():
                return DDPMScheduler.from_pretrained(d)
        if not p.exists() and not looks_local(str(path)) and _hub_reachable():
            for subfolder in (None, "scheduler"):
                try:
                    return DDPMScheduler.from_pretrained(str(path), subfolder=subfolder)
                except OSError:
                    pass
    return default_scheduler()


def write_unet(model: UNet2DModel, d: Path, extra: dict | None = None) -> None:
    """Write a UNet (dense or pruned) into the existing directory `d`."""
    d.mkdir(parents=True, exist_ok=True)
    history = getattr(model, "pruning_history", None)
    if history:
        model.save_config(d)  # the dense config; the history makes it the pruned model
        state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        safetensors.torch.save_file(state, d / WEIGHTS)
        (d / HISTORY).write_text(json.dumps(history))
    else:
        model.save_pretrained(d, safe_serialization=True)
    write_json_atomic(d / MANIFEST, {"format": "diffprune-unet", "version": 1,
                                     "pruned": bool(history), "weights_sha256": sha256_file(d / WEIGHTS),
                                     **(extra or {})})


def image_shape(model) -> tuple[int, int, int]:
    """(channels, height, width) a UNet works on."""
    size = model.config.sample_size
    return (model.config.in_channels, *((size, size) if isinstance(size, int) else tuple(size)))


def example_inputs(model) -> dict:
    c, h, w = image_shape(model)
    param = next(model.parameters())
    return {"sample": torch.zeros(1, c, h, w, device=param.device),
            "timestep": torch.ones(1, dtype=torch.long, device=param.device)}


def sync_widths(model) -> None:
    """Update the width attributes that torch-pruning leaves stale."""
    for m in model.modules():
        if isinstance(m, (Downsample2D, Upsample2D)) and getattr(m, "conv", None) is not None:
            m.channels = m.conv.in_channels
            m.out_channels = m.conv.out_channels
        elif isinstance(m, Attention):
            m.inner_dim = m.to_q.out_features
            m.inner_kv_dim = m.to_k.out_features


def apply_pruning_history(model, history) -> None:
    """Replay a recorded pruning on a model of the dense config (in place)."""
    dg = tp.DependencyGraph().build_dependency(model, example_inputs=example_inputs(model))
    dg.load_pruning_history(history)
    sync_widths(model)
