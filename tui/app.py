"""The application shell: folder pane, message list, reader pane, status bar, footer, help.

The app talks to the rest of mailtui through one narrow `Backend` protocol (reads, operations,
typed events), so the widgets never see SQL, IMAP or the sync engine: attributes go down into
widgets, typed Textual messages come up, and the app routes them to the backend. The backend's
events (store changes, connection state, queued operations) make the widgets re-read; nothing on
screen is changed by hand after an action, so what is shown is always what the store holds.
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerFailed, WorkerState

from sync.events import Subscription
from tui.controllers.actions import ActionController
from tui.controllers.reader import MessageKey, ReaderController
from tui.controllers.search import SearchController
from tui.errors import describe_error
from tui.keys import DEFAULT_KEYS, bindings_for, validate_keymap
from tui.protocol import (
    AccountInfo,
    ActionRequest,
    Backend,
    BackendEvent,
    BodyAvailable,
    ComposeKind,
    ConnectionState,
    CountsUpdated,
    FolderInfo,
    FoldersUpdated,
    ListRow,
    MessageSource,
    MessagesUpdated,
    NewMailNotice,
    Notice,
    OperationsState,
    QueueItem,
)
from tui.text import clean
from tui.widgets.folder_tree import FolderTree
from tui.widgets.key_hints import KeyHints
from tui.widgets.message_list import PAGE_SIZE, MessageList
from tui.widgets.reader import Reader, ReaderStyles, RenderedMessage
from tui.widgets.status_bar import StatusBar

__all__ = [
    "AccountInfo",
    "ActionRequest",
    "Backend",
    "BackendEvent",
    "BodyAvailable",
    "ComposeKind",
    "ConnectionState",
    "CountsUpdated",
    "FolderInfo",
    "FoldersUpdated",
    "MailApp",
    "MessagesUpdated",
    "NewMailNotice",
    "Notice",
    "OperationsState",
    "QueueItem",
]

log = logging.getLogger(__name__)

BackgroundJob = tuple[str, Callable[[], Awaitable[None]]]
"""A named coroutine function the app runs as a worker for its lifetime (the demo's phone)."""

FIRST_FRAME_WAIT = 0.3
"""How long the first frame may wait for the listed folder's first rows (s). Painting the
panes empty and then again with the rows costs the first frame twice, on the start-up path."""


def _first_folder(folders: Sequence[FolderInfo]) -> FolderInfo | None:
    """The folder listed at start: the INBOX, else the first one."""
    inbox = next((f for f in folders if f.name.upper() == "INBOX"), None)
    return inbox or (folders[0] if folders else None)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What `MailApp.prepare` read ahead for the first frame."""

    subscription: Subscription[BackendEvent]
    accounts: Sequence[AccountInfo]
    folders: Sequence[FolderInfo]
    source: MessageSource | None
    first_page: Sequence[ListRow] | None


class MailApp(App[None]):
    """mailtui's main window."""

    CSS_PATH = "app.tcss"
    TITLE = "mailtui"
    BINDINGS: ClassVar[list[BindingType]] = list(bindings_for("app"))

    def __init__(
        self,
        backend: Backend,
        *,
        keymap: Mapping[str, str] | None = None,
        bell_on_new_mail: bool = False,
        background: Sequence[BackgroundJob] = (),
        on_first_frame: Callable[[], None] | None = None,
    ) -> None:
        """``on_first_frame`` is called once, after the first frame (with the first rows,
        when there are any) is on screen: the runner settles start-up work then."""
        super().__init__()
        self.backend = backend
        self._on_first_frame = on_first_frame
        # Raises KeymapError on an unknown binding id: better at start than a silent no-op.
        self.user_keymap = validate_keymap(keymap or {})
        self.bell_on_new_mail = bell_on_new_mail
        self._background = tuple(background)
        self._accounts: list[AccountInfo] = []
        self._waiting_for_folders = False
        self._told_ui_ready = False
        # The reader's and the actions' controllers use each other (opening an unread
        # message marks it read; deleting the one open closes the reader): late-bound.
        self.actions = ActionController(
            backend,
            host=self,
            message_list=lambda: self.message_list,
            folder_tree=lambda: self.folder_tree,
            reader=lambda: self.reader,
            open_message=lambda folder_id, uid: self.reader_control.open(folder_id, uid),
            close_reader=lambda: self.reader_control.close(),
            note=self._note,
            report_error=self.report_error,
        )
        """Carries out the list's actions: operations, writing mail, undo."""
        self.reader_control = ReaderController(
            backend,
            host=self,
            reader=lambda: self.reader,
            message_list=lambda: self.message_list,
            note=self._note,
            perform=self.actions.perform,
        )
        """Opens messages and lays out ahead the one the list cursor rests on."""
        self.search_control = SearchController(
            backend,
            host=self,
            message_list=lambda: self.message_list,
            search_input=lambda: self.query_one("#filter", Input),
            search_note=lambda: self.query_one("#search-note", Static),
            close_reader=self.reader_control.close,
            note=self._note,
            report_error=self.report_error,
        )
        """Filters and searches the list, and shows it as threads."""
        self._first_frame = contextlib.ExitStack()
        self._prepared: _Prepared | None = None
        self.errors: list[str] = []
        """Every error reported to the user this session, in words (tests read it)."""
        self.internal_error: BaseException | None = None
        """The unexpected exception that ended the app, if one did (``run`` reports it)."""

    # ----------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        """Folders left; list (or reader) right; filter input, status bar, key hints below."""
        # Hidden ones are hidden before they mount: no second style and layout pass.
        reader = Reader(id="reader")
        reader.display = False
        search = Input(placeholder="filter…", id="filter")
        search.display = False
        note = Static(id="search-note", markup=False)
        # Under the search input (docked above the status bar): the line the input leaves.
        note.styles.dock = "bottom"
        note.styles.margin = (0, 0, 1, 0)
        note.styles.padding = (0, 1)
        note.display = False
        with Horizontal(id="panes"):
            yield FolderTree(id="folders")
            with Vertical(id="main"):
                yield MessageList(id="messages")
                yield reader
        yield search
        yield note
        yield StatusBar(id="status")
        yield KeyHints(id="keys")

    @property
    def message_list(self) -> MessageList:
        """The message list widget."""
        return self.query_one("#messages", MessageList)

    @property
    def folder_tree(self) -> FolderTree:
        """The folder pane."""
        return self.query_one("#folders", FolderTree)

    @property
    def reader(self) -> Reader:
        """The reader pane."""
        return self.query_one("#reader", Reader)

    @property
    def status_bar(self) -> StatusBar:
        """The status bar."""
        return self.query_one("#status", StatusBar)

    async def prepare(self) -> None:
        """Read what the first frame shows, before the app runs: the accounts, the folders
        and the newest page of the folder that opens first.

        Optional: without it the app reads them once mounted, holding the screen until the
        first rows are in. With it the first frame is laid out and drawn once, complete,
        rather than drawn empty and again with the rows (a frame's work saved at start-up).
        """
        # Subscribed before the reads, so no change between a read and the app is missed.
        subscription = self.backend.events.subscribe()
        try:
            accounts = list(await self.backend.accounts())
            folders = list(await self.backend.folders())
            first = _first_folder(folders)
            source = self.backend.source(first.id) if first is not None else None
            rows: Sequence[ListRow] | None = None
            if source is not None:
                try:
                    rows = await source.page(None, PAGE_SIZE)
                except Exception:  # the list reads it again, and reports what went wrong
                    log.info("reading the first page ahead failed", exc_info=True)
        except BaseException:
            subscription.close()
            raise
        self._prepared = _Prepared(subscription, accounts, folders, source, rows)

    async def on_mount(self) -> None:
        """Apply the keymap, show the folders, open the first INBOX, follow backend events."""
        prepared, self._prepared = self._prepared, None
        self.set_timer(FIRST_FRAME_WAIT, self._release_first_frame)  # whatever happens
        if prepared is None:
            # The first frame shows the list's rows (see FIRST_FRAME_WAIT): screen updates
            # are held until the first page is in, a folder turns out empty, or the wait is
            # over. Subscribed before the first read, so no change in between is missed.
            self._first_frame.enter_context(self.batch_update())
            subscription = self.backend.events.subscribe()
            accounts = await self.backend.accounts()
            folders = await self.backend.folders()
        else:
            subscription = prepared.subscription
            accounts, folders = prepared.accounts, prepared.folders
        if self.user_keymap:
            self.set_keymap(self.user_keymap)
        self._watch_backend(subscription)
        self._accounts = list(accounts)
        for account in self._accounts:
            self.status_bar.set_connection(account.name, "offline")
        for event in self.backend.current_state():
            self._on_backend_event(event)
        self.folder_tree.show_folders(self._accounts, folders)
        first = _first_folder(folders)
        if prepared is not None and prepared.source is not None and first is not None:
            # With the page read ahead, the first frame is drawn once, with its rows.
            self._open_folder(first, prepared.source, prepared.first_page)
        else:
            self._open_first_folder(folders)
        self.message_list.focus()
        for name, job in self._background:
            self.run_worker(job(), name=name, group="background", exit_on_error=False)

    def _open_first_folder(self, folders: Sequence[FolderInfo]) -> None:
        first = _first_folder(folders)
        if first is not None:
            if self._waiting_for_folders:
                self._waiting_for_folders = False
                self._note("")
            self.open_folder(first)
        elif not self._waiting_for_folders:
            # A first start: say why the screen is empty.
            self._release_first_frame()
            self._waiting_for_folders = True
            self._note("No folders yet: they appear when the first sync reaches the server")

    def open_folder(self, folder: FolderInfo) -> None:
        """List a folder (closing the reader and any filter)."""
        self._open_folder(folder, self.backend.source(folder.id))

    def _open_folder(
        self,
        folder: FolderInfo,
        source: MessageSource,
        first_page: Sequence[ListRow] | None = None,
    ) -> None:
        self.reader_control.close()
        self.search_control.clear_filter(reload=False)
        self.folder_tree.select_folder(folder.id)
        self.message_list.set_source(source, first_page=first_page)
        self.backend.watch(folder.id)

    # ----------------------------------------------------------------- errors

    def report_error(self, what: str, error: BaseException) -> None:
        """The one place errors end up: the log file gets the traceback, the user a sentence."""
        log.error("%s failed", what, exc_info=error)
        text = clean(f"{what} failed: {describe_error(error)}")
        self.errors.append(text)
        self.notify(text, title="Error", severity="error", timeout=10, markup=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker of the app failed: say so and keep running (it logged nothing itself)."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.report_error(event.worker.name or "A background task", event.worker.error)

    def _handle_exception(self, error: Exception) -> None:
        # Textual's last resort for an exception nobody handled: it would print a traceback
        # over the terminal. A failed worker is reported like any other error and the app
        # goes on; anything else ends the app with one line (``run``) and the traceback in
        # the log. Headless (tests), Textual's own handling re-raises it in the test.
        if isinstance(error, WorkerFailed):
            self.report_error("A background task", error.error)
            return
        log.critical("internal error", exc_info=error)
        if self.is_headless:
            super()._handle_exception(error)
            return
        self.internal_error = error
        self.exit(return_code=1)

    # ----------------------------------------------------------------- backend events

    @work(group="backend-events", exclusive=True, exit_on_error=False, name="Following changes")
    async def _watch_backend(self, subscription: Subscription[BackendEvent]) -> None:
        with subscription:
            async for event in subscription:
                try:
                    self._on_backend_event(event)
                except Exception as error:  # one bad event must not stop the others
                    self.report_error("Showing a change", error)

    def _on_backend_event(self, event: BackendEvent) -> None:
        if isinstance(event, MessagesUpdated):
            from tui.search_view import SearchSource  # loaded when first used, not at start

            listed = self.message_list.folder_id
            spans = isinstance(self.message_list.source, SearchSource)
            if event.folder_id is None or event.folder_id == listed or spans:
                self.message_list.reload(event.uids)
            if event.folder_id is None:
                self._refresh_folders()
        elif isinstance(event, FoldersUpdated | CountsUpdated):
            self._refresh_folders()
        elif isinstance(event, BodyAvailable):
            self.reader_control.body_available(event.folder_id, event.uid)
        elif isinstance(event, ConnectionState):
            self.status_bar.set_connection(event.account, event.text)
        elif isinstance(event, OperationsState):
            self.status_bar.set_operations(event.pending, event.failed)
            self._queue_changed()
        elif isinstance(event, Notice):
            self.notify(clean(event.text), severity=event.severity, timeout=8, markup=False)
            self._queue_changed()  # a refused change is also a changed queue
        elif isinstance(event, NewMailNotice):
            self._new_mail(event)

    def _queue_changed(self) -> None:
        # Attributes down: an open queue view (perhaps under its confirmation) re-reads.
        if len(self.screen_stack) == 1:
            return  # only the main screen: no queue view (and no need to import it)
        from tui.screens.queue import QueueScreen  # loaded when first used, not at start

        for screen in self.screen_stack:
            if isinstance(screen, QueueScreen):
                screen.queue_changed()

    def _new_mail(self, event: NewMailNotice) -> None:
        sender = clean(event.sender, max_length=60) or "unknown sender"
        subject = clean(event.subject, max_length=120) or "(no subject)"
        folder = clean(event.folder, max_length=60)
        if event.count == 1:
            text = f"{sender}: {subject}"
            title = f"New mail in {folder}"
        else:
            text = f"Latest: {sender}: {subject}"
            title = f"{event.count} new messages in {folder}"
        self.notify(clean(text), title=clean(title), timeout=6, markup=False)
        if self.bell_on_new_mail:
            self.bell()

    @work(group="folders", exclusive=True, exit_on_error=False, name="Reading the folders")
    async def _refresh_folders(self) -> None:
        # Exclusive: a burst of count changes costs one re-read, not one each.
        accounts = list(await self.backend.accounts())
        folders = await self.backend.folders()
        if accounts != self._accounts:  # a first sync created the account meanwhile
            self._accounts = accounts
        self.folder_tree.show_folders(self._accounts, folders)
        if self.message_list.folder_id is None:
            # Nothing listed yet (a first start: the folders arrive with the first sync).
            self._open_first_folder(folders)

    # ----------------------------------------------------------------- routing

    @on(FolderTree.FolderChosen)
    def _folder_chosen(self, event: FolderTree.FolderChosen) -> None:
        self.open_folder(event.folder)
        self.message_list.focus()

    @on(MessageList.Opened)
    def _message_opened(self, event: MessageList.Opened) -> None:
        from tui.search_view import ThreadSource  # loaded when first used, not at start

        source = self.message_list.source
        if isinstance(source, ThreadSource) and source.is_collapsed_thread(event.uid):
            self.call_later(self.action_toggle_thread)  # Enter on a collapsed thread shows it
            return
        if self.actions.is_drafts(event.folder_id):
            self.actions.offer_resume(event.folder_id, event.uid)
            return
        # A pending rest timer would parse again what the reader is about to parse.
        self.reader_control.cancel_prerender()
        self.reader_control.open(event.folder_id, event.uid)

    @on(MessageList.CursorMoved)
    def _first_rows_shown(self, event: MessageList.CursorMoved) -> None:
        # The first CursorMoved comes with the first page: once it is painted, the backend
        # may load and start the sync engine without delaying what the user sees.
        first = not self._told_ui_ready
        if first:
            self._told_ui_ready = True
            self._release_first_frame()
            self.call_after_refresh(self.backend.ui_ready)
        self.reader_control.cursor_moved(event.folder_id, event.uid, first=first)

    @on(MessageList.LoadFailed)
    def _load_failed(self, event: MessageList.LoadFailed) -> None:
        self._release_first_frame()
        self.report_error("Reading messages", event.error)

    def _release_first_frame(self) -> None:
        """Let the screen update (it may have waited for the first rows); once is enough."""
        self._first_frame.close()
        if self._on_first_frame is not None:
            self.call_after_refresh(self._on_first_frame)
            self._on_first_frame = None

    @on(MessageList.ActionRequested)
    async def _action_requested(self, event: MessageList.ActionRequested) -> None:
        await self.actions.requested(event.action, event.folder_id, event.uids, event.value)

    def _note(self, summary: str) -> None:
        self.status_bar.set_note(summary)

    # ----------------------------------------------------------------- reader

    @on(Reader.WholeMessageWanted)
    def _whole_message_wanted(self, event: Reader.WholeMessageWanted) -> None:
        self.reader_control.load_whole(event.folder_id, event.uid)

    @property
    def prerender_hits(self) -> int:
        """How many messages opened from the pre-rendered cache (tests and benchmarks)."""
        return self.reader_control.prerender_hits

    @property
    def _prerendered(self) -> OrderedDict[MessageKey, tuple[ReaderStyles, RenderedMessage]]:
        """The messages laid out ahead of Enter, newest last (tests and benchmarks)."""
        return self.reader_control.prerendered

    # ----------------------------------------------------------------- app actions

    def action_back_or_quit(self) -> None:
        """q: leave the reader, then the filter, then the app."""
        if self.reader.display:
            self.reader_control.close()
        elif self.search_control.filtering:
            self.search_control.clear_filter(reload=True)
        else:
            self.exit()

    def action_help(self) -> None:
        """Show every key binding."""
        from tui.screens.help import HelpScreen  # loaded when first used, not at start

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.user_keymap))

    def action_queue(self) -> None:
        """Show the changes and outgoing mail waiting for the server (retry, discard)."""
        from tui.screens.queue import QueueScreen  # loaded when first used, not at start

        if not any(isinstance(screen, QueueScreen) for screen in self.screen_stack):
            self.push_screen(QueueScreen(self.backend, report_error=self.report_error))

    @on(StatusBar.QueueClicked)
    def _queue_clicked(self, event: StatusBar.QueueClicked) -> None:
        self.action_queue()

    def action_switch_pane(self) -> None:
        """Tab: folders -> list (or reader) -> folders."""
        main: MessageList | Reader = self.reader if self.reader.display else self.message_list
        if self.focused is self.folder_tree:
            main.focus()
        else:
            self.folder_tree.focus()

    async def action_undo(self) -> None:
        """Undo the last operation."""
        await self.actions.undo()

    def action_filter(self) -> None:
        """Show the filter input for the listed folder (results as you type)."""
        self.search_control.show_input(search_all=False)

    def action_search(self) -> None:
        """Show the search input for every folder (results as you type)."""
        self.search_control.show_input(search_all=True)

    @on(Input.Changed, "#filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        self.search_control.typed(event.input, event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.search_control.submitted(event.value)

    async def action_toggle_threads(self) -> None:
        """Show the listed folder as threads, or flat again."""
        await self.search_control.toggle_threads()

    async def action_toggle_thread(self) -> None:
        """Expand or collapse the thread under the cursor (in the thread view)."""
        await self.search_control.toggle_thread()

    def on_key(self, event: events.Key) -> None:
        """Esc in the filter input hides it."""
        if event.key == "escape":
            self.search_control.escape_pressed()

    # ----------------------------------------------------------------- command palette

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Every bound action is also a command (ctrl+p), titled by its description; the
        reader's while a message is open."""
        yield from super().get_system_commands(screen)
        for spec in DEFAULT_KEYS:
            if spec.scope == "list":
                callback = partial(self.run_action, spec.action, self.message_list)
            elif spec.scope == "app" and spec.id != "app.palette":
                callback = partial(self.run_action, spec.action)
            elif spec.scope == "reader" and self.reader.display:
                # Only while a message is open: elsewhere they would act on nothing.
                callback = partial(self.run_action, spec.action, self.reader)
            else:
                continue
            yield SystemCommand(spec.description, f"{spec.id} ({spec.keys})", callback)
