"""Pending operations and the outbox: queued atomically with local changes, in order."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sync.store import Store
from sync.store.events import MessagesChanged, OperationFailed, OperationsChanged
from tests.store.helpers import make_folder, record


async def test_operations_queue_in_order_and_survive_reopen(store: Store) -> None:
    folder = await make_folder(store)
    row = await store.folder(folder)
    assert row is not None
    account = row.account_id
    with store.events.subscribe() as subscription:
        async with store.write() as w:
            await w.upsert_messages(folder, [record(1)])
            first = await w.enqueue_operation(
                account, "flags", folder_id=folder, folder_name="INBOX", payload='{"uids": [1]}'
            )
            second = await w.enqueue_operation(account, "create_folder", folder_name="New")
        events = list(iter(subscription.get_nowait, None))
    assert OperationsChanged(account) in events
    path = store.path
    await store.close()

    reopened = await Store.open(path)
    try:
        ops = await reopened.pending_operations(account)
        assert [(op.id, op.kind, op.folder_id, op.payload) for op in ops] == [
            (first, "flags", folder, '{"uids": [1]}'),
            (second, "create_folder", None, "{}"),
        ]
        async with reopened.write() as w:
            await w.fail_operation(first, "NO [TRYCREATE]", give_up=False)
            await w.fail_operation(second, "NO [ALREADYEXISTS]", give_up=True)
        [retry] = await reopened.pending_operations(account)
        assert (retry.id, retry.attempts, retry.last_error) == (first, 1, "NO [TRYCREATE]")
        parked = await reopened.pending_operations(account, include_failed=True)
        assert [op.failed for op in parked] == [False, True]
        async with reopened.write() as w:
            await w.finish_operation(first)
            # Deleting the folder keeps the queued operation, without its folder id.
            await w.enqueue_operation(account, "append", folder_id=folder, folder_name="INBOX")
            await w.delete_folder(folder)
        remaining = await reopened.pending_operations(account, include_failed=True)
        assert [(op.kind, op.folder_id, op.folder_name) for op in remaining] == [
            ("create_folder", None, "New"),
            ("append", None, "INBOX"),
        ]
    finally:
        await reopened.close()


async def test_outbox_keeps_messages_until_sent(store: Store) -> None:
    async with store.write() as w:
        account = await w.ensure_account("acct", "me@test.example")
        queued = await w.queue_outgoing(
            account, b"From: me\r\n\r\nhi\r\n", "me@test.example", ["a@x.example", "b@y.example"]
        )
    [message] = await store.outbox(account)
    assert (message.id, message.raw, message.recipients) == (
        queued,
        b"From: me\r\n\r\nhi\r\n",
        ("a@x.example", "b@y.example"),
    )
    with pytest.raises(RuntimeError):
        async with store.write() as w:
            await w.outgoing_sent(queued)
            raise RuntimeError("crash before the commit")
    assert len(await store.outbox(account)) == 1  # not lost
    async with store.write() as w:
        await w.outgoing_failed(queued, "421 try later", next_attempt_at=123, give_up=False)
    [message] = await store.outbox(account)
    assert (message.attempts, message.next_attempt_at, message.failed) == (1, 123, False)
    async with store.write() as w:
        await w.outgoing_sent(queued)
    assert await store.outbox(account, include_failed=True) == []


async def test_new_store_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "data" / "mailtui.sqlite3"
    store = await Store.open(path)
    try:
        async with store.write() as w:
            await w.ensure_account("acct", "me@test.example")
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        for file in (path, path.with_name(path.name + "-wal")):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    finally:
        await store.close()


async def test_optimistic_change_primitives(store: Store) -> None:
    inbox = await make_folder(store)
    archive = await make_folder(store, "Archive")
    async with store.write() as w:
        await w.upsert_messages(inbox, [record(1, flags=("\\Seen",)), record(2)])
        await w.store_body(inbox, 1, b"Subject: one\r\n\r\nbody\r\n")
    # Provisional UIDs: negative, never handed out twice, even across transactions.
    async with store.write() as w:
        first = await w.provisional_uids(2)
    async with store.write() as w:
        second = await w.provisional_uids(1)
    assert first == [-1, -2] and second == [-3]

    with store.events.subscribe() as heard:
        async with store.write() as w:
            changed = await w.change_flags(inbox, [1, 2, 99], ["\\flagged"], ["\\SEEN"])
            assert await w.copy_messages(inbox, archive, [(1, -1), (2, -2)]) == [-1, -2]
        events = list(iter(heard.get_nowait, None))
    assert changed == [1, 2]  # case-insensitive: \SEEN removed \Seen; 99 does not exist
    one = await store.message(inbox, 1)
    assert one is not None and one.flags == ("\\flagged",) and not one.seen
    assert MessagesChanged(archive, added=(-2, -1)) in events
    copy = await store.message(archive, -1)
    assert copy is not None and copy.has_body and copy.modseq is None
    assert (await store.folder(archive)).total == 2  # type: ignore[union-attr]

    # The real UID arrives: renamed in place; when the sync got it first, never twice.
    async with store.write() as w:
        assert await w.change_uid(archive, -1, 7)
        await w.upsert_messages(archive, [record(8)])
        assert await w.change_uid(archive, -2, 8)
        assert not await w.change_uid(archive, -5, 9)
    assert list(await store.folder_uids(archive)) == [7, 8]
    assert (await store.folder(archive)).total == 2  # type: ignore[union-attr]


async def test_operation_bookkeeping_and_notices(store: Store) -> None:
    folder = await make_folder(store)
    account = (await store.folders())[0].account_id
    async with store.write() as w:
        op = await w.enqueue_operation(account, "flags", folder_id=folder, folder_name="INBOX")
        await w.update_operation(op, folder_id=folder, folder_name="INBOX", payload='{"a": 1}')
        await w.fail_operation(op, "NO [UNAVAILABLE]", give_up=False, next_attempt_at=55)
    [held] = await store.pending_operations(account)
    assert (held.payload, held.attempts, held.next_attempt_at) == ('{"a": 1}', 1, 55)
    notice = OperationFailed(account, op, "flags", "the server said NO")
    with store.events.subscribe() as heard:
        with pytest.raises(RuntimeError):
            async with store.write() as w:
                await w.fail_operation(op, "NO", give_up=True)
                w.announce(notice)
                raise RuntimeError("rolled back: no notice")
        assert notice not in list(iter(heard.get_nowait, None))
        async with store.write() as w:
            await w.fail_operation(op, "NO", give_up=True)
            w.announce(notice)
        assert notice in list(iter(heard.get_nowait, None))
    assert await store.pending_operations(account) == []
    async with store.write() as w:
        await w.retry_operation(op)
        assert [o.id for o in await w.operations(account)] == [op]
    [again] = await store.pending_operations(account)
    assert (again.failed, again.attempts, again.next_attempt_at) == (False, 0, None)
