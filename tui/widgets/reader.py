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
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol

from rich.cells import cell_len, get_character_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from tui.keys import bindings_for
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
    "MessageHeaders",
    "Reader",
    "ReaderStyles",
    "RenderedMessage",
    "header_text",
    "human_size",
    "notes_text",
    "parsed_header_text",
    "render_message",
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
    """A message laid out for the reader: headers and notes as plain `Text`, the body as
    cleaned lines with their styles (`BodyView` wraps and paints only what is visible).

    ``notes`` holds parse warnings and the attachment list (empty when there are none);
    ``body_text`` is the cleaned body as one string (what tests and search read). The rest
    is what the reader's actions need: the ``raw`` message (source view), the ``warnings``
    block, the listed (not inline) ``attachments`` and the count of ``inline_parts``, and the
    body's numbered ``links``.
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
    ``selected`` one (an index) marked with ``>`` (what ``s`` saves and ``v`` opens)."""
    notes = warnings.copy()
    if attachments:
        if notes.plain:
            notes.append("\n")
        count = len(attachments)
        notes.append(f"{count} attachment{'s' if count != 1 else ''}:", style=styles.label)
        # Only the neighbourhood of the selection is listed when there are very many.
        first = 0 if selected is None or selected < _LISTED else selected - _LISTED + 1
        if first:
            notes.append(f"\n    … {first} before", style=styles.dim)
        for index, attachment in enumerate(attachments[first : first + _LISTED], start=first):
            mark = ">" if index == selected else " "
            notes.append(f"\n{mark} ", style=styles.label)
            notes.append(f"[{index + 1}] ", style=styles.dim)
            notes.append_text(as_text(clean(attachment.filename or "(no name)", max_length=120)))
            notes.append("  ")
            notes.append_text(as_text(clean(attachment.content_type, max_length=80), styles.dim))
            notes.append(f"  {human_size(attachment.size)}", style=styles.dim)
        rest = count - first - _LISTED
        if rest > 0:
            notes.append(f"\n    … and {rest} more", style=styles.dim)
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
    attachments = tuple(a for a in parsed.attachments if not a.inline)
    inline = len(parsed.attachments) - len(attachments)
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

    @property
    def row_count(self) -> int:
        """Rows at the current width."""
        return len(self._rows) // 3

    def set_lines(self, lines: BodyLines) -> None:
        """Show these lines (cleaned; wrapped to the width when laid out)."""
        self._lines = lines
        self._width = -1
        self.refresh(layout=True)

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
        strip = Strip([Segment(text[start:end], base + style if style else base)])
        return strip.adjust_cell_length(width, base)


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
        self.source_shown = False  # the raw source replaces the message (H, |)
        self.selected_attachment = 0  # index into rendered.attachments
        self.rendered: RenderedMessage | None = None
        self.save_directory: Path | None = None  # the last folder saved to, this session
        self.private_copies = PrivateCopies()
        self._source_text: BodyLines | None = None

    def compose(self) -> ComposeResult:
        """Header block, notes (warnings, attachments), body; all plain `Text`."""
        yield Static(Text(""), id="reader-headers", markup=False)
        yield Static(Text(""), id="reader-notes", markup=False)
        yield BodyView(id="reader-body")

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
        if attachments is not None:
            self._ask_directory([attachments[self.selected_attachment]])

    def action_save_all_attachments(self) -> None:
        """Save every attachment to a folder the user confirms."""
        attachments = self._attachments()
        if attachments is not None:
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
