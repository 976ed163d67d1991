"""The list's keys work in the reader on the open message, as in mutt's pager and aerc's
viewer: reply, flag, read/unread, delete/archive/move (then the next message opens), and
J/K to step through the list without going back to it."""

from __future__ import annotations

from textual.pilot import Pilot

from tests.tui.helpers import wait_for_rows, wait_until
from tests.tui.memory import MemoryBackend
from tui.app import MailApp
from tui.protocol import Archive, Delete, Move, SetFlagged, SetRead
from tui.screens.folder_picker import FolderPicker

SIZE = (120, 30)


async def _open_first(app: MailApp, pilot: Pilot[None]) -> int:
    """Open the newest message; return its UID."""
    await wait_for_rows(pilot, app.message_list)
    uid = app.message_list.cursor_uid
    assert uid is not None
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.reader.display and app.reader.uid == uid)
    return uid


async def test_flag_read_and_reply_act_on_the_open_message() -> None:
    backend = MemoryBackend(inbox_size=5)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        uid = await _open_first(app, pilot)
        await pilot.press("exclamation_mark")
        await wait_until(pilot, lambda: isinstance(backend.performed[-1], SetFlagged))
        flagged = backend.performed[-1]
        assert isinstance(flagged, SetFlagged) and flagged.uids == (uid,) and flagged.value
        await pilot.press("N")  # opening marked it read: N marks it unread
        await wait_until(pilot, lambda: backend.performed[-1] != flagged)
        unread = backend.performed[-1]
        assert isinstance(unread, SetRead) and unread.uids == (uid,) and not unread.value
        await pilot.press("r")
        await wait_until(pilot, lambda: bool(backend.compose_requests))
        assert backend.compose_requests[-1] == ("reply", 1, uid)
        assert app.reader.display  # still reading


async def test_delete_and_archive_from_the_reader_open_the_next_message() -> None:
    backend = MemoryBackend(inbox_size=5)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        newest = await _open_first(app, pilot)
        await pilot.press("d")
        await wait_until(pilot, lambda: app.reader.uid == newest - 1)
        assert Delete(1, (newest,)) in backend.performed
        assert app.reader.display and app.message_list.cursor_uid == newest - 1
        await pilot.press("a")
        await wait_until(pilot, lambda: app.reader.uid == newest - 2)
        assert Archive(1, (newest - 1,)) in backend.performed


async def test_move_from_the_reader_asks_for_the_folder_then_goes_on() -> None:
    backend = MemoryBackend(inbox_size=5)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        newest = await _open_first(app, pilot)
        await pilot.press("m")
        await wait_until(pilot, lambda: isinstance(app.screen, FolderPicker))
        await pilot.press(*"archive", "enter")
        await wait_until(
            pilot, lambda: bool(backend.performed) and isinstance(backend.performed[-1], Move)
        )
        moved = backend.performed[-1]
        assert isinstance(moved, Move) and moved.uids == (newest,)
        await wait_until(pilot, lambda: app.reader.uid == newest - 1)


async def test_j_and_k_step_through_the_list_from_the_reader() -> None:
    backend = MemoryBackend(inbox_size=3)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        newest = await _open_first(app, pilot)
        await pilot.press("J")
        await wait_until(pilot, lambda: app.reader.uid == newest - 1)
        assert app.message_list.cursor_uid == newest - 1
        await pilot.press("J", "J")  # past the oldest: says so, stays
        await wait_until(pilot, lambda: app.reader.uid == newest - 2)
        await wait_until(pilot, lambda: "No next message" in app.status_bar.text)
        await pilot.press("K")
        await wait_until(pilot, lambda: app.reader.uid == newest - 1)
