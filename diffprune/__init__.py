"""Diff-Pruning (Fang, Ma, Wang, NeurIPS 2023), reproduced on small diffusers UNets."""
__version__ = "0.1.0"

from .artifacts import DiffpruneError
from .cost import count_macs, count_params
from .models import build_unet, load_scheduler, load_unet, save_model
from .prune import prune

__all__ = ["DiffpruneError", "build_unet", "count_macs", "count_params", "load_scheduler",
           "load_unet", "prune", "save_model"]
