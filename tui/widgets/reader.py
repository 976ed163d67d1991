"""The reader pane: a message's headers and its plain-text body.

For now the body is the first text/plain part (or the whole text when there is no MIME
structure) decoded with the stdlib ``email`` package; HTML rendering and attachments come with
the MIME work. Everything shown passes ``clean_text`` and reaches widgets as `Text`.
"""

from __future__ import annotations

import email
import email.policy
import time
from email.message import EmailMessage
from typing import ClassVar, Protocol

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.keys import bindings_for
from tui.text import as_text, clean

__all__ = ["MessageHeaders", "Reader", "header_text", "plain_text_from_raw"]

_BODY_MAX = 2_000_000  # characters; a reader pane never needs more


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


def header_text(headers: MessageHeaders) -> Text:
    """The header block as plain `Text`, each value cleaned."""
    sender = headers.from_name or ""
    if headers.from_addr:
        sender = f"{sender} <{headers.from_addr}>" if sender else headers.from_addr
    date = time.strftime("%a, %d %b %Y %H:%M", time.localtime(headers.date)) if headers.date else ""
    lines = [("From", sender), ("To", headers.to), ("Cc", headers.cc), ("Date", date)]
    lines.append(("Subject", headers.subject))
    result = Text(no_wrap=False, end="")
    for name, value in lines:
        if not value and name == "Cc":
            continue
        if result.plain:
            result.append("\n")
        result.append(f"{name}: ", style="bold")
        result.append_text(as_text(clean(value, max_length=2000)))
    return result


def plain_text_from_raw(raw: bytes) -> str:
    """Extract the readable text of a raw RFC 5322 message (first text/plain part).

    Runs off the UI loop (it parses the whole message). Returns an explanation when the
    message has no text part.
    """
    message = email.message_from_bytes(raw, _class=EmailMessage, policy=email.policy.default)
    part = message.get_body(preferencelist=("plain",))
    if part is None:
        html = message.get_body(preferencelist=("html",))
        if html is None:
            return "(this message has no text part)"
        return "(HTML-only message; HTML display is not available yet)"
    try:
        content = part.get_content()
    except (LookupError, UnicodeError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


class Reader(VerticalScroll, can_focus=True):
    """Shows one message; scrolls with j/k, Space, g/G."""

    BINDINGS: ClassVar[list[BindingType]] = list(bindings_for("reader"))

    DEFAULT_CSS = """
    Reader { background: $surface; padding: 0 1; }
    Reader > #reader-headers { border-bottom: solid $primary-darken-2; padding-bottom: 1; }
    Reader > #reader-body { padding-top: 1; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.folder_id: int | None = None
        self.uid: int | None = None
        self.body_text = ""  # the cleaned body as shown

    def compose(self) -> ComposeResult:
        """Header block above the body; both plain `Text`."""
        yield Static(Text(""), id="reader-headers", markup=False)
        yield Static(Text(""), id="reader-body", markup=False)

    def show_headers(self, folder_id: int, headers: MessageHeaders) -> None:
        """Show a message's headers and a loading note for the body."""
        self.folder_id = folder_id
        self.uid = headers.uid
        self.query_one("#reader-headers", Static).update(header_text(headers))
        self.body_text = ""
        self.query_one("#reader-body", Static).update(Text("Loading…", style="dim"))
        self.scroll_home(animate=False)

    def show_body(self, text: str | None) -> None:
        """Show the body text (cleaned, multi-line), or a note when it is not stored yet."""
        body = self.query_one("#reader-body", Static)
        if text is None:
            body.update(Text("(the body of this message has not been downloaded yet)", "dim"))
            return
        cleaned = clean(text, single_line=False, max_length=_BODY_MAX)
        self.body_text = cleaned
        body.update(as_text(cleaned, wrap=True) if cleaned else Text("(empty message)", "dim"))
