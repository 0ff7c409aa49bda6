"""Command line: `python -m diffprune {prune,train,autoencoder,finetune,sample,metrics,cost,classifier,book,study,
  lab}`.

Every argument is checked before anything is written; a problem prints one line
(`diffprune: error: ...`) and exits with status 2, leaving no output behind.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .artifacts import DiffpruneError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage block
        raise DiffpruneError(message)


def _add_training_args(p, steps: int, diffusion: bool = True):
    from dataclasses import fields

    from .data import NAMES, dataset_name
    from .train import TrainConfig
    p.add_argument("--dataset", type=dataset_name, default="fashion-mnist",
                   help=f"training data: {', '.join(NAMES)}")
    for f in fields(TrainConfig):  # TrainConfig's fields are the flags: their defaults and help live there
        meta = dict(f.metadata)
        if meta.pop("diffusion_only", False) and not diffusion:
            continue
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default),
                       default=steps if f.name == "steps" else f.default, **meta)
    p.add_argument("--no-resume", action="store_true", help="start over even if OUT holds a checkpoint")
    p.add_argument("--out", required=True, help="output model directory (written atomically)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    if diffusion:
        p.add_argument("--dropout", type=float, default=None, help="override the model's dropout")
        p.add_argument("--grid", type=int, default=64, help="samples in the final grid (0: none)")


def _add_lever_args(p) -> None:
    """The inference levers (`levers.Levers`) as flags."""
    from .levers import PRECISIONS
    p.add_argument("--precision", default="fp32", choices=PRECISIONS,
                   help="bf16 / fp16 (GPU): the UNet's forward under autocast, attention kept in fp32")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory layout for the convolutions")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the UNet (on a GPU in reduce-overhead mode: CUDA graphs)")
    p.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN time its algorithms per shape (GPU)")


def _levers(a):
    from .levers import Levers
    return Levers(a.precision, a.channels_last, a.compile, a.cudnn_benchmark)


def build_parser() -> argparse.ArgumentParser:
    from .autoencoder import PRESETS as AUTOENCODER_PRESETS
    from .book import chapters
    from .data import dataset_name
    from .fid import FEATURES
    from .importance import METHODS, SCORES
    from .sample import SAMPLERS, SPACINGS
    from .threshold import DEFAULT as DEFAULT_T
    from .unet import PRESETS as UNET_PRESETS

    parser = _Parser(prog="python -m diffprune", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    defaults = {"formatter_class": argparse.ArgumentDefaultsHelpFormatter}  # every flag's default in --help

    p = sub.add_parser("prune", **defaults, help="prune a dense UNet")
    p.add_argument("--model", required=True, help="model directory or hub id")
    p.add_argument("--method", required=True, choices=METHODS, help="importance criterion")
    p.add_argument("--ratio", type=float, required=True, help="channel pruning ratio in (0, 1)")
    p.add_argument("--threshold", type=float, default=None, help=f"Diff-Pruning's T in [0, 1) (default {DEFAULT_T})")
    p.add_argument("--timesteps", type=_window, default=None, metavar="A:B",
                   help="take the gradients from the timesteps [A, B) instead of the threshold rule")
    p.add_argument("--timestep-stride", type=int, default=1, help="visit every k-th timestep")
    p.add_argument("--score", choices=SCORES, default=None,
                   help="score form of taylor / diff-pruning: abs sum|w*g| (diff-pruning's default), sum |sum w*g| "
                        "(taylor's default), square sum (w*g)^2 (the official ddpm_exp code)")
    p.add_argument("--round-to", type=int, default=1, metavar="N",
                   help="keep a multiple of N channels in every pruned layer, GroupNorm groups and attention heads "
                        "kept even (e.g. 8 for tensor cores); 1: the paper's uniform ratio")
    p.add_argument("--dataset", type=dataset_name, default=None, help="data for taylor and diff-pruning")
    p.add_argument("--batch-size", type=int, default=128, help="images of the fixed importance batch")
    p.add_argument("--seed", type=int, default=0, help="the importance batch, its noise, and random's choice")
    p.add_argument("--out", required=True, help="output model directory (written atomically)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("train", **defaults, help="train a teacher from scratch")
    p.add_argument("--preset", default="small", choices=UNET_PRESETS, help="UNet size")
    p.add_argument("--autoencoder", default=None, metavar="DIR",
                   help="train a latent model on the latents of this autoencoder (from `autoencoder`)")
    _add_training_args(p, steps=10_000)

    p = sub.add_parser("autoencoder", **defaults, help="train the autoencoder (VQModel) of a latent diffusion model")
    p.add_argument("--preset", default="small", choices=AUTOENCODER_PRESETS, help="autoencoder size")
    _add_training_args(p, steps=5_000, diffusion=False)

    p = sub.add_parser("finetune", **defaults, help="finetune a pruned model")
    p.add_argument("--model", required=True, help="pruned model directory (from `prune`)")
    _add_training_args(p, steps=2_000)

    p = sub.add_parser("sample", **defaults, help="sample images with paired noise")
    p.add_argument("--model", required=True, help="model directory or hub id")
    p.add_argument("--n", type=int, default=64, help="images")
    p.add_argument("--seed", type=int, default=0, help="image i starts from the noise of (seed, i)")
    p.add_argument("--sampler", default="ddim", choices=SAMPLERS, help="sampler")
    p.add_argument("--steps", type=int, default=100, help="sampler steps")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM's eta (0: deterministic)")
    p.add_argument("--spacing", default="uniform", choices=SPACINGS,
                   help="DDIM timesteps; quad is the DDIM repository's CIFAR-10 schedule")
    p.add_argument("--batch-size", type=int, default=256, help="images per forward pass")
    p.add_argument("--shard-size", type=int, default=None,
                   help="images per shard in OUT.shards/, a multiple of --batch-size (default 4 batches): processes "
                        "of `accelerate launch` split the shards, and a rerun draws only the missing ones")
    _add_lever_args(p)
    p.add_argument("--out", required=True, help="output .npz (a .png grid is written beside it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p = sub.add_parser("metrics", **defaults, help="Fréchet distance, SSIM and content consistency of samples")
    p.add_argument("--samples", required=True, help=".npz written by `sample`")
    p.add_argument("--reference", default=None, help="dataset:NAME or dataset:NAME:SPLIT (default split test)")
    p.add_argument("--samples-b", default=None, help="a second .npz; pairs by sample index")
    p.add_argument("--features", default="effnet-l0@128", choices=FEATURES,
                   help="feature network of the Fréchet distance (inception: FID, needs pytorch-fid's weights)")
    p.add_argument("--n-reference", type=int, default=None, help="reference images (default: all)")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap replicates for the FD interval")
    p.add_argument("--classifier", default=None, help="classifier directory (from `classifier`) that judges content")
    p.add_argument("--seed", type=int, default=0, help="reference subset and bootstrap draws")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("cost", **defaults, help="params, MACs and measured throughput")
    p.add_argument("--model", required=True, help="model directory or hub id")
    p.add_argument("--baseline", default=None, help="dense model to compare with")
    p.add_argument("--batch-size", type=int, default=64, help="batch of the timed forward passes")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats (the median is reported)")

    p = sub.add_parser("classifier", **defaults, help="train the content classifier of a data set")
    p.add_argument("--dataset", type=dataset_name, required=True, help="labelled data set")
    p.add_argument("--epochs", type=int, default=5, help="passes over the training split")
    p.add_argument("--seed", type=int, default=0, help="initialisation and batch order")
    p.add_argument("--out", required=True, help="output directory (weights and meta.json with test accuracy)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p = sub.add_parser("book", **defaults, help="execute the chapters and build the book")
    _add_profile_args(p)
    p.add_argument("--chapter", action="append", default=None, choices=chapters(),
                   help="execute only this chapter (repeatable)")
    p.add_argument("--out", default=None, help="build a copy of the book here (None: book/)")
    p.add_argument("--recompute", action="store_true", help="recompute every cached step")
    _add_plan_args(p)
    p.add_argument("--no-build", action="store_true", help="execute chapters only")
    p.add_argument("--solutions", action="store_true",
                   help="also the instructors' solutions page, in a copy of the book (--out, default "
                        "build/instructor-book)")
    p.add_argument("--dry-run", action="store_true",
                   help="run the profile offline with the stand-ins of notebooks/params/dry-run/PROFILE.yaml "
                        "(its study cache and book under --out, default build/dry-run-PROFILE)")

    p = sub.add_parser("adopt", **defaults,
                       help="make a training run of the study cache a committed teacher (its weights unchanged)")
    p.add_argument("run", help="the training run's key (its record: data/study/training_run/records.jsonl; "
                               "each teacher-curve length's run is one)")
    p.add_argument("--out", required=True, help="the teacher directory to write, e.g. data/teachers/fashion-mnist")
    p.add_argument("--replace", action="store_true", help="put the run in place of an existing teacher directory")
    p.add_argument("--grid", type=int, default=64, help="samples drawn into samples.png (0: none)")
    p.add_argument("--seed", type=int, default=0, help="noise seed of samples.png")

    p = sub.add_parser("bundle", **defaults,
                       help="write what a machine without a network needs beside a checkout (wheels, data sets)")
    p.add_argument("--out", required=True, help="new directory for the bundle (see its INSTALL.txt)")
    p.add_argument("--requirements", default=None,
                   help="a requirements file to download instead of every pinned dependency of pyproject.toml")
    p.add_argument("--no-data", action="store_true", help="wheels only, no data sets or caches")

    p = sub.add_parser("lab", **defaults, help="JupyterLab on the repository: the chapters open as notebooks")
    p.add_argument("--port", type=int, default=8888, help="port on 127.0.0.1 (the next free one if taken)")

    p = sub.add_parser("study", **defaults, help="precompute the chapters' cached results, several jobs in parallel")
    _add_profile_args(p)
    p.add_argument("--chapter", action="append", default=None, choices=chapters(),
                   help="only this chapter's results (repeatable; default: every chapter)")
    p.add_argument("--jobs", type=int, default=1,
                   help="parallel jobs, one CPU thread each (kill -TERM stops each training run after a checkpoint)")
    p.add_argument("--dask", metavar="SCHEDULER",
                   help="compute the plan's steps as a Dask task graph: local:N (a local cluster of N worker "
                        "processes) or a running scheduler's address (e.g. tcp://host:8786; the workers must "
                        "share this study cache)")
    p.add_argument("--job", type=int, action="append", default=None, metavar="I",
                   help="only the chapter's job number I (repeatable; numbers from --plan --commands)")
    p.add_argument("--commands", action="store_true",
                   help="with --plan: print one command per step to compute, inputs first (for a scheduler)")
    p.add_argument("--step", metavar="STEP:KEY",
                   help="with one --job: compute only this step of the job (a line of --plan --commands)")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="with --step: wait this long for inputs that other commands compute (0: do not wait)")
    _add_plan_args(p)
    p.add_argument("--pack", action="store_true",
                   help="only move the loose records of the study cache into the step kinds' packs (what git "
                        "keeps; a run does it when it ends)")
    p.add_argument("--retire", action="store_true",
                   help="only drop from the packs a replaced teacher's records: those no chapter reads at the "
                        "profile (with its computing sweeps) that rest only on teachers nothing read rests on; "
                        "with --plan, list them and drop nothing")
    p.add_argument("--from", dest="source", metavar="DIR",
                   help="with --pack: first bring in the records of another study cache (e.g. another "
                        "machine's data/study) that this one lacks")
    p.add_argument("--bulk", action="store_true",
                   help="also bring back the models and full sample sets behind the results (recomputed where "
                        "only results are kept) and list the model directories")
    return parser


def _add_plan_args(p) -> None:
    p.add_argument("--plan", action="store_true",
                   help="print the steps the run would compute and their estimated time, and compute nothing")
    p.add_argument("--yes", action="store_true",
                   help="start a run estimated above 10 minutes without asking")


def _window(text: str) -> tuple[int, int]:
    a, sep, b = text.partition(":")
    try:
        if sep:
            return int(a), int(b)
    except ValueError:
        pass
    raise DiffpruneError(f"--timesteps must be A:B with integers, got {text!r}")


def _add_profile_args(p):
    from .profiles import names
    p.add_argument("--profile", default="cpu", choices=names(), help="a profile of notebooks/params/")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="override a profile parameter (value read as YAML)")


def _overrides(a) -> dict:
    from .profiles import parse_override
    return {k: parse_override(v) for k, v in a.parameter}


def _require_model(path: str) -> None:
    from .unet import looks_local
    if not Path(path).expanduser().exists() and looks_local(path):
        raise DiffpruneError(f"model directory not found: {path}")


def cmd_prune(a) -> None:
    import torch

    from .data import fixed_batch
    from .importance import GRADIENT_METHODS, check_window
    from .models import DiffusionModel
    from .prune import prune, validate

    if a.threshold is not None and a.timesteps is not None:
        raise DiffpruneError("give --threshold or --timesteps, not both")
    from .threshold import DEFAULT
    threshold = DEFAULT if a.threshold is None else a.threshold
    validate(a.method, a.ratio, threshold, a.timestep_stride, a.score, a.round_to)
    if a.method in GRADIENT_METHODS and a.dataset is None:
        raise DiffpruneError(f"method {a.method!r} needs data: pass --dataset NAME")
    if a.batch_size < 1:
        raise DiffpruneError(f"batch size must be >= 1, got {a.batch_size}")
    _require_model(a.model)
    model = DiffusionModel.load(a.model)
    if getattr(model.unet, "pruning_history", None):
        raise DiffpruneError(f"{a.model} is already pruned; prune its dense teacher instead")
    if a.timesteps is not None:
        check_window(a.timesteps, model.scheduler.config.num_train_timesteps)
        if a.method not in GRADIENT_METHODS:
            raise DiffpruneError(f"--timesteps needs a gradient method ({', '.join(GRADIENT_METHODS)})")
    images = None
    if a.method in GRADIENT_METHODS:
        ds = _training_set(a.dataset, model.data_shape())
        images = model.to_unet_space(fixed_batch(ds, a.batch_size, a.seed))
    torch.manual_seed(a.seed)
    model.unet, report = prune(model.unet, a.method, a.ratio, scheduler=model.scheduler, images=images,
                               threshold=threshold, timestep_stride=a.timestep_stride, window=a.timesteps,
                               score=a.score, seed=a.seed, round_to=a.round_to, progress=not a.quiet)
    report.update({"model": a.model, "dataset": a.dataset if images is not None else None})
    model.save(a.out, extra_files={"prune_report.json": report})
    print(json.dumps({k: report[k] for k in ("method", "score", "ratio", "params_fraction", "macs_fraction",
                                             "window", "stop_t", "grad_timesteps")}))


def _train_config(a):
    from dataclasses import fields

    from .train import TrainConfig
    # flags mirror its fields (the autoencoder's training has no --precision)
    cfg = TrainConfig(**{f.name: getattr(a, f.name) for f in fields(TrainConfig) if hasattr(a, f.name)})
    cfg.validate()
    if getattr(a, "dropout", None) is not None and not 0 <= a.dropout < 1:
        raise DiffpruneError(f"dropout must be in [0, 1), got {a.dropout}")
    return cfg


def _training_set(dataset: str, expected: tuple[int, int, int] | None):
    """The data set's training split, checked against the shape of the images a model is trained on
    (`DiffusionModel.data_shape`; None: not known yet)."""
    from .data import load_dataset
    ds = load_dataset(dataset, "train")
    if expected is not None and ds.shape != expected:
        raise DiffpruneError(f"dataset {dataset} has images {ds.shape}, the model expects {expected}")
    return ds


def _finish_training(model, a) -> None:
    """After `train` (which wrote the model, with a latent model's autoencoder): the grid of samples."""
    from accelerate import PartialState
    if not PartialState().is_main_process:
        return  # under `accelerate launch` the main process writes
    if a.grid > 0:
        from .images import save_grid
        from .sample import sample
        save_grid(sample(model, a.grid, seed=a.seed, steps=100, progress=not a.quiet), Path(a.out) / "samples.png")
    print(json.dumps({"out": a.out, "steps": a.steps}))


def _command() -> str:
    import shlex
    return "python -m diffprune " + " ".join(shlex.quote(x) for x in sys.argv[1:])


def cmd_train(a) -> None:
    from .autoencoder import load_autoencoder
    from .models import DiffusionModel
    from .train import train
    from .unet import build_unet, default_scheduler

    cfg = _train_config(a)
    model = DiffusionModel(None, default_scheduler())  # its UNet is built below, for what it will see
    if a.autoencoder is not None:
        _require_model(a.autoencoder)
        model.autoencoder, model.source = load_autoencoder(a.autoencoder), Path(a.autoencoder)
        if model.autoencoder is None:
            raise DiffpruneError(f"{a.autoencoder} holds no autoencoder (no vqvae/): train one with `autoencoder`")
    ds = _training_set(a.dataset, model.data_shape() if model.latent else None)
    c, h, _ = model.to_unet_space(ds.images[:1]).shape[1:]  # a latent model learns latents
    overrides = {} if a.dropout is None else {"dropout": a.dropout}
    model.unet = build_unet(a.preset, c, h, seed=a.seed, **overrides)
    info = {"kind": "train", "dataset": a.dataset, "preset": a.preset, "dropout": a.dropout,
            **({"autoencoder": a.autoencoder} if model.latent else {})}
    train(model, ds.images, cfg, a.out, run_info=info, resume=not a.no_resume, progress=not a.quiet,
          command=_command())
    _finish_training(model, a)


def cmd_autoencoder(a) -> None:
    from .autoencoder import build_autoencoder, train_autoencoder
    from .data import load_dataset

    cfg = _train_config(a)
    train_set, test_set = load_dataset(a.dataset, "train"), load_dataset(a.dataset, "test")
    c, h, w = train_set.shape
    if h % 4 or w % 4:
        raise DiffpruneError(f"the autoencoder halves the image twice: {h}x{w} is not a multiple of 4")
    model = build_autoencoder(a.preset, c, h, seed=a.seed)
    info = {"kind": "autoencoder", "dataset": a.dataset, "preset": a.preset}
    train_autoencoder(model, train_set.images, test_set.images, cfg, a.out, run_info=info,
                      resume=not a.no_resume, progress=not a.quiet, command=_command())
    print(json.dumps({"out": a.out, "steps": a.steps}))


def cmd_finetune(a) -> None:
    import torch

    from .models import DiffusionModel
    from .train import train

    cfg = _train_config(a)
    _require_model(a.model)
    model = DiffusionModel.load(a.model)
    ds = _training_set(a.dataset, model.data_shape())
    if a.dropout is not None:
        for m in model.unet.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = a.dropout
    info = {"kind": "finetune", "dataset": a.dataset, "model": str(a.model), "dropout": a.dropout}
    train(model, ds.images, cfg, a.out, run_info=info, resume=not a.no_resume, progress=not a.quiet,
          command=_command())
    _finish_training(model, a)


def cmd_sample(a) -> None:
    from accelerate import PartialState

    from .images import save_grid
    from .models import DiffusionModel, accelerate_cpu
    from .sample import load_samples, sample_to_file

    if a.n < 1 or a.batch_size < 1 or a.steps < 1 or a.eta < 0:
        raise DiffpruneError("--n, --batch-size and --steps must be >= 1 and --eta >= 0")
    if not a.out.endswith(".npz"):
        raise DiffpruneError(f"--out must end in .npz, got {a.out}")
    _require_model(a.model)
    state = PartialState(cpu=accelerate_cpu())  # one process unless started by `accelerate launch`
    levers = _levers(a)
    levers.check(state.device)
    model = DiffusionModel.load(a.model, state.device)  # a latent model's samples are decoded
    meta = {"model": a.model, "seed": a.seed, "sampler": a.sampler, "steps": a.steps, "eta": a.eta,
            "spacing": a.spacing, "n": a.n, **levers.params()}
    if sample_to_file(a.out, model, a.n, meta=meta, seed=a.seed, sampler=a.sampler,
                      steps=a.steps, eta=a.eta, spacing=a.spacing, batch_size=a.batch_size, shard_size=a.shard_size,
                      process_index=state.process_index, num_processes=state.num_processes,
                      wait=state.wait_for_everyone, levers=levers, progress=not a.quiet and state.is_main_process):
        save_grid(load_samples(a.out)[0][:64], a.out[:-4] + ".png")
        print(json.dumps({"out": a.out, "processes": state.num_processes, **meta}))


def cmd_metrics(a) -> None:
    from .fid import METRIC_NAMES, fd_with_ci, features, reference_statistics, statistics
    from .sample import load_samples

    if (a.reference is None) == (a.samples_b is None):
        raise DiffpruneError("give exactly one of --reference dataset:NAME and --samples-b B.npz")
    if a.bootstrap < 0 or (a.n_reference is not None and a.n_reference < 2):
        raise DiffpruneError("--bootstrap must be >= 0 and --n-reference >= 2")
    if a.reference is not None:
        parts = a.reference.split(":")
        if parts[0] != "dataset" or len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("train", "test")):
            raise DiffpruneError(f"--reference must be dataset:NAME or dataset:NAME:SPLIT, got {a.reference!r}")
    images, index, meta = load_samples(a.samples)
    if len(images) < 2:
        raise DiffpruneError("a Fréchet distance needs at least 2 samples")
    feats = features(images, a.features, progress=not a.quiet)
    result = {"samples": a.samples, "sampling": meta}
    if a.reference is not None:
        name, split = parts[1], parts[2] if len(parts) == 3 else "test"
        mu, sigma = reference_statistics(name, split, a.features, a.n_reference, a.seed, progress=not a.quiet)
        result["reference"] = {"dataset": name, "split": split, "n": a.n_reference or "all"}
    else:
        images_b, index_b, _ = load_samples(a.samples_b)
        mu, sigma = statistics(features(images_b, a.features, progress=not a.quiet))
        result["reference"] = {"samples": a.samples_b}
    fd = fd_with_ci(feats, mu, sigma, n_boot=a.bootstrap, seed=a.seed)
    result["fd"] = {"metric": METRIC_NAMES[a.features], **fd}
    if a.samples_b is not None:
        from .consistency import content_consistency, paired, ssim_consistency
        x, y, _ = paired(images, index, images_b, index_b)
        result["ssim"] = ssim_consistency(x, y, seed=a.seed)
        if a.classifier:
            from .classifier import load_classifier
            clf, clf_meta = load_classifier(a.classifier)
            result["content"] = {**content_consistency(x, y, clf),
                                 "classifier_test_accuracy": clf_meta["test_accuracy"]}
    print(json.dumps(result, indent=2))


def cmd_cost(a) -> None:
    from .cost import cost_report
    from .unet import load_unet

    if a.batch_size < 1 or a.repeats < 1:
        raise DiffpruneError("--batch-size and --repeats must be >= 1")
    _require_model(a.model)
    if a.baseline is not None:
        _require_model(a.baseline)
    model = load_unet(a.model)
    baseline = load_unet(a.baseline) if a.baseline else None
    report = cost_report(model, baseline, a.batch_size, a.repeats)
    print(json.dumps({"model": a.model, "baseline": a.baseline, **report}, indent=2))


def cmd_classifier(a) -> None:
    from .classifier import train_classifier
    if a.epochs < 1:
        raise DiffpruneError("--epochs must be >= 1")
    print(json.dumps(train_classifier(a.dataset, epochs=a.epochs, seed=a.seed, out=Path(a.out),
                                      progress=not a.quiet), indent=2))


def cmd_adopt(a) -> None:
    from .adopt import adopt
    if a.grid < 0:
        raise DiffpruneError(f"--grid must be >= 0, got {a.grid}")
    out = adopt(a.run, a.out, replace=a.replace, grid=a.grid, seed=a.seed, command=_command())
    print(json.dumps({"out": str(out), "training_run": a.run}))


def cmd_bundle(a) -> None:
    from .bundle import write_bundle
    lines = None
    if a.requirements is not None:
        try:
            text = Path(a.requirements).read_text()
        except OSError as e:
            raise DiffpruneError(f"cannot read --requirements {a.requirements}: {e.strerror}") from None
        lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    manifest = write_bundle(a.out, requirement_lines=lines, data=not a.no_data)
    print(json.dumps({"out": a.out, "wheels": len(manifest["wheels"]), "data_files": len(manifest["data"])}))


def cmd_book(a) -> None:
    from .book import render
    from .paths import in_repo
    if a.dry_run:
        from .standins import dry_run
        if a.solutions:
            raise DiffpruneError("--dry-run builds the book without the solutions page")
        index = dry_run(a.profile, _overrides(a), Path(a.out or in_repo(f"build/dry-run-{a.profile}")),
                        chapters_to_run=a.chapter, build=not a.no_build, recompute=a.recompute)
        if index:
            print(index)
        return
    out = Path(a.out) if a.out else (in_repo("build/instructor-book") if a.solutions else None)
    chapters_to_run = a.chapter + ["solutions"] if a.chapter and a.solutions else a.chapter
    index = render(a.profile, _overrides(a), chapters_to_run=chapters_to_run, out=out,
                   extra=("solutions",) if a.solutions else (), recompute=a.recompute, build=not a.no_build,
                   plan_only=a.plan, yes=a.yes)
    if index:
        print(index)


def cmd_lab(a) -> None:
    from .book import jupyter_env
    from .paths import ROOT
    jupyter_env()
    lab = str(Path(sys.executable).with_name("jupyter-lab"))
    print("JupyterLab on the chapters, on this machine only: open the http://127.0.0.1 address it prints "
          "(notebooks/*.py: right-click, Open With > Notebook); Ctrl-C stops it", file=sys.stderr, flush=True)
    args = [lab, f"--ServerApp.root_dir={ROOT}", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={a.port}",
            "--no-browser", "--ServerApp.default_url=/lab/tree/notebooks"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers run as root; the server listens on loopback only
        args.append("--allow-root")
    os.execv(lab, args)


def _run_job(job):
    import torch
    from threadpoolctl import threadpool_limits
    torch.set_num_threads(1)
    fn, args = job
    # numpy's BLAS too: 14 jobs with a 16-thread pool each stalled the Fréchet distances for minutes
    with threadpool_limits(1):
        return fn(*args)


def _pool_job(job):
    from . import checkpoint
    return checkpoint.unless_stopped(_run_job, job)


def cmd_study(a) -> None:
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    from . import checkpoint, study
    from . import plan as planning
    from .book import chapters
    from .chapter import spec
    if a.jobs < 1:
        raise DiffpruneError("--jobs must be >= 1")
    if a.job is not None and (not a.chapter or len(a.chapter) != 1):
        raise DiffpruneError("--job needs exactly one --chapter: job numbers are a chapter's")
    if a.commands and not a.plan:
        raise DiffpruneError("--commands prints a plan's commands: add --plan")
    if a.step and (a.job is None or len(a.job) != 1 or ":" not in a.step):
        raise DiffpruneError("--step STEP:KEY computes one step of one job: add one --job I (see --plan --commands)")
    if a.wait and not a.step:
        raise DiffpruneError("--wait is for --step: how long one step waits for its inputs")
    if a.source and not a.pack:
        raise DiffpruneError("--from brings another cache's records in to pack them: add --pack")
    if a.dask and (a.jobs != 1 or a.job is not None or a.step or a.plan or a.pack or a.bulk):
        raise DiffpruneError("--dask computes every step of the chapters' plan on a cluster: without --jobs, "
                             "--job, --step, --plan, --pack or --bulk")
    if a.retire:
        if a.chapter or a.job is not None or a.pack or a.dask or a.bulk:
            raise DiffpruneError("--retire keeps what every chapter reads: without --chapter, --job, --pack, "
                                 "--dask or --bulk")
        keep = planning.read_records(a.profile, _overrides(a), chapters())
        dropped = study.retire(keep, dry_run=a.plan)
        for kind, keys in dropped.items():
            print(f"  {kind:<16} {len(keys):>5}  {' '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}")
        n = sum(map(len, dropped.values()))
        print(f"{'would retire' if a.plan else 'retired'} {n} records of teachers no chapter reads at profile "
              f"{a.profile} ({len(keep)} read)", file=sys.stderr)
        return
    if a.pack:
        if a.source:
            if not Path(a.source).is_dir():
                raise DiffpruneError(f"--from {a.source}: not a directory")
            print(f"brought in {study.import_records(Path(a.source))} records from {a.source}", file=sys.stderr)
        print(f"packed {study.pack()} loose records into {study.study_dir()}/<step>/{study.PACK}", file=sys.stderr)
        return
    specs = [spec(name) for name in a.chapter or chapters()]
    params = [c.load(a.profile, _overrides(a)) for c in specs]  # every value checked before any work
    if a.dask:
        from .engine import study_on
        study_on(a.dask, specs, params, yes=a.yes)
        return
    with study.environment(DIFFPRUNE_BULK="1" if a.bulk else os.environ.get("DIFFPRUNE_BULK")):
        for c, p in zip(specs, params, strict=True):
            jobs = c.work(p) if c.work else []
            if a.job is not None:
                wrong = [i for i in a.job if not 0 <= i < len(jobs)]
                if wrong:
                    raise DiffpruneError(f"--job {wrong[0]}: chapter {c.name} has jobs 0 to {len(jobs) - 1} here")
                jobs = [jobs[i] for i in a.job]
            if a.step:
                planning.compute_step(jobs[0], *a.step.split(":", 1), wait_s=a.wait)
                study.pack()
                continue
            plan = planning.of(jobs)
            print(f"plan for {c.name}: {len(plan.steps)} steps to compute\n{plan.table()}", file=sys.stderr)
            if a.plan:
                if a.commands:
                    lines, later = planning.commands(plan, c.name, a.profile, _overrides(a), a.job)
                    for line in lines:
                        print(line)
                    if later or plan.stopped:
                        print(f"{later} listed steps need a model these commands train, {len(plan.stopped)} jobs could "
                              "be followed only partway: plan again once the commands ran", file=sys.stderr)
                continue
            planning.confirm(plan, yes=a.yes, what=c.name)
            if a.jobs == 1:  # in this process, one thread as in a pool's worker: progress step by step
                rows = planning.compute([(_run_job, (job,)) for job in jobs], plan)
            else:  # a job with a timing (`plan.alone`) runs after the pool, here, with nothing beside it
                last = planning.jobs_alone(plan)
                first = [i for i in range(len(jobs)) if i not in last]
                try:
                    with (checkpoint.forwarded_stops(),
                          ProcessPoolExecutor(a.jobs, initializer=checkpoint.pool_worker) as pool):
                        done = dict(zip(first, tqdm(pool.map(_pool_job, [jobs[i] for i in first]),
                                                    total=len(first), desc=f"{c.name}: jobs"), strict=True))
                except KeyboardInterrupt as e:  # a worker's own message names its run alone
                    raise KeyboardInterrupt("every job under way stopped, a training run after a checkpoint of its "
                                            "step: the same command goes on from there") from e
                done.update((i, _run_job(jobs[i])) for i in sorted(last))
                rows = [done[i] for i in range(len(jobs))]
            study.pack()  # the new records into the packs git keeps
            if a.bulk:  # the model directories and sample sets behind the chapter's evaluated rows
                for row in (r for job in rows for r in (job if isinstance(job, list) else [job])):
                    if isinstance(row, dict) and "model_dir" in row:
                        print(json.dumps({"chapter": c.name, "row": row.get("row", row.get("teacher")),
                                          "seed": row["seed"], "dataset": row["dataset"], "model_dir": row["model_dir"],
                                          "samples_dir": row.get("samples_dir")}))


COMMANDS = {"prune": cmd_prune, "train": cmd_train, "autoencoder": cmd_autoencoder, "finetune": cmd_finetune,
            "sample": cmd_sample, "metrics": cmd_metrics, "cost": cmd_cost, "classifier": cmd_classifier,
            "book": cmd_book, "study": cmd_study, "lab": cmd_lab, "bundle": cmd_bundle, "adopt": cmd_adopt}


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        COMMANDS[args.command](args)
    except DiffpruneError as e:
        print(f"diffprune: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"diffprune: interrupted{f': {e}' if str(e) else ''}", file=sys.stderr)
        return 130
    return 0
