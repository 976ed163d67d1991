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

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.keys import bindings_for
from tui.text import as_text, clean

if TYPE_CHECKING:  # sync.mime (and lxml) load when the first message opens, not at start
    from sync.mime import AttachmentInfo, DisplayHeaders, ParsedMessage

__all__ = [
    "MessageHeaders",
    "Reader",
    "ReaderStyles",
    "RenderedMessage",
    "header_text",
    "human_size",
    "parsed_header_text",
    "render_message",
]

_BODY_MAX = 2_000_000  # characters; a reader pane never needs more
_HEADER_MAX = 2000
_PLAIN = Style()
_BOLD = Style(bold=True)
_DIM = Style(dim=True)
_QUOTE_CLASSES = ("reader--quote-1", "reader--quote-2", "reader--quote-3", "reader--quote-4")


class MessageHeaders(Protocol):
    """What the reader shows above the body (`sync.store.MessageRow` fits)."""

    @property
    def uid(self) -> int: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def from_name(self) -> str | None: ...
    @property
    def from_addr(self) -> str | None: ...
    @property
    def to(self) -> str | None: ...
    @property
    def cc(self) -> str | None: ...
    @property
    def date(self) -> int: ...


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
    """A message laid out for the reader: three blocks of plain `Text`.

    ``notes`` holds parse warnings and the attachment list (empty when there are none);
    ``body_text`` is the cleaned body as one string (what tests and search read).
    """

    headers: Text
    notes: Text
    body: Text
    body_text: str


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


def _notes(parsed: ParsedMessage, styles: ReaderStyles) -> Text:
    notes = Text(no_wrap=False, end="")
    for warning in parsed.body.warnings:
        if notes.plain:
            notes.append("\n")
        notes.append("(!) ", style=styles.warning)
        notes.append_text(as_text(clean(warning, max_length=300), styles.warning))
    attachments: list[AttachmentInfo] = [a for a in parsed.attachments if not a.inline]
    inline = len(parsed.attachments) - len(attachments)
    if attachments:
        if notes.plain:
            notes.append("\n")
        count = len(attachments)
        notes.append(f"{count} attachment{'s' if count != 1 else ''}:", style=styles.label)
        for attachment in attachments[:50]:
            notes.append("\n  ")
            notes.append_text(as_text(clean(attachment.filename or "(no name)", max_length=120)))
            notes.append("  ")
            notes.append_text(as_text(clean(attachment.content_type, max_length=80), styles.dim))
            notes.append(f"  {human_size(attachment.size)}", style=styles.dim)
        if count > 50:
            notes.append(f"\n  … and {count - 50} more", style=styles.dim)
    if inline:
        if notes.plain:
            notes.append("\n")
        notes.append(f"{inline} inline part{'s' if inline != 1 else ''} (images)", styles.dim)
    return notes


def render_message(raw: bytes, styles: ReaderStyles) -> RenderedMessage:
    """Parse and lay out a raw RFC 5322 message for the reader; never raises on bad mail.

    Meant for a thread: it decodes the chosen text part, lays HTML out as text, and cleans
    every line. Quoted lines get ``styles.quotes[depth - 1]`` (the last style for deeper
    ones); the link list that HTML bodies end with gets ``styles.link``.
    """
    from sync.mime import parse_message

    parsed = parse_message(raw)
    body = Text(no_wrap=False, end="")
    plain: list[str] = []
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
        text: str = clean(line.text, single_line=False, max_length=None)
        if line.quote_level and not text.startswith(">"):
            # HTML quotes (blockquote) carry no markers: add mail's own, so quoting reads
            # right without colour too.
            text = "> " * line.quote_level + text
        if used + len(text) > _BODY_MAX:
            body.append("\n[… the rest of this message is too long to show]", style=styles.dim)
            break
        used += len(text) + 1
        if index:
            body.append("\n")
        style: Style | str = ""
        if line.quote_level and styles.quotes:
            style = styles.quotes[min(line.quote_level, len(styles.quotes)) - 1]
        elif index >= links_from:
            style = styles.warning if text.lstrip().startswith("(!)") else styles.link
        body.append(text, style=style)
        plain.append(text)
    body_text = "\n".join(plain).strip("\n")
    if not body_text:
        body = Text("(empty message)", style=styles.dim, end="")
    return RenderedMessage(
        headers=parsed_header_text(parsed.headers, styles.label),
        notes=_notes(parsed, styles),
        body=body,
        body_text=body_text,
    )


class Reader(VerticalScroll, can_focus=True):
    """Shows one message; scrolls with j/k, Space, g/G."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings_for("reader"))

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *_QUOTE_CLASSES,
        "reader--link",
        "reader--warning",
        "reader--label",
        "reader--dim",
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
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.folder_id: int | None = None
        self.uid: int | None = None
        self.body_text = ""  # the cleaned body as shown
        self.body_shown = False  # the body (not a note about it) is on screen

    def compose(self) -> ComposeResult:
        """Header block, notes (warnings, attachments), body; all plain `Text`."""
        yield Static(Text(""), id="reader-headers", markup=False)
        yield Static(Text(""), id="reader-notes", markup=False)
        yield Static(Text(""), id="reader-body", markup=False)

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
        self._set("headers", header_text(headers))
        self._set("notes", Text(""))
        self._set("body", Text("Loading…", style="dim"))
        self.scroll_home(animate=False)

    def show_message(self, rendered: RenderedMessage) -> None:
        """Show a parsed message (headers as the message has them, attachments, body)."""
        self.body_text = rendered.body_text
        self.body_shown = True
        self._set("headers", rendered.headers)
        self._set("notes", rendered.notes)
        self._set("body", rendered.body)

    def show_missing(self) -> None:
        """The body is not stored and cannot be downloaded now (it appears when it arrives)."""
        self.body_shown = False
        self._set(
            "body",
            Text("(the body of this message has not been downloaded yet)", style="dim"),
        )

    def show_error(self, text: str) -> None:
        """Say in words why the body cannot be shown."""
        self.body_shown = False
        self._set("body", as_text(clean(text, max_length=500), "bold red", wrap=True))
