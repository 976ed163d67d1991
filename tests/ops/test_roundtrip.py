"""Every operation round-trips: done here (shown at once), on the server after replay, seen
by another device; against the full and the reduced (no MOVE/UIDPLUS/CONDSTORE) Dovecot."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sync.dovecot import MailUser
from sync.ops import Operations
from sync.store import FolderRow, Store
from sync.store.events import ChangeDropped, OperationFailed
from tests.engine.helpers import server_state, store_state
from tests.ops.helpers import engine, server_content, store_content
from tests.rig.corpus import make_message
from tests.rig.device import Device


async def folder(store: Store, name: str) -> FolderRow:
    for row in await store.folders():
        if row.display_name == name:
            return row
    raise AssertionError(f"no folder {name}")


async def test_every_operation_reaches_the_server(
    any_user: MailUser, any_device: Device, store: Store, data_dir: Path
) -> None:
    device = any_device
    for index in range(1, 6):  # UIDs 1..5
        device.append("INBOX", make_message(index, subject=f"message {index}"))
    sync = engine(any_user, store, data_dir)
    await sync.run_once()
    ops = Operations(store)
    inbox, archive = await folder(store, "INBOX"), await folder(store, "Archive")

    with store.events.subscribe() as heard:
        await ops.mark_read(inbox.id, [1])
        events = list(iter(heard.get_nowait, None))
    assert any(getattr(event, "folder_id", None) == inbox.id for event in events)
    row = await store.message(inbox.id, 1)
    assert row is not None and row.seen  # optimistic: in the store before any network

    await ops.flag(inbox.id, [2])
    await ops.set_keywords(inbox.id, [3], add=["$Forwarded"])
    moved = await ops.move(inbox.id, [4], archive.id)
    provisional = moved.provisional[4]
    assert provisional < 0 and await store.message(archive.id, provisional) is not None
    assert await store.message(inbox.id, 4) is None
    # A chain on one message: flag it in its new folder before the move reached the server.
    await ops.flag(archive.id, [provisional])
    await ops.copy(inbox.id, [1], archive.id)
    await ops.delete(inbox.id, [2])  # to Trash
    await ops.create_folder((await store.accounts())[0].id, "Projects")
    projects = await folder(store, "Projects")
    await ops.append(projects.id, make_message(50, subject="appended"), ["\\Seen"])
    await ops.archive(inbox.id, [3])
    expected = await store_content(store)

    await sync.run_once()  # replays first, then pulls (RFC 4549)
    assert server_content(device) == expected
    assert await store_state(store) == server_state(device)  # no provisional row left, no twin
    assert await store.pending_operations(1, include_failed=True) == []
    subjects = device.subjects("Archive")
    flags = device.flags("Archive")
    [moved_uid] = [uid for uid, subject in subjects.items() if subject == "message 4"]
    assert "\\Flagged" in flags[moved_uid]  # the chained flag landed on the moved message
    assert "$Forwarded" in {
        f for uid, s in subjects.items() if s == "message 3" for f in flags[uid]
    }
    assert list(device.subjects("Trash").values()) == ["message 2"]
    assert sorted(device.subjects("INBOX").values()) == ["message 1", "message 5"]

    # Permanent delete from Trash, rename and delete of a folder.
    trash = await folder(store, "Trash")
    [trashed] = await store.folder_uids(trash.id)
    await ops.delete(trash.id, [trashed])
    await ops.rename_folder(projects.id, "Projects 2026")
    await ops.save_draft((await store.accounts())[0].id, make_message(60, subject="draft v1"))
    drafts = await folder(store, "Drafts")
    [first_draft] = await store.folder_uids(drafts.id)
    await ops.save_draft(
        (await store.accounts())[0].id, make_message(61, subject="draft v2"), first_draft
    )
    await sync.run_once()
    assert device.subjects("Trash") == {}
    assert "Projects 2026" in device.folders() and "Projects" not in device.folders()
    assert list(device.subjects("Drafts").values()) == ["draft v2"]
    assert list(device.subjects("Projects 2026").values()) == ["appended"]
    await ops.delete_folder((await folder(store, "Projects 2026")).id)
    await sync.run_once()
    assert "Projects 2026" not in device.folders()
    assert await store_state(store) == server_state(device)


async def test_concurrent_changes_to_different_flags_both_survive(
    any_user: MailUser,
    any_device: Device,
    store: Store,
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    any_device.append("INBOX", make_message(1))
    sync = engine(any_user, store, data_dir)
    await sync.run_once()
    inbox = await folder(store, "INBOX")
    await Operations(store).mark_read(inbox.id, [1])  # offline, here
    any_device.add_flags("INBOX", [1], ["\\Flagged"])  # meanwhile, on the phone
    with caplog.at_level(logging.INFO, logger="sync.ops.replay"):
        await sync.run_once()
    assert {"\\Seen", "\\Flagged"} <= any_device.flags("INBOX")[1]
    # With CONDSTORE the change went UNCHANGEDSINCE our MODSEQ, was refused as MODIFIED
    # (RFC 7162 3.1.3), and the delta went again.
    assert ("MODIFIED" in caplog.text) == (not any_user.server.reduced)
    row = await store.message(inbox.id, 1)
    assert row is not None and row.seen and row.flagged


async def test_conflicts_are_resolved_by_the_written_rules(
    any_user: MailUser, any_device: Device, store: Store, data_dir: Path
) -> None:
    device = any_device
    device.create_folder("Doomed")
    for index in range(1, 5):  # UIDs 1..4
        device.append("INBOX", make_message(index, subject=f"m{index}"))
    device.append("Trash", make_message(5, subject="m5"))
    sync = engine(any_user, store, data_dir)
    await sync.run_once()
    ops = Operations(store)
    inbox, doomed = await folder(store, "INBOX"), await folder(store, "Doomed")
    account_id = inbox.account_id

    await ops.move(inbox.id, [1], doomed.id)
    failed_move = (await store.pending_operations(account_id))[-1].id
    await ops.flag(inbox.id, [2])
    await ops.delete(inbox.id, [3])  # our delete ...
    await ops.delete((await folder(store, "Trash")).id, [1])  # ... and one for good ...
    device.delete_folder("Doomed")  # the target folder is deleted elsewhere
    device.expunge("INBOX", [2])  # the flagged message is expunged elsewhere
    device.add_flags("INBOX", [3], ["\\Answered"])  # ... against remote flag changes
    device.add_flags("Trash", [1], ["\\Flagged"])
    with store.events.subscribe() as heard:
        await sync.run_once()
        events = list(iter(heard.get_nowait, None))
    failures = [event for event in events if isinstance(event, OperationFailed)]
    assert [(event.operation_id, event.kind) for event in failures] == [(failed_move, "move")]
    assert "Doomed" in failures[0].message
    assert any(isinstance(event, ChangeDropped) and event.kind == "flags" for event in events)
    # The move's message stayed where it was; the delete won; the queue keeps the failure.
    assert device.subjects("INBOX") == {1: "m1", 4: "m4"}
    assert list(device.subjects("Trash").values()) == ["m3"]  # m5 deleted for good
    [parked] = await store.pending_operations(account_id, include_failed=True)
    assert parked.failed and parked.id == failed_move and "Doomed" in (parked.last_error or "")
    assert await store_state(store) == server_state(device)
    await ops.discard(failed_move)
    assert await store.pending_operations(account_id, include_failed=True) == []


async def test_refused_move_whose_destination_row_is_gone_puts_the_message_back(
    mail_user: MailUser, device: Device, store: Store, data_dir: Path
) -> None:
    """The destination was deleted elsewhere and the folder list synced before the replay
    (e.g. while the queue was held back): the provisional row went with the folder, and the
    refused move still puts the message back where it was."""
    device.create_folder("Doomed")
    device.append("INBOX", make_message(1, subject="keep me"))
    sync = engine(mail_user, store, data_dir)
    await sync.run_once()
    inbox, doomed = await folder(store, "INBOX"), await folder(store, "Doomed")
    await Operations(store).move(inbox.id, [1], doomed.id)
    device.delete_folder("Doomed")
    client, features = await sync.connect()
    try:
        await sync.sync_folder_list(client, features)  # the folder and its rows go first
    finally:
        await client.logout()
    assert await store.folder(doomed.id) is None
    await sync.run_once()
    row = await store.message(inbox.id, 1)
    assert row is not None and row.subject == "keep me"
    assert await store_state(store) == server_state(device)


async def test_operations_follow_a_folder_renamed_elsewhere(
    any_user: MailUser, any_device: Device, store: Store, data_dir: Path
) -> None:
    device = any_device
    device.create_folder("Old")
    device.append("Old", make_message(1, subject="in old"))
    device.append("INBOX", make_message(2, subject="to old"))
    sync = engine(any_user, store, data_dir)
    await sync.run_once()
    old, inbox = await folder(store, "Old"), await folder(store, "INBOX")
    ops = Operations(store)
    await ops.flag(old.id, [1])
    await ops.move(inbox.id, [1], old.id)
    device.rename_folder("Old", "New")  # meanwhile, on the phone
    await sync.run_once()
    assert device.subjects("New") == {1: "in old", 2: "to old"}
    assert "\\Flagged" in device.flags("New")[1]
    assert await store.pending_operations(inbox.account_id, include_failed=True) == []
    assert await store_state(store) == server_state(device)
