"""Atomic artifact writes and the project's one-line error type.

Every artifact (model directory, report, checkpoint, samples) is written under a temporary
name in the same folder and renamed into place, so an interrupted or failed run never leaves a
half-written artifact that a later run would trust.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path


class DiffpruneError(Exception):
    """A user-facing problem: the CLI prints it as one line and exits non-zero."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: str | os.PathLike, obj, indent: int | None = 2) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=indent, sort_keys=False) + "\n").encode())


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = True):
    """Yield a temporary sibling directory; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700
    try:
        yield tmp
        if path.exists():
            if not overwrite:
                raise DiffpruneError(f"{path} already exists")
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def code_version() -> str:
    """The git commit of the code that produced an artifact (with '+dirty' for local edits)."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root,
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "diffprune"],
                               cwd=root, capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        # a copy without .git (e.g. shipped to a GPU machine) may name its commit
        from . import __version__
        return os.environ.get("DIFFPRUNE_CODE_VERSION", f"diffprune-{__version__}")


# the widest vector unit a CPU's flags name, widest first: what a bf16 or fp32 timing depends on
_VECTOR_UNITS = (("amx_bf16", "AMX"), ("avx512_bf16", "AVX-512 BF16"), ("avx512f", "AVX-512"), ("avx2", "AVX2"),
                 ("asimd", "NEON"))


def cpu_name(cpuinfo: str | None = None) -> str:
    """The processor's model and widest vector unit, from /proc/cpuinfo's first processor: the same
    study runs on CPUs of one architecture that differ in speed and in whether bf16 has units of its
    own, so a timing that names only the architecture compares nothing."""
    import platform
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return platform.processor() or "unknown CPU"
    first: dict[str, str] = {}
    for line in cpuinfo.split("\n\n")[0].splitlines():
        k, _, v = line.partition(":")
        first.setdefault(k.strip(), v.strip())
    name = first.get("model name") or platform.processor() or "unknown CPU"
    if "cpu family" in first and "model" in first:
        name += f" family {first['cpu family']} model {first['model']}"
    flags = set((first.get("flags") or first.get("Features") or "").split())
    unit = next((label for flag, label in _VECTOR_UNITS if flag in flags), None)
    return f"{name}, {unit}" if unit else name


def device_description() -> str:
    import platform

    import torch
    if torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(0)}"
    return f"cpu:{platform.machine()} x{torch.get_num_threads()} threads ({cpu_name()})"


def listed(values) -> str:
    """Values as a sentence lists them, "0, 1 and 2", not as Python prints a list."""
    words = [str(v) for v in values]
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else "".join(words)


def device_words(device: str) -> str:
    """A recorded `device_description` as a page reads it ("cpu:x86_64 x1 threads (…)" → "1-thread CPU
    (…)"); records keep the raw string, which the plan matches rates by."""
    import re
    m = re.fullmatch(r"cpu:(\S+) x(\d+) threads?(?: \((.*)\))?", device)
    if m is None:
        return device.removeprefix("cuda:")
    arch, n, name = m.groups()
    return f"{n}-thread CPU ({name or arch})"
