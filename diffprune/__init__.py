"""Diff-Pruning (Fang, Ma, Wang, NeurIPS 2023), reproduced on small diffusers UNets."""
__version__ = "0.1.0"

from .artifacts import DiffpruneError
from .cost import count_macs, count_params
from .models import DiffusionModel
from .prune import prune
from .unet import build_unet, load_scheduler, load_unet

__all__ = ["DiffpruneError", "DiffusionModel", "build_unet", "count_macs", "count_params", "load_scheduler",
           "load_unet", "prune"]
