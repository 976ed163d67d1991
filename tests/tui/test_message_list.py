"""The virtual message list inside the app: keys, selection, live inserts, big folders."""

from __future__ import annotations

import time
from array import array
from collections.abc import Sequence

from tests.tui.helpers import screen_lines, wait_for_rows, wait_until
from tests.tui.memory import BASE_TIME, MemoryBackend, MemoryMessage
from tui.app import MailApp, MessagesUpdated
from tui.protocol import ListRow, SetFlagged, SetRead
from tui.widgets.message_list import PAGE_SIZE

SIZE = (110, 30)


def _line_of(lines: list[str], needle: str) -> int:
    return next(i for i, line in enumerate(lines) if needle in line)


async def test_navigation_keys_move_cursor_and_scroll() -> None:
    backend = MemoryBackend(inbox_size=500)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        height = ml.scrollable_content_region.height
        assert ml.cursor == 0 and ml.cursor_uid == 500  # newest first

        await pilot.press("j", "j", "down")
        assert ml.cursor == 3 and ml.cursor_uid == 497
        await pilot.press("k")
        assert ml.cursor_uid == 498

        await pilot.press("G")
        await wait_for_rows(pilot, ml)
        assert ml.cursor == 499 and ml.cursor_uid == 1
        assert ml.scroll_offset.y == 500 - height
        assert "Message number 1 " in screen_lines(app)[height - 1]

        await pilot.press("g")
        await wait_for_rows(pilot, ml)
        assert (ml.cursor, ml.scroll_offset.y) == (0, 0)

        await pilot.press("pagedown")
        await wait_for_rows(pilot, ml)
        assert ml.scroll_offset.y == height and ml.cursor == height
        await pilot.press("pagedown", "pageup")
        assert ml.scroll_offset.y == height and ml.cursor == height
        await pilot.press("end", "home")
        assert ml.cursor == 0

        # Cursor row is drawn where the cursor is: the first line shows uid 500.
        await wait_for_rows(pilot, ml)
        assert "Message number 500" in screen_lines(app)[0]


async def test_multi_select_acts_on_all_and_undo_restores() -> None:
    backend = MemoryBackend(inbox_size=40)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        await pilot.press("space", "j", "space")  # select uid 40 and 38, skipping 39
        assert ml.selected_uids == {40, 38}
        assert ml.cursor == 3
        lines = screen_lines(app)
        assert "*" in lines[_line_of(lines, "Message number 40")]
        assert "*" not in lines[_line_of(lines, "Message number 39")]

        await pilot.press("d")
        await wait_for_rows(pilot, ml)
        assert backend.performed[-1].uids == (40, 38)
        assert ml.selected_uids == frozenset()
        inbox = backend.folder_named("INBOX")
        assert 40 not in inbox.uids and 38 not in inbox.uids
        assert len(backend.folder_named("Trash").uids) == 2
        assert ml.row_count == 38
        assert ml.cursor_uid == 37  # stayed on its message

        await pilot.press("z")
        await wait_for_rows(pilot, ml)
        assert ml.row_count == 40 and 40 in inbox.uids
        assert "Undid" in app.status_bar.text


async def test_flag_and_read_toggle_follow_the_cursor_row() -> None:
    backend = MemoryBackend(inbox_size=10)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        await pilot.press("exclamation_mark")
        await wait_for_rows(pilot, ml)
        flagged = backend.performed[-1]
        assert isinstance(flagged, SetFlagged) and flagged.value is True
        row = ml.row_at(0)
        assert row is not None and row.flagged
        assert "!" in screen_lines(app)[0][:35]
        # uid 9 is unread (every third uid): N marks it read.
        await pilot.press("j", "N")
        await wait_for_rows(pilot, ml)
        marked = backend.performed[-1]
        assert isinstance(marked, SetRead) and marked.value is True
        row = ml.row_at(1)
        assert row is not None and row.seen


async def test_row_inserted_above_keeps_cursor_on_its_message() -> None:
    backend = MemoryBackend(inbox_size=1000)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        await pilot.press("j", "j", "j", "j", "j")
        uid = ml.cursor_uid
        newest = BASE_TIME + 2000 * 60
        backend.deliver(1, MemoryMessage(uid=5001, date=newest, subject="Fresh mail"))
        await wait_for_rows(pilot, ml)
        assert ml.cursor_uid == uid and ml.cursor == 6
        # At the top of the list, new mail shows up on screen.
        assert "Fresh mail" in screen_lines(app)[0]

        # Scrolled down: the rows in view stay in view when mail arrives above them.
        for _ in range(3):
            await pilot.press("pagedown")
        await wait_for_rows(pilot, ml)
        top_uid = ml.uid_at(ml.scroll_offset.y)
        cursor_uid = ml.cursor_uid
        before = screen_lines(app)
        for n in range(3):
            backend.deliver(1, MemoryMessage(uid=5002 + n, date=newest + n + 1, subject="More"))
        await wait_for_rows(pilot, ml)
        assert ml.cursor_uid == cursor_uid
        assert ml.uid_at(ml.scroll_offset.y) == top_uid
        # The list's part of the screen is unchanged (the folder pane's unread count moved).
        assert [ln[30:-2] for ln in screen_lines(app)[:5]] == [ln[30:-2] for ln in before[:5]]

        # A message above that disappears does not move the view either.
        backend.folder_named("INBOX").remove([5001])
        backend.events.publish(MessagesUpdated(1, frozenset({5001})))
        await wait_for_rows(pilot, ml)
        assert ml.cursor_uid == cursor_uid and ml.uid_at(ml.scroll_offset.y) == top_uid


async def test_hundred_thousand_rows_open_and_scroll_fast() -> None:
    backend = MemoryBackend(inbox_size=100_000)
    inbox = backend.folder_named("INBOX")
    app = MailApp(backend)
    started = time.perf_counter()
    async with app.run_test(size=SIZE) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        opened = time.perf_counter() - started
        assert ml.row_count == 100_000
        assert "Message number 100000" in screen_lines(app)[0]

        started = time.perf_counter()
        await pilot.press("G")
        await wait_for_rows(pilot, ml)
        to_bottom = time.perf_counter() - started
        assert ml.cursor_uid == 1
        assert "Message number 1 " in screen_lines(app)[ml.scrollable_content_region.height - 1]

        started = time.perf_counter()
        keys = 50
        for _ in range(keys):
            await pilot.press("pageup")
        await wait_for_rows(pilot, ml)
        paging = (time.perf_counter() - started) / keys
        height = ml.scrollable_content_region.height
        assert ml.scroll_offset.y == 100_000 - height * (keys + 1)
        expected_uid = ml.cursor_uid
        assert f"Message number {expected_uid} " in "\n".join(screen_lines(app))
        # Only pages near the viewport were ever read, never the whole folder.
        assert inbox.page_calls * PAGE_SIZE < 20_000
        print(
            f"\n100k rows: open+first paint {opened * 1000:.0f} ms, G {to_bottom * 1000:.0f} ms,"
            f" {paging * 1000:.1f} ms per PgUp, {inbox.page_calls} page reads"
        )


class _BrokenSource:
    folder_id = 1
    page_calls = 0

    async def keys(self) -> tuple[array[int], array[int]]:
        return array("q", [1]), array("q", [1])

    async def page(self, after: tuple[int, int] | None, limit: int) -> Sequence[ListRow]:
        self.page_calls += 1
        raise OSError("disk I/O error")


async def test_source_errors_are_reported_and_the_app_stays_up() -> None:
    backend = MemoryBackend(inbox_size=3)
    app = MailApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        ml = app.message_list
        await wait_for_rows(pilot, ml)
        source = _BrokenSource()
        ml.set_source(source)
        await wait_until(pilot, lambda: app._notifications)
        await pilot.pause(0.2)  # repaints happen meanwhile; they must not retry the read
        assert source.page_calls <= 2  # first page + one keyset read; repaints do not retry
        assert "disk I/O error" in next(iter(app._notifications)).message
        assert app.is_running
        assert "…" in screen_lines(app)[0]  # placeholder row, not a crash
