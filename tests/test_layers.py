"""No import cycles: between packages or between modules (TYPE_CHECKING imports included).

The layer order itself is import-linter's job (`make lint`, contracts in
pyproject.toml); this test guards what a layers contract cannot see, a cycle
inside one layer.
"""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("synth", "generators", "evaluators")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=False, cache_dir=None)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _module_edges(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def _package(module: str) -> str:
    """The unit of a package-level cycle: `synth.core`, `synth.jobs`, `generators`, ..."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "synth" and len(parts) > 1 else parts[0]


def test_no_module_imports_itself_through_others(graph: grimp.ImportGraph) -> None:
    assert _cycles(_module_edges(graph)) == []


def test_no_package_imports_itself_through_others(graph: grimp.ImportGraph) -> None:
    edges: dict[str, set[str]] = {}
    for module, imported in _module_edges(graph).items():
        # The root `synth/__init__.py` only re-exports lazily (importlib), for typing.
        if module == "synth":
            continue
        src = _package(module)
        edges.setdefault(src, set())
        edges[src] |= {_package(m) for m in imported if _package(m) != src}
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The finder is not vacuous: a → b → c → a is one cycle, d alone is none."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
