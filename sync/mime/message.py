"""Parse an opened message into what the reader shows: headers, body text, parts, attachments.

Design (issue 7): a large message must show its text without loading a 30 MB attachment.
The stdlib ``email`` feed parser would copy and split every line of every part, so the part
*structure* is found here with ``bytes.find`` on the raw message (RFC 2046 §5.1.1 delimiter
lines), each part's header block is parsed with the stdlib ``email`` parser, display headers
go through ``email.policy.default``'s header parsers (addresses, RFC 2047), and only the
chosen text part is decoded. Attachments stay as (buffer, offset, end) references decoded
only when saved.

:func:`parse_message` never raises: broken MIME (no boundary, unterminated multiparts, bad
base64 or quoted-printable, unknown transfer encodings, unknown charsets) decodes as well as
possible and says so in ``body.warnings``. Everything meant for display has been through
:func:`sync.clean.clean_text`.
"""

from __future__ import annotations

import binascii
import email.message
import email.parser
import email.policy
import email.utils
import functools
import mimetypes
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, NamedTuple

from sync.clean import clean_text
from sync.mime.charsets import (
    charset_hints,
    decode_encoded_words,
    decode_header_bytes,
    decode_text,
    first_charset_label,
    lenient_b64decode,
    lenient_qp_decode,
)
from sync.mime.filenames import display_filename, safe_filename
from sync.mime.flowed import quoted_lines, unflow
from sync.mime.html import Link, html_to_text

__all__ = [
    "MAX_DEPTH",
    "MAX_PARTS",
    "MAX_TEXT_BYTES",
    "PLACEHOLDER_HEADER",
    "AttachmentInfo",
    "BodyLine",
    "BodyText",
    "DisplayHeaders",
    "Link",
    "MailAddress",
    "NotDownloadedError",
    "ParsedMessage",
    "PartInfo",
    "PartRole",
    "PartialMessage",
    "is_displayable_text",
    "parse_message",
    "raw_source",
]

# Deeper nesting than this is shown as an opaque part (50-level forwards still display).
MAX_DEPTH = 100
# Parts beyond this many are not listed (a hostile message can hold millions of empty parts).
MAX_PARTS = 2000
# A text part is decoded for display up to this many encoded bytes; the rest can be saved.
MAX_TEXT_BYTES = 8 * 1024 * 1024
# Raw source view: how much of the message is shown by default.
RAW_SOURCE_LIMIT = 4 * 1024 * 1024

PartRole = Literal["body", "alternative", "inline", "attachment", "container", "message"]

# Marks a part of a partial message (see PartialMessage) whose content is still on the
# server; its value is the part's decoded size in bytes. Honoured only in a PartialMessage.
PLACEHOLDER_HEADER = "X-Mailtui-Not-Downloaded"


class PartialMessage(bytes):
    """A raw message that ``sync.engine.bodies.BodyFetcher`` built from a large message's
    headers and text parts, with an empty placeholder (see :data:`PLACEHOLDER_HEADER`) for
    each part it left on the server (issue 7).

    The type is the proof of where the bytes come from, as ``markupsafe.Markup`` is for
    safe HTML: mail cannot make one, so a message that carries the placeholder header
    itself is parsed as the ordinary message it is. Never stored: the store keeps only
    whole messages.
    """

    __slots__ = ()


class NotDownloadedError(LookupError):
    """The content of a part of a :class:`PartialMessage` is still on the server."""


# --------------------------------------------------------------------------- public results


@dataclass(frozen=True, slots=True)
class MailAddress:
    """One address of a header: display ``name`` (may be empty) and ``email``, both cleaned."""

    name: str
    email: str

    def display(self) -> str:
        """``Name <email>``, or just the address when there is no name."""
        if self.name and self.email:
            return f"{self.name} <{self.email}>"
        return self.name or self.email


@dataclass(frozen=True, slots=True)
class DisplayHeaders:
    """The headers the reader shows, decoded (RFC 2047, 8-bit bytes) and cleaned (one line).

    ``date`` is timezone-aware in local time (None when the Date header is missing or
    unparseable); ``date_text`` is the local time as text, or the raw header cleaned.
    """

    subject: str
    from_: str
    to: str
    cc: str
    reply_to: str
    date: datetime | None
    date_text: str
    from_addresses: tuple[MailAddress, ...] = ()
    to_addresses: tuple[MailAddress, ...] = ()
    cc_addresses: tuple[MailAddress, ...] = ()
    reply_to_addresses: tuple[MailAddress, ...] = ()
    message_id: str = ""
    in_reply_to: str = ""
    references: str = ""


class BodyLine(NamedTuple):
    """A body line with how deeply it is quoted (0 = not quoted). Long lines are not wrapped."""

    quote_level: int
    text: str


@dataclass(frozen=True, slots=True)
class BodyText:
    """The text to show: lines (quote levels), numbered links, warnings for the user.

    ``source`` is the MIME type the text came from. For HTML, links are written ``text[n]``
    and the lines end with the list of links by their real targets; ``links`` gives them
    by number for an "open link" command.
    """

    lines: tuple[BodyLine, ...]
    links: tuple[Link, ...] = ()
    warnings: tuple[str, ...] = ()
    source: Literal["text/plain", "text/html", "none"] = "none"

    @property
    def text(self) -> str:
        """The body as one string (lines joined with newlines)."""
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True, slots=True)
class PartInfo:
    """One MIME part, in depth-first order.

    ``path`` is the IMAP section number (RFC 3501 §6.4.5; "" for a top-level multipart;
    a message/rfc822 part and the multipart it holds share a number as in IMAP). ``size``
    is the decoded size in bytes (estimated without decoding for base64; as announced
    for a part not ``downloaded``).
    """

    path: str
    depth: int
    content_type: str
    charset: str | None
    transfer_encoding: str
    disposition: str | None
    filename: str | None
    content_id: str | None
    size: int
    role: PartRole
    downloaded: bool = True


@dataclass(frozen=True, slots=True)
class _Payload:
    """Where a part's encoded body is: nothing is decoded until a save asks for it."""

    buffer: bytes
    start: int
    end: int
    encoding: str

    def iter_decoded(self, chunk_size: int) -> Iterator[bytes]:
        if self.encoding == "base64":
            yield from _iter_base64(self.buffer, self.start, self.end, chunk_size)
        elif self.encoding == "quoted-printable":
            for start, end in _line_chunks(self.buffer, self.start, self.end, chunk_size):
                yield lenient_qp_decode(self.buffer[start:end])
        elif self.encoding in _UUENCODE:
            yield _uudecode(self.buffer[self.start : self.end])
        else:
            for start, end in _line_chunks(self.buffer, self.start, self.end, chunk_size):
                yield self.buffer[start:end]


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """A part the user can save: attachments, inline images, attached messages.

    ``filename`` is the name as sent, cleaned for display ("" when none); ``safe_name`` is
    a name safe to create (see :func:`sync.mime.filenames.safe_filename`). ``size`` is the
    decoded size (estimated for base64). The payload is decoded only by
    :meth:`iter_payload` / :meth:`payload`. In a partial message, a part left on the server
    is not ``downloaded``: its ``size`` is the server's figure and its payload raises
    :class:`NotDownloadedError` (never an empty file by mistake).
    """

    part_path: str
    filename: str
    safe_name: str
    content_type: str
    size: int
    inline: bool
    content_id: str | None
    _payload: _Payload = field(repr=False, compare=False)
    downloaded: bool = True

    def iter_payload(self, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Yield the decoded content in chunks of about ``chunk_size`` encoded bytes.

        Raises :class:`NotDownloadedError` at once for a part that is not ``downloaded``.
        """
        if not self.downloaded:
            raise NotDownloadedError(f"{self.safe_name} has not been downloaded")
        return self._payload.iter_decoded(max(chunk_size, 4096))

    def payload(self) -> bytes:
        """Return the whole decoded content (prefer :meth:`iter_payload` for big parts)."""
        return b"".join(self.iter_payload())


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """An opened message for the reader. ``has_html_alternative`` says whether an HTML
    version exists that ``parse_message(raw, prefer_html=True)`` would show instead.
    ``partial``: some parts are still on the server (``not_downloaded_size`` bytes of
    them, decoded), listed among the attachments as not ``downloaded``."""

    headers: DisplayHeaders
    body: BodyText
    parts: tuple[PartInfo, ...]
    attachments: tuple[AttachmentInfo, ...]
    has_html_alternative: bool = False
    has_plain_alternative: bool = False
    partial: bool = False
    not_downloaded_size: int = 0


# --------------------------------------------------------------------------- entry points


def parse_message(
    raw: bytes | bytearray | memoryview,
    *,
    prefer_html: bool = False,
    partial: bool | None = None,
) -> ParsedMessage:
    """Parse a raw RFC 5322 message for display; never raises on any input.

    text/plain is shown when present (``prefer_html`` picks the HTML alternative instead);
    HTML is rendered to text with numbered links; only the chosen text parts are decoded.
    ``partial`` says whether ``raw`` is a partial message whose placeholder parts (see
    :data:`PLACEHOLDER_HEADER`) stand for parts still on the server; by default, whether
    it is a :class:`PartialMessage`. Anywhere else the placeholder header means nothing.
    """
    if partial is None:
        partial = isinstance(raw, PartialMessage)
    data = raw if isinstance(raw, bytes) else bytes(raw)
    try:
        return _Parser(data, prefer_html, partial=partial).run()
    except Exception:  # last line of defence: the reader must always show something
        return _fallback(data)


def raw_source(raw: bytes, *, max_bytes: int | None = RAW_SOURCE_LIMIT) -> str:
    """Return the raw message as safe text for a "view source" screen; never raises.

    Bytes are shown as UTF-8 where they are valid and as cp1252 where not (line by line);
    controls are removed by :func:`sync.clean.clean_text`. With ``max_bytes`` only the
    beginning is shown, followed by a note saying how much was left out.
    """
    try:
        data = raw if max_bytes is None else raw[:max_bytes]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = "\n".join(decode_header_bytes(line) for line in data.split(b"\n"))
        text = clean_text(text.replace("\r\n", "\n").replace("\r", "\n"), single_line=False)
        if max_bytes is not None and len(raw) > max_bytes:
            text += f"\n[… {len(raw) - max_bytes:,} more bytes not shown]"
        return text
    except Exception:
        return "[the message source cannot be shown]"


# --------------------------------------------------------------------------- structure

_COMPAT_PARSER = email.parser.HeaderParser(policy=email.policy.compat32)
# A header line (RFC 5322 §2.2: field name of printable ASCII but ":", then ":"), a folded
# continuation, or an mbox "From " line. The first other line ends the header block.
_HEADER_LINE = re.compile(rb"(?:[\x21-\x39\x3b-\x7e]+[ \t]*:|[ \t]|From )[^\n]*(?:\n|\Z)")
_LINE_END = re.compile(rb"\r?\n")
_GUESS_BOUNDARY = re.compile(rb"^--([^\s]{1,200}?)(?:--)?[ \t]*\r?$", re.MULTILINE)
_TOKEN = re.compile(r"[A-Za-z0-9_.+-]+")
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,300}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE
)
_PLACEHOLDER_SIZE = re.compile(r"\s*([0-9]{1,15})\s*")  # bounded: a size, not 4,000 digits
_UUENCODE = frozenset({"x-uuencode", "uuencode", "x-uue", "uue"})
_KNOWN_ENCODINGS = frozenset({"7bit", "8bit", "binary", "base64", "quoted-printable"})
_ATTACHED_TEXT_TYPES = frozenset(
    {"text/calendar", "text/vcard", "text/x-vcard", "text/directory", "text/x-vcalendar"}
)


@dataclass(slots=True)
class _Node:
    buffer: bytes
    body_start: int
    end: int
    headers: email.message.Message
    path: str
    depth: int
    content_type: str
    transfer_encoding: str
    children: list[_Node] = field(default_factory=list)
    role: PartRole = "attachment"
    opaque: bool = False  # too deep or over the part limit: never descended into
    size: int | None = None  # decoded size, computed once
    placeholder: bool = False  # a part of a partial message left on the server

    @property
    def maintype(self) -> str:
        return self.content_type.partition("/")[0]

    @property
    def subtype(self) -> str:
        return self.content_type.partition("/")[2]

    def param(self, name: str, header: str = "content-type") -> str | None:
        try:
            value = self.headers.get_param(name, header=header)
        except Exception:
            return None
        if isinstance(value, tuple):  # RFC 2231 value the stdlib could not decode
            value = email.utils.collapse_rfc2231_value(value)
        return value if isinstance(value, str) else None

    @property
    def disposition(self) -> str | None:
        try:
            value = self.headers.get_content_disposition()
        except Exception:
            return None
        return value if value in ("inline", "attachment") else None

    @property
    def filename(self) -> str | None:
        try:
            name = self.headers.get_filename()
        except Exception:
            name = None
        if not isinstance(name, str):
            return None
        # Non-standard but common: RFC 2047 encoded-words inside a quoted filename.
        return decode_encoded_words(name) if "=?" in name else name

    @property
    def content_id(self) -> str | None:
        value = self.headers.get("content-id")
        if not isinstance(value, str):
            return None
        return clean_text(value).strip("<>") or None

    @property
    def charset(self) -> str | None:
        value = self.param("charset")
        return value.strip() if value else None


class _Parser:
    """One parse: walks the structure, picks the body, collects parts and warnings."""

    def __init__(self, raw: bytes, prefer_html: bool, *, partial: bool = False) -> None:
        self.raw = raw
        self.prefer_html = prefer_html
        self.partial = partial
        self.placeholders = 0
        self.not_downloaded_size = 0
        self.part_count = 0
        self.warnings: list[str] = []
        self.links: list[Link] = []
        self.lines: list[BodyLine] = []
        self.attachments: list[AttachmentInfo] = []
        self.parts: list[PartInfo] = []
        self.sources: list[str] = []
        self.has_html_alternative = False
        self.has_plain_alternative = False
        self.fallback_charset = first_charset_label(raw)
        # Charsets named elsewhere in the message help detect an unlabelled text part.
        self.charset_hints = charset_hints(raw)

    # -- parsing the structure ----------------------------------------------------------

    def run(self) -> ParsedMessage:
        root = self._parse_entity(self.raw, 0, len(self.raw), path="", depth=0)
        headers = self._display_headers(root.headers)
        self._show(root)
        self._list_parts(root)
        while self.lines and not self.lines[-1].text.strip():
            self.lines.pop()
        if self.links:  # HTML links are numbered in the text and listed here (issue 7)
            self._separate()
            self.lines.append(BodyLine(0, "Links:"))
            for link in self.links:
                self.lines.append(BodyLine(0, f"[{link.number}] {link.url}"))
                if link.warning:
                    self.lines.append(BodyLine(0, f"    (!) {link.warning}"))
        source: Literal["text/plain", "text/html", "none"] = "none"
        if self.sources:
            source = "text/html" if self.sources[0] == "text/html" else "text/plain"
        body = BodyText(
            lines=tuple(self.lines),
            links=tuple(self.links),
            warnings=tuple(dict.fromkeys(clean_text(w) for w in self.warnings)),
            source=source,
        )
        return ParsedMessage(
            headers=headers,
            body=body,
            parts=tuple(self.parts),
            attachments=tuple(self.attachments),
            has_html_alternative=self.has_html_alternative,
            has_plain_alternative=self.has_plain_alternative,
            partial=self.placeholders > 0,
            not_downloaded_size=self.not_downloaded_size,
        )

    def _parse_headers(
        self, buffer: bytes, start: int, end: int
    ) -> tuple[email.message.Message, int]:
        """Parse the header block at ``start``; return it and where the body begins."""
        position = start
        while position < end:
            match = _HEADER_LINE.match(buffer, position, end)
            if match is None or match.end() == position:
                break
            position = match.end()
        header_end = position
        blank = _LINE_END.match(buffer, position, end)
        body_start = blank.end() if blank else position
        block = buffer[start:header_end]
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            # Mixed 8-bit headers: decide line by line (UTF-8, message charset, cp1252).
            text = "\n".join(
                decode_header_bytes(line, self.fallback_charset) for line in block.split(b"\n")
            )
        try:
            headers = _COMPAT_PARSER.parsestr(text, headersonly=True)
        except Exception:
            headers = email.message.Message()
        return headers, body_start

    def _parse_entity(
        self,
        buffer: bytes,
        start: int,
        end: int,
        *,
        path: str,
        depth: int,
        default_type: str = "text/plain",
    ) -> _Node:
        self.part_count += 1
        headers, body_start = self._parse_headers(buffer, start, end)
        content_type = _content_type(headers, default_type)
        encoding = _transfer_encoding(headers)
        node = _Node(buffer, body_start, end, headers, path, depth, content_type, encoding)
        if self.partial and depth > 0 and self._placeholder(node):
            return node  # its content is on the server: nothing inside to walk
        if depth >= MAX_DEPTH or self.part_count > MAX_PARTS:
            node.opaque = True
            if depth >= MAX_DEPTH:
                self.warnings.append(
                    f"The message nests deeper than {MAX_DEPTH} levels; deeper parts are "
                    "listed as attachments."
                )
            else:
                self.warnings.append(f"The message has more than {MAX_PARTS} parts; the rest "
                                     "are not shown.")  # fmt: skip
            return node
        if node.maintype == "multipart":
            self._parse_multipart(node)
        elif content_type in ("message/rfc822", "message/global"):
            self._parse_embedded(node)
        return node

    def _placeholder(self, node: _Node) -> bool:
        """Mark ``node`` as a placeholder if it carries the header with a size."""
        value = node.headers.get(PLACEHOLDER_HEADER)
        match = _PLACEHOLDER_SIZE.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            return False
        node.placeholder = True
        node.size = int(match.group(1))
        self.placeholders += 1
        self.not_downloaded_size += node.size
        return True

    def _parse_multipart(self, node: _Node) -> None:
        buffer = node.buffer
        boundary_text = node.param("boundary")
        boundary = boundary_text.strip().encode("utf-8", "replace") if boundary_text else b""
        if not boundary:
            guess = _GUESS_BOUNDARY.search(
                buffer, node.body_start, min(node.end, node.body_start + 65536)
            )
            if guess is None:
                self.warnings.append(
                    "A multipart part has no boundary; its content is shown as plain text."
                )
                node.content_type = "text/plain"
                return
            boundary = guess.group(1)
            self.warnings.append("A multipart part has no boundary parameter; one was guessed.")
        ranges, terminated = _split_multipart(buffer, node.body_start, node.end, boundary)
        if not ranges:
            self.warnings.append(
                "A multipart part's boundary never appears; its content is shown as plain text."
            )
            node.content_type = "text/plain"
            return
        if not terminated:
            self.warnings.append(
                "The message ends before a multipart is closed: it may be truncated."
            )
        # RFC 2046 §5.1.5: in a digest the default type is message/rfc822.
        child_default = "message/rfc822" if node.subtype == "digest" else "text/plain"
        prefix = f"{node.path}." if node.path else ""
        for index, (start, end) in enumerate(ranges, 1):
            if self.part_count >= MAX_PARTS:
                self.warnings.append(
                    f"The message has more than {MAX_PARTS} parts; the rest are not shown."
                )
                break
            child = self._parse_entity(
                buffer, start, end, path=f"{prefix}{index}", depth=node.depth + 1,
                default_type=child_default,
            )  # fmt: skip
            node.children.append(child)

    def _parse_embedded(self, node: _Node) -> None:
        buffer, start, end = node.buffer, node.body_start, node.end
        if node.transfer_encoding not in ("7bit", "8bit", "binary"):
            # RFC 2046 §5.2.1 forbids encoding message/rfc822, but some senders do.
            buffer = b"".join(
                _Payload(buffer, start, end, node.transfer_encoding).iter_decoded(1 << 20)
            )
            start, end = 0, len(buffer)
        inner_path = node.path or "1"
        inner = self._parse_entity(buffer, start, end, path=inner_path, depth=node.depth + 1)
        if inner.maintype != "multipart":
            inner.path = f"{inner_path}.1" if node.path else "1"
        node.children.append(inner)

    # -- choosing and rendering the body ------------------------------------------------

    def _show(self, node: _Node) -> None:
        """Display ``node`` (RFC 2046 §5.1: mixed shows parts in order; alternative picks one)."""
        if node.placeholder:
            self._attach(node, inline=self._is_inline(node))
            return
        if node.opaque:
            self._attach(node, inline=False)
            return
        if node.maintype == "multipart":
            node.role = "container"
            if not node.children:
                return
            subtype = node.subtype
            if subtype == "alternative":
                self._show_alternative(node)
            elif subtype == "related":
                self._show_related(node)
            elif subtype == "signed":
                # RFC 1847 §2.1: the first part is the content, the second the signature.
                self._show(node.children[0])
                for child in node.children[1:]:
                    self._attach_tree(child, inline=False)
            elif subtype == "encrypted":
                self.warnings.append("The message is encrypted; mailtui cannot decrypt it.")
                for child in node.children:
                    self._attach_tree(child, inline=False)
            else:  # mixed, digest, parallel, report, and unknown subtypes (§5.1.7)
                for child in node.children:
                    self._show(child)
            return
        if node.content_type in ("message/rfc822", "message/global"):
            if node.disposition == "attachment" or not node.children:
                self._attach(node, inline=False)
                return
            node.role = "message"
            self._show_forwarded(node.children[0])
            return
        if self._is_displayable_text(node):
            node.role = "body"
            self._render_text(node)
            return
        self._attach(node, inline=self._is_inline(node))

    @staticmethod
    def _is_inline(node: _Node) -> bool:
        return node.disposition == "inline" or (
            node.maintype == "image" and node.disposition is None and node.filename is None
        )

    def _is_displayable_text(self, node: _Node) -> bool:
        if node.maintype != "text" or node.placeholder:
            return False
        if node.depth == 0:
            return True  # a message that is one text part is read, whatever its headers say
        return is_displayable_text(node.content_type, node.disposition, node.filename is not None)

    def _show_alternative(self, node: _Node) -> None:
        kinds = [_kinds(child) for child in node.children]
        if any("html" in kind for kind in kinds):
            self.has_html_alternative = True
        if any("plain" in kind for kind in kinds):
            self.has_plain_alternative = True
        wanted = "html" if self.prefer_html else "plain"
        # RFC 2046 §5.1.4: alternatives are in increasing order of preference: take the last.
        chosen = _last_index(kinds, lambda kind: wanted in kind)
        if chosen is None:
            chosen = _last_index(kinds, bool)
        if chosen is None:
            chosen = 0
        if not self.prefer_html and self._is_blank_text(node.children[chosen]):
            # "This message is in HTML" placeholders: an empty plain part helps nobody.
            html = _last_index(kinds, lambda kind: "html" in kind)
            chosen = chosen if html is None else html
        for index, child in enumerate(node.children):
            if index == chosen:
                self._show(child)
            else:
                self._mark_tree(child, "alternative")

    def _is_blank_text(self, node: _Node) -> bool:
        if node.maintype != "text" or node.end - node.body_start > 4096:
            return False
        payload = _Payload(node.buffer, node.body_start, node.end, node.transfer_encoding)
        return not b"".join(payload.iter_decoded(8192)).strip()

    def _show_related(self, node: _Node) -> None:
        # RFC 2387 §3.2: the root is the part named by "start", else the first part.
        start = node.param("start")
        root = node.children[0]
        if start:
            wanted = start.strip().strip("<>")
            for child in node.children:
                if child.content_id == wanted:
                    root = child
                    break
        self._show(root)
        for child in node.children:
            if child is not root:
                self._attach_tree(child, inline=True)

    def _show_forwarded(self, inner: _Node) -> None:
        headers = self._display_headers(inner.headers)
        self._separate()
        self.lines.append(BodyLine(0, "---------- Forwarded message ----------"))
        for label, value in (
            ("From", headers.from_),
            ("Date", headers.date_text),
            ("Subject", headers.subject),
            ("To", headers.to),
            ("Cc", headers.cc),
        ):
            if value:
                self.lines.append(BodyLine(0, f"{label}: {value}"))
        self.lines.append(BodyLine(0, ""))
        self._show(inner)

    def _separate(self) -> None:
        if self.lines and self.lines[-1].text.strip():
            self.lines.append(BodyLine(0, ""))

    def _render_text(self, node: _Node) -> None:
        data = self._decoded_text_bytes(node)
        self._separate()
        if node.subtype == "html":
            self.sources.append("text/html")
            label = node.charset or _meta_charset(data)
            rendered = html_to_text(
                decode_text(data, label, hints=self.charset_hints),
                first_link_number=len(self.links) + 1,
            )
            self.lines.extend(BodyLine(level, text) for level, text in rendered.lines)
            self.links.extend(rendered.links)
            self.warnings.extend(rendered.warnings)
            return
        self.sources.append("text/plain")
        text = decode_text(data, node.charset, hints=self.charset_hints)
        text = clean_text(_normal_newlines(text), single_line=False)
        if (node.param("format") or "").strip().lower() == "flowed":
            delsp = (node.param("delsp") or "").strip().lower() == "yes"
            pairs = unflow(text, delsp=delsp)
        else:
            pairs = quoted_lines(text)
        self.lines.extend(BodyLine(level, line) for level, line in pairs)

    def _decoded_text_bytes(self, node: _Node) -> bytes:
        end = node.end
        if end - node.body_start > MAX_TEXT_BYTES:
            cut = node.buffer.rfind(b"\n", node.body_start, node.body_start + MAX_TEXT_BYTES)
            end = cut + 1 if cut > node.body_start else node.body_start + MAX_TEXT_BYTES
            self.warnings.append(
                f"The text is longer than {MAX_TEXT_BYTES // (1024 * 1024)} MiB; only the "
                "beginning is shown (save the part to read all of it)."
            )
        encoding = node.transfer_encoding
        if encoding not in _KNOWN_ENCODINGS and encoding not in _UUENCODE:
            self.warnings.append(
                f"Unknown transfer encoding {encoding[:40]!r}; the text is shown undecoded."
            )
        elif encoding == "base64" and _has_base64_junk(node.buffer, node.body_start, end):
            self.warnings.append("The text's base64 encoding is damaged; parts may be missing.")
        payload = _Payload(node.buffer, node.body_start, end, encoding)
        return b"".join(payload.iter_decoded(end - node.body_start + 1))

    # -- attachments and the part list --------------------------------------------------

    def _attach(self, node: _Node, *, inline: bool) -> None:
        node.role = "inline" if inline else "attachment"
        name = node.filename
        if name is None and node.content_type in ("message/rfc822", "message/global"):
            subject = ""
            if node.children:
                subject = self._display_headers(node.children[0].headers).subject
            name = (subject or "message") + ".eml"
        shown = display_filename(name)
        self.attachments.append(
            AttachmentInfo(
                part_path=node.path or "1",
                filename=shown,
                safe_name=safe_filename(name, fallback=_fallback_name(node.content_type)),
                content_type=clean_text(node.content_type),
                size=_decoded_size(node),
                inline=inline,
                content_id=node.content_id,
                _payload=_Payload(node.buffer, node.body_start, node.end, node.transfer_encoding),
                downloaded=not node.placeholder,
            )
        )

    def _attach_tree(self, node: _Node, *, inline: bool) -> None:
        """Attach the leaves under ``node`` (a multipart that is not shown has no own file)."""
        if node.maintype == "multipart" and node.children and not node.opaque:
            node.role = "container"
            for child in node.children:
                self._attach_tree(child, inline=inline)
        else:
            self._attach(node, inline=inline)

    def _mark_tree(self, node: _Node, role: PartRole) -> None:
        node.role = role
        for child in node.children:
            self._mark_tree(child, role)

    def _list_parts(self, root: _Node) -> None:
        stack = [root]
        while stack:
            node = stack.pop()
            name = node.filename
            self.parts.append(
                PartInfo(
                    path=node.path,
                    depth=node.depth,
                    content_type=clean_text(node.content_type),
                    charset=clean_text(node.charset) if node.charset else None,
                    transfer_encoding=clean_text(node.transfer_encoding),
                    disposition=node.disposition,
                    filename=display_filename(name) if name is not None else None,
                    content_id=node.content_id,
                    size=_decoded_size(node),
                    role=node.role,
                    downloaded=not node.placeholder,
                )
            )
            stack.extend(reversed(node.children))

    # -- headers ------------------------------------------------------------------------

    def _display_headers(self, headers: email.message.Message) -> DisplayHeaders:
        def raw(name: str) -> str:
            value = headers.get(name)
            return value if isinstance(value, str) else ""

        from_text, from_list = _addresses("from", raw("from"))
        to_text, to_list = _addresses("to", raw("to"))
        cc_text, cc_list = _addresses("cc", raw("cc"))
        reply_text, reply_list = _addresses("reply-to", raw("reply-to"))
        date, date_text = _local_date(raw("date"))
        return DisplayHeaders(
            subject=clean_text(decode_encoded_words(raw("subject"), self.fallback_charset)),
            from_=from_text,
            to=to_text,
            cc=cc_text,
            reply_to=reply_text,
            date=date,
            date_text=date_text,
            from_addresses=from_list,
            to_addresses=to_list,
            cc_addresses=cc_list,
            reply_to_addresses=reply_list,
            message_id=clean_text(raw("message-id")),
            in_reply_to=clean_text(raw("in-reply-to")),
            references=clean_text(raw("references")),
        )


# --------------------------------------------------------------------------- helpers


def _content_type(headers: email.message.Message, default: str) -> str:
    if headers.get("content-type") is None:
        return default
    try:
        value = headers.get_content_type()
    except Exception:
        return "text/plain"
    # The stdlib answers text/plain for a malformed type (RFC 2045 §5.2), but it keeps
    # any token pair; keep the type printable and bounded.
    return value[:100] if value.isascii() and value.isprintable() else "application/octet-stream"


def _transfer_encoding(headers: email.message.Message) -> str:
    value = headers.get("content-transfer-encoding")
    if not isinstance(value, str):
        return "7bit"
    match = _TOKEN.search(value)
    return match.group().lower() if match else "7bit"


def _split_multipart(
    buffer: bytes, start: int, end: int, boundary: bytes
) -> tuple[list[tuple[int, int]], bool]:
    """Find the body parts between RFC 2046 §5.1.1 delimiter lines.

    Returns the (start, end) of each part and whether the close delimiter was seen. The
    line break before a delimiter belongs to the delimiter, not to the part before it.
    """
    delimiter = b"--" + boundary
    ranges: list[tuple[int, int]] = []
    part_start: int | None = None
    position = start
    while True:
        if buffer.startswith(delimiter, position) and (
            position == start or buffer[position - 1] == 0x0A
        ):
            found = position
        else:
            newline = buffer.find(b"\n" + delimiter, position, end)
            if newline < 0:
                break
            found = newline + 1
        after = found + len(delimiter)
        line_end = buffer.find(b"\n", after, end)
        line_end = end if line_end < 0 else line_end + 1
        rest = buffer[after : min(line_end, after + 1024)]
        closing = rest.startswith(b"--")
        if closing:
            rest = rest[2:]
        if rest.strip(b" \t\r\n"):
            position = after  # a longer boundary that starts with ours: not a delimiter
            continue
        if part_start is not None:
            ranges.append((part_start, _before_line_break(buffer, part_start, found)))
        if closing:
            return ranges, True
        part_start = line_end
        position = line_end
        if position >= end:
            break
    if part_start is not None:
        ranges.append((part_start, end))
    return ranges, False


def _before_line_break(buffer: bytes, start: int, position: int) -> int:
    if position > start and buffer[position - 1] == 0x0A:
        position -= 1
        if position > start and buffer[position - 1] == 0x0D:
            position -= 1
    return position


def is_displayable_text(content_type: str, disposition: str | None, named: bool) -> bool:
    """Whether a text part below the top is read as the body (else it is an attachment),
    from its lower-case type, its disposition and whether it has a file name. The parser
    and the partial download (``sync.engine.partial``) decide alike with this."""
    if not content_type.startswith("text/") or disposition == "attachment":
        return False
    if content_type in _ATTACHED_TEXT_TYPES:
        return disposition == "inline"
    # A named text part without a disposition is a file the sender attached.
    return not named or disposition == "inline"


def _kinds(node: _Node) -> frozenset[str]:
    """Which displayable kinds ("plain", "html") a subtree offers as its body."""
    if node.opaque or node.placeholder:
        return frozenset()
    if node.maintype == "text" and node.disposition != "attachment":
        return frozenset({"html"} if node.subtype == "html" else {"plain"})
    if node.maintype != "multipart" or not node.children:
        return frozenset()
    if node.subtype == "related":
        return _kinds(node.children[0])
    found: set[str] = set()
    for child in node.children:
        found |= _kinds(child)
        if node.subtype != "alternative" and found:
            break  # mixed: the first displayable part decides
    return frozenset(found)


def _last_index(
    items: list[frozenset[str]], predicate: Callable[[frozenset[str]], bool]
) -> int | None:
    for index in range(len(items) - 1, -1, -1):
        if predicate(items[index]):
            return index
    return None


def _decoded_size(node: _Node) -> int:
    if node.size is None:
        if node.transfer_encoding == "base64":
            node.size = _base64_size(node.buffer, node.body_start, node.end)
        else:
            node.size = max(node.end - node.body_start, 0)
    return node.size


_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
# bytes.translate deletes these (line breaks, spaces, junk) at C speed.
_NOT_BASE64 = bytes(byte for byte in range(256) if byte not in _BASE64_ALPHABET)
_NOT_BASE64_DATA = _NOT_BASE64 + b"="


def _base64_size(buffer: bytes, start: int, end: int) -> int:
    """The decoded size of a base64 body, without decoding (or copying) a big one.

    Encoders write lines of one length; when samples confirm that, the size follows from
    the line length and the last line. Otherwise (or for small bodies) the characters are
    counted. Junk characters make this an estimate, never an error.
    """
    length = end - start
    if length <= 1 << 20:
        return len(buffer[start:end].translate(None, _NOT_BASE64_DATA)) * 3 // 4
    first_newline = buffer.find(b"\n", start, end)
    if first_newline < 0:
        return len(buffer[start:end].translate(None, _NOT_BASE64_DATA)) * 3 // 4
    line_length = first_newline + 1 - start
    per_line = len(buffer[start : first_newline + 1].translate(None, _NOT_BASE64_DATA))
    full_lines = length // line_length
    samples = {full_lines // 3, 2 * full_lines // 3, full_lines - 1}
    uniform = all(buffer[start + (k + 1) * line_length - 1] == 0x0A for k in samples if k >= 0)
    if not uniform:
        lines = buffer.count(b"\n", start, end)
        carriage_returns = lines if buffer[first_newline - 1] == 0x0D else 0
        return max(length - lines - carriage_returns, 0) * 3 // 4
    tail = buffer[start + full_lines * line_length : end]
    characters = full_lines * per_line + len(tail.translate(None, _NOT_BASE64_DATA))
    return characters * 3 // 4


def _has_base64_junk(buffer: bytes, start: int, end: int) -> bool:
    chunk = buffer[start:end]
    return bool(re.search(rb"[^A-Za-z0-9+/=\s]", chunk))


def _meta_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data, 0, 4096)
    return match.group(1).decode("ascii") if match else None


def _normal_newlines(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    for separator in ("\u2028", "\u2029", "\x85"):
        if separator in text:
            text = text.replace(separator, "\n")
    return text


# Extensions for types mail carries that Python's built-in table lacks.
_MAIL_EXTENSIONS = {
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "text/calendar": ".ics",
    "text/vcard": ".vcf",
    "text/x-vcard": ".vcf",
    "application/pgp-signature": ".asc",
    "application/pgp-encrypted": ".asc",
    "application/pgp-keys": ".asc",
    "application/ms-tnef": ".dat",
}


@functools.cache
def _builtin_types() -> mimetypes.MimeTypes:
    # Python's own table only: the same names on every machine, no system files read.
    return mimetypes.MimeTypes(filenames=())


def _fallback_name(content_type: str) -> str:
    extension = _MAIL_EXTENSIONS.get(content_type)
    if extension is None:
        extension = _builtin_types().guess_extension(content_type, strict=False) or ""
    return "attachment" + extension


def _addresses(name: str, value: str) -> tuple[str, tuple[MailAddress, ...]]:
    """Parse an address header with ``email.policy.default`` (RFC 5322 §3.4, RFC 2047 §5)."""
    if not value:
        return "", ()
    value = _normal_newlines(value).replace("\n", " ")
    try:
        header = email.policy.default.header_factory(name, value)
        groups = header.groups
    except Exception:
        return clean_text(decode_encoded_words(value)), ()
    shown: list[str] = []
    found: list[MailAddress] = []
    for group in groups:
        members = []
        for address in group.addresses:
            display = address.display_name or ""
            if "=?" in display:  # encoded-words inside quotes: wrong, but common
                display = decode_encoded_words(display)
            item = MailAddress(name=clean_text(display), email=clean_text(address.addr_spec or ""))
            if item.name or item.email:
                found.append(item)
                members.append(item.display())
        if group.display_name is not None:
            shown.append(f"{clean_text(group.display_name)}: {', '.join(members)};")
        else:
            shown.extend(members)
    text = ", ".join(part for part in shown if part)
    if not text:
        text = clean_text(decode_encoded_words(value))
    return text, tuple(found)


def _local_date(value: str) -> tuple[datetime | None, str]:
    """Parse a Date header (RFC 5322 §3.3) and convert it to local time."""
    if not value.strip():
        return None, ""
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
        if parsed.tzinfo is None:  # "-0000": the time is UTC, the zone unknown (§3.3)
            parsed = parsed.replace(tzinfo=UTC)
        local = parsed.astimezone()
        return local, clean_text(local.strftime("%a, %d %b %Y %H:%M %Z"))
    except Exception:
        return None, clean_text(value, max_length=100)


def _line_chunks(buffer: bytes, start: int, end: int, size: int) -> Iterator[tuple[int, int]]:
    """Split [start, end) into pieces of about ``size`` bytes that end after a line break."""
    position = start
    while position < end:
        stop = min(position + size, end)
        if stop < end:
            newline = buffer.rfind(b"\n", position, stop)
            stop = newline + 1 if newline >= position else stop
        yield position, stop
        position = stop


def _iter_base64(buffer: bytes, start: int, end: int, size: int) -> Iterator[bytes]:
    """Decode base64 in chunks with the same result as :func:`lenient_b64decode` on the whole.

    Whole quanta are decoded per chunk; the characters of an incomplete quantum are carried
    into the next chunk. Padding ends a piece, as in the whole-buffer decoder.
    """
    carry = b""
    for chunk_start, chunk_end in _line_chunks(buffer, start, end, size):
        text = buffer[chunk_start:chunk_end].translate(None, _NOT_BASE64)
        if carry:
            text = carry + text
        tail_start = text.rfind(b"=") + 1
        whole = tail_start + (len(text) - tail_start) // 4 * 4
        carry = text[whole:]
        if whole == 0:
            continue
        if tail_start == 0:
            # The common case: clean whole quanta, no padding inside.
            yield binascii.a2b_base64(text[:whole] if whole < len(text) else text)
        else:
            yield lenient_b64decode(text[:whole])
    if carry:
        yield lenient_b64decode(carry)


def _uudecode(data: bytes) -> bytes:
    """Decode uuencoded data between its "begin" and "end" lines, skipping bad lines."""
    out = []
    started = False
    for line in data.splitlines():
        if not started:
            started = line.startswith(b"begin ")
            continue
        if line.strip() in (b"end", b"`"):
            if line.strip() == b"end":
                break
            continue
        try:
            out.append(binascii.a2b_uu(line))
        except binascii.Error:
            continue
    return b"".join(out)


def _fallback(raw: bytes) -> ParsedMessage:
    """What the reader shows when parsing failed outright: the source, safely."""
    text = raw_source(raw, max_bytes=MAX_TEXT_BYTES)
    return ParsedMessage(
        headers=DisplayHeaders(
            subject="", from_="", to="", cc="", reply_to="", date=None, date_text=""
        ),
        body=BodyText(
            lines=tuple(BodyLine(0, line) for line in text.split("\n")),
            warnings=("The message could not be parsed; its source is shown.",),
            source="text/plain",
        ),
        parts=(),
        attachments=(),
    )
