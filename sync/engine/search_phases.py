"""A search in two phases: local results at once, then the server's for what is not cached.

:func:`search_servers` is the second phase: it asks each account whose folders hold mail
without an indexed body (:func:`sync.store.search.folders_needing_server`) to run the query
with ``UID SEARCH`` and yields what it finds folder by folder, as it arrives, minus what the
local phase already showed. An account that cannot be reached yields
:class:`ServerUnavailable` (the caller says "offline: local results only") and the search
goes on with the next one.

Part of the engine (it connects like a sync does), not of ``sync.search``, which stays free of
the store and the network: the layers point one way (sync/layers.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass

from sync.config import AccountConfig
from sync.engine.account import AccountFatalError, AccountSync, SyncSettings
from sync.imap import ImapClient, ImapCommandError, ImapError
from sync.search.query import Query
from sync.search.server import server_search
from sync.store import FolderRow, MessageRow, Store
from sync.store.search import folders_needing_server

__all__ = ["ServerHits", "ServerUnavailable", "search_servers"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServerHits:
    """Server results in one folder that the local phase did not show.

    ``rows`` are the store's rows of those UIDs, newest first; ``not_synced`` counts UIDs the
    server found that the store does not hold yet (they appear after the next sync).
    """

    account: str
    folder: FolderRow
    rows: tuple[MessageRow, ...]
    not_synced: int


@dataclass(frozen=True, slots=True)
class ServerUnavailable:
    """An account's server could not be asked; ``reason`` says why, in words."""

    account: str
    reason: str


async def search_servers(
    store: Store,
    query: Query,
    accounts: Sequence[AccountConfig],
    *,
    shown: Collection[tuple[int, int]] = (),
    folder_ids: Sequence[int] | None = None,
    settings: SyncSettings | None = None,
) -> AsyncIterator[ServerHits | ServerUnavailable]:
    """The server phase of ``query``: yields results folder by folder as they arrive.

    ``shown`` holds the (folder id, UID) pairs the local phase already listed; ``folder_ids``
    limits the scope as it did locally. One connection per account, opened and closed here.
    """
    needing = set(await folders_needing_server(store, query, folder_ids=folder_ids))
    if not needing:
        return
    by_name = {account.name: account for account in accounts}
    account_names = {row.id: row.name for row in await store.accounts()}
    folders: dict[str, list[FolderRow]] = {}
    for folder in await store.folders():
        if folder.id in needing:
            folders.setdefault(account_names[folder.account_id], []).append(folder)
    seen = set(shown)
    for name, wanted in folders.items():
        account = by_name.get(name)
        if account is None:
            continue  # an account no longer in the config
        sync = AccountSync(account, store, settings or SyncSettings(timeout=15.0))
        try:
            client, _ = await sync.connect()
        except (AccountFatalError, ImapError, OSError, TimeoutError) as exc:
            yield ServerUnavailable(name, str(exc) or type(exc).__name__)
            continue
        try:
            async for hits in _search_account(client, store, name, wanted, query, seen):
                yield hits
        except (ImapError, OSError, TimeoutError) as exc:
            yield ServerUnavailable(name, str(exc) or type(exc).__name__)
        finally:
            try:
                await client.logout()
            except (ImapError, OSError, TimeoutError):
                await client.close()


async def _search_account(
    client: ImapClient,
    store: Store,
    account: str,
    folders: list[FolderRow],
    query: Query,
    seen: set[tuple[int, int]],
) -> AsyncIterator[ServerHits]:
    for folder in folders:
        try:
            uids = await server_search(client, folder, query)
        except ImapCommandError as exc:
            # Gone or renamed since the last sync, or a server refusing a key: skip it.
            log.info("%s: cannot search %s: %s", account, folder.name, exc)
            continue
        fresh = [uid for uid in uids if (folder.id, uid) not in seen]
        if not fresh:
            continue
        rows = await store.messages(folder.id, fresh)
        seen.update((folder.id, uid) for uid in fresh)
        rows.sort(key=lambda row: (row.internaldate, row.uid), reverse=True)
        yield ServerHits(account, folder, tuple(rows), len(fresh) - len(rows))
