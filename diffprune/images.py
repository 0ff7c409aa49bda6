"""Images as the study stores them (uint8, N C H W) and as UNets see them ([-1, 1] floats), and a
grid of them as a PNG: the small pieces the data, training, sampling and autoencoder modules share."""
from __future__ import annotations

import io

import numpy as np
import torch

from .artifacts import write_bytes_atomic


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def save_grid(images: np.ndarray, path, ncol: int = 8, scale: int = 2) -> None:
    """Tile uint8 (N, H, W, C) images into one PNG, enlarged `scale` times."""
    from PIL import Image
    from torchvision.utils import make_grid

    tiles = make_grid(torch.from_numpy(images).permute(0, 3, 1, 2), nrow=ncol, padding=2, pad_value=255)
    img = Image.fromarray(tiles.permute(1, 2, 0).numpy())
    img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    write_bytes_atomic(path, buf.getvalue())
