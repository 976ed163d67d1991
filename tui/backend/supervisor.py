"""Engine supervision for the interface: accounts, background tasks, and the event pumps.

`EngineSupervisor` owns one supervisor task with a TaskGroup holding every background task:
the engine per account (started once the first rows are painted), the store and engine event
pumps, the external-change watcher and the new-mail hooks. It turns store and engine events
into the interface's `BackendEvent`s, keeps each account's connection words and the queue
counts, and decides which arriving mail is news. A task that fails is logged and shown as a
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
from collections.abc import Awaitable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from sync.store import Store
from sync.store.events import (
    ChangeDropped,
    ExternalChange,
    OperationFailed,
    OperationHeld,
    OperationsChanged,
    StoreEvent,
)
from tui.backend.store_adapter import backend_event_from_store
from tui.errors import describe_error
from tui.protocol import (
    AccountInfo,
    BackendEvent,
    ConnectionState,
    NewMailNotice,
    Notice,
    OperationsState,
)

if TYPE_CHECKING:  # the engine (IMAP client, parser) loads after the first rows are painted
    from sync.engine.account import AccountSync, SyncSettings
    from sync.engine.bodies import BodyFetcher

__all__ = [
    "AccountRuntime",
    "EngineSupervisor",
    "connection_text",
    "new_mail_environment",
]

log = logging.getLogger(__name__)

_HOOK_TIMEOUT = 30.0
_STOP_GRACE = 10.0
# The engine starts once the first rows are painted, or after this many seconds.
_ENGINE_START_DELAY = 1.0
# RFC 6154 folders whose new messages were filed, not received.
_FILED_USES = frozenset({"\\Sent", "\\Trash", "\\Junk", "\\Drafts", "\\Archive", "\\All"})
_OWN_MOVES_KEPT = 10_000
_ERRNO = re.compile(r"\[Errno -?\d+\] ")


def connection_text(event: ConnectionStateChanged) -> str:
    """The status bar's words for an account's connection state."""
    # Short enough that the retry time stays visible in the status bar.
    detail = clean_text(_ERRNO.sub("", event.detail), max_length=50)
    if event.phase == ConnectionPhase.ONLINE:
        # Online but polling (no IDLE): say how often, the user waits that long for news.
        note = clean_text(event.detail, max_length=70)
        return f"online, {note}" if note else "online"
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


@dataclass(slots=True)
class AccountRuntime:
    """What the interface holds per configured account."""

    config: AccountConfig
    info: AccountInfo
    sync: AccountSync | None  # None: another process syncs it, or the engine has not started
    fetcher: BodyFetcher | None  # made on first use
    state: ConnectionState
    syncing: bool = False
    online_text: str = "online"  # what "online" says for this server (how often it polls)

    @property
    def unreachable(self) -> bool:
        """Known to be offline or failed just now (an attempt may still succeed)."""
        return self.state.text.startswith(("offline", "failed"))


class EngineSupervisor:
    """The accounts and every background task of one interface; ``start`` then ``aclose``."""

    def __init__(
        self,
        config: Config,
        store: Store,
        events: EventBus[BackendEvent],
        *,
        lock_dir: Path,
        settings: SyncSettings | None = None,
        run_engine: bool = True,
        external_interval: float = 0.2,
    ) -> None:
        self.config = config
        self.store = store
        self.events = events
        self.lock_dir = lock_dir
        self._settings = settings
        self.run_engine = run_engine
        self.external_interval = external_interval
        self.accounts: dict[str, AccountRuntime] = {}
        self.by_id: dict[int, AccountRuntime] = {}
        self.counts = OperationsState(0, 0)
        self._queue_signature: tuple[tuple[object, ...], ...] = ()
        self._own_moves: OrderedDict[str, None] = OrderedDict()  # Message-IDs moved here
        self._stack = contextlib.ExitStack()
        self._supervisor: asyncio.Task[None] | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._store_events: Subscription[StoreEvent] | None = None
        self._engine_events: EventBus[EngineEvent] = EventBus()
        self._engine_subscription: Subscription[EngineEvent] | None = None
        self._ui_ready = asyncio.Event()

    # ----------------------------------------------------------------- lifetime

    async def start(self) -> None:
        """Name the accounts in the store, subscribe to the store and engine, start the
        tasks (the engine itself starts once the first rows are painted)."""
        # Accounts exist in the store from the start, so the folder pane and the status bar
        # can name them before the first sync has run.
        async with self.store.write() as unit:
            ids = [
                await unit.ensure_account(account.name, account.email)
                for account in self.config.accounts
            ]
        for account, account_id in zip(self.config.accounts, ids, strict=True):
            runtime = AccountRuntime(
                config=account,
                info=AccountInfo(account_id, account.name, account.email),
                sync=None,
                fetcher=None,
                state=ConnectionState(
                    account.name, "starting…" if self.run_engine else "not syncing"
                ),
            )
            self.accounts[account.name] = runtime
            self.by_id[account_id] = runtime
        # Subscribed before any task starts, so no event is lost in between.
        self._store_events = self.store.events.subscribe()
        self._engine_subscription = self._engine_events.subscribe()
        await self.recount()
        self._supervisor = asyncio.create_task(self._supervise(), name="mailtui backend")

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
        for runtime in self.accounts.values():
            runtime.sync = held.get(runtime.config.name)
            if runtime.sync is not None:
                state = "connecting…"
            elif self.run_engine:
                state = "synced by another mailtui"
            else:
                state = "not syncing"
            runtime.state = ConnectionState(runtime.config.name, state)
            self.events.publish(runtime.state)
            if runtime.sync is not None:
                self.spawn(f"Syncing {runtime.info.name}", runtime.sync.run_live())

    def fetcher(self, runtime: AccountRuntime) -> BodyFetcher:
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
        for runtime in self.accounts.values():
            if runtime.fetcher is None:
                continue
            try:
                await asyncio.wait_for(runtime.fetcher.close(), 5)
            except Exception as error:  # logging out is a courtesy; the socket closes anyway
                log.info("%s: closing the download connection: %r", runtime.info.name, error)
        self._stack.close()

    async def wait_live(self) -> None:
        """Wait until every account synced here has done its first pass and listens for
        changes (tests and benchmarks)."""
        for runtime in self.accounts.values():
            if runtime.sync is not None:
                await runtime.sync.wait_live()

    async def _supervise(self) -> None:
        assert self._store_events is not None and self._engine_subscription is not None
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            self.spawn("Following the store", self._pump_store(self._store_events))
            self.spawn("Following the sync", self._pump_engine(self._engine_subscription))
            # Always: another process (``mailtui sync``, a second interface) may write.
            self.spawn(
                "Watching for other processes", self.store.watch_external(self.external_interval)
            )
            self.spawn("Starting the sync", self._start_engine())

    def spawn(self, what: str, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the supervisor's TaskGroup; ``what`` names it in a failure."""
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
            self.events.publish(Notice(f"{what} stopped: {describe_error(error)}", "error"))

    # ----------------------------------------------------------------- state

    def current_state(self) -> Sequence[BackendEvent]:
        """Each account's connection state and the queue counts, as of now."""
        return [*(runtime.state for runtime in self.accounts.values()), self.counts]

    def watch(self, folder_id: int | None, account_id: int | None) -> None:
        """Tell the engine of ``account_id`` which of its folders is on screen."""
        for runtime in self.accounts.values():
            if runtime.sync is not None:
                runtime.sync.watch(folder_id if runtime.info.id == account_id else None)

    def account_named(self, name: str) -> AccountRuntime:
        """The runtime of the account called ``name`` (ValueError when there is none)."""
        runtime = self.accounts.get(name)
        if runtime is None:
            raise ValueError(f"no account named {name!r}")
        return runtime

    def remember_moved(self, message_ids: Iterable[str | None]) -> None:
        """Messages the user moved here: their arrival in the destination is not news."""
        for message_id in message_ids:
            if message_id:
                self._own_moves[message_id] = None
                self._own_moves.move_to_end(message_id)
        while len(self._own_moves) > _OWN_MOVES_KEPT:
            self._own_moves.popitem(last=False)

    # ----------------------------------------------------------------- event pumps

    async def _pump_store(self, subscription: Subscription[StoreEvent]) -> None:
        while True:
            batch = await subscription.get_batch()
            recount = False
            sent: set[BackendEvent] = set()
            for event in batch:
                mapped = backend_event_from_store(event)
                if mapped is not None and mapped not in sent:
                    sent.add(mapped)
                    self.events.publish(mapped)
                if isinstance(event, OperationFailed):
                    self.events.publish(Notice(event.message, "error"))
                elif isinstance(event, ChangeDropped | OperationHeld):
                    self.events.publish(Notice(event.message, "warning"))
                recount |= isinstance(
                    event,
                    OperationsChanged
                    | OperationFailed
                    | ChangeDropped
                    | OperationHeld
                    | ExternalChange,
                )
            if recount:
                await self.recount()

    async def recount(self) -> None:
        """Count queued and failed changes and messages; publish when anything changed."""
        pending = failed = 0
        signature: list[tuple[object, ...]] = []
        for runtime in self.accounts.values():
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
        if counts != self.counts or tuple(signature) != self._queue_signature:
            self.counts = counts
            self._queue_signature = tuple(signature)
            self.events.publish(counts)

    async def _pump_engine(self, subscription: Subscription[EngineEvent]) -> None:
        while True:
            batch = await subscription.get_batch()
            new_mail: dict[tuple[str, str], list[NewMail]] = {}
            for event in batch:
                if not isinstance(event, NewMail):
                    self._on_engine_event(event)
                elif await self._is_news(event):
                    new_mail.setdefault((event.account, event.folder), []).append(event)
            for (account, folder), arrived in new_mail.items():
                self._announce_new_mail(account, decode_mailbox(folder), arrived)

    def _on_engine_event(self, event: EngineEvent) -> None:
        runtime = self.accounts.get(event.account)
        if runtime is None:
            return
        if isinstance(event, ConnectionStateChanged):
            runtime.syncing = False
            text = connection_text(event)
            if event.phase == ConnectionPhase.ONLINE:
                runtime.online_text = text
            self._set_state(runtime, text)
        elif isinstance(event, SyncProgress):
            # A first sync: the list fills while this counts up.
            runtime.syncing = True
            folder = clean_text(decode_mailbox(event.folder), max_length=40)
            percent = 100 * event.done // max(event.total, 1)
            self._set_state(runtime, f"syncing {folder} {percent}%")
        elif isinstance(event, FolderSynced) and runtime.syncing:
            runtime.syncing = False
            self._set_state(runtime, runtime.online_text)

    def _set_state(self, runtime: AccountRuntime, text: str) -> None:
        state = ConnectionState(runtime.info.name, text)
        if state != runtime.state:
            runtime.state = state
            self.events.publish(state)

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

    def _announce_new_mail(self, account: str, folder: str, arrived: list[NewMail]) -> None:
        latest = arrived[-1]
        self.events.publish(
            NewMailNotice(account, folder, latest.sender, latest.subject, len(arrived))
        )
        command = self.config.notify.new_mail_command
        if command:
            environment = new_mail_environment(
                dict(os.environ), account, folder, latest.sender, latest.subject, len(arrived)
            )
            self.spawn("The new-mail command", self._run_hook(command, environment))

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
