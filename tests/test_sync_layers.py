"""The layers of ``sync`` point one way (sync/layers.py), with no import cycle anywhere in it.

Every import statement counts, lazy and ``TYPE_CHECKING`` ones included: a lazy import still
ties two modules together. Each check is shown to fail on a planted package.
"""

from __future__ import annotations

from pathlib import Path

from sync.layers import LAYERS
from tests.import_graph import collapse, import_cycles, layer_violations, module_graph

REPO = Path(__file__).resolve().parents[1]


def test_sync_imports_follow_its_layers() -> None:
    graph = module_graph(REPO, "sync")
    # The scan saw the code: the engine really imports the store.
    assert "sync.store" in graph["sync.engine.runner"]
    assert layer_violations(graph, LAYERS, root="sync") == []


def test_sync_has_no_import_cycles() -> None:
    graph = module_graph(REPO, "sync")
    assert import_cycles(graph) == []
    # Nor between its subpackages (engine <-> ops <-> outbox, store <-> search).
    assert import_cycles(collapse(graph, 2)) == []


def test_every_layer_names_a_real_module() -> None:
    graph = module_graph(REPO, "sync")
    named = [member for layer in LAYERS for member in layer]
    assert len(named) == len(set(named))
    assert [member for member in named if member not in graph] == []


def test_the_checks_fail_on_a_planted_cycle_and_an_upward_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "store").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "store" / "__init__.py").write_text("")
    # The store reaches up into the engine inside a function; the engine imports the store.
    (package / "store" / "db.py").write_text("def late() -> None:\n    from pkg import engine\n")
    (package / "engine.py").write_text("from pkg.store import db\n")
    (package / "stray.py").write_text("")
    layers = (("pkg.engine",), ("pkg.store",))
    graph = module_graph(tmp_path, "pkg")
    assert import_cycles(graph) == [["pkg.engine", "pkg.store.db"]]
    assert import_cycles(collapse(graph, 2)) == [["pkg.engine", "pkg.store"]]
    assert layer_violations(graph, layers, root="pkg") == [
        "pkg.store.db imports pkg.engine, a higher layer",
        "pkg.stray is in no layer",
    ]
