"""A large message's text without its attachments: "MIME parts on demand" (issue 7).

Opening a 25 MB message should not download 25 MB before its text shows. As Thunderbird and
aerc do, the fetcher first asks for the message's ``BODYSTRUCTURE`` and top-level header
(RFC 3501 §7.4.2, RFC 9051 §7.5.2), chooses the parts the reader shows (every text part read
as the body, and small parts that cost nothing), and fetches only those parts and the MIME
headers of every part (``BODY.PEEK[n.MIME]`` / ``BODY.PEEK[n]``, section numbers as in RFC
3501 §6.4.5). From them it builds a :class:`~sync.mime.message.PartialMessage`: the same
tree, with an empty placeholder for each part left on the server that keeps its MIME header
(type, file name, disposition, Content-ID) and says its size in
:data:`~sync.mime.message.PLACEHOLDER_HEADER`, so the reader lists it as not downloaded.

Every function here is pure (no I/O): :func:`plan_partial` decides what to fetch,
:func:`assemble` builds the message from what the server sent. Each returns None on any
surprise (a malformed structure, a missing section), and the caller then fetches the whole
message, as it did before.
"""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from sync.imap.types import rfc2231_param
from sync.mime.message import PLACEHOLDER_HEADER, PartialMessage, is_displayable_text

if TYPE_CHECKING:
    from sync.imap import BodyStructure

__all__ = ["SMALL_PART", "PartialPlan", "assemble", "decoded_size", "plan_partial"]

# Parts up to this many encoded bytes come along whatever they are (a signature, a small
# calendar file): a placeholder would save nothing worth a second download later.
SMALL_PART = 32 * 1024
# Beyond this many FETCH items the command line nears servers' limits (Dovecot's
# imap_max_line_length is 64 KiB); such a message is fetched whole.
_MAX_ITEMS = 600
# Forwarded messages inside forwarded messages: deeper than this, a part is a placeholder.
_MAX_DEPTH = 30
_MARKER_LINE = re.compile(
    rb"^" + re.escape(PLACEHOLDER_HEADER.encode()) + rb"[ \t]*:[^\n]*\n(?:[ \t][^\n]*\n)*",
    re.IGNORECASE | re.MULTILINE,
)

_HEADER_PARSER = email.parser.BytesHeaderParser(policy=email.policy.compat32)

_Kind = Literal["multipart", "message", "include", "placeholder"]


@dataclass(slots=True)
class _Step:
    """What to do with one part: walk it, fetch it, or leave it on the server."""

    kind: _Kind
    path: str  # the IMAP section number ("" for the message itself)
    boundary: bytes = b""  # of a multipart (or of the multipart a message holds)
    children: list[_Step] = field(default_factory=list)
    size: int = 0  # a placeholder's decoded size
    inner_multipart: bool = False  # a message whose body is a multipart


@dataclass(frozen=True, slots=True)
class PartialPlan:
    """What to fetch for a partial message: the FETCH ``items``, and what stays on the server
    (``skipped_bytes`` encoded, ``placeholders`` parts)."""

    header: bytes
    items: tuple[str, ...]
    skipped_bytes: int
    placeholders: int
    _root: _Step = field(repr=False)


def decoded_size(size: int, encoding: str | None) -> int:
    """A part's decoded size from its BODYSTRUCTURE size (encoded octets): base64 carries 3
    bytes in 4 characters, on lines of 76 characters and CRLF (RFC 2045 §6.8)."""
    if (encoding or "").lower() != "base64":
        return size
    lines = -(-size // 78)
    return max(size - 2 * lines, 0) * 3 // 4


def _named(part: BodyStructure) -> bool:
    # As email's get_filename() sees it in the parser (an empty name still counts), with
    # the RFC 2231 spellings ("filename*", "name*0*") read by the same function as the list's.
    return (
        rfc2231_param(part.disposition_params, "filename") is not None
        or rfc2231_param(part.params, "name") is not None
    )


def _content_type(part: BodyStructure) -> str:
    return f"{part.type}/{part.subtype}"


def _shown_text(part: BodyStructure) -> bool:
    """A text leaf the reader shows as the body (``sync.mime`` decides alike)."""
    return part.type == "text" and is_displayable_text(
        _content_type(part), part.disposition, _named(part)
    )


class _Planner:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.skipped = 0
        self.placeholders = 0

    def fetch(self, *sections: str) -> None:
        self.items.extend(f"BODY.PEEK[{section}]" for section in sections)

    def leaf(self, part: BodyStructure, path: str, *, forced_placeholder: bool = False) -> _Step:
        size = part.size
        if size is None or size < 0:
            raise ValueError("a part without a size")
        if not forced_placeholder and (_shown_text(part) or size <= SMALL_PART):
            self.fetch(f"{path}.MIME", path)
            return _Step("include", path)
        self.fetch(f"{path}.MIME")
        self.skipped += size
        self.placeholders += 1
        return _Step("placeholder", path, size=decoded_size(size, part.encoding))

    def multipart(self, part: BodyStructure, path: str, depth: int) -> _Step:
        """The children of a multipart (at ``path``; "" for the message itself)."""
        boundary = part.params.get("boundary", "").strip()
        if not boundary or not part.parts:
            raise ValueError("a multipart without a boundary or parts")
        step = _Step("multipart", path, boundary=boundary.encode("utf-8", "replace"))
        prefix = f"{path}." if path else ""
        for index, child in enumerate(part.parts, 1):
            step.children.append(self.part(child, f"{prefix}{index}", depth + 1))
        return step

    def part(self, part: BodyStructure, path: str, depth: int) -> _Step:
        if part.is_multipart:
            self.fetch(f"{path}.MIME")
            return self.multipart(part, path, depth)
        inner = part.message
        if (
            part.type == "message"
            and part.subtype in ("rfc822", "global")
            and inner is not None
            and part.disposition != "attachment"
            and depth < _MAX_DEPTH
            and (inner.is_multipart or _shown_text(inner))
        ):
            # A forwarded message the reader shows inline: its header, then its parts. Its
            # body is "path.1" when not a multipart (RFC 3501 §6.4.5).
            self.fetch(f"{path}.MIME", f"{path}.HEADER")
            if inner.is_multipart:
                step = self.multipart(inner, path, depth + 1)
                step.kind, step.inner_multipart = "message", True
                return step
            self.fetch(f"{path}.1")
            return _Step("message", path)
        # A message kept whole would be parsed inside, headers and all: it is fetched only
        # when the reader shows it (above), so that every header block the parser reads in
        # a partial message went through _without_marker.
        embedded = part.type == "message" and part.subtype in ("rfc822", "global")
        return self.leaf(part, path, forced_placeholder=embedded or depth >= _MAX_DEPTH)


def plan_partial(structure: BodyStructure | None, header: bytes | None) -> PartialPlan | None:
    """Decide what to fetch of a message with this BODYSTRUCTURE and top-level header.

    None when a partial download is not possible or not worth it: a message that is one
    part, a structure without sizes or boundaries, too many parts, or parts left behind
    that are less than half of the message (then the whole one is as quick, and it is kept).
    """
    if structure is None or header is None or not structure.is_multipart:
        return None
    if not header.endswith((b"\n\n", b"\r\n\r\n")):
        return None
    planner = _Planner()
    try:
        root = planner.multipart(structure, "", 0)
    except ValueError:
        return None
    if not planner.placeholders or len(planner.items) > _MAX_ITEMS:
        return None
    fetched = sum(_size_of(structure)) - planner.skipped
    if planner.skipped < fetched or planner.skipped < SMALL_PART:
        return None
    return PartialPlan(header, tuple(planner.items), planner.skipped, planner.placeholders, root)


def _size_of(part: BodyStructure) -> list[int]:
    """The encoded sizes of the leaves (a forwarded message counts as one leaf)."""
    if part.is_multipart:
        return [size for child in part.parts for size in _size_of(child)]
    return [part.size or 0]


def assemble(plan: PartialPlan, sections: Mapping[str, bytes | None]) -> PartialMessage | None:
    """Build the partial message from the server's answers (``sections`` keyed as
    ``FetchResult.sections``: ``BODY[1.MIME]``); None when something is missing or odd."""
    out: list[bytes] = [_without_marker(plan.header)]
    try:
        _check_boundary(plan.header, plan._root.boundary)
        _emit_children(plan._root, sections, out)
    except ValueError:
        return None
    return PartialMessage(b"".join(out))


def _section(sections: Mapping[str, bytes | None], name: str) -> bytes:
    value = sections.get(f"BODY[{name}]")
    if value is None:
        raise ValueError(f"the server sent no {name}")
    return value


def _header(sections: Mapping[str, bytes | None], name: str) -> bytes:
    """A header block as the server sent it (ending with its empty line), without any
    placeholder header of the sender's own."""
    value = _section(sections, name)
    if value in (b"", b"\n", b"\r\n"):
        return b"\r\n"  # a part without a header of its own (RFC 2045 defaults apply)
    if not value.endswith((b"\n\n", b"\r\n\r\n")):
        raise ValueError(f"{name} is not a header block")
    return _without_marker(value)


def _without_marker(header: bytes) -> bytes:
    # Only placeholders this module writes may carry the header: a sender's copy goes.
    return _MARKER_LINE.sub(b"", header) if PLACEHOLDER_HEADER.encode() in header else header


def _emit_children(step: _Step, sections: Mapping[str, bytes | None], out: list[bytes]) -> None:
    """A multipart body: each child after a delimiter line, then the close delimiter (RFC
    2046 §5.1.1; the CRLF before a delimiter belongs to it, so parts are sent without)."""
    delimiter = b"--" + step.boundary
    for child in step.children:
        out.append(delimiter + b"\r\n")
        _emit(child, sections, out)
        out.append(b"\r\n")
    out.append(delimiter + b"--\r\n")


def _emit(step: _Step, sections: Mapping[str, bytes | None], out: list[bytes]) -> None:
    path = step.path
    mime = _header(sections, f"{path}.MIME")
    if step.kind == "placeholder":
        # The part's own header, an empty body, and the size the reader shows.
        out.append(mime[: -2 if mime.endswith(b"\r\n") else -1])
        out.append(f"{PLACEHOLDER_HEADER}: {step.size}\r\n\r\n".encode())
        return
    out.append(mime)
    if step.kind == "include":
        out.append(_section(sections, path))
    elif step.kind == "multipart":
        _check_boundary(mime, step.boundary)
        _emit_children(step, sections, out)
    else:  # a forwarded message: its header, then its multipart or its one body part
        inner_header = _header(sections, f"{path}.HEADER")
        out.append(inner_header)
        if step.inner_multipart:
            _check_boundary(inner_header, step.boundary)
            _emit_children(step, sections, out)
        else:
            out.append(_section(sections, f"{path}.1"))


def _check_boundary(header: bytes, boundary: bytes) -> None:
    """The boundary comes from BODYSTRUCTURE; the parser will read it from the header: they
    must agree, or the parts would not be found."""
    parsed = _HEADER_PARSER.parsebytes(header, headersonly=True)
    try:
        value = parsed.get_param("boundary")
    except Exception:  # a header the stdlib cannot read: not ours to guess
        value = None
    if isinstance(value, tuple):  # RFC 2231
        value = email.utils.collapse_rfc2231_value(value)
    if not isinstance(value, str) or value.strip().encode("utf-8", "replace") != boundary:
        raise ValueError("the part's header names another boundary")
