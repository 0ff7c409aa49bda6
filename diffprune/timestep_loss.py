"""The noise-prediction loss of a DDPM, at given timesteps (L_t in the paper)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def noise_prediction_loss(model, scheduler, x0: torch.Tensor, noise: torch.Tensor,
                          timesteps: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the true noise and the model's prediction of it from x_t."""
    x_t = scheduler.add_noise(x0, noise, timesteps)
    return F.mse_loss(model(x_t, timesteps).sample, noise)


def loss_at(model, scheduler, x0: torch.Tensor, noise: torch.Tensor, t: int) -> torch.Tensor:
    """L_t: the loss of the whole batch at one timestep t (one fixed batch, one fixed noise)."""
    timesteps = torch.full((x0.shape[0],), int(t), dtype=torch.long, device=x0.device)
    return noise_prediction_loss(model, scheduler, x0, noise, timesteps)


@torch.no_grad()
def loss_curve(model, scheduler, batches: list[torch.Tensor], noises: list[torch.Tensor],
               timesteps: list[int]) -> list[list[float]]:
    """L_t of each fixed batch (with its fixed noise) at each timestep: one row per batch."""
    model.train(False)  # no dropout: L_t is a function of t
    return [[float(loss_at(model, scheduler, x0, noise, t)) for t in timesteps]
            for x0, noise in zip(batches, noises, strict=True)]
