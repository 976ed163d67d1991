"""A server of the oldest kind (IMAP4rev1 alone: no IDLE, no NOTIFY) and reconnect discipline.

The server is the rig's Dovecot advertising only ``IMAP4rev1``, behind ``StrictProxy``, which
refuses every command the server did not advertise, as a real such server would (Dovecot alone
would accept them). Live sync there is a poll: the folder on screen every
``viewed_poll_interval``, the rest every ``poll_interval``, over one connection.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.backoff import LoginRate
from sync.dovecot import REV1_CAPABILITY, MailUser
from sync.engine.account import AccountSync, SyncSettings
from sync.engine.events import ConnectionPhase, ConnectionStateChanged
from sync.ops import Operations
from sync.ops.replay import Replayer
from sync.store import Store
from tests.engine.helpers import config_for, running_live
from tests.rig.corpus import make_message
from tests.rig.device import Device
from tests.rig.proxy import FaultProxy
from tests.rig.strict import StrictProxy
from tests.waits import eventually

POLL = 3.0
VIEWED_POLL = 1.0


@pytest.fixture
def strict(rev1_user: MailUser) -> Iterator[StrictProxy]:
    """The IMAP4rev1-only server as a client meets it: unadvertised commands refused."""
    with StrictProxy(rev1_user.server.host, rev1_user.server.imap_port, [REV1_CAPABILITY]) as p:
        yield p


def _engine(
    user: MailUser, store: Store, data_dir: Path, port: int, **settings: object
) -> AccountSync:
    account = config_for(user, data_dir, port=port).accounts[0]
    replayer = Replayer(store, account.name)
    sync = AccountSync(
        account,
        store,
        SyncSettings(prefetch="none", **settings),  # type: ignore[arg-type]
        operations=replayer,
    )
    replayer.refresh_folders = sync.sync_folder_list  # as sync.engine.runner wires it
    return sync


async def _flags(store: Store, folder_name: str) -> dict[int, frozenset[str]]:
    folder = next(f for f in await store.folders() if f.name == folder_name)
    rows = await store.messages(folder.id, await store.folder_uids(folder.id))
    return {m.uid: frozenset(m.flags) for m in rows}


async def test_live_sync_on_an_imap4rev1_server_polls_over_one_login(
    rev1_user: MailUser, strict: StrictProxy, store: Store, data_dir: Path
) -> None:
    with Device.connect(rev1_user) as device:
        device.append("INBOX", make_message(1))
        device.append("Archive", make_message(2))
        sync = _engine(
            rev1_user,
            store,
            data_dir,
            strict.port,
            poll_interval=POLL,
            viewed_poll_interval=VIEWED_POLL,
        )
        async with running_live(sync) as task:
            await asyncio.wait_for(sync.wait_live(), timeout=10)
            archive = next(f for f in await store.folders() if f.name == "Archive")
            inbox = next(f for f in await store.folders() if f.name == "INBOX")
            sync.watch(archive.id)

            # Another device: a flag in the folder on screen, new mail in the other one.
            device.add_flags("Archive", device.uids("Archive"), ["\\Flagged"])
            device.append("INBOX", make_message(3))
            took = await eventually(
                lambda: _has_flag(store, "Archive", "\\Flagged"), within=VIEWED_POLL + 2
            )
            assert took <= VIEWED_POLL + 2
            await eventually(
                lambda: _count(store, inbox.id, 2), within=POLL + 2, what="new INBOX mail"
            )

            # A change made here reaches the server.
            flags = await _flags(store, "INBOX")
            uid = min(uid for uid, f in flags.items() if "\\Seen" not in f)
            await Operations(store).mark_read(inbox.id, [uid])
            await eventually(
                lambda: "\\Seen" in device.flags("INBOX")[uid], within=5, what="\\Seen upstream"
            )
            assert not task.done()
    assert strict.refused == [], strict.refused
    assert strict.logins == 1  # the worker alone: nothing to IDLE with, nothing to watch on


async def _has_flag(store: Store, folder_name: str, flag: str) -> bool:
    return any(flag in flags for flags in (await _flags(store, folder_name)).values())


async def _count(store: Store, folder_id: int, count: int) -> bool:
    return len(await store.folder_uids(folder_id)) == count


async def test_the_poll_is_said_in_the_online_state(
    rev1_user: MailUser, strict: StrictProxy, store: Store, data_dir: Path
) -> None:
    sync = _engine(rev1_user, store, data_dir, strict.port, poll_interval=60)
    with sync.events.subscribe() as events:
        async with running_live(sync):
            await asyncio.wait_for(sync.wait_live(), timeout=10)
        online = [
            e
            for e in iter(events.get_nowait, None)
            if isinstance(e, ConnectionStateChanged) and e.phase == ConnectionPhase.ONLINE
        ]
    assert online and "no IDLE" in online[0].detail and "60 s" in online[0].detail


def _cut_every(proxy: FaultProxy, seconds: float, stop: threading.Event) -> None:
    while not stop.wait(seconds):
        proxy.cut()


async def _logins_while_dropped(
    user: MailUser, store: Store, data_dir: Path, *, seconds: float, **settings: object
) -> int:
    """Run live for ``seconds`` through a link that drops every connection soon after login;
    return how many connections (each one a login) the engine opened."""
    with FaultProxy(user.server.host, user.server.imap_port) as proxy:
        sync = _engine(user, store, data_dir, proxy.port, **settings)
        stop = threading.Event()
        cutter = threading.Thread(target=_cut_every, args=(proxy, 0.3, stop), daemon=True)
        cutter.start()
        try:
            async with running_live(sync):
                await asyncio.sleep(seconds)
        finally:
            stop.set()
            cutter.join()
        return proxy.accepted


async def test_backoff_grows_when_every_session_dies_right_after_login(
    mail_user: MailUser, store: Store, data_dir: Path
) -> None:
    # Backoff 0.4, 0.8, 1.6, 3.2 s (jitter takes up to half off): in 6 s at most 5 sessions
    # of 2 connections. Starting over after every login it would be one session every
    # ~0.5 s: over 20 connections.
    connections = await _logins_while_dropped(
        mail_user,
        store,
        data_dir,
        seconds=6,
        backoff_initial=0.4,
        backoff_max=30,
        logins_per_minute=1000,
    )
    assert 2 <= connections <= 12, connections


async def test_logins_per_minute_are_capped_whatever_the_backoff(
    mail_user: MailUser, store: Store, data_dir: Path
) -> None:
    connections = await _logins_while_dropped(
        mail_user,
        store,
        data_dir,
        seconds=5,
        backoff_initial=0.05,
        backoff_max=0.05,
        healthy_after=0,  # every session "healthy": the backoff alone would not hold
        logins_per_minute=3,
    )
    assert connections == 3


def test_login_rate_allows_the_limit_per_window() -> None:
    now = [100.0]
    rate = LoginRate(limit=2, window=60.0, clock=lambda: now[0])
    assert rate.wait_needed() == 0
    rate.record()
    now[0] += 10
    rate.record()
    assert rate.wait_needed() == pytest.approx(50.0)
    now[0] += 50
    assert rate.wait_needed() == 0  # the first login left the window
    with pytest.raises(ValueError):
        LoginRate(limit=0)
