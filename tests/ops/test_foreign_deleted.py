"""A move or delete on a server without MOVE and UIDPLUS, while another client has other
messages marked \\Deleted in the folder: a plain EXPUNGE would take theirs too, so ours stay
on the server marked \\Deleted, the store shows them so (store == server), the user is told,
and an expunge of just ours waits in the queue until the folder holds no other marked one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sync import paths
from sync.dovecot import DovecotServer, MailUser
from sync.ops import Operations
from sync.ops.describe import describe
from sync.store import FolderRow, Store
from sync.store.events import OperationHeld
from tests.engine.helpers import server_state, store_state
from tests.ops.helpers import engine
from tests.rig.corpus import make_message
from tests.rig.device import Device
from tui.cli import main

DELETED = "\\deleted"


async def folder(store: Store, name: str) -> FolderRow:
    [row] = [row for row in await store.folders() if row.display_name == name]
    return row


async def _seeded(
    server: DovecotServer, data_dir: Path, store: Store
) -> tuple[MailUser, Device, FolderRow, FolderRow]:
    user = server.add_user()
    device = Device.connect(user)
    assert not device.has("MOVE") and not device.has("UIDPLUS")  # the point of the test
    for index in range(1, 5):  # UIDs 1..4
        device.append("INBOX", make_message(index, subject=f"message {index}"))
    device.add_flags("INBOX", [2], "\\Deleted")  # another client's, not yet expunged
    await engine(user, store, data_dir).run_once()
    return user, device, await folder(store, "INBOX"), await folder(store, "Archive")


async def test_a_move_keeps_the_original_marked_until_the_folder_can_be_expunged(
    dovecot_reduced: DovecotServer,
    store: Store,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    user, device, inbox, archive = await _seeded(dovecot_reduced, data_dir, store)
    try:
        sync = engine(user, store, data_dir)
        await Operations(store).move(inbox.id, [1], archive.id)
        with store.events.subscribe() as heard:
            await sync.run_once()
            events = list(iter(heard.get_nowait, None))

        # Store == server: the copy in Archive, the original in INBOX marked, theirs kept.
        assert await store_state(store) == server_state(device)
        inbox_flags = device.flags("INBOX")
        assert DELETED in {f.lower() for f in inbox_flags[1]}  # ours, left marked
        assert DELETED in {f.lower() for f in inbox_flags[2]}  # theirs, untouched
        assert list(device.subjects("Archive").values()) == ["message 1"]
        row = await store.message(inbox.id, 1)
        assert row is not None and row.deleted  # shown with its D, as the server has it

        # The user is told, and the queue says what waits and why.
        [held] = [event for event in events if isinstance(event, OperationHeld)]
        assert "stays in INBOX marked deleted" in held.message
        assert "1 other message there is marked deleted by another client" in held.message
        [waiting] = await store.pending_operations(inbox.account_id, include_failed=True)
        assert waiting.kind == "expunge" and not waiting.failed
        assert waiting.next_attempt_at is not None
        assert waiting.last_error == held.message
        assert describe(waiting, lambda name: name or "?").startswith("delete")
        # `mailtui queue` on the same store lists it, with the reason.
        monkeypatch.setenv(paths.DATA_DIR_ENV, str(data_dir))
        monkeypatch.setenv(paths.CONFIG_ENV, str(data_dir / "absent.toml"))
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["queue"]) == 0
        listed = capsys.readouterr().out
        assert "delete 1 message from INBOX" in listed and "pending" in listed
        assert "marked deleted by another client" in listed

        # A further pass while theirs is still marked: nothing changes, nothing is lost.
        async with store.write() as unit:
            await unit.retry_operation(waiting.id)
        await sync.run_once()
        assert await store_state(store) == server_state(device)
        assert len(await store.pending_operations(inbox.account_id)) == 1

        # The other client unmarks its message: ours alone is marked, EXPUNGE is exact.
        device.remove_flags("INBOX", [2], "\\Deleted")
        async with store.write() as unit:
            await unit.retry_operation(waiting.id)
        await sync.run_once()
        assert sorted(device.subjects("INBOX").values()) == [
            "message 2",
            "message 3",
            "message 4",
        ]
        assert await store_state(store) == server_state(device)
        assert await store.pending_operations(inbox.account_id, include_failed=True) == []
    finally:
        device.close()


async def test_a_delete_for_good_stays_marked_while_other_messages_are(
    dovecot_reduced: DovecotServer, store: Store, data_dir: Path
) -> None:
    user, device, inbox, _ = await _seeded(dovecot_reduced, data_dir, store)
    try:
        sync = engine(user, store, data_dir)
        await Operations(store).expunge(inbox.id, [3])
        assert await store.message(inbox.id, 3) is None  # optimistic: gone at once
        await sync.run_once()
        # Not gone on the server (EXPUNGE would take message 2 along): shown marked again.
        assert await store_state(store) == server_state(device)
        row = await store.message(inbox.id, 3)
        assert row is not None and row.deleted
        # The other client expunges its own (and with it ours: both were marked).
        device.expunge("INBOX", [2])
        [waiting] = await store.pending_operations(inbox.account_id)
        async with store.write() as unit:
            await unit.retry_operation(waiting.id)
        await sync.run_once()
        assert sorted(device.subjects("INBOX").values()) == ["message 1", "message 4"]
        assert await store_state(store) == server_state(device)
        assert await store.pending_operations(inbox.account_id, include_failed=True) == []
    finally:
        device.close()
