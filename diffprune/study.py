"""The study cache: every expensive step stores its artifact under `data/study/<step>/<key>/`.

The key hashes the step's parameters, the keys of the steps it depends on, and the step's
*semantic* version in `STEPS`. Re-executing a chapter with unchanged parameters reuses every
artifact; a changed parameter changes the keys of exactly the steps that depend on it. The git
commit that produced an artifact is recorded in its record, but is not part of the key: a
commit that does not change what a step computes must not invalidate hours of CPU results. Bump a
step's version when its meaning changes.

An artifact is its *record* (`record.json`: the step, key, parameters, code version, device and wall
time — its own: a step computed inside it is timed in its own record — and every small result the
step wrote — reports, logs, metrics, previews — folded in: the one committed file) and its *bulk*
(`STEPS[step].bulk`: model weights, full sample sets: regenerable, ignored by git). One file per
artifact keeps thousands of small results from each taking a whole disk block. The loose result
files the step wrote stay beside the record as a local view (ignored by git) and are written back
from it when a computation asks for the directory with its bulk. A step whose record exists counts
as done: a chapter that needs only results reads them (`result`), and bulk is recomputed only when a
computation that needs it asks (`cached(..., bulk=True)`). An artifact of the older layout
(`params.json` beside loose results) is folded into a record the first time it is read.

A finished step writes its record loose, `<step>/<key>/record.json`; `pack` moves the loose records
of a step kind into its pack, `<step>/records.jsonl` (one record per line, sorted by key, the bytes
unchanged), and the packs are what git keeps: a dozen files for thousands of records. A loose record
takes precedence over a packed one of the same key (a recomputed step).

`DIFFPRUNE_RECOMPUTE=<run id>` (set by `--recompute`) recomputes every step once per run.
"""
from __future__ import annotations

import base64
import contextlib
import contextvars
import hashlib
import io
import json
import os
import shutil
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

try:
    import fcntl
except ImportError:  # Windows: no locking, so run `study` with one job there
    fcntl = None

from .artifacts import DiffpruneError, code_version, device_description, write_bytes_atomic, write_json_atomic
from .paths import study_dir


@dataclass(frozen=True)
class Step:
    version: int
    bulk: tuple[str, ...] = ()  # entries of an artifact directory that git does not keep
    spare: tuple[str, ...] = ()  # bulk kept when produced but never required: it only saves time
    optional: tuple[str, ...] = ()  # bulk that only some artifacts have; brought back with the rest
    alone: bool = False  # a measurement of the machine: computed with no other step running beside it


MODEL_BULK = ("unet", "scheduler")
LATENT = ("vqvae",)  # a latent model's autoencoder, carried into every model derived from it
RESUME_STATE = ("checkpoint", "vqvae-checkpoint")  # resumable training state: not part of an artifact

STEPS = {
    "teacher": Step(1, MODEL_BULK, optional=LATENT),
    "training_run": Step(1, MODEL_BULK, spare=("checkpoint",), optional=LATENT),  # a recipe at one length
    "reconstruction": Step(1, ("samples.npz",)),  # real images through an autoencoder: a latent model's floor
    "architecture": Step(1, MODEL_BULK),  # a preset with random weights, for timings
    "prune": Step(1, MODEL_BULK, optional=LATENT),
    "finetune": Step(1, MODEL_BULK, spare=("checkpoint",), optional=LATENT),  # a longer finetune resumes from it
    "sample": Step(1, ("samples.npz",)),
    "classifier": Step(1, ("model.safetensors",)),
    "fd": Step(2),
    "paired_fd": Step(1),
    "distances": Step(1),  # FD extrapolated to infinitely many samples, and the kernel distance
    "consistency": Step(1),
    "loss_curve": Step(1),
    "channel_scores": Step(1),
    "gradient_stages": Step(1, ("gradients.safetensors",)),
    "timing": Step(1, alone=True),
}
RECORD = "record.json"
PACK = "records.jsonl"  # a step kind's records, one per line: what git keeps (see `pack`)
LEGACY_RECORD = "params.json"  # the record before results were folded into it
REGENERATED = "regenerated.json"


class Unknown(dict):
    """A result that a plan (`plan.planning`) lists instead of computing: any key reads as another
    Unknown, any membership test as true, so the work after it can still be listed."""

    def __missing__(self, key):
        return Unknown()

    def __contains__(self, key) -> bool:
        return True


@dataclass(frozen=True)
class _Mode:
    """What a step reached in this context may do besides reading the cache (`cached`): nothing
    (`recorded_only`), be listed in a plan instead (`planner`: (artifact, bulk wanted) -> listed), or
    only the one step `only` = (step, key, deadline) computes while the others are awaited. Held in
    a context variable: each scope sets it and restores it, and a thread starts from the default."""
    recorded_only: bool = False
    planner: Callable | None = None
    only: tuple[str, str, float] | None = None


_mode: contextvars.ContextVar[_Mode] = contextvars.ContextVar("diffprune_study_mode", default=_Mode())  # noqa: B039 (frozen)


@contextlib.contextmanager
def _scoped(**changes):
    token = _mode.set(replace(_mode.get(), **changes))
    try:
        yield
    finally:
        _mode.reset(token)


def planner() -> Callable | None:
    return _mode.get().planner


def planning_with(listed: Callable):
    """Within it, `listed(artifact, bulk)` decides for every cached step whether it is listed in a
    plan instead of computed (see `plan`)."""
    return _scoped(planner=listed)


@contextlib.contextmanager
def environment(**values: str | None):
    """Environment variables set for the scope (None: unset) and restored after. The study's modes
    (`DIFFPRUNE_BULK`, `DIFFPRUNE_RECOMPUTE`) travel as variables so that the worker processes of
    `study --jobs` inherit them; scoped, so a second call in the same process (tests, a notebook)
    does not carry them over."""
    before = {k: os.environ.get(k) for k in values}

    def put(items) -> None:
        for k, v in items:
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    put(values.items())
    try:
        yield
    finally:
        put(before.items())


_watchers: list[Callable[[str, str, str, dict], None]] = []


@contextlib.contextmanager
def watching(callback: Callable[[str, str, str, dict], None]):
    """Within it, `callback(event, step, key, params)` hears "start" and "done" of every step this
    process computes or regenerates (the terminal's progress)."""
    _watchers.append(callback)
    try:
        yield
    finally:
        _watchers.remove(callback)


def _tell(event: str, d: Path, params: dict) -> None:
    for w in _watchers:
        w(event, d.parent.name, d.name, params)


class NotRecorded(DiffpruneError):
    """A step's results are not in the cache, and computing was not allowed (`recorded_only`)."""


def recorded_only():
    """Within it, a step that would compute (results or bulk) raises NotRecorded instead: for pages
    that report on other chapters' results without running them."""
    return _scoped(recorded_only=True)


def computing_only(step: str, key: str, wait_s: float):
    """Within it only the step `step:key` computes: any other step it needs must be recorded, or
    become recorded (another process computing it) within `wait_s` seconds, else NotRecorded."""
    return _scoped(only=(step, key, time.monotonic() + wait_s))


def _await(step: str, d: Path, bulk: bool) -> Path:
    """A step another command computes: wait for its record (and bulk) until `computing_only`'s deadline."""
    said = False
    while not (done(d) and not (bulk and missing_bulk(step, d))):
        left = _mode.get().only[2] - time.monotonic()
        if left <= 0:
            raise NotRecorded(f"{step} {d.name} is not recorded{' with its bulk' if done(d) else ''}: its "
                              "command comes earlier in the plan")
        if not said:
            print(f"waiting for {step} {d.name} (another command computes it)", file=sys.stderr, flush=True)
            said = True
        time.sleep(min(5.0, left))
    if bulk:
        _write_results(d)
    return d


def step_key(step: str, params: dict) -> str:
    blob = json.dumps({"step": step, "version": STEPS[step].version, "params": params}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def step_dir(step: str, params: dict) -> Path:
    return study_dir() / step / step_key(step, params)


def cached(step: str, params: dict, compute: Callable[[Path], None], *, bulk: bool = True) -> Path:
    """The directory of a step's artifact, computing what is missing.

    `compute` writes into `<key>.partial/`, which survives an interruption (training resumes from
    its checkpoint there); only a finished artifact is renamed to `<key>/`. With `bulk=True` the
    bulk files are guaranteed present: where only the results were kept, they are recomputed and
    moved in beside them, and `regenerated.json` notes when and where, and whether the
    recomputation wrote the recorded results again (`differing_results`).
    """
    d = step_dir(step, params)
    if done(d) and not (bulk and missing_bulk(step, d)):
        if bulk:
            _write_results(d)
        return d
    mode = _mode.get()
    if mode.recorded_only or mode.planner is not None:  # a plan computes nothing, whatever path reached here
        raise NotRecorded(f"{step} {d.name} is not recorded{' with its bulk' if done(d) else ''}")
    if mode.only is not None and (step, d.name) != mode.only[:2]:
        return _await(step, d, bulk)
    with _lock(d):  # parallel jobs (`study --jobs`) that need the same artifact compute it once
        if done(d):
            missing = missing_bulk(step, d) if bulk else []
            if missing:
                _tell("start", d, params)
                _regenerate(d, missing, compute)
                _tell("done", d, params)
            if bulk:
                _write_results(d)
            return d
        _tell("start", d, params)
        _compute(step, params, compute, d)
        _tell("done", d, params)
    return d


def done(d: Path) -> bool:
    run_id = os.environ.get("DIFFPRUNE_RECOMPUTE")
    return is_recorded(d) and (not run_id or record(d).get("run_id") == run_id)


def is_recorded(d: Path) -> bool:
    """Whether an artifact directory holds a finished step's record, loose or packed (folding an
    older layout's)."""
    if not (d / RECORD).is_file() and (d / LEGACY_RECORD).is_file():
        fold(d)
    return (d / RECORD).is_file() or d.name in _pack_lines(d.parent)


def _full_record(d: Path) -> dict | None:
    """The record with its folded results: the loose file, else the pack's line, else None."""
    if not is_recorded(d):
        return None
    if (d / RECORD).is_file():
        return json.loads((d / RECORD).read_text())
    return json.loads(_pack_lines(d.parent)[d.name])


def record(d: Path, *, with_results: bool = False) -> dict:
    """An artifact's record: step, key, params, code version, device, time (and its folded results)."""
    r = _full_record(d)
    if r is None:
        raise FileNotFoundError(f"{d} is not recorded")
    if not with_results:
        r.pop("results", None)
    return r


def records(step: str | None = None):
    """Every record of the study cache (of one step kind), loose and packed, without results."""
    root = study_dir()
    for kind in [step] if step else sorted(STEPS):
        keys = set(_pack_lines(root / kind)) | {p.parent.name for p in (root / kind).glob(f"*/{RECORD}")}
        for key in sorted(keys):
            yield record(root / kind / key)


def result(d: Path, name: str):
    """A result of an artifact by its file name, decoded by its extension (.json: the object,
    .npz: {name: array}, .csv and other text: str, else bytes): from the record where it is folded,
    else from the file (committed teachers are plain directories)."""
    results = (_full_record(d) or {}).get("results", {})
    if name in results:
        return _decode(name, results[name])
    path = d / name
    if not path.is_file():
        raise FileNotFoundError(f"{d} has no result {name}")
    return _decode(name, _encode(path))


def has_result(d: Path, name: str) -> bool:
    return name in (_full_record(d) or {}).get("results", {}) or (d / name).is_file()


# --- packs: a step kind's records in one file (the gap: git keeps every small file in its own disk block) ---

_pack_cache: dict[Path, tuple[tuple[int, int], dict[str, str]]] = {}


def _pack_lines(kind_dir: Path) -> dict[str, str]:
    """key -> record line of a step kind's pack, read again when the file changes."""
    path = kind_dir / PACK
    try:
        st = path.stat()
    except FileNotFoundError:
        return {}
    stamp = (st.st_mtime_ns, st.st_size)
    if path not in _pack_cache or _pack_cache[path][0] != stamp:
        _pack_cache[path] = (stamp, _read_pack(path))
    return _pack_cache[path][1]


def _read_pack(path: Path) -> dict[str, str]:
    """key -> line of a pack. Packs merge with git's union driver (.gitattributes): both sides'
    lines are kept, so a key recorded on both (a step recomputed on one branch) may appear twice;
    the newer record (`created`) wins. A line that is not a record (a conflict marker, a cut line)
    is one error naming the file and the line."""
    out: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line:
            continue
        try:
            r = json.loads(line)
            key, created = r["key"], r.get("created") or ""
        except (ValueError, KeyError, TypeError):
            what = "a merge-conflict marker" if line[:7] in ("<<<<<<<", "=======", ">>>>>>>") else "not a record"
            raise DiffpruneError(f"{path}:{number}: {what}; mend the pack (one record per line) and run again") \
                from None
        if key not in out or created >= out[key][0]:
            out[key] = (created, line)
    return {k: line for k, (_, line) in out.items()}


def import_records(source: Path, root: Path | None = None) -> int:
    """Write the records of another study cache (packed or loose) that this one lacks as loose
    records here (to be packed): how caches filled on several machines come together. Bulk stays
    behind; it is recomputed where a computation asks for it. Returns how many were written."""
    root, written = root or study_dir(), 0
    for kind_dir in sorted(p for p in Path(source).iterdir() if p.name in STEPS):
        lines = dict(_pack_lines(kind_dir))
        lines.update({p.parent.name: p.read_text().strip() for p in kind_dir.glob(f"*/{RECORD}")})
        for key, line in sorted(lines.items()):
            if not is_recorded(root / kind_dir.name / key):
                write_bytes_atomic(root / kind_dir.name / key / RECORD, (line + "\n").encode())
                written += 1
    return written


def pack(root: Path | None = None) -> int:
    """Move every loose record under `root` (the study cache) into its step kind's pack, unchanged;
    the artifact directories keep their bulk and local result files. Returns how many moved."""
    root, moved = root or study_dir(), 0
    for kind_dir in sorted(p for p in root.iterdir() if p.name in STEPS) if root.is_dir() else ():
        loose = sorted(kind_dir.glob(f"*/{RECORD}"))
        if not loose:
            continue
        with _lock(kind_dir / PACK):
            lines = dict(_pack_lines(kind_dir))
            for path in loose:
                text = path.read_text().strip()
                if "\n" in text:  # an indented record of an older writer: one line, same values
                    text = json.dumps(json.loads(text))
                lines[path.parent.name] = text
            write_bytes_atomic(kind_dir / PACK, "".join(lines[k] + "\n" for k in sorted(lines)).encode())
            for path in loose:  # only once the pack holds them: a record is always somewhere
                path.unlink()
                with contextlib.suppress(OSError):
                    path.parent.rmdir()  # nothing else was kept beside it
        moved += len(loose)
    return moved


def _teachers_behind(index: dict[str, dict]) -> Callable[[str], frozenset]:
    """key -> the teachers (their keys) a record rests on: its `teacher` parameter, else those of the
    records its parameters name (a finetune's model, a sample set's model, ...)."""
    memo: dict[str, frozenset] = {}

    def named(v):
        if isinstance(v, str):
            yield v
        elif isinstance(v, dict):
            for x in v.values():
                yield from named(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                yield from named(x)

    def roots(key: str) -> frozenset:
        if key not in memo:
            memo[key] = frozenset()  # a cycle cannot occur (a key hashes its inputs' keys); this only guards
            params = index.get(key, {})
            found = set(named(params["teacher"])) if isinstance(params.get("teacher"), str) else set()
            for name, v in params.items():
                if name != "teacher":
                    found.update(*(roots(k) for k in named(v) if k in index))
            memo[key] = frozenset(found)
        return memo[key]
    return roots


def retire(keep: set[tuple[str, str]], root: Path | None = None, *, dry_run: bool) -> dict[str, list[str]]:
    """Drop from the packs under `root` the records of replaced teachers: every record not in `keep`
    (what the chapters read) that rests only on teachers no kept record rests on. A record of a teacher
    still read (a benchmark's prune of it, say) or of none (a classifier, a training run) stays. Loose
    records are packed first. Returns the dropped keys by step kind; `dry_run` drops nothing. The
    artifacts' local directories stay (git ignores them); git's history keeps every dropped line."""
    root = root or study_dir()
    pack(root)
    kinds = sorted(p for p in root.iterdir() if p.name in STEPS) if root.is_dir() else []
    index = {key: json.loads(line)["params"] for d in kinds for key, line in _pack_lines(d).items()}
    roots = _teachers_behind(index)
    read = set().union(*(roots(key) for _, key in keep))
    dropped = {}
    for kind_dir in kinds:
        with _lock(kind_dir / PACK):
            lines = _pack_lines(kind_dir)
            gone = sorted(k for k in lines if (kind_dir.name, k) not in keep and roots(k) and not roots(k) & read)
            if gone and not dry_run:
                write_bytes_atomic(kind_dir / PACK, "".join(lines[k] + "\n" for k in sorted(lines)
                                                            if k not in gone).encode())
        if gone:
            dropped[kind_dir.name] = gone
    return dropped


# --- folding results into the record (the gap: git keeps every small file in its own disk block) ---

_TEXT = (".csv", ".txt", ".md", ".yaml")


def _encode(path: Path):
    """A result file as JSON: .json as itself, text as a string, .npz arrays and other bytes
    zlib-compressed in base64 (exact: decoding gives the same arrays and bytes)."""
    if path.suffix == ".json":
        return json.loads(path.read_text())
    if path.suffix in _TEXT:
        return path.read_text()
    if path.suffix == ".npz":
        with np.load(path) as f:
            return {k: {"dtype": str(f[k].dtype), "shape": list(f[k].shape), "zlib_base64": _compressed(f[k].tobytes())}
                    for k in f.files}
    return {"zlib_base64": _compressed(path.read_bytes())}


def _decode(name: str, value):
    suffix = Path(name).suffix
    if suffix == ".json" or suffix in _TEXT:
        return value
    if suffix == ".npz":
        return {k: np.frombuffer(_decompressed(v["zlib_base64"]), dtype=v["dtype"]).reshape(v["shape"]).copy()
                for k, v in value.items()}
    return _decompressed(value["zlib_base64"])


def _compressed(data: bytes) -> str:
    return base64.b64encode(zlib.compress(data, 9)).decode("ascii")


def _decompressed(text: str) -> bytes:
    return zlib.decompress(base64.b64decode(text))


def _result_files(d: Path) -> list[Path]:
    s = STEPS[d.parent.name]
    kept = set(s.bulk + s.spare + s.optional + RESUME_STATE) | {RECORD, LEGACY_RECORD, REGENERATED}
    return sorted(p for p in d.iterdir() if p.is_file() and p.name not in kept and not p.name.startswith("."))


def fold(d: Path) -> None:
    """Write the record of an artifact of the older layout: its `params.json` with every loose
    result folded in (the loose files stay, as the local view)."""
    r = json.loads((d / LEGACY_RECORD).read_text())
    r["results"] = {p.name: _encode(p) for p in _result_files(d)}
    write_json_atomic(d / RECORD, r, indent=None)
    (d / LEGACY_RECORD).unlink()


def _write_results(d: Path) -> None:
    """The folded results as files beside the bulk, for computations that read the directory."""
    for name, value in (_full_record(d) or {}).get("results", {}).items():
        path = d / name
        if path.exists():
            continue
        if path.suffix == ".npz":
            buf = io.BytesIO()
            np.savez_compressed(buf, **_decode(name, value))
            write_bytes_atomic(path, buf.getvalue())
        elif path.suffix == ".json":
            write_json_atomic(path, value)
        elif path.suffix in _TEXT:
            write_bytes_atomic(path, value.encode())
        else:
            write_bytes_atomic(path, _decode(name, value))


def missing_bulk(step: str, d: Path) -> list[str]:
    return [name for name in STEPS[step].bulk if not (d / name).exists()]


@contextlib.contextmanager
def _lock(d: Path):
    d.parent.mkdir(parents=True, exist_ok=True)
    with open(d.with_name(d.name + ".lock"), "w") as f:
        if fcntl is not None:
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


_inner: list[float] = []  # per running computation: seconds spent computing other steps inside it


@contextlib.contextmanager
def _own_time():
    """A step's own seconds (yielded as a one-item list, filled at the end): a computation that needs
    another step's files computes that step inside it, and that time belongs to the other record."""
    _inner.append(0.0)
    start, own = time.perf_counter(), [0.0]
    try:
        yield own
    finally:
        elapsed = time.perf_counter() - start
        own[0] = elapsed - _inner.pop()
        if _inner:
            _inner[-1] += elapsed


def _compute(step: str, params: dict, compute: Callable[[Path], None], d: Path) -> None:
    run_id = os.environ.get("DIFFPRUNE_RECOMPUTE")
    work = d.with_name(d.name + ".partial")
    work.mkdir(parents=True, exist_ok=True)
    try:
        with _own_time() as own:
            compute(work)
    except BaseException:
        if not any(work.iterdir()):  # refused before writing anything: leave no trace (a partial run stays)
            work.rmdir()
        raise
    for name in RESUME_STATE:
        if name not in STEPS[step].spare:
            shutil.rmtree(work / name, ignore_errors=True)
    write_json_atomic(work / RECORD, {
        "step": step, "key": d.name, "version": STEPS[step].version, "params": params,
        "code_version": code_version(), "device": device_description(),
        "wall_time_s": round(own[0], 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "run_id": run_id,
        "results": {p.name: _encode(p) for p in _result_files(work)}}, indent=None)  # one line: ~40% fewer bytes
    if d.exists():
        shutil.rmtree(d)
    os.replace(work, d)


def _regenerate(d: Path, missing: list[str], compute: Callable[[Path], None]) -> None:
    s = STEPS[d.parent.name]
    spare = [n for n in s.spare + s.optional if not (d / n).exists()]
    work = d.with_name(d.name + ".partial")
    work.mkdir(parents=True, exist_ok=True)
    with _own_time() as own:
        compute(work)
    differs = differing_results(d, work)
    d.mkdir(exist_ok=True)  # a packed record may have no directory here
    for name in missing + [n for n in spare if (work / n).exists()]:
        os.replace(work / name, d / name)
    shutil.rmtree(work)
    # beside the bulk, like it ignored by git: the committed record stays the original run's
    write_json_atomic(d / REGENERATED, {
        "bulk": missing, "code_version": code_version(), "device": device_description(),
        "wall_time_s": round(own[0], 1), "reproduces_record": not differs, "differs": differs,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    if differs:
        print(f"warning: the regenerated {d.parent.name} {d.name} differs from its record in {', '.join(differs)}: "
              "what is computed from its bulk now comes from another run than the recorded results",
              file=sys.stderr, flush=True)


def bulk_origin(d: Path) -> str:
    """Whose bulk an artifact directory holds: "recorded run", or, where only its record was kept,
    "regenerated, reproduces its record" or "... differs from its record" (`regenerated.json`)."""
    note = d / REGENERATED
    if not note.is_file():
        return "recorded run"
    reproduces = json.loads(note.read_text()).get("reproduces_record")
    if reproduces is None:  # regenerated before the check existed
        return "regenerated, not checked against its record"
    return f"regenerated, {'reproduces' if reproduces else 'differs from'} its record"


# What a result records of its run's circumstances rather than of what it computed: a regeneration
# elsewhere or later may differ in these alone.
CIRCUMSTANCES = frozenset({"wall_time_s", "wall_time_this_run_s", "resumed_at_step", "device", "code_version",
                           "command", "created", "processes", "torch", "torch_pruning"})


def _outcome(name: str, value):
    """A result without its circumstances: JSON without CIRCUMSTANCES' keys, a CSV as its columns
    (by header) without the wall-time ones, arrays as they are."""
    value = _decode(name, value)
    if Path(name).suffix == ".json":
        def strip(o):
            if isinstance(o, dict):
                return {k: strip(v) for k, v in o.items() if k not in CIRCUMSTANCES}
            return [strip(v) for v in o] if isinstance(o, list) else o
        return strip(value)
    if Path(name).suffix == ".csv":
        header, *rows = [line.split(",") for line in value.splitlines()] or [[]]
        return {col: [row[i] if i < len(row) else None for row in rows]
                for i, col in enumerate(header) if "wall_time" not in col}
    return value


def _agree(a, b) -> bool:
    """Whether two outcomes say the same wherever both say something: a field or column that a later
    version of the code added (a new config flag) is not a different result."""
    if isinstance(a, dict) and a and all(isinstance(v, np.ndarray) for v in a.values()):  # an .npz's arrays
        return isinstance(b, dict) and a.keys() == b.keys() and all(
            a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)
    if isinstance(a, dict) and isinstance(b, dict):
        return all(_agree(a[k], b[k]) for k in a.keys() & b.keys())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_agree, a, b))
    return a == b


def differing_results(d: Path, work: Path) -> list[str]:
    """The recorded results of `d` that a recomputation into `work` wrote otherwise (circumstances
    aside): where there are any, the regenerated bulk is not the recorded run's (another machine's
    floating point, a changed library), and a comparison computed from it can disagree with one read
    from the records."""
    recorded = (_full_record(d) or {}).get("results", {})
    return sorted(name for name, value in recorded.items() if (work / name).is_file()
                  and not _agree(_outcome(name, value), _outcome(name, _encode(work / name))))

