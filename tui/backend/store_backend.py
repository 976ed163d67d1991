"""The real `Backend`: the TUI over the store, the sync engine and the operations queue.

Reads come from the store (keyset pages, counts kept by the store); changes go through
``sync.ops.Operations`` (the store changes at once, the server follows); the sync engine runs
in this process for every account whose lock is free, and only the store's change watcher
runs for an account another ``mailtui sync`` holds (its commits arrive as ``ExternalChange``).

Ownership: ``async with StoreBackend(...)`` starts one supervisor task that owns a TaskGroup
with every background task (the engine per account, the store and engine event pumps, the
external-change watcher, new-mail hooks). Leaving the block cancels it, waits for it, logs
the body-download connections out and releases the account locks; the caller then closes
the store (its aiosqlite threads are not daemons). A task that fails is logged and shown as a
`Notice`; it never takes the interface down with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shlex
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Collection, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, assert_never

from sync.clean import clean_text
from sync.config import AccountConfig, Config
from sync.engine.events import (
    ConnectionPhase,
    ConnectionStateChanged,
    EngineEvent,
    FolderSynced,
    NewMail,
    SyncProgress,
)
from sync.events import EventBus, Subscription
from sync.imap import decode_mailbox
from sync.ops.describe import describe
from sync.store import FolderRow, OutgoingMessage, SortKey, Store
from sync.store.events import (
    ChangeDropped,
    ExternalChange,
    OperationFailed,
    OperationsChanged,
    StoreEvent,
)
from tui.backend.store_adapter import StoreSource, backend_event_from_store
from tui.errors import describe_error
from tui.protocol import (
    AccountInfo,
    ActionRequest,
    Archive,
    BackendEvent,
    ComposeKind,
    ComposeStart,
    ConnectionState,
    Delete,
    FolderInfo,
    MessageHeaders,
    MessageSource,
    Move,
    NewMailNotice,
    Notice,
    OperationsState,
    QueueItem,
    SetFlagged,
    SetRead,
)

if TYPE_CHECKING:  # the engine (IMAP client, parser) loads after the first rows are painted
    # So do the operations queue and writing mail (they load the email package): on use.
    from sync.compose import Draft
    from sync.engine.account import AccountSync, SyncSettings
    from sync.engine.bodies import BodyFetcher
    from sync.ops import Operations, Queued

__all__ = [
    "BodyUnavailable",
    "StoreBackend",
    "connection_text",
    "new_mail_environment",
]

log = logging.getLogger(__name__)

_SEEN = "\\Seen"
_FLAGGED = "\\Flagged"
_UNDO_DEPTH = 50
_HOOK_TIMEOUT = 30.0
_STOP_GRACE = 10.0
# The engine starts once the first rows are painted, or after this many seconds.
_ENGINE_START_DELAY = 1.0
_OFFLINE_FETCH_TIMEOUT = 5.0
# RFC 6154 folders whose new messages were filed, not received.
_FILED_USES = frozenset({"\\Sent", "\\Trash", "\\Junk", "\\Drafts", "\\Archive", "\\All"})
_OWN_MOVES_KEPT = 10_000
# Above any real UID (RFC 3501 2.3.1.1: 32-bit) and any provisional one (negative).
_UID_CEILING = 1 << 62
_ERRNO = re.compile(r"\[Errno -?\d+\] ")


class BodyUnavailable(Exception):
    """A message's body could not be downloaded; the text says why in words."""


def connection_text(event: ConnectionStateChanged) -> str:
    """The status bar's words for an account's connection state."""
    # Short enough that the retry time stays visible in the status bar.
    detail = clean_text(_ERRNO.sub("", event.detail), max_length=50)
    if event.phase == ConnectionPhase.ONLINE:
        return "online"
    if event.phase == ConnectionPhase.CONNECTING:
        return "connecting…"
    if event.phase == ConnectionPhase.OFFLINE:
        text = f"offline: {detail}" if detail else "offline"
        if event.retry_in is not None:
            text += f", retrying in {event.retry_in:.0f} s"
        return text
    if event.phase == ConnectionPhase.FAILED:
        return f"failed: {detail}" if detail else "failed"
    return "stopped"


def new_mail_environment(
    base: dict[str, str], account: str, folder: str, sender: str, subject: str, count: int
) -> dict[str, str]:
    """The environment of the ``notify.new_mail_command`` hook.

    Mail content reaches the hook only as environment variables (cleaned: no controls, no
    NUL, one line), never inside the command line, so a subject cannot inject a command.
    """
    return {
        **base,
        "MAILTUI_ACCOUNT": clean_text(account, max_length=200),
        "MAILTUI_FOLDER": clean_text(folder, max_length=500),
        "MAILTUI_SENDER": clean_text(sender, max_length=500),
        "MAILTUI_SUBJECT": clean_text(subject, max_length=1000),
        "MAILTUI_COUNT": str(count),
    }


@dataclass(frozen=True, slots=True)
class _FlagUndo:
    """Undo of a flag change: the inverse delta, on the messages that really changed."""

    folder_id: int
    uids: tuple[int, ...]
    add: tuple[str, ...]
    remove: tuple[str, ...]
    label: str


@dataclass(frozen=True, slots=True)
class _MovedMessage:
    """Where a moved message went: its provisional UID there, and how to find it once the
    server gave it its real UID (Message-ID and arrival time, which a move keeps)."""

    provisional: int
    message_id: str | None
    internaldate: int


@dataclass(frozen=True, slots=True)
class _MoveUndo:
    """Undo of a move (also archive and delete-to-Trash): move the messages back."""

    source_id: int
    dest_id: int
    moved: tuple[_MovedMessage, ...]
    label: str


@dataclass(slots=True)
class _AccountRuntime:
    """What the backend holds per configured account."""

    config: AccountConfig
    info: AccountInfo
    sync: AccountSync | None  # None: another process syncs it, or the engine has not started
    fetcher: BodyFetcher | None  # made on first use
    state: ConnectionState
    syncing: bool = False


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
        self.lock_dir = lock_dir
        self._settings = settings
        self.run_engine = run_engine
        self.external_interval = external_interval
        self.fetch_timeout = fetch_timeout
        self._operations: Operations | None = None
        self._events: EventBus[BackendEvent] = EventBus()
        self._engine_events: EventBus[EngineEvent] = EventBus()
        self._accounts: dict[str, _AccountRuntime] = {}
        self._by_id: dict[int, _AccountRuntime] = {}
        self._folder_accounts: dict[int, int] = {}
        self._counts = OperationsState(0, 0)
        self._queue_signature: tuple[tuple[object, ...], ...] = ()
        self._undo: list[_FlagUndo | _MoveUndo] = []
        self._own_moves: OrderedDict[str, None] = OrderedDict()  # Message-IDs moved here
        self._stack = contextlib.ExitStack()
        self._supervisor: asyncio.Task[None] | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._store_events: Subscription[StoreEvent] | None = None
        self._engine_subscription: Subscription[EngineEvent] | None = None
        self._ui_ready = asyncio.Event()
        self._engine_started = asyncio.Event()

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
        """Lock what can be synced here, subscribe to the store and engine, start the tasks.

        On failure nothing is left running or locked.
        """
        try:
            await self._start()
        except BaseException:
            await self.aclose()
            raise

    async def _start(self) -> None:
        # Accounts exist in the store from the start, so the folder pane and the status bar
        # can name them before the first sync has run.
        async with self.store.write() as unit:
            ids = [
                await unit.ensure_account(account.name, account.email)
                for account in self.config.accounts
            ]
        for account, account_id in zip(self.config.accounts, ids, strict=True):
            runtime = _AccountRuntime(
                config=account,
                info=AccountInfo(account_id, account.name, account.email),
                sync=None,
                fetcher=None,
                state=ConnectionState(
                    account.name, "starting…" if self.run_engine else "not syncing"
                ),
            )
            self._accounts[account.name] = runtime
            self._by_id[account_id] = runtime
        # Subscribed before any task starts, so no event is lost in between.
        self._store_events = self.store.events.subscribe()
        self._engine_subscription = self._engine_events.subscribe()
        await self._recount()
        self._supervisor = asyncio.create_task(self._supervise(), name="mailtui backend")

    @property
    def operations(self) -> Operations:
        """The operations queue (loaded on first use: the first frame needs no change)."""
        if self._operations is None:
            from sync.ops import Operations

            self._operations = Operations(self.store)
        return self._operations

    @property
    def settings(self) -> SyncSettings:
        """The engine's settings (from the config unless given)."""
        if self._settings is None:
            from sync.engine.account import SyncSettings

            self._settings = SyncSettings.from_config(self.config)
        return self._settings

    def ui_ready(self) -> None:
        """The first rows are painted: the engine may load now (see ``_start_engine``)."""
        self._ui_ready.set()

    async def _start_engine(self) -> None:
        """Lock what can be synced here and start the engine for it.

        Deferred until the interface has painted its first rows (or a moment has passed):
        importing the engine and the IMAP client costs more than the whole first paint.
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ui_ready.wait(), _ENGINE_START_DELAY)
        held: dict[str, AccountSync] = {}
        if self.run_engine:
            from sync.engine.runner import open_account_syncs

            run = self._stack.enter_context(
                open_account_syncs(
                    self.config,
                    self.store,
                    self.lock_dir,
                    events=self._engine_events,
                    settings=self.settings,
                )
            )
            held = {account_sync.account.name: account_sync for account_sync in run.syncs}
        for runtime in self._accounts.values():
            runtime.sync = held.get(runtime.config.name)
            if runtime.sync is not None:
                state = "connecting…"
            elif self.run_engine:
                state = "synced by another mailtui"
            else:
                state = "not syncing"
            runtime.state = ConnectionState(runtime.config.name, state)
            self._events.publish(runtime.state)
            if runtime.sync is not None:
                self._spawn(f"Syncing {runtime.info.name}", runtime.sync.run_live())
        self._engine_started.set()

    def _fetcher(self, runtime: _AccountRuntime) -> BodyFetcher:
        """The account's on-demand download connection (made on first use)."""
        if runtime.fetcher is None:
            from sync.engine.account import AccountSync
            from sync.engine.bodies import BodyFetcher

            # Downloads need no sync lock: an account synced elsewhere still gets its own
            # connection for opening messages.
            connector = runtime.sync or AccountSync(runtime.config, self.store, self.settings)
            runtime.fetcher = BodyFetcher(self.store, connector.connect)
        return runtime.fetcher

    async def aclose(self) -> None:
        """Stop every task and wait for it; log out of download connections; free the locks.

        The store stays open: whoever opened it closes it, after this.
        """
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            # Bounded: quitting must never hang on a task that does not end when cancelled.
            await asyncio.wait({supervisor}, timeout=_STOP_GRACE)
            if not supervisor.done():
                log.error("background tasks did not stop within %.0f s", _STOP_GRACE)
        for subscription in (self._store_events, self._engine_subscription):
            if subscription is not None:
                subscription.close()
        for runtime in self._accounts.values():
            if runtime.fetcher is None:
                continue
            try:
                await asyncio.wait_for(runtime.fetcher.close(), 5)
            except Exception as error:  # logging out is a courtesy; the socket closes anyway
                log.info("%s: closing the download connection: %r", runtime.info.name, error)
        self._stack.close()
        self._events.close()

    async def wait_live(self) -> None:
        """Wait until every account synced here has done its first pass and listens for
        changes (tests and benchmarks)."""
        for runtime in self._accounts.values():
            if runtime.sync is not None:
                await runtime.sync.wait_live()

    async def _supervise(self) -> None:
        assert self._store_events is not None and self._engine_subscription is not None
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            self._spawn("Following the store", self._pump_store(self._store_events))
            self._spawn("Following the sync", self._pump_engine(self._engine_subscription))
            # Always: another process (``mailtui sync``, a second interface) may write.
            self._spawn(
                "Watching for other processes", self.store.watch_external(self.external_interval)
            )
            self._spawn("Starting the sync", self._start_engine())

    def _spawn(self, what: str, work: Coroutine[Any, Any, None]) -> None:
        if self._tasks is None:
            work.close()
            return
        self._tasks.create_task(self._guard(what, work), name=what)

    async def _guard(self, what: str, work: Awaitable[None]) -> None:
        """Run one task; a failure is logged and shown, and never cancels its siblings."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("%s stopped", what)
            self._events.publish(Notice(f"{what} stopped: {describe_error(error)}", "error"))

    # ----------------------------------------------------------------- event pumps

    async def _pump_store(self, subscription: Subscription[StoreEvent]) -> None:
        while True:
            first = await subscription.get()
            batch = [first]
            while (more := subscription.get_nowait()) is not None:
                batch.append(more)
            recount = False
            sent: set[BackendEvent] = set()
            for event in batch:
                mapped = backend_event_from_store(event)
                if mapped is not None and mapped not in sent:
                    sent.add(mapped)
                    self._events.publish(mapped)
                if isinstance(event, OperationFailed):
                    self._events.publish(Notice(event.message, "error"))
                elif isinstance(event, ChangeDropped):
                    self._events.publish(Notice(event.message, "warning"))
                recount |= isinstance(
                    event, OperationsChanged | OperationFailed | ChangeDropped | ExternalChange
                )
            if recount:
                await self._recount()

    async def _recount(self) -> None:
        pending = failed = 0
        signature: list[tuple[object, ...]] = []
        for runtime in self._accounts.values():
            account_id = runtime.info.id
            for op in await self.store.pending_operations(account_id, include_failed=True):
                failed += op.failed
                pending += not op.failed
                signature.append(("op", op.id, op.failed, op.attempts, op.next_attempt_at))
            for message in await self.store.outbox(account_id, include_failed=True):
                failed += message.failed
                pending += not message.failed
                signature.append(
                    ("out", message.id, message.state, message.attempts, message.next_attempt_at)
                )
        counts = OperationsState(pending, failed)
        # Also when only an attempt or a retry time changed: an open queue view re-reads.
        if counts != self._counts or tuple(signature) != self._queue_signature:
            self._counts = counts
            self._queue_signature = tuple(signature)
            self._events.publish(counts)

    async def _pump_engine(self, subscription: Subscription[EngineEvent]) -> None:
        while True:
            first = await subscription.get()
            batch = [first]
            while (more := subscription.get_nowait()) is not None:
                batch.append(more)
            new_mail: dict[tuple[str, str], list[NewMail]] = {}
            for event in batch:
                if not isinstance(event, NewMail):
                    self._on_engine_event(event)
                elif await self._is_news(event):
                    new_mail.setdefault((event.account, event.folder), []).append(event)
            for (account, folder), arrived in new_mail.items():
                self._announce_new_mail(account, decode_mailbox(folder), arrived)

    def _on_engine_event(self, event: EngineEvent) -> None:
        runtime = self._accounts.get(event.account)
        if runtime is None:
            return
        if isinstance(event, ConnectionStateChanged):
            runtime.syncing = False
            self._set_state(runtime, connection_text(event))
        elif isinstance(event, SyncProgress):
            # A first sync: the list fills while this counts up.
            runtime.syncing = True
            folder = clean_text(decode_mailbox(event.folder), max_length=40)
            percent = 100 * event.done // max(event.total, 1)
            self._set_state(runtime, f"syncing {folder} {percent}%")
        elif isinstance(event, FolderSynced) and runtime.syncing:
            runtime.syncing = False
            self._set_state(runtime, "online")

    def _set_state(self, runtime: _AccountRuntime, text: str) -> None:
        state = ConnectionState(runtime.info.name, text)
        if state != runtime.state:
            runtime.state = state
            self._events.publish(state)

    async def _is_news(self, event: NewMail) -> bool:
        """Whether a message the engine saw arrive is news for the user.

        Not news: what lands in Sent, Trash, Junk, Drafts or Archive (filed, not received),
        and what the user moved here themselves (it arrives as "new" in its destination once
        the server has it).
        """
        folder = await self.store.folder(event.folder_id)
        if folder is None:
            return False
        if folder.name.upper() != "INBOX" and folder.special_use in _FILED_USES:
            return False
        if self._own_moves:
            row = await self.store.message(event.folder_id, event.uid)
            if row is not None and row.message_id in self._own_moves:
                return False
        return True

    def _remember_moved(self, message_ids: Iterable[str | None]) -> None:
        for message_id in message_ids:
            if message_id:
                self._own_moves[message_id] = None
                self._own_moves.move_to_end(message_id)
        while len(self._own_moves) > _OWN_MOVES_KEPT:
            self._own_moves.popitem(last=False)

    def _announce_new_mail(self, account: str, folder: str, arrived: list[NewMail]) -> None:
        latest = arrived[-1]
        self._events.publish(
            NewMailNotice(account, folder, latest.sender, latest.subject, len(arrived))
        )
        command = self.config.notify.new_mail_command
        if command:
            environment = new_mail_environment(
                dict(os.environ), account, folder, latest.sender, latest.subject, len(arrived)
            )
            self._spawn("The new-mail command", self._run_hook(command, environment))

    async def _run_hook(self, command: str, environment: dict[str, str]) -> None:
        # No shell: the command line is the user's, split once; mail content is only in the
        # environment. Output never reaches the terminal (the interface owns it).
        argv = shlex.split(command)
        if not argv:
            return
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=environment,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, errors = await asyncio.wait_for(process.communicate(), _HOOK_TIMEOUT)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise
        if process.returncode:
            log.warning(
                "new_mail_command exited with %s: %s",
                process.returncode,
                errors.decode("utf-8", "replace").strip()[:500],
            )

    # ----------------------------------------------------------------- Backend: reads

    @property
    def events(self) -> EventBus[BackendEvent]:
        """Typed change events for the interface."""
        return self._events

    def current_state(self) -> Sequence[BackendEvent]:
        """Each account's connection state and the queue counts, as of now."""
        return [*(runtime.state for runtime in self._accounts.values()), self._counts]

    async def accounts(self) -> Sequence[AccountInfo]:
        """Configured accounts, in config order."""
        return [runtime.info for runtime in self._accounts.values()]

    async def folders(self) -> Sequence[FolderInfo]:
        """The folders the engine keeps (subscribed, selectable), with counts."""
        show_all = self.config.show_all_folders
        shown: list[FolderInfo] = []
        for folder in await self.store.folders():
            if folder.account_id not in self._by_id or not folder.syncable(show_all=show_all):
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
            from sync.search.phases import ServerUnavailable, search_servers

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
        for runtime in self._accounts.values():
            if runtime.sync is not None:
                runtime.sync.watch(folder_id if runtime.info.id == account_id else None)

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
        runtime = self._by_id.get(folder.account_id) if folder is not None else None
        if folder is None or runtime is None:
            return None
        # Known to be offline: try, but do not keep the reader on "Loading…" for long.
        offline = runtime.state.text.startswith(("offline", "failed"))
        timeout: float | None = self.fetch_timeout
        if offline:
            timeout = min(self.fetch_timeout, _OFFLINE_FETCH_TIMEOUT)
        elif whole:
            # Tens of megabytes may take minutes on a slow link; the IMAP client's own
            # timeout still catches a server that stops sending.
            timeout = None
        try:
            fetch = self._fetcher(runtime).fetch(folder, uid, whole=whole)
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
                archive = self._by_id[folder.account_id].config.archive_folder
                queued = await self.operations.archive(folder.id, uids, archive_folder=archive)
                verb = "Archived"
            case Move(dest_folder_id=dest_folder_id):
                queued = await self.operations.move(folder.id, uids, dest_folder_id)
                verb = "Moved"
            case _:
                assert_never(request)
        count = _count(len(rows))
        self._remember_moved(row.message_id for row in rows.values())
        if not queued.provisional:
            return f"{verb} {count} for good (this cannot be undone)"
        dest_id = await self._destination(queued)
        moved = tuple(
            _MovedMessage(provisional, rows[uid].message_id, rows[uid].internaldate)
            for uid, provisional in queued.provisional.items()
            if uid in rows
        )
        dest = await self.store.folder(dest_id) if dest_id is not None else None
        where = f" to {decode_mailbox(dest.name)}" if dest is not None else ""
        if dest_id is not None and moved and not request.implicit:
            noun = {"Deleted": "delete", "Archived": "archive"}.get(verb, "move")
            self._push_undo(_MoveUndo(folder.id, dest_id, moved, noun))
        return clean_text(f"{verb} {count}{where} (z undoes)")

    async def _change_flag(
        self, request: SetRead | SetFlagged, folder: FolderRow, uids: list[int]
    ) -> str:
        flag = _SEEN if isinstance(request, SetRead) else _FLAGGED
        on = request.value
        rows = await self.store.messages(folder.id, uids)
        # Only the messages that really change: undo must not unflag what was flagged before.
        changing = tuple(
            row.uid for row in rows if (row.seen if flag == _SEEN else row.flagged) != on
        )
        if flag == _SEEN:
            await self.operations.mark_read(folder.id, uids, on)
            what = "read" if on else "unread"
            summary = f"Marked {_count(len(rows))} {what}"
        else:
            await self.operations.flag(folder.id, uids, on)
            summary = f"{'Flagged' if on else 'Unflagged'} {_count(len(rows))}"
        if changing and not request.implicit:
            add, remove = ((), (flag,)) if on else ((flag,), ())
            self._push_undo(
                _FlagUndo(folder.id, changing, add, remove, summary[0].lower() + summary[1:])
            )
        return summary

    async def _destination(self, queued: Queued) -> int | None:
        # The destination folder of a move: where its first provisional row lives.
        provisional = next(iter(queued.provisional.values()), None)
        if provisional is None:
            return None
        for folder in await self.store.folders():
            if await self.store.message(folder.id, provisional) is not None:
                return folder.id
        return None

    def _push_undo(self, entry: _FlagUndo | _MoveUndo) -> None:
        self._undo.append(entry)
        del self._undo[:-_UNDO_DEPTH]

    async def undo(self) -> str | None:
        """Undo the last operation done here (by queueing its inverse)."""
        if not self._undo:
            return None
        entry = self._undo.pop()
        if isinstance(entry, _FlagUndo):
            await self.operations.set_keywords(
                entry.folder_id, entry.uids, add=entry.add, remove=entry.remove
            )
            return f"Undid: {entry.label}"
        found = [
            uid
            for moved in entry.moved
            if (uid := await self._locate(entry.dest_id, moved)) is not None
        ]
        if not found:
            return "Nothing to undo: those messages are no longer there"
        self._remember_moved(moved.message_id for moved in entry.moved)
        await self.operations.move(entry.dest_id, found, entry.source_id)
        source = await self.store.folder(entry.source_id)
        where = f" to {decode_mailbox(source.name)}" if source is not None else ""
        return clean_text(f"Undid the {entry.label}: {_count(len(found))} back{where}")

    async def _locate(self, folder_id: int, moved: _MovedMessage) -> int | None:
        """The UID a moved message has now: still its provisional one, or the server's."""
        if await self.store.message(folder_id, moved.provisional) is not None:
            return moved.provisional
        if moved.message_id is None:
            return None
        # Its arrival time is its sort key: one keyset page from there holds it.
        page = await self.store.page(
            folder_id, after=SortKey(moved.internaldate, _UID_CEILING), limit=50
        )
        for row in page:
            if row.internaldate != moved.internaldate:
                break
            if row.message_id == moved.message_id:
                return row.uid
        return None

    async def compose(
        self, kind: ComposeKind, folder_id: int, uid: int | None
    ) -> ComposeStart | str:
        """A draft to edit: new (from the folder's account), a reply or forward of the
        message (its body downloaded if needed), or a draft from the Drafts folder.

        Raises `BodyUnavailable` when the original cannot be downloaded now.
        """
        from sync.compose import Draft, account_address, forward_draft, reply_draft

        folder = await self.store.folder(folder_id)
        runtime = self._by_id.get(folder.account_id) if folder is not None else None
        if runtime is None:
            runtime = next(iter(self._accounts.values()), None)
        if runtime is None:
            return "No account is set up"
        account = runtime.config
        if kind == "compose":
            return ComposeStart(Draft(from_=account_address(account)), account.name)
        if uid is None:
            return "No message here to answer"
        if kind == "resume":
            from sync.outbox import resume_draft

            async def fetch(row: FolderRow, draft_uid: int) -> bytes | None:
                return await self.whole_body(row.id, draft_uid)  # attachments and all

            _, draft = await resume_draft(self.store, account, folder_id, uid, fetch=fetch)
            return ComposeStart(draft, account.name, draft_uid=uid)
        # A forward carries the attachments along; a reply needs the text only.
        raw = await (self.whole_body if kind == "forward" else self.body)(folder_id, uid)
        if raw is None:
            return "That message is not on the server yet: answer it once it is"
        # Parsing a big message (MIME walk, attachments decoded) off the event loop.
        if kind == "forward":
            draft = await asyncio.to_thread(forward_draft, raw, account)
        else:
            draft = await asyncio.to_thread(
                partial(reply_draft, raw, account, reply_all=kind == "reply_all")
            )
        return ComposeStart(draft, account.name, original=(folder_id, uid, draft.reply_kind))

    async def send_draft(self, start: ComposeStart, draft: Draft) -> str:
        """Put the message in the outbox, with its follow-ups (Sent copy, \\Answered or
        $Forwarded, the draft removed); the engine sends it now, or once online."""
        from sync.outbox import queue_message

        runtime = self._account_named(start.account)
        account = runtime.config
        await queue_message(
            self.store, account, draft, original=start.original, draft_uid=start.draft_uid
        )
        if account.smtp_host is None:
            return f"Queued, but {runtime.info.name} has no outgoing mail server (smtp_host)"
        if runtime.sync is None:
            return "Queued: it goes out from the mailtui that syncs this account"
        if runtime.state.text.startswith(("offline", "failed")):
            return "Queued: it goes out once the server is back (Q shows the queue)"
        return "Sending… (Q shows the queue)"

    async def postpone_draft(self, start: ComposeStart, draft: Draft) -> str:
        """File the message in the Drafts folder, replacing the draft it was resumed from."""
        from sync.outbox import save_draft

        runtime = self._account_named(start.account)
        await save_draft(self.store, runtime.config, draft, replace_uid=start.draft_uid)
        return "Postponed: saved in Drafts"

    async def address_pairs(self, account: str) -> Sequence[tuple[str, str]]:
        """Senders and recipients of the account's newest mail, for address completion."""
        from sync.store.addresses import address_pairs

        return await address_pairs(self.store, self._account_named(account).info.id)

    def _account_named(self, name: str) -> _AccountRuntime:
        runtime = self._accounts.get(name)
        if runtime is None:
            raise ValueError(f"no account named {name!r}")
        return runtime

    async def _folder(self, folder_id: int) -> FolderRow:
        folder = await self.store.folder(folder_id)
        if folder is None:
            raise ValueError("that folder is gone")
        return folder

    # ----------------------------------------------------------------- Backend: the queue

    async def queue_items(self) -> Sequence[QueueItem]:
        """Every account's queued operations (replay order), then its outbox (queue order)."""
        shown = {(f.account_id, f.name): f.display_name for f in await self.store.folders()}
        items: list[QueueItem] = []
        for runtime in self._accounts.values():
            account_id, account = runtime.info.id, runtime.info.name

            def folder_name(name: str | None, account_id: int = account_id) -> str:
                if name is None:
                    return "?"
                # A folder deleted meanwhile is named as the operation recorded it.
                return shown.get((account_id, name)) or decode_mailbox(name)

            for op in await self.store.pending_operations(account_id, include_failed=True):
                items.append(
                    QueueItem(
                        kind="operation",
                        id=op.id,
                        account=account,
                        description=describe(op, folder_name),
                        state="failed" if op.failed else "pending",
                        attempts=op.attempts,
                        error=op.last_error,
                        next_attempt_at=op.next_attempt_at,
                    )
                )
            for message in await self.store.outbox(account_id, include_failed=True):
                state: Literal["pending", "sending", "failed"] = "pending"
                if message.failed:
                    state = "failed"
                elif message.state == "sending":
                    state = "sending"
                items.append(
                    QueueItem(
                        kind="outgoing",
                        id=message.id,
                        account=account,
                        description=_outgoing_description(message),
                        state=state,
                        attempts=message.attempts,
                        error=message.last_error,
                        next_attempt_at=message.next_attempt_at,
                    )
                )
        return items

    async def retry(self, item: QueueItem) -> str:
        """A failed item is queued again (a change is made again locally and goes to the end
        of the queue); one held back by a temporary failure is tried now."""
        if item.kind == "outgoing":
            return await self._retry_outgoing(item)
        async with self.store.write() as unit:
            op = await unit.operation(item.id)
            if op is not None and not op.failed and op.next_attempt_at is not None:
                # In its place (later changes may depend on it): only the wait is cut short.
                await unit.retry_operation(op.id)
                return "Trying that change again now"
        if op is None:
            return "That change is no longer queued: it went out, or was dropped"
        if not op.failed:
            return "That change is waiting its turn already"
        await self.operations.retry(op.id)
        return "Queued that change again: it is made here again and goes to the server"

    async def _retry_outgoing(self, item: QueueItem) -> str:
        from sync.outbox import retry_outgoing  # the SMTP side loads only when used

        async with self.store.write() as unit:
            message = await unit.outgoing(item.id)
        if message is None:
            return "That message is no longer in the outbox: it was sent, or discarded"
        if message.failed:
            await retry_outgoing(self.store, message.id)
            return "Queued that message again: it is sent at the next chance"
        if message.state == "sending":
            return "That message is being sent now"
        runtime = self._by_id.get(message.account_id)
        sender = runtime.sync.outbox if runtime is not None and runtime.sync else None
        if sender is None:
            if runtime is not None and runtime.config.smtp_host is None:
                return f"{runtime.info.name} has no outgoing mail server set up"
            return "That message goes out from the mailtui that syncs this account"
        if message.next_attempt_at is None:
            return "That message is waiting its turn already"

        async def send_now() -> None:
            await sender.send_due(ignore_backoff=True)

        # The engine's own sender (it holds a lock): what it does when a connection is back.
        self._spawn("Sending the outbox", send_now())
        return "Sending the outbox now"

    async def discard(self, item: QueueItem) -> str:
        """Forget a failed operation (it was rolled back when the server refused it) or a
        failed outgoing message. Raises when it is not failed: it may be going out."""
        from sync.ops import OperationsError

        if item.kind == "operation":
            async with self.store.write() as unit:
                op = await unit.operation(item.id)
            if op is None:
                return "That change is no longer queued"
            if not op.failed:
                raise OperationsError("that change is not failed: it may be going out now")
            await self.operations.discard(op.id)
            return "Discarded the change: it will not be sent"
        async with self.store.write() as unit:
            message = await unit.outgoing(item.id)
            if message is None:
                return "That message is no longer in the outbox"
            if not message.failed:
                raise OperationsError("that message is not failed: it may be going out now")
            # Checked and removed in one unit: a retry from elsewhere cannot slip between.
            await unit.discard_outgoing(message.id)
        return "Discarded the message: it will not be sent"


def _outgoing_description(message: OutgoingMessage) -> str:
    """``send "Subject" to a@x, b@y and 3 more`` (uncleaned: the screen cleans it)."""
    from sync.ops import record_from_raw

    subject = record_from_raw(message.raw, 0, (), 0).subject or "(no subject)"
    recipients = list(message.recipients)
    to = ", ".join(recipients[:3])
    if len(recipients) > 3:
        to += f" and {len(recipients) - 3} more"
    return f'send "{subject}" to {to}'


def _count(number: int) -> str:
    return f"{number} message{'s' if number != 1 else ''}"


def _download_problem(runtime: _AccountRuntime, error: BaseException) -> str:
    """Why a body could not be downloaded, in words."""
    state = runtime.state.text
    reason = describe_error(error)
    if isinstance(error, TimeoutError):
        reason = "the server did not answer in time"
    if state.startswith(("offline", "failed")):
        return f"{runtime.info.name} is {state}; it will be shown once it is downloaded ({reason})"
    return clean_text(reason, max_length=300)
