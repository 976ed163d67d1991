"""Filtering and searching the message list, and its thread view: the input under the list,
the note under the input, and the message list's source swapped for a filtered, searched or
threaded one (and back).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.dom import DOMNode
from textual.widgets import Input, Static

from tui.controllers import start_worker
from tui.errors import ReportError
from tui.protocol import Backend
from tui.text import as_content, clean
from tui.widgets.message_list import MessageList

if TYPE_CHECKING:
    # Loaded when first used, not at start: the first frame needs no search or threads
    # (nor the search query parser behind them).
    from tui.search_view import SearchSource

__all__ = ["SearchController"]


class SearchController:
    """The filter (``/``), search (``F``) and thread (``T``, ``v``) views of the list.

    ``host`` runs the search worker; ``message_list``, ``search_input`` and ``search_note``
    get the widgets; ``close_reader`` gives the list back its place; ``note`` writes the
    status bar's note.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        host: DOMNode,
        message_list: Callable[[], MessageList],
        search_input: Callable[[], Input],
        search_note: Callable[[], Static],
        close_reader: Callable[[], None],
        note: Callable[[str], None],
        report_error: ReportError,
    ) -> None:
        self._backend = backend
        self._host = host
        self._message_list = message_list
        self._input = search_input
        self._search_note = search_note
        self._close_reader = close_reader
        self._note = note
        self._report_error = report_error
        self._filter: str | None = None
        self._search_all = False  # the search input looks in every folder, not the listed one
        self._threads = False  # the listed folder is shown as threads

    @property
    def filtering(self) -> bool:
        """Whether the list shows a filter's or a search's results (``q`` clears them)."""
        return self._filter is not None

    def show_input(self, *, search_all: bool) -> None:
        """Show the input: a filter of the listed folder, or a search of every folder."""
        message_list = self._message_list()
        if message_list.folder_id is None:
            return
        self._close_reader()
        box = self._input()
        if search_all != self._search_all:
            self._search_all = search_all
            box.value = ""
        else:
            box.value = self._filter or ""
        box.placeholder = "search all folders…" if search_all else "filter this folder…"
        box.display = True
        self._say("")
        # At once, not with Widget.focus (deferred with call_later): keys typed right after
        # "/" are already queued, and must reach the input, not the list ("c" composes).
        box.screen.set_focus(box)

    def _say(self, text: str) -> None:
        # The line under the input: why a query cannot run, or what the server phase found.
        note = self._search_note()
        note.update(as_content(clean(text)))
        note.display = bool(text) and self._input().display

    def _hide_input(self) -> None:
        self._input().display = False
        self._search_note().display = False
        self._message_list().focus()

    def typed(self, box: Input, value: str) -> None:
        """The input changed: search as the user types (after a short pause)."""
        if box.display and self._host.app.focused is box:
            self.run_search(value.strip(), delay=0.15)

    def submitted(self, value: str) -> None:
        """Enter in the input: hide it and search at once."""
        self._hide_input()
        self.run_search(value.strip(), delay=0.0)

    def escape_pressed(self) -> None:
        """Esc in the input hides it (the results stay)."""
        box = self._input()
        if box.display and self._host.app.focused is box:
            self._hide_input()

    def run_search(self, query: str, delay: float) -> None:
        """Search (or filter) for ``query`` after ``delay`` seconds (a worker)."""
        # Exclusive: each keystroke cancels the search before it, its server phase included;
        # the pause lets fast typing through without a query per key.
        start_worker(
            self._host,
            partial(self._search, query, delay),
            name="Searching",
            group="search",
            exclusive=True,
        )

    async def _search(self, query: str, delay: float) -> None:
        from sync.search.query import QueryError
        from tui.search_view import SearchSource  # loaded when first used, not at start

        if delay:
            await asyncio.sleep(delay)
        message_list = self._message_list()
        listed = message_list.source
        home = listed.folder_id if listed is not None else None
        if home is None:
            return
        if not query:
            self.clear_filter(reload=True, cancel=False)
            return
        try:
            if self._search_all:
                source = await self._backend.search_source(home, query)
            else:
                source = await self._backend.filtered_source(home, query)
        except QueryError as error:
            self._say(error.reason)  # words under the input, never a traceback
            return
        except Exception as error:
            self._report_error("Searching", error)
            return
        if source is None:
            self._say("Search is not available here")
            return
        self._filter = query
        self._threads = False
        message_list.set_source(source)
        scope = "all folders" if self._search_all else "this folder"
        self._note(clean(f"Search in {scope}: {query} (q clears)"))
        self._say("")
        if isinstance(source, SearchSource) and source.has_server_phase:
            await self._server_phase(source)

    async def _server_phase(self, source: SearchSource) -> None:
        self._say("Local results; asking the server about messages not downloaded…")
        offline: list[str] = []
        not_synced = 0
        async for news in source.server_results():
            if news.unavailable is not None:
                offline.append(news.unavailable)
            not_synced += news.not_synced
            message_list = self._message_list()
            if news.hits and message_list.source is source:
                message_list.reload()
        found = source.server_count
        parts = [f"{found} more on the server ([server])" if found else "none more on the server"]
        if not_synced:
            parts.append(f"{not_synced} appear after the next sync")
        if offline:
            parts = ["Offline: local results only", *offline]
        text = "; ".join(parts)
        self._say(text)
        self._note(text)

    def clear_filter(self, *, reload: bool, cancel: bool = True) -> None:
        """Forget the filter (and the thread view); ``reload`` lists the folder again."""
        if cancel:
            self._host.workers.cancel_group(self._host, "search")
        self._threads = False
        if self._filter is None:
            return
        self._filter = None
        folder_id = self._message_list().folder_id
        if reload and folder_id is not None:
            self._message_list().set_source(self._backend.source(folder_id))
            self._note("Filter cleared")

    # ----------------------------------------------------------------- threads

    async def toggle_threads(self) -> None:
        """Show the listed folder as threads, or flat again."""
        message_list = self._message_list()
        folder_id = message_list.folder_id
        if folder_id is None:
            return
        threads = self._threads
        self.clear_filter(reload=False)
        if threads:
            message_list.set_source(self._backend.source(folder_id))
            self._note("Flat list")
            return
        source = await self._backend.thread_source(folder_id)
        if source is None:
            self._note("Threads are not available for this folder")
            return
        self._threads = True
        message_list.set_source(source)
        self._note("Threads (Enter or v expands, T: flat list)")

    async def toggle_thread(self) -> None:
        """Expand or collapse the thread under the cursor (in the thread view)."""
        from tui.search_view import ThreadSource  # loaded when first used, not at start

        message_list = self._message_list()
        source = message_list.source
        uid = message_list.cursor_uid
        if not isinstance(source, ThreadSource) or uid is None:
            return
        head = source.head_uid(uid)
        if await source.toggle(uid):
            if head is not None and head != uid:
                message_list.move_cursor_to_uid(head)  # collapsing from inside
            message_list.reload()
