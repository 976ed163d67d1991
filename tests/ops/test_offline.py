"""100 mixed operations made offline, then replayed: the server ends exactly as the store
showed it at once; nothing lost or doubled, also with a kill -9 during the replay."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from sync.dovecot import MailUser
from sync.imap import ImapError
from sync.ops import Operations
from sync.store import Store
from tests.engine.helpers import config_for, server_state, store_state
from tests.ops.helpers import Content, engine, server_content, store_content, write_config
from tests.rig.corpus import make_message
from tests.rig.device import Device
from tests.rig.proxy import FaultProxy

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("INBOX", "Archive", "Trash", "Work")


async def make_changes(store: Store, rng: random.Random, count: int) -> Content:
    """Queue ``count`` random operations (chains on provisional rows included); return what
    the store shows afterwards, which is what the server must end with."""
    ops = Operations(store)
    by_name = {f.display_name: f for f in await store.folders()}
    next_message = 100
    for _ in range(count):
        name = rng.choice(FOLDERS)
        folder = by_name[name]
        held = list(await store.folder_uids(folder.id))
        kind = rng.choice(
            ["read", "unread", "flag", "keyword", "move", "move", "copy", "delete", "append"]
        )
        if kind == "append" or not held:
            await ops.append(folder.id, make_message(next_message), rng.choice([[], ["\\Seen"]]))
            next_message += 1
            continue
        uids = rng.sample(held, min(len(held), rng.randint(1, 3)))
        other = by_name[rng.choice([n for n in FOLDERS if n != name])]
        if kind in ("read", "unread"):
            await ops.mark_read(folder.id, uids, kind == "read")
        elif kind == "flag":
            await ops.flag(folder.id, uids, rng.random() < 0.7)
        elif kind == "keyword":
            await ops.set_keywords(
                folder.id,
                uids,
                add=["$Label1"] if rng.random() < 0.6 else [],
                remove=["$Label1"] if rng.random() < 0.4 else [],
            )
        elif kind == "move":
            await ops.move(folder.id, uids, other.id)
        elif kind == "copy":
            await ops.copy(folder.id, uids[:1], other.id)
        else:
            await ops.delete(folder.id, uids)
    return await store_content(store)


async def prepare(user: MailUser, device: Device, store: Store, data_dir: Path) -> None:
    device.create_folder("Work")
    for index in range(1, 13):
        device.append(FOLDERS[index % 3], make_message(index), ["\\Seen"] if index % 2 else [])
    await engine(user, store, data_dir).run_once()


async def test_changes_made_while_unreachable_go_out_on_reconnect(
    any_user: MailUser, any_device: Device, store: Store, data_dir: Path
) -> None:
    device = any_device
    await prepare(any_user, device, store, data_dir)
    proxy = FaultProxy(any_user.server.host, any_user.server.imap_port)
    try:
        await _offline_then_online(any_user, device, store, data_dir, proxy)
    finally:
        proxy.close()


async def _offline_then_online(
    user: MailUser, device: Device, store: Store, data_dir: Path, proxy: FaultProxy
) -> None:
    config = config_for(user, data_dir, port=proxy.port)
    from sync.engine.account import AccountSync, SyncSettings
    from sync.ops import Replayer

    sync = AccountSync(
        config.accounts[0],
        store,
        SyncSettings(prefetch="none", timeout=5),
        operations=Replayer(store, "test"),
    )
    proxy.refuse(True)
    expected = await make_changes(store, random.Random(7), 100)
    with pytest.raises((ImapError, OSError)):
        await sync.run_once()
    assert len(await store.pending_operations(1)) > 0  # kept, untouched, while unreachable
    proxy.refuse(False)
    await sync.run_once()
    assert server_content(device) == expected
    assert await store_state(store) == server_state(device)
    assert await store.pending_operations(1, include_failed=True) == []


def _sync_child(config: Path, crash_at: int | None) -> int:
    env = {**os.environ}
    if crash_at is not None:
        env["CRASH_AT"] = str(crash_at)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.engine.crash_child",
            "--config",
            str(config),
            "sync",
            "--once",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=120,
        check=False,
    )
    return done.returncode


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_kill_9_during_replay_loses_and_doubles_nothing(
    seed: int, any_user: MailUser, any_device: Device, data_dir: Path
) -> None:
    path = data_dir / "mailtui.sqlite3"
    store = await Store.open(path)
    try:
        await prepare(any_user, any_device, store, data_dir)
        rng = random.Random(seed)
        expected = await make_changes(store, rng, 100)
    finally:
        await store.close()
    config = write_config(any_user, data_dir)
    # The replay commits a few times per operation: crash somewhere inside it.
    status = await asyncio.to_thread(_sync_child, config, rng.randint(2, 60))
    assert status == -9
    assert await asyncio.to_thread(_sync_child, config, None) == 0
    store = await Store.open(path)
    try:
        assert server_content(any_device) == expected
        assert await store_state(store) == server_state(any_device)
        assert await store.pending_operations(1, include_failed=True) == []
    finally:
        await store.close()
