"""Faults on the wire (through the loopback proxy): the engine reconnects and converges."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.dovecot import DovecotServer, MailUser
from sync.engine.account import AccountSync, SyncSettings
from sync.engine.events import ConnectionPhase, ConnectionStateChanged, SyncProgress
from sync.store import Store
from tests.engine.helpers import config_for, converge, running_live
from tests.rig.corpus import make_message, seed_maildir
from tests.rig.device import Device
from tests.rig.proxy import FaultProxy

FAST_RETRY = SyncSettings(poll_interval=0.3, backoff_initial=0.05, backoff_max=0.3, timeout=5.0)


@pytest.fixture
def any_proxy(any_server: DovecotServer) -> Iterator[FaultProxy]:
    """A fault proxy in front of ``any_server``."""
    with FaultProxy(any_server.host, any_server.imap_port) as fault_proxy:
        yield fault_proxy


async def test_cut_during_first_sync_fetch(
    any_user: MailUser,
    any_device: Device,
    any_proxy: FaultProxy,
    data_dir: Path,
    store: Store,
) -> None:
    if not isinstance(any_user.server, DovecotServer):
        # 2,500 APPENDs at Cyrus' ~44 ms a round trip would take the suite's time.
        pytest.skip("seeds by writing Dovecot's Maildir")
    seed_maildir(
        any_user.server, any_user.username, "INBOX", (make_message(i) for i in range(2500))
    )
    config = config_for(any_user, data_dir, port=any_proxy.port)
    account_sync = AccountSync(config.accounts[0], store, FAST_RETRY)
    events = account_sync.events.subscribe()
    cuts = 0
    offline_seen = False
    async with running_live(account_sync):
        async with asyncio.timeout(30):
            while cuts < 2:
                event = await events.get()
                # Cut twice in the middle of the first sync's batches.
                if isinstance(event, SyncProgress) and event.done < event.total:
                    any_proxy.cut()
                    cuts += 1
                    while True:
                        event = await events.get()
                        if isinstance(event, ConnectionStateChanged):
                            if event.phase == ConnectionPhase.OFFLINE:
                                offline_seen = True
                            if event.phase == ConnectionPhase.ONLINE:
                                break
        await converge(store, any_device)
        assert offline_seen
        inbox = next(f for f in await store.folders() if f.name == "INBOX")
        assert inbox.total == 2500
    events.close()


async def test_cut_during_idle_then_remote_changes(
    any_user: MailUser,
    any_device: Device,
    any_proxy: FaultProxy,
    data_dir: Path,
    store: Store,
) -> None:
    any_device.append("INBOX", make_message(1))
    config = config_for(any_user, data_dir, port=any_proxy.port)
    account_sync = AccountSync(config.accounts[0], store, FAST_RETRY)
    async with running_live(account_sync):
        await asyncio.wait_for(account_sync.wait_live(), timeout=10)
        await converge(store, any_device)
        any_proxy.stall(True)  # a dead link first: nothing moves, nothing is closed
        any_device.append("INBOX", make_message(2))
        await asyncio.sleep(0.3)  # the link stays dead for a while before it is cut
        any_proxy.cut()
        any_proxy.stall(False)
        any_device.add_flags("INBOX", any_device.uids("INBOX")[:1], ["\\Flagged"])
        await converge(store, any_device)
        # And the next live change after the reconnect still arrives.
        await asyncio.wait_for(account_sync.wait_live(), timeout=10)
        any_device.append("INBOX", make_message(3))
        await converge(store, any_device, limit=5)


async def test_refused_server_reports_offline_and_recovers(
    any_user: MailUser,
    any_device: Device,
    any_proxy: FaultProxy,
    data_dir: Path,
    store: Store,
) -> None:
    any_device.append("INBOX", make_message(1))
    any_proxy.refuse(True)
    config = config_for(any_user, data_dir, port=any_proxy.port)
    account_sync = AccountSync(config.accounts[0], store, FAST_RETRY)
    events = account_sync.events.subscribe()
    async with running_live(account_sync):
        async with asyncio.timeout(10):
            while True:
                event = await events.get()
                if isinstance(event, ConnectionStateChanged):
                    assert event.phase != ConnectionPhase.ONLINE
                    if event.phase == ConnectionPhase.OFFLINE:
                        assert event.retry_in is not None and event.retry_in > 0
                        assert event.detail
                        break
        any_proxy.refuse(False)
        await converge(store, any_device)
    events.close()
