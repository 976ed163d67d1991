"""Gmail's rules, scripted against a Dovecot laid out like Gmail (tests/conftest.py
``dovecot_gmail``: [Gmail]/All Mail \\All, Starred \\Flagged, Important \\Important, Gmail's
capabilities with X-GM-EXT-1 and without QRESYNC or NOTIFY).

On Gmail every message is also in All Mail, and a starred or important one in Starred or
Important too: synced like folders, each would be stored, counted and found two or three
times. These views are skipped (``sync_virtual_folders = false``, the default); delete moves
to [Gmail]/Trash; archive, with no \\Archive folder, moves to All Mail (Gmail's archive).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from pathlib import Path

from sync.dovecot import MailUser
from sync.engine.account import AccountSync, SyncSettings
from sync.ops import Operations, Replayer
from sync.ops.undo import MovedBack, UndoStack
from sync.search import parse_query
from sync.store import FolderRow, Store
from sync.store.search import search_messages
from tests.engine.helpers import config_for, running_live, server_state, store_state
from tests.rig.corpus import make_message
from tests.rig.device import Device
from tests.waits import eventually

ALL, STARRED, IMPORTANT = "[Gmail]/All Mail", "[Gmail]/Starred", "[Gmail]/Important"


def _engine(user: MailUser, store: Store, data_dir: Path, **settings: object) -> AccountSync:
    account = config_for(user, data_dir).accounts[0]
    replayer = Replayer(store, account.name)
    sync = AccountSync(
        account,
        store,
        replace(SyncSettings(prefetch="none"), **settings),  # type: ignore[arg-type]
        operations=replayer,
    )
    replayer.refresh_folders = sync.sync_folder_list
    return sync


def _gmail_mailbox(device: Device) -> None:
    """Three messages in INBOX, each in All Mail too; the first starred and important."""
    for index in (1, 2, 3):
        device.append("INBOX", make_message(index, subject=f"message {index}"))
    device.copy("INBOX", [1, 2, 3], ALL)
    device.add_flags("INBOX", [1], "\\Flagged")
    device.copy("INBOX", [1], STARRED)
    device.copy("INBOX", [1], IMPORTANT)


async def _folder(store: Store, name: str) -> FolderRow:
    [row] = [row for row in await store.folders() if row.display_name == name]
    return row


async def _stored(store: Store) -> Counter[str]:
    """How many rows of each subject the store holds, over every folder."""
    counted: Counter[str] = Counter()
    for folder in await store.folders():
        for row in await store.page(folder.id, after=None, limit=500):
            counted[row.subject] += 1
    return counted


async def test_gmail_views_are_not_synced_so_nothing_counts_twice(
    gmail_user: MailUser, store: Store, data_dir: Path
) -> None:
    with Device.connect(gmail_user) as device:
        assert device.has("X-GM-EXT-1") and not device.has("QRESYNC")
        _gmail_mailbox(device)
        await _engine(gmail_user, store, data_dir).run_once()

        views = [await _folder(store, name) for name in (ALL, STARRED, IMPORTANT)]
        assert [(view.special_use, view.virtual) for view in views] == [
            ("\\All", True),
            ("\\Flagged", True),
            ("\\Important", True),
        ]
        assert not any(view.syncable(show_all=True) for view in views)
        # Each message stored once, in INBOX; the views hold nothing and count nothing.
        assert await _stored(store) == Counter({"message 1": 1, "message 2": 1, "message 3": 1})
        assert [view.total for view in [await _folder(store, v.display_name) for v in views]] == [
            0,
            0,
            0,
        ]
        hits = await search_messages(store, parse_query("message"))
        assert sorted(row.subject for row in hits) == ["message 1", "message 2", "message 3"]
        # The folders that are synced equal the server's.
        synced = [f.display_name for f in await store.folders() if f.syncable(show_all=False)]
        assert {
            name: rows for name, rows in (await store_state(store)).items() if name in synced
        } == (server_state(device, synced))


async def test_asked_for_the_views_are_synced_like_folders(
    gmail_user: MailUser, store: Store, data_dir: Path
) -> None:
    with Device.connect(gmail_user) as device:
        _gmail_mailbox(device)
        await _engine(gmail_user, store, data_dir, sync_virtual_folders=True).run_once()
        assert (await _folder(store, ALL)).total == 3
        assert (await _folder(store, STARRED)).total == 1


async def test_delete_trashes_and_archive_moves_to_all_mail(
    gmail_user: MailUser, store: Store, data_dir: Path
) -> None:
    with Device.connect(gmail_user) as device:
        for index in (1, 2, 3):
            device.append("INBOX", make_message(index, subject=f"message {index}"))
        sync = _engine(gmail_user, store, data_dir)
        await sync.run_once()
        inbox = await _folder(store, "INBOX")
        ops = Operations(store)
        await ops.delete(inbox.id, [1])
        archived = await ops.archive(inbox.id, [2])
        assert archived.provisional  # shown at once: gone from INBOX
        assert await store.message(inbox.id, 2) is None
        await sync.run_once()

        assert device.subjects("[Gmail]/Trash") == {1: "message 1"}
        assert list(device.subjects(ALL).values()) == ["message 2"]
        assert list(device.subjects("INBOX").values()) == ["message 3"]
        # All Mail is not kept here: the archived message left no row behind in it.
        assert (await _folder(store, ALL)).total == 0
        assert await _stored(store) == Counter({"message 1": 1, "message 3": 1})
        assert await store.pending_operations(inbox.account_id, include_failed=True) == []
        synced = [f.display_name for f in await store.folders() if f.syncable(show_all=False)]
        state = await store_state(store)
        assert {name: state[name] for name in synced} == server_state(device, synced)


async def test_an_archive_to_all_mail_can_be_undone_while_the_engine_runs(
    gmail_user: MailUser, store: Store, data_dir: Path
) -> None:
    with Device.connect(gmail_user) as device:
        for index in (1, 2):
            device.append("INBOX", make_message(index, subject=f"message {index}"))
        sync = _engine(gmail_user, store, data_dir)
        async with running_live(sync):
            await asyncio.wait_for(sync.wait_live(), timeout=10)
            inbox = await _folder(store, "INBOX")
            ops = Operations(store)
            undo = UndoStack(store, ops)
            rows = {row.uid: row for row in await store.messages(inbox.id, [1])}
            queued = await ops.archive(inbox.id, [1])
            await undo.push_move(inbox.id, rows, queued, "archive")
            await eventually(
                lambda: list(device.subjects(ALL).values()) == ["message 1"],
                what="the archive on the server",
            )
            assert await undo.undo() == MovedBack("archive", 1, inbox.id)
            await eventually(
                lambda: (
                    sorted(device.subjects("INBOX").values()) == ["message 1", "message 2"]
                    and not device.subjects(ALL)
                ),
                what="the undo on the server",
            )
            # Archived and not undone: its row stays in the view for this session...
            await ops.archive(inbox.id, [await _uid_of(store, inbox, "message 2")])
            await eventually(
                lambda: list(device.subjects(ALL).values()) == ["message 2"],
                what="the second archive on the server",
            )
            await eventually(
                lambda: _total(store, ALL, 1), what="the archived row kept for the session"
            )
        # ...and the next session forgets it: the server keeps the message.
        await sync.run_once()
        assert (await _folder(store, ALL)).total == 0
        assert list(device.subjects(ALL).values()) == ["message 2"]
        assert sorted((await _stored(store)).elements()) == ["message 1"]


async def _uid_of(store: Store, folder: FolderRow, subject: str) -> int:
    [uid] = [row.uid for row in await store.page(folder.id, after=None) if row.subject == subject]
    return uid


async def _total(store: Store, name: str, expected: int) -> bool:
    return (await _folder(store, name)).total == expected
