"""The study's steps, each cached by `study.cached`: teacher, prune, finetune, sample, classifier,
Fréchet distance and consistency. A step's parameters include the keys of the steps it uses, so
a changed parameter recomputes exactly what depends on it.

Steps are lazy: `pruned(...)`, `finetuned(...)` and `samples(...)` return an `Artifact` whose key
is known from its parameters alone. Reading a result (`.result`, `.preview`) computes the step
only if its results are missing; `.path` also brings back its bulk (weights, full sample sets).
So a chapter renders from committed results without the models and samples behind them.

A latent diffusion model goes through the same steps: its directories hold `vqvae/` beside the
UNet, every step prunes, finetunes and walks the UNet on the autoencoder's latents of real images,
carries the autoencoder unchanged into what it writes, and its samples are decoded to pixels, so
Fréchet distances and consistency are measured in pixel space as for any model.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import study
from .artifacts import DiffpruneError, write_bytes_atomic, write_json_atomic
from .paths import in_repo, study_dir
from .study import STEPS, cached, has_result, is_recorded, record, result, step_key

SAMPLES = "samples.npz"   # the full sample set of a `sample` artifact (bulk)
PREVIEW = "preview.npz"   # its first PREVIEW_N images (a result, folded into the record: the book's figures read it)
PREVIEW_N = 16  # the book shows at most 16 per model; 64 would cost 4x the repository budget


@dataclass(frozen=True, eq=False)
class Artifact:
    step: str
    key: str
    locate: Callable[[bool], Path]  # bulk wanted -> the artifact's directory
    params: dict | None = None      # a cached step's parameters (None: a committed or recorded directory)
    inputs: tuple[Artifact, ...] = ()  # the artifacts its computation reads (a plan lists them too)

    def _planned(self, bulk: bool) -> bool:
        """Whether a plan is being made (`plan.planning`) and lists this artifact instead of computing it."""
        planner = study.planner()
        return planner is not None and self.params is not None and planner(self, bulk)

    @property
    def path(self) -> Path:
        """The directory with every file present, bulk included (computed if missing)."""
        if self._planned(True):
            return study.study_dir() / self.step / self.key  # not there: a plan goes no further on this path
        return self.locate(True)

    @property
    def results(self) -> Path:
        """The directory with its results present (computed if missing); with `DIFFPRUNE_BULK=1`
        (`study --bulk`) its bulk too."""
        bulk = os.environ.get("DIFFPRUNE_BULK") == "1"
        if self._planned(bulk):
            return study.study_dir() / self.step / self.key
        return self.locate(bulk)

    def result(self, name: str):
        """A result by its file name (e.g. `fd.json`), decoded (see `study.result`); while a plan is
        made, an `Unknown` for a result that would be computed."""
        if self._planned(os.environ.get("DIFFPRUNE_BULK") == "1"):
            return study.Unknown()
        return result(self.results, name)

    def has(self, name: str) -> bool:
        if self._planned(False):
            return True
        return has_result(self.results, name)

    def record(self) -> dict:
        """The step's record: its parameters, code version, device and wall time."""
        if self._planned(False):
            return study.Unknown()
        return record(self.results)

    def provenance(self) -> dict:
        """Where and how long the step ran, and which code (from its record)."""
        r = self.record()
        return {"wall_time_s": r["wall_time_s"], "device": r["device"], "code_version": r["code_version"]}

    def preview(self) -> np.ndarray:
        """The first PREVIEW_N images of a `sample` artifact, uint8 (N, H, W, C)."""
        return self.result(PREVIEW)["images"]


def _step(step: str, params: dict, compute: Callable[[Path], None], inputs: tuple[Artifact, ...] = ()) -> Artifact:
    return Artifact(step, step_key(step, params), lambda bulk: cached(step, params, compute, bulk=bulk), params,
                    tuple(a for a in inputs if a is not None))


def recorded(step: str, key: str) -> Artifact:
    """An artifact known by its key alone, e.g. from a chapter's row: its results can be read, but
    its bulk cannot be recomputed without the parameters behind the key."""
    d = study_dir() / step / key

    def locate(bulk: bool) -> Path:
        missing = [n for n in STEPS[step].bulk if not (d / n).exists()] if bulk else []
        if not is_recorded(d) or missing:
            raise DiffpruneError(f"{d} is not in the study cache{' with its bulk' if missing else ''}; "
                                 "re-run the chapter that made it")
        return d
    return Artifact(step, key, locate)


def _weights_key(d: Path) -> str:
    """A model directory's key: its UNet weights' sha256 (and its autoencoder's, for a latent model)."""
    import hashlib

    from .artifacts import sha256_file
    from .autoencoder import SUBFOLDER
    unet = json.loads((d / "unet" / "diffprune.json").read_text())["weights_sha256"]
    vqvae = d / SUBFOLDER / "diffusion_pytorch_model.safetensors"
    if not vqvae.is_file():
        return unet[:16]
    return hashlib.sha256(f"{unet} {sha256_file(vqvae)}".encode()).hexdigest()[:16]


def _model(d: Path):
    """The `DiffusionModel` of a model directory, on the device the study computes on."""
    from .models import DiffusionModel, default_device
    return DiffusionModel.load(d, default_device())


def teacher(spec) -> Artifact:
    """A committed model directory (path, keyed by its weights' sha256), or train one from a dict
    of training parameters (dataset, preset, steps, batch_size, lr, seed; with `autoencoder`, a dict
    of the same keys but dataset, a latent model: the autoencoder first, then the UNet on its latents)."""
    if isinstance(spec, str):
        path = in_repo(spec)
        if path.is_dir():
            if not (path / "unet" / "diffprune.json").is_file():
                raise DiffpruneError(f"teacher {spec} is not a diffprune model directory (no unet/diffprune.json)")
            return Artifact("teacher", _weights_key(path), lambda bulk: path)
        return _hub_teacher(spec)
    params = dict(spec)

    def compute(work: Path) -> None:
        from .data import load_dataset
        from .models import DiffusionModel
        from .unet import build_unet, default_scheduler
        ds = load_dataset(params["dataset"], "train")
        vqvae = _train_autoencoder(work, params["dataset"], params["autoencoder"]) if "autoencoder" in params else None
        model = DiffusionModel(None, default_scheduler(), vqvae)  # its UNet fits what it will see: pixels or latents
        shape = model.to_unet_space(ds.images[:1]).shape[1:]
        model.unet = build_unet(params["preset"], shape[0], shape[1], seed=params["seed"])
        _train(work, model, params, "train")

    return _trained_teacher(params, compute)


def _trained_teacher(params: dict, compute: Callable[[Path], None]) -> Artifact:
    """A teacher's key is its weights' hash, so it is trained (or found) right away; while a plan is
    made, an untrained one is listed under a key of its parameters, which no recorded step has."""
    def locate(bulk: bool) -> Path:
        return cached("teacher", params, compute, bulk=bulk)
    if study.planner() is not None and not is_recorded(study.step_dir("teacher", params)):
        planned = Artifact("teacher", f"untrained-{step_key('teacher', params)}", locate, params)
        planned.has("cost.json")  # lists it
        return planned
    return Artifact("teacher", _weights_key(locate(True)), locate, params)


def _hub_teacher(name: str) -> Artifact:
    """A pretrained model from the hub (e.g. google/ddpm-cifar10-32), stored once in the cache."""
    def compute(work: Path) -> None:
        from .models import DiffusionModel
        DiffusionModel.load(name).write_into(work)

    return _trained_teacher({"hub": name}, compute)


def training_run(recipe: dict, *, steps: int, passing: tuple[int, ...] = (),
                 autoencoder: Artifact | None = None) -> Artifact:
    """A teacher's recipe (dataset, preset, batch_size, lr, warmup_steps, seed) trained for `steps`,
    on the latents of `autoencoder`'s autoencoder where given (a latent model; keyed by the
    autoencoder's weights, so a new UNet beside it changes nothing here): a study artifact for a
    learning curve, not a study teacher. `passing`: shorter lengths this run passes through, each
    its own artifact, the run resuming from the longest one's checkpoint (which changes no weight,
    as for `finetuned`)."""
    params = {**recipe, "steps": steps}
    if autoencoder is not None:
        params["autoencoder_key"] = autoencoder_key(autoencoder.path)
    shorter = sorted(s for s in passing if 0 < s < steps)
    before = (training_run(recipe, steps=shorter[-1], passing=tuple(shorter[:-1]), autoencoder=autoencoder)
              if shorter else None)

    def compute(work: Path) -> None:
        import shutil
        if before is not None:
            ckpt = before.path / "checkpoint"
            if ckpt.is_dir() and not (work / "checkpoint").exists():
                shutil.copytree(ckpt, work / "checkpoint")
        _train(work, _recipe_model(recipe, autoencoder), params, "train")

    return _step("training_run", params, compute, (before, autoencoder))


def _recipe_model(recipe: dict, autoencoder: Artifact | None):
    """A recipe's model before training: its UNet shaped for what it sees, pixels or the latents of
    `autoencoder`'s autoencoder."""
    from .autoencoder import load_autoencoder
    from .data import load_dataset
    from .models import DiffusionModel
    from .unet import build_unet, default_scheduler
    model = DiffusionModel(None, default_scheduler())
    if autoencoder is not None:
        source = autoencoder.path
        model = DiffusionModel(None, default_scheduler(), load_autoencoder(source), source)
    c, h, _ = model.to_unet_space(load_dataset(recipe["dataset"], "train").images[:1]).shape[1:]
    model.unet = build_unet(recipe["preset"], c, h, seed=recipe["seed"])
    return model


def architecture(name: str, *, channels: int, size: int, seed: int) -> Artifact:
    """A UNet preset with random weights: a model to time where only the structure matters (the
    paper's model, whose trained weights need a network). Keyed by its parameters, not its weights,
    so a chapter reads its prune's and timings' records without building it; its size is a result."""
    params = {"architecture": name, "channels": channels, "size": size, "seed": seed}

    def compute(work: Path) -> None:
        from .cost import count_macs, count_params
        from .models import DiffusionModel
        from .unet import build_unet, default_scheduler
        unet = build_unet(name, channels, size, seed=seed)
        DiffusionModel(unet, default_scheduler()).write_into(work)
        write_json_atomic(work / "size.json", {"params": count_params(unet), "macs": count_macs(unet)})

    return _step("architecture", params, compute)


def autoencoder_key(d: Path) -> str:
    """A latent model directory's autoencoder, by the sha256 of its weights (16 hex digits)."""
    from .artifacts import sha256_file
    from .autoencoder import SUBFOLDER
    weights = d / SUBFOLDER / "diffusion_pytorch_model.safetensors"
    if not weights.is_file():
        raise DiffpruneError(f"{d} has no autoencoder ({SUBFOLDER}/): not a latent model")
    return sha256_file(weights)[:16]


def reconstructions(model: Artifact, *, dataset: str, split: str, n: int, seed: int) -> Artifact:
    """`n` images of a split (drawn without replacement by `seed`) through a latent model's
    autoencoder, encoded and decoded as its samples are: a sample set whose Fréchet distance is the
    floor no model on those latents can beat (keyed by the autoencoder's weights)."""
    params = {"autoencoder_key": autoencoder_key(model.path), "dataset": dataset, "split": split, "n": n, "seed": seed}

    def compute(work: Path) -> None:
        import torch

        from .autoencoder import decode, encode, load_autoencoder
        from .data import load_dataset
        from .sample import load_samples, save_samples
        vqvae = load_autoencoder(model.path)
        images = load_dataset(dataset, split).images
        index = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n].sort().values
        with torch.no_grad():
            out = decode(vqvae, encode(vqvae, images[index]))
        save_samples(work / SAMPLES, out.permute(0, 2, 3, 1).numpy(), index.numpy(), params)
        save_preview(work / PREVIEW, load_samples(work / SAMPLES)[0])

    return _step("reconstruction", params, compute, (model,))


def timesteps(spec) -> int:
    """The teacher's number of diffusion timesteps (its scheduler's `num_train_timesteps`): where the
    last timestep window ends (not the paper's T, a threshold). A teacher trained here gets
    `unet.default_scheduler`'s; a hub id whose scheduler cannot be read (no network) falls back to
    that too, as `unet.load_scheduler` does."""
    from .unet import default_scheduler, load_scheduler
    scheduler = load_scheduler(in_repo(spec) if in_repo(spec).is_dir() else spec) if isinstance(spec, str) \
        else default_scheduler()
    return int(scheduler.config.num_train_timesteps)


def teacher_steps(t: Artifact) -> int | None:
    """Training steps of a teacher this project trained (None for one from the hub)."""
    return int(t.result("cost.json")["steps"]) if t.has("cost.json") else None


def _precision(precision: str) -> dict:
    """A training step's precision as a parameter: absent for fp32, the precision every record before
    the lever was trained at."""
    from .train import PRECISIONS
    if precision not in PRECISIONS:
        raise DiffpruneError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return {} if precision == "fp32" else {"precision": precision}


def _config(params: dict):
    from .train import TrainConfig
    steps = params["steps"]
    return TrainConfig(steps=steps, batch_size=params["batch_size"], lr=params["lr"],
                       warmup_steps=params.get("warmup_steps", 0), seed=params["seed"],
                       precision=params.get("precision", "fp32"),
                       checkpoint_every=max(min(250, steps // 2), 1), log_every=max(steps // 50, 1))


def _train(work: Path, model, params: dict, kind: str) -> None:
    """The study's one training call: teachers and finetunes differ only in `params` (a latent
    model learns its autoencoder's latents of the training images)."""
    from .data import load_dataset
    from .train import train
    # steps stay out of the run's identity: a longer run may resume from a shorter one's checkpoint
    run_info = {"kind": kind, **{k: v for k, v in params.items() if k != "steps"}}
    train(model, load_dataset(params["dataset"]).images, _config(params), work, run_info=run_info, progress=False)


def _train_autoencoder(work: Path, dataset: str, params: dict):
    """The autoencoder of a latent teacher, into `work/vqvae` (kept there when a run resumes)."""
    from .autoencoder import build_autoencoder, load_autoencoder, train_autoencoder
    from .data import load_dataset
    from .models import default_device
    if load_autoencoder(work) is None:
        train_set, test_set = load_dataset(dataset, "train"), load_dataset(dataset, "test")
        model = build_autoencoder(params["preset"], train_set.shape[0], train_set.shape[1], seed=params["seed"])
        train_autoencoder(model, train_set.images, test_set.images, _config(params), work,
                          run_info={"kind": "autoencoder", "dataset": dataset, **params}, progress=False)
    return load_autoencoder(work).to(default_device())


def pruned(t: Artifact, *, method: str, ratio: float, seed: int, threshold: float | None = None,
           timestep_stride: int = 1, batch_size: int = 128, dataset: str | None = None,
           window: tuple[int, int] | None = None, score: str | None = None, round_to: int = 1) -> Artifact:
    from .importance import GRADIENT_METHODS, fingerprint
    from .threshold import DEFAULT
    threshold = DEFAULT if threshold is None else threshold
    params = {"teacher": t.key, "method": method, "ratio": ratio, "seed": seed}
    if fingerprint(method):  # a registered criterion: its source is part of what the prune means
        params["criterion"] = fingerprint(method)
    if method in GRADIENT_METHODS:
        params.update(timestep_stride=timestep_stride, batch_size=batch_size, dataset=dataset)
    if window is not None:  # window and score only when given: the keys of earlier results stay valid
        params["window"] = list(window)
    elif method == "diff-pruning":
        params["threshold"] = threshold
    if score is not None:
        params["score"] = score
    if round_to != 1:  # likewise
        params["round_to"] = round_to

    def compute(work: Path) -> None:
        from .data import fixed_batch, load_dataset
        images = fixed_batch(load_dataset(dataset), batch_size, seed) if method in GRADIENT_METHODS else None
        _prune_into(work, t, params.get("dataset"), method, ratio, images=images, threshold=threshold,
                    timestep_stride=timestep_stride, window=window, score=score, seed=seed, round_to=round_to)

    return _step("prune", params, compute, (t,))


def _prune_into(work: Path, t: Artifact, dataset: str | None, method: str, ratio: float, *, images=None,
                **options) -> None:
    """Prune the teacher with uint8 `images` (its importance batch, if the method has one) and write
    the pruned model (with a latent teacher's autoencoder) and its report into `work`."""
    from .prune import prune
    model = _model(t.path)
    inputs = None if images is None else model.to_unet_space(images).to(model.device)
    model.unet, report = prune(model.unet, method, ratio, scheduler=model.scheduler, images=inputs, progress=False,
                               **options)
    model.unet.cpu()
    model.write_into(work)
    write_json_atomic(work / "prune_report.json", {**report, "teacher": t.key, "dataset": dataset})


GRADIENTS = "gradients.safetensors"


def gradient_stages(t: Artifact, *, dataset: str, batch_size: int, stride: int, seed: int,
                    stages: list[int]) -> Artifact:
    """One walk over t = 0, stride, ... up to the teacher's timesteps, with the importance batch and noise of `seed`,
    keeping the gradients summed over the visited t < k at each stage k (bulk) and the losses
    (`stages.json`): the gradients of any window between two stages are a difference of two."""
    stages = sorted(set(stages))
    params = {"teacher": t.key, "dataset": dataset, "batch_size": batch_size, "stride": stride, "seed": seed,
              "stages": stages}

    def compute(work: Path) -> None:
        from safetensors.torch import save_file

        _, record = _walk(t, dataset, batch_size, seed, stride, snapshots=stages)
        save_file({f"{k}/{name}": g.cpu().contiguous() for k, grads in record.pop("snapshots").items()
                   for name, g in grads.items()}, str(work / GRADIENTS))
        write_json_atomic(work / "stages.json", {**params, **record})

    return _step("gradient_stages", params, compute, (t,))


def pruned_in_window(t: Artifact, stages: Artifact, window: tuple[int, int], *, method: str,
                     ratio: float) -> Artifact:
    """A prune with the gradients of the timesteps [a, b) only, a and b stages of `stages` (or 0):
    the same channels as `pruned(..., window=(a, b))` up to the rounding of G_b - G_a (exactly the
    same for a = 0), for one walk instead of one per window."""
    params = {"gradients": stages.key, "window": list(window), "method": method, "ratio": ratio}
    record = stages.result("stages.json")
    a, b = window
    if b not in record["stages"] or (a and a not in record["stages"]):
        raise DiffpruneError(f"window {a}:{b} does not start and end at stages {record['stages']} (or 0)")

    def compute(work: Path) -> None:
        from safetensors.torch import load_file
        stored = load_file(str(stages.path / GRADIENTS))
        names = {key.partition("/")[2] for key in stored}
        grads = {n: stored[f"{b}/{n}"] - stored[f"{a}/{n}"] if a else stored[f"{b}/{n}"] for n in names}
        _prune_into(work, t, record["dataset"], method, ratio, timestep_stride=record["stride"], window=(a, b),
                    gradients=grads, seed=record["seed"])

    return _step("prune", params, compute, (t, stages))


def finetuned(model: Artifact, *, dataset: str, steps: int, batch_size: int, lr: float,
              warmup_steps: int, seed: int, passing: tuple[int, ...] = (), precision: str = "fp32") -> Artifact:
    """The model finetuned for `steps` (0: the model itself).

    `passing`: shorter step counts that this run passes through, each its own cached artifact; the
    run resumes from the longest one's kept checkpoint. That changes no weight (everything random
    at step s is drawn from (seed, s) and the learning rate is constant after warm-up; tested), so
    it is not part of the key: one run of the longest finetune yields every checkpoint of a
    recovery curve. `precision`: `train.PRECISIONS` (in the key only when not fp32, so the keys of
    earlier results stay valid)."""
    if steps == 0:
        return model
    params = {"model": model.key, "dataset": dataset, "steps": steps, "batch_size": batch_size, "lr": lr,
              "warmup_steps": warmup_steps, "seed": seed, **_precision(precision)}
    shorter = sorted(s for s in passing if 0 < s < steps)
    before = (finetuned(model, dataset=dataset, steps=shorter[-1], batch_size=batch_size, lr=lr,
                        warmup_steps=warmup_steps, seed=seed, passing=tuple(shorter[:-1]), precision=precision)
              if shorter else None)

    def compute(work: Path) -> None:
        import shutil
        if before is not None:
            ckpt = before.path / "checkpoint"
            if ckpt.is_dir() and not (work / "checkpoint").exists():
                shutil.copytree(ckpt, work / "checkpoint")
        _train(work, _model(model.path), params, "finetune")
        report = model.path / "prune_report.json"
        if report.is_file():  # a prune's report goes with it (an unpruned teacher finetuned has none)
            (work / "prune_report.json").write_text(report.read_text())

    return _step("finetune", params, compute, (model, before))


def removed(model: Artifact) -> dict[str, list[int]]:
    """{root layer: removed channels} of a pruned (or finetuned) model: from its report, or from
    its pruning history for prunes recorded before reports listed them."""
    report = model.result("prune_report.json")
    if "removed" in report:
        return report["removed"]
    from .prune import removed_channels
    return removed_channels(json.loads((model.path / "unet" / "pruning.json").read_text()))


def _importance_batch(model, dataset: str, batch_size: int, seed: int):
    """The fixed batch (in the UNet's space: latents, for a latent model) and noise of an importance
    pass of the `DiffusionModel` `model` with `seed` (as `pruned` draws them), on its device."""
    from .data import fixed_batch, load_dataset
    from .importance import fixed_noise
    images = model.to_unet_space(fixed_batch(load_dataset(dataset), batch_size, seed))
    return images.to(model.device), fixed_noise(images, seed).to(model.device)


def _walk(t: Artifact, dataset: str, batch_size: int, seed: int, stride: int, **options):
    """The teacher's UNet with the gradients of one importance walk (no threshold) in `.grad`, and its record."""
    from .importance import accumulate_gradients
    model = _model(t.path)
    images, noise = _importance_batch(model, dataset, batch_size, seed)
    record = accumulate_gradients(model.unet, model.scheduler, images, noise, threshold=None,
                                  timestep_stride=stride, progress=False, **options)
    return model.unet, record


def loss_curve(t: Artifact, *, dataset: str, n_batches: int, batch_size: int, stride: int, seed: int) -> Artifact:
    """L_t for t = 0, stride, ... up to the teacher's timesteps, on `n_batches` fixed batches: batch i
    is the importance batch and noise of seed `seed + i`, so batch 0 is what `pruned(..., seed=seed)`
    visits."""
    params = {"teacher": t.key, "dataset": dataset, "n_batches": n_batches, "batch_size": batch_size,
              "stride": stride, "seed": seed}

    def compute(work: Path) -> None:
        from .timestep_loss import loss_curve as curve
        model = _model(t.path)
        timesteps = list(range(0, model.scheduler.config.num_train_timesteps, stride))
        pairs = [_importance_batch(model, dataset, batch_size, seed + i) for i in range(n_batches)]
        losses = curve(model.unet, model.scheduler, [x for x, _ in pairs], [n for _, n in pairs], timesteps)
        write_json_atomic(work / "loss_curve.json", {**params, "t": timesteps, "loss": losses})

    return _step("loss_curve", params, compute, (t,))  # loss_curve.json


def channel_scores(t: Artifact, *, method: str, window: tuple[int, int], stride: int, dataset: str,
                   batch_size: int, seed: int) -> Artifact:
    """The score of every channel group torch-pruning would rank, with gradients from the timesteps
    [a, b) at a stride only, without pruning."""
    params = {"teacher": t.key, "method": method, "window": list(window), "stride": stride, "dataset": dataset,
              "batch_size": batch_size, "seed": seed}

    def compute(work: Path) -> None:
        from .prune import channel_scores as scores
        model, record = _walk(t, dataset, batch_size, seed, stride, window=window)
        write_json_atomic(work / "channel_scores.json", {**params, **record, "scores": scores(model, method)})

    return _step("channel_scores", params, compute, (t,))  # channel_scores.json


def size(model: Artifact) -> dict:
    """Parameters and MACs of a model: from its prune report or its size record where it has one
    (pruning, finetuning a prune and `architecture` record them), for a finetune those of the model it
    finetuned, for a training run on its recipe's architecture, else counted on its weights."""
    if model.has("prune_report.json"):
        r = model.result("prune_report.json")
        return {"params": r["params_after"], "macs": r["macs_after"]}
    if model.has("size.json"):
        return model.result("size.json")
    if model.step == "finetune":  # finetuning keeps the structure (an unpruned teacher's finetune has no report)
        return size(model.inputs[0])
    if (model.step, model.key) not in _counted:  # a key fixes one architecture: count it once per process
        from .cost import count_macs, count_params
        from .unet import load_unet
        if model.step == "training_run":  # its recipe fixes the architecture: counted on a fresh build
            unet = _recipe_model(model.params, next((a for a in model.inputs if a.step != "training_run"), None)).unet
        else:
            unet = load_unet(model.path)
        _counted[(model.step, model.key)] = {"params": count_params(unet), "macs": count_macs(unet)}
    return dict(_counted[(model.step, model.key)])


_counted: dict[tuple[str, str], dict] = {}  # size() of models with no size record: a MACs count runs the model


def timing(model: Artifact, *, batch_size: int, threads: int, repeats: int, device: str,
           round: int = 0, levers=None) -> Artifact:
    """Seconds per denoising step (one UNet forward) of a model, median of `repeats` after warm-up,
    and for a latent model also per decode (`decode`), measured on the machine that computes it
    (its record names it): run it alone, not beside other jobs. The record keeps the machine's
    1-minute load average from before the timing, so a timing taken beside other work shows.

    `round` > 0 is a repeat of the same timing: a caller that times several models round by round
    pairs each model with the others measured minutes apart, so a slow spell of a shared machine
    shows as spread across rounds instead of as one model's speed."""
    from .levers import Levers
    levers = levers or Levers()
    params = {"model": model.key, "batch_size": batch_size, "threads": threads, "repeats": repeats, "device": device}
    if round:  # round 0 keeps the key of a timing recorded before rounds existed
        params["round"] = round
    if levers.params():  # likewise: the plain forward keeps the keys of earlier timings
        params["levers"] = levers.params()

    def compute(work: Path) -> None:
        import torch

        from .cost import decode_throughput, throughput
        from .models import DiffusionModel
        if device == "cuda" and not torch.cuda.is_available():
            raise DiffpruneError("a cuda timing needs a GPU; this machine has none")
        load = os.getloadavg()[0]
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            m = DiffusionModel.load(model.path, device)
            result = throughput(m.unet, batch_size, repeats, warmup=2, levers=levers)
            if m.latent:
                result["decode"] = decode_throughput(m.autoencoder, m.unet_shape(), batch_size, repeats, warmup=2)
        finally:
            torch.set_num_threads(before)
        write_json_atomic(work / "timing.json", {**result, "threads": threads, "load_before": load})

    return _step("timing", params, compute, (model,))  # timing.json


def samples(model: Artifact, *, n: int, seed: int, steps: int, spacing: str = "uniform",
            sampler: str = "ddim", eta: float = 0.0, batch_size: int = 250, levers=None) -> Artifact:
    """A sample set; `levers` (`levers.Levers`, None: the plain fp32 forward) are in its key only
    where they are not the default, so the keys of earlier sets stay valid."""
    from .levers import Levers
    levers = levers or Levers()
    params = {"model": model.key, "n": n, "seed": seed, "sampler": sampler, "steps": steps, "eta": eta,
              "spacing": spacing, **({"levers": levers.params()} if levers.params() else {})}

    def compute(work: Path) -> None:
        from .sample import load_samples, sample_to_file
        # through shards in the work folder: an interrupted 50,000-sample set resumes
        sample_to_file(work / SAMPLES, _model(model.path), n, meta=params, seed=seed, sampler=sampler, steps=steps,
                       eta=eta, spacing=spacing, batch_size=batch_size, levers=levers, progress=False)
        save_preview(work / PREVIEW, load_samples(work / SAMPLES)[0])

    return _step("sample", params, compute, (model,))


def save_preview(path: Path, images: np.ndarray) -> None:
    import io
    buf = io.BytesIO()
    np.savez_compressed(buf, images=images[:PREVIEW_N])
    write_bytes_atomic(path, buf.getvalue())


def load_full_samples(s: Artifact) -> tuple[np.ndarray, np.ndarray]:
    """Images and their noise indices of a `sample` artifact (regenerated if only results are kept)."""
    from .sample import load_samples
    images, index, _ = load_samples(s.path / SAMPLES)
    return images, index


def classifier(dataset: str, *, epochs: int, seed: int = 0) -> Artifact:
    params = {"dataset": dataset, "epochs": epochs, "seed": seed}

    def compute(work: Path) -> None:
        from .classifier import train_classifier
        train_classifier(dataset, epochs=epochs, seed=seed, out=work, progress=False)

    return _step("classifier", params, compute)


def fd(s: Artifact, *, dataset: str, split: str, features: str, n_reference: int | None, n_boot: int,
       seed: int = 0) -> Artifact:
    """A sample set's Fréchet distance to a split's reference statistics, with its bootstrap
    interval (`fd.json`)."""
    params = {"samples": s.key, "dataset": dataset, "split": split, "features": features,
              "n_reference": n_reference, "n_boot": n_boot, "seed": seed}

    def compute(work: Path) -> None:
        from .fid import METRIC_NAMES, fd_with_ci, reference_statistics
        from .fid import features as extract
        mu, sigma = reference_statistics(dataset, split, features, n_reference, seed, progress=False)
        result = fd_with_ci(extract(load_full_samples(s)[0], features), mu, sigma, n_boot=n_boot, seed=seed)
        write_json_atomic(work / "fd.json", {"metric": METRIC_NAMES[features], **result, **params})

    return _step("fd", params, compute, (s,))  # fd.json


def distances(s: Artifact, *, dataset: str, split: str, features: str, n_reference: int | None,
              seed: int = 0) -> Artifact:
    """Beside a sample set's Fréchet distance: the distance extrapolated to infinitely many samples
    (`fid.fd_infinity`, the estimator's bias removed) and the kernel distance (`fid.kid`, unbiased and
    sound with fewer reference images than feature dimensions), on the same features and reference
    (`distances.json`)."""
    params = {"samples": s.key, "dataset": dataset, "split": split, "features": features,
              "n_reference": n_reference, "seed": seed}

    def compute(work: Path) -> None:
        from .fid import METRIC_NAMES, fd_infinity, kid, reference_features, reference_statistics
        from .fid import features as extract
        feats = extract(load_full_samples(s)[0], features)
        mu, sigma = reference_statistics(dataset, split, features, n_reference, seed, progress=False)
        ref = reference_features(dataset, split, features, n_reference, seed, progress=False)
        write_json_atomic(work / "distances.json", {
            "metric": METRIC_NAMES[features], "fd_infinity": fd_infinity(feats, mu, sigma, seed=seed),
            "kid": kid(feats, ref, seed=seed), "dimensions": int(ref.shape[1]), **params})

    return _step("distances", params, compute, (s,))  # distances.json


def _drawn(*sets: Artifact) -> dict[str, str]:
    """Where a paired comparison's sample sets come from: a comparison computed from a regenerated
    set that differs from its record does not restate the distances recorded for it."""
    return {s.key: study.bulk_origin(s.path) for s in sets}


def paired_fd(a: Artifact, b: Artifact, *, dataset: str, split: str, features: str, n_reference: int | None,
              n_boot: int, seed: int = 0) -> Artifact:
    """FD(a) − FD(b) of two sample sets drawn from the same noise, with a paired bootstrap interval
    over sample indices (`fid.paired_fd_difference`, `paired_fd.json`); needs both sets' bulk
    (regenerated if only their records are kept)."""
    params = {"a": a.key, "b": b.key, "dataset": dataset, "split": split, "features": features,
              "n_reference": n_reference, "n_boot": n_boot, "seed": seed}

    def compute(work: Path) -> None:
        from .consistency import paired
        from .fid import METRIC_NAMES, paired_fd_difference, reference_statistics
        from .fid import features as extract
        (xa, ia), (xb, ib) = load_full_samples(a), load_full_samples(b)
        x, y, common = paired(xa, ia, xb, ib)
        if a.record()["params"]["seed"] != b.record()["params"]["seed"] or not len(common) == len(ia) == len(ib):
            raise DiffpruneError(f"sample sets {a.key} and {b.key} were not drawn from the same noise")
        mu, sigma = reference_statistics(dataset, split, features, n_reference, seed, progress=False)
        result = paired_fd_difference(extract(x, features), extract(y, features), mu, sigma, n_boot=n_boot, seed=seed)
        write_json_atomic(work / "paired_fd.json", {"metric": METRIC_NAMES[features], **result, **params,
                                                    "drawn": _drawn(a, b)})

    return _step("paired_fd", params, compute, (a, b))  # paired_fd.json


def consistency(a: Artifact, b: Artifact, clf: Artifact | None, *, n_boot: int = 1000, seed: int = 0,
                detail: bool = False, kappa: bool = False) -> Artifact:
    """SSIM and class agreement of paired samples; with `detail`, also the SSIM of their edge maps;
    with `kappa`, the class agreement's chance-corrected form (Cohen's kappa) too (`consistency.json`)."""
    params = {"a": a.key, "b": b.key, "classifier": clf.key if clf else None, "n_boot": n_boot, "seed": seed}
    if detail:  # only then in the key: earlier results stay valid
        params["detail"] = "sobel-ssim"
    if kappa and clf is not None:
        params["kappa"] = "cohen"

    def compute(work: Path) -> None:
        from .classifier import load_classifier
        from .consistency import content_consistency, detail_consistency, paired, ssim_consistency
        x, y, _ = paired(*load_full_samples(a), *load_full_samples(b))
        result = {"ssim": ssim_consistency(x, y, n_boot=n_boot, seed=seed)}
        if detail:
            result["detail"] = detail_consistency(x, y, n_boot=n_boot, seed=seed)
        if clf is not None:
            model, meta = load_classifier(clf.path)
            result["content"] = {**content_consistency(x, y, model, kappa="kappa" in params, n_boot=n_boot, seed=seed),
                                 "classifier_test_accuracy": meta["test_accuracy"]}
        write_json_atomic(work / "consistency.json", {**result, "drawn": _drawn(a, b)})

    return _step("consistency", params, compute, (a, b, clf))  # consistency.json
