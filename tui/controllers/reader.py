"""The reader pane's logic: opening a message, loading and showing its body (or the whole
message, for an attachment of one shown text first), closing the reader, and laying out
ahead of Enter the message the list cursor rests on, so that opening it only swaps the pane.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from functools import partial

from textual.dom import DOMNode

from tui.controllers import start_worker
from tui.errors import describe_error
from tui.protocol import ActionRequest, Backend, SetRead
from tui.widgets.message_list import MessageList
from tui.widgets.reader import Reader, ReaderStyles, RenderedMessage, render_message

__all__ = [
    "KEY_RELEASE_WAIT",
    "KEY_REPEAT_GAP",
    "PRERENDER_AT_ONCE_MAX",
    "PRERENDER_DELAY",
    "PRERENDER_KEEP",
    "MessageKey",
    "ReaderController",
]

log = logging.getLogger(__name__)

PRERENDER_DELAY = 0.12
"""How long the list cursor must rest on a message before its body is pre-rendered (s):
longer than the gap between key repeats, so scrolling through a folder parses nothing."""
KEY_REPEAT_GAP = 0.045
"""Cursor moves closer together than this (s) come from a key held down (terminals repeat
every 25-40 ms); one further apart is a step, and its message is pre-rendered at once."""
PRERENDER_AT_ONCE_MAX = 256 * 1024
"""Stepped onto, a stored message up to this size (bytes) is laid out at once, without
waiting for the cursor to rest: Enter right after the step then finds it (nearly) ready.
A bigger one waits for the rest: its layout costs more than a step is worth."""
KEY_RELEASE_WAIT = 0.06
"""After a key held down, no repeat for this long (s) means it was let go: a small stored
message under the cursor is laid out then, not after the whole `PRERENDER_DELAY`, so an
Enter pressed soon after letting go of ``j`` finds it (nearly) ready. Longer than the gap
between key repeats, so scrolling past still parses nothing."""
PRERENDER_KEEP = 4
"""How many pre-rendered messages are kept (the last few the cursor rested on)."""

MessageKey = tuple[int, int]
"""(folder id, uid) of a message."""


class ReaderController:
    """Opens messages in the reader and keeps the few laid out ahead of Enter.

    ``host`` runs the workers (and owns their groups); ``reader`` and ``message_list`` get
    the panes; ``note`` writes the status bar's note; ``perform`` sends a request to the
    backend as the list's actions do (opening an unread message marks it read).
    """

    def __init__(
        self,
        backend: Backend,
        *,
        host: DOMNode,
        reader: Callable[[], Reader],
        message_list: Callable[[], MessageList],
        note: Callable[[str], None],
        perform: Callable[[ActionRequest], Awaitable[None]],
    ) -> None:
        self._backend = backend
        self._host = host
        self._reader = reader
        self._message_list = message_list
        self._note = note
        self._perform = perform
        # Messages laid out ahead of Enter (see _prerender), newest last. A RenderedMessage
        # does not depend on the reader's width (BodyView wraps when it paints), so the key
        # is the message alone; the styles it was laid out with are kept to check them.
        self.prerendered: OrderedDict[MessageKey, tuple[ReaderStyles, RenderedMessage]] = (
            OrderedDict()
        )
        """The messages laid out ahead, newest last (tests and benchmarks read it)."""
        self._prerendering: dict[MessageKey, asyncio.Future[RenderedMessage]] = {}
        self._loading_bodies: set[MessageKey] = set()  # the reader is reading (or downloading)
        self.prerender_hits = 0
        """How many messages opened from the pre-rendered cache (tests and benchmarks)."""
        self._last_cursor_move = 0.0  # time.monotonic() of the last list cursor move

    def cancel_prerender(self) -> None:
        """Stop a pre-render still waiting for the cursor to rest (one already laying the
        message out goes on, shielded: its result is kept)."""
        self._host.workers.cancel_group(self._host, "prerender")

    def shows(self, folder_id: int, uid: int) -> bool:
        """Whether the reader still shows this message (a download may outlive the user's
        interest: its result is dropped once they moved on)."""
        reader = self._reader()
        return (reader.folder_id, reader.uid) == (folder_id, uid)

    def close(self) -> None:
        """Hide the reader and give the list back its place and the focus."""
        reader = self._reader()
        if reader.display:
            reader.display = False
            message_list = self._message_list()
            message_list.display = True
            message_list.focus()

    # ----------------------------------------------------------------- opening

    def open(self, folder_id: int, uid: int) -> None:
        """Open a message in the reader (a worker: the headers, then the body)."""
        start_worker(
            self._host,
            partial(self._open_message, folder_id, uid),
            group="reader",
            name="Opening the message",
            exclusive=True,  # the user opened another
        )

    async def _open_message(self, folder_id: int, uid: int) -> None:
        headers = await self._backend.message(folder_id, uid)
        if headers is None:
            self._note("That message is gone")
            return
        message_list, reader = self._message_list(), self._reader()
        row = message_list.row_at(message_list.cursor)
        # A pre-render still waiting for the cursor to rest would lay out this message a
        # second time beside the reader's own; one already running goes on (shielded) and
        # the reader waits for it.
        self.cancel_prerender()
        ready = self._take_prerendered((folder_id, uid))
        message_list.display = False
        reader.display = True
        reader.show_headers(folder_id, headers)
        if ready is not None:
            # Laid out while the cursor rested on it: opening is only swapping the pane.
            self.prerender_hits += 1
            reader.show_message(ready)
        reader.focus()
        located = message_list.locate(row.uid) if row is not None else None
        if row is not None and located == (folder_id, uid) and not row.seen:
            # Opening a message reads it (RFC 3501 2.3.2 \Seen), as every client does.
            await self._perform(SetRead(folder_id, (uid,), True, implicit=True))
        if ready is None:
            await self._show_body(folder_id, uid)

    def body_available(self, folder_id: int, uid: int) -> None:
        """A message's body was stored (downloaded, or replaced): drop a stale layout, and
        show it if the reader is waiting for it."""
        reader = self._reader()
        waiting = reader.display and not reader.body_shown
        # The body may be new or replaced: a layout of the old one is stale.
        self.prerendered.pop((folder_id, uid), None)
        # Not for the reader's own download (storing it announces it): that would lay
        # the message out twice at once, each layout slowing the other.
        loading = (folder_id, uid) in self._loading_bodies
        if waiting and not loading and self.shows(folder_id, uid):
            start_worker(
                self._host,
                partial(self._show_body, folder_id, uid),
                group="reader-body",
                name="Showing the message",
                exclusive=True,
            )

    async def _show_body(self, folder_id: int, uid: int) -> None:
        key = (folder_id, uid)
        self._loading_bodies.add(key)
        try:
            raw = await self._backend.body(folder_id, uid)
        except Exception as error:
            # Shown where the user looks (the reader), in words; the log gets the details.
            log.info("body of %s/%s: %r", folder_id, uid, error)
            if self.shows(folder_id, uid):
                text = f"Could not download this message: {describe_error(error)}"
                self._reader().show_error(text)
            return
        finally:
            self._loading_bodies.discard(key)
        if not self.shows(folder_id, uid):
            return  # the user moved on meanwhile
        if raw is None:
            self._reader().show_missing()
            return
        pending = self._prerendering.get((folder_id, uid))
        if pending is not None:
            # Being laid out already (the cursor rested on it): wait for that, not parse twice.
            rendered = await asyncio.shield(pending)
        else:
            styles = self._reader().styles_for_render()
            # Parsing a big message (MIME walk, HTML layout) must not stall the UI loop.
            rendered = await asyncio.to_thread(render_message, raw, styles)
        if self.shows(folder_id, uid):
            self._reader().show_message(rendered)

    def load_whole(self, folder_id: int, uid: int) -> None:
        """Download the whole of a message shown text first, show it, and let the reader
        carry on with the save or open that asked for it (a worker)."""
        start_worker(
            self._host,
            partial(self._load_whole, folder_id, uid),
            group="reader-whole",
            name="Downloading attachments",
            exclusive=True,
        )

    async def _load_whole(self, folder_id: int, uid: int) -> None:
        try:
            raw = await self._backend.whole_body(folder_id, uid)
        except Exception as error:
            log.info("whole body of %s/%s: %r", folder_id, uid, error)
            if self.shows(folder_id, uid):
                self._reader().whole_failed(describe_error(error))
            return
        if not self.shows(folder_id, uid):
            return  # the user moved on; the message is stored for next time anyway
        if raw is None:
            self._reader().whole_failed("the server no longer has this message")
            return
        styles = self._reader().styles_for_render()
        rendered = await asyncio.to_thread(render_message, raw, styles)
        if self.shows(folder_id, uid):
            self._reader().show_whole(rendered)

    # ----------------------------------------------------------------- pre-rendering

    def cursor_moved(self, folder_id: int, uid: int | None, *, first: bool) -> None:
        """The list cursor moved onto a message (or onto none): lay it out ahead of Enter.

        ``first``: the first rows were just shown; they are not a step (start-up has better
        things to do than layouts)."""
        now = time.monotonic()
        step = not first and now - self._last_cursor_move >= KEY_REPEAT_GAP
        self._last_cursor_move = now
        if uid is None:
            self.cancel_prerender()
        else:
            start_worker(
                self._host,
                partial(self._prerender, folder_id, uid, at_once=step),
                group="prerender",
                name="Preparing the message",
                exclusive=True,  # the next cursor move cancels it
            )

    def _take_prerendered(self, key: MessageKey) -> RenderedMessage | None:
        entry = self.prerendered.get(key)
        if entry is None or entry[0] != self._reader().styles_for_render():
            return None  # not laid out, or with other styles (the theme changed since)
        self.prerendered.move_to_end(key)
        return entry[1]

    async def _prerender(self, folder_id: int, uid: int, *, at_once: bool = False) -> None:
        """Lay out the message the list cursor rests on, if its body is stored here, so that
        Enter only has to swap the pane. Cancelled by the next cursor move (exclusive).

        ``at_once``: the cursor stepped here (no key held down): a small message is laid out
        without waiting (see `PRERENDER_AT_ONCE_MAX`); otherwise once the key is let go
        (`KEY_RELEASE_WAIT`). A big message waits for the cursor to rest (`PRERENDER_DELAY`)."""
        key = (folder_id, uid)
        waited = 0.0 if at_once else KEY_RELEASE_WAIT
        await asyncio.sleep(waited)  # a key held down moves on before this
        if key in self.prerendered or key in self._prerendering:
            return
        raw = await self._backend.cached_body(folder_id, uid)  # never a download
        if raw is None or key in self.prerendered or key in self._prerendering:
            return
        if len(raw) > PRERENDER_AT_ONCE_MAX:
            await asyncio.sleep(PRERENDER_DELAY - waited)  # a big one once the cursor rests
            if key in self.prerendered or key in self._prerendering:
                return
        styles = self._reader().styles_for_render()
        future = asyncio.get_running_loop().run_in_executor(None, render_message, raw, styles)
        self._prerendering[key] = future

        def done(finished: asyncio.Future[RenderedMessage]) -> None:
            # Kept even when this worker was cancelled meanwhile: the work is done anyway.
            if self._prerendering.get(key) is finished:
                del self._prerendering[key]
            if finished.cancelled() or finished.exception() is not None:
                return  # the reader parses it again on Enter and says what went wrong
            self.prerendered[key] = (styles, finished.result())
            self.prerendered.move_to_end(key)
            while len(self.prerendered) > PRERENDER_KEEP:
                self.prerendered.popitem(last=False)

        future.add_done_callback(done)
        await asyncio.shield(future)
