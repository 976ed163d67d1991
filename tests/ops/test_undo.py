"""The undo stack over a real store: flags restored exactly, moves found and moved back."""

from __future__ import annotations

import pytest

from sync.ops import Operations
from sync.ops.undo import (
    AlreadyGone,
    FlagsRestored,
    FlagUndo,
    MovedBack,
    UndoStack,
)
from sync.store import Store
from tests.store.helpers import record

SEEN, FLAGGED = "\\Seen", "\\Flagged"


async def folders(store: Store) -> tuple[int, int]:
    """INBOX with messages 1..5 (2 and 4 flagged already), and an empty Archive."""
    async with store.write() as w:
        account = await w.ensure_account("acct", "acct@test.example")
        inbox = await w.upsert_folder(
            account, "INBOX", display_name="INBOX", delimiter="/", special_use=None
        )
        archive = await w.upsert_folder(
            account, "Archive", display_name="Archive", delimiter="/", special_use="\\Archive"
        )
        await w.upsert_messages(
            inbox,
            [record(uid, flags=(FLAGGED,) if uid in (2, 4) else ()) for uid in range(1, 6)],
        )
    return inbox, archive


async def uids(store: Store, folder_id: int) -> list[int]:
    return list(await store.folder_uids(folder_id))


async def flagged(store: Store, folder_id: int) -> set[int]:
    return {row.uid for row in await store.messages(folder_id, range(1, 100)) if row.flagged}


async def test_a_flag_undo_restores_only_what_changed(store: Store) -> None:
    inbox, _ = await folders(store)
    ops = Operations(store)
    stack = UndoStack(store, ops)
    before = {row.uid: row for row in await store.messages(inbox, [1, 2, 3])}
    await ops.flag(inbox, [1, 2, 3])
    changed = [uid for uid, row in before.items() if not row.flagged]
    stack.push_flags(inbox, changed, FLAGGED, True, "flagged 3 messages")
    assert await flagged(store, inbox) == {1, 2, 3, 4}
    assert await stack.undo() == FlagsRestored("flagged 3 messages")
    assert await flagged(store, inbox) == {2, 4}  # 2 was flagged before: it stays
    assert await stack.undo() is None


async def test_an_unchanged_flag_leaves_nothing_to_undo(store: Store) -> None:
    inbox, _ = await folders(store)
    stack = UndoStack(store, Operations(store))
    stack.push_flags(inbox, [], FLAGGED, True, "flagged 1 message")
    assert len(stack) == 0


async def test_a_move_is_moved_back_from_its_provisional_uids(store: Store) -> None:
    inbox, archive = await folders(store)
    ops = Operations(store)
    told: list[str | None] = []
    stack = UndoStack(store, ops, before_move_back=told.extend)
    rows = {row.uid: row for row in await store.messages(inbox, [1, 3])}
    queued = await ops.move(inbox, [1, 3], archive)
    assert await stack.push_move(inbox, rows, queued, "archive") == archive
    assert await uids(store, inbox) == [2, 4, 5]
    assert await stack.undo() == MovedBack("archive", 2, inbox)
    assert await uids(store, archive) == []
    assert sorted(row.message_id or "" for row in await store.page(inbox, after=None)) == sorted(
        f"<{uid}@test.example>" for uid in range(1, 6)
    )
    assert sorted(told, key=str) == ["<1@test.example>", "<3@test.example>"]


async def test_a_move_the_server_has_answered_is_found_by_message_id(store: Store) -> None:
    """After the engine synced the move, the rows carry the server's UIDs, not ours."""
    inbox, archive = await folders(store)
    ops = Operations(store)
    stack = UndoStack(store, ops)
    rows = {row.uid: row for row in await store.messages(inbox, [3])}
    queued = await ops.move(inbox, [3], archive)
    await stack.push_move(inbox, rows, queued, "move")
    [provisional] = queued.provisional.values()
    async with store.write() as w:  # what the sync of Archive does once the server moved it
        await w.remove_messages(archive, [provisional])
        await w.upsert_messages(
            archive, [record(77, message_id="<3@test.example>", internaldate=rows[3].internaldate)]
        )
    assert await uids(store, archive) == [77]
    assert await stack.undo() == MovedBack("move", 1, inbox)
    assert await uids(store, archive) == []
    assert [row.message_id for row in await store.page(inbox, after=None)].count(
        "<3@test.example>"
    ) == 1


async def test_moved_messages_gone_meanwhile_are_said_so(store: Store) -> None:
    inbox, archive = await folders(store)
    ops = Operations(store)
    stack = UndoStack(store, ops)
    rows = {row.uid: row for row in await store.messages(inbox, [5])}
    queued = await ops.move(inbox, [5], archive)
    await stack.push_move(inbox, rows, queued, "delete")
    async with store.write() as w:  # another device deleted it from Archive
        await w.remove_messages(archive, list(queued.provisional.values()))
    assert await stack.undo() == AlreadyGone("delete")
    assert await uids(store, inbox) == [1, 2, 3, 4]


async def test_an_expunge_has_no_destination_and_no_undo(store: Store) -> None:
    inbox, _ = await folders(store)
    ops = Operations(store)
    stack = UndoStack(store, ops)
    rows = {row.uid: row for row in await store.messages(inbox, [1])}
    queued = await ops.expunge(inbox, [1])
    assert await stack.push_move(inbox, rows, queued, "delete") is None
    assert len(stack) == 0


async def test_the_stack_keeps_the_newest_entries(store: Store) -> None:
    inbox, _ = await folders(store)
    stack = UndoStack(store, Operations(store), depth=3)
    for uid in range(1, 6):
        stack.push_flags(inbox, [uid], SEEN, True, f"read {uid}")
    assert [entry.label for entry in stack.entries] == ["read 3", "read 4", "read 5"]
    assert isinstance(stack.entries[-1], FlagUndo)
    results = [await stack.undo() for _ in range(4)]
    restored = [FlagsRestored(f"read {uid}") for uid in (5, 4, 3)]
    assert results == [*restored, None]
    with pytest.raises(ValueError, match="at least one"):
        UndoStack(store, Operations(store), depth=0)
