"""Fixtures for the TUI tests: a home folder of the test's own, an opener that records its
calls instead of opening anything, and a count of the messages the app lays out."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from tests.tui.helpers import RECORDER
from tui.controllers import reader as controller
from tui.widgets.reader import ReaderStyles, RenderedMessage, render_message


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


@pytest.fixture
def rendered_uids(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every raw message the app lays out (the reader controller's `render_message`, counted)."""
    calls: list[bytes] = []

    def counting(raw: bytes, styles: ReaderStyles) -> RenderedMessage:
        calls.append(raw)
        return render_message(raw, styles)

    monkeypatch.setattr(controller, "render_message", counting)
    return calls
