"""The package's modules import one another one way only: no cycle, counting the imports written
inside functions too (a function-level import is how a cycle hides)."""
import ast
from pathlib import Path

import diffprune

PACKAGE = Path(diffprune.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(name: str, modules: dict) -> str | None:
    """The package module `name` names, or the package that holds it (an attribute import)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(path: Path, modules: dict) -> set[str]:
    """Every package module `path` imports, at any level of its code."""
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names = [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "diffprune" and (target := _resolve(name, modules)) and target != me:
                found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_package_has_no_import_cycle():
    modules = _modules()
    # the package __init__ re-exports; importing `diffprune` itself is not an edge into a cycle
    graph = {m: imports_of(p, modules) - {"diffprune"} for m, p in modules.items()}
    assert cycles(graph) == []


def test_the_walk_sees_function_level_imports_and_finds_a_cycle():
    graph = {"diffprune.a": {"diffprune.b"}, "diffprune.b": {"diffprune.c"}, "diffprune.c": {"diffprune.a"},
             "diffprune.d": {"diffprune.a"}}
    assert cycles(graph) == [["diffprune.a", "diffprune.b", "diffprune.c"]]
    # a function-level import is found like a top-level one
    assert imports_of(PACKAGE / "pipeline.py", _modules()) >= {"diffprune.models", "diffprune.train"}


def test_the_library_does_not_import_the_test_framework():
    """unittest (and its mock) belong to the tests: the library scopes its own patches."""
    found = [p.name for p in PACKAGE.rglob("*.py") for node in ast.walk(ast.parse(p.read_text()))
             if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "unittest" for a in node.names)
             or isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "unittest"]
    assert found == []
