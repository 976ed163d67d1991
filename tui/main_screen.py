"""The main window's screen: the panes, and the routing of what they ask for.

Folders left, the message list (or the reader) right, the filter input, status bar and key
hints below. The panes post typed Textual messages (a folder chosen, a message opened, an
action on the selection); the screen routes them to its controllers (`tui.controllers`: the
reader's, the search's, the list actions'), which talk to the backend. The backend's events
(store changes, connection state, queued operations) make the widgets re-read: nothing on
screen is changed by hand after an action, so what is shown is always what the store holds.

It lives beside `tui.app`, not under `tui/screens/`: it composes the widgets, and the widgets
open dialogs from `tui/screens/`, which never reach back (tests/tui/test_layers.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from sync.events import Subscription
from tui.controllers.actions import ActionController
from tui.controllers.reader import ReaderController
from tui.controllers.search import SearchController
from tui.errors import ReportError
from tui.protocol import (
    AccountInfo,
    Backend,
    BackendEvent,
    BodyAvailable,
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
)
from tui.text import clean
from tui.widgets.folder_tree import FolderTree
from tui.widgets.key_hints import KeyHints
from tui.widgets.message_list import MessageList
from tui.widgets.reader import Reader
from tui.widgets.status_bar import StatusBar

__all__ = ["MainScreen", "Prepared", "first_folder"]


def first_folder(folders: Sequence[FolderInfo]) -> FolderInfo | None:
    """The folder listed at start: the INBOX, else the first one."""
    inbox = next((f for f in folders if f.name.upper() == "INBOX"), None)
    return inbox or (folders[0] if folders else None)


@dataclass(frozen=True, slots=True)
class Prepared:
    """What `MailApp.prepare` read ahead for the first frame."""

    subscription: Subscription[BackendEvent]
    accounts: Sequence[AccountInfo]
    folders: Sequence[FolderInfo]
    source: MessageSource | None
    first_page: Sequence[ListRow] | None


class MainScreen(Screen[None]):
    """The panes of the main window, and the routing of their messages.

    ``report_error`` is the app's; ``release_first_frame`` lets the app draw (it may hold
    the screen for the first rows).
    """

    def __init__(
        self,
        backend: Backend,
        *,
        report_error: ReportError,
        release_first_frame: Callable[[], None],
        bell_on_new_mail: bool = False,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.prepared: Prepared | None = None
        """What the app read ahead for the first frame (`MailApp.prepare`), until mounted."""
        self._report_error = report_error
        self._release_first_frame = release_first_frame
        self._bell_on_new_mail = bell_on_new_mail
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
            report_error=report_error,
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
            report_error=report_error,
        )
        """Filters and searches the list, and shows it as threads."""

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

    async def on_mount(self) -> None:
        """Show the folders, open the first INBOX, follow backend events."""
        prepared, self.prepared = self.prepared, None
        if prepared is None:
            # Subscribed before the first read, so no change in between is missed (the
            # app holds the screen meanwhile, for the first rows).
            subscription = self.backend.events.subscribe()
            accounts = await self.backend.accounts()
            folders = await self.backend.folders()
        else:
            subscription = prepared.subscription
            accounts, folders = prepared.accounts, prepared.folders
        self._watch_backend(subscription)
        self._accounts = list(accounts)
        for account in self._accounts:
            self.status_bar.set_connection(account.name, "offline")
        for event in self.backend.current_state():
            self._on_backend_event(event)
        self.folder_tree.show_folders(self._accounts, folders)
        first = first_folder(folders)
        if prepared is not None and prepared.source is not None and first is not None:
            # With the page read ahead, the first frame is drawn once, with its rows.
            self._open_folder(first, prepared.source, prepared.first_page)
        else:
            self._open_first_folder(folders)
        self.message_list.focus()

    def _open_first_folder(self, folders: Sequence[FolderInfo]) -> None:
        first = first_folder(folders)
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

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker of the screen (or of its controllers) failed: report it as the app does
        its own (Textual's message does not bubble up to the app)."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self._report_error(event.worker.name or "A background task", event.worker.error)

    # ----------------------------------------------------------------- backend events

    @work(group="backend-events", exclusive=True, exit_on_error=False, name="Following changes")
    async def _watch_backend(self, subscription: Subscription[BackendEvent]) -> None:
        with subscription:
            async for event in subscription:
                try:
                    self._on_backend_event(event)
                except Exception as error:  # one bad event must not stop the others
                    self._report_error("Showing a change", error)

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
        if len(self.app.screen_stack) == 1:
            return  # only the main screen: no queue view (and no need to import it)
        from tui.screens.queue import QueueScreen  # loaded when first used, not at start

        for screen in self.app.screen_stack:
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
        if self.app.screen is not self:
            # A dialog is open (help, the move picker, writing mail): a toast would cover
            # it. The status bar says it instead, under the dialog.
            self._note(clean(f"{title}: {text}"))
        else:
            self.notify(clean(text), title=clean(title), timeout=6, markup=False)
        if self._bell_on_new_mail:
            self.app.bell()

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
            # Enter on a collapsed thread shows it.
            self.call_later(self.search_control.toggle_thread)
            return
        if self.actions.is_drafts(event.folder_id):
            self.actions.offer_resume(event.folder_id, event.uid)
            return
        # A pending rest timer would parse again what the reader is about to parse.
        self.reader_control.cancel_prerender()
        self.reader_control.open(event.folder_id, event.uid)

    @on(MessageList.CursorMoved)
    def _cursor_moved(self, event: MessageList.CursorMoved) -> None:
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
        self._report_error("Reading messages", event.error)

    @on(MessageList.ActionRequested)
    async def _action_requested(self, event: MessageList.ActionRequested) -> None:
        await self.actions.requested(event.action, event.folder_id, event.uids, event.value)

    def _note(self, summary: str) -> None:
        self.status_bar.set_note(summary)

    @on(Reader.ActionWanted)
    def _reader_action(self, event: Reader.ActionWanted) -> None:
        # The list's action on the open message alone (the list cursor is on it).
        if not self._cursor_on_reader():
            return
        if event.action in ("delete", "archive", "move"):
            self.actions.reader_next = self._neighbour()
        self.message_list.request_for_cursor(event.action)

    @on(Reader.StepWanted)
    def _reader_step(self, event: Reader.StepWanted) -> None:
        message_list = self.message_list
        index = message_list.cursor + event.delta
        if not self._cursor_on_reader() or not 0 <= index < message_list.row_count:
            self._note("No next message" if event.delta > 0 else "No previous message")
            return
        message_list.move_cursor(index)
        self.reader_control.open(*message_list.locate(message_list.uid_at(index)))

    def _cursor_on_reader(self) -> bool:
        """Whether the list cursor is on the message open in the reader (it was opened from
        there; the cursor stays on its message as others arrive or go)."""
        message_list, reader = self.message_list, self.reader
        uid = message_list.cursor_uid
        if uid is not None and message_list.locate(uid) == (reader.folder_id, reader.uid):
            return True
        return reader.uid is not None and message_list.move_cursor_to_uid(reader.uid)

    def _neighbour(self) -> tuple[int, int, int] | None:
        """The message to show once the open one goes: the next (older) one, else the
        previous; as (listed row id, folder id, UID)."""
        message_list = self.message_list
        for index in (message_list.cursor + 1, message_list.cursor - 1):
            if 0 <= index < message_list.row_count:
                row = message_list.uid_at(index)
                return (row, *message_list.locate(row))
        return None

    @on(Reader.WholeMessageWanted)
    def _whole_message_wanted(self, event: Reader.WholeMessageWanted) -> None:
        self.reader_control.load_whole(event.folder_id, event.uid)

    @on(StatusBar.QueueClicked)
    def _queue_clicked(self, event: StatusBar.QueueClicked) -> None:
        self.show_queue()

    @on(Input.Changed, "#filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        self.search_control.typed(event.input, event.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.search_control.submitted(event.value)

    def on_key(self, event: events.Key) -> None:
        """Esc in the filter input hides it."""
        if event.key == "escape":
            self.search_control.escape_pressed()

    # ----------------------------------------------------------------- the app's actions

    def back_or_quit(self) -> None:
        """q: leave the reader, then the filter, then the app."""
        if self.reader.display:
            self.reader_control.close()
        elif self.search_control.filtering:
            self.search_control.clear_filter(reload=True)
        else:
            self.app.exit()

    def show_queue(self) -> None:
        """Show the changes and outgoing mail waiting for the server (retry, discard)."""
        from tui.screens.queue import QueueScreen  # loaded when first used, not at start

        if not any(isinstance(screen, QueueScreen) for screen in self.app.screen_stack):
            self.app.push_screen(QueueScreen(self.backend, report_error=self._report_error))

    def switch_pane(self) -> None:
        """Tab: folders -> list (or reader) -> folders."""
        main: MessageList | Reader = self.reader if self.reader.display else self.message_list
        if self.app.focused is self.folder_tree:
            main.focus()
        else:
            self.folder_tree.focus()
