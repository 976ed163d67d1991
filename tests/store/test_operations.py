"""Pending operations and the outbox: queued atomically with local changes, in order."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sync.store import Store
from sync.store.events import OperationsChanged
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
