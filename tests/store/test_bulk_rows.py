"""The bulk write path (``upsert_rows``) and the header search index built from its queue.

Since schema version 6 new and changed rows wait in ``search_header_queue`` and are indexed
in bulk (``index_pending_headers``); a search indexes what waits before it answers. Every row
is indexed or queued, never both, never neither.
"""

from __future__ import annotations

from array import array
from dataclasses import replace
from pathlib import Path

from sync.events import Subscription
from sync.search import parse_query
from sync.store import FolderMarks, MessageFields, Store, message_fields
from sync.store.events import FolderCountsChanged, MessagesChanged, StoreEvent
from sync.store.records import record_of
from sync.store.schema import MIGRATIONS
from sync.store.search import (
    index_all_headers,
    index_pending_headers,
    pending_header_count,
    search_messages,
)
from sync.store.search_schema import SEARCH_QUEUE_SCHEMA
from tests.store.helpers import make_folder, record

_KEY = "folder_id * 8589934592 + 4294967296 + uid"


def rows(uids: range | list[int]) -> list[MessageFields]:
    """Row tuples for ``uids`` (two in five unread)."""
    return [message_fields(record(uid, flags=() if uid % 5 < 2 else ("\\Seen",))) for uid in uids]


def drain(subscription: Subscription[StoreEvent]) -> list[StoreEvent]:
    """Every event delivered so far."""
    events = []
    while (event := subscription.get_nowait()) is not None:
        events.append(event)
    return events


async def index_state(store: Store) -> tuple[set[int], set[int], set[int]]:
    """Keys of all rows, of the indexed ones and of the queued ones."""
    every = {r[0] for r in await store.fetch_all(f"SELECT {_KEY} FROM messages")}
    indexed = {r[0] for r in await store.fetch_all("SELECT rowid FROM search_headers")}
    queued = {r[0] for r in await store.fetch_all(f"SELECT {_KEY} FROM search_header_queue")}
    return every, indexed, queued


async def assert_indexed_or_queued(store: Store) -> None:
    every, indexed, queued = await index_state(store)
    assert indexed | queued == every
    assert not indexed & queued
    async with store.write() as unit:  # FTS5's own consistency check
        await unit.fetch_all(
            "INSERT INTO search_headers (search_headers, rank) VALUES ('integrity-check', 1)"
        )


async def test_bulk_rows_insert_in_statements_of_any_size(store: Store) -> None:
    folder = await make_folder(store)
    # More than one full statement (1024 rows) plus a remainder, given in reverse order.
    batch = rows(range(2500, 0, -1))
    with store.events.subscribe() as events:
        async with store.write() as unit:
            await unit.upsert_rows(folder, batch)
        published = drain(events)
    [changed] = [e for e in published if isinstance(e, MessagesChanged)]
    [counts] = [e for e in published if isinstance(e, FolderCountsChanged)]
    assert changed.added == tuple(range(1, 2501)) and not changed.updated
    assert (counts.total, counts.unread) == (2500, 1000)
    assert await store.folder_uids(folder) == array("q", range(1, 2501))
    assert [r.uid for r in await store.page(folder, after=None, limit=3)] == [2500, 2499, 2498]
    row = await store.message(folder, 1234)
    assert row is not None and message_fields(record_of(row)) == batch[2500 - 1234]
    refreshed = await store.folder(folder)
    assert refreshed is not None and (refreshed.total, refreshed.unread) == (2500, 1000)


async def test_bulk_rows_update_existing_and_report_only_real_changes(store: Store) -> None:
    folder = await make_folder(store)
    async with store.write() as unit:
        await unit.upsert_rows(folder, rows(range(1, 11)))
    with store.events.subscribe() as events:
        async with store.write() as unit:
            # 1-10 unchanged, 5 renamed, 11-12 new: one statement, mixed.
            again = rows(range(1, 13))
            again[4] = message_fields(record(5, subject="Renamed", flags=("\\Seen",)))
            await unit.upsert_rows(folder, again)
        [event] = [e for e in drain(events) if isinstance(e, MessagesChanged)]
    # A batch that really rewrote a row reports its existing rows as updated.
    assert event.added == (11, 12) and event.updated == tuple(range(1, 11))
    changed = await store.message(folder, 5)
    assert changed is not None and changed.subject == "Renamed"
    # Nothing differs: no event at all.
    with store.events.subscribe() as events:
        async with store.write() as unit:
            await unit.upsert_rows(folder, again)
        assert not [e for e in drain(events) if isinstance(e, MessagesChanged)]


async def test_new_row_gets_a_kept_body_back(store: Store) -> None:
    folder = await make_folder(store)
    raw = b"Subject: kept\r\n\r\nbody\r\n"
    async with store.write() as unit:
        await unit.upsert_rows(folder, [message_fields(record(1, message_id="<k@x>", size=99))])
        await unit.store_body(folder, 1, raw)
        await unit.reset_folder(folder, 42)  # UIDVALIDITY changed: rows go, bodies stay
    async with store.write() as unit:
        await unit.upsert_rows(folder, [message_fields(record(7, message_id="<k@x>", size=99))])
    assert await store.body(folder, 7) == raw


async def test_header_index_is_built_from_the_queue(store: Store) -> None:
    folder = await make_folder(store)
    async with store.write() as unit:
        await unit.upsert_rows(folder, rows(range(1, 31)))
    assert await pending_header_count(store) == 30
    await assert_indexed_or_queued(store)
    assert await index_pending_headers(store, limit=12) == 12
    assert await pending_header_count(store) == 18
    await assert_indexed_or_queued(store)
    # A queued row that changes stays queued once; an indexed one is taken out and queued.
    async with store.write() as unit:
        await unit.upsert_messages(folder, [record(3, subject="Lunch at noon")])
        await unit.upsert_messages(folder, [record(20, subject="Lunch later")])
        await unit.remove_messages(folder, [4, 21])
    await assert_indexed_or_queued(store)
    assert await pending_header_count(store) == 18 - 1 + 1  # 21 gone, 3 queued again
    assert await index_all_headers(store) == 18
    assert await pending_header_count(store) == 0
    await assert_indexed_or_queued(store)
    found = await search_messages(store, parse_query("subject:lunch"))
    assert {r.uid for r in found} == {3, 20}


async def test_search_indexes_what_waits_before_it_answers(store: Store) -> None:
    folder = await make_folder(store)
    async with store.write() as unit:
        await unit.upsert_rows(folder, rows(range(1, 6)))
        await unit.upsert_rows(folder, [message_fields(record(9, subject="Quarterly ramen"))])
    assert await pending_header_count(store) == 6
    assert [r.uid for r in await search_messages(store, parse_query("ramen"))] == [9]
    assert await pending_header_count(store) == 0
    # A provisional row re-keyed to its real UID is found under the new one.
    async with store.write() as unit:
        await unit.change_uid(folder, 9, 90)
    assert [r.uid for r in await search_messages(store, parse_query("ramen"))] == [90]
    await assert_indexed_or_queued(store)


async def test_version_5_database_with_data_upgrades_to_the_queue(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    version = next(m.version for m in MIGRATIONS if m.step is SEARCH_QUEUE_SCHEMA)
    async with await Store.open(path, target_version=version - 1) as old:
        folder = await make_folder(old)
        async with old.write() as unit:
            await unit.upsert_messages(folder, [record(1, subject="Old lunch")])
            await unit.set_folder_marks(folder, FolderMarks(uidvalidity=5))
        # Before the change every row was indexed by the insert trigger.
        indexed = await old.fetch_all(
            "SELECT rowid FROM search_headers WHERE search_headers MATCH 'lunch'"
        )
        assert len(indexed) == 1
    async with await Store.open(path) as store:
        assert await pending_header_count(store) == 0  # nothing to catch up
        await assert_indexed_or_queued(store)
        async with store.write() as unit:
            await unit.upsert_messages(folder, [replace(record(2), subject="New lunch")])
        assert await pending_header_count(store) == 1
        assert {r.uid for r in await search_messages(store, parse_query("lunch"))} == {1, 2}
        await assert_indexed_or_queued(store)
