"""The message list over the real store: keyset pages, sort order, live changes via events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual import work
from textual.app import App, ComposeResult

from sync.store import MessageRecord, Store
from tests.tui.helpers import screen_lines, wait_for_rows, wait_until
from tui.backend import StoreSource, backend_event_from_store
from tui.protocol import MessagesUpdated
from tui.widgets.message_list import MessageList

BASE = 1_700_000_000
COUNT = 1500


def _record(
    uid: int, *, internaldate: int | None = None, subject: str | None = None
) -> MessageRecord:
    return MessageRecord(
        uid=uid,
        message_id=f"<{uid}@example.org>",
        subject=subject if subject is not None else f"Stored message {uid}",
        from_name=f"Sender {uid}",
        from_addr=f"s{uid}@example.org",
        to="me@example.org",
        cc="",
        date=BASE + uid,
        internaldate=internaldate if internaldate is not None else BASE + uid * 10,
        size=1000,
        flags=("\\Seen",) if uid % 2 else (),
        modseq=None,
        has_attachment=False,
        in_reply_to=None,
        references=None,
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[tuple[Store, int]]:
    opened = await Store.open(tmp_path / "store.sqlite3")
    try:
        async with opened.write() as w:
            account = await w.ensure_account("work", "me@example.org")
            folder = await w.upsert_folder(
                account, "INBOX", display_name="INBOX", delimiter="/", special_use=None
            )
            await w.upsert_messages(folder, [_record(uid) for uid in range(1, COUNT + 1)])
        yield opened, folder
    finally:
        await opened.close()


class ListApp(App[None]):
    """Just the list over the store, reloading on store events as the real backend will."""

    def __init__(self, store: Store, folder_id: int) -> None:
        super().__init__()
        self.store = store
        self.folder_id = folder_id

    def compose(self) -> ComposeResult:
        yield MessageList(StoreSource(self.store, self.folder_id), id="messages")

    def on_mount(self) -> None:
        self.query_one(MessageList).focus()
        self._follow()

    @work
    async def _follow(self) -> None:
        with self.store.events.subscribe() as events:
            async for event in events:
                update = backend_event_from_store(event)
                if isinstance(update, MessagesUpdated):
                    self.query_one(MessageList).reload(update.uids)


async def test_store_source_pages_and_live_insert(store: tuple[Store, int]) -> None:
    db, folder_id = store
    app = ListApp(db, folder_id)
    async with app.run_test(size=(100, 20)) as pilot:
        ml = app.query_one(MessageList)
        await wait_for_rows(pilot, ml)
        assert ml.row_count == COUNT
        assert "Stored message 1500" in screen_lines(app)[0]
        await pilot.press("G")
        await wait_for_rows(pilot, ml)
        assert ml.cursor_uid == 1 and "Stored message 1 " in screen_lines(app)[19]
        # Every page boundary came from the arrays: rows across a page edge are contiguous.
        await pilot.press("g")
        for _ in range(12):
            await pilot.press("pagedown")
        await wait_for_rows(pilot, ml)
        top = ml.scroll_offset.y
        shown = [ml.row_at(top + i) for i in range(20)]
        assert [row.uid for row in shown if row] == [COUNT - top - i for i in range(20)]

        cursor_uid = ml.cursor_uid
        async with db.write() as w:
            await w.upsert_messages(
                folder_id, [_record(2000, internaldate=BASE + 99_999, subject="Brand new")]
            )
        await wait_until(pilot, lambda: ml.row_count == COUNT + 1)
        await wait_for_rows(pilot, ml)
        assert ml.row_count == COUNT + 1 and ml.uid_at(0) == 2000
        first_shown = shown[0]
        assert first_shown is not None
        assert ml.cursor_uid == cursor_uid and ml.uid_at(ml.scroll_offset.y) == first_shown.uid
        await pilot.press("g")
        await wait_for_rows(pilot, ml)
        assert "Brand new" in screen_lines(app)[0]
