"""The library layers (`generators/`, `evaluators/`) stand alone: no service module, no import cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = ("generators", "evaluators")

#: Modules of the service side that the library layers may never load.
SERVICE_SIDE = (
    "m.split('.')[0] in ('grpc', 'sqlalchemy') or m.startswith(('synth.server', 'synth.core', "
    "'synth.store', 'synth.jobs', 'synth.client', 'synth.v1'))"
)


def _service_modules_after(code: str) -> str:
    script = f"{code}; import sys; print(sorted(m for m in sys.modules if {SERVICE_SIDE}))"
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_importing_the_libraries_loads_no_service_module() -> None:
    assert _service_modules_after("import generators, evaluators") == "[]"


def test_every_generator_and_the_report_load_no_service_module() -> None:
    code = (
        "import generators, evaluators, evaluators.report; "
        "[generators.generator_class(k) for k in generators.available_generators()]"
    )
    assert _service_modules_after(code) == "[]"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Module -> modules of the two libraries it imports: every import statement, at any depth
    (inside functions and `if TYPE_CHECKING:` too); `from pkg import sub` counts as `pkg.sub`."""
    paths = {_module_name(p): p for lib in LIBRARIES for p in (ROOT / lib).rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in paths}
    for module, path in paths.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in paths]
                targets = subs if len(subs) == len(node.names) else [base, *subs]
            else:
                continue
            for target in targets:
                while target and target not in paths:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    graph[module].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_inside_the_libraries() -> None:
    graph = _import_graph()
    assert "evaluators.report.html" in graph["evaluators.result"]  # the graph sees real imports
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
