"""Fixtures for the TUI tests: a home folder of the test's own, and an opener that records
its calls instead of opening anything."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from tests.tui.helpers import RECORDER


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home folder with a Downloads folder (where the save prompt starts)."""
    home = tmp_path / "home"
    (home / "Downloads").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$MAILTUI_OPENER records its calls here (one JSON line per call; read them with
    ``helpers.calls``)."""
    script = tmp_path / "opener.py"
    script.write_text(RECORDER)
    path = tmp_path / "opened.jsonl"
    command = " ".join(shlex.quote(part) for part in (sys.executable, str(script), str(path)))
    monkeypatch.setenv("MAILTUI_OPENER", command)
    return path
