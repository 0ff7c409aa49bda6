"""Command line: `python -m diffprune {prune,train,finetune,sample} ...`.

Every argument is checked before anything is written; a problem prints one line
(`diffprune: error: ...`) and exits with status 2, leaving no output behind.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

from .artifacts import DiffpruneError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage block
        raise DiffpruneError(message)


def _add_training_args(p, steps: int):
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--warmup-steps", type=int, default=200)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--ema-decay", type=float, default=0.9999)
    p.add_argument("--dropout", type=float, default=None, help="override the model's dropout")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--grid", type=int, default=64, help="samples in the final grid (0: none)")
    p.add_argument("--no-resume", action="store_true", help="start over even if OUT holds a checkpoint")
    p.add_argument("--out", required=True)
    p.add_argument("--quiet", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m diffprune", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("prune", help="prune a dense UNet")
    p.add_argument("--model", required=True, help="model directory or hub id")
    p.add_argument("--method", required=True)
    p.add_argument("--ratio", type=float, required=True, help="channel pruning ratio in (0, 1)")
    p.add_argument("--threshold", type=float, default=0.05, help="Diff-Pruning's T in [0, 1)")
    p.add_argument("--timestep-stride", type=int, default=1)
    p.add_argument("--dataset", default=None, help="data for taylor and diff-pruning")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("train", help="train a teacher from scratch")
    p.add_argument("--preset", default="small")
    _add_training_args(p, steps=10_000)

    p = sub.add_parser("finetune", help="finetune a pruned model")
    p.add_argument("--model", required=True)
    _add_training_args(p, steps=2_000)

    p = sub.add_parser("sample", help="sample images with paired noise")
    p.add_argument("--model", required=True)
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sampler", default="ddim")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--eta", type=float, default=0.0)
    p.add_argument("--spacing", default="uniform")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--out", required=True, help="output .npz (a .png grid is written beside it)")
    p.add_argument("--quiet", action="store_true")
    return parser


def _require_model(path: str) -> None:
    from .models import _looks_local
    if not Path(path).expanduser().exists() and _looks_local(path):
        raise DiffpruneError(f"model directory not found: {path}")


def cmd_prune(a) -> None:
    import torch

    from .data import fixed_batch, load_dataset
    from .importance import GRADIENT_METHODS
    from .models import load_scheduler, load_unet, save_model
    from .prune import prune, validate

    validate(a.method, a.ratio, a.threshold, a.timestep_stride)
    if a.method in GRADIENT_METHODS and a.dataset is None:
        raise DiffpruneError(f"method {a.method!r} needs data: pass --dataset NAME")
    if a.batch_size < 1:
        raise DiffpruneError(f"batch size must be >= 1, got {a.batch_size}")
    _require_model(a.model)
    model = load_unet(a.model)
    if getattr(model, "pruning_history", None):
        raise DiffpruneError(f"{a.model} is already pruned; prune its dense teacher instead")
    scheduler = load_scheduler(a.model)
    images = None
    if a.method in GRADIENT_METHODS:
        ds = load_dataset(a.dataset, "train")
        if ds.shape != (model.config.in_channels, *_hw(model)):
            raise DiffpruneError(f"dataset {a.dataset} has images {ds.shape}, the model expects "
                                 f"{(model.config.in_channels, *_hw(model))}")
        images = fixed_batch(ds, a.batch_size, a.seed)
    torch.manual_seed(a.seed)
    model, report = prune(model, a.method, a.ratio, scheduler=scheduler, images=images,
                          threshold=a.threshold, timestep_stride=a.timestep_stride, seed=a.seed,
                          progress=not a.quiet)
    report.update({"model": a.model, "dataset": a.dataset if images is not None else None})
    save_model(model, a.out, scheduler, extra_files={"prune_report.json": report})
    print(json.dumps({k: report[k] for k in ("method", "ratio", "params_fraction", "macs_fraction",
                                             "stop_t", "grad_timesteps")}))


def _hw(model) -> tuple[int, int]:
    s = model.config.sample_size
    return (s, s) if isinstance(s, int) else tuple(s)


def _train_config(a):
    from .train import TrainConfig
    cfg = TrainConfig(steps=a.steps, batch_size=a.batch_size, lr=a.lr, warmup_steps=a.warmup_steps,
                      grad_clip=a.grad_clip, ema_decay=a.ema_decay, seed=a.seed,
                      checkpoint_every=a.checkpoint_every, log_every=a.log_every)
    cfg.validate()
    if a.dropout is not None and not 0 <= a.dropout < 1:
        raise DiffpruneError(f"dropout must be in [0, 1), got {a.dropout}")
    return cfg


def _finish_training(model, scheduler, a) -> None:
    if a.grid > 0:
        from .sample import sample, save_grid
        images = sample(model, scheduler, a.grid, seed=a.seed, steps=100, progress=not a.quiet)
        save_grid(images, Path(a.out) / "samples.png")
    print(json.dumps({"out": a.out, "steps": a.steps}))


def _command() -> str:
    import shlex
    return "python -m diffprune " + " ".join(shlex.quote(x) for x in sys.argv[1:])


def cmd_train(a) -> None:
    from .data import load_dataset
    from .models import build_unet, default_scheduler
    from .train import train

    cfg = _train_config(a)
    ds = load_dataset(a.dataset, "train")
    c, h, w = ds.shape
    overrides = {} if a.dropout is None else {"dropout": a.dropout}
    model = build_unet(a.preset, c, h, seed=a.seed, **overrides)
    scheduler = default_scheduler()
    info = {"kind": "train", "dataset": a.dataset, "preset": a.preset, "dropout": a.dropout}
    model = train(model, scheduler, ds.images, cfg, a.out, run_info=info, resume=not a.no_resume,
                  progress=not a.quiet, command=_command())
    _finish_training(model, scheduler, a)


def cmd_finetune(a) -> None:
    import torch

    from .data import load_dataset
    from .models import load_scheduler, load_unet
    from .train import train

    cfg = _train_config(a)
    _require_model(a.model)
    model = load_unet(a.model)
    scheduler = load_scheduler(a.model)
    ds = load_dataset(a.dataset, "train")
    if ds.shape != (model.config.in_channels, *_hw(model)):
        raise DiffpruneError(f"dataset {a.dataset} has images {ds.shape}, the model expects "
                             f"{(model.config.in_channels, *_hw(model))}")
    if a.dropout is not None:
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = a.dropout
    info = {"kind": "finetune", "dataset": a.dataset, "model": str(a.model), "dropout": a.dropout}
    model = train(model, scheduler, ds.images, cfg, a.out, run_info=info, resume=not a.no_resume,
                  progress=not a.quiet, command=_command())
    _finish_training(model, scheduler, a)


def cmd_sample(a) -> None:
    import numpy as np

    from .artifacts import write_bytes_atomic
    from .models import load_scheduler, load_unet
    from .sample import SAMPLERS, SPACINGS, sample, save_grid

    if a.sampler not in SAMPLERS:
        raise DiffpruneError(f"unknown sampler {a.sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if a.spacing not in SPACINGS:
        raise DiffpruneError(f"unknown spacing {a.spacing!r}; choose one of {', '.join(SPACINGS)}")
    if a.n < 1 or a.batch_size < 1 or a.steps < 1 or a.eta < 0:
        raise DiffpruneError("--n, --batch-size and --steps must be >= 1 and --eta >= 0")
    if not a.out.endswith(".npz"):
        raise DiffpruneError(f"--out must end in .npz, got {a.out}")
    _require_model(a.model)
    model = load_unet(a.model)
    scheduler = load_scheduler(a.model)
    images = sample(model, scheduler, a.n, seed=a.seed, sampler=a.sampler, steps=a.steps, eta=a.eta,
                    spacing=a.spacing, batch_size=a.batch_size, progress=not a.quiet)
    meta = {"model": a.model, "seed": a.seed, "sampler": a.sampler, "steps": a.steps, "eta": a.eta,
            "spacing": a.spacing, "n": a.n}
    buf = io.BytesIO()
    np.savez_compressed(buf, images=images, index=np.arange(a.n), meta=json.dumps(meta))
    write_bytes_atomic(a.out, buf.getvalue())
    save_grid(images[:64], a.out[:-4] + ".png")
    print(json.dumps({"out": a.out, **meta}))


COMMANDS = {"prune": cmd_prune, "train": cmd_train, "finetune": cmd_finetune, "sample": cmd_sample}


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        COMMANDS[args.command](args)
    except DiffpruneError as e:
        print(f"diffprune: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("diffprune: interrupted", file=sys.stderr)
        return 130
    return 0
