"""The dry run: a profile executed offline, with stand-ins for what it downloads and counts small
enough for one CPU machine (`python -m diffprune book --profile paper --dry-run`). It shows that
the profile's path runs end to end; none of its numbers mean anything.

`notebooks/params/dry-run/<profile>.yaml` names every value the dry run replaces and why;
`{standins}` in a value is the folder `build` fills:
- `images/{train,test}/<class>/*.png`: 32x32 RGB images of ten synthetic classes, CIFAR-10's shape
  (torchvision's CIFAR-10 comes only by download);
- `torch/hub/checkpoints/<pytorch-fid's Inception file>`: a link to the real weights where this
  machine has them, else randomly initialised weights of the same shapes, so that the
  FID-Inception path runs.
The dry run keeps its study cache, feature statistics and book under its own folder.
"""
from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .artifacts import DiffpruneError, atomic_dir
from .paths import PROFILE_DIR

DRY_RUN_DIR = PROFILE_DIR / "dry-run"
CLASSES = ("disc", "square", "ring", "triangle", "cross", "bars", "columns", "checker", "diagonal", "dots")
PER_CLASS = {"train": 100, "test": 20}
SIZE = 32
PAGE = "dry_run"


# --- the stand-ins -------------------------------------------------------------------------------

@contextlib.contextmanager
def _swapped(owner, name: str, value):
    """`owner.name` replaced by `value` for the scope."""
    before = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, before)


def _shape(draw, kind: str, rng: np.random.Generator, fg: tuple) -> None:
    r = int(rng.integers(7, 13))
    cx, cy = (int(v) for v in rng.integers(r, SIZE - r, 2))
    box = (cx - r, cy - r, cx + r, cy + r)
    if kind == "disc":
        draw.ellipse(box, fill=fg)
    elif kind == "square":
        draw.rectangle(box, fill=fg)
    elif kind == "ring":
        draw.ellipse(box, outline=fg, width=3)
    elif kind == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fg)
    elif kind == "cross":
        draw.rectangle((cx - r, cy - 2, cx + r, cy + 2), fill=fg)
        draw.rectangle((cx - 2, cy - r, cx + 2, cy + r), fill=fg)
    elif kind in ("bars", "columns"):
        step = int(rng.integers(4, 8))
        for k in range(0, SIZE, step):
            draw.rectangle((0, k, SIZE, k + step // 2 - 1) if kind == "bars" else (k, 0, k + step // 2 - 1, SIZE),
                           fill=fg)
    elif kind == "checker":
        step = int(rng.integers(4, 9))
        for i in range(0, SIZE, step):
            for j in range(0, SIZE, step):
                if (i // step + j // step) % 2:
                    draw.rectangle((i, j, i + step - 1, j + step - 1), fill=fg)
    elif kind == "diagonal":
        draw.line((0, 0, SIZE, SIZE), fill=fg, width=int(rng.integers(3, 7)))
    else:  # dots
        for x, y in rng.integers(2, SIZE - 2, (6, 2)):
            draw.ellipse((int(x) - 2, int(y) - 2, int(x) + 2, int(y) + 2), fill=fg)


def write_images(folder: Path, seed: int = 0) -> Path:
    """Ten classes of synthetic shapes, random colours and places, as `train/` and `test/` PNGs."""
    from PIL import Image, ImageDraw

    from .artifacts import write_bytes_atomic
    rng = np.random.default_rng(seed)
    for split, n in PER_CLASS.items():
        for kind in CLASSES:
            for i in range(n):
                bg, fg = (tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(2))
                image = Image.new("RGB", (SIZE, SIZE), bg)
                _shape(ImageDraw.Draw(image), kind, rng, fg)
                path = folder / split / kind / f"{i:04d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                buf = io.BytesIO()
                image.save(buf, format="PNG")
                write_bytes_atomic(path, buf.getvalue())
    return folder


def inception_weights(hub_dir: Path, real_hub_dir: Path, images) -> str:
    """Put pytorch-fid's Inception weights under `hub_dir`: a link to the real file in
    `real_hub_dir` if it is there, else random weights of its shapes whose BatchNorm statistics
    are taken from `images` (uint8 N×3×H×W), so that features are not vanishingly small. Says which."""
    import torch
    import torch.nn.functional as F
    from pytorch_fid import inception
    from torchvision.models import Inception3

    from .fid import INCEPTION_FILE
    target = hub_dir / "checkpoints" / INCEPTION_FILE
    real = real_hub_dir / "checkpoints" / INCEPTION_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    if real.is_file() and real.resolve() != target.resolve():
        if not target.is_symlink():
            target.unlink(missing_ok=True)
            target.symlink_to(real.resolve())
        return f"pytorch-fid's weights ({real})"
    if not target.is_file() or target.is_symlink():
        # pytorch-fid builds its network only to load the downloaded file into it: catch the
        # network there instead of loading.
        built = []
        with torch.random.fork_rng(), \
                _swapped(inception, "load_state_dict_from_url", lambda *a, **k: {}), \
                _swapped(Inception3, "load_state_dict", lambda self, *a, **k: built.append(self)):
            torch.manual_seed(0)
            inception.fid_inception_v3()
        net = built[0].train()
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # a plain average over the calibration batches
        x = F.interpolate(images.float() / 127.5 - 1, size=(299, 299), mode="bilinear", align_corners=False)
        with torch.no_grad():
            for batch in x.split(32):
                net(batch)
        tmp = target.with_name(target.name + ".tmp")
        target.unlink(missing_ok=True)
        torch.save(net.state_dict(), tmp)
        os.replace(tmp, target)
    return ("random weights of pytorch-fid's Inception, BatchNorm calibrated on the stand-in images "
            "(its real weights are not on this machine)")


# --- the dry run ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Replacement:
    name: str
    profile_value: object
    value: object
    why: str


def _fill(value, standins: Path):
    if isinstance(value, str):
        return value.replace("{standins}", str(standins))
    if isinstance(value, list):
        return [_fill(v, standins) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, standins) for k, v in value.items()}
    return value


def replacements(profile: str, standins: Path, overrides: dict | None = None) -> list[Replacement]:
    """What the dry run of `profile` changes: its dry-run file's entries, then the reader's overrides."""
    from . import profiles
    path = DRY_RUN_DIR / f"{profile}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in DRY_RUN_DIR.glob("*.yaml")))
        raise DiffpruneError(f"profile {profile} has no dry run (no {path.relative_to(PROFILE_DIR.parent.parent)}); "
                             f"profiles with one: {known}")
    base = profiles.read(profile)
    entries = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(entries) - set(base))
    if unknown:
        raise DiffpruneError(f"{path.name} replaces unknown parameter(s) {', '.join(unknown)}")
    out = {name: Replacement(name, base[name], _fill(e["value"], standins), e["why"]) for name, e in entries.items()}
    for name, value in (overrides or {}).items():
        profiles.read(profile, {name: value})  # an unknown name fails here
        out[name] = Replacement(name, base[name], value, "given on the command line")
    return list(out.values())


def page(profile: str, rows: list[Replacement], inception: str, standins: Path) -> str:
    """The book page that names what the dry run replaced."""
    def cell(v) -> str:
        return f"`{v}`".replace("|", "\\|")
    table = "\n".join(f"| {r.name} | {cell(r.profile_value)} | {cell(r.value)} | {r.why} |" for r in rows)
    return f"""# Dry run of the `{profile}` profile

This copy of the book executed the `{profile}` profile offline, with the stand-ins below in place
of what the profile downloads and with counts small enough for one CPU machine
(`python -m diffprune book --profile {profile} --dry-run`). It shows that the profile's path runs
end to end — the data loader, the FID-Inception features, the sampler and its spacing, sharded
sampling, pruning, finetuning and every chapter's figures. **None of its numbers mean anything.**

Stand-ins are in `{standins}`. Inception features: {inception}.

| parameter | `{profile}` profile | dry run | why |
| --- | --- | --- | --- |
{table}

Every other parameter is the profile's (`notebooks/params/{profile}.yaml`).
"""


def dry_run(profile: str, overrides: dict | None, root: Path, chapters_to_run: list[str] | None = None,
            build: bool = True, recompute: bool = False) -> Path | None:
    """Build the stand-ins under `root`, point the study cache, feature statistics and torch's hub
    there, and render the book into `root/book` with the dry run's page first."""
    import torch

    from .book import render
    root = root.resolve()
    standins = root / "standins"
    rows = replacements(profile, standins, overrides)
    if not (standins / "images").is_dir():
        with atomic_dir(standins / "images") as tmp:  # an interrupted run leaves no partial set
            write_images(tmp)
    real_hub = Path(torch.hub.get_dir())
    os.environ.update({"DIFFPRUNE_STUDY": str(root / "study"), "DIFFPRUNE_CACHE": str(root / "cache"),
                       "TORCH_HOME": str(standins / "torch")})
    from .data import load_dataset
    calibration = load_dataset(f"folder:{standins / 'images'}", "train").images[::10]
    which = inception_weights(standins / "torch" / "hub", real_hub, calibration)
    values = {r.name: r.value for r in rows}
    return render(profile, values, chapters_to_run=chapters_to_run, out=root / "book", build=build,
                  recompute=recompute, pages={PAGE: page(profile, rows, which, standins)})
