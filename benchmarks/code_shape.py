"""The shape of the code, for before/after notes: largest files and classes, `Any`, cycles.

Usage: ``python3 benchmarks/code_shape.py [CHECKOUT]`` (default: this checkout). Compare two
commits with ``git worktree add /some/dir COMMIT`` and the script run on each.

Import cycles are found among subpackages (``sync.engine``, ``tui.widgets``...) and among
modules, from every import statement, including those inside functions and under
TYPE_CHECKING: a lazy import still ties the two modules together.
"""

from __future__ import annotations

import argparse
import ast
import re
from collections import defaultdict
from pathlib import Path

PACKAGES = ("sync", "tui")


def module_name(root: Path, path: Path) -> str:
    """``sync/store/store.py`` -> ``sync.store.store``; a package's ``__init__`` is its name."""
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def imports_of(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """The sync/tui modules a module's import statements name (absolute and relative)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] in PACKAGES}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
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
    return sorted(found)


def main() -> None:
    """Print the figures for the checkout given (default: this one)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=Path(__file__).parent.parent)
    root = parser.parse_args().root.resolve()
    files = sorted(p for package in PACKAGES for p in (root / package).rglob("*.py"))
    modules = {module_name(root, p): p for p in files}
    sizes: list[tuple[int, str]] = []
    classes: list[tuple[int, int, str]] = []
    any_count = dict_any = 0
    module_edges: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        relative = path.relative_to(root).as_posix()
        sizes.append((len(text.splitlines()), relative))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                methods = sum(
                    isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) for item in node.body
                )
                classes.append((node.end_lineno - node.lineno + 1, methods, node.name))
        any_count += len(re.findall(r"\bAny\b", text))
        dict_any += len(re.findall(r"dict\[str, Any\]", text))
        for target in imports_of(tree, name, path.name == "__init__.py"):
            # Resolve to the longest known module ("from sync.store import Store" -> sync.store).
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                module_edges[name].add(target)

    def subpackage(module: str) -> str:
        # sync.store.search -> sync.store; a top-level module (sync.clean) stands alone.
        return ".".join(module.split(".")[:2])

    package_edges: dict[str, set[str]] = defaultdict(set)
    for source, targets in module_edges.items():
        for target in targets:
            if subpackage(source) != subpackage(target):
                package_edges[subpackage(source)].add(subpackage(target))

    print(f"code shape of {root.name}")
    print("largest files (lines):")
    for lines, relative in sorted(sizes, reverse=True)[:8]:
        print(f"  {lines:6,}  {relative}")
    print("largest classes (lines / methods):")
    for lines, methods, name in sorted(classes, reverse=True)[:8]:
        print(f"  {lines:6,} / {methods:3}  {name}")
    print(f"`Any` mentions in sync/ and tui/: {any_count} ({dict_any} of them dict[str, Any])")
    for label, edges in (("subpackage", package_edges), ("module", module_edges)):
        found = cycles(edges)
        print(f"import cycles among {label}s: {len(found)}")
        for component in found:
            shown = ", ".join(component[:12]) + (" ..." if len(component) > 12 else "")
            print(f"  {len(component)}: {shown}")


if __name__ == "__main__":
    main()
