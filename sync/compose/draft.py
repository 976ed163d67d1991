"""The draft: what the user is writing, and its text form for editing in ``$EDITOR``.

The text form is the one mutt (``edit_headers``) and aerc show: a block of header lines, a
blank line, the body. Only the headers a user edits are in it (From, To, Cc, Bcc, Reply-To,
Subject, and one ``Attach:`` line per file); threading headers and parts carried over from
the original message stay in the draft the text was made from and are merged back by
:func:`text_to_draft`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from sync.compose.addresses import AddressError, format_addresses, parse_address_list

__all__ = [
    "CarriedPart",
    "Draft",
    "DraftSyntaxError",
    "ReplyKind",
    "draft_to_text",
    "text_to_draft",
]

ReplyKind = Literal["new", "reply", "reply_all", "forward", "forward_attachment"]


@dataclass(frozen=True, slots=True)
class CarriedPart:
    """A part taken over from the original message: a forwarded attachment, or the whole
    original as ``message/rfc822`` when forwarding as an attachment. ``data`` is decoded."""

    filename: str
    content_type: str
    data: bytes = dataclasses.field(repr=False)


@dataclass(frozen=True, slots=True)
class Draft:
    """A message being written.

    Address fields hold one address per item, as the user would type it (``Name <a@b>``,
    Unicode names). ``in_reply_to`` and ``references`` are message ids with their angle
    brackets. ``source_message_id`` is the message this draft replies to or forwards (for
    flagging it ``\\Answered``/``$Forwarded`` once sent). ``attachments`` are files read
    when the message is built; ``carried`` are parts already in memory.
    """

    from_: str
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    subject: str = ""
    body: str = ""
    attachments: tuple[Path, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    reply_kind: ReplyKind = "new"
    reply_to: tuple[str, ...] = ()
    carried: tuple[CarriedPart, ...] = ()
    source_message_id: str | None = None


class DraftSyntaxError(ValueError):
    """The edited text cannot be read back; ``line`` is 1-based, ``str()`` says what to fix."""

    def __init__(self, line: int, problem: str) -> None:
        self.line = line
        self.problem = problem
        super().__init__(line, problem)

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


_ADDRESS_FIELDS: Final = frozenset({"from", "to", "cc", "bcc", "reply-to"})
_SPELLING: Final = {
    "from": "From",
    "to": "To",
    "cc": "Cc",
    "bcc": "Bcc",
    "reply-to": "Reply-To",
    "subject": "Subject",
    "attach": "Attach",
}


def draft_to_text(draft: Draft) -> str:
    """Write ``draft`` as header lines, a blank line and the body, for an editor.

    From, To, Cc, Bcc and Subject are always written (empty when unset) so the user can fill
    them in; Reply-To only when set; one ``Attach:`` line per attached file.
    """
    lines = [
        f"From: {draft.from_}",
        f"To: {', '.join(draft.to)}",
        f"Cc: {', '.join(draft.cc)}",
        f"Bcc: {', '.join(draft.bcc)}",
    ]
    if draft.reply_to:
        lines.append(f"Reply-To: {', '.join(draft.reply_to)}")
    # A subject is one line: folded whitespace would start a new header when read back.
    lines.append(f"Subject: {' '.join(draft.subject.split())}")
    lines.extend(f"Attach: {path}" for path in draft.attachments)
    return "\n".join(lines) + "\n\n" + draft.body


def text_to_draft(text: str, base: Draft | None = None, *, check_files: bool = True) -> Draft:
    """Read text written by :func:`draft_to_text` (and edited) back into a draft.

    The header block ends at the first blank line; a line starting with a space or tab
    continues the header above it. Header names are matched ignoring case; a header given
    twice adds to the first (To, Cc, Bcc, Attach) or replaces it (From, Subject). Fields
    not in the text (threading, carried parts, reply kind) come from ``base``. Raises
    :class:`DraftSyntaxError` for a line that is not ``Name: value``, an unknown header, a
    bad address, or (with ``check_files``) an ``Attach:`` file that does not exist.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    fields: list[tuple[int, str, str]] = []  # (line number, lower-case name, value)
    body_start = len(lines)
    for index, line in enumerate(lines):
        number = index + 1
        if not line.strip():
            body_start = index + 1
            break
        if line[0] in " \t":
            if not fields:
                raise DraftSyntaxError(number, "a continuation line before any header")
            first, name, value = fields[-1]
            fields[-1] = (first, name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name or " " in name:
            raise DraftSyntaxError(
                number,
                f"expected a header such as 'To: someone@example.org', or a blank line "
                f"before the body; got {line[:60]!r}",
            )
        key = name.lower()
        if key not in _SPELLING:
            known = ", ".join(_SPELLING.values())
            raise DraftSyntaxError(number, f"unknown header {name!r} (known: {known})")
        fields.append((number, key, value.strip()))

    start = base or Draft(from_="")
    from_ = start.from_
    subject = ""
    lists: dict[str, tuple[str, ...]] = {"to": (), "cc": (), "bcc": (), "reply-to": ()}
    attachments: tuple[Path, ...] = ()
    for number, key, value in fields:
        if key in _ADDRESS_FIELDS:
            try:
                addresses = parse_address_list(value)
            except AddressError as exc:
                raise DraftSyntaxError(number, f"{_SPELLING[key]}: {exc}") from None
            items = tuple(format_addresses([address]) for address in addresses)
            if key == "from":
                if len(items) != 1:
                    raise DraftSyntaxError(number, "From: must be exactly one address")
                from_ = items[0]
            else:
                lists[key] += items
        elif key == "subject":
            subject = value
        elif value:  # Attach
            path = Path(value).expanduser()
            if check_files and not path.is_file():
                raise DraftSyntaxError(number, f"Attach: no such file: {path}")
            attachments += (path,)

    return dataclasses.replace(
        start,
        from_=from_,
        to=lists["to"],
        cc=lists["cc"],
        bcc=lists["bcc"],
        reply_to=lists["reply-to"],
        subject=subject,
        attachments=attachments,
        body="\n".join(lines[body_start:]),
    )
