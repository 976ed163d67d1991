"""Start-up: the first frame drawn once with its rows, the order loaded after it, the key
hints line, and the garbage collector settled after the first frame (issue 6)."""

from __future__ import annotations

import asyncio
import gc
from array import array
from collections.abc import Sequence

import pytest

from tests.tui.helpers import screen_text, wait_for_rows, wait_until
from tests.tui.memory import MemoryBackend, MemoryMessage
from tui.app import FolderInfo, MailApp
from tui.keys import DEFAULT_KEYS
from tui.protocol import ListRow, MessageSource
from tui.run import settle_startup_memory
from tui.widgets.key_hints import KeyHints
from tui.widgets.message_list import PAGE_SIZE, MessageList

SIZE = (120, 30)


class OrderedSource:
    """A source that records when its newest page and its whole order are read."""

    def __init__(self, inner: MessageSource) -> None:
        self.inner = inner
        self.calls: list[str] = []
        self.first_page_done = asyncio.Event()

    @property
    def folder_id(self) -> int:
        """The folder listed."""
        return self.inner.folder_id

    async def keys(self) -> tuple[array[int], array[int]]:
        """The order, noting whether the first page had been read when it was asked for."""
        self.calls.append("keys" if self.first_page_done.is_set() else "keys-early")
        return await self.inner.keys()

    async def page(self, after: tuple[int, int] | None, limit: int) -> Sequence[ListRow]:
        """A page, noting the newest one."""
        self.calls.append("first-page" if after is None else "page")
        rows = await self.inner.page(after, limit)
        if after is None:
            self.first_page_done.set()
        return rows


def hints_text(app: MailApp) -> str:
    """The key hints line as the screen shows it."""
    return app.query_one(KeyHints).text


async def test_the_order_loads_after_the_first_page_and_page_one_is_not_read_again() -> None:
    backend = MemoryBackend(inbox_size=3 * PAGE_SIZE)
    inbox = backend.folder_named("INBOX")
    source = OrderedSource(backend.source(inbox.folder_id))
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        app.message_list.set_source(source)
        await wait_for_rows(pilot, app.message_list)
        assert source.calls[0] == "first-page"
        assert "keys-early" not in source.calls and "keys" in source.calls
        # The newest page read before the order is still the first page: not read again.
        assert source.calls.count("first-page") == 1
        assert app.message_list.row_count == 3 * PAGE_SIZE


async def test_a_prepared_app_draws_its_first_frame_with_the_rows() -> None:
    backend = MemoryBackend(inbox_size=30)
    inbox = backend.folder_named("INBOX")
    app = MailApp(backend)
    await app.prepare()
    reads = inbox.page_calls
    assert reads == 1  # the newest page, read ahead
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        # Rows on the first frames, before the order is even read.
        assert "Message number 30" in screen_text(app)
        await wait_for_rows(pilot, app.message_list)
        assert inbox.page_calls == reads  # the page read ahead was used, not read again
        assert app.folder_tree.folders() and app.message_list.folder_id == inbox.folder_id


async def test_a_change_between_prepare_and_mount_is_not_lost() -> None:
    backend = MemoryBackend(inbox_size=5)
    inbox = backend.folder_named("INBOX")
    app = MailApp(backend)
    await app.prepare()
    backend.deliver(
        inbox.folder_id, MemoryMessage(uid=999, date=10**10, subject="Arrived in between")
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "Arrived in between" in screen_text(app))


class NoFolders(MemoryBackend):
    """A store before the first sync: no folders yet."""

    async def folders(self) -> Sequence[FolderInfo]:
        """None yet."""
        return []


async def test_an_empty_store_still_gets_its_first_frame() -> None:
    backend = NoFolders(inbox_size=0)
    settled: list[bool] = []
    app = MailApp(backend, on_first_frame=lambda: settled.append(True))
    await app.prepare()
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "No folders yet" in screen_text(app))
        await wait_until(pilot, lambda: settled == [True])


async def test_on_first_frame_runs_once_after_the_rows_are_shown() -> None:
    backend = MemoryBackend(inbox_size=10)
    seen: list[str] = []

    def first_frame() -> None:
        seen.append(screen_text(app))

    app = MailApp(backend, on_first_frame=first_frame)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_rows(pilot, app.message_list)
        await pilot.press("down", "down")
        await pilot.pause()
        assert len(seen) == 1
        assert "Message number 10" in seen[0]


def test_settling_turns_the_collector_on() -> None:
    gc.disable()
    try:
        settle_startup_memory()
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()


async def test_key_hints_follow_the_focused_pane() -> None:
    app = MailApp(MemoryBackend(inbox_size=5))
    async with app.run_test(size=(160, 30)) as pilot:
        await wait_for_rows(pilot, app.message_list)
        listed = hints_text(app)
        shown = [spec for spec in DEFAULT_KEYS if spec.show]
        for spec in shown:
            if spec.scope in ("app", "list"):
                assert spec.description in listed, spec.id
        assert "Save attachment" not in listed
        assert listed.rstrip().endswith("^p Commands")  # the palette key, at the right
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.reader.body_shown)
        reading = hints_text(app)
        assert "Save attachment" in reading and "Open link" in reading
        # The list's actions work on the open message too, as in mutt's pager.
        assert "Delete" in reading and "Next message" in reading
        await pilot.press("tab")  # the folder pane: only the app's keys
        await pilot.pause()
        folders = hints_text(app)
        assert "Save attachment" not in folders and "Archive" not in folders
        assert "Help" in folders
        # The screen shows the same line.
        assert screen_text(app).splitlines()[-1] == folders


async def test_key_hints_show_the_user_keymap_and_one_key_per_action() -> None:
    app = MailApp(MemoryBackend(inbox_size=5), keymap={"list.archive": "e,y"})
    async with app.run_test(size=(160, 30)) as pilot:
        await wait_for_rows(pilot, app.message_list)
        line = hints_text(app)
        assert " e Archive " in line and " y Archive " not in line
        assert " a Archive " not in line


async def test_clicking_a_hint_presses_its_key() -> None:
    app = MailApp(MemoryBackend(inbox_size=5))
    async with app.run_test(size=(160, 30)) as pilot:
        await wait_for_rows(pilot, app.message_list)
        hints = app.query_one(KeyHints)
        line = hints.text
        column = line.index("? Help")
        await pilot.click(KeyHints, offset=(column + 1, 0))
        await wait_until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")


async def test_key_hints_cut_to_a_narrow_screen_keep_the_palette_key() -> None:
    app = MailApp(MemoryBackend(inbox_size=5))
    async with app.run_test(size=(60, 20)) as pilot:
        await wait_for_rows(pilot, app.message_list)
        line = screen_text(app).splitlines()[-1]
        assert len(line) == 60
        assert line.rstrip().endswith("^p Commands") and line.startswith(" ⏎ Open")


@pytest.mark.parametrize("size", [(120, 30)])
async def test_a_focus_change_repaints_the_hints_only_when_they_differ(
    size: tuple[int, int],
) -> None:
    app = MailApp(MemoryBackend(inbox_size=5))
    async with app.run_test(size=size) as pilot:
        await wait_for_rows(pilot, app.message_list)
        hints = app.query_one(KeyHints)
        before = hints.hints
        app.message_list.blur()
        app.message_list.focus()
        await pilot.pause()
        assert hints.hints == before
        assert isinstance(app.focused, MessageList)
