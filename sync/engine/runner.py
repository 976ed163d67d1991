"""Running the engine for every configured account: once, or live until cancelled.

``mailtui sync`` and the TUI both use this. Each account is synced by at most one process
(``AccountLock``); an account locked elsewhere is skipped here, and its changes reach this
process's store through ``ExternalChange`` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sync.config import AccountConfig, Config
from sync.engine.account import AccountSync, SyncSettings
from sync.engine.events import EngineEvent
from sync.engine.lock import AccountLock, AccountLocked
from sync.events import EventBus
from sync.ops import Replayer
from sync.outbox import OutboxSender
from sync.store import Store

__all__ = ["SyncRun", "open_account_syncs"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SyncRun:
    """The accounts this process syncs (lock held) and those another process syncs."""

    syncs: list[AccountSync] = field(default_factory=list)
    locked_elsewhere: list[str] = field(default_factory=list)
    _locks: list[AccountLock] = field(default_factory=list)

    async def run_once(self) -> None:
        """Sync every account this process holds once, one after another."""
        for account_sync in self.syncs:
            await account_sync.run_once()

    async def run_live(self) -> None:
        """Keep every held account live until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            for account_sync in self.syncs:
                tasks.create_task(account_sync.run_live(), name=f"sync {account_sync.account.name}")

    def release(self) -> None:
        """Give the account locks up."""
        for lock in self._locks:
            lock.release()
        self._locks.clear()


@contextlib.contextmanager
def open_account_syncs(
    config: Config,
    store: Store,
    lock_dir: Path,
    *,
    accounts: Sequence[AccountConfig] | None = None,
    events: EventBus[EngineEvent] | None = None,
    settings: SyncSettings | None = None,
) -> Iterator[SyncRun]:
    """Lock and prepare an ``AccountSync`` per account; release the locks on exit."""
    run = SyncRun()
    bus: EventBus[EngineEvent] = events or EventBus()
    chosen = config.accounts if accounts is None else accounts
    try:
        for account in chosen:
            lock = AccountLock(lock_dir, account.name)
            try:
                lock.acquire()
            except AccountLocked:
                log.info("%s is synced by another process", account.name)
                run.locked_elsewhere.append(account.name)
                continue
            run._locks.append(lock)
            replayer = Replayer(store, account.name)
            account_sync = AccountSync(
                account,
                store,
                settings or SyncSettings.from_config(config),
                events=bus,
                operations=replayer,
                outbox=OutboxSender(store, account),
            )
            # A folder an operation names may have been renamed elsewhere: the replayer asks
            # for a folder-list sync before it gives up on it.
            replayer.refresh_folders = account_sync.sync_folder_list
            run.syncs.append(account_sync)
        yield run
    finally:
        run.release()
