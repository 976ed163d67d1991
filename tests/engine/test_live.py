"""Live sync: another device's changes reach the store within a second."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sync.dovecot import MailUser
from sync.engine.account import AccountSync, SyncSettings
from sync.engine.events import ConnectionPhase, ConnectionStateChanged, EngineEvent, NewMail
from sync.store import Store
from tests.engine.helpers import config_for, converge, running_live
from tests.rig.corpus import make_message
from tests.rig.device import Device
from tests.waits import eventually

LATENCY_LIMIT = 1.0


@pytest.fixture
async def live(
    any_user: MailUser, any_device: Device, data_dir: Path, store: Store
) -> AsyncIterator[AccountSync]:
    """An account syncing live in the background (stopped at the end)."""
    any_device.append("INBOX", make_message(1))
    any_device.append("Archive", make_message(2))
    config = config_for(any_user, data_dir)
    # Without NOTIFY the engine polls: a short interval keeps the reduced server's test fast.
    settings = SyncSettings(poll_interval=0.3, backoff_initial=0.1, backoff_max=0.5)
    account_sync = AccountSync(config.accounts[0], store, settings)
    states = account_sync.events.subscribe()
    async with running_live(account_sync):
        await eventually(lambda: _online(states), within=10, what="online")
        await asyncio.wait_for(account_sync.wait_live(), timeout=10)
        await converge(store, any_device, limit=10)
        yield account_sync
    states.close()


async def _online(states: object) -> bool:
    from sync.events import Subscription

    assert isinstance(states, Subscription)
    while (event := states.get_nowait()) is not None:
        if isinstance(event, ConnectionStateChanged) and event.phase == ConnectionPhase.ONLINE:
            return True
    return False


async def _assert_reaches_store(store: Store, device: Device) -> None:
    elapsed = await converge(store, device, limit=5)
    assert elapsed < LATENCY_LIMIT, f"took {elapsed:.2f} s"


async def test_remote_changes_arrive_live(
    live: AccountSync, any_device: Device, store: Store
) -> None:
    # The watched folder (INBOX) and another folder (Archive), each kind of change.
    any_device.append("INBOX", make_message(10, subject="live append"))
    await _assert_reaches_store(store, any_device)
    inbox_uid = max(any_device.uids("INBOX"))
    any_device.add_flags("INBOX", [inbox_uid], ["\\Seen", "\\Flagged"])
    await _assert_reaches_store(store, any_device)
    any_device.append("Archive", make_message(11))
    await _assert_reaches_store(store, any_device)
    archive_uid = max(any_device.uids("Archive"))
    any_device.add_flags("Archive", [archive_uid], ["\\Flagged"])
    await _assert_reaches_store(store, any_device)
    any_device.move("INBOX", [inbox_uid], "Archive")
    await _assert_reaches_store(store, any_device)
    any_device.expunge("Archive", [archive_uid])
    await _assert_reaches_store(store, any_device)


async def test_folder_changes_arrive_live(
    live: AccountSync, any_device: Device, store: Store
) -> None:
    async def names() -> set[str]:
        return {f.display_name for f in await store.folders()}

    async def has(name: str) -> bool:
        return name in await names()

    async def lacks(name: str) -> bool:
        return name not in await names()

    any_device.create_folder("Receipts")
    assert await eventually(lambda: has("Receipts"), what="has Receipts") < LATENCY_LIMIT
    any_device.append("Receipts", make_message(20))
    await _assert_reaches_store(store, any_device)
    folder = next(f for f in await store.folders() if f.display_name == "Receipts")

    any_device.rename_folder("Receipts", "Receipts 2026")
    assert await eventually(lambda: has("Receipts 2026"), what="has Receipts 2026") < LATENCY_LIMIT
    await eventually(lambda: lacks("Receipts"), what="lacks Receipts")
    renamed = next(f for f in await store.folders() if f.display_name == "Receipts 2026")
    assert renamed.id == folder.id, "a rename keeps the folder and its messages"
    await _assert_reaches_store(store, any_device)

    any_device.delete_folder("Receipts 2026")
    assert (
        await eventually(lambda: lacks("Receipts 2026"), what="Receipts 2026 gone") < LATENCY_LIMIT
    )


async def test_new_mail_is_announced(live: AccountSync, any_device: Device) -> None:
    events = live.events.subscribe()
    try:
        any_device.append("INBOX", make_message(30, subject="fresh news"))

        async def announced() -> bool:
            while (event := events.get_nowait()) is not None:
                if isinstance(event, NewMail) and event.subject == "fresh news":
                    return True
            return False

        assert await eventually(announced, what="NewMail announced") < LATENCY_LIMIT
    finally:
        events.close()


def _unused(event: EngineEvent) -> None:  # keeps the import meaningful for type checkers
    del event


async def test_viewed_folder_is_watched_without_notify(
    reduced_user: MailUser, data_dir: Path, store: Store
) -> None:
    """On a server without NOTIFY, the folder the user looks at gets its own IDLE: its
    changes arrive at once, not at the next poll."""
    with Device.connect(reduced_user) as device:
        device.append("Archive", make_message(1))
        config = config_for(reduced_user, data_dir)
        account_sync = AccountSync(config.accounts[0], store, SyncSettings(poll_interval=600))
        async with running_live(account_sync):
            await asyncio.wait_for(account_sync.wait_live(), timeout=10)
            archive = next(f for f in await store.folders() if f.name == "Archive")
            account_sync.watch(archive.id)
            await asyncio.wait_for(account_sync.wait_watching_viewed(), timeout=10)
            device.add_flags("Archive", device.uids("Archive"), ["\\Flagged"])
            assert await converge(store, device, limit=5) < LATENCY_LIMIT
