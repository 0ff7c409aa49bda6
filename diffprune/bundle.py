"""An offline bundle: what a machine without a network (a cluster's compute node, a GPU box with no
package index) needs beside a checkout to run the study — the wheels of every pinned dependency
and of the checkout's build backend, the data sets' files, and the caches that are slow to rebuild.

pip has the pieces (`pip download`); what it lacks is the list of non-Python files the
study reads, so this module gathers them. The wheels are for this machine's platform and Python
(`pip download` without `--platform`): build the bundle on a machine like the one it is for.
Teachers need nothing here: the study's are committed in the checkout.
"""
from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from .artifacts import DiffpruneError, atomic_dir, code_version, sha256_file, write_json_atomic
from .data import DEBIAN_FASHION_MNIST
from .paths import CACHE_DIR, DATA_DIR, ROOT

INSTALL = """\
Offline bundle of diffprune {version} (built {platform}, Python {python}).

Beside a checkout of the repository (same commit: {commit}):

    python3 -m venv .venv
    .venv/bin/pip install --no-index --find-links {name}/wheels -r {name}/requirements.txt
    .venv/bin/pip install --no-index --find-links {name}/wheels --no-deps -e .   # builds with its setuptools
    cp -r {name}/data/. data/        # data sets and caches, in the checkout's layout

Then run a plan's commands as usual, e.g.

    .venv/bin/python -m diffprune study --profile cpu --chapter rq1 --plan --commands
"""


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirements() -> list[str]:
    """The pinned dependencies of pyproject.toml."""
    return list(_pyproject()["project"]["dependencies"])


def data_files() -> dict[str, Path]:
    """{path in the checkout's data/: file} of the data sets and caches found on this machine:
    Fashion-MNIST's idx files (Debian's package, or data/fashion-mnist/), the drawn OpenMoji arrays
    and the reference feature statistics of named data sets (not of `folder:` sets)."""
    out = {}
    for folder in (DEBIAN_FASHION_MNIST, DATA_DIR / "fashion-mnist" / "FashionMNIST" / "raw"):
        for f in sorted(folder.glob("*-ubyte.gz")) if folder.is_dir() else ():
            out.setdefault(f"fashion-mnist/FashionMNIST/raw/{f.name}", f)
    for f in sorted(CACHE_DIR.glob("openmoji-32-*.npz")):
        out[f"cache/{f.name}"] = f
    for f in sorted((CACHE_DIR / "fd-stats").glob("*.npz")):
        if not f.name.startswith("folder_"):
            out[f"cache/fd-stats/{f.name}"] = f
    return out


def _pip(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)
    if done.returncode:
        lines = [line for line in done.stderr.strip().splitlines() if line.startswith("ERROR")] or ["(no message)"]
        raise DiffpruneError(f"pip {args[0]} failed: {lines[-1]}")


def write_bundle(out: str | Path, *, requirement_lines: list[str] | None = None, data: bool = True) -> dict:
    """Write the bundle into `out` (atomically: a failed download leaves nothing) and return its
    manifest. `requirement_lines`: what to download instead of every pinned dependency."""
    out = Path(out)
    if out.exists():  # before any download, not after it
        raise DiffpruneError(f"{out} already exists")
    lines = requirements() if requirement_lines is None else requirement_lines
    with atomic_dir(out, overwrite=False) as tmp:
        (tmp / "requirements.txt").write_text("\n".join(lines) + "\n")
        wheels = tmp / "wheels"
        if lines:
            _pip("download", "--quiet", "--only-binary=:all:", "--dest", str(wheels),
                 "-r", str(tmp / "requirements.txt"))
        # what `pip install -e .` builds the checkout with: from the bundle too, under no index
        _pip("download", "--quiet", "--only-binary=:all:", "--dest", str(wheels),
             *_pyproject()["build-system"]["requires"])
        files = data_files() if data else {}
        for rel, src in files.items():
            (tmp / "data" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tmp / "data" / rel)
        manifest = {"code_version": code_version(), "platform": platform.platform(),
                    "python": platform.python_version(), "requirements": lines,
                    "wheels": {w.name: sha256_file(w) for w in sorted(wheels.glob("*.whl"))},
                    "data": {rel: sha256_file(tmp / "data" / rel) for rel in files}}
        write_json_atomic(tmp / "manifest.json", manifest, indent=1)
        (tmp / "INSTALL.txt").write_text(INSTALL.format(
            version=_pyproject()["project"]["version"], platform=manifest["platform"], python=manifest["python"],
            name=out.name, commit=manifest["code_version"]))
    return manifest

