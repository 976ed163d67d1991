"""Helpers for the operations tests: an engine with the replayer, and content snapshots."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sync.cyrus import CyrusUser
from sync.dovecot import MailUser
from sync.engine.account import AccountSync, SyncSettings
from sync.imap import decode_mailbox
from sync.ops import Replayer
from sync.store import Store
from tests.engine.helpers import config_for
from tests.engine.helpers import write_config as engine_write_config
from tests.rig.device import Device

Content = dict[str, Counter[tuple[str | None, frozenset[str]]]]


def engine(
    user: MailUser | CyrusUser, store: Store, data_dir: Path, **settings: object
) -> AccountSync:
    """An ``AccountSync`` for the rig user, with the operations replayer wired in."""
    config = config_for(user, data_dir)
    account = config.accounts[0]
    replayer = Replayer(store, account.name)
    sync = AccountSync(
        account,
        store,
        SyncSettings(prefetch="none", **settings),  # type: ignore[arg-type]
        operations=replayer,
    )
    replayer.refresh_folders = sync.sync_folder_list  # as sync.engine.runner wires it
    return sync


def _norm(flags: object) -> frozenset[str]:
    assert isinstance(flags, tuple | frozenset | list | set)
    return frozenset(str(flag).lower() for flag in flags if str(flag).lower() != "\\recent")


async def store_content(store: Store) -> Content:
    """Every folder's messages as a multiset of (Message-ID, flags), UIDs left out."""
    content: Content = {}
    for folder in await store.folders():
        rows: Counter[tuple[str | None, frozenset[str]]] = Counter()
        after = None
        while page := await store.page(folder.id, after=after, limit=500):
            rows.update((row.message_id, _norm(row.flags)) for row in page)
            after = page[-1].sort_key
        content[decode_mailbox(folder.name)] = rows
    return content


def server_content(device: Device) -> Content:
    """The same shape, as the other device reads the server."""
    content: Content = {}
    for folder in device.folders():
        flags = device.flags(folder)
        ids = device.message_ids(folder)
        content[folder] = Counter((ids.get(uid), _norm(flags[uid])) for uid in flags)
    return content


def write_config(user: MailUser, data_dir: Path) -> Path:
    """A config file for ``mailtui`` subprocesses pointing at the rig user (no prefetch)."""
    return engine_write_config(user, data_dir, extra='prefetch = "none"')
