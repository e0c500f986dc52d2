"""The package's module-level import graph has no cycle, and scanning does not import the training machinery.

Built from the source (AST), not by importing: an edge A -> B for every `import forensics.B` /
`from forensics.B import ...` / relative import at the top level of A (including inside top-level
`try` and `if` blocks, except `if TYPE_CHECKING:`). Imports inside functions are deferred on purpose
and are not edges."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "forensics"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level(body: list[ast.stmt]):
    for node in body:
        if isinstance(node, ast.If):
            test = node.test
            if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
                    (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
                continue
            yield from _top_level(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            yield from _top_level(node.body + [s for h in node.handlers for s in h.body] + node.orelse
                                  + node.finalbody)
        else:
            yield node


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}

    def known(name: str) -> str:  # the module an imported name lives in (a module, else its package)
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        deps: set[str] = set()
        for node in _top_level(ast.parse(path.read_text(encoding="utf-8")).body):
            if isinstance(node, ast.Import):
                deps |= {known(a.name) for a in node.names if a.name.split(".")[0] == "forensics"}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] != "forensics":
                    continue
                for alias in node.names:  # `from forensics.x import y` where y is a submodule
                    sub = f"{target}.{alias.name}"
                    deps.add(sub if sub in files else known(target))
        deps.discard(mod)
        deps.discard("")
        graph[mod] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle as [a, b, ..., a], or [] when the graph has none (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if state.get(root):
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt) and nxt in graph:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return []


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_the_graph_is_read_from_the_source():
    graph = import_graph()
    assert "forensics.detector" in graph and "forensics.training.train" in graph
    assert "forensics.checkpoint" in graph["forensics.detector"]
    assert "forensics.training.data" in graph["forensics.training.train"]


def test_the_package_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_scanning_does_not_import_the_training_machinery():
    graph = import_graph()
    for entry in ("forensics.detector", "forensics.audit", "forensics.calibrate", "forensics.checkpoint"):
        training = sorted(m for m in reachable(graph, entry) if m.startswith("forensics.training"))
        assert not training, f"{entry} imports {training} at module level"
    # and the threshold helpers live below both: checkpoint imports neither calibrate nor detector
    assert not {"forensics.calibrate", "forensics.detector"} & reachable(graph, "forensics.checkpoint")
    assert "forensics.calibrate" not in reachable(graph, "forensics.detector")


def test_the_benchmark_scripts_import_each_other_without_a_cycle():
    """benchmarks/ scripts import one another by name (the scripts' folder is on sys.path); counted here
    with imports inside functions too: the model card's command line imports outside_reals.py, which
    imports the card's sections from benchmarks/patch_card, never the card's command line."""
    bench = PACKAGE.parent / "benchmarks"
    names = {p.stem for p in bench.glob("*.py")} | {"patch_card"}
    mods = {(p.stem if p.parent == bench else f"patch_card.{p.stem}"): p for p in bench.glob("**/*.py")
            if p.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            deps |= {t for t in targets if t.split(".")[0] in names}
        graph[mod] = deps - {mod}
    assert "outside_reals" in graph["default_model_card"]
    cycle = find_cycle(graph)
    assert not cycle, "import cycle: " + " -> ".join(cycle)
