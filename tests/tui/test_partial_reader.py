"""The reader on a large message (issue 7): the text shows at once with the attachments
listed as not downloaded; saving or opening one downloads the whole message first, keeps it,
and then saves the real bytes. Against the real store, engine and Dovecot."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

from sync.dovecot import MailUser
from sync.mime.message import PLACEHOLDER_HEADER, PartialMessage
from tests.engine.helpers import config_for
from tests.engine.test_partial_body import attachment, mime, text, top
from tests.rig.device import Device
from tests.tui.helpers import screen_text, wait_for_rows, wait_until
from tests.tui.memory import MemoryBackend, MemoryMessage
from tests.tui.test_backend import running_app
from tests.tui.test_reader_actions import answer_prompt, open_message, shown
from tui.app import MailApp
from tui.screens.reader_dialogs import PromptScreen

SIZE = (140, 40)
BIG = 25 * 1024 * 1024


@pytest.fixture
def downloads(home: Path) -> Path:
    """~/Downloads of a home made for the test (where the save prompt starts)."""
    return home / "Downloads"


async def test_a_large_message_reads_at_once_and_saving_downloads_it_whole(
    mail_user: MailUser, device: Device, tmp_path: Path, downloads: Path
) -> None:
    data = os.urandom(BIG)
    raw = top(
        mime(text("Here are the photos.\r\n"), attachment(data, "photos.zip"), boundary="b"),
        "Holiday photos",
    )
    uid = device.append("INBOX", raw)
    config = config_for(mail_user, tmp_path)
    async with running_app(config, tmp_path, size=SIZE) as (app, backend, pilot):
        await wait_until(pilot, lambda: "Holiday photos" in screen_text(app), within=15)
        await wait_for_rows(pilot, app.message_list)
        inbox = next(f for f in await backend.store.folders() if f.name == "INBOX")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Here are the photos." in app.reader.body_text)
        words = shown(app)
        assert "Attachments not downloaded yet (25 MB): s or v downloads them" in words
        assert "photos.zip application/zip 25 MB not downloaded" in words
        rendered = app.reader.rendered
        assert rendered is not None and rendered.partial
        assert isinstance(rendered.raw, PartialMessage) and len(rendered.raw) < 4096
        assert await backend.store.body(inbox.id, uid) is None  # only whole messages kept

        await pilot.press("s")
        await wait_until(pilot, lambda: "Downloading the attachments (25 MB)" in shown(app))
        await answer_prompt(pilot, app, within=20)  # asked once the whole message is here
        saved = downloads / "photos.zip"
        await wait_until(pilot, lambda: "Saved photos.zip" in shown(app), within=20)
        assert hashlib.sha256(saved.read_bytes()).digest() == hashlib.sha256(data).digest()
        # Kept in the store, and shown whole now.
        stored = await backend.store.body(inbox.id, uid)
        assert stored is not None and hashlib.sha256(stored).digest() == (
            hashlib.sha256(raw).digest()
        )
        assert "not downloaded" not in shown(app)
        assert app.reader.rendered is not None and not app.reader.rendered.partial
        assert app.is_running and not app.errors


class PartialBackend(MemoryBackend):
    """Hands out a partial message; the whole one fails to download."""

    async def body(self, folder_id: int, uid: int) -> bytes | None:
        """The partial message (as `BodyFetcher` would build it)."""
        raw = await super().body(folder_id, uid)
        return PartialMessage(raw) if raw is not None else None

    async def whole_body(self, folder_id: int, uid: int) -> bytes | None:
        """The download fails, in words."""
        raise ConnectionError("the server went away")


async def test_a_failed_download_is_said_and_nothing_is_saved(downloads: Path) -> None:
    partial = top(
        mime(
            text("Text is here."),
            f"Content-Type: application/pdf\r\n"
            f'Content-Disposition: attachment; filename="big.pdf"\r\n'
            f"{PLACEHOLDER_HEADER}: 3000000\r\n",
            boundary="b",
        ),
        "Partial",
    )
    backend = PartialBackend(inbox_size=0)
    backend.deliver(1, MemoryMessage(uid=1, date=1, subject="Partial", body=partial))
    app = MailApp(backend)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_message(pilot, app)
        assert "big.pdf application/pdf 2.9 MB not downloaded" in shown(app)
        await pilot.press("v")
        await wait_until(pilot, lambda: "could not be downloaded" in shown(app))
        assert "the server went away" in shown(app)
        assert not isinstance(app.screen, PromptScreen)
        assert not any(downloads.iterdir())  # noqa: ASYNC240
        assert "Text is here." in app.reader.body_text  # the text stays


OPENER = """\
import shutil, sys
shutil.copyfile(sys.argv[-1], sys.argv[1])
"""


class WholeLaterBackend(MemoryBackend):
    """Hands out a partial message first and the whole one when asked for it."""

    def __init__(self, whole: bytes, partial: bytes) -> None:
        super().__init__(inbox_size=0)
        self.whole = whole
        self.partial = partial
        self.whole_downloads = 0

    async def body(self, folder_id: int, uid: int) -> bytes | None:
        """The whole message once it was downloaded, else the partial one."""
        return self.whole if self.whole_downloads else PartialMessage(self.partial)

    async def whole_body(self, folder_id: int, uid: int) -> bytes | None:
        """The whole message (the download is counted)."""
        self.whole_downloads += 1
        return self.whole


async def test_opening_a_not_downloaded_attachment_downloads_then_opens_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "opener.py"
    script.write_text(OPENER)
    opened = tmp_path / "opened.bin"
    monkeypatch.setenv("MAILTUI_OPENER", f"{sys.executable} {script} {opened}")
    data = os.urandom(3000)
    first = attachment(b"first file", "first.txt", "application/octet-stream")
    whole = top(
        mime(text("Two files."), first, attachment(data, "second.bin"), boundary="b"), "Two"
    )
    placeholder = (
        'Content-Type: application/zip; name="second.bin"\r\n'
        'Content-Disposition: attachment; filename="second.bin"\r\n'
        f"{PLACEHOLDER_HEADER}: {len(data)}\r\n"
    )
    partial = top(mime(text("Two files."), first, placeholder, boundary="b"), "Two")
    backend = WholeLaterBackend(whole, partial)
    backend.deliver(1, MemoryMessage(uid=1, date=1, subject="Two", body=whole))
    app = MailApp(backend)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_message(pilot, app)
        assert "second.bin application/zip 2.9 KB not downloaded" in shown(app)
        await pilot.press("v")  # the first one is here: opened without a download
        await wait_until(pilot, opened.exists)
        assert opened.read_bytes() == b"first file" and backend.whole_downloads == 0
        opened.unlink()
        await pilot.press("right_square_bracket", "v")  # the second one is not
        await wait_until(pilot, opened.exists)
        assert opened.read_bytes() == data and backend.whole_downloads == 1
        assert "not downloaded" not in shown(app)
        assert "> [2] second.bin" in screen_text(app)  # still marked after the re-render
