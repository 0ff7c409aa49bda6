"""Sampling with noise paired across models.

Sample i draws all its noise (initial x_T and, for eta > 0 or DDPM, every step's noise) from a
generator seeded by (seed, i): two models given the same seed get the same noise for each sample,
whatever the batch size. This pairing is what the consistency (SSIM) metric relies on.

DDIM: diffusers' DDIMScheduler finds the previous timestep as t - 1000 // steps, i.e. it assumes
uniform spacing, so the DDIM repository's "quad" spacing (the paper's CIFAR-10 protocol) cannot be
run through it; `ddim_step` below is the DDIM update (Song et al. 2021, Eq. 12) for any timestep
sequence. With "uniform" spacing it equals diffusers' DDIMScheduler (tests check this). DDPM
(ancestral, all 1000 steps) goes through diffusers' DDPMScheduler, and DPM-Solver++ (2nd-order
multistep, Lu et al. 2022) through diffusers' DPMSolverMultistepScheduler with its own timestep
spacing. DPM-Solver++ draws no noise after x_T, so it keeps DDIM's (seed, index) pairing: the same
x_T for sample i under either sampler.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
from diffusers import DDPMScheduler, DPMSolverMultistepScheduler
from diffusers.utils.torch_utils import randn_tensor

from . import seeds
from .artifacts import DiffpruneError, write_bytes_atomic
from .progress import Bar
from .unet import image_shape

SAMPLERS = ("ddim", "ddpm", "dpm-solver++")
SPACINGS = ("uniform", "quad")


def ddim_timesteps(num_train_timesteps: int, steps: int, spacing: str = "uniform") -> list[int]:
    """Timesteps visited by DDIM, ascending, as in the DDIM repository (`--skip_type`)."""
    if not 1 <= steps <= num_train_timesteps:
        raise DiffpruneError(f"steps must be in [1, {num_train_timesteps}], got {steps}")
    if spacing == "uniform":
        return list(range(0, num_train_timesteps, num_train_timesteps // steps))
    if spacing == "quad":
        seq = np.linspace(0, np.sqrt(num_train_timesteps * 0.8), steps) ** 2
        return [int(s) for s in seq]
    raise DiffpruneError(f"unknown spacing {spacing!r}; choose one of {', '.join(SPACINGS)}")


def ddim_step(eps, x, alpha_t, alpha_prev, eta, noise):
    x0 = (x - (1 - alpha_t).sqrt() * eps) / alpha_t.sqrt()
    sigma = eta * ((1 - alpha_prev) / (1 - alpha_t) * (1 - alpha_t / alpha_prev)).sqrt()
    x = alpha_prev.sqrt() * x0 + (1 - alpha_prev - sigma ** 2).clamp(min=0).sqrt() * eps
    return x + sigma * noise if eta > 0 else x


@torch.no_grad()
def sample_batch(model, scheduler: DDPMScheduler, generators: list[torch.Generator], *,
                 sampler: str = "ddim", steps: int = 100, eta: float = 0.0,
                 spacing: str = "uniform", forward=None) -> torch.Tensor:
    """Images in [-1, 1] for one batch; one generator per image. `forward(x, t)` -> the predicted
    noise (default the model's own forward; `levers.applied` gives one under the inference levers)."""
    model.eval()
    forward = forward or (lambda x_, t_: model(x_, t_).sample)
    shape = (len(generators), *image_shape(model))
    device = next(model.parameters()).device
    x = randn_tensor(shape, generator=generators, device=device)
    if sampler == "ddpm":
        sched = DDPMScheduler.from_config(scheduler.config)
        sched.set_timesteps(scheduler.config.num_train_timesteps)
        for t in sched.timesteps:
            eps = forward(x, t)
            x = sched.step(eps, t, x, generator=generators).prev_sample
        return x
    if sampler == "dpm-solver++":
        sched = DPMSolverMultistepScheduler.from_config(scheduler.config, algorithm_type="dpmsolver++", solver_order=2)
        sched.set_timesteps(steps, device=device)
        for t in sched.timesteps:
            eps = forward(x, t.expand(shape[0]))
            x = sched.step(eps, t, x).prev_sample
        return x
    alphas = scheduler.alphas_cumprod.to(device=device, dtype=torch.float32)
    seq = ddim_timesteps(scheduler.config.num_train_timesteps, steps, spacing)
    for t, t_prev in zip(reversed(seq), reversed([-1] + seq[:-1]), strict=True):
        tt = torch.full((shape[0],), t, dtype=torch.long, device=device)
        eps = forward(x, tt)
        alpha_prev = alphas[t_prev] if t_prev >= 0 else torch.tensor(1.0, device=device)
        noise = randn_tensor(shape, generator=generators, device=device) if eta > 0 else None
        x = ddim_step(eps, x, alphas[t], alpha_prev, eta, noise)
    return x


def sample(model, n: int, *, seed: int = 0, sampler: str = "ddim", steps: int = 100, eta: float = 0.0,
           spacing: str = "uniform", batch_size: int = 256, start: int = 0, levers=None,
           progress: bool = True) -> np.ndarray:
    """n images of a `DiffusionModel` as uint8 (N, H, W, C); image i uses noise (seed, start + i)
    (a latent model's samples decoded by its autoencoder); `levers`: `levers.Levers` of the UNet's
    forward (None: the plain fp32 forward)."""
    from .levers import Levers, applied
    scheduler = model.scheduler
    check(scheduler, n, seed=seed, sampler=sampler, steps=steps, eta=eta, spacing=spacing, batch_size=batch_size)
    levers = levers or Levers()
    out = []
    bar = Bar(total=n, desc=f"sample {sampler}", unit="img", disable=not progress)
    with (applied(model.unet, levers, model.device) if levers != Levers() else contextlib.nullcontext()) as forward:
        for lo in range(0, n, batch_size):
            gens = [seeds.generator(seed, seeds.SAMPLE, start + i) for i in range(lo, min(lo + batch_size, n))]
            x = sample_batch(model.unet, scheduler, gens, sampler=sampler, steps=steps, eta=eta, spacing=spacing,
                             forward=forward)
            out.append(model.to_images(x).permute(0, 2, 3, 1).cpu().numpy())
            bar.update(len(gens))
    bar.close()
    return np.concatenate(out)


def check(scheduler: DDPMScheduler, n: int, *, seed: int, sampler: str, steps: int, eta: float, spacing: str,
          batch_size: int) -> None:
    """One clear error for sampling arguments that cannot work, before anything is drawn or written."""
    if sampler not in SAMPLERS:
        raise DiffpruneError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if n < 1 or batch_size < 1:
        raise DiffpruneError("number of samples and batch size must be >= 1")
    if seed < 0:
        raise DiffpruneError(f"seed must be >= 0, got {seed}")
    if eta < 0:
        raise DiffpruneError(f"eta must be >= 0, got {eta}")
    if sampler == "ddim":
        ddim_timesteps(scheduler.config.num_train_timesteps, steps, spacing)  # validates
    elif sampler == "dpm-solver++":
        if not 1 <= steps <= scheduler.config.num_train_timesteps:
            raise DiffpruneError(f"steps must be in [1, {scheduler.config.num_train_timesteps}], got {steps}")
        if spacing != "uniform" or eta != 0:
            raise DiffpruneError("dpm-solver++ takes neither a spacing nor eta: it uses diffusers' own timesteps "
                                 "and draws no noise after x_T")


def shard_ranges(n: int, shard_size: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + shard_size, n)) for lo in range(0, n, shard_size)]


def sample_to_file(path, model, n: int, *, meta: dict, seed: int = 0,
                   sampler: str = "ddim", steps: int = 100, eta: float = 0.0, spacing: str = "uniform",
                   batch_size: int = 256, shard_size: int | None = None, process_index: int = 0,
                   num_processes: int = 1, wait=lambda: None, levers=None, progress: bool = True) -> bool:
    """Sample n images of a `DiffusionModel` into `path` (.npz) through shards in `<path>.shards/`,
    as one process of `num_processes` (accelerate supplies them; diffusers' pipelines split prompts across processes,
    not a sample index range, and nothing there resumes a partial sample set).

    Process r draws the missing shards k with k % num_processes == r. Shard boundaries fall on
    batch boundaries and image i draws its noise from (seed, i), so every batch is the one a single
    process draws: the merged file is byte-identical whatever the process count, at the same
    threads per process (BLAS sums in another order on another thread count). Each shard is
    written atomically, so an interrupted run, rerun, draws only the missing shards. The main
    process (index 0) merges them, writes `path`, removes the shards and returns True.
    """
    import shutil
    from pathlib import Path

    check(model.scheduler, n, seed=seed, sampler=sampler, steps=steps, eta=eta, spacing=spacing, batch_size=batch_size)
    shard_size = 4 * batch_size if shard_size is None else shard_size
    if shard_size < 1 or shard_size % batch_size:
        raise DiffpruneError(f"the shard size must be a multiple of the batch size ({batch_size}), got {shard_size}")
    path = Path(path)
    shards = path.with_suffix(".shards")
    shards.mkdir(parents=True, exist_ok=True)
    ranges = shard_ranges(n, shard_size)
    mine = [r for k, r in enumerate(ranges) if k % num_processes == process_index]
    bar = Bar(total=sum(hi - lo for lo, hi in mine), desc=f"sample {sampler}", unit="img", disable=not progress)
    for lo, hi in mine:
        f = shards / f"{lo:08d}-{hi:08d}.npz"
        if not (f.is_file() and load_samples(f)[2] == meta):  # a shard of other parameters is drawn again
            images = sample(model, hi - lo, seed=seed, sampler=sampler, steps=steps, eta=eta,
                            spacing=spacing, batch_size=batch_size, start=lo, levers=levers, progress=False)
            save_samples(f, images, np.arange(lo, hi), meta)
        bar.update(hi - lo)
    bar.close()
    wait()
    if process_index != 0:
        return False
    parts = [load_samples(shards / f"{lo:08d}-{hi:08d}.npz") for lo, hi in ranges]
    save_samples(path, np.concatenate([images for images, _, _ in parts]), np.arange(n), meta)
    shutil.rmtree(shards)
    return True


def save_samples(path, images: np.ndarray, index: np.ndarray, meta: dict) -> None:
    """Write samples as .npz (uint8 images (N, H, W, C), their (seed, index) pairing, metadata)."""
    import io
    import json

    buf = io.BytesIO()
    np.savez_compressed(buf, images=images, index=np.asarray(index), meta=json.dumps(meta))
    write_bytes_atomic(path, buf.getvalue())


def load_samples(path) -> tuple[np.ndarray, np.ndarray, dict]:
    import json
    import zipfile
    try:
        with np.load(path) as f:
            return f["images"], f["index"], json.loads(str(f["meta"]))
    except FileNotFoundError:
        raise DiffpruneError(f"samples file not found: {path}") from None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as e:  # a cut or foreign file
        raise DiffpruneError(f"{path} is not a samples file ({type(e).__name__})") from None
