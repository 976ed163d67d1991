"""The layers of the interface: the UI contract (`tui.protocol`) loads no Textual and no Rich,
so a backend or a headless tool can implement it without the screen's libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
