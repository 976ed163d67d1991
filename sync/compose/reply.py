"""Drafts that answer a message: reply, reply-all, forward inline or as an attachment.

The original comes as raw bytes and is read with :func:`sync.mime.parse_message` (decoded,
cleaned headers and the body text with quote levels), so a reply quotes what the reader
showed, HTML mail included.

Recipients (RFC 5322 §3.6.3): a reply goes to Reply-To when the original has one, else to
From. A reply-all also copies the original To and Cc (mutt's layout: the author in To, the
others in Cc), never the user's own addresses, each address once. Replying to one's own
message goes to its recipients instead, as mutt and Thunderbird do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from email.headerregistry import Address

from sync.compose.addresses import (
    AddressError,
    format_address,
    is_own_address,
    parse_address_list,
    unique_addresses,
)
from sync.compose.draft import CarriedPart, Draft
from sync.compose.subjects import forward_subject, reply_subject
from sync.config import AccountConfig
from sync.mime import BodyLine, MailAddress, ParsedMessage, parse_message

__all__ = [
    "MAX_REFERENCES",
    "account_address",
    "attribution_line",
    "forward_draft",
    "quote_lines",
    "reply_draft",
]

# RFC 5322 §3.6.4 sets no limit, but servers refuse endless header lines; like most
# clients we keep the thread root and the most recent ids.
MAX_REFERENCES = 30

_MSG_ID = re.compile(r"<[^<>\s]+>")


def account_address(account: AccountConfig) -> str:
    """The account's From address: ``Display Name <email>`` or the bare address."""
    return format_address(Address(account.display_name or "", addr_spec=account.email))


def _message_ids(value: str) -> list[str]:
    return _MSG_ID.findall(value)


def _first_id(value: str) -> str | None:
    found = _message_ids(value)
    return found[0] if found else None


def _references(
    headers_references: str, in_reply_to: str, message_id: str | None
) -> tuple[str, ...]:
    """References for a reply (RFC 5322 §3.6.4): the parent's References (or, failing that,
    its single In-Reply-To id) followed by the parent's Message-ID."""
    chain = _message_ids(headers_references)
    if not chain:
        parent_parents = _message_ids(in_reply_to)
        if len(parent_parents) == 1:
            chain = parent_parents
    if message_id:
        chain.append(message_id)
    unique = list(dict.fromkeys(chain))
    if len(unique) > MAX_REFERENCES:
        unique = unique[:1] + unique[-(MAX_REFERENCES - 1) :]
    return tuple(unique)


def _to_addresses(found: Iterable[MailAddress]) -> list[Address]:
    """Turn the reader's decoded addresses back into addresses we can send to; drop junk."""
    result: list[Address] = []
    for item in found:
        try:
            parsed = parse_address_list(item.email)
        except AddressError:
            continue  # an undeliverable address in the original must not block the reply
        for address in parsed:
            result.append(Address(item.name, address.username, address.domain))
    return result


def attribution_line(parsed: ParsedMessage) -> str:
    """``On Mon, 2 Mar 2026 at 14:05, Name wrote:`` (the date in local time, when known)."""
    headers = parsed.headers
    author = headers.from_addresses[0] if headers.from_addresses else None
    who = (author.name or author.email) if author else (headers.from_ or "someone")
    if headers.date is None:
        return f"{who} wrote:"
    when = headers.date
    return f"On {when:%a}, {when.day} {when:%b %Y} at {when:%H:%M}, {who} wrote:"


def quote_lines(lines: Sequence[BodyLine]) -> str:
    """Quote body lines one level deeper: ``> text``; quoted lines (which keep their own
    markers) become ``>> text``; empty lines become ``>``."""
    quoted: list[str] = []
    for level, text in lines:
        if level:
            quoted.append(">" + text)
        else:
            quoted.append(f"> {text}" if text.strip() else ">")
    # Trailing blank quoted lines add nothing.
    while quoted and not quoted[-1].strip("> \t"):
        quoted.pop()
    return "\n".join(quoted)


def reply_draft(
    raw: bytes,
    account: AccountConfig,
    *,
    reply_all: bool = False,
    own_addresses: Iterable[str] = (),
) -> Draft:
    """A reply (or reply-all) to the raw message ``raw``, from ``account``.

    ``own_addresses`` adds the user's aliases to ``account.email`` for dropping the user
    from the recipients. The body is the attribution line, the quoted text and an empty
    line to write below (bottom-posting).
    """
    parsed = parse_message(raw)
    headers = parsed.headers
    own = (account.email, *own_addresses)

    authors = _to_addresses(headers.reply_to_addresses) or _to_addresses(headers.from_addresses)
    original_to = _to_addresses(headers.to_addresses)
    original_cc = _to_addresses(headers.cc_addresses)
    from_me = bool(headers.from_addresses) and all(
        is_own_address(a.email, own) for a in headers.from_addresses
    )
    if from_me and not headers.reply_to_addresses:
        # A reply to one's own message continues the conversation with its recipients.
        to = unique_addresses(original_to, exclude=own) or unique_addresses(authors)
        cc = unique_addresses(original_cc, exclude=[a.addr_spec for a in to] + list(own))
        if not reply_all:
            cc = ()
    else:
        to = unique_addresses(authors)
        cc = ()
        if reply_all:
            to = unique_addresses(to, exclude=own) or to
            cc = unique_addresses(
                [*original_to, *original_cc], exclude=[a.addr_spec for a in to] + list(own)
            )

    message_id = _first_id(headers.message_id)
    body = f"{attribution_line(parsed)}\n{quote_lines(parsed.body.lines)}\n\n"
    return Draft(
        from_=account_address(account),
        to=tuple(format_address(a) for a in to),
        cc=tuple(format_address(a) for a in cc),
        subject=reply_subject(headers.subject),
        body=body,
        in_reply_to=message_id,
        references=_references(headers.references, headers.in_reply_to, message_id),
        reply_kind="reply_all" if reply_all else "reply",
        source_message_id=message_id,
    )


def _forward_header_block(parsed: ParsedMessage) -> str:
    headers = parsed.headers
    lines = ["---------- Forwarded message ----------"]
    for label, value in (
        ("From", headers.from_),
        ("Date", _date_text(headers.date) or headers.date_text),
        ("Subject", headers.subject),
        ("To", headers.to),
        ("Cc", headers.cc),
    ):
        if value:
            lines.append(f"{label}: {value}")
    return "\n".join(lines)


def _date_text(date: datetime | None) -> str:
    return f"{date:%a}, {date.day} {date:%b %Y %H:%M %z}" if date else ""


def _attachment_name(subject: str) -> str:
    # A file name from the subject, for the message/rfc822 part (shown by the recipient's
    # client); the stdlib encodes non-ASCII per RFC 2231.
    stem = re.sub(r'[\\/:*?"<>|\s]+', " ", subject).strip()[:60].strip()
    return f"{stem or 'forwarded message'}.eml"


def forward_draft(raw: bytes, account: AccountConfig, *, as_attachment: bool = False) -> Draft:
    """A forward of the raw message ``raw``, from ``account``, with the recipients empty.

    Inline: the body holds a "Forwarded message" header block and the original text, and
    the original's attachments (not its inline images) are carried along. As an
    attachment: the body is empty and the original goes unchanged as ``message/rfc822``
    (RFC 2046 §5.2.1).
    """
    parsed = parse_message(raw)
    headers = parsed.headers
    message_id = _first_id(headers.message_id)
    if as_attachment:
        body = ""
        carried: tuple[CarriedPart, ...] = (
            CarriedPart(_attachment_name(headers.subject), "message/rfc822", bytes(raw)),
        )
    else:
        text = parsed.body.text.rstrip("\n")
        body = f"\n\n{_forward_header_block(parsed)}\n\n{text}\n"
        carried = tuple(
            CarriedPart(item.filename or item.safe_name, item.content_type, item.payload())
            for item in parsed.attachments
            if not item.inline
        )
    return Draft(
        from_=account_address(account),
        subject=forward_subject(headers.subject),
        body=body,
        reply_kind="forward_attachment" if as_attachment else "forward",
        carried=carried,
        source_message_id=message_id,
    )
