"""The autoencoder of a latent diffusion model: diffusers' `VQModel` (what its `LDMPipeline(vqvae,
unet, scheduler)` decodes with), trained here on a study data set, and the latents it gives.

Pruning an LDM prunes its denoising UNet only (as the official `ldm_exp/` does); the autoencoder
is trained once and never changes. Its latents are scaled to unit variance: `scaling_factor` in
its config, which `LDMPipeline` divides by before decoding.

A model directory's `vqvae/` holds the autoencoder and the records of its training (cost.json,
train_log.csv, reconstructions.png), so that an LDM directory is the one home of both its parts;
its checkpoint is `vqvae-checkpoint/` beside it. The weights are stored in half precision: the
autoencoder is frozen after training, and it halves what an LDM adds to the repository; every
number recorded about it is measured on the stored (rounded) weights.

The loop is read top to bottom in `train_autoencoder`: reconstruction MSE plus the quantizer's
commitment loss, Adam, EMA; resumable and exact like `train.train` (batches drawn from (seed,
step), checkpoints through `checkpoint`, as the UNet's loop). diffusers has no autoencoder training
loop; its example scripts train only UNets.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import VQModel
from diffusers.training_utils import EMAModel

from .artifacts import DiffpruneError, atomic_dir, code_version, device_description, write_json_atomic
from .checkpoint import batch_indices, restore, save_checkpoint, stop_requests, stopped_at, write_log
from .images import save_grid, to_model_range, to_uint8
from .progress import Bar

# Four times smaller per side, 4 latent channels: 32x32x3 -> 4x8x8 (the official LDMs use f4 too).
PRESETS = {
    "small": dict(block_out_channels=(32, 64, 64), layers_per_block=1, latent_channels=4,
                  num_vq_embeddings=256, norm_num_groups=8),
    "tiny": dict(block_out_channels=(8, 16, 16), layers_per_block=1, latent_channels=4,
                 num_vq_embeddings=32, norm_num_groups=4),
}
SUBFOLDER = "vqvae"  # LDMPipeline's name for it
CHECKPOINT = "vqvae-checkpoint"


def build_autoencoder(preset: str, channels: int, size: int, seed: int = 0) -> VQModel:
    if preset not in PRESETS:
        raise DiffpruneError(f"unknown autoencoder preset {preset!r}; choose one of {', '.join(PRESETS)}")
    cfg = PRESETS[preset]
    n = len(cfg["block_out_channels"])
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return VQModel(in_channels=channels, out_channels=channels, sample_size=size,
                       down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
                       scaling_factor=1.0, **cfg)


def load_autoencoder(path: str | Path) -> VQModel | None:
    """The autoencoder of a model directory (`vqvae/`), None for a pixel-space model."""
    d = Path(path).expanduser() / SUBFOLDER
    if not (d / "config.json").is_file():
        return None
    try:
        return VQModel.from_pretrained(d, use_safetensors=True, torch_dtype=torch.float32).eval()
    except (OSError, ValueError, RuntimeError) as e:
        raise DiffpruneError(f"cannot load the autoencoder in {d}: {type(e).__name__}: {e}".splitlines()[0]) from None


@torch.no_grad()
def encode(vqvae: VQModel, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """uint8 (N, C, H, W) -> scaled latents (N, c, h, w), before quantisation (as LDMs train on)."""
    device = next(vqvae.parameters()).device
    out = [vqvae.encode(to_model_range(b).to(device)).latents.cpu() for b in images.split(batch_size)]
    return torch.cat(out) * vqvae.config.scaling_factor


@torch.no_grad()
def decode(vqvae: VQModel, latents: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Scaled latents -> uint8 images, quantised on the way (as `LDMPipeline` decodes)."""
    device = next(vqvae.parameters()).device
    out = [vqvae.decode((b / vqvae.config.scaling_factor).to(device)).sample.cpu()
           for b in latents.split(batch_size)]
    return to_uint8(torch.cat(out))


def carry(source: str | Path, out: Path) -> None:
    """Copy a model directory's autoencoder into `out` byte for byte: pruning and finetuning change
    only the UNet (nothing to do for a pixel-space model)."""
    import shutil
    src = Path(source).expanduser() / SUBFOLDER
    if src.is_dir() and src.resolve() != (Path(out) / SUBFOLDER).resolve():  # the same directory: nothing to copy
        with atomic_dir(out / SUBFOLDER) as tmp:
            shutil.copytree(src, tmp, dirs_exist_ok=True)


@torch.no_grad()
def reconstruction(vqvae: VQModel, images: torch.Tensor) -> dict:
    """Mean squared error (pixels in [-1, 1]) and PSNR of encode -> quantise -> decode."""
    x = to_model_range(images)
    y = to_model_range(decode(vqvae, encode(vqvae, images)))
    mse = float(F.mse_loss(y, x))
    return {"mse": round(mse, 6), "psnr_db": round(10 * torch.log10(torch.tensor(4.0 / mse)).item(), 2),
            "n": len(images)}


def train_autoencoder(model: VQModel, images: torch.Tensor, test_images: torch.Tensor, cfg, out: str | Path, *,
                      run_info: dict | None = None, resume: bool = True, progress: bool = True,
                      command: str | None = None) -> VQModel:
    """Train on uint8 `images` for cfg.steps (a `train.TrainConfig`); write `out/vqvae/`: the model
    (half precision), the loss log, a grid of test images over their reconstructions, and cost.json
    with the reconstruction error on `test_images`. Returns the stored model in float32, its
    latents scaled to unit variance."""

    cfg.validate()
    version = code_version()
    out = Path(out)
    ckpt = out / CHECKPOINT
    run = {"config": asdict(cfg), **(run_info or {})}
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    ema = EMAModel(model.parameters(), decay=cfg.ema_decay)
    start_step, rows, wall_before, pending = restore(ckpt, model, ema, optimizer, run, cfg.steps, resume)

    model.train()
    t0 = time.perf_counter()
    with stop_requests() as requested:
        for step in Bar(range(start_step, cfg.steps), initial=start_step, total=cfg.steps, desc="autoencoder",
                         disable=not progress):
            lr = cfg.lr * min(1.0, (step + 1) / max(cfg.warmup_steps, 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            x = to_model_range(images[batch_indices(len(images), cfg.batch_size, cfg.seed, step)])
            result = model(x)
            loss = F.mse_loss(result.sample, x) + result.commit_loss.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            ema.step(model.parameters())
            pending.append(loss.item())
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps:
                rows.append({"step": done, "loss": round(sum(pending) / len(pending), 6), "lr": lr,
                             "images_seen": done * cfg.batch_size,
                             "wall_time_s": round(wall_before + time.perf_counter() - t0, 2)})
                pending = []
            stop = bool(requested) and done < cfg.steps
            if done % cfg.checkpoint_every == 0 or done == cfg.steps or stop:
                save_checkpoint(ckpt, model, ema, optimizer, {"step": done, "run": run, "log": rows, "pending": pending,
                                                              "wall_time_s": wall_before + time.perf_counter() - t0})
            if stop:
                raise stopped_at(ckpt, done)

    wall = wall_before + time.perf_counter() - t0
    ema.copy_to(model.parameters())
    model.eval().half().float()  # the weights as stored, before anything is measured on them
    model.register_to_config(scaling_factor=1.0)
    std = float(encode(model, images[batch_indices(len(images), 512, cfg.seed, 0)]).std())
    model.register_to_config(scaling_factor=1.0 / std)
    shown = test_images[:32]
    pairs = torch.stack([shown, decode(model, encode(model, shown))], 1).flatten(0, 1)
    with atomic_dir(out / SUBFOLDER) as tmp:
        model.half().save_pretrained(tmp, safe_serialization=True)
        model.float()
        save_grid(pairs.permute(0, 2, 3, 1).numpy(), tmp / "reconstructions.png")
        write_log(tmp / "train_log.csv", rows)
        write_json_atomic(tmp / "cost.json", {
            "steps": cfg.steps, "batch_size": cfg.batch_size, "images_seen": cfg.steps * cfg.batch_size,
            "wall_time_s": round(wall, 1), "device": device_description(), "code_version": version,
            "command": command, "latent_shape": list(encode(model, shown[:1]).shape[1:]),
            "scaling_factor": model.config.scaling_factor, "dtype": "float16",
            "reconstruction_test": reconstruction(model, test_images), **run})
    return model
