"""The study cache's one blind spot: a step's code changing while its `STEPS` version does not, so
old results are reused under a meaning they no longer have (a commit does not change a key: hours of
CPU results must survive a commit that changes nothing they mean).

What a step computes is its defining functions in `pipeline` *and every library module they reach*:
the functions are followed through their calls and imports (`reached`), and each `diffprune` module
they reach is hashed whole, so a changed constant or helper there counts too. The modules that only
store and plan results (`BOOKKEEPING`) are left out. The hashes are kept beside the version they were
last reviewed at (`tests/step_sources.json`); a change to one without the other fails, naming the
steps. Run this file as a script to record a review (or `--print` to see the hashes)."""
import ast
import functools
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from diffprune import pipeline
from diffprune.study import STEPS

REVIEWED = Path(__file__).with_name("step_sources.json")
DEFINED_BY = {  # the functions of `pipeline` whose source says what each step computes
    "teacher": [pipeline.teacher, pipeline._trained_teacher, pipeline._hub_teacher, pipeline._train,
                pipeline._train_autoencoder, pipeline._config],
    "architecture": [pipeline.architecture],
    "prune": [pipeline.pruned, pipeline.pruned_in_window, pipeline._prune_into],
    "training_run": [pipeline.training_run, pipeline._recipe_model, pipeline.autoencoder_key, pipeline._train,
                     pipeline._config],
    "reconstruction": [pipeline.reconstructions, pipeline.autoencoder_key],
    "finetune": [pipeline.finetuned, pipeline._train, pipeline._config],
    "sample": [pipeline.samples, pipeline.save_preview],
    "classifier": [pipeline.classifier],
    "fd": [pipeline.fd],
    "paired_fd": [pipeline.paired_fd],
    "distances": [pipeline.distances],
    "consistency": [pipeline.consistency],
    "loss_curve": [pipeline.loss_curve, pipeline._importance_batch],
    "channel_scores": [pipeline.channel_scores, pipeline._walk, pipeline._importance_batch],
    "gradient_stages": [pipeline.gradient_stages, pipeline._walk, pipeline._importance_batch],
    "timing": [pipeline.timing],
}
# where results are stored, keyed and planned: they change no result (`pipeline` itself is hashed
# per function, as every step is defined there)
BOOKKEEPING = {"diffprune.study", "diffprune.plan", "diffprune.paths", "diffprune.artifacts", "diffprune.pipeline"}


@functools.cache
def _source(obj) -> str:
    """A function's, class's or module's source, read once per process: the files do not change
    while it runs, and every step's walk reads the same ones again."""
    return inspect.getsource(obj)


@functools.cache
def _parsed(source: str) -> ast.Module:
    """A source text parsed once: every step's walk parses the same functions and modules again."""
    return ast.parse(source)


def _ours(obj) -> bool:
    return getattr(obj, "__module__", None) is not None and obj.__module__.split(".")[0] == "diffprune"


def _callees(fn) -> list:
    """The diffprune functions, classes and modules that `fn`'s source names: through its globals,
    its own imports (at any depth of nesting) and attributes of modules (`seeds.draw`)."""
    fn = inspect.unwrap(fn)
    tree = _parsed(textwrap.dedent(_source(fn)))
    scope, found = dict(fn.__globals__), []
    package = fn.__module__.rpartition(".")[0]
    for node in ast.walk(tree):  # imports first: a name imported inside the function shadows a global
        if isinstance(node, ast.ImportFrom):
            source = importlib.import_module(("." * node.level + (node.module or "")), package) if node.level else \
                importlib.import_module(node.module)
            for alias in node.names:
                obj = getattr(source, alias.name, None)
                if obj is None:
                    obj = importlib.import_module(f"{source.__name__}.{alias.name}")
                scope[alias.asname or alias.name] = obj
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.append(scope.get(node.id))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            base = scope.get(node.value.id)
            if isinstance(base, types.ModuleType):
                found.append(getattr(base, node.attr, None))
    return [o for o in found if isinstance(o, types.ModuleType) and o.__name__.startswith("diffprune")
            or (inspect.isfunction(o) or inspect.isclass(o)) and _ours(o)]


def _imported(module: types.ModuleType) -> list:
    """The diffprune modules that `module` imports anywhere (what its tables and constants may name,
    e.g. a registry of data sets, and its functions' lazy imports), bookkeeping aside."""
    if module.__name__ in BOOKKEEPING:
        return []
    names = set()
    for node in ast.walk(_parsed(_source(module))):  # at any depth: a function's lazy imports too
        if isinstance(node, ast.ImportFrom) and node.level:
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), module.__package__)
            names |= {base} if node.module else {f"{base}.{a.name}" for a in node.names}
    return [importlib.import_module(n) for n in names]


def reached(fns, memo: dict | None = None) -> tuple[list, set[str]]:
    """The `pipeline` functions and the other diffprune modules that `fns` reach, following calls
    (`memo`: what one `sources()` call already found each object to name; every step meets the same)."""
    memo = {} if memo is None else memo

    def once(find, obj):
        if (find, id(obj)) not in memo:
            memo[(find, id(obj))] = find(obj)
        return memo[(find, id(obj))]
    todo, seen, own, modules = list(fns), set(), [], set()
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, types.ModuleType):
            modules.add(obj.__name__)
            todo += once(_imported, obj)
            continue
        if obj.__module__ == pipeline.__name__:
            own.append(obj)
        else:
            todo.append(importlib.import_module(obj.__module__))
        if inspect.isclass(obj):  # its methods (not those a dataclass generates: no source), and what they call
            todo += [m for m in vars(obj).values()
                     if inspect.isfunction(m) and m.__code__.co_filename == inspect.getfile(obj)]
        else:
            todo += once(_callees, obj)
    return sorted(own, key=lambda f: f.__qualname__), modules - BOOKKEEPING


def _constants(fns) -> str:
    """The values of the `pipeline` constants the functions name (e.g. PREVIEW_N, what a sample
    step stores): `pipeline` is hashed per function, so its constants are hashed by value."""
    names = sorted({node.id for f in fns for node in ast.walk(_parsed(textwrap.dedent(_source(f))))
                    if isinstance(node, ast.Name) and node.id.isupper() and hasattr(pipeline, node.id)})
    for n in names:  # a mutable value (a memo) hashes as it stands in this process: it varies by test order
        if not isinstance(getattr(pipeline, n), (str, int, float, bytes, tuple, frozenset, type(None))):
            raise TypeError(f"pipeline.{n} is named like a constant but is a {type(getattr(pipeline, n)).__name__}: "
                            "name per-process state in lower case, or make the constant immutable")
    return "".join(f"{n}={getattr(pipeline, n)!r}\n" for n in names)


def sources() -> dict[str, dict]:
    out, memo = {}, {}
    for step, fns in sorted(DEFINED_BY.items()):
        own, modules = reached(fns, memo)
        h = hashlib.sha256("".join(_source(f) for f in own).encode() + _constants(own).encode())
        for m in sorted(modules):
            h.update(f"\n# {m}\n".encode() + _source(importlib.import_module(m)).encode())
        out[step] = {"version": STEPS[step].version, "modules": sorted(modules), "source_sha256": h.hexdigest()}
    return out


def unreviewed(reviewed: dict, now: dict) -> list[str]:
    return [s for s in now if now[s]["source_sha256"] != reviewed.get(s, {}).get("source_sha256")
            and now[s]["version"] == reviewed.get(s, {}).get("version")]


def test_every_step_has_its_defining_functions_listed():
    assert set(DEFINED_BY) == set(STEPS)


def test_a_step_s_code_does_not_change_without_its_version_or_a_review():
    changed = unreviewed(json.loads(REVIEWED.read_text()), sources())
    assert not changed, (
        f"the code of step(s) {', '.join(changed)} changed under the same STEPS version: bump the version if "
        "what the step computes changed (old results are then recomputed), else record the review with "
        "`python tests/test_step_versions.py` (rewrites tests/step_sources.json)")


def test_the_guard_follows_the_calls_into_the_library():
    modules = {s: set(v["modules"]) for s, v in sources().items()}
    assert "diffprune.importance" in modules["prune"] and "diffprune.threshold" in modules["prune"]
    assert "diffprune.train" in modules["finetune"] and "diffprune.checkpoint" in modules["finetune"]
    assert "diffprune.fid" in modules["fd"] and "diffprune.fid" not in modules["sample"]


@pytest.mark.parametrize("module, steps", [
    ("importance", {"prune", "loss_curve", "channel_scores", "gradient_stages"}),
    ("train", {"teacher", "training_run", "finetune"}),
    ("fid", {"fd", "paired_fd", "distances", "consistency"}),  # consistency: fid.as_nchw
])
def test_editing_a_library_module_flags_exactly_the_steps_that_use_it(tmp_path, module, steps):
    """In a copy of the package, one line appended to the module changes the hashes of exactly the
    steps whose code reaches it, and the guard names them."""
    root = Path(pipeline.__file__).parents[1]
    shutil.copytree(root / "diffprune", tmp_path / "diffprune", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(Path(__file__), tmp_path / "guard.py")

    with open(tmp_path / "diffprune" / f"{module}.py", "a") as f:
        f.write("\nEDITED = True  # a change the guard must see\n")
    run = subprocess.run([sys.executable, "guard.py", "--print"], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(tmp_path)}, check=True)
    edited = json.loads(run.stdout)
    assert set(unreviewed(sources(), edited)) == steps


def test_a_pipeline_constant_counts_as_the_step_s_code(monkeypatch):
    before = sources()
    monkeypatch.setattr(pipeline, "PREVIEW_N", pipeline.PREVIEW_N + 1)  # what a sample step stores
    assert "sample" in unreviewed(before, sources())



def test_a_step_s_hash_does_not_depend_on_what_the_process_computed_before(monkeypatch):
    """CI runs this file after others in one worker: a memo named like a constant (it once was:
    `size`'s per-process MAC counts) made the hash depend on the test order. Such a name is refused."""
    monkeypatch.setattr(pipeline, "PREVIEW_N", {"filled": "by an earlier test"})
    with pytest.raises(TypeError, match="PREVIEW_N"):
        sources()

if __name__ == "__main__":
    if "--print" in sys.argv:
        print(json.dumps(sources(), sort_keys=True))
    else:
        REVIEWED.write_text(json.dumps(sources(), indent=1, sort_keys=True) + "\n")
