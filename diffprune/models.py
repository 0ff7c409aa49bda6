"""The diffusion model as one object: a denoising UNet, its noise schedule and, for a latent model,
the autoencoder whose latents the UNet works on (diffusers' `LDMPipeline(vqvae, unet, scheduler)`
without the pipeline's fixed sampling loop). Pixel models are the identity case: the UNet works on
the images in [-1, 1].

A model directory holds `unet/`, `scheduler/` and, for a latent model, `vqvae/`. Pruning and
finetuning change only the UNet; the autoencoder is carried byte for byte from the directory the
model was loaded from (`source`). Everything that samples, trains, prunes or times a model takes
this object, so none of it needs to know which kind it has.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import DDPMScheduler, UNet2DModel, VQModel

from . import autoencoder
from .artifacts import atomic_dir, write_json_atomic
from .images import to_model_range, to_uint8
from .unet import default_scheduler, image_shape, load_scheduler, load_unet, write_unet


def default_device() -> torch.device:
    """A GPU when there is one (the paper profile); the CPU otherwise."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def accelerate_cpu() -> bool:
    """Whether accelerate should run on the CPU: no GPU, or asked for (ACCELERATE_USE_CPU). Passed to
    it explicitly because only then does it form a CPU process group under `accelerate launch`."""
    from accelerate.utils import parse_flag_from_env
    return not torch.cuda.is_available() or parse_flag_from_env("ACCELERATE_USE_CPU")


@dataclass
class DiffusionModel:
    unet: UNet2DModel
    scheduler: DDPMScheduler
    autoencoder: VQModel | None = None
    source: Path | None = None  # the directory it was loaded from: its autoencoder is carried from there

    @classmethod
    def load(cls, path: str | os.PathLike, device: torch.device | str | None = None) -> DiffusionModel:
        """A local model directory (dense or pruned UNet, with its autoencoder if latent) or a hub id
        (a pixel model); on `device` (default: the CPU)."""
        local = Path(path).expanduser()
        vqvae = autoencoder.load_autoencoder(local) if local.is_dir() else None
        model = cls(load_unet(path), load_scheduler(path), vqvae, local if local.is_dir() else None)
        return model.to(device) if device is not None else model

    def to(self, device) -> DiffusionModel:
        self.unet.to(device)
        if self.autoencoder is not None:
            self.autoencoder.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def latent(self) -> bool:
        return self.autoencoder is not None

    def unet_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of what the UNet denoises: images, or latents."""
        return image_shape(self.unet)

    def data_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the images the model is trained on and samples."""
        if self.autoencoder is None:
            return self.unet_shape()
        c = self.autoencoder.config
        return (c.in_channels, c.sample_size, c.sample_size)

    def to_unet_space(self, images: torch.Tensor) -> torch.Tensor:
        """What the UNet is trained and pruned on, from uint8 images (N, C, H, W): pixels in [-1, 1],
        or the scaled latents of the autoencoder (on the CPU)."""
        return to_model_range(images) if self.autoencoder is None else autoencoder.encode(self.autoencoder, images)

    def to_images(self, x0: torch.Tensor) -> torch.Tensor:
        """uint8 images from what a sampler ends with: pixels, or latents to decode."""
        return to_uint8(x0) if self.autoencoder is None else autoencoder.decode(self.autoencoder, x0)

    def write_into(self, d: Path, scheduler: bool = True) -> None:
        """Write the UNet (and the scheduler) into the existing directory `d`, each part atomically,
        and carry the autoencoder from `source` byte for byte."""
        with atomic_dir(d / "unet") as tmp:
            write_unet(self.unet, tmp)
        if scheduler:
            with atomic_dir(d / "scheduler") as tmp:
                self.scheduler.save_pretrained(tmp)
        if self.source is not None:
            autoencoder.carry(self.source, d)

    def save(self, out: str | os.PathLike, extra_files: dict | None = None) -> Path:
        """Atomically write a whole model directory, with any extra JSON files."""
        out = Path(out)
        with atomic_dir(out) as tmp:
            self.write_into(tmp)
            for name, obj in (extra_files or {}).items():
                write_json_atomic(tmp / name, obj)
        return out


def pixel_model(unet: UNet2DModel, scheduler: DDPMScheduler | None = None) -> DiffusionModel:
    """A pixel-space model from a UNet (the paper's default schedule unless given)."""
    return DiffusionModel(unet, scheduler or default_scheduler())
