"""The layers of the interface: the UI contract (`tui.protocol`) loads no Textual and no Rich,
so a backend or a headless tool can implement it without the screen's libraries; and the
modules of tui/ import one another without a cycle, so each layer points one way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.import_graph import collapse, import_cycles, module_graph

REPO = Path(__file__).resolve().parents[2]
UI_LIBRARIES = frozenset({"textual", "rich"})

_LOADED_BY = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def _top_level_packages_loaded_by(module: str) -> set[str]:
    """Import ``module`` in a fresh interpreter and name every top-level package it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", _LOADED_BY, module],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout)
    return set(loaded)


def test_the_ui_contract_loads_no_textual_and_no_rich() -> None:
    loaded = _top_level_packages_loaded_by("tui.protocol")
    assert "tui" in loaded  # the import really happened
    assert not loaded & UI_LIBRARIES


def test_the_probe_sees_a_module_that_loads_textual() -> None:
    # The check above can fail: the same probe on the app finds Textual and Rich.
    assert _top_level_packages_loaded_by("tui.app") >= UI_LIBRARIES


# No import cycles inside tui/ ------------------------------------------------------------------


def test_tui_modules_import_each_other_without_cycles() -> None:
    # Every import statement counts, lazy and TYPE_CHECKING ones included (tests/import_graph).
    graph = module_graph(REPO, "tui")
    assert "tui.app" in graph and "tui.protocol" in graph["tui.app"]  # the scan saw the code
    assert import_cycles(graph) == []
    # Nor between the subpackages: the widgets may open screens, no screen reaches back.
    assert import_cycles(collapse(graph, 2)) == []


def test_the_cycle_check_finds_a_lazy_or_type_checking_cycle(tmp_path: Path) -> None:
    # The check above can fail: a small package whose only cycles hide in a function and
    # under TYPE_CHECKING.
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("def late() -> None:\n    from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("from .. import a\nfrom pkg import c\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.sub.b\n"
    )
    (package / "d.py").write_text("import pkg.a\n")  # imports into the cycle, not part of it
    graph = module_graph(tmp_path, "pkg")
    assert graph["pkg.sub.b"] == {"pkg.a", "pkg.c"}
    assert import_cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
    assert import_cycles({"x": {"y"}, "y": set()}) == []
    # Folded into subpackages, pkg.a and pkg.c join pkg.sub through pkg.sub.b.
    assert import_cycles(collapse(graph, 2)) == [["pkg.a", "pkg.c", "pkg.sub"]]
