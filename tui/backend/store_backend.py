"""The real `Backend`: the TUI over the store, the sync engine and the operations queue.

Reads come from the store (keyset pages, counts kept by the store); changes go through
``sync.ops.Operations`` (the store changes at once, the server follows) and are remembered on
a ``sync.ops.undo.UndoStack``. The parts live beside this facade:

- `tui.backend.supervisor.EngineSupervisor`: accounts, background tasks, event pumps, the
  engine (started once the first rows are painted) and new mail;
- `tui.backend.sending.Sending`: drafts, the outbox and Drafts;
- `tui.backend.queue_control.QueueControl`: the queue view's list, retry and discard.

Ownership: ``async with StoreBackend(...)`` starts the supervisor; leaving the block stops
every task, logs the download connections out and releases the account locks; the caller then
closes the store (its aiosqlite threads are not daemons).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, assert_never

from sync.clean import clean_text
from sync.config import Config
from sync.events import EventBus
from sync.imap import decode_mailbox
from sync.store import FolderRow, Store
from tui.backend.sending import Sending
from tui.backend.store_adapter import StoreSource
from tui.backend.supervisor import AccountRuntime, EngineSupervisor
from tui.errors import describe_error
from tui.protocol import (
    AccountInfo,
    ActionRequest,
    Archive,
    BackendEvent,
    ComposeKind,
    ComposeStart,
    Delete,
    FolderInfo,
    MessageHeaders,
    MessageSource,
    Move,
    QueueItem,
    SetFlagged,
    SetRead,
)

if TYPE_CHECKING:  # the engine (IMAP client, parser) loads after the first rows are painted
    # So do the operations queue and writing mail (they load the email package): on use.
    from sync.compose import Draft
    from sync.engine.account import SyncSettings
    from sync.ops import Operations
    from sync.ops.undo import UndoResult, UndoStack
    from tui.backend.queue_control import QueueControl

__all__ = ["BodyUnavailable", "StoreBackend"]

log = logging.getLogger(__name__)

_SEEN = "\\Seen"
_FLAGGED = "\\Flagged"
_OFFLINE_FETCH_TIMEOUT = 5.0


class BodyUnavailable(Exception):
    """A message's body could not be downloaded; the text says why in words."""


class StoreBackend:
    """The `tui.protocol.Backend` over a real store and engine; use as ``async with``."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        lock_dir: Path,
        settings: SyncSettings | None = None,
        run_engine: bool = True,
        external_interval: float = 0.2,
        fetch_timeout: float = 30.0,
    ) -> None:
        self.config = config
        self.store = store
        self.fetch_timeout = fetch_timeout
        self._events: EventBus[BackendEvent] = EventBus()
        self.supervisor = EngineSupervisor(
            config,
            store,
            self._events,
            lock_dir=lock_dir,
            settings=settings,
            run_engine=run_engine,
            external_interval=external_interval,
        )
        self.sending = Sending(store, self.supervisor, self)
        self._operations: Operations | None = None
        self._undo: UndoStack | None = None
        self._queue: QueueControl | None = None
        self._folder_accounts: dict[int, int] = {}

    # ----------------------------------------------------------------- lifetime

    async def __aenter__(self) -> StoreBackend:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Name the accounts, subscribe to the store and engine, start the tasks.

        On failure nothing is left running or locked.
        """
        try:
            await self.supervisor.start()
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Stop every task and wait for it; log out of download connections; free the locks.

        The store stays open: whoever opened it closes it, after this.
        """
        await self.supervisor.aclose()
        self._events.close()

    def ui_ready(self) -> None:
        """The first rows are painted: the engine may load now."""
        self.supervisor.ui_ready()

    async def wait_live(self) -> None:
        """Wait until every account synced here has done its first pass and listens for
        changes (tests and benchmarks)."""
        await self.supervisor.wait_live()

    @property
    def settings(self) -> SyncSettings:
        """The engine's settings (from the config unless given)."""
        return self.supervisor.settings

    @property
    def operations(self) -> Operations:
        """The operations queue (loaded on first use: the first frame needs no change)."""
        if self._operations is None:
            from sync.ops import Operations

            self._operations = Operations(self.store)
        return self._operations

    @property
    def undo_stack(self) -> UndoStack:
        """The changes made through this interface that ``undo`` can reverse."""
        if self._undo is None:
            from sync.ops.undo import UndoStack

            self._undo = UndoStack(
                self.store, self.operations, before_move_back=self.supervisor.remember_moved
            )
        return self._undo

    @property
    def queue(self) -> QueueControl:
        """The queue view's list, retry and discard (loaded on first use)."""
        if self._queue is None:
            from tui.backend.queue_control import QueueControl

            self._queue = QueueControl(self.store, self.supervisor, self.operations)
        return self._queue

    # ----------------------------------------------------------------- Backend: reads

    @property
    def events(self) -> EventBus[BackendEvent]:
        """Typed change events for the interface."""
        return self._events

    def current_state(self) -> Sequence[BackendEvent]:
        """Each account's connection state and the queue counts, as of now."""
        return self.supervisor.current_state()

    async def accounts(self) -> Sequence[AccountInfo]:
        """Configured accounts, in config order."""
        return [runtime.info for runtime in self.supervisor.accounts.values()]

    async def folders(self) -> Sequence[FolderInfo]:
        """The folders the engine keeps (subscribed, selectable), with counts."""
        show_all, virtual = self.config.show_all_folders, self.config.sync_virtual_folders
        held = self.supervisor.by_id
        shown: list[FolderInfo] = []
        for folder in await self.store.folders():
            if folder.account_id not in held or not folder.syncable(
                show_all=show_all, virtual=virtual
            ):
                continue
            self._folder_accounts[folder.id] = folder.account_id
            shown.append(
                FolderInfo(
                    id=folder.id,
                    account_id=folder.account_id,
                    name=folder.name,
                    display_name=folder.display_name,
                    delimiter=folder.delimiter,
                    special_use=folder.special_use,
                    unread=folder.unread,
                    total=folder.total,
                )
            )
        return shown

    def source(self, folder_id: int) -> MessageSource:
        """Keyset pages of the folder from the store."""
        return StoreSource(self.store, folder_id)

    async def filtered_source(self, folder_id: int, query: str) -> MessageSource | None:
        """The folder's messages matching ``query`` (raises ``QueryError`` when it cannot be
        understood)."""
        return await self._search(query, folder_id, (folder_id,))

    async def search_source(self, folder_id: int, query: str) -> MessageSource | None:
        """Every folder's messages matching ``query``, started from ``folder_id`` (raises
        ``QueryError`` when it cannot be understood)."""
        return await self._search(query, folder_id, None)

    async def _search(
        self, text: str, home: int, scope: Sequence[int] | None
    ) -> MessageSource | None:
        # Search and threads load when first used, not at start.
        from sync.search import parse_query
        from sync.store.search import SearchKey, folders_needing_server, search_messages
        from tui.search_view import SearchHit, SearchSource, ServerNews

        query = parse_query(text)
        store = self.store

        async def pager(after: tuple[int, int, int] | None, limit: int) -> list[SearchHit]:
            key = SearchKey(*after) if after is not None else None
            rows = await search_messages(store, query, after=key, limit=limit, folder_ids=scope)
            return [SearchHit(row.internaldate, row.folder_id, row) for row in rows]

        async def server_phase(shown: Collection[tuple[int, int]]) -> AsyncIterator[ServerNews]:
            from sync.engine.search_phases import ServerUnavailable, search_servers

            results = search_servers(
                store,
                query,
                self.config.accounts,
                shown=shown,
                folder_ids=scope,
                settings=self.settings,
            )
            async for result in results:
                if isinstance(result, ServerUnavailable):
                    yield ServerNews(unavailable=f"{result.account}: {result.reason}")
                else:
                    hits = [SearchHit(r.internaldate, r.folder_id, r) for r in result.rows]
                    yield ServerNews(hits=hits, not_synced=result.not_synced)

        needs_server = bool(await folders_needing_server(store, query, folder_ids=scope))
        return SearchSource(pager, home, server_phase=server_phase if needs_server else None)

    async def thread_source(self, folder_id: int) -> MessageSource | None:
        """The folder as threads (the store keeps the thread cache)."""
        # Search and threads load when first used, not at start.
        from sync.store.search import ThreadRow, thread_page, thread_rows
        from tui.search_view import ThreadItem, ThreadSource

        store = self.store

        async def heads(after: tuple[int, int, int] | None, limit: int) -> list[ThreadRow]:
            return await thread_page(store, folder_id, after=after, limit=limit, collapsed=True)

        async def members(head: ThreadItem) -> list[ThreadRow]:
            assert isinstance(head, ThreadRow)  # this source only ever hands back our rows
            return await thread_rows(store, head)

        return ThreadSource(folder_id, heads, members)

    async def message(self, folder_id: int, uid: int) -> MessageHeaders | None:
        """One message row from the store."""
        return await self.store.message(folder_id, uid)

    def watch(self, folder_id: int | None) -> None:
        """Tell the engine of the folder's account which folder is on screen."""
        account_id = self._folder_accounts.get(folder_id) if folder_id is not None else None
        self.supervisor.watch(folder_id, account_id)

    async def cached_body(self, folder_id: int, uid: int) -> bytes | None:
        """The stored raw message, or None when it is not stored (never downloads)."""
        return await self.store.body(folder_id, uid)

    async def body(self, folder_id: int, uid: int) -> bytes | None:
        """The stored raw message, else downloaded now (kept in the store for next time).

        A large message comes text first, as a `sync.mime.message.PartialMessage` (not
        stored; its attachments come with `whole_body`). Returns None for a message the
        server does not have (yet): one added here and not uploaded, or one gone meanwhile.
        Raises `BodyUnavailable` when downloading failed.
        """
        return await self._body(folder_id, uid, whole=False)

    async def whole_body(self, folder_id: int, uid: int) -> bytes | None:
        """Like `body`, but always the whole message, downloaded and kept if need be."""
        return await self._body(folder_id, uid, whole=True)

    async def _body(self, folder_id: int, uid: int, *, whole: bool) -> bytes | None:
        cached = await self.store.body(folder_id, uid)
        if cached is not None or uid <= 0:  # a provisional row: not on the server yet
            return cached
        folder = await self.store.folder(folder_id)
        runtime = self.supervisor.by_id.get(folder.account_id) if folder is not None else None
        if folder is None or runtime is None:
            return None
        # Known to be offline: try, but do not keep the reader on "Loading…" for long.
        timeout: float | None = self.fetch_timeout
        if runtime.unreachable:
            timeout = min(self.fetch_timeout, _OFFLINE_FETCH_TIMEOUT)
        elif whole:
            # Tens of megabytes may take minutes on a slow link; the IMAP client's own
            # timeout still catches a server that stops sending.
            timeout = None
        try:
            fetch = self.supervisor.fetcher(runtime).fetch(folder, uid, whole=whole)
            return await asyncio.wait_for(fetch, timeout)
        except Exception as error:  # connection, protocol or store: all shown in words
            log.info("%s: downloading %s/%s failed: %r", runtime.info.name, folder.name, uid, error)
            raise BodyUnavailable(_download_problem(runtime, error)) from error

    # ----------------------------------------------------------------- Backend: changes

    async def perform(self, request: ActionRequest) -> str:
        """Apply an operation in the store at once and queue it for the server."""
        folder = await self._folder(request.folder_id)
        uids = list(request.uids)
        if not uids:
            return "Nothing selected"
        if isinstance(request, SetRead | SetFlagged):
            return await self._change_flag(request, folder, uids)
        rows = {row.uid: row for row in await self.store.messages(folder.id, uids)}
        match request:
            case Delete():
                queued = await self.operations.delete(folder.id, uids)
                verb = "Deleted"
            case Archive():
                archive = self.supervisor.by_id[folder.account_id].config.archive_folder
                queued = await self.operations.archive(folder.id, uids, archive_folder=archive)
                verb = "Archived"
            case Move(dest_folder_id=dest_folder_id):
                queued = await self.operations.move(folder.id, uids, dest_folder_id)
                verb = "Moved"
            case _:
                assert_never(request)
        count = _count(len(rows))
        self.supervisor.remember_moved(row.message_id for row in rows.values())
        if not queued.provisional:
            return f"{verb} {count} for good (this cannot be undone)"
        undo = self.undo_stack
        if request.implicit:
            dest_id = await undo.destination(queued)
        else:
            noun = {"Deleted": "delete", "Archived": "archive"}.get(verb, "move")
            dest_id = await undo.push_move(folder.id, rows, queued, noun)
        dest = await self.store.folder(dest_id) if dest_id is not None else None
        where = f" to {decode_mailbox(dest.name)}" if dest is not None else ""
        return clean_text(f"{verb} {count}{where} (z undoes)")

    async def _change_flag(
        self, request: SetRead | SetFlagged, folder: FolderRow, uids: list[int]
    ) -> str:
        flag = _SEEN if isinstance(request, SetRead) else _FLAGGED
        on = request.value
        rows = await self.store.messages(folder.id, uids)
        # Only the messages that really change: undo must not unflag what was flagged before.
        changing = [row.uid for row in rows if (row.seen if flag == _SEEN else row.flagged) != on]
        if flag == _SEEN:
            await self.operations.mark_read(folder.id, uids, on)
            what = "read" if on else "unread"
            summary = f"Marked {_count(len(rows))} {what}"
        else:
            await self.operations.flag(folder.id, uids, on)
            summary = f"{'Flagged' if on else 'Unflagged'} {_count(len(rows))}"
        if not request.implicit:
            label = summary[0].lower() + summary[1:]
            self.undo_stack.push_flags(folder.id, changing, flag, on, label)
        return summary

    async def undo(self) -> str | None:
        """Undo the last operation done here (by queueing its inverse)."""
        if self._undo is None:
            return None
        return await self._undo_words(await self._undo.undo())

    async def _undo_words(self, result: UndoResult | None) -> str | None:
        from sync.ops.undo import AlreadyGone, FlagsRestored, MovedBack

        match result:
            case None:
                return None
            case FlagsRestored(label=label):
                return f"Undid: {label}"
            case AlreadyGone():
                return "Nothing to undo: those messages are no longer there"
            case MovedBack(label=label, count=count, source_id=source_id):
                source = await self.store.folder(source_id)
                where = f" to {decode_mailbox(source.name)}" if source is not None else ""
                return clean_text(f"Undid the {label}: {_count(count)} back{where}")
            case _:
                assert_never(result)

    async def _folder(self, folder_id: int) -> FolderRow:
        folder = await self.store.folder(folder_id)
        if folder is None:
            raise ValueError("that folder is gone")
        return folder

    # ----------------------------------------------------------------- Backend: writing

    async def compose(
        self, kind: ComposeKind, folder_id: int, uid: int | None
    ) -> ComposeStart | str:
        """A draft to edit (see `Sending.compose`); raises `BodyUnavailable` when the
        original cannot be downloaded now."""
        return await self.sending.compose(kind, folder_id, uid)

    async def send_draft(self, start: ComposeStart, draft: Draft) -> str:
        """Put the message in the outbox with its follow-ups (see `Sending.send_draft`)."""
        return await self.sending.send_draft(start, draft)

    async def postpone_draft(self, start: ComposeStart, draft: Draft) -> str:
        """File the message in the Drafts folder (see `Sending.postpone_draft`)."""
        return await self.sending.postpone_draft(start, draft)

    async def address_pairs(self, account: str) -> Sequence[tuple[str, str]]:
        """Senders and recipients of the account's newest mail, for address completion."""
        return await self.sending.address_pairs(account)

    # ----------------------------------------------------------------- Backend: the queue

    async def queue_items(self) -> Sequence[QueueItem]:
        """Every account's queued operations, then its outbox (see `QueueControl`)."""
        return await self.queue.queue_items()

    async def retry(self, item: QueueItem) -> str:
        """Queue a failed item again, or try a held-back one now."""
        return await self.queue.retry(item)

    async def discard(self, item: QueueItem) -> str:
        """Forget a failed change or outgoing message (raises when it is not failed)."""
        return await self.queue.discard(item)


def _count(number: int) -> str:
    return f"{number} message{'s' if number != 1 else ''}"


def _download_problem(runtime: AccountRuntime, error: BaseException) -> str:
    """Why a body could not be downloaded, in words."""
    state = runtime.state.text
    reason = describe_error(error)
    if isinstance(error, TimeoutError):
        reason = "the server did not answer in time"
    if runtime.unreachable:
        return f"{runtime.info.name} is {state}; it will be shown once it is downloaded ({reason})"
    return clean_text(reason, max_length=300)
