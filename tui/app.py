"""The application shell: the keymap, the theme and styles, the command palette, errors.

The main window's panes and the routing of their messages are the `MainScreen`'s
(`tui.main_screen`), the app's default screen; the reader's and the search's logic are its
controllers' (`tui.controllers`). The app talks to the rest of mailtui through one narrow
`Backend` protocol (reads, operations, typed events), so the widgets never see SQL, IMAP or
the sync engine. Every error shown to the user goes through `MailApp.report_error`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import ClassVar

from textual import events
from textual.actions import ActionParseResult
from textual.app import App, SystemCommand
from textual.binding import BindingType
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widget import AwaitMount
from textual.widgets import Input
from textual.worker import Worker, WorkerFailed, WorkerState

from tui.controllers.reader import MessageKey
from tui.errors import describe_error
from tui.keys import DEFAULT_KEYS, bindings_for, display_keys, effective_keys, validate_keymap
from tui.main_screen import MainScreen, Prepared, first_folder
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
    MessagesUpdated,
    NewMailNotice,
    Notice,
    OperationsState,
    QueueItem,
)
from tui.text import clean
from tui.widgets.folder_tree import FolderTree
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

TYPE_AHEAD_WAIT = 0.5
"""After a key that opens an input (filter, search, the move picker, writing mail), how long
keys typed ahead are held for it while it opens (s); then they go to wherever focus is."""
_OPENS_INPUT = frozenset(
    {
        "filter",
        "search",
        "request('move')",
        "request('reply')",
        "request('reply_all')",
        "request('forward')",
        "request('compose')",
        "message_action('move')",
        "message_action('reply')",
        "message_action('reply_all')",
        "message_action('forward')",
    }
)

FIRST_FRAME_WAIT = 0.3
"""How long the first frame may wait for the listed folder's first rows (s). Painting the
panes empty and then again with the rows costs the first frame twice, on the start-up path."""


class MailApp(App[None]):
    """mailtui's main window: keymap, theme, command palette and errors around the
    `MainScreen`, which holds the panes."""

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
        self._first_frame = contextlib.ExitStack()
        self._held_keys: list[events.Key] | None = None  # typed ahead of an input
        self.errors: list[str] = []
        """Every error reported to the user this session, in words (tests read it)."""
        self.internal_error: BaseException | None = None
        """The unexpected exception that ended the app, if one did (``run`` reports it)."""
        self.main_screen = MainScreen(
            backend,
            report_error=self.report_error,
            release_first_frame=self._release_first_frame,
            bell_on_new_mail=bell_on_new_mail,
        )
        """The panes (the default screen, at the bottom of the stack)."""

    def get_default_screen(self) -> MainScreen:
        """The main screen: the first on the stack, for the app's lifetime."""
        return self.main_screen

    # ----------------------------------------------------------------- the panes

    @property
    def message_list(self) -> MessageList:
        """The message list widget."""
        return self.main_screen.message_list

    @property
    def folder_tree(self) -> FolderTree:
        """The folder pane."""
        return self.main_screen.folder_tree

    @property
    def reader(self) -> Reader:
        """The reader pane."""
        return self.main_screen.reader

    @property
    def status_bar(self) -> StatusBar:
        """The status bar."""
        return self.main_screen.status_bar

    @property
    def prerender_hits(self) -> int:
        """How many messages opened from the pre-rendered cache (tests and benchmarks)."""
        return self.main_screen.reader_control.prerender_hits

    @property
    def _prerendered(self) -> OrderedDict[MessageKey, tuple[ReaderStyles, RenderedMessage]]:
        """The messages laid out ahead of Enter, newest last (tests and benchmarks)."""
        return self.main_screen.reader_control.prerendered

    def open_folder(self, folder: FolderInfo) -> None:
        """List a folder (closing the reader and any filter)."""
        self.main_screen.open_folder(folder)

    # ----------------------------------------------------------------- start-up

    async def prepare(self) -> None:
        """Read what the first frame shows, before the app runs: the accounts, the folders
        and the newest page of the folder that opens first.

        Optional: without it the main screen reads them once mounted, the app holding the
        screen until the first rows are in. With it the first frame is laid out and drawn
        once, complete, rather than drawn empty and again with the rows (a frame's work
        saved at start-up).
        """
        # Subscribed before the reads, so no change between a read and the app is missed.
        subscription = self.backend.events.subscribe()
        try:
            accounts = list(await self.backend.accounts())
            folders = list(await self.backend.folders())
            first = first_folder(folders)
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
        self.main_screen.prepared = Prepared(subscription, accounts, folders, source, rows)

    async def on_mount(self) -> None:
        """Apply the keymap, hold the screen for the first rows, wait for the main screen
        to show the folders and open the first INBOX, then start the background jobs."""
        self.set_timer(FIRST_FRAME_WAIT, self._release_first_frame)  # whatever happens
        if self.main_screen.prepared is None:
            # The first frame shows the list's rows (see FIRST_FRAME_WAIT): screen updates
            # are held until the first page is in, a folder turns out empty, or the wait is
            # over. Entered here, while Textual still holds the first frame itself.
            self._first_frame.enter_context(self.batch_update())
        if self.user_keymap:
            # By binding id: applies to the app's, the screens' and the widgets' bindings.
            self.set_keymap(self.user_keymap)
        # The default screen composes and mounts in its own task, after this: the app counts
        # as mounted (Pilot, auto pilots, the runner go on) only once the panes are up and
        # the first folder is open, as when the app composed the panes itself. Textual sets
        # the screen's mount event even when its compose or mount failed: no hang.
        await AwaitMount(self.main_screen, [self.main_screen])
        for name, job in self._background:
            self.run_worker(job(), name=name, group="background", exit_on_error=False)

    def _release_first_frame(self) -> None:
        """Let the screen update (it may have waited for the first rows); once is enough."""
        self._first_frame.close()
        if self._on_first_frame is not None:
            self.call_after_refresh(self._on_first_frame)
            self._on_first_frame = None

    # ----------------------------------------------------------------- errors

    def report_error(self, what: str, error: BaseException) -> None:
        """The one place errors end up: the log file gets the traceback, the user a sentence."""
        log.error("%s failed", what, exc_info=error)
        text = clean(f"{what} failed: {describe_error(error)}")
        self.errors.append(text)
        self.notify(text, title="Error", severity="error", timeout=10, markup=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker of the app failed: say so and keep running (it logged nothing itself).
        The main screen reports its own workers alike (the message does not bubble)."""
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

    # ----------------------------------------------------------------- app actions

    # The "app" bindings stay on the app (active over every screen, as before); what they
    # act on is the main screen's.

    def action_back_or_quit(self) -> None:
        """q: leave the reader, then the filter, then the app."""
        self.main_screen.back_or_quit()

    def action_help(self) -> None:
        """Show every key binding."""
        from tui.screens.help import HelpScreen  # loaded when first used, not at start

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.user_keymap))

    def action_queue(self) -> None:
        """Show the changes and outgoing mail waiting for the server (retry, discard)."""
        self.main_screen.show_queue()

    def action_switch_pane(self) -> None:
        """Tab: folders -> list (or reader) -> folders."""
        self.main_screen.switch_pane()

    async def action_undo(self) -> None:
        """Undo the last operation."""
        await self.main_screen.actions.undo()

    def action_filter(self) -> None:
        """Show the filter input for the listed folder (results as you type)."""
        self.main_screen.search_control.show_input(search_all=False)

    def action_search(self) -> None:
        """Show the search input for every folder (results as you type)."""
        self.main_screen.search_control.show_input(search_all=True)

    async def action_toggle_threads(self) -> None:
        """Show the listed folder as threads, or flat again."""
        await self.main_screen.search_control.toggle_threads()

    async def action_toggle_thread(self) -> None:
        """Expand or collapse the thread under the cursor (in the thread view)."""
        await self.main_screen.search_control.toggle_thread()

    # ----------------------------------------------------------------- command palette

    async def _on_key(self, event: events.Key) -> None:
        # A key that bubbled up here was forwarded to the widget focused when it arrived.
        # Typed ahead of a focus change ("/" or "m", then a folder's name), it belongs to the
        # input that has focus now, not to the bindings ("a" would archive, "d" delete).
        # Textual then runs App._on_key (the bindings) unless the default is prevented.
        if self._held_keys is not None:
            event.prevent_default()
            self._held_keys.append(events.Key(event.key, event.character))
            return
        focused = self.screen.focused
        if event.is_printable and isinstance(focused, Input):
            event.prevent_default()
            focused.post_message(events.Key(event.key, event.character))

    async def run_action(
        self,
        action: str | ActionParseResult,
        default_namespace: DOMNode | None = None,
        namespaces: Mapping[str, DOMNode] | None = None,
    ) -> bool:
        """Run an action; after one that opens an input, hold the keys typed ahead until
        it has focus (see ``TYPE_AHEAD_WAIT``)."""
        ran = await super().run_action(action, default_namespace, namespaces)
        if ran and isinstance(action, str) and action in _OPENS_INPUT:
            self._hold_keys()
        return ran

    def _hold_keys(self) -> None:
        if self._held_keys is not None:
            return
        self._held_keys = []
        screen, focused = self.screen, self.screen.focused
        started = time.monotonic()

        def release() -> None:
            # Once the input has focus (its screen is up), or the wait is over: the held
            # keys go in order to whatever has focus then, as if typed now.
            moved = self.screen is not screen or self.screen.focused is not focused
            if not moved and time.monotonic() - started < TYPE_AHEAD_WAIT:
                return
            timer.stop()
            held, self._held_keys = self._held_keys or [], None
            for key in held:
                self.post_message(key)

        timer = self.set_interval(0.01, release)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Every bound action is also a command (ctrl+p), titled by its description; the
        reader's while a message is open."""
        yield from super().get_system_commands(screen)
        reading = self.reader.display
        # While a message is open, its own reply/delete/... replace the list's (one each).
        in_reader = {spec.description for spec in DEFAULT_KEYS if spec.scope == "reader"}
        for spec, keys in effective_keys(self.user_keymap):
            if spec.scope == "list" and reading and spec.description in in_reader:
                continue
            if spec.scope == "list":
                callback = partial(self.run_action, spec.action, self.message_list)
            elif spec.scope == "app" and spec.id != "app.palette":
                callback = partial(self.run_action, spec.action)
            elif spec.scope == "reader" and reading:
                # Only while a message is open: elsewhere they would act on nothing.
                callback = partial(self.run_action, spec.action, self.reader)
            else:
                continue
            # The key as a person reads it ("!", "?", "/"), then the id for [keys].
            where = "in the reader: " if spec.scope == "reader" else ""
            yield SystemCommand(
                spec.description, f"{where}{display_keys(keys)}  ·  {spec.id}", callback
            )
