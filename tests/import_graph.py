"""The import graph of a package, read from its source (no import runs), and its cycles.

Every ``import`` and ``from ... import`` statement counts, wherever it stands: at the top,
under ``if TYPE_CHECKING:`` or inside a function. A lazy import still ties the two modules
together, and a type-checking one still means each needs the other to be understood. Edges
are between modules (a package is its ``__init__``); importing ``a.b.c`` (or ``c`` from
``a.b``) is an edge to ``a.b.c`` only, not to the packages ``a`` and ``a.b`` Python also runs
on the way; ``from a.b import name`` is an edge to ``a.b``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

__all__ = ["collapse", "import_cycles", "layer_of", "layer_violations", "module_graph"]


def _module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package under ``root`` (the directory holding ``package``)."""
    names: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts).removesuffix(".__init__")
        names[name] = path
    return names


def _imported(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, ...]]:
    """What each import statement of ``module`` asks for, as absolute dotted names, most
    precise first: ``from X import a`` gives ``(X.a, X)``: ``X.a`` when it is a module (a
    submodule), else ``X`` (a name defined in X)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield (alias.name,)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # Relative: drop one trailing part per level (a package is its own base).
                base_parts = module.split(".") if is_package else module.split(".")[:-1]
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, node.module] if node.module else base_parts)
            else:
                base = node.module or ""
            for alias in node.names:
                yield (f"{base}.{alias.name}", base)


def module_graph(root: Path, package: str) -> dict[str, set[str]]:
    """For each module of ``package``, the modules of the same package it imports."""
    modules = _module_names(root, package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = set()
        for candidates in _imported(tree, name, path.name == "__init__.py"):
            found = next((wanted for wanted in candidates if wanted in modules), None)
            if found is not None and found != name:
                targets.add(found)
        graph[name] = targets
    return graph


def collapse(graph: Mapping[str, set[str]], depth: int) -> dict[str, set[str]]:
    """The same graph with every module folded into its first ``depth`` dotted parts (depth
    2 turns ``tui.widgets.reader`` into ``tui.widgets``): the cycles between subpackages."""

    def fold(name: str) -> str:
        return ".".join(name.split(".")[:depth])

    folded: dict[str, set[str]] = {}
    for module, targets in graph.items():
        mine = folded.setdefault(fold(module), set())
        mine.update(fold(target) for target in targets if fold(target) != fold(module))
    return folded


def import_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of two or more modules (Tarjan), each sorted: every
    module in a group reaches every other through imports. Empty when the graph is a DAG."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def layer_of(module: str, layers: Sequence[Sequence[str]]) -> int | None:
    """The index of the layer (0: the highest) holding ``module`` or a package above it."""
    for index, layer in enumerate(layers):
        for member in layer:
            if module == member or module.startswith(member + "."):
                return index
    return None


def layer_violations(
    graph: Mapping[str, set[str]], layers: Sequence[Sequence[str]], *, root: str
) -> list[str]:
    """Every import that points up the ``layers`` (highest first), and every module of the
    graph but ``root`` (the package itself) that no layer holds, as sentences."""
    problems: list[str] = []
    for module in sorted(graph):
        mine = layer_of(module, layers)
        if mine is None:
            if module != root:
                problems.append(f"{module} is in no layer")
            continue
        for target in sorted(graph[module]):
            theirs = layer_of(target, layers)
            if theirs is not None and theirs < mine:
                problems.append(f"{module} imports {target}, a higher layer")
    return problems
