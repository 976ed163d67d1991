"""Starting the interface: config checks, the demo without Dovecot, errors shown not raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.config import parse_config
from tests.tui.helpers import screen_text, wait_for_rows, wait_until
from tests.tui.memory import MemoryBackend
from tui.app import ConnectionState, CountsUpdated, FolderInfo, MailApp, OperationsState
from tui.keys import DEFAULT_KEYS
from tui.run import run_app, run_demo

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tui.md"
CONFIG = """
{extra}
[accounts.a]
email = "a@example.org"
imap_host = "127.0.0.1"
imap_security = "none"
password = "x"
"""


def test_bad_keymap_or_theme_stops_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad_keys = parse_config(CONFIG.format(extra='[keys]\narchive = "a"'), tmp_path / "config.toml")
    assert run_app(bad_keys, directory=tmp_path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown key binding 'archive'" in err
    assert "list.archive" in err
    bad_theme = parse_config(CONFIG.format(extra='theme = "neon"'), tmp_path / "config.toml")
    assert run_app(bad_theme, directory=tmp_path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'neon' is not a theme" in err and "nord" in err
    assert not (tmp_path / "mailtui.sqlite3").exists()  # nothing was opened


def test_demo_without_dovecot_explains_and_exits_0(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("sync.dovecot.os.access", lambda *args: False)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    assert run_demo() == 0
    err = capsys.readouterr().err
    assert "apt-get install dovecot-imapd" in err
    assert not list(tmp_path.glob("mailtui-demo-*"))  # its temp dir is gone


class FailingFolders(MemoryBackend):
    """A backend whose folder list breaks after the first read."""

    calls = 0

    async def folders(self) -> list[FolderInfo]:
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("the store went away")
        return list(await super().folders())


async def test_errors_in_workers_are_shown_and_the_app_goes_on() -> None:
    backend = FailingFolders(inbox_size=5)
    backend.state = [ConnectionState("work", "online"), OperationsState(1, 0)]
    app = MailApp(backend)
    async with app.run_test(size=(110, 30), notifications=True) as pilot:
        await wait_for_rows(pilot, app.message_list)
        assert "work: online   1 pending" in app.status_bar.text  # state replayed at start
        assert backend.watched == [1]  # the app said which folder it shows
        backend.events.publish(CountsUpdated(frozenset({1})))
        await wait_until(pilot, lambda: app.errors)
        assert app.errors == ["Reading the folders failed: the store went away"]
        await wait_until(pilot, lambda: "the store went away" in screen_text(app))
        await pilot.press("j")
        assert app.is_running and app.message_list.cursor == 1


def test_docs_name_every_binding() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    missing = [spec.id for spec in DEFAULT_KEYS if f"`{spec.id}`" not in docs]
    assert not missing, f"docs/tui.md does not document {missing}"
