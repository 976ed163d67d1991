"""The reader pane: a message's headers, attachments and body, as `sync.mime` parses it.

Opening a message shows its headers from the list row at once (they are in the store) and a
loading note; the raw message is then parsed and laid out by `render_message` in a thread
(a 30 MB message or a big HTML newsletter must not stall the UI), and `Reader.show_message`
swaps the result in. Quoted lines are coloured by depth, HTML links are listed by their real
targets (with `sync.mime`'s phishing warnings), attachments by name, type and size.

Every mail string goes through `tui.text` (``clean``/``as_text``) and reaches the widgets as
plain `Text`, never as markup.
"""

from __future__ import annotations

import asyncio
import re
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, ClassVar, Literal, NamedTuple

from rich.cells import cell_len, get_character_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from tui.keys import bindings_for
from tui.protocol import MessageHeaders
from tui.screens.reader_dialogs import ChoiceScreen, PromptScreen
from tui.screens.reader_files import (
    Opener,
    OpenerError,
    PrivateCopies,
    default_save_directory,
    opener_command,
    url_refusal,
)
from tui.text import Clean, as_text, clean

if TYPE_CHECKING:  # sync.mime (and lxml) load when the first message opens, not at start
    from sync.mime import AttachmentInfo, DisplayHeaders, Link, ParsedMessage

__all__ = [
    "BodyLines",
    "BodyView",
    "LinkRef",
    "Reader",
    "ReaderStyles",
    "RenderedMessage",
    "header_text",
    "human_size",
    "link_refs",
    "notes_text",
    "parsed_header_text",
    "render_message",
    "selectable_parts",
    "wrap_offsets",
]

_BODY_MAX = 2_000_000  # characters; a reader pane never needs more
_HEADER_MAX = 2000
_LISTED = 50  # attachments listed at once
_PLAIN = Style()
_BOLD = Style(bold=True)
_DIM = Style(dim=True)
BodyLines = tuple[tuple[Clean, Style | None], ...]
"""A body as cleaned logical lines (not wrapped), each with its style (None: plain)."""

_QUOTE_CLASSES = ("reader--quote-1", "reader--quote-2", "reader--quote-3", "reader--quote-4")

# A link's number as sync.mime.html writes it after the link's text ("the guide[2]") and at
# the head of each entry of the "Links:" list ("[2] https://...").
_LINK_NUMBER = re.compile(r"\[(\d{1,6})\]")
_DIGITS = frozenset("0123456789")


class LinkRef(NamedTuple):
    """Where a link stands in the laid-out body: a span of one line (characters ``start`` to
    ``end``: the link's text when it sits on that line, and its ``[number]``)."""

    line: int
    start: int
    end: int
    number: int


@dataclass(frozen=True, slots=True)
class ReaderStyles:
    """The reader's styles, resolved from its CSS on the UI thread for `render_message`."""

    quotes: tuple[Style, ...] = ()
    link: Style = _PLAIN
    warning: Style = _PLAIN
    label: Style = _BOLD
    dim: Style = _DIM


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """A message laid out for the reader: headers and notes as plain `Text`, the body as
    cleaned lines with their styles (`BodyView` wraps and paints only what is visible).

    ``notes`` holds parse warnings and the attachment list (empty when there are none);
    ``body_text`` is the cleaned body as one string (what tests and search read). The rest
    is what the reader's actions need: the ``raw`` message (source view), the ``warnings``
    block, the ``attachments`` (inline parts last, ``inline_parts`` of them), and the
    body's numbered ``links``. ``partial``: a large message shown text first, whose other
    parts (``not_downloaded_size`` bytes) are still on the server (issue 7).
    """

    headers: Text
    notes: Text
    body: BodyLines
    body_text: str
    raw: bytes = b""
    warnings: Text = field(default_factory=Text)
    attachments: tuple[AttachmentInfo, ...] = ()
    inline_parts: int = 0
    links: tuple[Link, ...] = ()
    link_refs: tuple[LinkRef, ...] = ()  # where the links stand in ``body``, in order
    partial: bool = False
    not_downloaded_size: int = 0


def _header_block(lines: list[tuple[str, str | None]], label: Style | str = "bold") -> Text:
    result = Text(no_wrap=False, end="")
    for name, value in lines:
        if not value and name in ("Cc", "Reply-To"):
            continue
        if result.plain:
            result.append("\n")
        result.append(f"{name}: ", style=label)
        result.append_text(as_text(clean(value, max_length=_HEADER_MAX)))
    return result


def header_text(headers: MessageHeaders) -> Text:
    """The header block from a list row (shown at once, before the message is parsed)."""
    sender = headers.from_name or ""
    if headers.from_addr:
        sender = f"{sender} <{headers.from_addr}>" if sender else headers.from_addr
    date = time.strftime("%a, %d %b %Y %H:%M", time.localtime(headers.date)) if headers.date else ""
    return _header_block(
        [
            ("From", sender),
            ("To", headers.to),
            ("Cc", headers.cc),
            ("Date", date),
            ("Subject", headers.subject),
        ]
    )


def parsed_header_text(headers: DisplayHeaders, label: Style | str = "bold") -> Text:
    """The header block of a parsed message: From, To, Cc, Reply-To, Date (local), Subject."""
    return _header_block(
        [
            ("From", headers.from_),
            ("To", headers.to),
            ("Cc", headers.cc),
            ("Reply-To", headers.reply_to if headers.reply_to != headers.from_ else ""),
            ("Date", headers.date_text),
            ("Subject", headers.subject),
        ],
        label,
    )


def human_size(size: int) -> str:
    """A byte count for people: ``512 B``, ``12 KB``, ``3.4 MB`` (powers of 1024)."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
    return f"{size} B"  # not reached


def _warning_notes(parsed: ParsedMessage, styles: ReaderStyles) -> Text:
    notes = Text(no_wrap=False, end="")
    for warning in parsed.body.warnings:
        if notes.plain:
            notes.append("\n")
        notes.append("(!) ", style=styles.warning)
        notes.append_text(as_text(clean(warning, max_length=300), styles.warning))
    return notes


def notes_text(
    warnings: Text,
    attachments: Sequence[AttachmentInfo],
    inline: int,
    selected: int | None,
    styles: ReaderStyles,
) -> Text:
    """The notes block: parse warnings, then the attachments numbered from 1, the
    ``selected`` one (an index) marked with ``>`` (what ``s`` saves and ``v`` opens). The
    last ``inline`` of ``attachments`` are inline parts (the images of an HTML body),
    marked ``inline``: they are saved and opened the same way."""
    notes = warnings.copy()
    if attachments:
        if notes.plain:
            notes.append("\n")
        count = len(attachments)
        notes.append(_parts_title(count - inline, inline), style=styles.label)
        # Only the neighbourhood of the selection is listed when there are very many.
        first = 0 if selected is None or selected < _LISTED else selected - _LISTED + 1
        if first:
            notes.append(f"\n    … {first} before", style=styles.dim)
        for index, attachment in enumerate(attachments[first : first + _LISTED], start=first):
            mark = ">" if index == selected else " "
            notes.append(f"\n{mark} ", style=styles.label)
            notes.append(f"[{index + 1}] ", style=styles.dim)
            # A nameless inline part shows the name it is saved under (inline-1.png).
            name = attachment.filename or (attachment.safe_name if attachment.inline else "")
            notes.append_text(as_text(clean(name or "(no name)", max_length=120)))
            notes.append("  ")
            notes.append_text(as_text(clean(attachment.content_type, max_length=80), styles.dim))
            notes.append(f"  {human_size(attachment.size)}", style=styles.dim)
            if attachment.inline:
                notes.append("  inline", style=styles.dim)
            if not attachment.downloaded:
                notes.append("  not downloaded", style=styles.dim)
        rest = count - first - _LISTED
        if rest > 0:
            notes.append(f"\n    … and {rest} more", style=styles.dim)
    return notes


def _parts_title(attached: int, inline: int) -> str:
    """``2 attachments:``, ``1 attachment and 3 inline parts:``, ``2 inline parts:``."""
    words = []
    if attached or not inline:
        words.append(f"{attached} attachment{'s' if attached != 1 else ''}")
    if inline:
        words.append(f"{inline} inline part{'s' if inline != 1 else ''}")
    return " and ".join(words) + ":"


def selectable_parts(parts: Sequence[AttachmentInfo]) -> tuple[AttachmentInfo, ...]:
    """The parts ``s`` and ``v`` work on: the attachments, then the inline parts (images an
    HTML body shows; RFC 2387 multipart/related). An inline part sent without a name is
    saved as ``inline-N.ext`` (N counts the inline parts, the extension follows its type),
    so saving them all never asks to replace one nameless image with the next."""
    attached = [part for part in parts if not part.inline]
    inline: list[AttachmentInfo] = []
    for number, part in enumerate((part for part in parts if part.inline), start=1):
        if not part.filename:
            suffix = PurePath(part.safe_name).suffix  # safe_name is already safe
            part = replace(part, safe_name=f"inline-{number}{suffix}")
        inline.append(part)
    return (*attached, *inline)


def link_refs(
    body: Sequence[tuple[Clean, Style | None]], links: Sequence[Link]
) -> tuple[LinkRef, ...]:
    """Where the numbers of ``links`` stand in ``body``, in reading order. A span takes in
    the link's text when the text stands right before its number on the same line, and the
    target after a number heading a line of the "Links:" list.

    A sender can write "[2]" as plain text: it is found as link 2 too, which is harmless,
    since a link opens only after its real target has been shown.
    """
    by_number = {link.number: link for link in links}
    if not by_number:
        return ()
    refs: list[LinkRef] = []
    for index, (text, _) in enumerate(body):
        if "[" not in text:
            continue
        for match in _LINK_NUMBER.finditer(text):
            link = by_number.get(int(match.group(1)))
            if link is None:
                continue
            start, end = match.span()
            if link.text and text.endswith(link.text, 0, start):
                start -= len(link.text)
            elif start == 0 and text[end:] == f" {link.url}":
                end = len(text)
            refs.append(LinkRef(index, start, end, link.number))
    return tuple(refs)


def render_message(raw: bytes, styles: ReaderStyles) -> RenderedMessage:
    """Parse and lay out a raw RFC 5322 message for the reader; never raises on bad mail.

    Meant for a thread: it decodes the chosen text part, lays HTML out as text, and cleans
    every line. Quoted lines get ``styles.quotes[depth - 1]`` (the last style for deeper
    ones); the link list that HTML bodies end with gets ``styles.link``.
    """
    from sync.mime import parse_message

    parsed = parse_message(raw)  # a PartialMessage is parsed as one (placeholders honoured)
    body: list[tuple[Clean, Style | None]] = []
    used = 0
    lines = parsed.body.lines
    # HTML bodies end with "Links:" and the numbered real targets (see sync.mime.html).
    links_from = len(lines)
    if parsed.body.links:
        for index in range(len(lines) - 1, -1, -1):
            if lines[index].quote_level == 0 and lines[index].text == "Links:":
                links_from = index
                break
    for index, line in enumerate(lines):
        text = clean(line.text, single_line=False, max_length=None)
        if "\t" in text:
            text = Clean(text.expandtabs(8))  # the view counts cells; a tab is not one cell
        if line.quote_level and not text.startswith(">"):
            # HTML quotes (blockquote) carry no markers: add mail's own, so quoting reads
            # right without colour too.
            text = Clean("> " * line.quote_level + text)
        if used + len(text) > _BODY_MAX:
            body.append((Clean("[… the rest of this message is too long to show]"), styles.dim))
            break
        used += len(text) + 1
        style: Style | None = None
        if line.quote_level and styles.quotes:
            style = styles.quotes[min(line.quote_level, len(styles.quotes)) - 1]
        elif index >= links_from:
            style = styles.warning if text.lstrip().startswith("(!)") else styles.link
        if "\n" in text:  # a line break left inside a line: the view wants one per entry
            body.extend((Clean(piece), style) for piece in text.split("\n"))
        else:
            body.append((text, style))
    body_text = "\n".join(text for text, _ in body).strip("\n")
    if not body_text:
        body = [(Clean("(empty message)"), styles.dim)]
    warnings = _warning_notes(parsed, styles)
    if parsed.partial:
        if warnings.plain:
            warnings.append("\n")
        size = human_size(parsed.not_downloaded_size)
        warnings.append(
            f"Attachments not downloaded yet ({size}): s or v downloads them", style=styles.dim
        )
    attachments = selectable_parts(parsed.attachments)
    inline = sum(1 for part in attachments if part.inline)
    return RenderedMessage(
        headers=parsed_header_text(parsed.headers, styles.label),
        notes=notes_text(warnings, attachments, inline, 0 if attachments else None, styles),
        body=tuple(body),
        body_text=body_text,
        raw=raw,
        warnings=warnings,
        attachments=attachments,
        inline_parts=inline,
        links=parsed.body.links,
        link_refs=link_refs(body, parsed.body.links),
        partial=parsed.partial,
        not_downloaded_size=parsed.not_downloaded_size,
    )


def wrap_offsets(text: str, width: int) -> list[tuple[int, int]]:
    """Where a line breaks to fit ``width`` cells: (start, end) index pairs, one per row.

    Breaks after the last space that fits (the space is dropped), and inside a word only
    when the word alone is wider than a row. Mail lines are mostly shorter than the pane,
    so the ASCII short line is the fast path.
    """
    width = max(width, 1)
    length = len(text)
    if text.isascii():
        if length <= width:
            return [(0, length)]
        rows: list[tuple[int, int]] = []
        start = 0
        while length - start > width:
            cut = text.rfind(" ", start, start + width + 1)
            if cut <= start:
                rows.append((start, start + width))
                start += width
            else:
                rows.append((start, cut))
                start = cut + 1
        rows.append((start, length))
        return rows
    if cell_len(text) <= width:
        return [(0, length)]
    rows = []
    start = 0
    used = 0
    space = -1  # the last space in this row
    index = start
    while index < length:
        char = text[index]
        size = get_character_cell_size(char)
        if used + size > width and index > start:
            if space > start:
                rows.append((start, space))
                start = space + 1
            else:
                rows.append((start, index))
                start = index
            used = cell_len(text[start:index])
            space = -1
            continue
        if char == " ":
            space = index
        used += size
        index += 1
    rows.append((start, length))
    return rows


class BodyView(Widget):
    """A message body of any size: its rows are wrapped without styling (offsets only) and
    only the visible ones are painted, so a 1 MB message costs what a screenful costs.

    Rich's and Textual's own wrapping lay out every line of a `Static` before the first
    paint (about a second for a 1 MB body); this does a cheap pass that only finds where
    lines break, when the width changes.
    """

    DEFAULT_CSS = """
    BodyView { height: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: BodyLines = ()
        self._rows: array[int] = array("q")  # per row: line index, start, end (flattened)
        self._width = -1
        self._highlight: LinkRef | None = None
        self.highlight_style: Style = Style(reverse=True)
        """How the highlighted link is painted (the reader sets it from its CSS)."""

    class Clicked(Message):
        """A character of the body was clicked: its ``line`` and ``column`` (characters)."""

        def __init__(self, line: int, column: int) -> None:
            super().__init__()
            self.line = line
            self.column = column

    @property
    def row_count(self) -> int:
        """Rows at the current width."""
        return len(self._rows) // 3

    def set_lines(self, lines: BodyLines) -> None:
        """Show these lines (cleaned; wrapped to the width when laid out)."""
        self._lines = lines
        self._width = -1
        self._highlight = None
        self.refresh(layout=True)

    def set_highlight(self, span: LinkRef | None) -> None:
        """Paint ``span`` (part of one line) with `highlight_style`; None: nothing."""
        self._highlight = span
        self.refresh()

    def row_of(self, line: int, column: int) -> int:
        """The row (at the current width) that shows character ``column`` of ``line``."""
        self._wrap(self.size.width)
        rows = self._rows
        low, high, found = 0, self.row_count - 1, 0
        while low <= high:  # the last row starting at or before (line, column)
            middle = (low + high) // 2
            if (rows[3 * middle], rows[3 * middle + 1]) <= (line, column):
                found, low = middle, middle + 1
            else:
                high = middle - 1
        return found

    def position_at(self, x: int, y: int) -> tuple[int, int] | None:
        """The (line, character) painted at content cell (x, y); None where there is none."""
        self._wrap(self.size.width)
        if not 0 <= y < self.row_count or x < 0:
            return None
        number, start, end = self._rows[3 * y : 3 * y + 3]
        text = self._lines[number][0]
        used = 0
        for index in range(start, end):
            used += get_character_cell_size(text[index])
            if used > x:
                return number, index
        return None

    def on_click(self, event: events.Click) -> None:
        """Say which character was clicked (the reader opens a link there)."""
        offset = event.get_content_offset(self)
        position = None if offset is None else self.position_at(offset.x, offset.y)
        if position is not None:
            self.post_message(self.Clicked(*position))

    def _wrap(self, width: int) -> None:
        if width == self._width:
            return
        rows: array[int] = array("q")
        append = rows.append
        for number, (text, _) in enumerate(self._lines):
            if len(text) <= width and text.isascii():
                rows.extend((number, 0, len(text)))
                continue
            for start, end in wrap_offsets(text, width):
                append(number)
                append(start)
                append(end)
        self._rows = rows
        self._width = width

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """One row per wrapped row."""
        self._wrap(width)
        return self.row_count

    def render_line(self, y: int) -> Strip:
        """Paint one row (the compositor asks only for the visible ones)."""
        width = self.size.width
        base = self.rich_style
        self._wrap(width)
        if not 0 <= y < self.row_count:
            return Strip.blank(width, base)
        number, start, end = self._rows[3 * y : 3 * y + 3]
        text, style = self._lines[number]
        line_style = base + style if style else base
        mark = self._highlight
        if mark is not None and mark.line == number and mark.start < end and mark.end > start:
            left, right = max(mark.start, start), min(mark.end, end)
            strip = Strip(
                [
                    Segment(text[start:left], line_style),
                    Segment(text[left:right], line_style + self.highlight_style),
                    Segment(text[right:end], line_style),
                ]
            )
        else:
            strip = Strip([Segment(text[start:end], line_style)])
        return strip.adjust_cell_length(width, base)


_AfterWhole = Literal["save", "save_all", "open"]


class Reader(VerticalScroll, can_focus=True):
    """Shows one message; scrolls with j/k, Space, g/G."""

    class WholeMessageWanted(Message):
        """An attachment of a message shown text first was asked for: the app downloads the
        whole message and hands it back with `Reader.show_whole` (or `Reader.whole_failed`)."""

        def __init__(self, folder_id: int, uid: int) -> None:
            super().__init__()
            self.folder_id = folder_id
            self.uid = uid

    class ActionWanted(Message):
        """A list action (reply, delete, flag...) was asked for on the open message."""

        def __init__(self, action: str) -> None:
            super().__init__()
            self.action = action

    class StepWanted(Message):
        """The next (``delta`` 1) or previous (-1) message of the list was asked for."""

        def __init__(self, delta: int) -> None:
            super().__init__()
            self.delta = delta

    BINDINGS: ClassVar[list[BindingType]] = list(bindings_for("reader"))

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *_QUOTE_CLASSES,
        "reader--link",
        "reader--warning",
        "reader--label",
        "reader--dim",
        "reader--link-cursor",
    }

    DEFAULT_CSS = """
    Reader { background: $surface; padding: 0 1; }
    Reader > #reader-headers { border-bottom: solid $primary-darken-2; padding-bottom: 1; }
    Reader > #reader-notes { padding-top: 1; }
    Reader > #reader-body { padding-top: 1; }
    Reader > .reader--quote-1 { color: $success; }
    Reader > .reader--quote-2 { color: $accent; }
    Reader > .reader--quote-3 { color: $secondary; }
    Reader > .reader--quote-4 { color: $text-muted; }
    Reader > .reader--link { color: $primary-lighten-2; }
    Reader > .reader--warning { color: $warning; text-style: bold; }
    Reader > .reader--label { text-style: bold; }
    Reader > .reader--dim { color: $text-muted; }
    Reader > .reader--link-cursor { text-style: reverse bold; }
    Reader > #reader-link-line {
        dock: bottom; display: none; height: 1; background: $panel; padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.folder_id: int | None = None
        self.uid: int | None = None
        self.body_text = ""  # the cleaned body as shown
        self.body_shown = False  # the body (not a note about it) is on screen
        self.source_shown = False  # the raw source replaces the message (H, |)
        self.selected_attachment = 0  # index into rendered.attachments
        self.rendered: RenderedMessage | None = None
        self.save_directory: Path | None = None  # the last folder saved to, this session
        self.private_copies = PrivateCopies()
        self._source_text: BodyLines | None = None
        self.link_cursor: int | None = None  # index into rendered.link_refs (n/p, Enter)
        self.typed_number = ""  # a link number being typed (digits, then Enter)
        # What to do once the whole message is here: the action and the part it was for.
        self._after_whole: tuple[_AfterWhole, str] | None = None

    def compose(self) -> ComposeResult:
        """Header block, notes (warnings, attachments), body; all plain `Text`."""
        yield Static(Text(""), id="reader-headers", markup=False)
        yield Static(Text(""), id="reader-notes", markup=False)
        yield BodyView(id="reader-body")
        # The link being typed or highlighted, and its target: one line at the bottom.
        yield Static(Text(""), id="reader-link-line", markup=False)

    def styles_for_render(self) -> ReaderStyles:
        """The reader's styles resolved from CSS (call on the UI thread)."""
        component = self.get_component_rich_style
        return ReaderStyles(
            quotes=tuple(component(name, partial=True) for name in _QUOTE_CLASSES),
            link=component("reader--link", partial=True),
            warning=component("reader--warning", partial=True),
            label=component("reader--label", partial=True),
            dim=component("reader--dim", partial=True),
        )

    def _set_body(self, lines: BodyLines) -> None:
        self.link_cursor = None  # a new body: no link highlighted, no number being typed
        self.typed_number = ""
        self._link_line(None)
        self.query_one("#reader-body", BodyView).set_lines(lines)

    def _set_note(self, text: str, style: str) -> None:
        self._set_body(((clean(text, max_length=500), Style.parse(style)),))

    def _set(self, part: str, content: Text) -> None:
        widget = self.query_one(f"#reader-{part}", Static)
        widget.update(content)
        if part == "notes":
            widget.display = bool(content.plain)

    def show_headers(self, folder_id: int, headers: MessageHeaders) -> None:
        """Show a message's headers (from its list row) and a loading note for the body."""
        self.folder_id = folder_id
        self.uid = headers.uid
        self.body_text = ""
        self.body_shown = False
        self.source_shown = False
        self.rendered = None
        self._source_text = None
        self.selected_attachment = 0
        self._after_whole = None
        self._set("headers", header_text(headers))
        self._set("notes", Text(""))
        self._set_note("Loading…", "dim")
        self.scroll_home(animate=False)

    def show_message(self, rendered: RenderedMessage) -> None:
        """Show a parsed message (headers as the message has them, attachments, body)."""
        self.body_text = rendered.body_text
        self.body_shown = True
        self.source_shown = False
        self.rendered = rendered
        self._source_text = None
        self.selected_attachment = 0
        self._set("headers", rendered.headers)
        self._set("notes", rendered.notes)
        self._set_body(rendered.body)

    def show_whole(self, rendered: RenderedMessage) -> None:
        """The whole message arrived (after `WholeMessageWanted`): show it, and carry on with
        the save or open that asked for it, on the same attachment."""
        pending, self._after_whole = self._after_whole, None
        self.show_message(rendered)
        if pending is None:
            return
        action, part_path = pending
        for index, attachment in enumerate(rendered.attachments):
            if attachment.part_path == part_path:
                self.selected_attachment = index
                self._show_notes()
                break
        if action == "save":
            self.action_save_attachment()
        elif action == "save_all":
            self.action_save_all_attachments()
        else:
            self.action_open_attachment()

    def whole_failed(self, reason: str) -> None:
        """The whole message could not be downloaded: say why; the text stays shown."""
        self._after_whole = None
        self._say(f"The attachments could not be downloaded: {reason}", "error")

    def _whole_first(self, action: _AfterWhole, parts: Sequence[AttachmentInfo]) -> bool:
        """Ask for the whole message when ``parts`` are not here yet; True if asked (the
        action then runs again when it arrives)."""
        if all(part.downloaded for part in parts):
            return False
        rendered = self.rendered
        if self.folder_id is None or self.uid is None or rendered is None:
            return True
        if self._after_whole is not None:
            self._say("The attachments are being downloaded; a moment please")
            return True
        selected = rendered.attachments[self.selected_attachment].part_path
        self._after_whole = (action, selected)
        size = human_size(rendered.not_downloaded_size)
        self._say(f"Downloading the attachments ({size})…")
        self.post_message(self.WholeMessageWanted(self.folder_id, self.uid))
        return True

    def show_missing(self) -> None:
        """The body is not stored and cannot be downloaded now (it appears when it arrives)."""
        self.body_shown = False
        self._set_note("(the body of this message has not been downloaded yet)", "dim")

    def show_error(self, text: str) -> None:
        """Say in words why the body cannot be shown."""
        self.body_shown = False
        self._set_note(text, "bold red")

    # ------------------------------------------------------------- actions (issue 7)

    def on_unmount(self) -> None:
        """Remove the private copies made for the opener (the app is going away)."""
        self.private_copies.close()

    def _say(
        self, text: str, severity: Literal["information", "warning", "error"] = "information"
    ) -> None:
        # Notifications are plain text here (markup=False): file names come from mail.
        self.notify(clean(text, max_length=600), severity=severity, timeout=8, markup=False)

    def _ready(self) -> RenderedMessage | None:
        if self.rendered is None:
            self._say("The message is not shown yet: wait until it has loaded", "warning")
        return self.rendered

    def _attachments(self) -> tuple[AttachmentInfo, ...] | None:
        rendered = self._ready()
        if rendered is None:
            return None
        if not rendered.attachments:
            self._say("This message has no attachments", "warning")
            return None
        return rendered.attachments

    def _show_notes(self) -> None:
        rendered = self.rendered
        if rendered is None or self.source_shown:
            return
        self._set(
            "notes",
            notes_text(
                rendered.warnings,
                rendered.attachments,
                rendered.inline_parts,
                self.selected_attachment if rendered.attachments else None,
                self.styles_for_render(),
            ),
        )

    def action_message_action(self, action: str) -> None:
        """Ask for a list action on the open message (the app carries it out)."""
        if self.uid is not None:
            self.post_message(self.ActionWanted(action))

    def action_step(self, delta: int) -> None:
        """Ask for the next or previous message of the list."""
        self.post_message(self.StepWanted(delta))

    def action_select_attachment(self, delta: int) -> None:
        """Move the attachment mark (``>``) to the next/previous attachment."""
        attachments = self._attachments()
        if attachments is None:
            return
        self.selected_attachment = (self.selected_attachment + delta) % len(attachments)
        self._show_notes()

    def action_save_attachment(self) -> None:
        """Save the marked attachment to a folder the user confirms."""
        attachments = self._attachments()
        if attachments is None:
            return
        part = attachments[self.selected_attachment]
        if not self._whole_first("save", [part]):
            self._ask_directory([part])

    def action_save_all_attachments(self) -> None:
        """Save every attachment to a folder the user confirms."""
        attachments = self._attachments()
        if attachments is not None and not self._whole_first("save_all", attachments):
            self._ask_directory(list(attachments))

    def _ask_directory(self, parts: list[AttachmentInfo]) -> None:
        directory = self.save_directory or default_save_directory()
        question = Text(no_wrap=False, end="")
        if len(parts) == 1:
            question.append("Save ")
            question.append_text(as_text(clean(parts[0].safe_name, max_length=200)))
        else:
            question.append(f"Save all {len(parts)} attachments")
        question.append(" into this folder:")

        def chosen(answer: str | None) -> None:
            if answer and answer.strip():
                self._save(parts, Path(answer.strip()).expanduser())

        self.app.push_screen(PromptScreen("Save", question, str(directory)), chosen)

    @work(group="reader-save", exit_on_error=False, name="Saving attachments")
    async def _save(self, parts: list[AttachmentInfo], directory: Path) -> None:
        from sync.mime import AttachmentExistsError, AttachmentSaveError, save_attachment

        if not await asyncio.to_thread(directory.is_dir):
            self._say(f"Nothing saved: there is no folder {directory}", "error")
            return
        saved: list[Path] = []
        skipped = 0
        for part in parts:
            try:
                try:
                    path = await asyncio.to_thread(save_attachment, part, directory)
                except AttachmentExistsError:
                    answer = await self._ask_replace(part.safe_name, directory)
                    if answer is None:
                        skipped += 1
                        continue
                    path = await asyncio.to_thread(
                        save_attachment, part, directory, if_exists=answer
                    )
            except AttachmentSaveError as error:
                self._say(f"Saving {part.safe_name} failed: {error.strerror or error}", "error")
                return  # the next ones would fail the same way (a full disk, no permission)
            saved.append(path)
            self.save_directory = directory
        if len(saved) == 1:
            text = f"Saved {saved[0].name} in {directory}"
        else:
            text = f"Saved {len(saved)} attachments in {directory}"
        if skipped:
            text += f" ({skipped} kept as they were)"
        self._say(text)

    async def _ask_replace(self, name: str, directory: Path) -> Literal["replace", "rename"] | None:
        """Never overwrite without asking: replace, keep both (a new name) or skip."""
        body = Text(no_wrap=False, end="")
        body.append_text(as_text(clean(name, max_length=260), "bold"))
        body.append(" already exists in ")
        body.append_text(as_text(clean(str(directory), max_length=300)))
        body.append(".")
        choices = [
            ("r", "replace", "replace it"),
            ("k", "rename", "keep both (save under a new name)"),
            ("n", "skip", "do not save this one"),
        ]
        answer = await self.app.push_screen_wait(ChoiceScreen("File exists", body, choices))
        if answer == "replace":
            return "replace"
        if answer == "rename":
            return "rename"
        return None

    @work(group="reader-open", exit_on_error=False, name="Opening an attachment")
    async def action_open_attachment(self) -> None:
        """Open the marked attachment with the system opener, from a private copy."""
        attachments = self._attachments()
        if attachments is None:
            return
        part = attachments[self.selected_attachment]
        if self._whole_first("open", [part]):
            return
        try:
            argv = opener_command()
            copy = await asyncio.to_thread(self.private_copies.copy, part)
            opener = Opener(argv, str(copy))
        except OpenerError as error:
            self._say(f"Cannot open {part.safe_name}: {error}", "error")
            return
        except OSError as error:
            self._say(f"Cannot open {part.safe_name}: {error.strerror or error}", "error")
            return
        self._say(f"Opening {part.safe_name} with {opener.program}")
        failure = await opener.failure()
        if failure is not None:
            self._say(f"Opening {part.safe_name} failed: {failure}", "error")

    def action_open_link(self) -> None:
        """Ask for a link's number, show where it really goes, and open it if confirmed."""
        rendered = self._ready()
        if rendered is None:
            return
        links = rendered.links
        if not links:
            self._say("This message has no numbered links", "warning")
            return
        if len(links) == 1:
            self._confirm_link(links[0])
            return
        first, last = links[0].number, links[-1].number
        question = Text(f"Open link number ({first}–{last}):", end="")

        def chosen(answer: str | None) -> None:
            if not answer:
                return
            link = next((k for k in links if str(k.number) == answer.strip()), None)
            if link is None:
                self._say(f"There is no link {answer.strip()[:20]}", "warning")
            else:
                self._confirm_link(link)

        self.app.push_screen(PromptScreen("Open link", question, input_type="integer"), chosen)

    @work(group="reader-open", exit_on_error=False, name="Opening a link")
    async def _confirm_link(self, link: Link) -> None:
        body = Text(no_wrap=False, end="")
        body.append(f"Link [{link.number}]", style="bold")
        if link.text:
            body.append("  shown as: ")
            body.append_text(as_text(clean(link.text, max_length=200)))
        body.append("\n\nIt goes to:\n", style="bold")
        # The whole target, never shortened: the end of a URL is where deception hides.
        body.append_text(as_text(clean(link.url, max_length=None), wrap=True))
        if link.warning:
            body.append("\n\n(!) ", style="bold red")
            body.append_text(as_text(clean(link.warning, max_length=300), "bold red", wrap=True))
        refusal = url_refusal(link.url)
        if refusal is not None:
            body.append("\n\n")
            body.append_text(as_text(clean(refusal), "bold", wrap=True))
            await self.app.push_screen_wait(ChoiceScreen("Link", body, []))
            return
        choices = [("y", "open", "open it")]
        answer = await self.app.push_screen_wait(
            ChoiceScreen("Open this link?", body, choices, enter_result="open")
        )
        if answer != "open":
            return
        try:
            opener = Opener(opener_command(), link.url)
        except OpenerError as error:
            self._say(f"Cannot open the link: {error}", "error")
            return
        self._say(f"Opening link [{link.number}] with {opener.program}")
        failure = await opener.failure()
        if failure is not None:
            self._say(f"Opening link [{link.number}] failed: {failure}", "error")

    # ------------------------------------------------------------- links: keys and mouse

    def _link(self, number: int) -> Link | None:
        rendered = self.rendered
        if rendered is None:
            return None
        return next((link for link in rendered.links if link.number == number), None)

    def _link_line(self, text: Text | None) -> None:
        line = self.query_one("#reader-link-line", Static)
        if text is not None:
            line.update(text)
        line.display = text is not None

    def _cursor_text(self) -> Text | None:
        """The highlighted link's number and real target, for the line at the bottom."""
        rendered = self.rendered
        if rendered is None or self.link_cursor is None:
            return None
        link = self._link(rendered.link_refs[self.link_cursor].number)
        if link is None:
            return None
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        if link.warning:
            text.append("(!) ", style="bold red")
        text.append(f"[{link.number}] ", style="bold")
        text.append_text(as_text(clean(link.url, max_length=500)))
        text.append("   Enter: open", style="dim")
        return text

    def _typed_text(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append("Open link ", style="bold")
        text.append(self.typed_number, style="reverse")  # digits only: typed here
        link = self._link(int(self.typed_number))
        if link is None:
            text.append("  (no such link)", style="dim")
        else:
            text.append("  ")
            text.append_text(as_text(clean(link.url, max_length=500)))
        text.append("   Enter: open  Backspace: edit  Esc: cancel", style="dim")
        return text

    def on_key(self, event: events.Key) -> None:
        """Digits, then Enter, open a link by its number, as in lynx and w3m.

        The number shows at the bottom of the reader as it is typed, with the link's
        target; Backspace edits it; Escape or any other key drops it (and does nothing
        else). Enter shows where the link goes before anything is opened.
        """
        rendered = self.rendered
        if event.key in _DIGITS and rendered is not None and rendered.links:
            if self.source_shown:
                return
            self.typed_number = (self.typed_number + event.key)[-6:]
            self._link_line(self._typed_text())
        elif not self.typed_number:
            return  # not typing a number: keys go to their bindings
        elif event.key == "enter":
            number = int(self.typed_number)
            self.typed_number = ""
            self._link_line(self._cursor_text())
            link = self._link(number)
            if link is None:
                self._say(f"There is no link {number}", "warning")
            else:
                self._confirm_link(link)
        elif event.key == "backspace" and len(self.typed_number) > 1:
            self.typed_number = self.typed_number[:-1]
            self._link_line(self._typed_text())
        else:
            self.typed_number = ""
            self._link_line(self._cursor_text())
        event.stop()
        event.prevent_default()

    def on_blur(self) -> None:
        """A number half typed is dropped when the reader loses the focus."""
        if self.typed_number:
            self.typed_number = ""
            self._link_line(self._cursor_text())

    def _visible_rows(self, body: BodyView) -> tuple[int, int]:
        """The first and last body rows in view (the body starts below headers and notes)."""
        top = body.virtual_region.y + body.gutter.top
        first = self.scroll_offset.y - top
        return first, first + max(self.scrollable_content_region.height, 1) - 1

    def action_select_link(self, delta: int) -> None:
        """Highlight the next (``delta`` 1) or previous (-1) link in the text, scrolling it
        into view; Enter then opens it, after showing where it really goes.

        Bound to n and p, not to w3m's Tab and shift+Tab: in mailtui Tab and shift+Tab
        move the focus between the panes (the reader included), and taking them in the
        reader would trap the focus there; ] and [ already walk the attachments. n and p
        are free in the reader (it has no search of its own for mutt's n), and rebindable
        (``reader.next_link``, ``reader.previous_link``). From a highlight scrolled out of
        view, the walk starts again from what is on screen.
        """
        rendered = self._ready()
        if rendered is None:
            return
        if self.source_shown:
            self._say("Links are numbered in the message, not in its source (H goes back)")
            return
        refs = rendered.link_refs
        if not refs:
            self._say("This message has no numbered links", "warning")
            return
        body = self.query_one("#reader-body", BodyView)
        first, last = self._visible_rows(body)

        def row(index: int) -> int:
            return body.row_of(refs[index].line, refs[index].start)

        current = self.link_cursor
        if current is not None and first <= row(current) <= last:
            target = current + delta
        elif delta > 0:
            target = next((i for i in range(len(refs)) if row(i) >= first), len(refs))
        else:
            target = next((i for i in range(len(refs) - 1, -1, -1) if row(i) <= last), -1)
        if not 0 <= target < len(refs):
            self._say(f"No more links {'below' if delta > 0 else 'above'}")
            return
        self._highlight_link(target)

    def _highlight_link(self, index: int) -> None:
        rendered = self.rendered
        if rendered is None:
            return
        ref = rendered.link_refs[index]
        self.link_cursor = index
        body = self.query_one("#reader-body", BodyView)
        body.highlight_style = self.get_component_rich_style("reader--link-cursor", partial=True)
        body.set_highlight(ref)
        row = body.virtual_region.y + body.gutter.top + body.row_of(ref.line, ref.start)
        # One row of context above and below, and two for the link line at the bottom.
        self.scroll_to_region(Region(0, row - 1, 1, 4), animate=False, x_axis=False)
        self._link_line(self._cursor_text())

    def action_follow_link(self) -> None:
        """Open the highlighted link (n/p highlight one), after showing its real target."""
        rendered = self._ready()
        if rendered is None:
            return
        if self.link_cursor is None or self.source_shown:
            if rendered.links:
                self._say("No link is highlighted: n and p move to one, or type its number")
            return
        link = self._link(rendered.link_refs[self.link_cursor].number)
        if link is not None:
            self._confirm_link(link)

    @on(BodyView.Clicked)
    def _body_clicked(self, event: BodyView.Clicked) -> None:
        """A click on a link's text or number opens it, after showing its real target."""
        event.stop()
        rendered = self.rendered
        if rendered is None or self.source_shown or not self.body_shown:
            return
        for index, ref in enumerate(rendered.link_refs):
            if ref.line == event.line and ref.start <= event.column < ref.end:
                self._highlight_link(index)
                link = self._link(ref.number)
                if link is not None:
                    self._confirm_link(link)
                return

    @work(group="reader-source", exclusive=True, exit_on_error=False, name="Showing the source")
    async def action_toggle_source(self) -> None:
        """Show the raw message (cleaned: no escape sequences reach the terminal), or go back."""
        rendered = self._ready()
        if rendered is None:
            return
        if self.source_shown:
            self.source_shown = False
            self._set("headers", rendered.headers)
            self._show_notes()
            self._set_body(rendered.body)
            self.scroll_home(animate=False)
            return
        if self._source_text is None:
            self._set_note("Loading the source…", "dim")
            self._source_text = await asyncio.to_thread(_source_text, rendered.raw)
        if self.rendered is not rendered:
            return  # another message was opened meanwhile
        self.source_shown = True
        self._set("headers", Text("Message source (H or | shows the message again)", "bold"))
        self._set("notes", Text(""))
        self._set_body(self._source_text)
        self.scroll_home(animate=False)


def _source_text(raw: bytes) -> BodyLines:
    from sync.mime import raw_source

    # raw_source cleans already; clean() again brands it for the widget.
    text = clean(raw_source(raw), single_line=False, max_length=None).expandtabs(8)
    return tuple((Clean(line), None) for line in text.split("\n"))
