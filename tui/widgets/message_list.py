"""The message list: a virtual Line-API view over a folder of any size.

Why not DataTable/ListView: measured on Textual 8.2.8, DataTable takes ~46 s to first paint 100k
rows (one Python object per cell) and ListView ~32 s for 10k, while a `ScrollView` that renders
only the visible lines from a page cache paints 100k rows in ~0.1 s.

How it works:
- The source gives the folder's order once as two compact arrays (sort values and uids, newest
  first): ~1.6 MB for 100k messages and no per-message Python objects. Position -> uid is an
  array index; uid -> position is ``array.index`` (C speed).
- Rows are fetched in pages by KEYSET (the key of the row just before the page comes from the
  arrays), never by OFFSET, in workers owned by the widget; a bounded cache keeps the pages
  around the viewport. Lines whose row has not arrived render as placeholders and are refreshed
  alone when their page lands.
- Each row is cleaned (``sync.clean.clean_text``) once, when its page arrives, into a small
  immutable `RowView`; rendering builds segments from it directly (no markup anywhere).
- The cursor and selection are kept by uid, so live changes (new mail above, expunges) keep the
  cursor on its message and the viewport on the rows the user was looking at.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.keys import bindings_for
from tui.protocol import ListRow, MessageSource, SpansFolders
from tui.text import Clean, clean, fit_cells

__all__ = [
    "PAGE_SIZE",
    "MessageList",
    "RowView",
    "format_date",
]

PAGE_SIZE = 200
"""Rows per keyset page (the store's default page size)."""

# Pages kept around the viewport: enough for fast scrolling back and forth, bounded memory.
_CACHE_MARGIN_PAGES = 3
_MAX_CACHED_ROWS = PAGE_SIZE * 12
# The whole order loads once the first page is painted, or after this long (s) if the list
# is not painted (hidden, or the screen held).
_ORDER_WAIT = 0.3
_SUBJECT_MAX = 500  # a list row never shows more; a 10 KB subject is cut once, at load
_FROM_MAX = 200


@dataclass(frozen=True, slots=True)
class RowView:
    """One message as the list shows it: cleaned and formatted once, when its page arrives."""

    uid: int
    seen: bool
    flagged: bool
    answered: bool
    deleted: bool
    attachment: bool
    date: Clean
    sender: Clean
    subject: Clean


def format_date(timestamp: int, now: time.struct_time) -> str:
    """Short local date for a list row: time today, month and day this year, else ISO date."""
    if timestamp <= 0:
        return ""
    moment = time.localtime(timestamp)
    if moment.tm_year == now.tm_year and moment.tm_yday == now.tm_yday:
        return time.strftime("%H:%M", moment)
    if moment.tm_year == now.tm_year:
        return time.strftime("%b %d", moment)
    return time.strftime("%Y-%m-%d", moment)


def _row_view(row: ListRow, now: time.struct_time) -> RowView:
    flags = {flag.lower() for flag in row.flags}
    sender = row.from_name or row.from_addr
    return RowView(
        uid=row.uid,
        seen=row.seen,
        flagged=row.flagged,
        answered="\\answered" in flags,
        deleted="\\deleted" in flags,
        attachment=row.has_attachment,
        date=Clean(format_date(row.date, now)),
        sender=clean(sender, max_length=_FROM_MAX),
        subject=clean(row.subject, max_length=_SUBJECT_MAX) or Clean("(no subject)"),
    )


class MessageList(ScrollView, can_focus=True):
    """A virtual, keyset-paged list of one folder's messages, newest first."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings_for("list"))

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "message-list--cursor",
        "message-list--selected",
        "message-list--unread",
        "message-list--flagged",
        "message-list--date",
        "message-list--from",
        "message-list--placeholder",
    }

    DEFAULT_CSS = """
    MessageList {
        overflow-x: hidden;
        overflow-y: auto;
        background: $surface;
        color: $foreground;
    }
    /* Without focus (another pane, or the terminal window itself unfocused: Textual then
       drops :focus) the cursor must still show, also in 256 and 16 colours, where a lighter
       surface quantises to the surface itself: reverse video, as mutt draws its cursor.
       With focus, the full primary colour: at 50% over the surface it also quantised to a
       grey next to the surface in 256 colours. */
    MessageList > .message-list--cursor { text-style: reverse; }
    MessageList:focus > .message-list--cursor { background: $primary; text-style: none; }
    MessageList > .message-list--selected { background: $secondary 30%; }
    MessageList > .message-list--unread { text-style: bold; }
    MessageList > .message-list--flagged { color: $warning; }
    MessageList > .message-list--date { color: $text-muted; }
    MessageList > .message-list--from { color: $text; }
    MessageList > .message-list--placeholder { color: $text-disabled; }
    """

    class Opened(Message):
        """The user opened a message (Enter)."""

        def __init__(self, folder_id: int, uid: int) -> None:
            super().__init__()
            self.folder_id = folder_id
            self.uid = uid

    class ActionRequested(Message):
        """The user asked for an action on messages (the selection, else the cursor's).

        ``value`` carries the target state of toggles (``flag``: flag them or not;
        ``toggle_read``: mark read or unread), decided from the cursor's row so that the
        operation sent on is idempotent.
        """

        def __init__(
            self, action: str, folder_id: int, uids: tuple[int, ...], value: bool | None = None
        ) -> None:
            super().__init__()
            self.action = action
            self.folder_id = folder_id
            self.uids = uids
            self.value = value

    class CursorMoved(Message):
        """The cursor is on another message (or on none)."""

        def __init__(self, folder_id: int, uid: int | None) -> None:
            super().__init__()
            self.folder_id = folder_id
            self.uid = uid

    class SelectionChanged(Message):
        """The multi-selection changed."""

        def __init__(self, count: int) -> None:
            super().__init__()
            self.count = count

    class LoadFailed(Message):
        """Reading from the source failed (the list keeps what it has)."""

        def __init__(self, error: BaseException) -> None:
            super().__init__()
            self.error = error

    def __init__(
        self,
        source: MessageSource | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._source: MessageSource | None = None
        self._sort_values: array[int] = array("q")
        self._uids: array[int] = array("q")
        self._keys_loaded = False
        self._rows: dict[int, RowView] = {}
        self._fresh_pages: set[int] = set()  # pages fetched since the last key reload
        self._loading_pages: set[int] = set()
        self._failed_pages: set[int] = set()  # not retried until the next reload
        self._generation = 0  # bumped whenever positions change; older page results are dropped
        self._cursor = 0
        self._selected: set[int] = set()
        self._keys_running = False
        self._keys_token = 0  # identifies the current key load; stale loads do not clear flags
        self._order_after_paint: int | None = None  # the key load's token, until painted
        self._reload_again = False
        self._initial_source = source
        self._style_cache: dict[tuple[bool, ...], tuple[Style, Style, Style]] = {}

    # ----------------------------------------------------------------- public state

    @property
    def source(self) -> MessageSource | None:
        """The source being listed."""
        return self._source

    @property
    def folder_id(self) -> int | None:
        """The listed folder's id, or None before a source is set."""
        return self._source.folder_id if self._source is not None else None

    @property
    def row_count(self) -> int:
        """Messages in the list."""
        return len(self._uids)

    @property
    def keys_loaded(self) -> bool:
        """True once the source's order has been read."""
        return self._keys_loaded

    @property
    def cursor(self) -> int:
        """The cursor's position (0 is the newest message)."""
        return self._cursor

    @property
    def cursor_uid(self) -> int | None:
        """The uid under the cursor, or None in an empty list."""
        return self._uids[self._cursor] if self._cursor < len(self._uids) else None

    @property
    def selected_uids(self) -> frozenset[int]:
        """The multi-selected uids."""
        return frozenset(self._selected)

    @property
    def page_loads_pending(self) -> int:
        """Pages being fetched right now."""
        return len(self._loading_pages)

    def uid_at(self, index: int) -> int:
        """The uid at a position."""
        return self._uids[index]

    def row_at(self, index: int) -> RowView | None:
        """The cached row at a position, or None when its page has not arrived."""
        if 0 <= index < len(self._uids):
            return self._rows.get(self._uids[index])
        return None

    def locate(self, uid: int) -> tuple[int, int]:
        """The (folder id, UID) of a listed row: its own folder when the source spans several."""
        if isinstance(self._source, SpansFolders):
            return self._source.locate(uid)
        return (self._source.folder_id if self._source is not None else 0), uid

    def target_uids(self) -> tuple[int, ...]:
        """The uids an action applies to: the selection in list order, else the cursor's."""
        if self._selected:
            if len(self._selected) == 1:
                return tuple(self._selected)
            order = {uid: i for i, uid in enumerate(self._uids) if uid in self._selected}
            return tuple(sorted(order, key=order.__getitem__))
        uid = self.cursor_uid
        return (uid,) if uid is not None else ()

    # ----------------------------------------------------------------- loading

    def set_source(
        self, source: MessageSource | None, *, first_page: Sequence[ListRow] | None = None
    ) -> None:
        """List another folder (or filter): cursor to the newest message, selection cleared.

        ``first_page`` is the source's newest page (``source.page(None, PAGE_SIZE)``) when
        the caller has read it already: it is shown at once, instead of read again.
        """
        self._source = source
        self._keys_token += 1
        self._keys_running = False
        self._order_after_paint = None
        self._reload_again = False
        self.workers.cancel_group(self, "message-list-keys")
        self.workers.cancel_group(self, "message-list-pages")
        self._sort_values = array("q")
        self._uids = array("q")
        self._keys_loaded = False
        self._rows.clear()
        self._fresh_pages.clear()
        self._loading_pages.clear()
        self._failed_pages.clear()
        self._generation += 1
        self._cursor = 0
        self._selected.clear()
        self._update_virtual_size()
        self.scroll_to(y=0, animate=False)
        self.refresh()
        if source is not None and first_page is not None:
            self._apply_first_page(source, self._keys_token, first_page)
        elif source is not None:
            # The newest page needs no keys: showing it first makes the first paint
            # independent of the folder's size. The whole order loads once that page is
            # painted: run together, the order's query (60-200 ms at 100k, the first one cold)
            # shares the database connection and the GIL with the page and delays its paint.
            self.run_worker(
                self._load_first_page(source, self._keys_token),
                group="message-list-pages",
                exit_on_error=False,
            )

    def reload(self, changed_uids: Collection[int] | None = None) -> None:
        """Re-read the order and the visible rows (after the store announced a change).

        Rows already shown stay on screen until their fresh copy arrives, so an update does
        not flash placeholders. Calls during a reload are coalesced into one more reload.
        ``changed_uids`` is a hint: those rows are dropped at once when off screen.
        """
        if self._source is None:
            return
        if changed_uids:
            visible = self._visible_uid_set()
            for uid in changed_uids:
                if uid not in visible:
                    self._rows.pop(uid, None)
        if self._keys_running:
            self._reload_again = True
            return
        self._keys_running = True
        self.run_worker(
            self._load_keys(self._source, self._keys_token),
            group="message-list-keys",
            exit_on_error=False,
        )

    async def _load_keys(self, source: MessageSource, token: int) -> None:
        try:
            sort_values, uids = await source.keys()
        except Exception as error:
            self.post_message(self.LoadFailed(error))
            return
        finally:
            if token == self._keys_token:
                self._keys_running = False
        if source is not self._source or token != self._keys_token:
            return
        self._apply_keys(sort_values, uids)
        if self._reload_again:
            self._reload_again = False
            self.reload()

    async def _load_first_page(self, source: MessageSource, token: int) -> None:
        try:
            rows = await source.page(None, PAGE_SIZE)
        except Exception as error:
            self.post_message(self.LoadFailed(error))
            rows = None
        if token != self._keys_token or source is not self._source:
            return
        if rows is None:
            self._load_order(token)  # nothing to paint first
            return
        self._apply_first_page(source, token, rows)

    def _apply_first_page(self, source: MessageSource, token: int, rows: Sequence[ListRow]) -> None:
        # The whole order next, once these rows are on screen (`render_line`), or after a
        # while if they are not painted (a reload that came meanwhile may have started it).
        self._order_after_paint = token
        self.set_timer(_ORDER_WAIT, partial(self._load_order, token))
        if self._keys_loaded:
            return
        now = time.localtime()
        for row in rows:
            self._rows[row.uid] = _row_view(row, now)
        # Provisional order until the keys arrive: no further page can be fetched from it
        # (its sort values are unknown), and `_apply_keys` replaces it.
        self._uids = array("q", [row.uid for row in rows])
        self._sort_values = array("q", bytes(8 * len(rows)))
        self._update_virtual_size()
        self.refresh()
        # Also for an empty folder (no message under the cursor): the app waits for this.
        self.post_message(self.CursorMoved(source.folder_id, self._uids[0] if rows else None))

    def _load_order(self, token: int) -> None:
        if token == self._keys_token and not self._keys_loaded and not self._keys_running:
            self.reload()

    def _apply_keys(self, sort_values: array[int], uids: array[int]) -> None:
        old_uids = self._uids
        old_cursor_uid = self.cursor_uid
        old_cursor = self._cursor
        old_top = self.scroll_offset.y
        top_uid = old_uids[old_top] if old_top < len(old_uids) else None
        # The first page, read before the order: still the first page if the order agrees,
        # so it is not read again.
        first_page_current = (
            not self._keys_loaded
            and len(old_uids) == min(PAGE_SIZE, len(uids))
            and old_uids == uids[: len(old_uids)]
        )

        self._sort_values = sort_values
        self._uids = uids
        self._keys_loaded = True
        self._generation += 1
        self._fresh_pages.clear()
        if first_page_current and uids:
            self._fresh_pages.add(0)
        self._loading_pages.clear()
        self._failed_pages.clear()
        if self._selected:
            present = set(uids) if len(self._selected) > 8 else None
            kept = {u for u in self._selected if (u in present if present else u in uids)}
            if kept != self._selected:
                self._selected = kept
                self.post_message(self.SelectionChanged(len(kept)))

        count = len(uids)
        # The cursor stays on its message; if that message is gone it stays at the same
        # position (the next message, as mutt does after a delete).
        new_cursor = _index_of(uids, old_cursor_uid)
        if new_cursor is None:
            new_cursor = min(old_cursor, max(count - 1, 0))
        self._cursor = new_cursor
        self._update_virtual_size()
        # At the top the user watches new mail arrive; further down, keep the same rows in
        # view even when messages are inserted or removed above them.
        if old_top > 0:
            anchor = _index_of(uids, top_uid)
            new_top = anchor if anchor is not None else old_top + (new_cursor - old_cursor)
            self.scroll_to(y=max(new_top, 0), animate=False)
        self._scroll_cursor_into_view()
        self.refresh()
        self._request_visible()
        if self.cursor_uid != old_cursor_uid and self._source is not None:
            self._post_cursor_moved(self.cursor_uid)

    def _request_visible(self) -> None:
        if not self._keys_loaded or not self._uids:
            return
        top = self.scroll_offset.y
        height = max(self.scrollable_content_region.height, 1)
        # Fetch the visible pages, plus one screen ahead on each side for smooth scrolling.
        first = max(top - height, 0) // PAGE_SIZE
        last = min(top + 2 * height, len(self._uids) - 1) // PAGE_SIZE
        visible_first = top // PAGE_SIZE
        # Visible pages first so the screen fills before the prefetch.
        order = sorted(range(first, last + 1), key=lambda p: abs(p - visible_first))
        for page in order:
            self._want_page(page)

    def _want_page(self, page: int) -> None:
        if page in self._fresh_pages or page in self._loading_pages or self._source is None:
            return
        if page in self._failed_pages:
            return  # a repaint must not turn a failing read into a retry loop
        if not self._keys_loaded:
            return  # keyset pages need the order; the first page is on its way already
        start = page * PAGE_SIZE
        if start >= len(self._uids):
            return
        # The keyset bound is taken now, from the arrays this page number refers to.
        after = (self._sort_values[start - 1], self._uids[start - 1]) if start > 0 else None
        self._loading_pages.add(page)
        self.run_worker(
            self._load_page(self._source, page, after, self._generation),
            group="message-list-pages",
            exit_on_error=False,
        )

    async def _load_page(
        self,
        source: MessageSource,
        page: int,
        after: tuple[int, int] | None,
        generation: int,
    ) -> None:
        start = page * PAGE_SIZE
        try:
            rows = await source.page(after, PAGE_SIZE)
        except Exception as error:
            if generation == self._generation:
                self._loading_pages.discard(page)
                self._failed_pages.add(page)
            self.post_message(self.LoadFailed(error))
            return
        if generation != self._generation or source is not self._source:
            return  # positions changed meanwhile; a newer request covers this page
        self._loading_pages.discard(page)
        now = time.localtime()
        for row in rows:
            self._rows[row.uid] = _row_view(row, now)
        self._fresh_pages.add(page)
        self._trim_cache()
        top = self.scroll_offset.y
        height = self.scrollable_content_region.height
        # Refresh only the lines of this page that are on screen.
        lo, hi = max(start, top), min(start + PAGE_SIZE, top + height)
        if lo < hi:
            self.refresh_lines(lo, hi - lo)

    def _trim_cache(self) -> None:
        if len(self._rows) <= _MAX_CACHED_ROWS:
            return
        top = self.scroll_offset.y
        lo = max(top - _CACHE_MARGIN_PAGES * PAGE_SIZE, 0)
        hi = min(top + (_CACHE_MARGIN_PAGES + 1) * PAGE_SIZE, len(self._uids))
        keep = self._uids[lo:hi]
        self._rows = {uid: row for uid in keep if (row := self._rows.get(uid)) is not None}
        first, last = lo // PAGE_SIZE, (hi - 1) // PAGE_SIZE
        self._fresh_pages = {p for p in self._fresh_pages if first < p < last}

    def _visible_uid_set(self) -> set[int]:
        top = self.scroll_offset.y
        return set(self._uids[top : top + self.scrollable_content_region.height])

    # ----------------------------------------------------------------- rendering

    def on_mount(self) -> None:
        """Start listing the source given to the constructor."""
        self._update_virtual_size()
        if self._initial_source is not None:
            source, self._initial_source = self._initial_source, None
            self.set_source(source)

    def on_resize(self, event: events.Resize) -> None:
        """Keep the virtual width equal to the widget (no horizontal scrolling)."""
        self._update_virtual_size()
        self._scroll_cursor_into_view()
        self._request_visible()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """Fetch the pages that scrolled into view."""
        super().watch_scroll_y(old_value, new_value)
        self._request_visible()

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._uids))

    def render_line(self, y: int) -> Strip:
        """Render one visible line from the page cache (a placeholder while it loads)."""
        if self._order_after_paint is not None:
            # The first page is being painted: load the whole order right after this frame.
            self.call_after_refresh(self._load_order, self._order_after_paint)
            self._order_after_paint = None
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        if index >= len(self._uids):
            base, _, _ = self._styles(False, False, True, False)
            if index == 0 and self._keys_loaded:
                _, _, dim = self._styles(False, False, True, False, placeholder=True)
                return Strip([Segment(fit_cells(Clean("No messages"), width), dim)])
            return Strip.blank(width, base)
        uid = self._uids[index]
        row = self._rows.get(uid)
        if row is None:
            self._want_page(index // PAGE_SIZE)
        return self._render_row(row, width, index == self._cursor, uid in self._selected)

    def _styles(
        self,
        selected: bool,
        cursor: bool,
        seen: bool,
        flagged: bool,
        *,
        placeholder: bool = False,
    ) -> tuple[Style, Style, Style]:
        """(line background, text style, date style) for a row state, computed once.

        Resolving a widget's rich style walks the CSS of its ancestors (~40 µs); a screenful
        of rows has only a handful of distinct states, so they are cached until the styles
        change (theme, focus). The cursor row and selected rows (a few per screen) are always
        resolved afresh: a cursor style cached before the terminal's focus state settled was
        seen to stay stale in tmux, leaving the cursor invisible.
        """
        key = (selected, cursor, seen, flagged, placeholder)
        cached = None if cursor or selected else self._style_cache.get(key)
        if cached is not None:
            return cached

        def component(name: str) -> Style:
            return self.get_component_rich_style(name)

        def overlay(name: str) -> Style:
            # Colour and attributes only: a full component style carries the widget's
            # background, which would paint over the cursor's (unread rows lost their
            # cursor in a real terminal this way).
            full = self.get_component_rich_style(name)
            return Style(
                color=full.color,
                bold=full.bold,
                dim=full.dim,
                italic=full.italic,
                underline=full.underline,
                strike=full.strike,
            )

        base = self.rich_style
        if selected:
            base += component("message-list--selected")
        if cursor:
            base += component("message-list--cursor")
        text = base
        if placeholder:
            text += overlay("message-list--placeholder")
        if not seen:
            text += overlay("message-list--unread")
        if flagged:
            text += overlay("message-list--flagged")
        styles = (base, text, text + overlay("message-list--date"))
        self._style_cache[key] = styles
        return styles

    def notify_style_update(self) -> None:
        """Styles changed (theme, focus): drop the cached row styles."""
        self._style_cache.clear()
        super().notify_style_update()

    def on_focus(self, event: events.Focus) -> None:
        """The cursor looks different with focus."""
        self._style_cache.clear()
        self.refresh()

    def on_blur(self, event: events.Blur) -> None:
        """The cursor looks different without focus."""
        self._style_cache.clear()
        self.refresh()

    def _render_row(
        self, row: RowView | None, width: int, is_cursor: bool, is_selected: bool
    ) -> Strip:
        if row is None:
            base, dim, _ = self._styles(is_selected, is_cursor, True, False, placeholder=True)
            return Strip([Segment(fit_cells(Clean("  …"), width), dim)], width)
        base, text_style, date_style = self._styles(is_selected, is_cursor, row.seen, row.flagged)
        from_width = min(24, max(width // 4, 8))
        fixed = 1 + 3 + 1 + 10 + 1 + from_width + 1 + 2
        subject_width = max(width - fixed, 0)
        flags = (
            ("*" if is_selected else " ")
            + ("N" if not row.seen else " ")
            + ("!" if row.flagged else " ")
            + ("r" if row.answered else "D" if row.deleted else " ")
            + " "
        )
        segments = [
            Segment(flags, text_style),
            Segment(fit_cells(row.date, 10) + " ", date_style),
            Segment(fit_cells(row.sender, from_width) + " ", text_style),
            Segment(fit_cells(row.subject, subject_width), text_style),
            Segment(" @" if row.attachment else "  ", text_style),
        ]
        return Strip(segments).adjust_cell_length(width, base)

    # ----------------------------------------------------------------- cursor

    def move_cursor(self, index: int) -> None:
        """Put the cursor on a position (clamped) and scroll it into view."""
        count = len(self._uids)
        if count == 0:
            return
        index = min(max(index, 0), count - 1)
        old = self._cursor
        if index == old:
            return
        self._cursor = index
        self.refresh_line(old)
        self.refresh_line(index)
        self._scroll_cursor_into_view()
        if self._source is not None:
            self._post_cursor_moved(self._uids[index])

    def _post_cursor_moved(self, uid: int | None) -> None:
        if uid is None:
            self.post_message(self.CursorMoved(self.locate(0)[0], None))
        else:
            self.post_message(self.CursorMoved(*self.locate(uid)))

    def move_cursor_to_uid(self, uid: int) -> bool:
        """Put the cursor on a message; False when it is not in the list."""
        index = _index_of(self._uids, uid)
        if index is None:
            return False
        self.move_cursor(index)
        return True

    def _scroll_cursor_into_view(self) -> None:
        height = self.scrollable_content_region.height
        if height <= 0 or not self._uids:
            return
        top = self.scroll_offset.y
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False)
        elif self._cursor >= top + height:
            self.scroll_to(y=self._cursor - height + 1, animate=False)

    def action_cursor_down(self) -> None:
        """Next (older) message."""
        self.move_cursor(self._cursor + 1)

    def action_cursor_up(self) -> None:
        """Previous (newer) message."""
        self.move_cursor(self._cursor - 1)

    def action_cursor_top(self) -> None:
        """Newest message."""
        self.move_cursor(0)

    def action_cursor_bottom(self) -> None:
        """Oldest message."""
        self.move_cursor(len(self._uids) - 1)

    def action_page_down(self) -> None:
        """Scroll a screen down, the cursor with it."""
        self._page(+1)

    def action_page_up(self) -> None:
        """Scroll a screen up, the cursor with it."""
        self._page(-1)

    def _page(self, direction: int) -> None:
        height = max(self.scrollable_content_region.height, 1)
        top = self.scroll_offset.y
        max_top = max(len(self._uids) - height, 0)
        new_top = min(max(top + direction * height, 0), max_top)
        self.scroll_to(y=new_top, animate=False)
        if new_top == top:  # at an end: go to the first/last row
            self.move_cursor(0 if direction < 0 else len(self._uids) - 1)
        else:
            self.move_cursor(self._cursor + (new_top - top))

    def on_click(self, event: events.Click) -> None:
        """Click moves the cursor; a double click opens."""
        index = self.scroll_offset.y + event.y
        if index < len(self._uids):
            self.move_cursor(index)
            if event.chain >= 2:
                self.action_open()

    # ----------------------------------------------------------------- actions

    def action_open(self) -> None:
        """Open the message under the cursor."""
        uid = self.cursor_uid
        if uid is not None and self._source is not None:
            self.post_message(self.Opened(*self.locate(uid)))

    def action_toggle_select(self) -> None:
        """Select or unselect the cursor's message, then move down."""
        uid = self.cursor_uid
        if uid is None:
            return
        if uid in self._selected:
            self._selected.discard(uid)
        else:
            self._selected.add(uid)
        self.refresh_line(self._cursor)
        self.post_message(self.SelectionChanged(len(self._selected)))
        self.move_cursor(self._cursor + 1)

    def action_clear_selection(self) -> None:
        """Unselect everything."""
        if self._selected:
            self._selected.clear()
            self.refresh()
            self.post_message(self.SelectionChanged(0))

    def clear_selection(self) -> None:
        """Unselect everything (after an action consumed the selection)."""
        self.action_clear_selection()

    def action_request(self, action: str) -> None:
        """Ask the app to act on the selection (or the cursor's message)."""
        self.request(action, self.target_uids())

    def request_for_cursor(self, action: str) -> None:
        """Ask the app to act on the cursor's message alone (the one open in the reader)."""
        uid = self.cursor_uid
        self.request(action, (uid,) if uid is not None else ())

    def request(self, action: str, uids: tuple[int, ...]) -> None:
        """Ask the app to act on ``uids`` (listed row ids)."""
        if self._source is None:
            return
        if not uids and action != "compose":
            return
        value: bool | None = None
        row = self.row_at(self._cursor)
        if action == "flag":
            value = not row.flagged if row is not None else True
        elif action == "toggle_read":
            value = not row.seen if row is not None else True
        if not isinstance(self._source, SpansFolders):
            self.post_message(self.ActionRequested(action, self._source.folder_id, uids, value))
            return
        # Results from several folders: one request per folder, each with its own UIDs.
        by_folder: dict[int, list[int]] = {}
        for uid in uids:
            folder_id, real_uid = self.locate(uid)
            by_folder.setdefault(folder_id, []).append(real_uid)
        if not by_folder:
            by_folder[self._source.folder_id] = []
        for folder_id, folder_uids in by_folder.items():
            self.post_message(self.ActionRequested(action, folder_id, tuple(folder_uids), value))


def _index_of(uids: array[int], uid: int | None) -> int | None:
    if uid is None:
        return None
    try:
        return uids.index(uid)
    except ValueError:
        return None
